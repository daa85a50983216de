package middleware

import (
	"net/http"
	"strings"
)

// MaxBody limits request bodies to n bytes, and multipart uploads (file
// attachments) to uploads bytes; reading past the limit fails, and the
// handler answers 413.
// Only paths under one of uploadPaths accept the larger multipart limit.
func MaxBody(n, uploads int64, uploadPaths []string, fail ErrorFunc) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n := n
			if uploads > n && strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
				for _, p := range uploadPaths {
					if strings.HasPrefix(r.URL.Path, p) {
						n = uploads
						break
					}
				}
			}
			if r.ContentLength > n {
				fail(w, r, http.StatusRequestEntityTooLarge, "error.413")
				return
			}
			if r.Body != nil && r.Body != http.NoBody {
				r.Body = http.MaxBytesReader(w, r.Body, n)
			}
			next.ServeHTTP(w, r)
		})
	}
}
