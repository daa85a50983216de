package remote

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"
	"time"
)

func benchUpstream(b *testing.B) *httptest.Server {
	b.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "<p>ok</p>")
	}))
	b.Cleanup(srv.Close)
	return srv
}

func runHandler(b *testing.B, h http.Handler) {
	b.Helper()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodGet, "/sida?x=1", nil)
		req.Header.Set("Cookie", "__Host-session=abc")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d", w.Code)
		}
	}
}

// BenchmarkProxy is one request through Proxy: identity, the reused
// assertion, header hygiene and the round trip to a local module.
func BenchmarkProxy(b *testing.B) {
	benchProxy(b, false)
}

// BenchmarkProxyBound is BenchmarkProxy with bind_request: pseudonyms and
// an ES256 signature on every request.
func BenchmarkProxyBound(b *testing.B) {
	benchProxy(b, true)
}

func benchProxy(b *testing.B, bind bool) {
	up := benchUpstream(b)
	cfg := testModule("bench", up.URL)
	cfg.BindRequest = bind
	p, err := NewProxy(cfg, mustSigner(b), Options{
		PublicURL:    "https://e-tjanster.example.se",
		PseudonymKey: testPseudonymKey,
		Identity:     func(*http.Request) (Claims, bool) { return citizenClaims(), true },
	})
	if err != nil {
		b.Fatal(err)
	}
	runHandler(b, p)
}

// BenchmarkBareReverseProxy is the same round trip through a plain
// httputil.ReverseProxy with the same transport: the difference to
// BenchmarkProxy is what the assertion and the hygiene cost.
func BenchmarkBareReverseProxy(b *testing.B) {
	up := benchUpstream(b)
	target, _ := url.Parse(up.URL)
	rp := &httputil.ReverseProxy{
		Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(target); pr.SetXForwarded() },
		Transport: NewTransport(nil),
	}
	runHandler(b, rp)
}

// BenchmarkSign is building and signing one assertion.
func BenchmarkSign(b *testing.B) {
	p, err := NewProxy(testModule("bench", "http://127.0.0.1:1"), mustSigner(b), Options{
		PublicURL:    "https://e-tjanster.example.se",
		PseudonymKey: testPseudonymKey,
		Identity:     func(*http.Request) (Claims, bool) { return Claims{}, false },
	})
	if err != nil {
		b.Fatal(err)
	}
	c := citizenClaims()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.signer.Sign(p.assertion(c, time.Now(), http.MethodGet, "/sida")); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerify is a module verifying one assertion with cached keys,
// signature included.
func BenchmarkVerify(b *testing.B) {
	benchVerify(b, -1)
}

// BenchmarkVerifyCached is a module verifying an assertion it has verified
// before.
func BenchmarkVerifyCached(b *testing.B) {
	benchVerify(b, 0)
}

func benchVerify(b *testing.B, cacheSize int) {
	s := mustSigner(b)
	srv := httptest.NewServer(s.JWKSHandler())
	b.Cleanup(srv.Close)
	v, err := NewVerifier(srv.URL+JWKSPath, "tid", VerifierOptions{Issuer: "https://gw", CacheSize: cacheSize})
	if err != nil {
		b.Fatal(err)
	}
	tok := signedAt(b, s, "https://gw", time.Now(), Lifetime)
	ctx := context.Background()
	if _, err := v.VerifyToken(ctx, tok); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.VerifyToken(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}
