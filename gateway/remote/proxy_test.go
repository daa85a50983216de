package remote

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/civicgate/civicgate/auth"
)

func TestProxyStripsCredentialsAndForgedHeaders(t *testing.T) {
	up, rec := recordingUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Add("Set-Cookie", "__Host-session=evil; Path=/; Secure")
		h.Add("Set-Cookie", "other=1")
		h.Set("Access-Control-Allow-Origin", "https://evil.example")
		h.Set("Access-Control-Allow-Credentials", "true")
		h.Set("Clear-Site-Data", `"cookies"`)
		h.Set("Civicgate-Assertion", "from-module")
		h.Set("X-Module", "kept")
		h.Set("Location", "http://"+r.Host+"/kvitto?id=3")
		w.WriteHeader(http.StatusSeeOther)
	})
	g := newGateway(t, mustSigner(t))
	g.mount(t, testModule("felanmalan", up.URL), nil)

	req, _ := http.NewRequest(http.MethodGet, g.srv.URL+"/e/felanmalan/sida?x=1&y=%2F", nil)
	req.Header.Set("Cookie", "__Host-session=secret-session-id; other=2")
	req.Header.Set("Authorization", "Bearer secret")
	req.Header.Set("Civicgate-Assertion", "forged")
	req.Header.Set("Civicgate-Request-Id", "forged-id")
	req.Header.Set("Civicgate-Csrf-Token", "forged-csrf")
	req.Header.Set("Civicgate-Anything", "forged")
	req.Header.Set("X-CSRF-Token", "browser-token")
	req.Header.Set("X-Forwarded-Host", "evil.example")
	req.Header.Set("X-Forwarded-Prefix", "/evil")
	req.Header.Set("Forwarded", "for=1.2.3.4")
	req.Header.Set("Connection", "X-Hop")
	req.Header.Set("X-Hop", "1")
	req.Header.Set("Accept-Language", "sv")
	res, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()

	h, _, uri := rec.last()
	if uri != "/sida?x=1&y=%2F" {
		t.Errorf("upstream request target = %q, want /sida?x=1&y=%%2F", uri)
	}
	for _, k := range []string{"Cookie", "Authorization", "Civicgate-Anything", "X-Csrf-Token", "Forwarded", "X-Hop"} {
		if v := h.Values(k); len(v) > 0 {
			t.Errorf("upstream received %s: %q", k, v)
		}
	}
	if got := h.Get("Accept-Language"); got != "sv" {
		t.Errorf("ordinary header Accept-Language = %q, want it passed on", got)
	}
	if v := h.Values(HeaderAssertion); len(v) != 1 || v[0] == "forged" || strings.Count(v[0], ".") != 2 {
		t.Errorf("assertion header = %q, want exactly the gateway's JWT", v)
	}
	if v := h.Values(HeaderRequestID); len(v) != 1 || v[0] != "REQ1" {
		t.Errorf("request ID = %q, want [REQ1]", v)
	}
	if v := h.Values(HeaderCSRFToken); len(v) != 1 || v[0] != "csrf-token-value" {
		t.Errorf("CSRF token header = %q, want the session's", v)
	}
	pub, _ := url.Parse(g.srv.URL)
	if got := h.Get("X-Forwarded-Host"); got != pub.Host {
		t.Errorf("X-Forwarded-Host = %q, want %q", got, pub.Host)
	}
	if got := h.Get("X-Forwarded-Proto"); got != "http" {
		t.Errorf("X-Forwarded-Proto = %q, want http", got)
	}
	if got := h.Get("X-Forwarded-Prefix"); got != "/e/felanmalan" {
		t.Errorf("X-Forwarded-Prefix = %q", got)
	}
	if got := h.Get("X-Forwarded-For"); got != "127.0.0.1" {
		t.Errorf("X-Forwarded-For = %q, want the client's address only", got)
	}

	if v := res.Header.Values("Set-Cookie"); len(v) > 0 {
		t.Errorf("Set-Cookie from module reached the browser: %q", v)
	}
	for _, k := range []string{"Access-Control-Allow-Origin", "Access-Control-Allow-Credentials", "Clear-Site-Data", "Civicgate-Assertion"} {
		if v := res.Header.Get(k); v != "" {
			t.Errorf("module's %s reached the browser: %q", k, v)
		}
	}
	if got := res.Header.Get("X-Module"); got != "kept" {
		t.Errorf("ordinary response header lost: %q", got)
	}
	if got, want := res.Header.Get("Location"), g.srv.URL+"/e/felanmalan/kvitto?id=3"; got != want {
		t.Errorf("Location = %q, want %q", got, want)
	}
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func TestProxyUpstreamBasePath(t *testing.T) {
	up, rec := recordingUpstream(t, nil)
	g := newGateway(t, mustSigner(t))
	g.mount(t, testModule("bas", up.URL+"/app/"), nil)
	for path, want := range map[string]string{"/e/bas/": "/app/", "/e/bas/a/b": "/app/a/b"} {
		res, err := http.Get(g.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if _, _, uri := rec.last(); uri != want {
			t.Errorf("%s reached the module as %q, want %q", path, uri, want)
		}
	}
}

func TestProxyAdmitsOnlyWhomTheModuleServes(t *testing.T) {
	up, rec := recordingUpstream(t, nil)
	g := newGateway(t, mustSigner(t))
	cfg := testModule("skyddad", up.URL)
	cfg.Info.MinLoA = "high"
	g.mount(t, cfg, nil)
	agentsOnly := testModule("kontakt", up.URL)
	agentsOnly.Info.Actors = []string{ActorContactCentre}
	g.mount(t, agentsOnly, nil)
	g.mount(t, testModule("gata", up.URL), nil)

	low := citizenClaims()
	low.LoA = auth.LoALow
	citizen := citizenClaims()
	agent := agentClaims()
	handler := ClaimsFromIdentity(auth.Identity{Kind: auth.Staff, Subject: "h-1", IdP: "workforce", LoA: auth.LoASubstantial, Roles: []string{"street-handler:norr"}})
	otherStaff := ClaimsFromIdentity(auth.Identity{Kind: auth.Staff, Subject: "h-2", IdP: "workforce", LoA: auth.LoASubstantial, Roles: []string{"social-handler"}})
	cases := []struct {
		name   string
		claims *Claims
		path   string
		want   int
	}{
		{"anonymous", nil, "/e/skyddad/", http.StatusUnauthorized},
		{"loa below min_loa", &low, "/e/skyddad/", http.StatusForbidden},
		{"citizen in agents-only module", &citizen, "/e/kontakt/", http.StatusForbidden},
		{"agent on behalf", &agent, "/e/kontakt/", http.StatusOK},
		{"citizen", &citizen, "/e/gata/", http.StatusOK},
		{"handler with a scoped role", &handler, "/e/gata/", http.StatusOK},
		{"staff without a handler role", &otherStaff, "/e/gata/", http.StatusForbidden},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g.as(c.claims)
			hits := rec.hits
			req, _ := http.NewRequest(http.MethodGet, g.srv.URL+c.path, nil)
			req.Header.Set(HeaderAssertion, "forged")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != c.want {
				t.Errorf("status %d, want %d", res.StatusCode, c.want)
			}
			if c.want != http.StatusOK {
				if got := g.errorStatus(); got != c.want {
					t.Errorf("ErrorPage called with %d, want %d", got, c.want)
				}
				if rec.hits != hits {
					t.Errorf("module was reached")
				}
			} else if h, _, _ := rec.last(); h.Get(HeaderAssertion) == "forged" {
				t.Errorf("forged assertion reached the module")
			}
		})
	}
}

