package middleware

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"net/http"
)

type requestIDKey struct{}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewRequestID returns a short random ID a citizen can quote to support.
func NewRequestID() string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return b32.EncodeToString(b[:])
}

// RequestID gives every request an ID, in the context and in the
// X-Request-ID response header. An incoming X-Request-ID is not trusted: the
// ID ends up in audit entries, so a client must not choose it.
func RequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := NewRequestID()
		w.Header().Set("X-Request-ID", id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id)))
	})
}

// RequestIDFrom returns the request's ID, or "" outside RequestID.
func RequestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}
