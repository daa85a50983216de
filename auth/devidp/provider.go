package devidp

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/crewjam/saml"
	"github.com/go-jose/go-jose/v4"

	"github.com/civicgate/civicgate/auth"
)

// Client is an OIDC client (relying party) the provider accepts.
type Client struct {
	// ID is the client_id.
	ID string
	// Secret enables client_secret_basic and client_secret_post; empty means
	// the client must use private_key_jwt.
	Secret string
	// RedirectURIs are compared exactly, character for character.
	RedirectURIs []string
	// PostLogoutRedirectURIs are where end_session may send the browser back
	// to (exact match).
	PostLogoutRedirectURIs []string
	// BackchannelLogoutURI, when set, receives a signed logout token when
	// the provider session of a person who logged in to this client ends.
	BackchannelLogoutURI string
	// PublicKeys is a JWKS (JSON) with the keys that verify the client's
	// private_key_jwt assertions; empty disables private_key_jwt.
	PublicKeys []byte
}

// Options configure a Provider.
type Options struct {
	// BaseURL is the absolute URL where the provider is mounted, e.g.
	// "http://localhost:8080/devidp". It is the OIDC issuer.
	BaseURL string
	// Clients are the OIDC clients allowed.
	Clients []Client
	// SAMLServiceProviders are the metadata documents (XML) of the SAML
	// service providers the IdP trusts. More can be added with
	// AddServiceProvider.
	SAMLServiceProviders [][]byte
	// People are the identities on the picker page; nil means DefaultPeople.
	People []Person
	// PairwiseSecret keys the pairwise pseudonyms (OIDC sub, SAML NameID).
	// nil means a random secret, so pseudonyms change when the process
	// restarts; `civicgate dev` may pass a fixed one to keep staff subjects
	// stable across restarts.
	PairwiseSecret []byte
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// HTTPClient sends back-channel logout tokens; nil means a client with a
	// five-second timeout.
	HTTPClient *http.Client
	// Logger receives operational messages (never personal data or
	// tokens); nil means slog.Default().
	Logger *slog.Logger
}

// Lifetimes.
const (
	codeLifetime        = 60 * time.Second
	idTokenLifetime     = 5 * time.Minute
	accessTokenLifetime = 10 * time.Minute
	flowLifetime        = 10 * time.Minute
	sessionLifetime     = 8 * time.Hour
)

// Cookie names. They carry random identifiers only.
const (
	cookieBrowser = "devidp_browser"
	cookieSession = "devidp_session"
)

// Provider is the test e-ID provider: an OpenID Provider and a SAML IdP that
// share one picker page and one provider session per browser. It is safe for
// concurrent use.
type Provider struct {
	base     *url.URL
	issuer   string
	basePath string
	now      func() time.Time
	log      *slog.Logger
	http     *http.Client

	people []Person
	byKey  map[string]*Person

	clients map[string]*client

	oidcKey    *ecdsa.PrivateKey
	oidcKeyID  string
	oidcSigner jose.Signer
	pairwise   []byte // key of the pairwise pseudonyms

	samlIdP *saml.IdentityProvider

	tmpl *template.Template

	mu       sync.Mutex
	sps      map[string]*serviceProvider
	flows    map[string]*flow
	sessions map[string]*idpSession
	codes    map[string]*authCode
	tokens   map[string]*accessGrant
	jtis     map[string]time.Time // client assertion IDs seen, until they expire
}

// flow is a login waiting on the picker page.
type flow struct {
	id      string
	csrf    string
	browser string
	expires time.Time
	// offered are the authentication context URIs the person may choose
	// from, the default first.
	offered []string
	oidc    *oidcRequest
	saml    *samlRequest
}

// idpSession is the provider's own login session (one per browser).
type idpSession struct {
	// id is the cookie's value; sid is what relying parties see (OIDC sid,
	// SAML SessionIndex), so that they never learn the cookie.
	id       string
	sid      string
	person   *Person
	acr      string
	authTime time.Time
	expires  time.Time
	txn      string
	// clients are the OIDC clients that received tokens in this session;
	// they get a back-channel logout when it ends.
	clients map[string]bool
}

