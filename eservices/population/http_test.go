package population

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// errorsSeen collects every error the HTTP tests provoke, to check that none
// carries a personal number.
type errorsSeen struct{ errs []error }

func (s *errorsSeen) add(err error) error { s.errs = append(s.errs, err); return err }

func (s *errorsSeen) checkNoPNR(t *testing.T) {
	t.Helper()
	for _, err := range s.errs {
		for _, p := range allPNRs {
			if err != nil && strings.Contains(err.Error(), p) {
				t.Errorf("error %q contains a personal number", strings.ReplaceAll(err.Error(), p, mask(p)))
			}
		}
	}
}

func TestHTTPRequestShape(t *testing.T) {
	up := newUpstream(t, Default())
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("s3cret-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var body string
	up.answer(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		body = string(b)
		if r.Method != http.MethodPost || r.Header.Get("Accept") != "application/json" {
			t.Errorf("method %s, accept %q", r.Method, r.Header.Get("Accept"))
		}
		_, _ = io.WriteString(w, `{"person": {"personal_number": "198107249289", "given_name": "Tolvan", "family_name": "Tolvansson"}}`)
	})
	h := up.client(t, HTTPConfig{TokenFile: tokenFile})
	p, err := h.Person(context.Background(), tolvan)
	if err != nil || p.DisplayName() != "Tolvan Tolvansson" {
		t.Fatalf("person = %+v, %v", p, err)
	}
	if got := up.lastPath.Load(); got != "/api/lookup" {
		t.Errorf("path = %v", got)
	}
	if strings.Contains(up.lastPath.Load().(string), tolvan) {
		t.Error("the personal number is in the URL")
	}
	var q map[string]string
	if err := json.Unmarshal([]byte(body), &q); err != nil || q["pnr"] != tolvan || len(q) != 1 {
		t.Errorf("body = %q", body)
	}
	if got := up.lastAuth.Load(); got != "Bearer s3cret-token" {
		t.Errorf("Authorization = %q", got)
	}
}

func TestHTTPFailures(t *testing.T) {
	seen := &errorsSeen{}
	defer seen.checkNoPNR(t)
	cases := []struct {
		name   string
		answer http.HandlerFunc
		op     func(*HTTP) error
		want   error
	}{
		{"not found", status(http.StatusNotFound, "no such person"), lookupPerson(nian), ErrNotFound},
		{"server error", status(http.StatusInternalServerError, "boom 200809032386"), lookupPerson(nian), ErrUnavailable},
		{"bad gateway on children", status(http.StatusBadGateway, ""), lookupChildren(tolvan), ErrUnavailable},
		{"unauthorised", status(http.StatusUnauthorized, ""), lookupPerson(nian), ErrUnavailable},
		{"redirect", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		}, lookupPerson(nian), ErrUnavailable},
		{"malformed JSON", body(`{"person": {"personal_number": "200809032386", `), lookupPerson(nian), ErrUnavailable},
		{"not JSON", body(`<html>200809032386</html>`), lookupPerson(nian), ErrUnavailable},
		{"wrong type", body(`{"person": {"personal_number": 200809032386}}`), lookupPerson(nian), ErrUnavailable},
		{"no person", body(`{}`), lookupPerson(nian), ErrUnavailable},
		{"another person", body(`{"person": {"personal_number": "198107249289", "given_name": "Tolvan"}}`), lookupPerson(nian), ErrUnavailable},
		{"no persons", body(`{"person": null}`), lookupChildren(tolvan), ErrUnavailable},
		{"invalid number in list", body(`{"persons": [{"personal_number": "201701272394", "given_name": "X"}]}`), lookupChildren(tolvan), ErrUnavailable},
		{"duplicate in list", body(`{"persons": [{"personal_number": "201701102384"}, {"personal_number": "201701102384"}]}`), lookupChildren(tolvan), ErrUnavailable},
		{"self in list", body(`{"persons": [{"personal_number": "198107249289"}]}`), lookupGuardians(tolvan), ErrUnavailable},
		{"too large", body(`{"persons": [], "pad": "` + strings.Repeat("x", maxBody) + `"}`), lookupChildren(tolvan), ErrUnavailable},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			up := newUpstream(t, Default())
			up.answer(c.answer)
			h := up.client(t, HTTPConfig{})
			err := seen.add(c.op(h))
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			if c.want == ErrUnavailable && errors.Is(err, ErrNotFound) {
				t.Error("both unavailable and not found")
			}
			// A failure is not cached: the register is asked again.
			before := up.hits.Load()
			_ = seen.add(c.op(h))
			if up.hits.Load() == before {
				t.Error("a failed answer was cached")
			}
		})
	}
}

