package middleware

import "net/http"

// MaxBody limits request bodies to n bytes; reading past it fails, and the
// handler answers 413.
func MaxBody(n int64, fail ErrorFunc) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
