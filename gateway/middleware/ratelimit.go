package middleware

import (
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/civicgate/civicgate/auth/session"
)

// RateLimit allows limit requests per window for each key (by default the
// client address), counted in the shared limiter so every replica sees the
// same count. Over the limit it answers 429 with Retry-After; if the limiter
// itself fails it answers 503 (fail closed: the limits guard logins and
// personnummer lookups).
func RateLimit(l session.Limiter, name string, limit int, window time.Duration, key func(*http.Request) string, fail ErrorFunc, log *slog.Logger) func(http.Handler) http.Handler {
	if key == nil {
		key = func(r *http.Request) string { return ClientIPFrom(r.Context()) }
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ok, retry, err := l.Allow(r.Context(), "rl:"+name+":"+key(r), limit, window)
			if err != nil {
				log.ErrorContext(r.Context(), "rate limiter unavailable", "request_id", RequestIDFrom(r.Context()), "limit", name, "err", err)
				w.Header().Set("Retry-After", "5")
				fail(w, r, http.StatusServiceUnavailable, "error.503")
				return
			}
			if !ok {
				secs := int(math.Ceil(retry.Seconds()))
				if secs < 1 {
					secs = 1
				}
				w.Header().Set("Retry-After", strconv.Itoa(secs))
				fail(w, r, http.StatusTooManyRequests, "error.429")
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
