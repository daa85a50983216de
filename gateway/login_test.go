package gateway_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/civicgate/civicgate/auth"
	"github.com/civicgate/civicgate/gateway/audit"
)

const tolvan = "198107249289"

func auditEntries(t *testing.T, g *gw) []audit.Entry {
	t.Helper()
	es, err := g.app.Audit.Since(context.Background(), 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	return es
}

func hasAudit(es []audit.Entry, action, detailKey, detailValue string) bool {
	for _, e := range es {
		if e.Action == action && (detailKey == "" || e.Detail[detailKey] == detailValue) {
			return true
		}
	}
	return false
}

func TestLoginThroughBothProtocols(t *testing.T) {
	g := newGateway(t, gwOptions{})
	for _, idp := range []string{"test-oidc", "test-saml"} {
		t.Run(idp, func(t *testing.T) {
			b := newBrowser(t, g)
			res := b.login(idp, tolvan, auth.URILoA3, "/mina-sidor")
			if res.Status != http.StatusOK || res.URL.Path != "/mina-sidor" {
				t.Fatalf("ended at %s with %d:\n%s\nlog:\n%s", res.URL, res.Status, res.Body, g.log.String())
			}
			for _, want := range []string{"Tolvan Tolvansson", "19810724-XXXX", "väsentlig"} {
				if !strings.Contains(res.Body, want) {
					t.Errorf("Mina sidor lacks %q", want)
				}
			}
			if strings.Contains(res.Body, tolvan) {
				t.Error("Mina sidor shows the full personnummer")
			}
			// The session cookie is host-only, Secure, HttpOnly and Lax.
			u, _ := url.Parse(g.URL)
			var found bool
			for _, c := range b.c.Jar.Cookies(u) {
				if c.Name == "__Host-cg_session" {
					found = true
				}
			}
			if !found {
				t.Error("no __Host-cg_session cookie after login")
			}
		})
	}
	es := auditEntries(t, g)
	if !hasAudit(es, "login", "method", "oidc") || !hasAudit(es, "login", "method", "saml") {
		t.Errorf("login audit events missing: %+v", es)
	}
	mine, err := g.app.Audit.ForSubject(context.Background(), tolvan, 100)
	if err != nil || len(mine) < 2 {
		t.Errorf("the citizen's own audit entries: %d, %v", len(mine), err)
	}
	if strings.Contains(g.log.String(), tolvan) {
		t.Error("the log contains the personnummer in clear")
	}
}

func TestSessionCookieFlags(t *testing.T) {
	g := newGateway(t, gwOptions{})
	b := newBrowser(t, g)
	var setCookies []string
	b.c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		setCookies = append(setCookies, req.Response.Header.Values("Set-Cookie")...)
		return nil
	}
	b.login("test-oidc", tolvan, auth.URILoA3, "/")
	var session, flow string
	for _, c := range setCookies {
		switch {
		case strings.HasPrefix(c, "__Host-cg_session=") && !strings.Contains(c, "Max-Age=0"):
			session = c
		case strings.HasPrefix(c, "__Host-cg_flow=") && strings.Contains(c, "Max-Age=600"):
			flow = c
		}
	}
	// SAML's flow cookie must survive the cross-site POST to the ACS.
	setCookies = nil
	newBrowser(t, g).login("test-saml", tolvan, auth.URILoA3, "/")
	b2 := newBrowser(t, g)
	b2.c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		setCookies = append(setCookies, req.Response.Header.Values("Set-Cookie")...)
		return nil
	}
	b2.login("test-saml", tolvan, auth.URILoA3, "/")
	samlFlow := ""
	for _, c := range setCookies {
		if strings.HasPrefix(c, "__Host-cg_flow=") && strings.Contains(c, "Max-Age=600") {
			samlFlow = c
		}
	}
	if !strings.Contains(samlFlow, "SameSite=None") || !strings.Contains(samlFlow, "Secure") {
		t.Errorf("SAML flow cookie %q must be SameSite=None; Secure", samlFlow)
	}
	for _, want := range []string{"Path=/", "HttpOnly", "Secure", "SameSite=Lax"} {
		if !strings.Contains(session, want) {
			t.Errorf("session cookie %q lacks %s", session, want)
		}
	}
	if strings.Contains(session, "Domain=") || strings.Contains(session, "Max-Age") {
		t.Errorf("session cookie %q must be host-only and end with the browser or the server", session)
	}
	for _, want := range []string{"Path=/", "HttpOnly", "Secure", "SameSite=Lax", "Max-Age=600"} {
		if !strings.Contains(flow, want) {
			t.Errorf("OIDC flow cookie %q lacks %s", flow, want)
		}
	}
}

