package population

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/civicgate/civicgate/auth"
)

// HTTPConfig configures the client of the municipality's population register
// service ([HTTP]).
type HTTPConfig struct {
	// URL is the base URL of the register service, e.g.
	// "https://folkbokforing.kommun.example/api/v1". Required. It must use
	// https; plain http is accepted only for a loopback host (tests, a local
	// sidecar).
	URL string `yaml:"url"`
	// Timeout bounds one request to the register, connection included.
	// Default 5s.
	Timeout time.Duration `yaml:"timeout"`
	// CAFile is a PEM file of the certificate authorities trusted for the
	// register's server certificate. Default: the system's roots.
	CAFile string `yaml:"ca_file"`
	// ClientCertFile and ClientKeyFile are PEM files of the client
	// certificate and its private key, for registers that require mutual
	// TLS. Optional; give both or neither.
	ClientCertFile string `yaml:"client_cert_file"`
	ClientKeyFile  string `yaml:"client_key_file"`
	// TokenFile is a file holding a bearer token sent in the Authorization
	// header of every request. Optional. It must be readable at start-up;
	// afterwards a changed file is picked up within 30 seconds, and at once
	// after the register answers 401, so the token can be rotated without a
	// restart.
	TokenFile string `yaml:"token_file"`
	// CacheTTL is how long an answer without protected persons is reused.
	// It also bounds how long a person who has just become protected may
	// still be shown with address and school, so keep it short. Default 1m;
	// a negative value turns the cache off.
	CacheTTL time.Duration `yaml:"cache_ttl"`
}

// Defaults of HTTPConfig.
const (
	DefaultHTTPTimeout = 5 * time.Second
	DefaultCacheTTL    = time.Minute
)

// Validate reports every problem of c at once, each starting with its key.
func (c HTTPConfig) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.URL == "" {
		bad("url: required")
	} else if u, err := url.Parse(c.URL); err != nil || u.Host == "" {
		bad("url: must be an absolute URL such as https://register.example/api")
	} else {
		switch {
		case u.Scheme == "https":
		case u.Scheme == "http" && isLoopback(u.Hostname()):
		default:
			bad("url: must use https (http only for a loopback host)")
		}
		if u.User != nil {
			bad("url: must not hold credentials; use token_file or a client certificate")
		}
		if u.RawQuery != "" || u.Fragment != "" {
			bad("url: must not have a query or fragment")
		}
	}
	if c.Timeout < 0 {
		bad("timeout: must not be negative")
	}
	if (c.ClientCertFile == "") != (c.ClientKeyFile == "") {
		if c.ClientCertFile == "" {
			bad("client_cert_file: required with client_key_file")
		} else {
			bad("client_key_file: required with client_cert_file")
		}
	}
	return errors.Join(errs...)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// HTTPOptions are the dependencies of [NewHTTP]; the zero value is fit for
// production.
type HTTPOptions struct {
	// Client replaces the HTTP client built from the configuration (its
	// timeout and TLS settings are then the caller's).
	Client *http.Client
	// Now is the cache's clock; default time.Now.
	Now func() time.Time
}

// HTTP is a Register backed by the municipality's population register
// service over HTTPS. It is safe for concurrent use.
//
// # The register API
//
// This is the adapter contract for a municipal integration. Every call is a
// POST with a JSON body, so personal identity numbers never appear in URLs
// (and so not in access logs of proxies and servers):
//
//	POST {url}/lookup     {"pnr": "YYYYMMDDNNNC"}  → 200 {"person": Person}
//	POST {url}/children   {"pnr": "<guardian>"}    → 200 {"persons": [Person, ...]}
//	POST {url}/guardians  {"pnr": "<child>"}       → 200 {"persons": [Person, ...]}
//
// with Content-Type and Accept application/json, "Authorization: Bearer
// <token>" when a token file is configured, and a client certificate when
// mutual TLS is configured. A Person is
//
//	{"personal_number": "201701102384", "given_name": "Tian",
//	 "family_name": "Tolvansson", "protected": false, "deceased": false,
//	 "address": {"street": "Storgatan 12", "postal_code": "123 45", "city": "Exempelby"},
//	 "school": {"id": "skola-1", "name": "Exempelskolan"}}
//
// where address and school may be null or absent and unknown fields are
// ignored. children lists the children in the guardian's custody (vårdnad),
// guardians the custody holders of the child; both may be empty.
//
// Status 404 means the person asked about is unknown ([ErrNotFound]); 5xx,
// any other status, a timeout, a body over 1 MiB, malformed JSON or an
// invalid personal number in the answer are [ErrUnavailable]. The service
// should minimise protected persons itself, but the client does not rely on
// it: it applies the package's protection rule to every answer, and never
// caches an answer that holds a protected person.
type HTTP struct {
	base    string
	client  *http.Client
	ttl     time.Duration
	timeout time.Duration
	now     func() time.Time
	token   *tokenFile // nil: no bearer token
	// flight makes concurrent identical lookups (a class list opened by
	// several teachers, a page with several requests) share one call.
	flight singleflight.Group

	mu    sync.Mutex
	cache map[string]cacheEntry
}

