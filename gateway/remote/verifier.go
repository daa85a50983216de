package remote

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
)

// Errors of Verifier.Verify; every refusal wraps ErrInvalid or
// ErrKeysUnavailable, and the message never contains the token.
var (
	// ErrMissing means the request carries no assertion.
	ErrMissing = errors.New("remote: no identity assertion")
	// ErrInvalid means the assertion was refused: bad signature, wrong
	// algorithm, type, issuer or audience, expired, not yet valid, or not
	// for this request.
	ErrInvalid = errors.New("remote: invalid identity assertion")
	// ErrKeysUnavailable means the gateway's JWKS could not be fetched and
	// no cached key matched.
	ErrKeysUnavailable = errors.New("remote: gateway keys unavailable")
)

// VerifierOptions tune a Verifier.
type VerifierOptions struct {
	// Issuer is the expected iss, the gateway's public URL. Default: the
	// JWKS URL without JWKSPath, which is right when the module fetches the
	// keys from the gateway's public address; set it when it fetches them
	// from an internal one.
	Issuer string
	// HTTPClient fetches the JWKS. Default: a client with a 10 s timeout.
	HTTPClient *http.Client
	// Leeway is the clock skew allowed on exp, nbf and iat. Default 30 s.
	Leeway time.Duration
	// RefreshInterval is how long fetched keys are used before the JWKS is
	// fetched again (the old keys stay in use if that fails). Default 5 min.
	RefreshInterval time.Duration
	// MinRefetchInterval limits refetches caused by an unknown kid, so
	// forged tokens cannot make the module hammer the gateway. Default 10 s.
	MinRefetchInterval time.Duration
	// SkipRequestBinding disables the check that htm and htu, when the
	// assertion has them, match the request, for a module behind its own
	// proxy that rewrites paths. Default false.
	SkipRequestBinding bool
	// RequireRequestBinding refuses assertions without htm and htu: set it
	// in a module the gateway is configured to bind_request for, so that
	// the module notices when that setting is lost. Default false.
	RequireRequestBinding bool
	// CacheSize is how many verified assertions are remembered, so that
	// the same assertion arriving again (the gateway reuses one for up to
	// 30 seconds unless bind_request is set) skips the signature check;
	// exp and nbf are still checked on every request. Default 10000; a
	// negative value turns the cache off.
	CacheSize int
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Verifier checks identity assertions for one module. It remembers the
// assertions it has verified (VerifierOptions.CacheSize), so one the
// gateway sends again costs a map lookup and a clock check, not a
// signature check. It is safe for concurrent use.
type Verifier struct {
	jwksURL  string
	moduleID string
	opts     VerifierOptions
	parser   *jwt.Parser

	keys      atomic.Pointer[keySet]
	fetchMu   sync.Mutex
	lastFetch time.Time // guarded by fetchMu

	// verified maps the SHA-256 of a token whose signature and claims
	// passed to its claims, until its exp (plus the leeway); nil when off.
	verified *ttlCache[*Assertion]
	// fullChecks counts full verifications (parse calls), for tests.
	fullChecks atomic.Int64
}

// DefaultVerifierCacheSize is VerifierOptions.CacheSize's default.
const DefaultVerifierCacheSize = 10_000

type keySet struct {
	keys    map[string]*ecdsa.PublicKey
	fetched time.Time
}

// NewVerifier returns a verifier of assertions for moduleID, with keys from
// jwksURL (<gateway public URL>/.well-known/civicgate-jwks.json). It does
// not fetch the keys until the first Verify.
func NewVerifier(jwksURL, moduleID string, opts VerifierOptions) (*Verifier, error) {
	u, err := url.Parse(jwksURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("remote: JWKS URL %q is not an http(s) URL", jwksURL)
	}
	if !moduleIDPattern.MatchString(moduleID) {
		return nil, fmt.Errorf("remote: module ID %q is not valid", moduleID)
	}
	if opts.Issuer == "" {
		opts.Issuer = strings.TrimSuffix(strings.TrimSuffix(jwksURL, JWKSPath), "/")
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if opts.Leeway == 0 {
		opts.Leeway = 30 * time.Second
	}
	if opts.RefreshInterval == 0 {
		opts.RefreshInterval = 5 * time.Minute
	}
	if opts.MinRefetchInterval == 0 {
		opts.MinRefetchInterval = 10 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.CacheSize == 0 {
		opts.CacheSize = DefaultVerifierCacheSize
	}
	v := &Verifier{jwksURL: jwksURL, moduleID: moduleID, opts: opts}
	if opts.CacheSize > 0 {
		v.verified = newTTLCache[*Assertion](opts.CacheSize)
	}
	v.parser = jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodES256.Alg()}),
		jwt.WithAudience(moduleID),
		jwt.WithIssuer(opts.Issuer),
		jwt.WithLeeway(opts.Leeway),
		jwt.WithIssuedAt(),
		jwt.WithExpirationRequired(),
		jwt.WithNotBeforeRequired(),
		jwt.WithTimeFunc(opts.Now),
		jwt.WithStrictDecoding(),
	)
	return v, nil
}