func TestSecurityHeaders(t *testing.T) {
	g := newGateway(t, gwOptions{})
	b := newBrowser(t, g)
	res := b.get("/")
	h := res.Header
	csp := h.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "frame-ancestors 'none'", "form-action 'self'", "base-uri 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %s", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
		t.Errorf("CSP allows unsafe code: %q", csp)
	}
	checks := map[string]string{
		"X-Content-Type-Options":    "nosniff",
		"X-Frame-Options":           "DENY",
		"Referrer-Policy":           "same-origin",
		"Strict-Transport-Security": "max-age=31536000; includeSubDomains",
	}
	for k, v := range checks {
		if h.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, h.Get(k), v)
		}
	}
	if !strings.Contains(h.Get("Permissions-Policy"), "camera=()") {
		t.Errorf("Permissions-Policy = %q", h.Get("Permissions-Policy"))
	}
	if h.Get("X-Request-Id") == "" {
		t.Error("no request ID")
	}
	// Login callbacks carry codes in the URL: no referrer at all.
	b.c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res = b.get("/login/test-oidc?return=/")
	if res.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("login Referrer-Policy = %q", res.Header.Get("Referrer-Policy"))
	}
}

func TestCSRF(t *testing.T) {
	g := newGateway(t, gwOptions{})
	b := newBrowser(t, g)
	home := b.login("test-oidc", tolvan, auth.URILoA3, "/mina-sidor")
	token := csrf(t, home.Body)

	post := func(form url.Values, site, origin string) int {
		req, _ := http.NewRequest(http.MethodPost, g.URL+"/logout", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if site != "" {
			req.Header.Set("Sec-Fetch-Site", site)
		}
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		c := *b.c
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := post(url.Values{}, "same-origin", g.URL); got != http.StatusForbidden {
		t.Errorf("logout without token: %d, want 403", got)
	}
	if got := post(url.Values{"csrf": {"wrong"}}, "same-origin", g.URL); got != http.StatusForbidden {
		t.Errorf("logout with a wrong token: %d, want 403", got)
	}
	if got := post(url.Values{"csrf": {token}}, "cross-site", "https://evil.example"); got != http.StatusForbidden {
		t.Errorf("cross-site logout with the right token: %d, want 403", got)
	}
	if got := post(url.Values{"csrf": {token}}, "same-site", "https://sibling."+strings.TrimPrefix(g.URL, "https://")); got != http.StatusForbidden {
		t.Errorf("logout from a sibling subdomain: %d, want 403", got)
	}
	if res := b.get("/mina-sidor"); res.URL.Path != "/mina-sidor" {
		t.Fatalf("a refused logout still logged out: at %s", res.URL)
	}
	if got := post(url.Values{"csrf": {token}}, "same-origin", g.URL); got != http.StatusSeeOther {
		t.Errorf("logout with the token: %d, want 303", got)
	}
	if res := b.get("/mina-sidor"); res.URL.Path != "/login" {
		t.Errorf("after logout Mina sidor is at %s, want the login chooser", res.URL)
	}
}

func TestOpenRedirectRefused(t *testing.T) {
	g := newGateway(t, gwOptions{})
	for _, evil := range []string{"//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"} {
		b := newBrowser(t, g)
		res := b.login("test-oidc", tolvan, auth.URILoA3, evil)
		if res.URL.Host != strings.TrimPrefix(g.URL, "https://") || res.URL.Path != "/" {
			t.Errorf("return %q led to %s", evil, res.URL)
		}
	}
}

func TestCallbackReplayAndUnsolicited(t *testing.T) {
	g := newGateway(t, gwOptions{})
	b := newBrowser(t, g)
	var callback string
	b.c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if strings.Contains(req.URL.Path, "/callback") {
			callback = req.URL.String()
		}
		return nil
	}
	b.login("test-oidc", tolvan, auth.URILoA3, "/")
	if callback == "" {
		t.Fatal("no callback seen")
	}
	// The same callback again: the flow was single-use.
	res := b.get(callback)
	if res.Status != http.StatusBadRequest || !strings.Contains(res.Body, "Inloggningen har gått ut") {
		t.Errorf("replayed callback: %d\n%s", res.Status, res.Body)
	}
	// A SAML response nobody asked for.
	other := newBrowser(t, g)
	res = other.post("/saml/test-saml/acs", url.Values{"SAMLResponse": {"PHNhbWxwOlJlc3BvbnNlLz4="}})
	if res.Status != http.StatusBadRequest {
		t.Errorf("unsolicited SAML response: %d", res.Status)
	}
	es := auditEntries(t, g)
	n := 0
	for _, e := range es {
		if e.Action == "login.failed" && e.Detail["code"] == "bad_state" {
			n++
		}
	}
	if n < 2 {
		t.Errorf("want 2 audited bad_state failures, got %d", n)
	}
}

func TestCancelIsAClearMessage(t *testing.T) {
	g := newGateway(t, gwOptions{})
	for _, idp := range []string{"test-oidc", "test-saml"} {
		b := newBrowser(t, g)
		picker := b.get("/login/" + idp + "?return=/")
		res := b.pick(picker, tolvan, "", "cancel")
		if res.Status != http.StatusBadRequest || !strings.Contains(res.Body, "Du avbröt legitimeringen") {
			t.Errorf("%s cancel: %d\n%s", idp, res.Status, res.Body)
		}
	}
	if !hasAudit(auditEntries(t, g), "login.failed", "code", "cancel") {
		t.Error("cancel not audited")
	}
}

func TestRateLimitOnLoginStart(t *testing.T) {
	g := newGateway(t, gwOptions{env: []string{"CIVICGATE_SECURITY_RATE_LIMITS_LOGIN_START=5"}})
	b := newBrowser(t, g)
	b.c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	for i := 0; i < 5; i++ {
		if res := b.get("/login/test-oidc?return=/"); res.Status != http.StatusSeeOther {
			t.Fatalf("start %d: %d", i, res.Status)
		}
	}
	res := b.get("/login/test-oidc?return=/")
	if res.Status != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" {
		t.Fatalf("6th start: %d, Retry-After %q", res.Status, res.Header.Get("Retry-After"))
	}
	if !strings.Contains(res.Body, "för många försök") {
		t.Error("429 page lacks the Swedish message")
	}
}