// tokenFile is the bearer token, re-read when its file changes (a rotated
// Kubernetes secret or projected token): at most every tokenRecheck, and
// on the next request after the service answered 401. A file that has
// gone or is empty keeps the last good token; the service's 401 says when
// that is no longer good enough.
type tokenFile struct {
	path string

	mu      sync.Mutex
	token   string
	modTime time.Time
	size    int64
	checked time.Time
}

// tokenRecheck is how often the token file's modification time is looked at.
const tokenRecheck = 30 * time.Second

func readTokenFile(path string) (*tokenFile, error) {
	t := &tokenFile{path: path}
	if err := t.reload(time.Now()); err != nil {
		return nil, err
	}
	if t.token == "" {
		return nil, errors.New("the file is empty")
	}
	return t, nil
}

// reload reads the file if it changed since the last read.
func (t *tokenFile) reload(now time.Time) error {
	t.checked = now
	fi, err := os.Stat(t.path)
	if err != nil {
		return err
	}
	if t.token != "" && fi.ModTime().Equal(t.modTime) && fi.Size() == t.size {
		return nil
	}
	b, err := os.ReadFile(t.path)
	if err != nil {
		return err
	}
	if tok := string(bytes.TrimSpace(b)); tok != "" {
		t.token, t.modTime, t.size = tok, fi.ModTime(), fi.Size()
	}
	return nil
}

// get returns the current token, re-reading the file when it is due.
func (t *tokenFile) get(now time.Time) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if now.Sub(t.checked) >= tokenRecheck || now.Before(t.checked) {
		_ = t.reload(now) // on failure the last good token stays
	}
	return t.token
}

// refused makes the next get look at the file again.
func (t *tokenFile) refused() {
	t.mu.Lock()
	// Forget what was read too: a rotated file may have the same size and,
	// on a coarse file system, the same modification time.
	t.checked, t.modTime, t.size = time.Time{}, time.Time{}, -1
	t.mu.Unlock()
}

var _ Register = (*HTTP)(nil)

type cacheEntry struct {
	persons []Person
	expires time.Time
}

// maxCacheEntries bounds the cache's memory; when it is full, expired
// entries go first and then everything.
const maxCacheEntries = 10000

// maxBody bounds what the client reads from one answer.
const maxBody = 1 << 20

