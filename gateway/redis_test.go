package gateway_test

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/civicgate/civicgate/auth"
	"github.com/civicgate/civicgate/auth/session/sessiontest"
)

// redisEnv points a gateway at a Redis server for sessions, flows, the
// replay cache and rate limits.
func redisEnv(addr string) []string {
	return []string{
		"CIVICGATE_SESSIONS_REDIS_KEY_PREFIX=" + testPrefix,
		"CIVICGATE_SESSIONS_STORE=redis",
		"CIVICGATE_SESSIONS_REDIS_ADDRS=" + addr,
		"CIVICGATE_SECURITY_RATE_LIMITS_LOGIN_START=1000",
		"CIVICGATE_SECURITY_RATE_LIMITS_CALLBACK=1000",
	}
}

// testPrefix keeps this test run's keys apart from other runs on the same
// Redis.
var testPrefix = fmt.Sprintf("cgtest-%d-%d:", os.Getpid(), time.Now().UnixNano())

func requireRedis(t *testing.T, addr string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		if os.Getenv("CIVICGATE_NO_REDIS") == "1" {
			t.Skip("CIVICGATE_NO_REDIS=1")
		}
		t.Fatalf("Redis is not reachable on %s: %v (start it, or set CIVICGATE_NO_REDIS=1 to skip)", addr, err)
	}
	c.Close()
}