// New creates a provider with fresh keys held only in memory: an ES256 key
// for OIDC and an RSA 3072 key with a self-signed certificate for SAML
// signing and encryption.
func New(o Options) (*Provider, error) {
	base, err := url.Parse(strings.TrimSuffix(o.BaseURL, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" || base.RawQuery != "" || base.Fragment != "" {
		return nil, errors.New("devidp: BaseURL must be an absolute http(s) URL without query or fragment")
	}
	p := &Provider{
		base:     base,
		issuer:   base.String(),
		basePath: base.Path,
		now:      o.Now,
		log:      o.Logger,
		http:     o.HTTPClient,
		byKey:    map[string]*Person{},
		clients:  map[string]*client{},
		sps:      map[string]*serviceProvider{},
		flows:    map[string]*flow{},
		sessions: map[string]*idpSession{},
		codes:    map[string]*authCode{},
		tokens:   map[string]*accessGrant{},
		jtis:     map[string]time.Time{},
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.log == nil {
		p.log = slog.Default()
	}
	if p.http == nil {
		p.http = &http.Client{Timeout: 5 * time.Second}
	}
	p.people = o.People
	if p.people == nil {
		p.people = DefaultPeople()
	}
	p.people = append([]Person(nil), p.people...)
	if err := validatePeople(p.people, "people"); err != nil {
		return nil, fmt.Errorf("devidp: %w", err)
	}
	for i := range p.people {
		p.people[i].Kind = p.people[i].kind()
		p.byKey[p.people[i].Key()] = &p.people[i]
	}
	for _, c := range o.Clients {
		cl, err := newClient(c)
		if err != nil {
			return nil, err
		}
		if p.clients[c.ID] != nil {
			return nil, fmt.Errorf("devidp: duplicate client %q", c.ID)
		}
		p.clients[c.ID] = cl
	}

	p.pairwise = append([]byte(nil), o.PairwiseSecret...)
	if len(p.pairwise) == 0 {
		p.pairwise = make([]byte, 32)
		rand.Read(p.pairwise)
	}
	if p.oidcKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		return nil, fmt.Errorf("devidp: generate OIDC key: %w", err)
	}
	p.oidcKeyID = randomID(12)
	p.oidcSigner, err = jose.NewSigner(jose.SigningKey{
		Algorithm: jose.ES256,
		Key:       jose.JSONWebKey{Key: p.oidcKey, KeyID: p.oidcKeyID, Algorithm: string(jose.ES256), Use: "sig"},
	}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, fmt.Errorf("devidp: OIDC signer: %w", err)
	}
	if err := p.initSAML(); err != nil {
		return nil, err
	}
	for i, md := range o.SAMLServiceProviders {
		if err := p.AddServiceProvider(md); err != nil {
			return nil, fmt.Errorf("devidp: SAMLServiceProviders[%d]: %w", i, err)
		}
	}
	if p.tmpl, err = parseTemplates(); err != nil {
		return nil, err
	}
	return p, nil
}

// Issuer returns the OIDC issuer: BaseURL without a trailing slash.
func (p *Provider) Issuer() string { return p.issuer }

// People returns the identities offered on the picker page.
func (p *Provider) People() []Person { return append([]Person(nil), p.people...) }

// url returns the absolute URL of a path below BaseURL.
func (p *Provider) url(rel string) string { return p.issuer + rel }

// Handler serves the whole provider. It works both when mounted with
// http.StripPrefix(basePath, …) and when given the full path: a request path
// that starts with BaseURL's path has that prefix removed first.
//
// Endpoints below BaseURL: /.well-known/openid-configuration, /jwks,
// /authorize, /token, /userinfo, /logout (end_session), /saml/metadata,
// /saml/sso, /login (the picker's form) and /static/.
func (p *Provider) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", p.serveDiscovery)
	mux.HandleFunc("GET /jwks", p.serveJWKS)
	mux.HandleFunc("/authorize", p.serveAuthorize)
	mux.HandleFunc("POST /token", p.serveToken)
	mux.HandleFunc("/userinfo", p.serveUserinfo)
	mux.HandleFunc("/logout", p.serveEndSession)
	mux.HandleFunc("GET /saml/metadata", p.serveSAMLMetadata)
	mux.HandleFunc("/saml/sso", p.serveSSO)
	mux.HandleFunc("POST /login", p.servePicked)
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(staticFS())))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		p.renderMessage(w, http.StatusNotFound, "Sidan finns inte.", "The page does not exist.")
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rel := r.URL.Path
		if p.basePath != "" && (rel == p.basePath || strings.HasPrefix(rel, p.basePath+"/")) {
			rel = strings.TrimPrefix(rel, p.basePath)
		}
		if rel == "" {
			rel = "/"
		}
		r2 := new(http.Request)
		*r2 = *r
		u := *r.URL
		u.Path, u.RawPath = rel, ""
		r2.URL = &u
		h := w.Header()
		// Codes and tokens appear in URLs and bodies: nothing may be cached
		// or leaked through the Referer header. Pages run no script; the
		// SAML response form loads one same-origin script to submit itself.
		h.Set("Cache-Control", "no-store")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'")
		mux.ServeHTTP(w, r2)
	})
}

func (p *Provider) cookiePath() string {
	if p.basePath == "" {
		return "/"
	}
	return p.basePath + "/"
}

func (p *Provider) setCookie(w http.ResponseWriter, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: p.cookiePath(), MaxAge: maxAge,
		HttpOnly: true, Secure: p.base.Scheme == "https", SameSite: http.SameSiteLaxMode,
	})
}

