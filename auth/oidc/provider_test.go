package oidc

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/civicgate/civicgate/auth"
)

const testRedirect = "https://gw.example.se/login/freja/callback"

// testConfig returns a citizen config for op with the client secret in a
// temporary file.
func testConfig(t *testing.T, op *fakeOP) Config {
	t.Helper()
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte(op.clientSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return Config{
		Issuer:           op.issuer(),
		ClientID:         op.clientID,
		ClientSecretFile: secret,
		RedirectURL:      testRedirect,
		MaxLoA:           "high",
		DisplaySv:        "Freja eID",
		DisplayEn:        "Freja eID",
	}
}

func newProvider(t *testing.T, op *fakeOP, cfg Config) *Provider {
	t.Helper()
	p, err := New(context.Background(), "freja", cfg, Options{
		HTTPClient:          op.srv.Client(),
		Now:                 op.clock.Now,
		JWKSRefreshInterval: 30 * time.Second,
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

// noRedirect is a browser that stops at each redirect so the test can look
// at it.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// authorize sends the browser to the fake OP and returns the callback URL
// it is redirected to.
func authorize(t *testing.T, ch auth.Challenge) *url.URL {
	t.Helper()
	resp, err := noRedirect.Get(ch.RedirectURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize: status %d", resp.StatusCode)
	}
	u, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// finish delivers cb to p.Finish as the gateway's callback handler would.
func finish(p *Provider, cb *url.URL, pending auth.Pending) (auth.Identity, error) {
	r := httptest.NewRequest(http.MethodGet, cb.String(), nil)
	return p.Finish(context.Background(), r, pending)
}

// login runs Begin → authorize → Finish.
func login(t *testing.T, p *Provider, want auth.LoA, force bool) (auth.Identity, error) {
	t.Helper()
	ch, err := p.Begin(context.Background(), want, "/mina-sidor", force)
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	return finish(p, authorize(t, ch), ch.Pending)
}

func wantCode(t *testing.T, err error, code auth.ErrorCode) {
	t.Helper()
	if err == nil {
		t.Fatalf("login succeeded, want %s", code)
	}
	var le *auth.LoginError
	if !errors.As(err, &le) {
		t.Fatalf("error %v (%T) is not a *auth.LoginError", err, err)
	}
	if le.Code != code {
		t.Fatalf("code %s, want %s (%v)", le.Code, code, err)
	}
	for _, secret := range []string{testPNR, testPNR2, testCoord} {
		if strings.Contains(err.Error(), secret) {
			t.Fatalf("error leaks a personal number: %v", err)
		}
	}
}

// TestLoginOverHTTP drives a whole login through real HTTP: a gateway-like
// callback server, the fake OP and a browser with a cookie jar.
func TestLoginOverHTTP(t *testing.T) {
	clock := newClock()
	op := newFakeOP(t, clock)

	var (
		p       *Provider
		mu      sync.Mutex
		flows   = map[string]auth.Pending{}
		gotID   auth.Identity
		gotErr  error
		started time.Time
	)
	gw := http.NewServeMux()
	gw.HandleFunc("GET /login/freja", func(w http.ResponseWriter, r *http.Request) {
		ch, err := p.Begin(r.Context(), auth.LoASubstantial, "/mina-sidor", true)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		mu.Lock()
		flows[ch.Pending.ID] = ch.Pending
		started = ch.Pending.Created
		mu.Unlock()
		http.SetCookie(w, &http.Cookie{Name: "flow", Value: ch.Pending.ID, Path: "/", HttpOnly: true})
		http.Redirect(w, r, ch.RedirectURL, http.StatusFound)
	})
	gw.HandleFunc("GET /login/freja/callback", func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie("flow")
		if err != nil {
			http.Error(w, "no flow", http.StatusBadRequest)
			return
		}
		mu.Lock()
		pending, ok := flows[c.Value]
		delete(flows, c.Value)
		mu.Unlock()
		if !ok {
			http.Error(w, "unknown flow", http.StatusBadRequest)
			return
		}
		id, err := p.Finish(r.Context(), r, pending)
		mu.Lock()
		gotID, gotErr = id, err
		mu.Unlock()
		if err != nil {
			http.Error(w, "login failed", http.StatusForbidden)
			return
		}
		http.Redirect(w, r, pending.ReturnTo, http.StatusFound)
	})
	gw.HandleFunc("GET /mina-sidor", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("välkommen")) })
	gwSrv := httptest.NewServer(gw)
	defer gwSrv.Close()

	cfg := testConfig(t, op)
	cfg.RedirectURL = gwSrv.URL + "/login/freja/callback"
	cfg.UseUserinfo = true
	p = newProvider(t, op, cfg)

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	resp, err := browser.Get(gwSrv.URL + "/login/freja")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/mina-sidor" {
		t.Fatalf("browser ended at %s with status %d (login error: %v)", resp.Request.URL, resp.StatusCode, gotErr)
	}
	mu.Lock()
	defer mu.Unlock()
	if gotErr != nil {
		t.Fatal(gotErr)
	}
	want := auth.Identity{
		Kind:           auth.Citizen,
		PersonalNumber: testPNR,
		Subject:        testSubject,
		GivenName:      "Anna",
		FamilyName:     "Testsson",
		DisplayName:    "Anna Testsson",
		DateOfBirth:    "1981-07-24",
		Email:          "anna@example.se", // from userinfo only
		LoA:            auth.LoASubstantial,
		LoAURI:         auth.URILoA3,
		IdP:            "freja",
		Method:         "oidc",
		AuthTime:       started.UTC(),
		SessionIndex:   testSID,
		TransactionID:  "txn-0001",
	}
	if !reflect.DeepEqual(gotID, want) {
		t.Fatalf("identity\n got %+v\nwant %+v", gotID, want)
	}
	if gotID.Key() != testPNR {
		t.Fatalf("key %q", gotID.Key())
	}
	// What the OP was asked.
	q := op.lastAuthz
	if q.Get("redirect_uri") != cfg.RedirectURL || q.Get("prompt") != "login" || q.Get("max_age") != "0" {
		t.Fatalf("authorization request %v", q)
	}
	if got := strings.Fields(q.Get("scope")); !slices.Equal(got, DefaultScopes) {
		t.Fatalf("scope %v", got)
	}
}

func TestBeginRequest(t *testing.T) {
	op := newFakeOP(t, newClock())
	p := newProvider(t, op, testConfig(t, op))
	ch, err := p.Begin(context.Background(), auth.LoASubstantial, "/e/bygglov/", false)
	if err != nil {
		t.Fatal(err)
	}
	pd := ch.Pending
	u, err := url.Parse(ch.RedirectURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if u.Path != "/authorize" || q.Get("response_type") != "code" || q.Get("client_id") != op.clientID {
		t.Fatalf("authorization URL %s", ch.RedirectURL)
	}
	if q.Get("redirect_uri") != testRedirect || q.Get("prompt") != "login" || q.Has("max_age") {
		t.Fatalf("authorization URL %s", ch.RedirectURL)
	}
	if q.Get("state") != pd.RequestID || q.Get("nonce") != pd.Nonce {
		t.Fatalf("state/nonce not those of the pending login")
	}
	for name, v := range map[string]string{"state": pd.RequestID, "nonce": pd.Nonce, "flow id": pd.ID} {
		b, err := base64.RawURLEncoding.DecodeString(v)
		if err != nil || len(b) < 16 {
			t.Fatalf("%s %q is not ≥128 random bits in base64url", name, v)
		}
	}
	if pd.ID == pd.RequestID || pd.Nonce == pd.RequestID {
		t.Fatal("identifiers reused")
	}
	sum := sha256.Sum256([]byte(pd.CodeVerifier))
	if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") != base64.RawURLEncoding.EncodeToString(sum[:]) {
		t.Fatal("PKCE challenge is not S256 of the verifier")
	}
	var claims struct {
		IDToken struct {
			ACR struct {
				Essential bool     `json:"essential"`
				Values    []string `json:"values"`
			} `json:"acr"`
		} `json:"id_token"`
	}
	if err := json.Unmarshal([]byte(q.Get("claims")), &claims); err != nil {
		t.Fatalf("claims parameter: %v", err)
	}
	wantURIs := auth.URIsAtLeast(auth.LoASubstantial, auth.URIOptions{})
	if !claims.IDToken.ACR.Essential || !slices.Equal(claims.IDToken.ACR.Values, wantURIs) {
		t.Fatalf("acr request %+v", claims.IDToken.ACR)
	}
	if slices.Contains(wantURIs, auth.URILoA2) {
		t.Fatal("loa2 must not satisfy substantial")
	}
	if pd.IdP != "freja" || pd.WantLoA != auth.LoASubstantial || !slices.Equal(pd.AcceptedURIs, wantURIs) ||
		pd.ReturnTo != "/e/bygglov/" || pd.ForceAuthn || !pd.Created.Equal(op.clock.Now()) {
		t.Fatalf("pending %+v", pd)
	}

	// Two logins never share secrets.
	ch2, _ := p.Begin(context.Background(), auth.LoASubstantial, "/", true)
	if ch2.Pending.RequestID == pd.RequestID || ch2.Pending.Nonce == pd.Nonce || ch2.Pending.CodeVerifier == pd.CodeVerifier {
		t.Fatal("random values repeat")
	}
	if u2, _ := url.Parse(ch2.RedirectURL); u2.Query().Get("max_age") != "0" {
		t.Fatal("force must send max_age=0")
	}

	// Beyond the provider's level.
	cfg := testConfig(t, op)
	cfg.MaxLoA = "substantial"
	_, err = newProvider(t, op, cfg).Begin(context.Background(), auth.LoAHigh, "/", false)
	wantCode(t, err, auth.ErrLoATooLow)
}

func TestBeginAcrValuesWithAcrMap(t *testing.T) {
	op := newFakeOP(t, newClock())
	cfg := testConfig(t, op)
	cfg.LoARequest = LoARequestAcrValues
	cfg.AcrMap = map[string]string{"bankid": auth.URILoA3, "bankid-high": auth.URILoA4, "sms": auth.URILoA2}
	p := newProvider(t, op, cfg)
	ch, err := p.Begin(context.Background(), auth.LoASubstantial, "/", false)
	if err != nil {
		t.Fatal(err)
	}
	q, _ := url.ParseQuery(strings.SplitN(ch.RedirectURL, "?", 2)[1])
	if q.Has("claims") || q.Get("acr_values") != "bankid-high bankid" {
		t.Fatalf("acr_values %q claims %q", q.Get("acr_values"), q.Get("claims"))
	}
}

// TestFinishRejects checks that each broken response is refused with the
// right code.
func TestFinishRejects(t *testing.T) {
	otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tests := []struct {
		name string
		// setup changes the OP (and may return a config change).
		setup func(op *fakeOP, cfg *Config)
		// tamper changes the callback or pending before Finish.
		tamper func(cb *url.URL, pd *auth.Pending)
		want   auth.LoA
		force  bool
		code   auth.ErrorCode
	}{
		{name: "alg none", code: auth.ErrInvalid, setup: func(op *fakeOP, _ *Config) {
			op.sign = unsignedJWT
		}},
		{name: "HS256 with the RSA public key as secret", code: auth.ErrInvalid, setup: func(op *fakeOP, _ *Config) {
			op.sign = func(c map[string]any) string {
				der, _ := x509.MarshalPKIXPublicKey(&op.key.PublicKey)
				secret := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
				return signJWT(op.t, jose.HS256, secret, op.kid, c)
			}
		}},
		{name: "bad signature", code: auth.ErrInvalid, setup: func(op *fakeOP, _ *Config) {
			op.sign = func(c map[string]any) string {
				good := op.signRS256(c)
				parts := strings.Split(good, ".")
				c["sub"] = "someone-else"
				forged := op.signRS256(c)
				// The payload of one token with the signature of another.
				return strings.Split(forged, ".")[0] + "." + strings.Split(forged, ".")[1] + "." + parts[2]
			}
		}},
		{name: "signed by another key with the right kid", code: auth.ErrInvalid, setup: func(op *fakeOP, _ *Config) {
			op.sign = func(c map[string]any) string { return signJWT(op.t, jose.ES256, otherKey, op.kid, c) }
		}},
		{name: "wrong issuer", code: auth.ErrInvalid, setup: mutate(func(c map[string]any) { c["iss"] = "https://evil.example.com" })},
		{name: "wrong audience", code: auth.ErrInvalid, setup: mutate(func(c map[string]any) { c["aud"] = "another-client" })},
		{name: "missing iat", code: auth.ErrInvalid, setup: mutate(func(c map[string]any) { delete(c, "iat") })},
		{name: "iat in the future", code: auth.ErrInvalid, setup: func(op *fakeOP, _ *Config) {
			op.mutate = func(c map[string]any) {
				c["iat"] = op.clock.Now().Add(10 * time.Minute).Unix()
				c["exp"] = op.clock.Now().Add(15 * time.Minute).Unix()
			}
		}},
		{name: "missing exp", code: auth.ErrInvalid, setup: mutate(func(c map[string]any) { delete(c, "exp") })},
		{name: "expired", code: auth.ErrInvalid, setup: func(op *fakeOP, _ *Config) {
			op.mutate = func(c map[string]any) {
				c["iat"] = op.clock.Now().Add(-15 * time.Minute).Unix()
				c["exp"] = op.clock.Now().Add(-5 * time.Minute).Unix()
			}
		}},
		{name: "missing sub", code: auth.ErrInvalid, setup: mutate(func(c map[string]any) { delete(c, "sub") })},
		{name: "bad nonce", code: auth.ErrInvalid, setup: mutate(func(c map[string]any) { c["nonce"] = randomString() })},
		{name: "missing nonce", code: auth.ErrInvalid, setup: mutate(func(c map[string]any) { delete(c, "nonce") })},
		{name: "at_hash mismatch", code: auth.ErrInvalid, setup: mutate(func(c map[string]any) { c["at_hash"] = "AAAAAAAAAAAAAAAAAAAAAA" })},
		{name: "several audiences, wrong azp", code: auth.ErrInvalid, setup: func(op *fakeOP, _ *Config) {
			op.mutate = func(c map[string]any) { c["aud"] = []string{op.clientID, "other"}; c["azp"] = "other" }
		}},
		{name: "several audiences, no azp", code: auth.ErrInvalid, setup: func(op *fakeOP, _ *Config) {
			op.mutate = func(c map[string]any) { c["aud"] = []string{op.clientID, "other"} }
		}},
		{name: "single audience, wrong azp", code: auth.ErrInvalid, setup: mutate(func(c map[string]any) { c["azp"] = "other" })},
		{name: "acr lower than asked", code: auth.ErrLoATooLow, setup: mutate(func(c map[string]any) { c["acr"] = auth.URILoA2 })},
		{name: "acr missing", code: auth.ErrLoATooLow, setup: mutate(func(c map[string]any) { delete(c, "acr") })},
		{name: "acr unknown", code: auth.ErrLoATooLow, setup: mutate(func(c map[string]any) { c["acr"] = "urn:example:strong" })},
		{name: "uncertified loa3 not accepted", code: auth.ErrLoATooLow, setup: mutate(func(c map[string]any) { c["acr"] = auth.URIUncertifiedLoA3 })},
		{name: "acr loa3 when high asked", code: auth.ErrLoATooLow, want: auth.LoAHigh},
		{name: "auth_time before the request with force", code: auth.ErrInvalid, force: true, setup: func(op *fakeOP, _ *Config) {
			op.mutate = func(c map[string]any) { c["auth_time"] = op.clock.Now().Add(-10 * time.Minute).Unix() }
		}},
		{name: "no auth_time with force", code: auth.ErrInvalid, force: true, setup: mutate(func(c map[string]any) { delete(c, "auth_time") })},
		{name: "userinfo sub mismatch", code: auth.ErrInvalid, setup: func(op *fakeOP, cfg *Config) {
			cfg.UseUserinfo = true
			op.userinfo = func() map[string]any { return map[string]any{"sub": "someone-else", "email": "x@example.se"} }
		}},
		{name: "signed userinfo for another audience", code: auth.ErrInvalid, setup: func(op *fakeOP, cfg *Config) {
			cfg.UseUserinfo = true
			op.userinfoJWT = true
			op.userinfo = func() map[string]any {
				return map[string]any{"sub": testSubject, "iss": op.issuer(), "aud": "another-client"}
			}
		}},
		{name: "userinfo signed with alg none", code: auth.ErrInvalid, setup: func(op *fakeOP, cfg *Config) {
			cfg.UseUserinfo = true
			op.userinfoJWT = true
			op.signUserinfo = unsignedJWT
		}},
		{name: "invalid personnummer", code: auth.ErrNoIdentity, setup: mutate(func(c map[string]any) { c[ClaimPersonalIdentityNum] = testBadPNR })},
		{name: "short personnummer form", code: auth.ErrNoIdentity, setup: mutate(func(c map[string]any) { c[ClaimPersonalIdentityNum] = "810724-9289" })},
		{name: "no personnummer and no prid", code: auth.ErrNoIdentity, setup: mutate(func(c map[string]any) { delete(c, ClaimPersonalIdentityNum) })},
		{name: "personnummer in coordination claim", code: auth.ErrNoIdentity, setup: mutate(func(c map[string]any) {
			delete(c, ClaimPersonalIdentityNum)
			c[ClaimCoordinationNumber] = testPNR2
		})},
		{name: "both personnummer and coordination number", code: auth.ErrNoIdentity, setup: mutate(func(c map[string]any) { c[ClaimCoordinationNumber] = testCoord })},
		{name: "wrong state", code: auth.ErrState, tamper: func(cb *url.URL, _ *auth.Pending) { setParam(cb, "state", randomString()) }},
		{name: "missing state", code: auth.ErrState, tamper: func(cb *url.URL, _ *auth.Pending) { setParam(cb, "state", "") }},
		{name: "mix-up: flow of another provider", code: auth.ErrState, tamper: func(_ *url.URL, pd *auth.Pending) { pd.IdP = "bankid" }},
		{name: "mix-up: iss of another issuer", code: auth.ErrState, setup: func(op *fakeOP, _ *Config) { op.issParam = "https://other-op.example.se" }},
		{name: "access_denied is a cancel", code: auth.ErrCancel, tamper: func(cb *url.URL, _ *auth.Pending) {
			setParam(cb, "code", "")
			setParam(cb, "error", "access_denied")
		}},
		{name: "other error", code: auth.ErrAuthnFailed, tamper: func(cb *url.URL, _ *auth.Pending) {
			setParam(cb, "code", "")
			setParam(cb, "error", "login_required")
		}},
		{name: "missing code", code: auth.ErrInvalid, tamper: func(cb *url.URL, _ *auth.Pending) { setParam(cb, "code", "") }},
		{name: "unknown code", code: auth.ErrInvalid, tamper: func(cb *url.URL, _ *auth.Pending) { setParam(cb, "code", randomString()) }},
		{name: "wrong PKCE verifier", code: auth.ErrInvalid, tamper: func(_ *url.URL, pd *auth.Pending) { pd.CodeVerifier = randomString() }},
		{name: "wrong client secret", code: auth.ErrInvalid, setup: func(op *fakeOP, _ *Config) { op.clientSecret = "changed" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			op := newFakeOP(t, newClock())
			cfg := testConfig(t, op)
			if tc.setup != nil {
				tc.setup(op, &cfg)
			}
			p := newProvider(t, op, cfg)
			want := tc.want
			if want == auth.LoANone {
				want = auth.LoASubstantial
			}
			ch, err := p.Begin(context.Background(), want, "/", tc.force)
			if err != nil {
				t.Fatal(err)
			}
			cb := authorize(t, ch)
			pd := ch.Pending
			if tc.tamper != nil {
				tc.tamper(cb, &pd)
			}
			_, err = finish(p, cb, pd)
			t.Log(err)
			wantCode(t, err, tc.code)
		})
	}
}

func mutate(f func(c map[string]any)) func(*fakeOP, *Config) {
	return func(op *fakeOP, _ *Config) { op.mutate = f }
}

func setParam(u *url.URL, k, v string) {
	q := u.Query()
	if v == "" {
		q.Del(k)
	} else {
		q.Set(k, v)
	}
	u.RawQuery = q.Encode()
}

// TestFinishAccepts covers the variants that must log in.
func TestFinishAccepts(t *testing.T) {
	tests := []struct {
		name  string
		setup func(op *fakeOP, cfg *Config)
		check func(t *testing.T, op *fakeOP, id auth.Identity)
	}{
		{name: "coordination number", setup: mutate(func(c map[string]any) {
			delete(c, ClaimPersonalIdentityNum)
			c[ClaimCoordinationNumber] = testCoord
		}), check: func(t *testing.T, op *fakeOP, id auth.Identity) {
			if id.PersonalNumber != testCoord || !id.CoordinationNumber {
				t.Fatalf("identity %+v", id)
			}
		}},
		{name: "broker claims and acr map", setup: func(op *fakeOP, cfg *Config) {
			cfg.Claims.PersonalNumber = "ssn"
			cfg.Claims.GivenName = "firstName"
			cfg.AcrMap = map[string]string{"urn:broker:bankid": auth.URILoA3}
			op.mutate = func(c map[string]any) {
				delete(c, ClaimPersonalIdentityNum)
				c["ssn"] = json.Number(testPNR2) // a number, as some brokers send it
				c["firstName"] = "Bo"
				c["acr"] = "urn:broker:bankid"
			}
		}, check: func(t *testing.T, op *fakeOP, id auth.Identity) {
			if id.PersonalNumber != testPNR2 || id.CoordinationNumber || id.GivenName != "Bo" ||
				id.LoA != auth.LoASubstantial || id.LoAURI != auth.URILoA3 {
				t.Fatalf("identity %+v", id)
			}
		}},
		{name: "signed userinfo fills missing claims", setup: func(op *fakeOP, cfg *Config) {
			cfg.UseUserinfo = true
			op.userinfoJWT = true
			op.mutate = func(c map[string]any) { delete(c, ClaimPersonalIdentityNum); delete(c, "given_name") }
			op.userinfo = func() map[string]any {
				return map[string]any{"sub": testSubject, "iss": op.issuer(), "aud": op.clientID,
					ClaimPersonalIdentityNum: testPNR2, "given_name": "Bo", "family_name": "Ignored"}
			}
		}, check: func(t *testing.T, op *fakeOP, id auth.Identity) {
			// The ID token's family_name wins over userinfo's.
			if id.PersonalNumber != testPNR2 || id.GivenName != "Bo" || id.FamilyName != "Testsson" {
				t.Fatalf("identity %+v", id)
			}
		}},
		{name: "non-resident with prid", setup: func(op *fakeOP, cfg *Config) {
			cfg.NonResident = true
			op.mutate = func(c map[string]any) {
				delete(c, ClaimPersonalIdentityNum)
				c["acr"] = auth.URILoA3NonResident
				c[ClaimPRID] = "NO:05068907693"
			}
		}, check: func(t *testing.T, op *fakeOP, id auth.Identity) {
			if id.PersonalNumber != "" || id.PRID != "NO:05068907693" || id.Key() != "prid:NO:05068907693" {
				t.Fatalf("identity %+v", id)
			}
		}},
		{name: "auth_time absent: iat is the authentication time", setup: func(op *fakeOP, _ *Config) {
			op.mutate = func(c map[string]any) {
				delete(c, "auth_time")
				c["iat"] = op.clock.Now().Add(-2 * time.Second).Unix()
			}
		}, check: func(t *testing.T, op *fakeOP, id auth.Identity) {
			if want := op.clock.Now().Add(-2 * time.Second); !id.AuthTime.Equal(want) {
				t.Fatalf("auth time %v, want %v", id.AuthTime, want)
			}
		}},
		{name: "several audiences with our azp, no at_hash", setup: func(op *fakeOP, _ *Config) {
			op.mutate = func(c map[string]any) {
				c["aud"] = []string{op.clientID, "other"}
				c["azp"] = op.clientID
				delete(c, "at_hash")
			}
		}},
		{name: "iat within clock skew", setup: func(op *fakeOP, _ *Config) {
			op.mutate = func(c map[string]any) { c["iat"] = op.clock.Now().Add(30 * time.Second).Unix() }
		}},
		{name: "client_secret_post", setup: func(op *fakeOP, cfg *Config) {
			op.clientAuth = ClientSecretPost
			cfg.ClientAuth = ClientSecretPost
		}},
		{name: "ES256 id token", setup: func(op *fakeOP, _ *Config) {
			ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			op.published = append(op.published, jose.JSONWebKey{Key: &ek.PublicKey, KeyID: "ec1", Algorithm: "ES256", Use: "sig"})
			op.sign = func(c map[string]any) string {
				delete(c, "at_hash")
				return signJWT(op.t, jose.ES256, ek, "ec1", c)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := newClock()
			op := newFakeOP(t, clock)
			cfg := testConfig(t, op)
			tc.setup(op, &cfg)
			p := newProvider(t, op, cfg)
			id, err := login(t, p, auth.LoASubstantial, false)
			if err != nil {
				t.Fatal(err)
			}
			if id.Subject != testSubject || id.IdP != "freja" || id.Kind != auth.Citizen {
				t.Fatalf("identity %+v", id)
			}
			if tc.check != nil {
				tc.check(t, op, id)
			}
		})
	}
}

func TestPrivateKeyJWT(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rsaDER, _ := x509.MarshalPKCS8PrivateKey(rsaKey)
	ecDER, _ := x509.MarshalECPrivateKey(ecKey)
	tests := []struct {
		name    string
		pemType string
		der     []byte
		pub     crypto.PublicKey
	}{
		{"rsa pkcs8", "PRIVATE KEY", rsaDER, &rsaKey.PublicKey},
		{"ec sec1", "EC PRIVATE KEY", ecDER, &ecKey.PublicKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			op := newFakeOP(t, newClock())
			op.clientAuth = PrivateKeyJWT
			op.clientPub = tc.pub
			keyFile := filepath.Join(t.TempDir(), "client.pem")
			if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: tc.pemType, Bytes: tc.der}), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg := testConfig(t, op)
			cfg.ClientSecretFile = ""
			cfg.ClientAuth = PrivateKeyJWT
			cfg.PrivateKeyFile = keyFile
			cfg.KeyID = "gw-2025"
			p := newProvider(t, op, cfg)
			if _, err := login(t, p, auth.LoASubstantial, false); err != nil {
				t.Fatal(err)
			}
			if !op.assertionChecked.Load() {
				t.Fatal("the token endpoint did not verify a client assertion")
			}

			// The OP refuses an assertion it cannot verify with the
			// registered key.
			other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			op.clientPub = &other.PublicKey
			_, err := login(t, p, auth.LoASubstantial, false)
			wantCode(t, err, auth.ErrInvalid)
		})
	}
}

