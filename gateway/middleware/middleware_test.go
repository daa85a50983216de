package middleware_test

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	mw "github.com/civicgate/civicgate/gateway/middleware"
)

func TestClientIPBehindProxies(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	var got string
	h := mw.ClientIP(trusted)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = mw.ClientIPFrom(r.Context()) }))
	tests := []struct {
		name, remote string
		xff          []string
		want         string
	}{
		{"direct client, header ignored", "203.0.113.9:4000", []string{"1.2.3.4"}, "203.0.113.9"},
		{"one trusted proxy", "10.0.0.2:80", []string{"198.51.100.7"}, "198.51.100.7"},
		{"client-chosen first line is not believed", "10.0.0.2:80", []string{"6.6.6.6", "198.51.100.7"}, "198.51.100.7"},
		{"chain of proxies", "10.0.0.2:80", []string{"6.6.6.6, 198.51.100.7, 10.0.0.5"}, "198.51.100.7"},
		{"hop with a port", "10.0.0.2:80", []string{"198.51.100.7:5123"}, "198.51.100.7"},
		{"IPv6 hop with a port", "10.0.0.2:80", []string{"[2001:db8::1]:443"}, "2001:db8::1"},
		{"garbage stops the walk", "10.0.0.2:80", []string{"198.51.100.7, nonsense"}, "10.0.0.2"},
	}
	for _, tc := range tests {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.RemoteAddr = tc.remote
		for _, v := range tc.xff {
			req.Header.Add("X-Forwarded-For", v)
		}
		h.ServeHTTP(httptest.NewRecorder(), req)
		if got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestMaxBodyUploadsOnlyWhereAllowed(t *testing.T) {
	fail := func(w http.ResponseWriter, r *http.Request, status int, key string) { w.WriteHeader(status) }
	h := mw.MaxBody(1000, 5000, []string{"/e/"}, fail)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseMultipartForm(1 << 20); err != nil && !strings.Contains(err.Error(), "multipart") {
			w.WriteHeader(http.StatusRequestEntityTooLarge)
		}
	}))
	body := strings.Repeat("x", 3000)
	for path, want := range map[string]int{"/e/bygglov/": http.StatusOK, "/logout": http.StatusRequestEntityTooLarge} {
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		req.Header.Set("Content-Type", "multipart/form-data; boundary=x")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != want {
			t.Errorf("%s: %d, want %d", path, rec.Code, want)
		}
	}
}

func TestSecurityHeadersNoReferrer(t *testing.T) {
	h := mw.SecurityHeaders(mw.HeaderOptions{NoReferrerPrefixes: []string{"/login/"}})(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	for path, want := range map[string]string{"/login/x/callback": "no-referrer", "/": "same-origin"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if got := rec.Header().Get("Referrer-Policy"); got != want {
			t.Errorf("%s: %q", path, got)
		}
		if rec.Header().Get("Strict-Transport-Security") != "" {
			t.Error("HSTS sent without a max-age (plain-HTTP dev)")
		}
	}
}