// browserID returns the browser's random binding cookie, setting one if the
// browser has none. Picker forms are bound to it so a form cannot be
// submitted from another browser.
func (p *Provider) browserID(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(cookieBrowser); err == nil && len(c.Value) >= 20 {
		return c.Value
	}
	id := randomID(24)
	p.setCookie(w, cookieBrowser, id, 0)
	return id
}

// currentSession returns the browser's live provider session, or nil.
func (p *Provider) currentSession(r *http.Request) *idpSession {
	c, err := r.Cookie(cookieSession)
	if err != nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.sessions[c.Value]
	if s == nil || !p.now().Before(s.expires) {
		return nil
	}
	return s
}

// startSession records a fresh login and sets the session cookie.
func (p *Provider) startSession(w http.ResponseWriter, r *http.Request, person *Person, acr string) *idpSession {
	now := p.now()
	s := &idpSession{
		id: randomID(24), sid: randomID(16), person: person, acr: acr, authTime: now.Truncate(time.Second),
		expires: now.Add(sessionLifetime), txn: randomID(16), clients: map[string]bool{},
	}
	var old *idpSession
	if c, err := r.Cookie(cookieSession); err == nil {
		p.mu.Lock()
		old = p.sessions[c.Value]
		delete(p.sessions, c.Value)
		p.mu.Unlock()
	}
	if old != nil {
		// A new login replaces the old session: its clients are told so.
		go p.backchannelLogout(old)
	}
	p.mu.Lock()
	p.sweep()
	p.sessions[s.id] = s
	p.mu.Unlock()
	p.setCookie(w, cookieSession, s.id, int(sessionLifetime/time.Second))
	return s
}

// sweep drops expired state. The caller holds p.mu.
func (p *Provider) sweep() {
	now := p.now()
	for k, f := range p.flows {
		if !now.Before(f.expires) {
			delete(p.flows, k)
		}
	}
	for k, s := range p.sessions {
		if !now.Before(s.expires) {
			delete(p.sessions, k)
		}
	}
	for k, c := range p.codes {
		// Used codes are kept a while longer so that a replay can still
		// revoke the tokens issued for them.
		if now.After(c.expires.Add(accessTokenLifetime)) {
			delete(p.codes, k)
		}
	}
	for k, t := range p.tokens {
		if !now.Before(t.expires) {
			delete(p.tokens, k)
		}
	}
	for k, exp := range p.jtis {
		if now.After(exp) {
			delete(p.jtis, k)
		}
	}
}

// newFlow stores a login that waits on the picker.
func (p *Provider) newFlow(browser string, offered []string) *flow {
	f := &flow{
		id: randomID(24), csrf: randomID(24), browser: browser,
		expires: p.now().Add(flowLifetime), offered: offered,
	}
	p.mu.Lock()
	p.sweep()
	p.flows[f.id] = f
	p.mu.Unlock()
	return f
}

// pseudonym returns the pairwise pseudonym of a person at a relying party:
// stable per (person, relying party), unlinkable across relying parties and
// never revealing the personnummer.
func (p *Provider) pseudonym(person *Person, audience string) string {
	m := hmac.New(sha256.New, p.pairwise)
	m.Write([]byte(person.Key()))
	m.Write([]byte{0})
	m.Write([]byte(audience))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func randomID(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// acrOption is an authentication context the picker can assert.
type acrOption struct {
	URI, Short string
}

// acrCatalogue lists the contexts offered when the relying party asks for
// none, the default first.
var acrCatalogue = []acrOption{
	{auth.URILoA3, "loa3"},
	{auth.URILoA4, "loa4"},
	{auth.URILoA2, "loa2"},
	{auth.URIUncertifiedLoA3, "uncertified-loa3"},
	{auth.URIEidasSubstantial, "eidas-sub"},
	{auth.URIEidasNfSubstantial, "eidas-nf-sub"},
	{auth.URIEidasHigh, "eidas-high"},
	{auth.URIEidasNfHigh, "eidas-nf-high"},
	{auth.URIEidasLow, "eidas-low"},
	{auth.URILoA3NonResident, "loa3-nonresident"},
}

func acrShort(uri string) string {
	for _, o := range acrCatalogue {
		if o.URI == uri {
			return o.Short
		}
	}
	return uri
}

// offeredACRs returns the contexts to offer for a request naming requested
// (in its order, unknown ones dropped). With nothing requested every known
// context is offered. ok is false when something was requested but none of
// it is known.
func offeredACRs(requested []string) (offered []string, ok bool) {
	if len(requested) == 0 {
		for _, o := range acrCatalogue {
			offered = append(offered, o.URI)
		}
		return offered, true
	}
	for _, r := range requested {
		if _, known := auth.LoAFromURI(r); known && !contains(offered, r) {
			offered = append(offered, r)
		}
	}
	return offered, len(offered) > 0
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// AddClient registers (or replaces) an OIDC client. Call it before the
// handler serves requests: the client table is not guarded for changes
// while serving.
func (p *Provider) AddClient(c Client) error {
	cl, err := newClient(c)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clients[c.ID] = cl
	return nil
}
