package devidp

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now()} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// testIdP is a provider served by a test server under /devidp, mounted
// without stripping the prefix (as the gateway does).
type testIdP struct {
	*Provider
	srv   *httptest.Server
	clock *clock
}

func startIdP(t *testing.T, o Options) *testIdP {
	t.Helper()
	var h http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	ck := newClock()
	o.BaseURL = srv.URL + "/devidp"
	if o.Now == nil {
		o.Now = ck.Now
	}
	p, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/devidp/", p.Handler())
	h = mux
	return &testIdP{Provider: p, srv: srv, clock: ck}
}

// browser returns a client with a cookie jar that does not follow
// redirects, so that each hop can be inspected.
func browser(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// picker is the parsed picker page.
type picker struct {
	action, flow, csrf string
	people, acrs       []string
	body               string
}

var (
	reForm   = regexp.MustCompile(`<form method="post" action="([^"]+)"`)
	reHidden = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)"`)
	reRadio  = regexp.MustCompile(`<input type="radio" name="(person|acr)" id="[^"]+" value="([^"]+)"`)
)

func parsePicker(t *testing.T, resp *http.Response) picker {
	t.Helper()
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("picker status %d: %s", resp.StatusCode, body)
	}
	checkBanner(t, body)
	var pk picker
	pk.body = body
	m := reForm.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no form on the picker page: %s", body)
	}
	pk.action = unescapeHTML(m[1])
	for _, h := range reHidden.FindAllStringSubmatch(body, -1) {
		switch h[1] {
		case "flow":
			pk.flow = h[2]
		case "csrf":
			pk.csrf = h[2]
		}
	}
	for _, r := range reRadio.FindAllStringSubmatch(body, -1) {
		if r[1] == "person" {
			pk.people = append(pk.people, unescapeHTML(r[2]))
		} else {
			pk.acrs = append(pk.acrs, unescapeHTML(r[2]))
		}
	}
	if pk.flow == "" || pk.csrf == "" {
		t.Fatalf("picker lacks flow or csrf fields")
	}
	return pk
}

func (pk picker) submit(t *testing.T, c *http.Client, action, person, acr string) *http.Response {
	t.Helper()
	resp, err := c.PostForm(pk.action, url.Values{
		"flow": {pk.flow}, "csrf": {pk.csrf}, "person": {person}, "acr": {acr}, "action": {action},
	})
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func unescapeHTML(s string) string {
	return strings.NewReplacer("&amp;", "&", "&#43;", "+", "&#34;", `"`, "&#39;", "'", "&lt;", "<", "&gt;", ">").Replace(s)
}

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func checkBanner(t *testing.T, body string) {
	t.Helper()
	if !strings.Contains(body, "TESTLÄGE – inte riktig e-legitimation") || !strings.Contains(body, "TEST MODE – not a real e-ID") {
		t.Errorf("page lacks the test-mode banner")
	}
	if strings.Contains(body, "<script>") || strings.Contains(body, "style=") {
		t.Errorf("page has inline script or style")
	}
}

func get(t *testing.T, c *http.Client, u string) *http.Response {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}
