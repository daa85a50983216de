package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// devGateway runs `civicgate dev` in-process (the same entry point as the
// binary) on a free port with its own data directory, and stops it when the
// test ends.
type devGateway struct {
	URL     string
	dataDir string
	out     *syncBuffer
	done    chan error
}

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

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

func startDev(t *testing.T, extra ...string) *devGateway {
	t.Helper()
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	g := &devGateway{URL: "http://" + addr, dataDir: t.TempDir(), out: &syncBuffer{}, done: make(chan error, 1)}
	args := append([]string{"dev", "--listen", addr, "--admin", "off", "--data", g.dataDir}, extra...)
	go func() { g.done <- run(ctx, args, io.Discard, g.out) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-g.done:
			if err != nil {
				t.Errorf("civicgate dev stopped with error: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("civicgate dev did not shut down within 30s")
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-g.done:
			t.Fatalf("civicgate dev exited at start: %v\n%s", err, g.out.String())
		default:
		}
		resp, err := http.Get(g.URL + "/readyz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return g
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("civicgate dev not ready within 60s\n%s", g.out.String())
	return nil
}

// chromiumPath finds Debian's chromium. In CI a missing browser is a
// failure, elsewhere the browser tests are skipped.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CIVICGATE_CHROMIUM"); p != "" {
		return p
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium not found: install the Debian package chromium (the test script does)")
	}
	t.Skip("chromium not installed; browser tests skipped")
	return ""
}

// newBrowser starts headless Chromium with the flags this environment needs.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1200, 900),
	}
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, bcancel := chromedp.NewContext(actx)
	tctx, tcancel := context.WithTimeout(bctx, 5*time.Minute)
	t.Cleanup(func() { tcancel(); bcancel(); acancel() })
	if err := chromedp.Do(tctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return tctx
}

// browser wraps a tab with the few steps the journeys need; every step
// fails the test with the gateway's log attached.
type browser struct {
	t   *testing.T
	ctx context.Context
	g   *devGateway
}

func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v\ngateway log:\n%s", what, err, b.g.out.String())
	}
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(sel), chromedp.NodeVisible))
	if err != nil {
		b.t.Fatalf("reading %s: %v\ngateway log:\n%s", sel, err, b.g.out.String())
	}
	return strings.TrimSpace(s)
}

func (b *browser) location() string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Location())
	if err != nil {
		b.t.Fatalf("location: %v", err)
	}
	return s
}

func (b *browser) attr(sel, name string) string {
	b.t.Helper()
	r, err := chromedp.Run(b.ctx, chromedp.AttributeValue(chromedp.CSS(sel), name))
	if err != nil {
		b.t.Fatalf("attribute %s of %s: %v", name, sel, err)
	}
	return r.Value
}

// clickAndLoad clicks sel and waits until the browser shows the next
// document, then runs then. For a page whose successor has the same
// elements (visible(...) would be satisfied by the old page at once).
func (b *browser) clickAndLoad(what, sel string, then ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if _, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`window.__cgOld = true`)); err != nil {
		b.t.Fatalf("%s: marking the page: %v", what, err)
	}
	b.do(what, click(sel))
	b.waitJS(what+": the page after clicking "+sel, `window.__cgOld === undefined && document.readyState === "complete"`)
	if len(then) > 0 {
		b.do(what, then...)
	}
}

// waitJS waits until the JavaScript expression cond is true on the page
// the browser shows, across navigations (evaluating fails while a document
// is being replaced; that only means "not yet").
func (b *browser) waitJS(what, cond string) {
	b.t.Helper()
	for deadline := time.Now().Add(15 * time.Second); ; {
		ok, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](cond))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("%s: timed out waiting for %s\ngateway log:\n%s", what, cond, b.g.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func click(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible)
}
func visible(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.WaitVisible(chromedp.CSS(sel))
}

