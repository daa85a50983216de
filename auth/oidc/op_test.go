package oidc

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Test personnummer from Skatteverket's lists (see EID.md).
const (
	testPNR     = "198107249289"
	testPNR2    = "195006262546"
	testCoord   = "197010632391"
	testBadPNR  = "201701272394" // wrong check digit
	testSubject = "pairwise-sub-4711"
	testSID     = "op-session-42"
)

// fakeClock is a settable clock shared by the fake OP and the provider.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock {
	return &fakeClock{t: time.Now().Truncate(time.Second)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// authzRequest is what the fake OP remembers between authorize and token.
type authzRequest struct {
	query url.Values
}

// fakeOP is an OpenID Provider the tests fully control: discovery, JWKS,
// authorize, token, userinfo and end_session.
type fakeOP struct {
	t     *testing.T
	srv   *httptest.Server
	clock *fakeClock

	clientID, clientSecret string
	clientAuth             string
	clientPub              crypto.PublicKey // private_key_jwt verification key

	mu        sync.Mutex
	key       *rsa.PrivateKey
	kid       string
	published []jose.JSONWebKey
	codes     map[string]authzRequest
	lastAuthz url.Values
	down      bool

	// mutate edits the ID token claims before signing.
	mutate func(c map[string]any)
	// sign replaces the normal RS256 signing of the ID token.
	sign func(c map[string]any) string
	// userinfo returns the userinfo claims for an access token's subject.
	userinfo func() map[string]any
	// userinfoJWT makes userinfo answer with a signed JWT, signed by
	// signUserinfo when set.
	userinfoJWT  bool
	signUserinfo func(c map[string]any) string
	// issParam, when set, is sent as the RFC 9207 iss parameter instead of
	// the issuer.
	issParam string
	// noEndSession leaves end_session_endpoint out of discovery.
	noEndSession bool

	jwksFetches      atomic.Int32
	assertionChecked atomic.Bool
}

func newFakeOP(t *testing.T, clock *fakeClock) *fakeOP {
	t.Helper()
	op := &fakeOP{
		t:            t,
		clock:        clock,
		clientID:     "civicgate-test",
		clientSecret: "s3cret-for-tests",
		clientAuth:   ClientSecretBasic,
		codes:        map[string]authzRequest{},
	}
	op.rotate("k1")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", op.discovery)
	mux.HandleFunc("GET /jwks", op.jwks)
	mux.HandleFunc("GET /authorize", op.authorize)
	mux.HandleFunc("POST /token", op.token)
	mux.HandleFunc("GET /userinfo", op.userinfoHandler)
	op.srv = httptest.NewServer(mux)
	t.Cleanup(op.srv.Close)
	return op
}

func (op *fakeOP) issuer() string { return op.srv.URL }

// rotate replaces the signing key and publishes only the new one.
func (op *fakeOP) rotate(kid string) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		op.t.Fatal(err)
	}
	op.mu.Lock()
	defer op.mu.Unlock()
	op.key, op.kid = key, kid
	op.published = []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: kid, Algorithm: "RS256", Use: "sig"}}
}

func (op *fakeOP) discovery(w http.ResponseWriter, r *http.Request) {
	op.mu.Lock()
	down := op.down
	op.mu.Unlock()
	if down {
		http.Error(w, "maintenance", http.StatusServiceUnavailable)
		return
	}
	doc := map[string]any{
		"issuer":                                op.issuer(),
		"authorization_endpoint":                op.issuer() + "/authorize",
		"token_endpoint":                        op.issuer() + "/token",
		"userinfo_endpoint":                     op.issuer() + "/userinfo",
		"jwks_uri":                              op.issuer() + "/jwks",
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256", "ES256"},
		"code_challenge_methods_supported":      []string{"S256"},
		"token_endpoint_auth_methods_supported": []string{ClientSecretBasic, ClientSecretPost, PrivateKeyJWT},
	}
	if !op.noEndSession {
		doc["end_session_endpoint"] = op.issuer() + "/logout?tenant=kommun"
	}
	writeJSON(w, doc)
}

func (op *fakeOP) jwks(w http.ResponseWriter, r *http.Request) {
	op.jwksFetches.Add(1)
	op.mu.Lock()
	set := jose.JSONWebKeySet{Keys: op.published}
	op.mu.Unlock()
	writeJSON(w, set)
}

// authorize plays the OP's login page: it checks the request like a strict
// OP would and redirects back with a code.
func (op *fakeOP) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	op.mu.Lock()
	op.lastAuthz = q
	op.mu.Unlock()
	switch {
	case q.Get("response_type") != "code",
		q.Get("client_id") != op.clientID,
		q.Get("code_challenge_method") != "S256",
		q.Get("code_challenge") == "",
		q.Get("redirect_uri") == "":
		http.Error(w, "bad authorization request", http.StatusBadRequest)
		return
	}
	code := randomString()
	op.mu.Lock()
	op.codes[code] = authzRequest{query: q}
	op.mu.Unlock()
	back, _ := url.Parse(q.Get("redirect_uri"))
	v := back.Query()
	v.Set("code", code)
	v.Set("state", q.Get("state"))
	iss := op.issuer()
	if op.issParam != "" {
		iss = op.issParam
	}
	v.Set("iss", iss)
	back.RawQuery = v.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