// TestReplicasShareSessions runs two gateways behind one public address,
// sharing one Redis and one test IdP, as two replicas behind a load
// balancer: a login on A is valid on B, a logout on B ends it on A at once,
// and a SAML assertion consumed on A cannot be used on B.
func TestReplicasShareSessions(t *testing.T) {
	requireRedis(t, "127.0.0.1:6379")
	data := t.TempDir()
	a := newGateway(t, gwOptions{dataDir: data, env: redisEnv("127.0.0.1:6379")})
	// B serves the same public URL, data directory (keys) and test IdP.
	b := newGateway(t, gwOptions{dataDir: data, env: redisEnv("127.0.0.1:6379"), public: a.srv, devIdP: a.app.DevIdP})

	// Both listeners answer for the same origin: the browser talks to A,
	// then the "load balancer" sends it to B.
	br := newBrowser(t, a)
	res := br.login("test-oidc", tolvan, auth.URILoA3, "/mina-sidor")
	if res.URL.Path != "/mina-sidor" {
		t.Fatalf("login on A ended at %s:\n%s", res.URL, a.log.String())
	}
	token := csrf(t, res.Body)
	onB := func(path string) page {
		br.origin = b.URL
		defer func() { br.origin = a.URL }()
		copyCookies(t, br, a.URL, b.URL)
		return br.get(path)
	}
	if res := onB("/mina-sidor"); res.URL.Path != "/mina-sidor" || !strings.Contains(res.Body, "Tolvan Tolvansson") {
		t.Fatalf("the session from A is not recognised on B: %s", res.URL)
	}
	// A serves the session from its local cache (once its subscription is
	// confirmed), so the logout on B below must reach A's cache at once.
	cacheHits := func() float64 {
		rec := httptest.NewRecorder()
		a.app.Server.AdminHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		return metricValue(rec.Body.String(), "civicgate_session_cache_hits_total")
	}
	for deadline := time.Now().Add(5 * time.Second); cacheHits() < 1; {
		if time.Now().After(deadline) {
			t.Fatalf("A never served the session from its local cache (hits %v)", cacheHits())
		}
		if res := br.get("/mina-sidor"); res.URL.Path != "/mina-sidor" {
			t.Fatalf("A lost the session: %s", res.URL)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Log out on B.
	sid := sessionCookie(br, mustURL(a.URL))
	if sid == "" {
		t.Fatal("no session cookie after login")
	}
	copyCookies(t, br, a.URL, b.URL)
	br.origin = b.URL
	br.post("/logout", url.Values{"csrf": {token}})
	br.origin = a.URL
	// The browser has dropped the cookie (B expired it, and cookies are not
	// told apart by port), so present the old session ID to A directly, as
	// a stolen copy of the cookie would be.
	req, _ := http.NewRequest(http.MethodGet, a.URL+"/mina-sidor", nil)
	req.AddCookie(&http.Cookie{Name: "__Host-cg_session", Value: sid})
	stale, err := a.srv.Client().Transport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	stale.Body.Close()
	if loc := stale.Header.Get("Location"); stale.StatusCode/100 != 3 || !strings.HasPrefix(loc, "/login") {
		t.Fatalf("after logout on B, A still accepts the session: %d, Location %q", stale.StatusCode, loc)
	}

	// SAML: capture the response A consumed and post it to B.
	br2 := newBrowser(t, a)
	picker := br2.get("/login/test-saml?return=/")
	fs := forms(picker.Body)
	f := fs[0]
	f.Fields.Set("person", tolvan)
	f.Fields.Set("acr", auth.URILoA3)
	f.Fields.Set("action", "login")
	post := br2.post(resolve(picker.URL, f.Action), f.Fields)
	saml := forms(post.Body)[0]
	if res := br2.post(resolve(post.URL, saml.Action), saml.Fields); res.URL.Path != "/" {
		t.Fatalf("SAML login on A failed: %s\n%s", res.URL, a.log.String())
	}
	// An attacker replays it on B with a fresh flow of their own.
	attacker := newBrowser(t, b)
	attacker.c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	attacker.get("/login/test-saml?return=/")
	attacker.c.CheckRedirect = nil
	acs := strings.Replace(resolve(post.URL, saml.Action), a.URL, b.URL, 1)
	res = attacker.post(acs, saml.Fields)
	if res.Status != http.StatusBadRequest {
		t.Fatalf("replayed SAML response on B: %d %s", res.Status, res.URL)
	}
	if sessionCookie(attacker, mustURL(b.URL)) != "" {
		t.Fatal("the replay produced a session")
	}
}

func mustURL(s string) *url.URL { u, _ := url.Parse(s); return u }

// copyCookies gives server to the cookies of from: both are the same origin
// to a real browser behind a load balancer.
func copyCookies(t *testing.T, b *browser, from, to string) {
	t.Helper()
	b.c.Jar.SetCookies(mustURL(to), b.c.Jar.Cookies(mustURL(from)))
}

// TestFailClosedWhenRedisIsDown stops a real Redis under a logged-in
// citizen: protected pages answer a bilingual 503 (never anonymous access),
// /readyz reports it, and the gateway recovers by itself when Redis is back.
func TestFailClosedWhenRedisIsDown(t *testing.T) {
	redis := sessiontest.StartRedisServer(t)
	addr := redis.Addr

	g := newGateway(t, gwOptions{env: redisEnv(addr)})
	b := newBrowser(t, g)
	if res := b.login("test-oidc", tolvan, auth.URILoA3, "/mina-sidor"); res.URL.Path != "/mina-sidor" {
		t.Fatalf("login: %s", res.URL)
	}
	redis.Stop()

	res := b.get("/mina-sidor")
	if res.Status != http.StatusServiceUnavailable {
		t.Fatalf("Mina sidor with Redis down: %d at %s", res.Status, res.URL)
	}
	if strings.Contains(res.Body, "Tolvan") || !strings.Contains(res.Body, "tillfälligt otillgänglig") {
		t.Errorf("503 page wrong:\n%s", res.Body)
	}
	b.c.Jar.SetCookies(mustURL(g.URL), []*http.Cookie{{Name: "cg_lang", Value: "en", Path: "/"}})
	if res := b.get("/mina-sidor"); !strings.Contains(res.Body, "temporarily unavailable") {
		t.Errorf("503 page has no English:\n%s", res.Body)
	}
	if res := b.get("/readyz"); res.Status != http.StatusServiceUnavailable || !strings.Contains(res.Body, `"redis":{"status":"fail"`) {
		t.Errorf("readyz with Redis down: %d %s", res.Status, res.Body)
	}
	if res := b.get("/login/test-oidc?return=/"); res.Status != http.StatusServiceUnavailable {
		t.Errorf("login start with Redis down: %d", res.Status)
	}

	redis.Start()
	deadline := time.Now().Add(10 * time.Second)
	for {
		res := b.get("/readyz")
		if res.Status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("gateway did not recover: %s", res.Body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Redis lost its data (no persistence): the session is gone, so the
	// citizen logs in again, and that works.
	if res := b.get("/mina-sidor"); res.URL.Path != "/login" {
		t.Errorf("after recovery: %s (%d)", res.URL, res.Status)
	}
	if res := b.login("test-oidc", tolvan, auth.URILoA3, "/mina-sidor"); res.URL.Path != "/mina-sidor" {
		t.Errorf("login after recovery: %s", res.URL)
	}
}

// metricValue returns the value of an unlabelled metric in a Prometheus
// text exposition, or -1.
func metricValue(exposition, name string) float64 {
	for _, line := range strings.Split(exposition, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}