func TestHTTPTimeout(t *testing.T) {
	seen := &errorsSeen{}
	defer seen.checkNoPNR(t)
	up := newUpstream(t, Default())
	release := make(chan struct{})
	defer close(release)
	up.answer(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	h := up.client(t, HTTPConfig{Timeout: 100 * time.Millisecond})
	start := time.Now()
	err := seen.add(lookupPerson(nian)(h))
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("timeout took %v", d)
	}

	// The caller's own deadline is honoured and visible.
	h = up.client(t, HTTPConfig{Timeout: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = h.Children(ctx, tolvan)
	seen.add(err)
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
}

func TestHTTPUnreachable(t *testing.T) {
	up := newUpstream(t, Default())
	h := up.client(t, HTTPConfig{})
	up.srv.Close()
	_, err := h.Person(context.Background(), tolvan)
	if !errors.Is(err, ErrUnavailable) || strings.Contains(err.Error(), tolvan) {
		t.Fatalf("err = %v", err)
	}
}

func TestHTTPInvalidNumberNotSent(t *testing.T) {
	up := newUpstream(t, Default())
	h := up.client(t, HTTPConfig{})
	for _, bad := range []string{"", "201701272394", "../admin"} {
		if _, err := h.Person(context.Background(), bad); !errors.Is(err, ErrNotFound) {
			t.Errorf("err = %v", err)
		}
	}
	if n := up.hits.Load(); n != 0 {
		t.Errorf("register asked %d times about invalid numbers", n)
	}
}

// The register service "forgets" to minimise: the client must not pass the
// data on, nor keep it in its cache.
func TestHTTPProtectedNotTrusted(t *testing.T) {
	up := newUpstream(t, Default())
	up.answer(body(`{"person": {"personal_number": "200809032386", "given_name": "Nian",
		"family_name": "Tolvansson", "protected": true, "deceased": false,
		"address": {"street": "Hemliga vägen 9", "postal_code": "987 65", "city": "Någonstans"},
		"school": {"id": "skola-2", "name": "Exempelgymnasiet"}}}`))
	h := up.client(t, HTTPConfig{})
	for i := 0; i < 2; i++ {
		p, err := h.Person(context.Background(), nian)
		if err != nil {
			t.Fatal(err)
		}
		assertMinimised(t, p, "Nian")
	}
	if n := up.hits.Load(); n != 2 {
		t.Errorf("protected person served from cache (%d register calls for 2 lookups)", n)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.cache) != 0 {
		t.Errorf("cache holds %d entries after protected lookups", len(h.cache))
	}
}

func TestHTTPCache(t *testing.T) {
	up := newUpstream(t, Default())
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	h, err := NewHTTP(HTTPConfig{URL: up.srv.URL + "/api", CacheTTL: time.Minute}, HTTPOptions{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	get := func() Person {
		t.Helper()
		p, err := h.Person(ctx, tian)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := get()
	p.Address.City = "changed"
	if get().Address.City == "changed" {
		t.Error("a caller changed a cached answer")
	}
	if n := up.hits.Load(); n != 1 {
		t.Fatalf("%d register calls, want 1 (second from cache)", n)
	}
	// Children of the same number are a different question.
	if _, err := h.Children(ctx, tian); err != nil {
		t.Fatal(err)
	}
	if n := up.hits.Load(); n != 2 {
		t.Fatalf("%d register calls, want 2", n)
	}
	now = now.Add(time.Minute)
	get()
	if n := up.hits.Load(); n != 3 {
		t.Fatalf("%d register calls after expiry, want 3", n)
	}
	// An answer holding a protected child is not cached.
	for i := 0; i < 2; i++ {
		if _, err := h.Children(ctx, tolvan); err != nil {
			t.Fatal(err)
		}
	}
	if n := up.hits.Load(); n != 5 {
		t.Fatalf("%d register calls, want 5", n)
	}

	off := up.client(t, HTTPConfig{CacheTTL: -1})
	before := up.hits.Load()
	for i := 0; i < 2; i++ {
		if _, err := off.Person(ctx, tian); err != nil {
			t.Fatal(err)
		}
	}
	if n := up.hits.Load() - before; n != 2 {
		t.Errorf("cache off: %d register calls, want 2", n)
	}
}

func TestHTTPConfigValidate(t *testing.T) {
	ok := []HTTPConfig{
		{URL: "https://register.example/api"},
		{URL: "http://127.0.0.1:8080"},
		{URL: "http://localhost/x", ClientCertFile: "c.pem", ClientKeyFile: "k.pem", CacheTTL: -1},
	}
	for _, c := range ok {
		if err := c.Validate(); err != nil {
			t.Errorf("%+v: %v", c, err)
		}
	}
	for _, c := range []struct {
		cfg  HTTPConfig
		want []string
	}{
		{HTTPConfig{}, []string{"url: required"}},
		{HTTPConfig{URL: "http://register.example", Timeout: -1, ClientKeyFile: "k.pem"},
			[]string{"url: must use https", "timeout: must not be negative", "client_cert_file: required with client_key_file"}},
		{HTTPConfig{URL: "https://u:p@register.example/?a=1", ClientCertFile: "c.pem"},
			[]string{"url: must not hold credentials", "url: must not have a query", "client_key_file: required with client_cert_file"}},
		{HTTPConfig{URL: "register.example"}, []string{"url: must be an absolute URL"}},
	} {
		err := c.cfg.Validate()
		if err == nil {
			t.Errorf("%+v accepted", c.cfg)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%+v: error %q misses %q", c.cfg, err, w)
			}
		}
		if n := strings.Count(err.Error(), "\n") + 1; n != len(c.want) {
			t.Errorf("%+v: %d problems, want %d: %v", c.cfg, n, len(c.want), err)
		}
	}
}

func TestNewHTTPFiles(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	notPEM := filepath.Join(dir, "ca.pem")
	for _, f := range []string{empty, notPEM} {
		if err := os.WriteFile(f, []byte(" \n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	_, err := NewHTTP(HTTPConfig{
		URL:            "https://register.example",
		TokenFile:      empty,
		CAFile:         notPEM,
		ClientCertFile: filepath.Join(dir, "missing.pem"),
		ClientKeyFile:  filepath.Join(dir, "missing.key"),
	}, HTTPOptions{})
	if err == nil {
		t.Fatal("accepted")
	}
	for _, w := range []string{"token_file: the file is empty", "ca_file: no PEM certificate", "client_cert_file:"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q misses %q", err, w)
		}
	}
}

func TestHTTPMutualTLS(t *testing.T) {
	dir := t.TempDir()
	clientCert, clientKey, clientPool := selfSigned(t, dir)

	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TLS.PeerCertificates) == 0 || r.TLS.PeerCertificates[0].Subject.CommonName != "civicgate-test-client" {
			http.Error(w, "who are you", http.StatusForbidden)
			return
		}
		serveFile(w, r, Default())
	}))
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clientPool}
	srv.StartTLS()
	defer srv.Close()
	caFile := filepath.Join(dir, "server-ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	// httptest's URL is https://127.0.0.1:port, whose certificate is valid
	// for 127.0.0.1.
	h, err := NewHTTP(HTTPConfig{URL: srv.URL + "/api", CAFile: caFile, ClientCertFile: clientCert, ClientKeyFile: clientKey}, HTTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	kids, err := h.Children(context.Background(), tolvan)
	if err != nil || len(kids) != 2 {
		t.Fatalf("children = %v, %v", pnrs(kids), err)
	}

	noCert, err := NewHTTP(HTTPConfig{URL: srv.URL + "/api", CAFile: caFile}, HTTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := noCert.Person(context.Background(), tolvan); !errors.Is(err, ErrUnavailable) {
		t.Errorf("without a client certificate: err = %v", err)
	}
	untrusted, err := NewHTTP(HTTPConfig{URL: srv.URL + "/api", ClientCertFile: clientCert, ClientKeyFile: clientKey}, HTTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := untrusted.Person(context.Background(), tolvan); !errors.Is(err, ErrUnavailable) {
		t.Errorf("server not trusted: err = %v", err)
	}
}

// selfSigned writes a client certificate and key and returns their paths and
// a pool that trusts the certificate.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "civicgate-test-client"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "client.pem"), filepath.Join(dir, "client.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, pool
}

func status(code int, msg string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) { http.Error(w, msg, code) }
}

func body(s string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, s)
	}
}