// Verify checks the request's Civicgate-Assertion and returns its claims.
// An assertion with htm and htu (bind_request) must have been issued for
// this request's method and target, unless SkipRequestBinding is set; one
// without them is refused when RequireRequestBinding is set.
func (v *Verifier) Verify(r *http.Request) (*Assertion, error) {
	tok := r.Header.Get(HeaderAssertion)
	if tok == "" {
		return nil, ErrMissing
	}
	a, err := v.VerifyToken(r.Context(), tok)
	if err != nil {
		return nil, err
	}
	bound := a.Method != "" || a.Target != ""
	if !bound && v.opts.RequireRequestBinding {
		return nil, fmt.Errorf("%w: not bound to a request", ErrInvalid)
	}
	if bound && !v.opts.SkipRequestBinding {
		target := r.RequestURI
		if target == "" {
			target = r.URL.RequestURI()
		}
		if a.Method != r.Method || a.Target != target {
			return nil, fmt.Errorf("%w: issued for another request", ErrInvalid)
		}
	}
	return a, nil
}

// VerifyToken checks one assertion, without binding it to a request. A
// token verified before is not checked for its signature again, but its
// exp and nbf are, against the clock, every time.
func (v *Verifier) VerifyToken(ctx context.Context, tok string) (*Assertion, error) {
	var k digest
	if v.verified != nil {
		k = tokenDigest(tok)
		if a, ok := v.verified.get(k); ok {
			if err := v.checkTime(a); err != nil {
				v.verified.remove(k)
				return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
			}
			return a.clone(), nil
		}
	}
	a, err := v.parse(ctx, tok)
	if err != nil {
		return nil, err
	}
	// Bound assertions are issued for one request each: remembering them
	// would only push out the ones that come again.
	if v.verified != nil && a.Method == "" && a.Target == "" {
		v.verified.put(k, a.clone(), time.Unix(a.Expiry, 0).Add(v.opts.Leeway), v.opts.Now())
	}
	return a, nil
}

// checkTime repeats the parser's time checks for a remembered assertion,
// with the same leeway and bounds.
func (v *Verifier) checkTime(a *Assertion) error {
	now := v.opts.Now()
	switch {
	case !now.Before(time.Unix(a.Expiry, 0).Add(v.opts.Leeway)):
		return jwt.ErrTokenExpired
	case now.Before(time.Unix(a.NotBefore, 0).Add(-v.opts.Leeway)):
		return jwt.ErrTokenNotValidYet
	case now.Before(time.Unix(a.IssuedAt, 0).Add(-v.opts.Leeway)):
		return jwt.ErrTokenUsedBeforeIssued
	}
	return nil
}

// clone returns a copy the caller may change without touching the cache.
func (a *Assertion) clone() *Assertion {
	c := *a
	c.Actor.Roles = slices.Clone(a.Actor.Roles)
	return &c
}

