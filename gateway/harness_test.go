package gateway_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/civicgate/civicgate/auth/devidp"
	"github.com/civicgate/civicgate/configs"
	_ "github.com/civicgate/civicgate/eservices/all"
	"github.com/civicgate/civicgate/gateway/app"
	"github.com/civicgate/civicgate/gateway/config"
	"github.com/civicgate/civicgate/gateway/logging"
)

// syncBuffer collects the gateway's log lines for assertions.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// switchHandler lets a test server exist (and so know its URL) before the
// gateway that needs the URL is built.
type switchHandler struct {
	mu sync.RWMutex
	h  http.Handler
}

func (s *switchHandler) set(h http.Handler) { s.mu.Lock(); s.h = h; s.mu.Unlock() }

func (s *switchHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.RLock()
	h := s.h
	s.mu.RUnlock()
	if h == nil {
		http.Error(w, "not ready", http.StatusServiceUnavailable)
		return
	}
	h.ServeHTTP(w, r)
}

// gw is one gateway built from the dev configuration the way the binary
// builds it, served over HTTPS so cookies carry their production flags.
type gw struct {
	t   *testing.T
	URL string
	srv *httptest.Server
	app *app.App
	cfg *config.Config
	log *syncBuffer
}

type gwOptions struct {
	// URL, when set, reuses a public URL (replicas behind one address).
	public  *httptest.Server
	dataDir string
	devIdP  *devidp.Provider
	env     []string
	edit    func(*config.Config)
}

func newGateway(t *testing.T, o gwOptions) *gw {
	t.Helper()
	sw := &switchHandler{}
	srv := httptest.NewUnstartedServer(sw)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	public := srv.URL
	if o.public != nil {
		public = o.public.URL
	}
	if o.dataDir == "" {
		o.dataDir = t.TempDir()
	}
	env := append([]string{
		"CIVICGATE_PUBLIC_URL=" + public,
		"CIVICGATE_DATA_DIR=" + o.dataDir,
		"CIVICGATE_SECURITY_INSECURE_COOKIES=false",
	}, o.env...)
	cfg, err := config.Parse(configs.Dev, config.Options{Environ: env, Dev: true})
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	if o.edit != nil {
		o.edit(cfg)
		if err := cfg.Validate(); err != nil {
			t.Fatalf("config after edit: %v", err)
		}
	}
	logs := &syncBuffer{}
	log := logging.New(logs, "json", "debug")
	a, err := app.Build(context.Background(), cfg, log, app.Options{DevIdP: o.devIdP, DevIdPClient: srv.Client()})
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	t.Cleanup(a.Close)
	sw.set(a.Server.Handler())
	return &gw{t: t, URL: srv.URL, srv: srv, app: a, cfg: cfg, log: logs}
}

// browser is an HTTP client with a cookie jar that follows redirects, as a
// browser without JavaScript does. It trusts the test servers' certificate.
type browser struct {
	t      *testing.T
	c      *http.Client
	origin string
}

func newBrowser(t *testing.T, g *gw) *browser {
	jar, _ := cookiejar.New(nil)
	tr := g.srv.Client().Transport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // test servers only
	return &browser{t: t, c: &http.Client{Jar: jar, Transport: tr}, origin: g.URL}
}

// page is a fetched HTML page.
type page struct {
	Status int
	URL    *url.URL
	Body   string
	Header http.Header
}

func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	if req.Method == http.MethodPost && req.Header.Get("Origin") == "" {
		u, _ := url.Parse(req.URL.String())
		req.Header.Set("Origin", u.Scheme+"://"+u.Host)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return page{Status: resp.StatusCode, URL: resp.Request.URL, Body: string(body), Header: resp.Header}
}

func (b *browser) get(u string) page {
	b.t.Helper()
	if strings.HasPrefix(u, "/") {
		u = b.origin + u
	}
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	return b.do(req)
}

func (b *browser) post(u string, form url.Values) page {
	b.t.Helper()
	if strings.HasPrefix(u, "/") {
		u = b.origin + u
	}
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

var (
	formRE   = regexp.MustCompile(`(?s)<form[^>]*method="post"[^>]*action="([^"]*)"[^>]*>(.*?)</form>`)
	hiddenRE = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
	csrfRE   = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
)

// forms returns the POST forms of a page: action and hidden fields.
func forms(body string) []struct {
	Action string
	Fields url.Values
} {
	var out []struct {
		Action string
		Fields url.Values
	}
	for _, m := range formRE.FindAllStringSubmatch(body, -1) {
		f := url.Values{}
		for _, h := range hiddenRE.FindAllStringSubmatch(m[2], -1) {
			f.Add(html.UnescapeString(h[1]), html.UnescapeString(h[2]))
		}
		out = append(out, struct {
			Action string
			Fields url.Values
		}{html.UnescapeString(m[1]), f})
	}
	return out
}

// csrf returns the session's CSRF token from a logged-in page.
func csrf(t *testing.T, body string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no CSRF token on the page")
	}
	return m[1]
}

// login goes through the test e-ID provider's picker as person (a
// personnummer or "staff:<subject>") asserting acr, at provider idp, and
// returns the page the gateway ends on.
func (b *browser) login(idp, person, acr, returnTo string) page {
	b.t.Helper()
	picker := b.get("/login/" + idp + "?return=" + url.QueryEscape(returnTo))
	if picker.Status != http.StatusOK || !strings.Contains(picker.Body, `name="person"`) {
		b.t.Fatalf("no picker page (status %d at %s):\n%s", picker.Status, picker.URL, picker.Body)
	}
	return b.pick(picker, person, acr, "login")
}

// pick answers the test provider's picker page.
func (b *browser) pick(picker page, person, acr, action string) page {
	b.t.Helper()
	fs := forms(picker.Body)
	if len(fs) == 0 {
		b.t.Fatalf("picker has no form:\n%s", picker.Body)
	}
	f := fs[0]
	f.Fields.Set("person", person)
	if acr != "" {
		f.Fields.Set("acr", acr)
	} else {
		m := regexp.MustCompile(`name="acr" id="acr-0" value="([^"]+)"`).FindStringSubmatch(picker.Body)
		if m != nil {
			f.Fields.Set("acr", html.UnescapeString(m[1]))
		}
	}
	f.Fields.Set("action", action)
	target := resolve(picker.URL, f.Action)
	res := b.post(target, f.Fields)
	// SAML: the provider answers with an auto-posting form to our ACS.
	if strings.Contains(res.Body, `name="SAMLResponse"`) {
		fs := forms(res.Body)
		res = b.post(resolve(res.URL, fs[0].Action), fs[0].Fields)
	}
	return res
}

func resolve(base *url.URL, ref string) string {
	u, err := base.Parse(ref)
	if err != nil {
		return ref
	}
	return u.String()
}
