package middleware

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"net/http"
)

// info is what the outer middleware learn about a request, in one context
// value that the later ones fill in instead of copying the request again.
type info struct {
	id, clientIP, route string
}

type infoKey struct{}

func infoFrom(ctx context.Context) *info {
	i, _ := ctx.Value(infoKey{}).(*info)
	return i
}

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
		w.Header()["X-Request-Id"] = []string{id}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), infoKey{}, &info{id: id})))
	})
}

// RequestIDFrom returns the request's ID, or "" outside RequestID.
func RequestIDFrom(ctx context.Context) string {
	if i := infoFrom(ctx); i != nil {
		return i.id
	}
	return ""
}

// SetRoute records the route template that serves the request, for the
// access log's metrics; outside RequestID it does nothing.
func SetRoute(ctx context.Context, route string) {
	if i := infoFrom(ctx); i != nil {
		i.route = route
	}
}

// RouteFrom returns the route SetRoute recorded, or "".
func RouteFrom(ctx context.Context) string {
	if i := infoFrom(ctx); i != nil {
		return i.route
	}
	return ""
}
