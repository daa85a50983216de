package devidp

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"

	"github.com/civicgate/civicgate/auth"
)

const (
	rpRedirect = "https://rp.example/callback"
	rpLogout   = "https://rp.example/logged-out"
)

type oidcRP struct {
	idp      *testIdP
	provider *oidc.Provider
	cfg      oauth2.Config
}

func newRP(t *testing.T, idp *testIdP, clientID, secret string) *oidcRP {
	t.Helper()
	provider, err := oidc.NewProvider(context.Background(), idp.Issuer())
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	return &oidcRP{idp: idp, provider: provider, cfg: oauth2.Config{
		ClientID: clientID, ClientSecret: secret, Endpoint: provider.Endpoint(),
		RedirectURL: rpRedirect, Scopes: []string{oidc.ScopeOpenID, "https://id.oidc.se/scope/naturalPersonNumber"},
	}}
}

// authRequest is one authorization request with its secrets.
type authRequest struct {
	url, state, nonce, verifier string
}

func (rp *oidcRP) authURL(extra ...oauth2.AuthCodeOption) authRequest {
	a := authRequest{state: randomID(16), nonce: randomID(16), verifier: oauth2.GenerateVerifier()}
	opts := append([]oauth2.AuthCodeOption{oidc.Nonce(a.nonce), oauth2.S256ChallengeOption(a.verifier)}, extra...)
	a.url = rp.cfg.AuthCodeURL(a.state, opts...)
	return a
}

// callback checks a redirect to the client and returns its query.
func callback(t *testing.T, resp *http.Response, a authRequest, issuer string) url.Values {
	t.Helper()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("status %d, want a redirect: %s", resp.StatusCode, readBody(t, resp))
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != rpRedirect {
		t.Fatalf("redirected to %q, want %q", got, rpRedirect)
	}
	q := loc.Query()
	if q.Get("state") != a.state {
		t.Errorf("state = %q, want %q", q.Get("state"), a.state)
	}
	if q.Get("iss") != issuer {
		t.Errorf("iss = %q, want %q", q.Get("iss"), issuer)
	}
	return q
}

// login drives a whole login through the picker and returns the code.
func (rp *oidcRP) login(t *testing.T, c *http.Client, a authRequest, person, acr string) string {
	t.Helper()
	pk := parsePicker(t, get(t, c, a.url))
	q := callback(t, pk.submit(t, c, "login", person, acr), a, rp.idp.Issuer())
	if q.Get("code") == "" {
		t.Fatalf("no code: %v", q)
	}
	return q.Get("code")
}