// parse verifies tok in full: signature, header and claims.
func (v *Verifier) parse(ctx context.Context, tok string) (*Assertion, error) {
	v.fullChecks.Add(1)
	var a Assertion
	var keyErr error
	_, err := v.parser.ParseWithClaims(tok, &a, func(t *jwt.Token) (any, error) {
		if typ, _ := t.Header["typ"].(string); typ != TokenType {
			return nil, fmt.Errorf("typ %q is not %s", typ, TokenType)
		}
		kid, _ := t.Header["kid"].(string)
		if kid == "" {
			return nil, errors.New("no kid")
		}
		k, err := v.key(ctx, kid)
		keyErr = err
		return k, err
	})
	if err != nil {
		if errors.Is(keyErr, ErrKeysUnavailable) {
			return nil, keyErr
		}
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return &a, nil
}

// key returns the public key kid, fetching the JWKS when the cache is stale
// or the kid unknown (at most once per MinRefetchInterval).
func (v *Verifier) key(ctx context.Context, kid string) (*ecdsa.PublicKey, error) {
	now := v.opts.Now()
	ks := v.keys.Load()
	if ks != nil && now.Sub(ks.fetched) < v.opts.RefreshInterval {
		if k, ok := ks.keys[kid]; ok {
			return k, nil
		}
	}
	ks, err := v.refresh(ctx, kid)
	if ks == nil {
		return nil, fmt.Errorf("%w: %v", ErrKeysUnavailable, err)
	}
	if k, ok := ks.keys[kid]; ok {
		return k, nil
	}
	return nil, fmt.Errorf("unknown kid %q", kid)
}

// refresh fetches the JWKS unless another caller just did. It returns the
// current key set (possibly the old one when fetching failed).
func (v *Verifier) refresh(ctx context.Context, kid string) (*keySet, error) {
	v.fetchMu.Lock()
	defer v.fetchMu.Unlock()
	now := v.opts.Now()
	cur := v.keys.Load()
	if cur != nil && now.Sub(cur.fetched) < v.opts.RefreshInterval {
		if _, ok := cur.keys[kid]; ok {
			return cur, nil // another caller fetched it while we waited
		}
	}
	if !v.lastFetch.IsZero() && now.Sub(v.lastFetch) < v.opts.MinRefetchInterval {
		return cur, errors.New("refetch rate-limited")
	}
	v.lastFetch = now
	ks, err := v.fetch(ctx)
	if err != nil {
		return cur, err
	}
	ks.fetched = now
	v.keys.Store(ks)
	return ks, nil
}

func (v *Verifier) fetch(ctx context.Context) (*keySet, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.jwksURL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	res, err := v.opts.HTTPClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching JWKS: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetching JWKS: status %d", res.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("fetching JWKS: %w", err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("decoding JWKS: %w", err)
	}
	ks := &keySet{keys: map[string]*ecdsa.PublicKey{}}
	for _, k := range set.Keys {
		pub, ok := k.Key.(*ecdsa.PublicKey)
		// Keys for other uses or algorithms are skipped, not trusted.
		if !ok || pub.Curve != elliptic.P256() || k.KeyID == "" ||
			(k.Use != "" && k.Use != "sig") || (k.Algorithm != "" && k.Algorithm != "ES256") {
			continue
		}
		ks.keys[k.KeyID] = pub
	}
	if len(ks.keys) == 0 {
		return nil, errors.New("JWKS has no ES256 keys")
	}
	return ks, nil
}

// Middleware verifies every request and puts the assertion in its context
// (FromContext). A request without a valid assertion gets 401, or 503 when
// the gateway's keys cannot be fetched; next never sees it.
func (v *Verifier) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, err := v.Verify(r)
		switch {
		case errors.Is(err, ErrKeysUnavailable):
			http.Error(w, "Tjänsten kan inte kontrollera din inloggning just nu. / The service cannot check your login right now.", http.StatusServiceUnavailable)
			return
		case err != nil:
			http.Error(w, "Du behöver logga in via kommunens e-tjänster. / Please log in through the municipality's e-services.", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r.WithContext(WithAssertion(r.Context(), a)))
	})
}

// tokenDigest is sha256.Sum256 of tok without copying it to the heap on
// every request (a token is larger than the compiler's stack buffer).
func tokenDigest(tok string) digest {
	h := digestPool.Get().(hash.Hash)
	h.Reset()
	_, _ = io.WriteString(h, tok)
	var k digest
	h.Sum(k[:0])
	digestPool.Put(h)
	return k
}

var digestPool = sync.Pool{New: func() any { return sha256.New() }}