func TestProxyUpstreamDown(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	g := newGateway(t, mustSigner(t))
	g.mount(t, testModule("nere", deadURL), nil)
	res, err := http.Get(g.srv.URL + "/e/nere/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusBadGateway || g.errorStatus() != http.StatusBadGateway {
		t.Errorf("status %d, want 502 through ErrorPage", res.StatusCode)
	}
}

func TestProxyUpstreamTimeout(t *testing.T) {
	release := make(chan struct{})
	up, _ := recordingUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow-body" {
			// Headers at once, the body later than the timeout: a slow
			// download must not be cut off.
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			time.Sleep(300 * time.Millisecond)
			_, _ = io.WriteString(w, "complete")
			return
		}
		select {
		case <-release:
		case <-r.Context().Done():
		case <-time.After(3 * time.Second): // a broken timeout fails, not hangs
		}
	})
	defer close(release)
	g := newGateway(t, mustSigner(t))
	cfg := testModule("seg", up.URL)
	cfg.Timeout = 150 * time.Millisecond
	g.mount(t, cfg, nil)

	start := time.Now()
	res, err := http.Get(g.srv.URL + "/e/seg/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusGatewayTimeout || g.errorStatus() != http.StatusGatewayTimeout {
		t.Errorf("status %d, want 504 through ErrorPage", res.StatusCode)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("timeout took %s", d)
	}

	res, err = http.Get(g.srv.URL + "/e/seg/slow-body")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil || string(body) != "complete" || res.StatusCode != http.StatusOK {
		t.Errorf("slow body: status %d, %q, %v; want the whole body", res.StatusCode, body, err)
	}
}

