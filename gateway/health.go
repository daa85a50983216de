package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"sync"
	"time"
)

// healthz says the process is alive; it checks nothing else so that a
// database outage does not make an orchestrator restart healthy replicas.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
}

// readyz runs every configured readiness check (Redis, database, IdP
// metadata) in parallel and answers 503 naming the ones that fail. The
// public listener says only which checks fail; the error texts (hosts,
// driver messages) are for the admin listener.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	s.ready(w, r, false)
}

func (s *Server) readyzDetail(w http.ResponseWriter, r *http.Request) {
	s.ready(w, r, true)
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request, detail bool) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	type result struct {
		Status string `json:"status"`
		Error  string `json:"error,omitempty"`
	}
	results := map[string]result{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	checks := map[string]func(context.Context) error{}
	required := map[string]bool{}
	for name, c := range s.d.Status {
		checks[name] = c
	}
	for name, c := range s.d.Ready {
		checks[name] = c
		required[name] = true
	}
	names := make([]string, 0, len(checks))
	for name := range checks {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		check := checks[name]
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := result{Status: "ok"}
			if err := check(ctx); err != nil {
				res = result{Status: "fail"}
				if detail {
					res.Error = err.Error()
				}
				if !required[name] {
					res.Status = "degraded"
				}
			}
			mu.Lock()
			results[name] = res
			mu.Unlock()
		}()
	}
	wg.Wait()
	status := http.StatusOK
	overall := "ok"
	for _, res := range results {
		if res.Status == "fail" {
			status = http.StatusServiceUnavailable
			overall = "fail"
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"status": overall, "checks": results})
}