func (rp *oidcRP) exchange(t *testing.T, code string, a authRequest) (*oauth2.Token, *oidc.IDToken, map[string]any) {
	t.Helper()
	ctx := context.Background()
	tok, err := rp.cfg.Exchange(ctx, code, oauth2.VerifierOption(a.verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := rp.provider.Verifier(&oidc.Config{ClientID: rp.cfg.ClientID}).Verify(ctx, raw)
	if err != nil {
		t.Fatalf("verify ID token: %v", err)
	}
	if idt.Nonce != a.nonce {
		t.Errorf("nonce = %q, want %q", idt.Nonce, a.nonce)
	}
	if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
		t.Errorf("at_hash: %v", err)
	}
	claims := map[string]any{}
	if err := idt.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	return tok, idt, claims
}

func testClients() []Client {
	return []Client{
		{ID: "gateway", Secret: "s3cret-gateway", RedirectURIs: []string{rpRedirect}, PostLogoutRedirectURIs: []string{rpLogout}},
		{ID: "other", Secret: "s3cret-other", RedirectURIs: []string{rpRedirect}},
	}
}

func TestOIDCLoginCitizen(t *testing.T) {
	idp := startIdP(t, Options{Clients: testClients()})
	rp := newRP(t, idp, "gateway", "s3cret-gateway")
	c := browser(t)
	claimsParam := `{"id_token":{"acr":{"essential":true,"values":["` + auth.URILoA4 + `","` + auth.URILoA3 + `"]}}}`
	a := rp.authURL(oauth2.SetAuthURLParam("claims", claimsParam), oauth2.SetAuthURLParam("prompt", "login"))

	pk := parsePicker(t, get(t, c, a.url))
	if want := []string{auth.URILoA4, auth.URILoA3}; !slices.Equal(pk.acrs, want) {
		t.Errorf("offered acrs = %v, want %v", pk.acrs, want)
	}
	if !slices.Contains(pk.people, "198107249289") || !slices.Contains(pk.people, "staff:kc-agent-1") {
		t.Errorf("picker people = %v", pk.people)
	}
	q := callback(t, pk.submit(t, c, "login", "198107249289", auth.URILoA3), a, idp.Issuer())
	tok, idt, claims := rp.exchange(t, q.Get("code"), a)

	if got := claims[ClaimPersonalIdentityNumber]; got != "198107249289" {
		t.Errorf("personalIdentityNumber = %v", got)
	}
	if _, ok := claims[ClaimCoordinationNumber]; ok {
		t.Error("coordinationNumber set for a personnummer")
	}
	if idt.Subject == "" || strings.Contains(idt.Subject, "198107249289") {
		t.Errorf("sub %q is empty or holds the personnummer", idt.Subject)
	}
	if claims["acr"] != auth.URILoA3 {
		t.Errorf("acr = %v", claims["acr"])
	}
	if claims["given_name"] != "Tolvan" || claims["family_name"] != "Tolvansson" || claims["name"] != "Tolvan Tolvansson" {
		t.Errorf("names = %v %v %v", claims["given_name"], claims["family_name"], claims["name"])
	}
	if claims["birthdate"] != "1981-07-24" {
		t.Errorf("birthdate = %v", claims["birthdate"])
	}
	for _, k := range []string{"sid", "txn", "auth_time", "at_hash"} {
		if claims[k] == nil || claims[k] == "" {
			t.Errorf("claim %s missing", k)
		}
	}
	if life := idt.Expiry.Sub(idt.IssuedAt); life != 5*time.Minute {
		t.Errorf("ID token lifetime %v, want 5m", life)
	}
	if _, ok := claims["groups"]; ok {
		t.Error("citizen got groups")
	}

	// Userinfo returns the same person for the access token.
	ui, err := rp.provider.UserInfo(context.Background(), oauth2.StaticTokenSource(tok))
	if err != nil {
		t.Fatalf("userinfo: %v", err)
	}
	uic := map[string]any{}
	if err := ui.Claims(&uic); err != nil {
		t.Fatal(err)
	}
	if ui.Subject != idt.Subject || uic[ClaimPersonalIdentityNumber] != "198107249289" {
		t.Errorf("userinfo sub=%q pnr=%v", ui.Subject, uic[ClaimPersonalIdentityNumber])
	}

	// The same person has another pseudonym at another client.
	rp2 := newRP(t, idp, "other", "s3cret-other")
	a2 := rp2.authURL(oauth2.SetAuthURLParam("prompt", "login"))
	_, idt2, _ := rp2.exchange(t, rp2.login(t, browser(t), a2, "198107249289", auth.URILoA3), a2)
	if idt2.Subject == idt.Subject {
		t.Error("sub is not pairwise: same at two clients")
	}
}

func TestOIDCClaimsByKind(t *testing.T) {
	idp := startIdP(t, Options{Clients: testClients()})
	rp := newRP(t, idp, "gateway", "s3cret-gateway")
	tests := []struct {
		name, person, acr string
		check             func(t *testing.T, c map[string]any)
	}{
		{"coordination number", "197010632391", auth.URILoA3, func(t *testing.T, c map[string]any) {
			if c[ClaimCoordinationNumber] != "197010632391" || c[ClaimPersonalIdentityNumber] != nil {
				t.Errorf("coordination=%v pnr=%v", c[ClaimCoordinationNumber], c[ClaimPersonalIdentityNumber])
			}
			if c["birthdate"] != "1970-10-03" {
				t.Errorf("birthdate = %v", c["birthdate"])
			}
		}},
		{"eidas non-resident", "prid:NO:05068907693", auth.URILoA3NonResident, func(t *testing.T, c map[string]any) {
			if c[ClaimPRID] != "NO:05068907693" || c[ClaimCountry] != "NO" {
				t.Errorf("prid=%v country=%v", c[ClaimPRID], c[ClaimCountry])
			}
			if c[ClaimPersonalIdentityNumber] != nil || c[ClaimCoordinationNumber] != nil {
				t.Error("non-resident got a number")
			}
			if c["acr"] != auth.URILoA3NonResident {
				t.Errorf("acr = %v", c["acr"])
			}
		}},
		{"staff substantial", "staff:school-admin-1", auth.URILoA3, func(t *testing.T, c map[string]any) {
			if c["email"] != "sara.skolstrom@kommun.example" {
				t.Errorf("email = %v", c["email"])
			}
			if g, _ := c["groups"].([]any); len(g) != 1 || g[0] != "cg-school-admin:skola-1" {
				t.Errorf("groups = %v", c["groups"])
			}
			if a, _ := c["amr"].([]any); len(a) != 1 || a[0] != "mfa" {
				t.Errorf("amr = %v", c["amr"])
			}
		}},
		{"staff low", "staff:kc-agent-1", auth.URILoA2, func(t *testing.T, c map[string]any) {
			if a, _ := c["amr"].([]any); len(a) != 1 || a[0] != "pwd" {
				t.Errorf("amr = %v", c["amr"])
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := rp.authURL(oauth2.SetAuthURLParam("prompt", "login"))
			_, _, claims := rp.exchange(t, rp.login(t, browser(t), a, tc.person, tc.acr), a)
			tc.check(t, claims)
		})
	}
}

func TestOIDCAuthorizeRejects(t *testing.T) {
	idp := startIdP(t, Options{Clients: testClients()})
	rp := newRP(t, idp, "gateway", "s3cret-gateway")
	good := rp.authURL()

	t.Run("error page, never a redirect", func(t *testing.T) {
		for name, mutate := range map[string]func(url.Values){
			"unknown client":      func(q url.Values) { q.Set("client_id", "nobody") },
			"wrong redirect_uri":  func(q url.Values) { q.Set("redirect_uri", "https://evil.example/callback") },
			"redirect_uri suffix": func(q url.Values) { q.Set("redirect_uri", rpRedirect+"/x") },
			"no redirect_uri":     func(q url.Values) { q.Del("redirect_uri") },
		} {
			u, _ := url.Parse(good.url)
			q := u.Query()
			mutate(q)
			u.RawQuery = q.Encode()
			resp := get(t, browser(t), u.String())
			body := readBody(t, resp)
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
				t.Errorf("%s: status %d location %q", name, resp.StatusCode, resp.Header.Get("Location"))
			}
			checkBanner(t, body)
		}
	})
	t.Run("error redirect", func(t *testing.T) {
		for name, tc := range map[string]struct {
			mutate func(url.Values)
			want   string
		}{
			"missing PKCE":     {func(q url.Values) { q.Del("code_challenge"); q.Del("code_challenge_method") }, "invalid_request"},
			"plain PKCE":       {func(q url.Values) { q.Set("code_challenge_method", "plain") }, "invalid_request"},
			"missing nonce":    {func(q url.Values) { q.Del("nonce") }, "invalid_request"},
			"no openid scope":  {func(q url.Values) { q.Set("scope", "profile") }, "invalid_scope"},
			"implicit flow":    {func(q url.Values) { q.Set("response_type", "id_token") }, "unsupported_response_type"},
			"unknown acr only": {func(q url.Values) { q.Set("claims", `{"id_token":{"acr":{"essential":true,"values":["urn:x"]}}}`) }, "unmet_authentication_requirements"},
		} {
			u, _ := url.Parse(good.url)
			q := u.Query()
			tc.mutate(q)
			u.RawQuery = q.Encode()
			got := callback(t, get(t, browser(t), u.String()), good, idp.Issuer())
			if got.Get("error") != tc.want || got.Get("code") != "" {
				t.Errorf("%s: error = %q, code = %q; want %q", name, got.Get("error"), got.Get("code"), tc.want)
			}
		}
	})
}

func TestOIDCCancelAndCSRF(t *testing.T) {
	idp := startIdP(t, Options{Clients: testClients()})
	rp := newRP(t, idp, "gateway", "s3cret-gateway")

	c := browser(t)
	a := rp.authURL()
	pk := parsePicker(t, get(t, c, a.url))
	q := callback(t, pk.submit(t, c, "cancel", "", ""), a, idp.Issuer())
	if q.Get("error") != "access_denied" || q.Get("code") != "" {
		t.Errorf("cancel: %v", q)
	}

	// A form posted with a wrong token, or from another browser, is refused
	// and leaves the flow usable by its owner.
	a = rp.authURL()
	pk = parsePicker(t, get(t, c, a.url))
	bad := pk
	bad.csrf = "x" + pk.csrf[1:]
	if resp := bad.submit(t, c, "login", "198107249289", auth.URILoA3); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("wrong csrf: status %d", resp.StatusCode)
	}
	if resp := pk.submit(t, browser(t), "login", "198107249289", auth.URILoA3); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("other browser: status %d", resp.StatusCode)
	}
	if resp := pk.submit(t, c, "login", "198107249289", "urn:not-offered"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("acr not offered: status %d", resp.StatusCode)
	}
	// The flow was used up by the previous attempt.
	if resp := pk.submit(t, c, "login", "198107249289", auth.URILoA3); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("reused flow: status %d", resp.StatusCode)
	}
}

