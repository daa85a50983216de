package middleware

import (
	"log/slog"

	"github.com/civicgate/civicgate/gateway/logging"
	"net/http"
	"time"
)

// StatusRecorder remembers the status and size a handler wrote.
type StatusRecorder struct {
	http.ResponseWriter
	Status int
	Bytes  int64
}

// WriteHeader records the status.
func (s *StatusRecorder) WriteHeader(code int) {
	if s.Status == 0 {
		s.Status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

// Write records the size.
func (s *StatusRecorder) Write(b []byte) (int, error) {
	if s.Status == 0 {
		s.Status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.Bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *StatusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// AccessLog writes one structured line per request. It logs the path only,
// never the query string (it may carry codes, state or return URLs), and
// never cookies.
func AccessLog(log *slog.Logger, observe func(r *http.Request, status int, d time.Duration)) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			rec := &StatusRecorder{ResponseWriter: w}
			next.ServeHTTP(rec, r)
			if rec.Status == 0 {
				rec.Status = http.StatusOK
			}
			d := time.Since(start)
			if observe != nil {
				observe(r, rec.Status, d)
			}
			logging.Request(r.Context(), log, logging.RequestLine{
				RequestID: RequestIDFrom(r.Context()), Method: r.Method, Path: r.URL.Path,
				Status: rec.Status, Bytes: rec.Bytes, Duration: d, Client: ClientIPFrom(r.Context()),
			})
		})
	}
}