func TestStepUpRotatesSession(t *testing.T) {
	g := newGateway(t, gwOptions{})
	b := newBrowser(t, g)
	res := b.pick(b.get("/login/test-oidc?loa=low&return=/"), tolvan, auth.URILoA2, "login")
	if res.Status != http.StatusOK || res.URL.Path != "/" {
		t.Fatalf("low login: %d at %s", res.Status, res.URL)
	}
	u, _ := url.Parse(g.URL)
	before := sessionCookie(b, u)
	res = b.get("/mina-sidor")
	if res.URL.Path != "/login" || res.URL.Query().Get("stepup") != "1" || !strings.Contains(res.Body, "högre säkerhetsnivå") {
		t.Fatalf("Mina sidor at low LoA should ask for step-up, got %s\n%s", res.URL, res.Body)
	}
	if strings.Contains(res.Body, `id="idp-`) == false {
		t.Fatal("step-up chooser offers no provider")
	}
	res = b.login("test-oidc", tolvan, auth.URILoA3, "/mina-sidor")
	if res.URL.Path != "/mina-sidor" || !strings.Contains(res.Body, "väsentlig") {
		t.Fatalf("after step-up at %s:\n%s", res.URL, res.Body)
	}
	after := sessionCookie(b, u)
	if before == "" || after == "" || before == after {
		t.Errorf("session ID not rotated at step-up (%q → %q)", before, after)
	}
	if !hasAudit(auditEntries(t, g), "login.stepup", "", "") {
		t.Error("step-up not audited")
	}
}

func sessionCookie(b *browser, u *url.URL) string {
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == "__Host-cg_session" {
			return c.Value
		}
	}
	return ""
}