func TestOIDCTokenRejects(t *testing.T) {
	idp := startIdP(t, Options{Clients: testClients()})
	rp := newRP(t, idp, "gateway", "s3cret-gateway")
	ctx := context.Background()
	login := func() (string, authRequest) {
		a := rp.authURL(oauth2.SetAuthURLParam("prompt", "login"))
		return rp.login(t, browser(t), a, "195006262546", auth.URILoA3), a
	}

	t.Run("reused code revokes tokens", func(t *testing.T) {
		code, a := login()
		tok, _, _ := rp.exchange(t, code, a)
		if _, err := rp.cfg.Exchange(ctx, code, oauth2.VerifierOption(a.verifier)); !isOAuthError(err, "invalid_grant") {
			t.Errorf("second redemption: %v", err)
		}
		if _, err := rp.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok)); err == nil {
			t.Error("access token still valid after code replay")
		}
	})
	t.Run("wrong code_verifier", func(t *testing.T) {
		code, _ := login()
		if _, err := rp.cfg.Exchange(ctx, code, oauth2.VerifierOption(oauth2.GenerateVerifier())); !isOAuthError(err, "invalid_grant") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("missing code_verifier", func(t *testing.T) {
		code, _ := login()
		if _, err := rp.cfg.Exchange(ctx, code); !isOAuthError(err, "invalid_grant") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("wrong client secret", func(t *testing.T) {
		code, a := login()
		bad := rp.cfg
		bad.ClientSecret = "wrong"
		if _, err := bad.Exchange(ctx, code, oauth2.VerifierOption(a.verifier)); !isOAuthError(err, "invalid_client") {
			t.Errorf("got %v", err)
		}
		// client_secret_post with the wrong secret too.
		bad.Endpoint.AuthStyle = oauth2.AuthStyleInParams
		if _, err := bad.Exchange(ctx, code, oauth2.VerifierOption(a.verifier)); !isOAuthError(err, "invalid_client") {
			t.Errorf("post: got %v", err)
		}
		// The code survived failed client authentication; the right client
		// with client_secret_post redeems it.
		good := rp.cfg
		good.Endpoint.AuthStyle = oauth2.AuthStyleInParams
		if _, err := good.Exchange(ctx, code, oauth2.VerifierOption(a.verifier)); err != nil {
			t.Errorf("client_secret_post: %v", err)
		}
	})
	t.Run("code of another client", func(t *testing.T) {
		code, a := login()
		other := newRP(t, idp, "other", "s3cret-other")
		if _, err := other.cfg.Exchange(ctx, code, oauth2.VerifierOption(a.verifier)); !isOAuthError(err, "invalid_grant") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("expired code", func(t *testing.T) {
		code, a := login()
		idp.clock.Advance(61 * time.Second)
		if _, err := rp.cfg.Exchange(ctx, code, oauth2.VerifierOption(a.verifier)); !isOAuthError(err, "invalid_grant") {
			t.Errorf("got %v", err)
		}
	})
}

func isOAuthError(err error, code string) bool {
	re, ok := err.(*oauth2.RetrieveError)
	return ok && re.ErrorCode == code
}

func TestOIDCSessionAndPrompt(t *testing.T) {
	idp := startIdP(t, Options{Clients: testClients()})
	rp := newRP(t, idp, "gateway", "s3cret-gateway")
	c := browser(t)

	a := rp.authURL(oauth2.SetAuthURLParam("prompt", "none"))
	if q := callback(t, get(t, c, a.url), a, idp.Issuer()); q.Get("error") != "login_required" {
		t.Errorf("prompt=none without session: %v", q)
	}
	a = rp.authURL()
	_, idt1, _ := rp.exchange(t, rp.login(t, c, a, "198107249289", auth.URILoA3), a)

	// Without prompt=login the provider session is reused: no picker.
	a = rp.authURL()
	q := callback(t, get(t, c, a.url), a, idp.Issuer())
	_, idt2, c2 := rp.exchange(t, q.Get("code"), a)
	if idt2.Subject != idt1.Subject || c2["acr"] != auth.URILoA3 {
		t.Errorf("reused session gave sub %q acr %v", idt2.Subject, c2["acr"])
	}
	// A session at too low a level is not reused.
	a = rp.authURL(oauth2.SetAuthURLParam("acr_values", auth.URILoA4))
	if pk := parsePicker(t, get(t, c, a.url)); !slices.Equal(pk.acrs, []string{auth.URILoA4}) {
		t.Errorf("acr_values: offered %v", pk.acrs)
	}
	// prompt=login always shows the picker.
	a = rp.authURL(oauth2.SetAuthURLParam("prompt", "login"))
	parsePicker(t, get(t, c, a.url))
}

func TestOIDCLogout(t *testing.T) {
	tokens := make(chan string, 4)
	bcl := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tokens <- r.PostFormValue("logout_token")
	}))
	defer bcl.Close()
	clients := testClients()
	clients[0].BackchannelLogoutURI = bcl.URL
	idp := startIdP(t, Options{Clients: clients})
	rp := newRP(t, idp, "gateway", "s3cret-gateway")
	c := browser(t)
	a := rp.authURL()
	tok, idt, claims := rp.exchange(t, rp.login(t, c, a, "198107249289", auth.URILoA3), a)
	rawID, _ := tok.Extra("id_token").(string)

	// An unregistered post_logout_redirect_uri is refused.
	u := idp.Issuer() + "/logout?" + url.Values{"client_id": {"gateway"}, "post_logout_redirect_uri": {"https://evil.example/"}}.Encode()
	if resp := get(t, c, u); resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
		t.Errorf("unregistered target: status %d", resp.StatusCode)
	}

	u = idp.Issuer() + "/logout?" + url.Values{"id_token_hint": {rawID}, "post_logout_redirect_uri": {rpLogout}, "state": {"st123"}}.Encode()
	resp := get(t, c, u)
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || loc != rpLogout+"?state=st123" {
		t.Errorf("logout: status %d location %q", resp.StatusCode, loc)
	}
	select {
	case raw := <-tokens:
		lt, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256})
		if err != nil {
			t.Fatal(err)
		}
		if typ, _ := lt.Headers[0].ExtraHeaders["typ"].(string); typ != "logout+jwt" {
			t.Errorf("typ = %q", typ)
		}
		var got map[string]any
		if err := lt.Claims(&idp.oidcKey.PublicKey, &got); err != nil {
			t.Fatalf("logout token signature: %v", err)
		}
		events, _ := got["events"].(map[string]any)
		if _, ok := events[backchannelLogoutEvent]; !ok || got["sid"] != claims["sid"] || got["sub"] != idt.Subject || got["nonce"] != nil || got["aud"] != "gateway" {
			t.Errorf("logout token claims %v", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no back-channel logout")
	}
	// The session is gone: prompt=none fails.
	a = rp.authURL(oauth2.SetAuthURLParam("prompt", "none"))
	if q := callback(t, get(t, c, a.url), a, idp.Issuer()); q.Get("error") != "login_required" {
		t.Errorf("after logout: %v", q)
	}
}

func TestOIDCPrivateKeyJWT(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	idp := startIdP(t, Options{Clients: []Client{{ID: "pkj", RedirectURIs: []string{rpRedirect}, PublicKeys: jwks}}})
	rp := newRP(t, idp, "pkj", "")
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: "k1"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	assertion := func(jti string, aud string) string {
		now := time.Now()
		s, err := jwt.Signed(signer).Claims(jwt.Claims{
			Issuer: "pkj", Subject: "pkj", Audience: jwt.Audience{aud}, ID: jti,
			IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Minute)),
		}).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	redeem := func(code string, a authRequest, assertion string) *http.Response {
		resp, err := http.PostForm(rp.provider.Endpoint().TokenURL, url.Values{
			"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {rpRedirect},
			"code_verifier": {a.verifier}, "client_assertion_type": {clientAssertionType}, "client_assertion": {assertion},
		})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	newCode := func() (string, authRequest) {
		a := rp.authURL(oauth2.SetAuthURLParam("prompt", "login"))
		return rp.login(t, browser(t), a, "198107249289", auth.URILoA3), a
	}

	code, a := newCode()
	resp := redeem(code, a, assertion("jti-1", rp.provider.Endpoint().TokenURL))
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || body["id_token"] == nil {
		t.Fatalf("private_key_jwt: status %d %v", resp.StatusCode, body["error"])
	}
	if _, err := rp.provider.Verifier(&oidc.Config{ClientID: "pkj"}).Verify(context.Background(), body["id_token"].(string)); err != nil {
		t.Errorf("ID token: %v", err)
	}

	for name, as := range map[string]string{
		"replayed jti": assertion("jti-1", rp.provider.Endpoint().TokenURL),
		"wrong aud":    assertion("jti-2", "https://elsewhere.example/token"),
	} {
		code, a := newCode()
		resp := redeem(code, a, as)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: status %d", name, resp.StatusCode)
		}
	}
	// A client without a secret cannot use client_secret_basic.
	code, a = newCode()
	if _, err := rp.cfg.Exchange(context.Background(), code, oauth2.VerifierOption(a.verifier)); !isOAuthError(err, "invalid_client") {
		t.Errorf("secret for a key-only client: %v", err)
	}
}