func TestStaff(t *testing.T) {
	setup := func(t *testing.T, mfa bool) (*fakeOP, Config) {
		op := newFakeOP(t, newClock())
		cfg := testConfig(t, op)
		cfg.Kind = "staff"
		cfg.RoleMap = map[string][]string{"kc-agents": {"contact_agent"}, "kc-leads": {"contact_agent", "contact_lead"}}
		cfg.Scopes = []string{"openid", "profile", "email"}
		if mfa {
			cfg.RequireMFA = true
			cfg.LoARequest = LoARequestNone
		}
		return op, cfg
	}
	t.Run("roles from groups, LoA from mfa", func(t *testing.T) {
		op, cfg := setup(t, true)
		op.mutate = func(c map[string]any) {
			delete(c, ClaimPersonalIdentityNum)
			delete(c, "acr")
			c["amr"] = []string{"pwd", "mfa"}
			c["groups"] = []string{"kc-leads", "kc-agents", "unrelated"}
			c["email"] = "agent@kommun.example.se"
		}
		p := newProvider(t, op, cfg)
		ch, err := p.Begin(context.Background(), auth.LoASubstantial, "/kc/", true)
		if err != nil {
			t.Fatal(err)
		}
		if q := authzQuery(t, ch); q.Has("claims") || q.Has("acr_values") {
			t.Fatal("loa_request none must not request acr")
		}
		id, err := finish(p, authorize(t, ch), ch.Pending)
		if err != nil {
			t.Fatal(err)
		}
		if id.Kind != auth.Staff || id.Subject != testSubject || id.PersonalNumber != "" ||
			!slices.Equal(id.Roles, []string{"contact_agent", "contact_lead"}) || id.LoA != auth.LoASubstantial ||
			id.Email != "agent@kommun.example.se" || id.Key() != "staff:freja:"+testSubject {
			t.Fatalf("identity %+v", id)
		}
	})
	t.Run("no mfa", func(t *testing.T) {
		op, cfg := setup(t, true)
		op.mutate = func(c map[string]any) {
			delete(c, "acr")
			c["amr"] = []string{"pwd"}
			c["groups"] = []string{"kc-agents"}
		}
		_, err := login(t, newProvider(t, op, cfg), auth.LoASubstantial, false)
		wantCode(t, err, auth.ErrLoATooLow)
	})
	t.Run("no role", func(t *testing.T) {
		op, cfg := setup(t, false)
		op.mutate = func(c map[string]any) { c["groups"] = []string{"finance"} }
		_, err := login(t, newProvider(t, op, cfg), auth.LoASubstantial, false)
		wantCode(t, err, auth.ErrAuthnFailed)
	})
	t.Run("acr without mfa requirement", func(t *testing.T) {
		op, cfg := setup(t, false)
		op.mutate = func(c map[string]any) { c["groups"] = "kc-agents" }
		id, err := login(t, newProvider(t, op, cfg), auth.LoASubstantial, false)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(id.Roles, []string{"contact_agent"}) || id.LoAURI != auth.URILoA3 {
			t.Fatalf("identity %+v", id)
		}
	})
}

func authzQuery(t *testing.T, ch auth.Challenge) url.Values {
	t.Helper()
	u, err := url.Parse(ch.RedirectURL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}
