package devidp

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/civicgate/civicgate/auth"
)

// Claim names of the Swedish OIDC profile and the Sweden Connect eIDAS
// extension.
const (
	ClaimPersonalIdentityNumber = "https://id.oidc.se/claim/personalIdentityNumber"
	ClaimCoordinationNumber     = "https://id.oidc.se/claim/coordinationNumber"
	ClaimPRID                   = "https://id.swedenconnect.se/claim/prid"
	ClaimPRIDPersistence        = "https://id.swedenconnect.se/claim/pridPersistence"
	ClaimCountry                = "https://id.swedenconnect.se/claim/country"
	ClaimTransactionID          = "txn"
)

const (
	backchannelLogoutEvent = "http://schemas.openid.net/event/backchannel-logout"
	clientAssertionType    = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
)

// client is a configured OIDC client with its parsed keys.
type client struct {
	Client
	keys jose.JSONWebKeySet
}

func newClient(c Client) (*client, error) {
	if c.ID == "" {
		return nil, errors.New("devidp: a client needs an ID")
	}
	if len(c.RedirectURIs) == 0 {
		return nil, fmt.Errorf("devidp: client %q: no redirect URIs", c.ID)
	}
	for _, u := range append(append([]string(nil), c.RedirectURIs...), c.PostLogoutRedirectURIs...) {
		if pu, err := url.Parse(u); err != nil || !pu.IsAbs() || pu.Fragment != "" {
			return nil, fmt.Errorf("devidp: client %q: %q is not an absolute URL without fragment", c.ID, u)
		}
	}
	cl := &client{Client: c}
	if len(c.PublicKeys) > 0 {
		if err := json.Unmarshal(c.PublicKeys, &cl.keys); err != nil {
			return nil, fmt.Errorf("devidp: client %q: public keys: %w", c.ID, err)
		}
		for _, k := range cl.keys.Keys {
			if !k.IsPublic() {
				return nil, fmt.Errorf("devidp: client %q: public keys hold a private key", c.ID)
			}
		}
	}
	if c.Secret == "" && len(cl.keys.Keys) == 0 {
		return nil, fmt.Errorf("devidp: client %q: needs a secret or public keys", c.ID)
	}
	return cl, nil
}

// oidcRequest is a validated authorization request.
type oidcRequest struct {
	client      *client
	redirectURI string
	state       string
	nonce       string
	challenge   string
	scope       string
}

// grant is what a code or access token stands for.
type grant struct {
	person   *Person
	acr      string
	authTime time.Time
	sid      string
	txn      string
	clientID string
	scope    string
}

type authCode struct {
	grant
	redirectURI string
	challenge   string
	nonce       string
	expires     time.Time
	used        bool
	accessToken string
}

type accessGrant struct {
	grant
	expires time.Time
}

func (p *Provider) serveDiscovery(w http.ResponseWriter, _ *http.Request) {
	var acrs []string
	for _, o := range acrCatalogue {
		acrs = append(acrs, o.URI)
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                p.issuer,
		"authorization_endpoint":                p.url("/authorize"),
		"token_endpoint":                        p.url("/token"),
		"userinfo_endpoint":                     p.url("/userinfo"),
		"jwks_uri":                              p.url("/jwks"),
		"end_session_endpoint":                  p.url("/logout"),
		"response_types_supported":              []string{"code"},
		"response_modes_supported":              []string{"query"},
		"grant_types_supported":                 []string{"authorization_code"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{string(jose.ES256)},
		"scopes_supported": []string{"openid", "profile", "email",
			"https://id.oidc.se/scope/naturalPersonNumber", "https://id.oidc.se/scope/naturalPersonInfo"},
		"claims_supported": []string{"sub", "iss", "aud", "acr", "amr", "auth_time", "sid", "txn",
			"given_name", "family_name", "name", "birthdate", "email", "groups", "preferred_username",
			ClaimPersonalIdentityNumber, ClaimCoordinationNumber, ClaimPRID, ClaimPRIDPersistence, ClaimCountry},
		"claims_parameter_supported":                       true,
		"request_parameter_supported":                      false,
		"request_uri_parameter_supported":                  false,
		"acr_values_supported":                             acrs,
		"prompt_values_supported":                          []string{"none", "login"},
		"code_challenge_methods_supported":                 []string{"S256"},
		"token_endpoint_auth_methods_supported":            []string{"client_secret_basic", "client_secret_post", "private_key_jwt"},
		"token_endpoint_auth_signing_alg_values_supported": []string{"RS256", "PS256", "ES256"},
		"backchannel_logout_supported":                     true,
		"backchannel_logout_session_supported":             true,
		"frontchannel_logout_supported":                    false,
		"authorization_response_iss_parameter_supported":   true,
	})
}