func TestDiscoveryAndStripPrefix(t *testing.T) {
	idp := startIdP(t, Options{Clients: testClients()})
	// The same handler also works behind http.StripPrefix.
	srv := httptest.NewServer(http.StripPrefix("/devidp", idp.Handler()))
	defer srv.Close()
	for _, base := range []string{idp.srv.URL, srv.URL} {
		resp := get(t, http.DefaultClient, base+"/devidp/.well-known/openid-configuration")
		var d map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if d["issuer"] != idp.Issuer() || d["claims_parameter_supported"] != true || d["backchannel_logout_supported"] != true {
			t.Errorf("%s: discovery %v", base, d)
		}
		if m, _ := d["code_challenge_methods_supported"].([]any); len(m) != 1 || m[0] != "S256" {
			t.Errorf("code_challenge_methods_supported = %v", d["code_challenge_methods_supported"])
		}
		css := get(t, http.DefaultClient, base+"/devidp/static/devidp.css")
		if css.StatusCode != http.StatusOK || !strings.HasPrefix(css.Header.Get("Content-Type"), "text/css") {
			t.Errorf("%s: css status %d %q", base, css.StatusCode, css.Header.Get("Content-Type"))
		}
		css.Body.Close()
	}
}

func TestPairwiseSecretKeepsSubjects(t *testing.T) {
	secret := []byte("fixed dev secret, 32 bytes long!")
	var subs []string
	for i := 0; i < 2; i++ {
		idp := startIdP(t, Options{Clients: testClients(), PairwiseSecret: secret})
		rp := newRP(t, idp, "gateway", "s3cret-gateway")
		a := rp.authURL()
		_, idt, claims := rp.exchange(t, rp.login(t, browser(t), a, "staff:owner-1", auth.URILoA3), a)
		if claims["preferred_username"] != "owner-1" {
			t.Errorf("preferred_username = %v", claims["preferred_username"])
		}
		subs = append(subs, idt.Subject)
	}
	if subs[0] != subs[1] {
		t.Errorf("subjects differ across restarts with the same secret: %v", subs)
	}
}