func lookupPerson(pnr string) func(*HTTP) error {
	return func(h *HTTP) error { _, err := h.Person(context.Background(), pnr); return err }
}

func lookupChildren(pnr string) func(*HTTP) error {
	return func(h *HTTP) error { _, err := h.Children(context.Background(), pnr); return err }
}

func lookupGuardians(pnr string) func(*HTTP) error {
	return func(h *HTTP) error { _, err := h.Guardians(context.Background(), pnr); return err }
}

// TestHTTPTokenRotation: a rotated token file is picked up within
// tokenRecheck, at once after the service refuses the old token with 401,
// and a file that went away keeps the last good token.
func TestHTTPTokenRotation(t *testing.T) {
	up := newUpstream(t, Default())
	dir := t.TempDir()
	file := filepath.Join(dir, "token")
	write := func(s string, mod time.Time) {
		t.Helper()
		if err := os.WriteFile(file, []byte(s+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		// Distinct modification times, whatever the file system's resolution.
		if err := os.Chtimes(file, mod, mod); err != nil {
			t.Fatal(err)
		}
	}
	base := time.Now()
	write("first", base)
	now := base
	h, err := NewHTTP(HTTPConfig{URL: up.srv.URL + "/api", TokenFile: file, CacheTTL: -1}, HTTPOptions{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	sent := func() string {
		t.Helper()
		_, _ = h.Person(ctx, tian)
		s, _ := up.lastAuth.Load().(string)
		return s
	}
	if got := sent(); got != "Bearer first" {
		t.Fatalf("sent %q", got)
	}
	write("second", base.Add(time.Minute))
	if got := sent(); got != "Bearer first" {
		t.Fatalf("re-read before tokenRecheck: sent %q", got)
	}
	now = now.Add(tokenRecheck)
	if got := sent(); got != "Bearer second" {
		t.Fatalf("after tokenRecheck: sent %q, want the rotated token", got)
	}

	// The service refuses the token: the next request reads the file again.
	write("third", base.Add(2*time.Minute))
	up.answer(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusUnauthorized) })
	if _, err := h.Person(ctx, tian); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "401") {
		t.Fatalf("401: %v", err)
	}
	up.override.Store(nil)
	if got := sent(); got != "Bearer third" {
		t.Fatalf("after a 401: sent %q, want the token read again", got)
	}

	// Gone or empty: the last good token stays.
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	now = now.Add(tokenRecheck)
	if got := sent(); got != "Bearer third" {
		t.Fatalf("file gone: sent %q", got)
	}
	write("", base.Add(3*time.Minute))
	now = now.Add(tokenRecheck)
	if got := sent(); got != "Bearer third" {
		t.Fatalf("file empty: sent %q", got)
	}
}

// TestHTTPSingleFlight: concurrent identical lookups make one call to the
// register; each caller gets its own copy; a caller that gives up does not
// fail the others.
func TestHTTPSingleFlight(t *testing.T) {
	up := newUpstream(t, Default())
	release := make(chan struct{})
	arrived := make(chan struct{}, 16)
	up.answer(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
		serveFile(w, r, Default())
	})
	h := up.client(t, HTTPConfig{CacheTTL: -1})
	const n = 8
	results := make(chan Person, n)
	errs := make(chan error, n+1)
	ctx := context.Background()
	for range n {
		go func() {
			p, err := h.Person(ctx, tian)
			errs <- err
			results <- p
		}()
	}
	// One that gives up early.
	short, cancel := context.WithCancel(ctx)
	go func() {
		_, err := h.Person(short, tian)
		errs <- err
	}()
	<-arrived
	time.Sleep(50 * time.Millisecond) // let every caller join the flight
	cancel()
	if err := <-errs; !errors.Is(err, context.Canceled) {
		t.Fatalf("the caller that gave up: %v", err)
	}
	close(release)
	var got []Person
	for range n {
		if err := <-errs; err != nil {
			t.Fatalf("a waiting caller failed: %v", err)
		}
		got = append(got, <-results)
	}
	if hits := up.hits.Load(); hits != 1 {
		t.Fatalf("%d register calls for %d identical concurrent lookups, want 1", hits, n+1)
	}
	got[0].Address.City = "changed"
	if got[1].Address.City == "changed" {
		t.Fatal("callers share one answer")
	}
}