func (p *Provider) serveJWKS(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{
		Key: &p.oidcKey.PublicKey, KeyID: p.oidcKeyID, Algorithm: string(jose.ES256), Use: "sig",
	}}})
}

// serveAuthorize validates an authorization request and shows the picker
// (or reuses the browser's provider session). An unknown client or a
// redirect_uri that is not registered gets an error page: redirecting
// there would make the provider an open redirector.
func (p *Provider) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		p.renderMessage(w, http.StatusMethodNotAllowed, "Metoden stöds inte.", "Method not allowed.")
		return
	}
	if err := r.ParseForm(); err != nil {
		p.renderMessage(w, http.StatusBadRequest, "Felaktig begäran.", "Malformed request.")
		return
	}
	q := r.Form
	c := p.clients[q.Get("client_id")]
	if c == nil {
		p.renderMessage(w, http.StatusBadRequest, "Okänd klient (client_id).", "Unknown client (client_id).")
		return
	}
	req := &oidcRequest{
		client: c, redirectURI: q.Get("redirect_uri"), state: q.Get("state"),
		nonce: q.Get("nonce"), challenge: q.Get("code_challenge"), scope: q.Get("scope"),
	}
	if !contains(c.RedirectURIs, req.redirectURI) {
		p.renderMessage(w, http.StatusBadRequest, "redirect_uri är inte registrerad för klienten.", "redirect_uri is not registered for the client.")
		return
	}
	fail := func(code, desc string) { p.finishOIDCError(w, r, req, code, desc) }
	switch {
	case q.Get("request") != "":
		fail("request_not_supported", "request objects are not supported")
		return
	case q.Get("request_uri") != "":
		fail("request_uri_not_supported", "request_uri is not supported")
		return
	case q.Get("response_type") != "code":
		fail("unsupported_response_type", "only response_type=code is supported")
		return
	case q.Get("response_mode") != "" && q.Get("response_mode") != "query":
		fail("invalid_request", "only response_mode=query is supported")
		return
	case !contains(strings.Fields(req.scope), "openid"):
		fail("invalid_scope", "scope must include openid")
		return
	case len(req.state) < 8:
		fail("invalid_request", "state is required")
		return
	case req.nonce == "":
		fail("invalid_request", "nonce is required")
		return
	case q.Get("code_challenge_method") != "S256" || !validPKCE(req.challenge):
		fail("invalid_request", "PKCE with code_challenge_method=S256 is required")
		return
	}
	requested, essential, err := requestedACRs(q)
	if err != nil {
		fail("invalid_request", err.Error())
		return
	}
	offered, ok := offeredACRs(requested)
	if !ok {
		if essential {
			fail("unmet_authentication_requirements", "none of the essential acr values is supported")
			return
		}
		offered, _ = offeredACRs(nil)
	}
	prompt := strings.Fields(q.Get("prompt"))
	force := contains(prompt, "login")
	if contains(prompt, "none") && len(prompt) > 1 {
		fail("invalid_request", "prompt=none cannot be combined")
		return
	}
	if s := p.currentSession(r); s != nil && !force && contains(offered, s.acr) && !tooOld(q.Get("max_age"), s.authTime, p.now()) {
		p.finishOIDC(w, req, s)
		return
	}
	if contains(prompt, "none") {
		fail("login_required", "no provider session")
		return
	}
	f := p.newFlow(p.browserID(w, r), offered)
	f.oidc = req
	p.renderPicker(w, f, c.ID, "OpenID Connect")
}