func (op *fakeOP) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		tokenError(w, "invalid_request")
		return
	}
	if !op.clientAuthenticated(r) {
		tokenError(w, "invalid_client")
		return
	}
	op.mu.Lock()
	req, ok := op.codes[r.PostForm.Get("code")]
	delete(op.codes, r.PostForm.Get("code"))
	op.mu.Unlock()
	if !ok || r.PostForm.Get("grant_type") != "authorization_code" ||
		r.PostForm.Get("redirect_uri") != req.query.Get("redirect_uri") {
		tokenError(w, "invalid_grant")
		return
	}
	sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
	if base64.RawURLEncoding.EncodeToString(sum[:]) != req.query.Get("code_challenge") {
		tokenError(w, "invalid_grant")
		return
	}
	access := randomString()
	claims := op.defaultClaims(req.query.Get("nonce"), access)
	if op.mutate != nil {
		op.mutate(claims)
	}
	var idToken string
	if op.sign != nil {
		idToken = op.sign(claims)
	} else {
		idToken = op.signRS256(claims)
	}
	writeJSON(w, map[string]any{
		"access_token": access,
		"token_type":   "Bearer",
		"expires_in":   300,
		"id_token":     idToken,
	})
}

func (op *fakeOP) clientAuthenticated(r *http.Request) bool {
	switch op.clientAuth {
	case ClientSecretBasic:
		id, secret, ok := r.BasicAuth()
		return ok && id == op.clientID && secret == op.clientSecret
	case ClientSecretPost:
		return r.PostForm.Get("client_id") == op.clientID && r.PostForm.Get("client_secret") == op.clientSecret
	case PrivateKeyJWT:
		if r.PostForm.Get("client_secret") != "" || r.Header.Get("Authorization") != "" {
			return false
		}
		if r.PostForm.Get("client_assertion_type") != ClientAssertionType {
			return false
		}
		tok, err := jwt.ParseSigned(r.PostForm.Get("client_assertion"), []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
		if err != nil {
			return false
		}
		var c jwt.Claims
		if err := tok.Claims(op.clientPub, &c); err != nil {
			return false // bad signature
		}
		now := op.clock.Now()
		err = c.ValidateWithLeeway(jwt.Expected{
			Issuer:      op.clientID,
			Subject:     op.clientID,
			AnyAudience: jwt.Audience{op.issuer() + "/token"},
			Time:        now,
		}, 0)
		if err != nil || c.ID == "" || c.Expiry == nil || c.Expiry.Time().Sub(now) > 60*time.Second {
			return false
		}
		op.assertionChecked.Store(true)
		return true
	}
	return false
}

func (op *fakeOP) userinfoHandler(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
		http.Error(w, "no token", http.StatusUnauthorized)
		return
	}
	claims := map[string]any{"sub": testSubject, "email": "anna@example.se"}
	if op.userinfo != nil {
		claims = op.userinfo()
	}
	if op.userinfoJWT {
		w.Header().Set("Content-Type", "application/jwt")
		sign := op.signRS256
		if op.signUserinfo != nil {
			sign = op.signUserinfo
		}
		_, _ = w.Write([]byte(sign(claims)))
		return
	}
	writeJSON(w, claims)
}

func (op *fakeOP) defaultClaims(nonce, accessToken string) map[string]any {
	now := op.clock.Now()
	sum := sha256.Sum256([]byte(accessToken))
	return map[string]any{
		"iss":                    op.issuer(),
		"aud":                    op.clientID,
		"sub":                    testSubject,
		"iat":                    now.Unix(),
		"exp":                    now.Add(5 * time.Minute).Unix(),
		"auth_time":              now.Unix(),
		"nonce":                  nonce,
		"acr":                    "http://id.elegnamnden.se/loa/1.0/loa3",
		"sid":                    testSID,
		"at_hash":                base64.RawURLEncoding.EncodeToString(sum[:16]),
		ClaimPersonalIdentityNum: testPNR,
		"given_name":             "Anna",
		"family_name":            "Testsson",
		"name":                   "Anna Testsson",
		"birthdate":              "1981-07-24",
		"txn":                    "txn-0001",
	}
}

func (op *fakeOP) signRS256(claims map[string]any) string {
	op.mu.Lock()
	key, kid := op.key, op.kid
	op.mu.Unlock()
	return signJWT(op.t, jose.RS256, key, kid, claims)
}

func signJWT(t *testing.T, alg jose.SignatureAlgorithm, key any, kid string, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader(jose.HeaderKey("kid"), kid)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// unsignedJWT builds an alg=none token by hand: go-jose refuses to make one.
func unsignedJWT(claims map[string]any) string {
	h, _ := json.Marshal(map[string]string{"alg": "none", "typ": "JWT"})
	b, _ := json.Marshal(claims)
	return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(b) + "."
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(v); err != nil {
		panic(fmt.Sprint("encoding test response: ", err))
	}
}

func tokenError(w http.ResponseWriter, code string) {
	w.Header().Set("Content-Type", "application/json")
	status := http.StatusBadRequest
	if code == "invalid_client" {
		status = http.StatusUnauthorized
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code})
}
