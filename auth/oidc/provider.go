package oidc

import (
	"context"
	"crypto"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/civicgate/civicgate/auth"
)

// DefaultDiscoveryRetry is the least time between two discovery attempts
// while the provider is unreachable, when Options.DiscoveryRetry is zero.
const DefaultDiscoveryRetry = 10 * time.Second

// Options are the run-time dependencies of a Provider; the zero value is
// ready for production.
type Options struct {
	// HTTPClient makes every request to the provider. Default: a client
	// with Config.HTTPTimeout.
	HTTPClient *http.Client
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// JWKSRefreshInterval is the least time between two JWKS fetches.
	// Default 30s.
	JWKSRefreshInterval time.Duration
	// DiscoveryRetry is the least time between two discovery attempts while
	// the provider is down. Default 10s.
	DiscoveryRetry time.Duration
	// Logger receives operational messages (never personal data or
	// tokens). Default slog.Default().
	Logger *slog.Logger
}

// Provider is one configured OpenID Provider. It implements
// auth.Authenticator and auth.Logouter and is safe for concurrent use.
//
// Discovery is lazy: New tries it once, and if the provider is unreachable
// New still succeeds so the gateway can start; every later Begin, Finish,
// LogoutURL, VerifyLogoutToken or Ready retries it (at most once per
// Options.DiscoveryRetry) and fails with auth.ErrUnavailable meanwhile.
type Provider struct {
	name   string
	cfg    Config
	maxLoA auth.LoA
	client *http.Client
	now    func() time.Time
	log    *slog.Logger

	jwksInterval   time.Duration
	discoveryRetry time.Duration

	clientSecret string
	assertionKey crypto.Signer
	assertionAlg jose.SignatureAlgorithm

	mu        sync.Mutex // serialises discovery
	meta      *metadata
	lastTry   time.Time
	lastError error
}

var (
	_ auth.Authenticator = (*Provider)(nil)
	_ auth.Logouter      = (*Provider)(nil)
)

// metadata is what discovery yields.
type metadata struct {
	provider *gooidc.Provider
	oauth    oauth2.Config
	keys     *keySet
	verifier *gooidc.IDTokenVerifier
	// endSession is the RP-initiated logout endpoint, empty when none.
	endSession string
	// userinfo is the userinfo endpoint, empty when none.
	userinfo string
	// issParam says the provider always sends RFC 9207's iss parameter, so
	// a response without one must be refused.
	issParam bool
}

type discoveryDoc struct {
	EndSessionEndpoint string   `json:"end_session_endpoint"`
	UserinfoEndpoint   string   `json:"userinfo_endpoint"`
	IssParameter       bool     `json:"authorization_response_iss_parameter_supported"`
	TokenAuthMethods   []string `json:"token_endpoint_auth_methods_supported"`
	CodeChallenge      []string `json:"code_challenge_methods_supported"`
}