// requestedACRs reads the contexts a request asks for: the claims
// parameter's id_token acr (essential or not) wins over acr_values.
func requestedACRs(q url.Values) (acrs []string, essential bool, err error) {
	if raw := q.Get("claims"); raw != "" {
		var claims struct {
			IDToken map[string]*struct {
				Essential bool     `json:"essential"`
				Value     string   `json:"value"`
				Values    []string `json:"values"`
			} `json:"id_token"`
		}
		if err := json.Unmarshal([]byte(raw), &claims); err != nil {
			return nil, false, errors.New("claims is not valid JSON")
		}
		if acr := claims.IDToken["acr"]; acr != nil {
			acrs = append(acrs, acr.Values...)
			if acr.Value != "" {
				acrs = append(acrs, acr.Value)
			}
			if len(acrs) > 0 {
				return acrs, acr.Essential, nil
			}
		}
	}
	return strings.Fields(q.Get("acr_values")), false, nil
}

func tooOld(maxAge string, authTime, now time.Time) bool {
	if maxAge == "" {
		return false
	}
	n, err := strconv.Atoi(maxAge)
	return err != nil || now.Sub(authTime) > time.Duration(n)*time.Second
}

// validPKCE checks the form of a code challenge or verifier (RFC 7636):
// 43 to 128 characters of the unreserved set.
func validPKCE(s string) bool {
	if len(s) < 43 || len(s) > 128 {
		return false
	}
	for _, c := range s {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.ContainsRune("-._~", c)) {
			return false
		}
	}
	return true
}

// finishOIDC issues a single-use code for the session and sends the browser
// back to the client.
func (p *Provider) finishOIDC(w http.ResponseWriter, req *oidcRequest, s *idpSession) {
	code := randomID(32)
	p.mu.Lock()
	s.clients[req.client.ID] = true
	p.codes[code] = &authCode{
		grant: grant{
			person: s.person, acr: s.acr, authTime: s.authTime, sid: s.sid, txn: s.txn,
			clientID: req.client.ID, scope: req.scope,
		},
		redirectURI: req.redirectURI, challenge: req.challenge, nonce: req.nonce,
		expires: p.now().Add(codeLifetime),
	}
	p.mu.Unlock()
	p.redirectBack(w, req, url.Values{"code": {code}})
}

// finishOIDCError sends an error response to the (already verified)
// redirect URI.
func (p *Provider) finishOIDCError(w http.ResponseWriter, _ *http.Request, req *oidcRequest, code, desc string) {
	p.redirectBack(w, req, url.Values{"error": {code}, "error_description": {desc}})
}

func (p *Provider) redirectBack(w http.ResponseWriter, req *oidcRequest, v url.Values) {
	u, err := url.Parse(req.redirectURI)
	if err != nil {
		p.renderMessage(w, http.StatusInternalServerError, "Felaktig redirect_uri.", "Bad redirect_uri.")
		return
	}
	q := u.Query()
	for k, vs := range v {
		q[k] = vs
	}
	if req.state != "" {
		q.Set("state", req.state)
	}
	// RFC 9207: the issuer in the response lets the client detect mix-up.
	q.Set("iss", p.issuer)
	u.RawQuery = q.Encode()
	w.Header().Set("Location", u.String())
	w.WriteHeader(http.StatusFound)
}

