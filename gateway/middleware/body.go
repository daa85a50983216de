package middleware

import (
	"net/http"
	"strings"
)

// MaxBody limits request bodies to n bytes, and multipart uploads (file
// attachments) to uploads bytes; reading past the limit fails, and the
// handler answers 413.
func MaxBody(n, uploads int64, fail ErrorFunc) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n := n
			if uploads > n && strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
				n = uploads
			}
			if r.ContentLength > n {
				fail(w, r, http.StatusRequestEntityTooLarge, "error.413")
				return
			}
			if r.Body != nil {
				r.Body = http.MaxBytesReader(w, r.Body, n)
			}
			next.ServeHTTP(w, r)
		})
	}
}