// NewHTTP validates cfg, reads its certificate, key and token files, and
// returns a client of the register service.
func NewHTTP(cfg HTTPConfig, opts HTTPOptions) (*HTTP, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("population: %w", err)
	}
	h := &HTTP{
		base:   strings.TrimRight(cfg.URL, "/"),
		client: opts.Client,
		ttl:    cfg.CacheTTL,
		now:    opts.Now,
		cache:  map[string]cacheEntry{},
	}
	if h.ttl == 0 {
		h.ttl = DefaultCacheTTL
	}
	h.timeout = cfg.Timeout
	if h.timeout == 0 {
		h.timeout = DefaultHTTPTimeout
	}
	if h.now == nil {
		h.now = time.Now
	}
	var errs []error
	if cfg.TokenFile != "" {
		t, err := readTokenFile(cfg.TokenFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("token_file: %w", err))
		}
		h.token = t
	}
	if h.client == nil {
		tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
		if cfg.CAFile != "" {
			pem, err := os.ReadFile(cfg.CAFile)
			if err != nil {
				errs = append(errs, fmt.Errorf("ca_file: %w", err))
			} else {
				pool := x509.NewCertPool()
				if !pool.AppendCertsFromPEM(pem) {
					errs = append(errs, errors.New("ca_file: no PEM certificate in the file"))
				}
				tlsConf.RootCAs = pool
			}
		}
		if cfg.ClientCertFile != "" {
			cert, err := tls.LoadX509KeyPair(cfg.ClientCertFile, cfg.ClientKeyFile)
			if err != nil {
				errs = append(errs, fmt.Errorf("client_cert_file: %w", err))
			} else {
				tlsConf.Certificates = []tls.Certificate{cert}
			}
		}
		timeout := cfg.Timeout
		if timeout == 0 {
			timeout = DefaultHTTPTimeout
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = tlsConf
		// The register is inside the municipality's network; a proxy
		// from the environment would see personal data.
		tr.Proxy = nil
		h.client = &http.Client{
			Timeout:   timeout,
			Transport: tr,
			// A redirect would re-send nothing (POST) or go elsewhere:
			// either way it is a misconfiguration to surface.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("population: %w", errors.Join(errs...))
	}
	return h, nil
}

// Person implements Register.
func (h *HTTP) Person(ctx context.Context, pnr string) (Person, error) {
	ps, err := h.lookup(ctx, "lookup", pnr)
	if err != nil {
		return Person{}, err
	}
	return ps[0], nil
}

// Children implements Register.
func (h *HTTP) Children(ctx context.Context, guardianPNR string) ([]Person, error) {
	return h.lookup(ctx, "children", guardianPNR)
}

// Guardians implements Register.
func (h *HTTP) Guardians(ctx context.Context, childPNR string) ([]Person, error) {
	return h.lookup(ctx, "guardians", childPNR)
}

// lookup answers op for pnr from the cache or the service. For "lookup" the
// result has exactly one person.
func (h *HTTP) lookup(ctx context.Context, op, pnr string) ([]Person, error) {
	if !auth.ValidPersonalNumber(pnr) {
		// Never send garbage to the register; there is no such person.
		return nil, fmt.Errorf("population: %s: not a valid personal identity number: %w", op, ErrNotFound)
	}
	key := op + "\x00" + pnr
	if ps, ok := h.cached(key); ok {
		return ps, nil
	}
	// One call for everyone asking the same now. It runs without the first
	// caller's cancellation (a caller that gives up must not fail the
	// others), bounded by the configured timeout; each caller still stops
	// waiting at its own deadline.
	ch := h.flight.DoChan(key, func() (any, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.timeout)
		defer cancel()
		ps, err := h.fetch(fctx, op, pnr)
		if err != nil {
			return nil, err
		}
		ps = minimiseAll(ps)
		h.store(key, ps)
		return ps, nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		// Every caller gets a copy of its own.
		return cloneAll(r.Val.([]Person)), nil
	case <-ctx.Done():
		return nil, fmt.Errorf("population: %s: %w: %w", op, ErrUnavailable, ctx.Err())
	}
}

func (h *HTTP) fetch(ctx context.Context, op, pnr string) ([]Person, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("population: %s: %w: %s", op, ErrUnavailable, fmt.Sprintf(format, args...))
	}
	body, _ := json.Marshal(map[string]string{"pnr": pnr})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.base+"/"+op, bytes.NewReader(body))
	if err != nil {
		return nil, fail("building the request: %v", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if h.token != nil {
		req.Header.Set("Authorization", "Bearer "+h.token.get(h.now()))
	}
	resp, err := h.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("population: %s: %w: %w", op, ErrUnavailable, ctx.Err())
		}
		return nil, fail("%v", err)
	}
	defer func() {
		// Drain a little so the connection can be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
	}()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return nil, fmt.Errorf("population: %s: %w", op, ErrNotFound)
	case resp.StatusCode == http.StatusUnauthorized && h.token != nil:
		h.token.refused()
		return nil, fail("status 401: the token was refused (token_file is read again on the next request)")
	case resp.StatusCode != http.StatusOK:
		return nil, fail("status %d", resp.StatusCode)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, fail("reading the answer: %v", err)
	}
	if len(data) > maxBody {
		return nil, fail("the answer is larger than %d bytes", maxBody)
	}
	// Decoder messages name types and offsets, never the values, so they
	// are safe to return.
	var ps []Person
	if op == "lookup" {
		var answer struct {
			Person *Person `json:"person"`
		}
		if err := json.Unmarshal(data, &answer); err != nil {
			return nil, fail("malformed JSON: %v", err)
		}
		if answer.Person == nil {
			return nil, fail(`the answer has no "person"`)
		}
		if answer.Person.PersonalNumber != pnr {
			return nil, fail("the answer is about another person")
		}
		ps = []Person{*answer.Person}
	} else {
		var answer struct {
			Persons *[]Person `json:"persons"`
		}
		if err := json.Unmarshal(data, &answer); err != nil {
			return nil, fail("malformed JSON: %v", err)
		}
		if answer.Persons == nil {
			return nil, fail(`the answer has no "persons"`)
		}
		ps = *answer.Persons
	}
	seen := make([]string, 0, len(ps))
	for i, p := range ps {
		switch {
		case !auth.ValidPersonalNumber(p.PersonalNumber):
			return nil, fail("person %d has no valid personal_number", i)
		case op != "lookup" && p.PersonalNumber == pnr:
			return nil, fail("person %d is the person asked about", i)
		case slices.Contains(seen, p.PersonalNumber):
			return nil, fail("person %d is listed twice", i)
		}
		seen = append(seen, p.PersonalNumber)
	}
	return ps, nil
}

func (h *HTTP) cached(key string) ([]Person, bool) {
	if h.ttl < 0 {
		return nil, false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	e, ok := h.cache[key]
	if !ok {
		return nil, false
	}
	if !h.now().Before(e.expires) {
		delete(h.cache, key)
		return nil, false
	}
	return cloneAll(e.persons), true
}

// store caches ps unless the cache is off or ps holds a protected person:
// protected data is kept in memory no longer than the request needs it.
func (h *HTTP) store(key string, ps []Person) {
	if h.ttl < 0 || slices.ContainsFunc(ps, func(p Person) bool { return p.Protected }) {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.now()
	if len(h.cache) >= maxCacheEntries {
		for k, e := range h.cache {
			if !now.Before(e.expires) {
				delete(h.cache, k)
			}
		}
		if len(h.cache) >= maxCacheEntries {
			clear(h.cache)
		}
	}
	h.cache[key] = cacheEntry{persons: cloneAll(ps), expires: now.Add(h.ttl)}
}

func cloneAll(ps []Person) []Person {
	out := make([]Person, len(ps))
	for i, p := range ps {
		out[i] = clone(p)
	}
	return out
}