func TestProxyBodyLimit(t *testing.T) {
	up, rec := recordingUpstream(t, nil)
	g := newGateway(t, mustSigner(t))
	cfg := testModule("liten", up.URL)
	cfg.MaxBodyBytes = 1024
	g.mount(t, cfg, nil)

	post := func(body io.Reader, length int64) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, g.srv.URL+"/e/liten/", body)
		req.ContentLength = length
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if got := post(strings.NewReader(strings.Repeat("a", 1024)), 1024); got != http.StatusOK {
		t.Errorf("body at the limit: status %d, want 200", got)
	}
	if _, body, _ := rec.last(); len(body) != 1024 {
		t.Errorf("module received %d bytes, want 1024", len(body))
	}
	hits := rec.hits
	if got := post(strings.NewReader(strings.Repeat("a", 1025)), 1025); got != http.StatusRequestEntityTooLarge {
		t.Errorf("declared length over the limit: status %d, want 413", got)
	}
	if rec.hits != hits {
		t.Errorf("module reached with a declared oversized body")
	}
	// Chunked: the length is only known while streaming.
	if got := post(io.MultiReader(strings.NewReader(strings.Repeat("a", 4096))), -1); got != http.StatusRequestEntityTooLarge {
		t.Errorf("chunked body over the limit: status %d, want 413", got)
	}
}

func TestProxyForwardsFormTheGatewayParsed(t *testing.T) {
	up, rec := recordingUpstream(t, nil)
	g := newGateway(t, mustSigner(t))
	p := g.mount(t, testModule("form", up.URL), nil)
	// The gateway's CSRF middleware reads POST forms before the proxy.
	g.mux.Handle("/parsed/", http.StripPrefix("/parsed", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.PostFormValue("csrf")
		p.ServeHTTP(w, r)
	})))
	res, err := http.PostForm(g.srv.URL+"/parsed/", url.Values{"plats": {"Storgatan 1"}, "csrf": {"t"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	_, body, _ := rec.last()
	got, err := url.ParseQuery(string(body))
	if err != nil || got.Get("plats") != "Storgatan 1" {
		t.Errorf("module received body %q, want the form", body)
	}
}

func TestNewProxyReportsEveryProblem(t *testing.T) {
	_, err := NewProxy(ModuleConfig{ID: "Bad ID", Upstream: "ftp://x"}, nil, Options{PublicURL: "nope"})
	if err == nil {
		t.Fatal("NewProxy accepted a broken configuration")
	}
	for _, want := range []string{"id:", "upstream: scheme", "title_sv: required", "owner.contact: required", "no signer", "public URL", "no Identity", "pseudonym key"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}
