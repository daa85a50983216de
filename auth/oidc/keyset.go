package oidc

import (
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
)

// allowedAlgs are the only signature algorithms accepted on ID tokens, logout
// tokens and signed userinfo. Listing them here (and not trusting the token
// header) is what stops "none" and the RS256→HS256 key-confusion attack.
var allowedAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.PS256}

func allowedAlgNames() []string {
	out := make([]string, len(allowedAlgs))
	for i, a := range allowedAlgs {
		out[i] = string(a)
	}
	return out
}

// DefaultJWKSRefreshInterval is the least time between two fetches of a
// provider's JWKS when Options.JWKSRefreshInterval is zero.
const DefaultJWKSRefreshInterval = 30 * time.Second

// maxJWKSSize bounds the key set document read from a provider.
const maxJWKSSize = 1 << 20

var errKeyNotFound = errors.New("oidc: no key in the provider's key set verifies the token")

// keySet is a gooidc.KeySet over a cached JWKS. go-oidc's own RemoteKeySet
// refetches on every unknown kid, so anyone able to reach the callback could
// make the gateway hammer the provider; here a refetch happens at most once
// per interval (failed fetches count too) and concurrent misses share one
// fetch. Rotation still works: a new kid is found once the interval has
// passed since the previous fetch.
type keySet struct {
	url      string
	client   *http.Client
	now      func() time.Time
	interval time.Duration
	timeout  time.Duration

	mu       sync.Mutex
	keys     []jose.JSONWebKey
	fetched  time.Time // last fetch attempt; zero before the first
	inflight *fetchCall
	fetches  int // number of fetches started, for tests
}

type fetchCall struct {
	done chan struct{}
	err  error
}

var _ gooidc.KeySet = (*keySet)(nil)

func newKeySet(url string, client *http.Client, now func() time.Time, interval, timeout time.Duration) *keySet {
	if interval <= 0 {
		interval = DefaultJWKSRefreshInterval
	}
	if timeout <= 0 {
		timeout = DefaultHTTPTimeout
	}
	return &keySet{url: url, client: client, now: now, interval: interval, timeout: timeout}
}

// VerifySignature implements gooidc.KeySet: it returns the payload of a
// compact JWS signed by one of the provider's keys with an allowed algorithm.
func (k *keySet) VerifySignature(ctx context.Context, raw string) ([]byte, error) {
	jws, err := jose.ParseSignedCompact(raw, allowedAlgs)
	if err != nil {
		return nil, fmt.Errorf("oidc: malformed or disallowed jws: %w", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, errors.New("oidc: jws must carry exactly one signature")
	}
	k.mu.Lock()
	keys := k.keys
	k.mu.Unlock()
	payload, known, err := verifyWith(jws, keys)
	if known {
		// The kid is in the cached set: a failure is a bad signature, and
		// refetching would not change that.
		return payload, err
	}
	if err := k.refresh(ctx); err != nil {
		return nil, err
	}
	k.mu.Lock()
	keys = k.keys
	k.mu.Unlock()
	payload, _, err = verifyWith(jws, keys)
	return payload, err
}

// verifyWith tries the keys that match the token's kid (every key when the
// token names none). known reports whether some candidate key existed, which
// tells the caller whether refetching could help.
func verifyWith(jws *jose.JSONWebSignature, keys []jose.JSONWebKey) (payload []byte, known bool, err error) {
	hdr := jws.Signatures[0].Header
	for i := range keys {
		key := &keys[i]
		if hdr.KeyID != "" && key.KeyID != hdr.KeyID {
			continue
		}
		if key.Algorithm != "" && key.Algorithm != hdr.Algorithm {
			continue
		}
		if hdr.KeyID != "" {
			known = true
		}
		if p, err := jws.Verify(key); err == nil {
			return p, true, nil
		}
	}
	return nil, known, errKeyNotFound
}

// refresh fetches the key set unless one was fetched within the interval;
// concurrent callers wait for the same fetch.
func (k *keySet) refresh(ctx context.Context) error {
	k.mu.Lock()
	call := k.inflight
	if call == nil {
		if !k.fetched.IsZero() && k.now().Sub(k.fetched) < k.interval {
			k.mu.Unlock()
			return fmt.Errorf("%w (key set refreshed less than %s ago)", errKeyNotFound, k.interval)
		}
		call = &fetchCall{done: make(chan struct{})}
		k.inflight = call
		k.fetched = k.now()
		k.fetches++
		// The fetch outlives the caller that started it, because others may
		// be waiting for it; only the timeout bounds it.
		go k.fetch(context.WithoutCancel(ctx), call)
	}
	k.mu.Unlock()
	select {
	case <-call.done:
		return call.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (k *keySet) fetch(ctx context.Context, call *fetchCall) {
	ctx, cancel := context.WithTimeout(ctx, k.timeout)
	defer cancel()
	keys, err := k.download(ctx)
	k.mu.Lock()
	if err == nil {
		k.keys = keys
	}
	k.inflight = nil
	call.err = err
	k.mu.Unlock()
	close(call.done)
}

// download reads the JWKS and keeps only public signature keys it can use;
// unknown key types are skipped rather than failing the whole set (RFC 7517
// section 5).
func (k *keySet) download(ctx context.Context) ([]jose.JSONWebKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.url, nil)
	if err != nil {
		return nil, fmt.Errorf("oidc: jwks request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := k.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("oidc: fetching jwks: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSSize))
	if err != nil {
		return nil, fmt.Errorf("oidc: reading jwks: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("oidc: fetching jwks: status %d", resp.StatusCode)
	}
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("oidc: decoding jwks: %w", err)
	}
	var keys []jose.JSONWebKey
	for _, raw := range doc.Keys {
		var key jose.JSONWebKey
		if err := key.UnmarshalJSON(raw); err != nil {
			continue
		}
		if key.Use != "" && key.Use != "sig" {
			continue
		}
		switch pub := key.Key.(type) {
		case *rsa.PublicKey, *ecdsa.PublicKey:
		case *rsa.PrivateKey:
			key.Key = &pub.PublicKey
		case *ecdsa.PrivateKey:
			key.Key = &pub.PublicKey
		default:
			// Symmetric and exotic keys are never used: an "oct" key in a
			// JWKS would otherwise be an HMAC secret published to everyone.
			continue
		}
		keys = append(keys, key)
	}
	return keys, nil
}

// fetchCount reports how many JWKS fetches have been started.
func (k *keySet) fetchCount() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.fetches
}