// TestBrowserLoginMyPagesLanguageLogout is the foundation's end-to-end
// journey: log in through the test e-ID page over the real OIDC flow, see
// one's own name and masked personnummer on Mina sidor, switch to English,
// log out, and be logged out.
func TestBrowserLoginMyPagesLanguageLogout(t *testing.T) {
	g := startDev(t)
	b := &browser{t: t, ctx: newBrowser(t), g: g}

	// Not logged in: Mina sidor sends us to the chooser.
	b.do("open Mina sidor", chromedp.Navigate(g.URL+"/mina-sidor"), visible("#idp-test-oidc"))
	if banner := b.text("#testbanner"); !strings.Contains(banner, "TESTLÄGE") {
		t.Errorf("test-mode banner missing: %q", banner)
	}
	// The test e-ID provider's picker: the first person is Tolvan.
	b.do("choose the test e-ID", click("#idp-test-oidc"), visible(`input[name="person"]`))
	b.do("log in as Tolvan", click("#person-0"), click(`button[value="login"]`), visible("#name"))
	if loc := b.location(); !strings.HasSuffix(loc, "/mina-sidor") {
		t.Errorf("after login at %s, want /mina-sidor", loc)
	}
	if name := b.text("#name"); name != "Tolvan Tolvansson" {
		t.Errorf("name on Mina sidor = %q", name)
	}
	if pnr := b.text("#pnr"); pnr != "19810724-XXXX" {
		t.Errorf("personnummer shown as %q, want masked 19810724-XXXX", pnr)
	}

	b.do("switch to English", click("#langswitch"), visible(`html[lang="en"]`))
	if h := b.text("h1"); h != "My pages" {
		t.Errorf("after switching language h1 = %q", h)
	}
	if lang := b.attr("html", "lang"); lang != "en" {
		t.Errorf("html lang = %q", lang)
	}
	b.do("log out", click("#logout"), visible("#loggedout"))
	if h := b.text("#loggedout"); h != "You are logged out" {
		t.Errorf("logout page heading %q", h)
	}

	// Logged out for real: Mina sidor asks for a login again.
	b.do("Mina sidor after logout", chromedp.Navigate(g.URL+"/mina-sidor"), visible("#idp-test-oidc"))
	if loc := b.location(); !strings.Contains(loc, "/login?") {
		t.Errorf("after logout /mina-sidor went to %s, want the login chooser", loc)
	}
	if strings.Contains(g.out.String(), "198107249289") {
		t.Error("the gateway log contains a personnummer in clear")
	}
}

// TestBrowserSAMLLogin logs in through the test provider's SAML face: the
// HTTP-POST binding's auto-submitting form must work under the gateway's
// Content-Security-Policy, and the samordningsnummer holder is shown as such.
func TestBrowserSAMLLogin(t *testing.T) {
	g := startDev(t)
	b := &browser{t: t, ctx: newBrowser(t), g: g}
	b.do("open the chooser", chromedp.Navigate(g.URL+"/login?return=/mina-sidor"), visible("#idp-test-saml"))
	b.do("choose SAML", click("#idp-test-saml"), visible(`input[name="person"]`))
	b.do("log in as Samuel", click(`input[value="197010632391"]`), click(`button[value="login"]`), visible("#name"))
	if name := b.text("#name"); name != "Samuel Samordnare" {
		t.Errorf("name = %q", name)
	}
	if pnr := b.text("#pnr"); pnr != "19701063-XXXX" {
		t.Errorf("samordningsnummer shown as %q", pnr)
	}
	if page := b.text("main"); !strings.Contains(page, "Samordningsnummer") {
		t.Errorf("the number is not labelled as a samordningsnummer:\n%s", page)
	}
}

// TestBrowserIdleWarning: a logged-in person is warned before the idle
// timeout and can stay logged in without leaving the page.
func TestBrowserIdleWarning(t *testing.T) {
	t.Setenv("CIVICGATE_SESSIONS_IDLE_TIMEOUT", "1m")
	t.Setenv("CIVICGATE_SESSIONS_WARN_BEFORE", "57s")
	g := startDev(t)
	b := &browser{t: t, ctx: newBrowser(t), g: g}
	b.do("log in", chromedp.Navigate(g.URL+"/login?return=/mina-sidor"), click("#idp-test-oidc"),
		visible(`input[name="person"]`), click(`input[value="198107249289"]`), click(`button[value="login"]`), visible("#name"))
	// The warning appears about three seconds in (60 s idle, 57 s warning).
	b.do("wait for the warning", visible("#idle-warning"))
	if txt := b.text("#idle-title"); txt != "Vill du fortsätta?" {
		t.Errorf("warning title %q", txt)
	}
	b.do("stay logged in", click("#idle-extend"), chromedp.WaitNotVisible(chromedp.CSS("#idle-warning")))
	if loc := b.location(); !strings.HasSuffix(loc, "/mina-sidor") {
		t.Errorf("extending left the page: %s", loc)
	}
}