// New returns the provider called name (the key used in /login/<name>).
// It validates cfg, reads the secret files and tries discovery once; an
// unreachable provider is logged and retried later, not an error.
func New(ctx context.Context, name string, cfg Config, opts Options) (*Provider, error) {
	if name == "" {
		return nil, errors.New("oidc: provider name required")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("oidc: provider %s: %w", name, err)
	}
	cfg = cfg.withDefaults(name)
	maxLoA, _ := auth.ParseLoA(cfg.MaxLoA)
	p := &Provider{
		name:           name,
		cfg:            cfg,
		maxLoA:         maxLoA,
		client:         opts.HTTPClient,
		now:            opts.Now,
		log:            opts.Logger,
		jwksInterval:   opts.JWKSRefreshInterval,
		discoveryRetry: opts.DiscoveryRetry,
	}
	if p.client == nil {
		p.client = &http.Client{Timeout: cfg.HTTPTimeout}
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.log == nil {
		p.log = slog.Default()
	}
	if p.discoveryRetry <= 0 {
		p.discoveryRetry = DefaultDiscoveryRetry
	}
	switch cfg.ClientAuth {
	case PrivateKeyJWT:
		data, err := os.ReadFile(cfg.PrivateKeyFile)
		if err != nil {
			return nil, fmt.Errorf("oidc: provider %s: private_key_file: %w", name, err)
		}
		p.assertionKey, p.assertionAlg, err = parsePrivateKey(data)
		if err != nil {
			return nil, fmt.Errorf("oidc: provider %s: private_key_file: %w", name, err)
		}
	default:
		data, err := os.ReadFile(cfg.ClientSecretFile)
		if err != nil {
			return nil, fmt.Errorf("oidc: provider %s: client_secret_file: %w", name, err)
		}
		p.clientSecret = trimSecret(data)
		if p.clientSecret == "" {
			return nil, fmt.Errorf("oidc: provider %s: client_secret_file: empty", name)
		}
	}
	if _, err := p.discover(ctx); err != nil {
		p.log.Warn("oidc: provider unreachable at start-up; will retry", "idp", name, "err", err)
	}
	return p, nil
}

// Name returns the configured provider name.
func (p *Provider) Name() string { return p.name }

// Info implements auth.Authenticator.
func (p *Provider) Info() auth.ProviderInfo {
	return auth.ProviderInfo{
		Name:      p.name,
		Protocol:  "oidc",
		DisplaySv: p.cfg.DisplaySv,
		DisplayEn: p.cfg.DisplayEn,
		Logo:      p.cfg.Logo,
		MaxLoA:    p.maxLoA,
		Kind:      auth.Kind(p.cfg.Kind),
	}
}

// Ready reports whether the provider's discovery document has been loaded,
// retrying discovery when it has not (subject to Options.DiscoveryRetry).
// It is meant for the readiness probe.
func (p *Provider) Ready(ctx context.Context) error {
	_, err := p.discover(ctx)
	return err
}

// discover returns the provider metadata, loading it when not yet loaded and
// the last failed attempt is older than the retry interval. Failures are
// *auth.LoginError with auth.ErrUnavailable. Callers wait while another
// goroutine discovers (at most Config.HTTPTimeout).
func (p *Provider) discover(ctx context.Context) (*metadata, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.meta != nil {
		return p.meta, nil
	}
	if !p.lastTry.IsZero() && p.now().Sub(p.lastTry) < p.discoveryRetry {
		return nil, auth.Fail(auth.ErrUnavailable, "oidc: %s: discovery failed recently: %v", p.name, p.lastError)
	}
	m, err := p.load(ctx)
	if err != nil {
		// A request that gave up is no verdict on the provider.
		if ctx.Err() == nil {
			p.lastTry = p.now()
		}
		p.lastError = err
		return nil, auth.Fail(auth.ErrUnavailable, "oidc: %s: discovery: %w", p.name, err)
	}
	p.meta = m
	p.lastError = nil
	return m, nil
}

func (p *Provider) load(ctx context.Context) (*metadata, error) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.HTTPTimeout)
	defer cancel()
	gp, err := gooidc.NewProvider(gooidc.ClientContext(ctx, p.client), p.cfg.Issuer)
	if err != nil {
		return nil, err
	}
	var doc discoveryDoc
	if err := gp.Claims(&doc); err != nil {
		return nil, fmt.Errorf("decoding discovery document: %w", err)
	}
	var jwks struct {
		URI string `json:"jwks_uri"`
	}
	if err := gp.Claims(&jwks); err != nil || jwks.URI == "" {
		return nil, errors.New("discovery document has no jwks_uri")
	}
	ep := gp.Endpoint()
	if ep.AuthURL == "" || ep.TokenURL == "" {
		return nil, errors.New("discovery document lacks authorization or token endpoint")
	}
	if len(doc.CodeChallenge) > 0 && !slices.Contains(doc.CodeChallenge, "S256") {
		return nil, errors.New("provider does not support PKCE S256")
	}
	if len(doc.TokenAuthMethods) > 0 && !slices.Contains(doc.TokenAuthMethods, p.cfg.ClientAuth) {
		p.log.Warn("oidc: provider does not advertise the configured client_auth", "idp", p.name, "client_auth", p.cfg.ClientAuth)
	}
	switch p.cfg.ClientAuth {
	case ClientSecretBasic:
		ep.AuthStyle = oauth2.AuthStyleInHeader
	default:
		ep.AuthStyle = oauth2.AuthStyleInParams
	}
	ks := newKeySet(jwks.URI, p.client, p.now, p.jwksInterval, p.cfg.HTTPTimeout)
	skew := p.cfg.ClockSkew
	verifier := gooidc.NewVerifier(p.cfg.Issuer, ks, &gooidc.Config{
		ClientID:             p.cfg.ClientID,
		SupportedSigningAlgs: allowedAlgNames(),
		// go-oidc compares exp with Now exactly; shifting its clock back
		// grants the configured skew.
		Now: func() time.Time { return p.now().Add(-skew) },
	})
	return &metadata{
		provider: gp,
		oauth: oauth2.Config{
			ClientID:     p.cfg.ClientID,
			ClientSecret: p.clientSecret,
			Endpoint:     ep,
			RedirectURL:  p.cfg.RedirectURL,
			Scopes:       p.cfg.Scopes,
		},
		keys:       ks,
		verifier:   verifier,
		endSession: doc.EndSessionEndpoint,
		userinfo:   doc.UserinfoEndpoint,
		issParam:   doc.IssParameter,
	}, nil
}