func TestFormKeptAcrossExpiredSession(t *testing.T) {
	g := newGateway(t, gwOptions{})
	b := newBrowser(t, g)
	b.login("test-oidc", tolvan, auth.URILoA3, "/")
	u, _ := url.Parse(g.URL)
	// The session ends on the server (idle timeout) while the form is open.
	id := sessionCookie(b, u)
	if err := g.app.Sessions.Delete(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	res := b.post("/session/extend", url.Values{"csrf": {"stale"}, "return": {"/mina-sidor"}, "note": {"Hämtar barnen 15:00"}})
	if res.URL.Path != "/login" {
		t.Fatalf("post with an expired session went to %s", res.URL)
	}
	res = b.login("test-oidc", tolvan, auth.URILoA3, "/")
	if !strings.Contains(res.Body, `id="resubmit"`) || !strings.Contains(res.Body, "Hämtar barnen 15:00") {
		t.Fatalf("the typed form was not offered again:\n%s", res.Body)
	}
	fs := forms(res.Body)
	var again page
	for _, f := range fs {
		if f.Action == "/session/extend" {
			again = b.post(f.Action, f.Fields)
		}
	}
	if again.URL == nil || again.URL.Path != "/mina-sidor" {
		t.Fatalf("resubmitting the kept form failed")
	}
}

func TestLogoutEverywhere(t *testing.T) {
	g := newGateway(t, gwOptions{})
	phone, laptop := newBrowser(t, g), newBrowser(t, g)
	phone.login("test-oidc", tolvan, auth.URILoA3, "/")
	res := laptop.login("test-saml", tolvan, auth.URILoA3, "/mina-sidor")
	if strings.Count(res.Body, "<tr") < 3 { // header + two sessions
		t.Fatalf("Mina sidor should list both sessions:\n%s", res.Body)
	}
	laptop.post("/mina-sidor/logga-ut-overallt", url.Values{"csrf": {csrf(t, res.Body)}})
	if res := phone.get("/mina-sidor"); res.URL.Path != "/login" {
		t.Errorf("the other session survived log out everywhere: %s", res.URL)
	}
	if res := laptop.get("/mina-sidor"); res.URL.Path != "/login" {
		t.Errorf("this session survived log out everywhere: %s", res.URL)
	}
}

func TestHealthReadinessMetrics(t *testing.T) {
	g := newGateway(t, gwOptions{})
	b := newBrowser(t, g)
	if res := b.get("/healthz"); res.Status != 200 {
		t.Errorf("healthz %d", res.Status)
	}
	if res := b.get("/readyz"); res.Status != 200 || !strings.Contains(res.Body, `"database":{"status":"ok"}`) {
		t.Errorf("readyz %d %s", res.Status, res.Body)
	}
	b.login("test-oidc", tolvan, auth.URILoA3, "/")
	rec := httptest.NewRecorder()
	g.app.Server.AdminHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{`civicgate_logins_total{idp="test-oidc",outcome="success"} 1`, `civicgate_http_requests_total{code="200",method="GET",route="/healthz"} 1`} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestStaffLandOnTheirWorkspace(t *testing.T) {
	g := newGateway(t, gwOptions{})
	b := newBrowser(t, g)
	res := b.login("test-staff", "staff:kc-agent-1", auth.URILoA3, "/")
	if res.URL.Path != "/personal" || !strings.Contains(res.Body, "Kontaktcenter") {
		t.Fatalf("staff landing at %s:\n%s", res.URL, res.Body)
	}
	// Staff have no Mina sidor cases; citizen-only pages refuse them.
	if res := b.get("/mina-sidor/atkomst"); res.Status != http.StatusForbidden {
		t.Errorf("staff on a citizen page: %d", res.Status)
	}
	// A citizen is refused the staff page.
	c := newBrowser(t, g)
	c.login("test-oidc", tolvan, auth.URILoA3, "/")
	if res := c.get("/personal"); res.Status != http.StatusForbidden {
		t.Errorf("citizen on the staff page: %d", res.Status)
	}
	// A citizen cannot log in through the staff provider: no roles.
	d := newBrowser(t, g)
	if res := d.login("test-staff", tolvan, auth.URILoA3, "/"); res.Status != http.StatusBadRequest {
		t.Errorf("citizen through the staff IdP: %d at %s", res.Status, res.URL)
	}
}

// TestBackchannelLogout ends the session at the identity provider: the
// provider posts a signed logout token to the gateway, which ends every
// gateway session of that provider session.
func TestBackchannelLogout(t *testing.T) {
	g := newGateway(t, gwOptions{})
	b := newBrowser(t, g)
	if res := b.login("test-oidc", tolvan, auth.URILoA3, "/mina-sidor"); res.URL.Path != "/mina-sidor" {
		t.Fatalf("login: %s", res.URL)
	}
	// The citizen logs out at the provider (e.g. in another tab).
	if res := b.get("/devidp/logout"); res.Status != http.StatusOK {
		t.Fatalf("provider logout: %d", res.Status)
	}
	if res := b.get("/mina-sidor"); res.URL.Path != "/login" {
		t.Fatalf("the gateway session survived the provider's back-channel logout: %s\n%s", res.URL, g.log.String())
	}
	if !hasAudit(auditEntries(t, g), "logout.backchannel", "sessions", "1") {
		t.Error("back-channel logout not audited with the number of sessions ended")
	}
	// A forged logout token is refused.
	res := b.post("/backchannel-logout/test-oidc", url.Values{"logout_token": {"eyJhbGciOiJub25lIn0.eyJzaWQiOiJ4In0."}})
	if res.Status != http.StatusBadRequest {
		t.Errorf("forged logout token: %d", res.Status)
	}
}
