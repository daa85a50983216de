package saml

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func TestSLOHandler(t *testing.T) {
	h := newHarness(t)
	var failed int
	fail := func(w http.ResponseWriter, r *http.Request, status int, key string) {
		failed = status
		w.WriteHeader(status)
	}
	slo := h.p.SLOHandler("/logged-out", fail)

	// IdP-initiated logout requests are refused.
	rec := httptest.NewRecorder()
	slo.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/saml/bankid/slo?SAMLRequest=abc", nil))
	if rec.Code != http.StatusBadRequest || failed != http.StatusBadRequest {
		t.Errorf("IdP-initiated request: %d", rec.Code)
	}
	// Nothing at all.
	rec = httptest.NewRecorder()
	slo.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/saml/bankid/slo", nil))
	if rec.Code != http.StatusBadRequest {
		t.Errorf("empty request: %d", rec.Code)
	}
	// A logout response (even one that fails its checks: the local session
	// is already gone) ends on a same-origin page, never an open redirect.
	for relay, want := range map[string]string{"/mina-sidor": "/mina-sidor", "https://evil.example/": "/logged-out", "": "/logged-out"} {
		form := url.Values{"SAMLResponse": {"PHNhbWxwOkxvZ291dFJlc3BvbnNlLz4="}, "RelayState": {relay}}
		req := httptest.NewRequest(http.MethodPost, "/saml/bankid/slo", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec = httptest.NewRecorder()
		slo.ServeHTTP(rec, req)
		if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != want {
			t.Errorf("relay %q: %d %q", relay, rec.Code, rec.Header().Get("Location"))
		}
	}
}