// Begin implements auth.Authenticator. It returns the authorization URL
// (code flow, PKCE S256, nonce, prompt=login, the acr request) and the
// pending login to keep for Finish. It does no I/O except lazy discovery.
func (p *Provider) Begin(ctx context.Context, want auth.LoA, returnTo string, force bool) (auth.Challenge, error) {
	if want > p.maxLoA {
		return auth.Challenge{}, auth.Fail(auth.ErrLoATooLow, "oidc: %s gives at most %s, %s asked", p.name, p.maxLoA, want)
	}
	m, err := p.discover(ctx)
	if err != nil {
		return auth.Challenge{}, err
	}
	accepted := auth.URIsAtLeast(want, auth.URIOptions{AcceptUncertified: p.cfg.AcceptUncertified, NonResident: p.cfg.NonResident})
	acrs := p.requestACRs(accepted)
	if len(acrs) == 0 && p.cfg.LoARequest != LoARequestNone {
		return auth.Challenge{}, auth.Fail(auth.ErrLoATooLow, "oidc: %s: acr_map has no value for level %s", p.name, want)
	}
	pending := auth.Pending{
		ID:           randomString(),
		IdP:          p.name,
		RequestID:    randomString(),
		Nonce:        randomString(),
		CodeVerifier: oauth2.GenerateVerifier(),
		WantLoA:      want,
		AcceptedURIs: accepted,
		ForceAuthn:   force,
		ReturnTo:     returnTo,
		Created:      p.now(),
	}
	opts := []oauth2.AuthCodeOption{
		oauth2.S256ChallengeOption(pending.CodeVerifier),
		gooidc.Nonce(pending.Nonce),
		oauth2.SetAuthURLParam("prompt", "login"),
	}
	if force {
		opts = append(opts, oauth2.SetAuthURLParam("max_age", "0"))
	}
	switch p.cfg.LoARequest {
	case LoARequestClaims:
		req := map[string]any{"id_token": map[string]any{"acr": map[string]any{"essential": true, "values": acrs}}}
		b, err := json.Marshal(req)
		if err != nil {
			return auth.Challenge{}, fmt.Errorf("oidc: encoding claims request: %w", err)
		}
		opts = append(opts, oauth2.SetAuthURLParam("claims", string(b)))
	case LoARequestAcrValues:
		opts = append(opts, oauth2.SetAuthURLParam("acr_values", strings.Join(acrs, " ")))
	}
	return auth.Challenge{
		RedirectURL: m.oauth.AuthCodeURL(pending.RequestID, opts...),
		Pending:     pending,
	}, nil
}

// requestACRs turns accepted Swedish URIs into the acr values to ask the
// provider for: the URIs themselves, or the acr_map keys that map to them.
func (p *Provider) requestACRs(accepted []string) []string {
	if len(p.cfg.AcrMap) == 0 {
		return accepted
	}
	var out []string
	for _, uri := range accepted {
		for _, k := range sortedKeys(p.cfg.AcrMap) {
			if p.cfg.AcrMap[k] == uri {
				out = append(out, k)
			}
		}
	}
	return out
}

// mapACR turns the provider's acr into a Swedish LoA URI; "" when unknown.
func (p *Provider) mapACR(acr string) string {
	if len(p.cfg.AcrMap) > 0 {
		return p.cfg.AcrMap[acr]
	}
	if _, ok := auth.LoAFromURI(acr); ok {
		return acr
	}
	return ""
}

// randomString returns 256 random bits, base64url without padding.
func randomString() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		// crypto/rand does not fail on supported platforms; continuing
		// without randomness would be worse than stopping.
		panic("oidc: crypto/rand: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// numericDate reads a JSON number of seconds since the epoch.
func numericDate(v any) (time.Time, bool) {
	switch n := v.(type) {
	case json.Number:
		if i, err := n.Int64(); err == nil {
			return time.Unix(i, 0), true
		}
		if f, err := strconv.ParseFloat(string(n), 64); err == nil {
			return time.Unix(int64(f), 0), true
		}
	case float64:
		return time.Unix(int64(n), 0), true
	}
	return time.Time{}, false
}