func tokenError(w http.ResponseWriter, status int, code, desc string) {
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="devidp"`)
	}
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

// serveToken redeems an authorization code once.
func (p *Provider) serveToken(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		tokenError(w, http.StatusBadRequest, "invalid_request", "malformed form")
		return
	}
	c, err := p.authenticateClient(r)
	if err != nil {
		p.log.Info("devidp: token request: client authentication failed", "err", err)
		tokenError(w, http.StatusUnauthorized, "invalid_client", "client authentication failed")
		return
	}
	if r.PostForm.Get("grant_type") != "authorization_code" {
		tokenError(w, http.StatusBadRequest, "unsupported_grant_type", "only authorization_code is supported")
		return
	}
	now := p.now()
	p.mu.Lock()
	code := p.codes[r.PostForm.Get("code")]
	if code == nil || code.clientID != c.ID {
		p.mu.Unlock()
		tokenError(w, http.StatusBadRequest, "invalid_grant", "unknown code")
		return
	}
	if code.used {
		// A code presented twice was stolen or replayed: the tokens issued
		// for it are revoked too (RFC 6749 section 4.1.2).
		delete(p.tokens, code.accessToken)
		p.mu.Unlock()
		tokenError(w, http.StatusBadRequest, "invalid_grant", "code already used")
		return
	}
	// Any attempt uses the code up, so it cannot be guessed at.
	code.used = true
	verifier := r.PostForm.Get("code_verifier")
	sum := sha256.Sum256([]byte(verifier))
	switch {
	case !now.Before(code.expires):
		p.mu.Unlock()
		tokenError(w, http.StatusBadRequest, "invalid_grant", "code expired")
		return
	case r.PostForm.Get("redirect_uri") != code.redirectURI:
		p.mu.Unlock()
		tokenError(w, http.StatusBadRequest, "invalid_grant", "redirect_uri does not match")
		return
	case !validPKCE(verifier) || subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(code.challenge)) != 1:
		p.mu.Unlock()
		tokenError(w, http.StatusBadRequest, "invalid_grant", "code_verifier does not match")
		return
	}
	at := randomID(32)
	code.accessToken = at
	p.tokens[at] = &accessGrant{grant: code.grant, expires: now.Add(accessTokenLifetime)}
	g, nonce := code.grant, code.nonce
	p.mu.Unlock()

	atHash := sha256.Sum256([]byte(at))
	claims := p.personClaims(g)
	claims["iss"] = p.issuer
	claims["aud"] = c.ID
	claims["iat"] = now.Unix()
	claims["exp"] = now.Add(idTokenLifetime).Unix()
	claims["nonce"] = nonce
	claims["acr"] = g.acr
	claims["auth_time"] = g.authTime.Unix()
	claims["sid"] = g.sid
	claims["at_hash"] = base64.RawURLEncoding.EncodeToString(atHash[:16])
	idToken, err := jwt.Signed(p.oidcSigner).Claims(claims).Serialize()
	if err != nil {
		p.log.Error("devidp: sign ID token", "err", err)
		tokenError(w, http.StatusInternalServerError, "server_error", "cannot sign")
		return
	}
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": at,
		"token_type":   "Bearer",
		"expires_in":   int(accessTokenLifetime / time.Second),
		"id_token":     idToken,
		"scope":        g.scope,
	})
}

// personClaims are the claims about the person, shared by the ID token and
// userinfo. The provider releases them whatever the scope: it is a test
// provider, and the relying party must check what it gets anyway.
func (p *Provider) personClaims(g grant) map[string]any {
	person := g.person
	m := map[string]any{
		"sub":         p.pseudonym(person, g.clientID),
		"given_name":  person.GivenName,
		"family_name": person.FamilyName,
		"name":        person.Name(),
		"txn":         g.txn,
	}
	if bd := person.BirthDate(); bd != "" {
		m["birthdate"] = bd
	}
	if person.PersonalNumber != "" {
		if person.IsCoordinationNumber() {
			m[ClaimCoordinationNumber] = person.PersonalNumber
		} else {
			m[ClaimPersonalIdentityNumber] = person.PersonalNumber
		}
	}
	if person.PRID != "" {
		m[ClaimPRID] = person.PRID
		m[ClaimPRIDPersistence] = "A"
		if person.Country != "" {
			m[ClaimCountry] = person.Country
		}
	}
	if person.Kind == auth.Staff {
		m["preferred_username"] = person.Subject
		if person.Email != "" {
			m["email"] = person.Email
			m["email_verified"] = true
		}
		m["groups"] = append([]string{}, person.Groups...)
		if l, _ := auth.LoAFromURI(g.acr); l >= auth.LoASubstantial {
			m["amr"] = []string{"mfa"}
		} else {
			m["amr"] = []string{"pwd"}
		}
	}
	return m
}

// authenticateClient checks exactly one client authentication method.
func (p *Provider) authenticateClient(r *http.Request) (*client, error) {
	form := r.PostForm
	basicID, basicSecret, hasBasic := r.BasicAuth()
	hasPost := form.Get("client_secret") != ""
	hasJWT := form.Get("client_assertion") != "" || form.Get("client_assertion_type") != ""
	n := 0
	for _, b := range []bool{hasBasic, hasPost, hasJWT} {
		if b {
			n++
		}
	}
	if n != 1 {
		return nil, errors.New("exactly one client authentication method is required")
	}
	switch {
	case hasBasic:
		// RFC 6749 section 2.3.1: both parts are form-urlencoded.
		id, err1 := url.QueryUnescape(basicID)
		secret, err2 := url.QueryUnescape(basicSecret)
		if err1 != nil || err2 != nil {
			return nil, errors.New("malformed basic credentials")
		}
		if form.Get("client_id") != "" && form.Get("client_id") != id {
			return nil, errors.New("client_id differs from the authenticated client")
		}
		return p.checkSecret(id, secret)
	case hasPost:
		return p.checkSecret(form.Get("client_id"), form.Get("client_secret"))
	default:
		return p.checkClientAssertion(form)
	}
}

func (p *Provider) checkSecret(id, secret string) (*client, error) {
	c := p.clients[id]
	if c == nil || c.Secret == "" {
		return nil, errors.New("unknown client or client without a secret")
	}
	if subtle.ConstantTimeCompare([]byte(c.Secret), []byte(secret)) != 1 {
		return nil, errors.New("wrong client secret")
	}
	return c, nil
}

// checkClientAssertion verifies a private_key_jwt assertion (RFC 7523):
// signed by one of the client's keys, iss = sub = client_id, the token
// endpoint or issuer as audience, not expired, and never seen before.
func (p *Provider) checkClientAssertion(form url.Values) (*client, error) {
	if form.Get("client_assertion_type") != clientAssertionType {
		return nil, errors.New("unsupported client_assertion_type")
	}
	tok, err := jwt.ParseSigned(form.Get("client_assertion"), []jose.SignatureAlgorithm{jose.RS256, jose.PS256, jose.ES256})
	if err != nil {
		return nil, fmt.Errorf("client assertion: %w", err)
	}
	var unverified jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil {
		return nil, fmt.Errorf("client assertion: %w", err)
	}
	c := p.clients[unverified.Issuer]
	if c == nil || len(c.keys.Keys) == 0 {
		return nil, errors.New("client assertion: unknown client or client without keys")
	}
	if id := form.Get("client_id"); id != "" && id != c.ID {
		return nil, errors.New("client assertion: client_id differs from iss")
	}
	keys := c.keys.Keys
	if kid := tok.Headers[0].KeyID; kid != "" {
		keys = c.keys.Key(kid)
	}
	var claims jwt.Claims
	verified := false
	for _, k := range keys {
		if tok.Claims(k.Key, &claims) == nil {
			verified = true
			break
		}
	}
	if !verified {
		return nil, errors.New("client assertion: signature does not verify")
	}
	now := p.now()
	if err := claims.ValidateWithLeeway(jwt.Expected{
		Issuer: c.ID, Subject: c.ID, AnyAudience: jwt.Audience{p.url("/token"), p.issuer}, Time: now,
	}, 30*time.Second); err != nil {
		return nil, fmt.Errorf("client assertion: %w", err)
	}
	if claims.Expiry == nil || claims.Expiry.Time().After(now.Add(10*time.Minute)) {
		return nil, errors.New("client assertion: exp missing or too far ahead")
	}
	if claims.ID == "" {
		return nil, errors.New("client assertion: jti missing")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	key := c.ID + "\x00" + claims.ID
	if _, seen := p.jtis[key]; seen {
		return nil, errors.New("client assertion: jti replayed")
	}
	p.jtis[key] = claims.Expiry.Time().Add(time.Minute)
	return c, nil
}

// serveUserinfo returns the person's claims for a bearer access token.
func (p *Provider) serveUserinfo(w http.ResponseWriter, r *http.Request) {
	token := ""
	if h := r.Header.Get("Authorization"); len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		token = strings.TrimSpace(h[7:])
	} else if r.Method == http.MethodPost {
		token = r.PostFormValue("access_token")
	}
	p.mu.Lock()
	g := p.tokens[token]
	valid := g != nil && p.now().Before(g.expires)
	p.mu.Unlock()
	if !valid {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token"})
		return
	}
	writeJSON(w, http.StatusOK, p.personClaims(g.grant))
}

// serveEndSession is RP-initiated logout: it ends the browser's provider
// session, tells the clients over the back channel, and sends the browser
// to post_logout_redirect_uri only when it is registered for the client.
func (p *Provider) serveEndSession(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		p.renderMessage(w, http.StatusBadRequest, "Felaktig begäran.", "Malformed request.")
		return
	}
	q := r.Form
	clientID := q.Get("client_id")
	if hint := q.Get("id_token_hint"); hint != "" {
		aud, err := p.idTokenAudience(hint)
		if err != nil || (clientID != "" && clientID != aud) {
			p.renderMessage(w, http.StatusBadRequest, "Ogiltig id_token_hint.", "Invalid id_token_hint.")
			return
		}
		clientID = aud
	}
	target := q.Get("post_logout_redirect_uri")
	if target != "" {
		c := p.clients[clientID]
		if c == nil || !contains(c.PostLogoutRedirectURIs, target) {
			p.renderMessage(w, http.StatusBadRequest, "post_logout_redirect_uri är inte registrerad för klienten.", "post_logout_redirect_uri is not registered for the client.")
			return
		}
	}
	if ck, err := r.Cookie(cookieSession); err == nil {
		p.mu.Lock()
		s := p.sessions[ck.Value]
		delete(p.sessions, ck.Value)
		p.mu.Unlock()
		if s != nil {
			p.backchannelLogout(s)
		}
	}
	p.setCookie(w, cookieSession, "", -1)
	if target == "" {
		p.renderMessage(w, http.StatusOK, "Du är utloggad från testinloggningen.", "You are logged out of the test login.")
		return
	}
	u, _ := url.Parse(target)
	if st := q.Get("state"); st != "" {
		v := u.Query()
		v.Set("state", st)
		u.RawQuery = v.Encode()
	}
	http.Redirect(w, r, u.String(), http.StatusFound)
}

// idTokenAudience verifies that hint is an ID token this provider signed
// (expired ones are accepted, as OIDC RP-initiated logout allows) and
// returns its audience.
func (p *Provider) idTokenAudience(hint string) (string, error) {
	tok, err := jwt.ParseSigned(hint, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return "", err
	}
	var claims jwt.Claims
	if err := tok.Claims(&p.oidcKey.PublicKey, &claims); err != nil {
		return "", err
	}
	if claims.Issuer != p.issuer || len(claims.Audience) != 1 {
		return "", errors.New("not an ID token of this provider")
	}
	return claims.Audience[0], nil
}

// backchannelLogout posts a signed logout token to every client of the
// session that has a back-channel logout URI. Failures are logged only:
// logout at the provider has already happened.
func (p *Provider) backchannelLogout(s *idpSession) {
	p.mu.Lock()
	var targets []*client
	for id := range s.clients {
		if c := p.clients[id]; c != nil && c.BackchannelLogoutURI != "" {
			targets = append(targets, c)
		}
	}
	p.mu.Unlock()
	if len(targets) == 0 {
		return
	}
	signer, err := jose.NewSigner(jose.SigningKey{
		Algorithm: jose.ES256,
		Key:       jose.JSONWebKey{Key: p.oidcKey, KeyID: p.oidcKeyID},
	}, (&jose.SignerOptions{}).WithType("logout+jwt"))
	if err != nil {
		p.log.Error("devidp: logout token signer", "err", err)
		return
	}
	now := p.now()
	for _, c := range targets {
		tok, err := jwt.Signed(signer).Claims(map[string]any{
			"iss": p.issuer, "aud": c.ID, "iat": now.Unix(), "exp": now.Add(2 * time.Minute).Unix(),
			"jti": randomID(16), "sub": p.pseudonym(s.person, c.ID), "sid": s.sid,
			"events": map[string]any{backchannelLogoutEvent: map[string]any{}},
		}).Serialize()
		if err != nil {
			p.log.Error("devidp: sign logout token", "err", err)
			continue
		}
		resp, err := p.http.PostForm(c.BackchannelLogoutURI, url.Values{"logout_token": {tok}})
		if err != nil {
			p.log.Warn("devidp: back-channel logout failed", "client", c.ID, "err", err)
			continue
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent {
			p.log.Warn("devidp: back-channel logout refused", "client", c.ID, "status", resp.StatusCode)
		}
	}
}
