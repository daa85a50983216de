package oidc

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/civicgate/civicgate/auth"
)

// maxUserinfoSize bounds the userinfo response read from a provider.
const maxUserinfoSize = 1 << 20

// Finish implements auth.Authenticator: it validates the authorization
// response in r (the callback request) against pending, exchanges the code
// and verifies the ID token. Every failure is an *auth.LoginError:
//
//   - auth.ErrState: pending belongs to another provider, the state does not
//     match, or the RFC 9207 iss parameter names another issuer (mix-up);
//   - auth.ErrCancel: the person cancelled (error=access_denied);
//   - auth.ErrAuthnFailed: any other error from the provider, or a staff
//     login that maps to no role;
//   - auth.ErrUnavailable: the provider cannot be reached;
//   - auth.ErrLoATooLow: acr missing, unknown or not one that was asked for
//     (for staff with require_mfa: no "mfa" in amr);
//   - auth.ErrNoIdentity: no valid personnummer, samordningsnummer or prid;
//   - auth.ErrInvalid: everything else (signature, issuer, audience, azp,
//     nonce, times, at_hash, userinfo subject...).
func (p *Provider) Finish(ctx context.Context, r *http.Request, pending auth.Pending) (auth.Identity, error) {
	if pending.IdP != p.name {
		return auth.Identity{}, auth.Fail(auth.ErrState, "oidc: login flow belongs to provider %q, not %q", pending.IdP, p.name)
	}
	if err := r.ParseForm(); err != nil {
		return auth.Identity{}, auth.Fail(auth.ErrInvalid, "oidc: malformed callback: %v", err)
	}
	q := r.Form
	if pending.RequestID == "" || !equal(q.Get("state"), pending.RequestID) {
		return auth.Identity{}, auth.Fail(auth.ErrState, "oidc: state does not match the login flow")
	}
	if iss := q.Get("iss"); iss != "" && iss != p.cfg.Issuer {
		return auth.Identity{}, auth.Fail(auth.ErrState, "oidc: response issued by %q, expected %q (mix-up)", clip(iss), p.cfg.Issuer)
	}
	if e := q.Get("error"); e != "" {
		if e == "access_denied" {
			return auth.Identity{}, auth.Fail(auth.ErrCancel, "oidc: %s: access_denied", p.name)
		}
		return auth.Identity{}, auth.Fail(auth.ErrAuthnFailed, "oidc: %s returned error %q", p.name, clip(e))
	}
	m, err := p.discover(ctx)
	if err != nil {
		return auth.Identity{}, err
	}
	if m.issParam && q.Get("iss") == "" {
		return auth.Identity{}, auth.Fail(auth.ErrInvalid, "oidc: provider advertises RFC 9207 but sent no iss parameter")
	}
	code := q.Get("code")
	if code == "" {
		return auth.Identity{}, auth.Fail(auth.ErrInvalid, "oidc: callback without code")
	}

	tok, err := p.exchange(ctx, m, code, pending.CodeVerifier)
	if err != nil {
		return auth.Identity{}, err
	}
	rawID, _ := tok.Extra("id_token").(string)
	if rawID == "" {
		return auth.Identity{}, auth.Fail(auth.ErrInvalid, "oidc: token response without id_token")
	}
	idt, err := m.verifier.Verify(ctx, rawID)
	if err != nil {
		return auth.Identity{}, auth.Fail(auth.ErrInvalid, "oidc: id token: %v", err)
	}
	claims, err := tokenClaims(idt)
	if err != nil {
		return auth.Identity{}, auth.Fail(auth.ErrInvalid, "oidc: id token claims: %v", err)
	}
	authTime, err := p.checkIDToken(idt, claims, tok.AccessToken, pending)
	if err != nil {
		return auth.Identity{}, err
	}
	loa, uri, err := p.checkLoA(claims, pending)
	if err != nil {
		return auth.Identity{}, err
	}

	attrs := claims
	if p.cfg.UseUserinfo {
		ui, err := p.userinfo(ctx, m, tok.AccessToken)
		if err != nil {
			return auth.Identity{}, err
		}
		if s, _ := ui["sub"].(string); s == "" || !equal(s, idt.Subject) {
			return auth.Identity{}, auth.Fail(auth.ErrInvalid, "oidc: userinfo sub differs from the id token's")
		}
		// The ID token is signed and checked; userinfo only fills gaps.
		attrs = make(map[string]any, len(ui)+len(claims))
		for k, v := range ui {
			attrs[k] = v
		}
		for k, v := range claims {
			attrs[k] = v
		}
	}

	id := auth.Identity{
		Kind:          auth.Kind(p.cfg.Kind),
		Subject:       idt.Subject,
		GivenName:     str(attrs, p.cfg.Claims.GivenName),
		FamilyName:    str(attrs, p.cfg.Claims.FamilyName),
		DisplayName:   str(attrs, p.cfg.Claims.Name),
		DateOfBirth:   str(attrs, p.cfg.Claims.Birthdate),
		Email:         str(attrs, p.cfg.Claims.Email),
		LoA:           loa,
		LoAURI:        uri,
		IdP:           p.name,
		Method:        "oidc",
		AuthTime:      authTime,
		SessionIndex:  str(claims, "sid"),
		TransactionID: str(attrs, p.cfg.Claims.TransactionID),
	}
	if id.Kind == auth.Staff {
		id.Roles = p.roles(attrs)
		if len(id.Roles) == 0 {
			return auth.Identity{}, auth.Fail(auth.ErrAuthnFailed, "oidc: %s: none of the person's groups maps to a gateway role (see role_map)", p.name)
		}
		return id, nil
	}
	if err := p.personIdentity(&id, attrs, uri); err != nil {
		return auth.Identity{}, err
	}
	return id, nil
}

// exchange redeems the code at the token endpoint with the PKCE verifier and
// the configured client authentication.
func (p *Provider) exchange(ctx context.Context, m *metadata, code, verifier string) (*oauth2.Token, error) {
	if verifier == "" {
		return nil, auth.Fail(auth.ErrState, "oidc: login flow has no PKCE verifier")
	}
	opts := []oauth2.AuthCodeOption{oauth2.VerifierOption(verifier)}
	if p.cfg.ClientAuth == PrivateKeyJWT {
		a, err := p.clientAssertion(m.oauth.Endpoint.TokenURL)
		if err != nil {
			return nil, auth.Fail(auth.ErrUnavailable, "%w", err)
		}
		opts = append(opts,
			oauth2.SetAuthURLParam("client_assertion_type", ClientAssertionType),
			oauth2.SetAuthURLParam("client_assertion", a))
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.HTTPTimeout)
	defer cancel()
	tok, err := m.oauth.Exchange(context.WithValue(ctx, oauth2.HTTPClient, p.client), code, opts...)
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			// The body may echo request data; only the error code is kept.
			if re.Response != nil && re.Response.StatusCode >= 500 {
				return nil, auth.Fail(auth.ErrUnavailable, "oidc: %s token endpoint: status %d", p.name, re.Response.StatusCode)
			}
			return nil, auth.Fail(auth.ErrInvalid, "oidc: %s token endpoint refused the code: %q", p.name, clip(re.ErrorCode))
		}
		return nil, auth.Fail(auth.ErrUnavailable, "oidc: %s token endpoint: %v", p.name, err)
	}
	return tok, nil
}

// checkIDToken makes the checks go-oidc leaves to its caller and returns the
// authentication time (auth_time, else iat).
func (p *Provider) checkIDToken(idt *gooidc.IDToken, claims map[string]any, accessToken string, pending auth.Pending) (time.Time, error) {
	now := p.now()
	skew := p.cfg.ClockSkew
	nonce, _ := claims["nonce"].(string)
	if pending.Nonce == "" || !equal(nonce, pending.Nonce) {
		return time.Time{}, auth.Fail(auth.ErrInvalid, "oidc: id token nonce does not match the login flow")
	}
	iat, ok := numericDate(claims["iat"])
	if !ok {
		return time.Time{}, auth.Fail(auth.ErrInvalid, "oidc: id token without iat")
	}
	if iat.After(now.Add(skew)) {
		return time.Time{}, auth.Fail(auth.ErrInvalid, "oidc: id token issued in the future (iat %s)", iat.UTC().Format(time.RFC3339))
	}
	if _, ok := numericDate(claims["exp"]); !ok {
		return time.Time{}, auth.Fail(auth.ErrInvalid, "oidc: id token without exp")
	}
	if idt.Subject == "" {
		return time.Time{}, auth.Fail(auth.ErrInvalid, "oidc: id token without sub")
	}
	azp, hasAZP := claims["azp"]
	if len(idt.Audience) > 1 && !hasAZP {
		return time.Time{}, auth.Fail(auth.ErrInvalid, "oidc: id token with several audiences and no azp")
	}
	if hasAZP {
		if s, _ := azp.(string); s != p.cfg.ClientID {
			return time.Time{}, auth.Fail(auth.ErrInvalid, "oidc: id token azp is not our client_id")
		}
	}
	if idt.AccessTokenHash != "" {
		if err := idt.VerifyAccessToken(accessToken); err != nil {
			return time.Time{}, auth.Fail(auth.ErrInvalid, "oidc: at_hash: %v", err)
		}
	}
	authTime, hasAuthTime := numericDate(claims["auth_time"])
	if hasAuthTime && authTime.After(now.Add(skew)) {
		return time.Time{}, auth.Fail(auth.ErrInvalid, "oidc: auth_time in the future")
	}
	if pending.ForceAuthn {
		// max_age=0 was sent, which obliges the provider to send auth_time;
		// an older one means it reused a session instead of authenticating.
		if !hasAuthTime {
			return time.Time{}, auth.Fail(auth.ErrInvalid, "oidc: id token without auth_time although re-authentication was required")
		}
		if authTime.Before(pending.Created.Add(-skew)) {
			return time.Time{}, auth.Fail(auth.ErrInvalid, "oidc: authentication at %s predates the login request", authTime.UTC().Format(time.RFC3339))
		}
	}
	if !hasAuthTime {
		authTime = iat
	}
	return authTime.UTC(), nil
}

// checkLoA verifies the acr (and, for staff with require_mfa, the amr) and
// returns the level proven and the Swedish URI it came from.
func (p *Provider) checkLoA(claims map[string]any, pending auth.Pending) (auth.LoA, string, error) {
	acr, _ := claims["acr"].(string)
	uri := p.mapACR(acr)
	accepted := uri != "" && slices.Contains(pending.AcceptedURIs, uri)
	var loa auth.LoA
	if accepted {
		loa, _ = auth.LoAFromURI(uri)
	}
	if p.cfg.Kind == string(auth.Staff) && p.cfg.RequireMFA {
		if !slices.Contains(strs(claims, "amr"), "mfa") {
			return 0, "", auth.Fail(auth.ErrLoATooLow, "oidc: %s: multi-factor authentication required but amr lacks mfa", p.name)
		}
		if !accepted {
			loa, uri, accepted = auth.LoASubstantial, "", true
		}
	}
	switch {
	case acr == "" && !accepted:
		return 0, "", auth.Fail(auth.ErrLoATooLow, "oidc: %s: id token without acr", p.name)
	case !accepted:
		return 0, "", auth.Fail(auth.ErrLoATooLow, "oidc: %s: acr %q is not one that was asked for", p.name, clip(acr))
	case loa < pending.WantLoA:
		return 0, "", auth.Fail(auth.ErrLoATooLow, "oidc: %s: level %s below the %s asked for", p.name, loa, pending.WantLoA)
	}
	return loa, uri, nil
}

// personIdentity sets the citizen's personnummer, samordningsnummer or prid.
func (p *Provider) personIdentity(id *auth.Identity, attrs map[string]any, uri string) error {
	pnr := str(attrs, p.cfg.Claims.PersonalNumber)
	coord := str(attrs, p.cfg.Claims.CoordinationNumber)
	switch {
	case pnr != "" && coord != "":
		return auth.Fail(auth.ErrNoIdentity, "oidc: %s sent both a personnummer and a samordningsnummer", p.name)
	case pnr != "":
		if !auth.ValidPersonalNumber(pnr) {
			return auth.Fail(auth.ErrNoIdentity, "oidc: %s sent an invalid personal identity number", p.name)
		}
		id.PersonalNumber = pnr
		// Brokers deliver samordningsnummer in the same claim (day + 60).
		id.CoordinationNumber = pnr[6] >= '6'
	case coord != "":
		if !auth.ValidPersonalNumber(coord) || coord[6] < '6' {
			return auth.Fail(auth.ErrNoIdentity, "oidc: %s sent an invalid coordination number", p.name)
		}
		id.PersonalNumber = coord
		id.CoordinationNumber = true
	}
	id.PRID = str(attrs, p.cfg.Claims.PRID)
	if id.PersonalNumber == "" && id.PRID == "" {
		if auth.IsNonResidentURI(uri) {
			return auth.Fail(auth.ErrNoIdentity, "oidc: %s: non-resident login without prid", p.name)
		}
		return auth.Fail(auth.ErrNoIdentity, "oidc: %s sent neither personal identity number nor prid", p.name)
	}
	return nil
}

// roles maps the groups claim through role_map, sorted and without
// duplicates.
func (p *Provider) roles(attrs map[string]any) []string {
	var out []string
	for _, g := range strs(attrs, p.cfg.Claims.Groups) {
		out = append(out, p.cfg.RoleMap[g]...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// userinfo fetches the userinfo endpoint; a signed (application/jwt)
// response is verified with the provider's keys and its iss and aud checked.
func (p *Provider) userinfo(ctx context.Context, m *metadata, accessToken string) (map[string]any, error) {
	if m.userinfo == "" {
		return nil, auth.Fail(auth.ErrInvalid, "oidc: use_userinfo set but %s has no userinfo endpoint", p.name)
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.HTTPTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.userinfo, nil)
	if err != nil {
		return nil, auth.Fail(auth.ErrInvalid, "oidc: userinfo request: %v", err)
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, auth.Fail(auth.ErrUnavailable, "oidc: %s userinfo: %v", p.name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxUserinfoSize))
	if err != nil {
		return nil, auth.Fail(auth.ErrUnavailable, "oidc: %s userinfo: reading: %v", p.name, err)
	}
	if resp.StatusCode != http.StatusOK {
		code := auth.ErrInvalid
		if resp.StatusCode >= 500 {
			code = auth.ErrUnavailable
		}
		return nil, auth.Fail(code, "oidc: %s userinfo: status %d", p.name, resp.StatusCode)
	}
	signed := false
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err == nil && mt == "application/jwt" {
		body, err = m.keys.VerifySignature(ctx, string(bytes.TrimSpace(body)))
		if err != nil {
			return nil, auth.Fail(auth.ErrInvalid, "oidc: signed userinfo: %v", err)
		}
		signed = true
	}
	claims, err := decodeClaims(body)
	if err != nil {
		return nil, auth.Fail(auth.ErrInvalid, "oidc: userinfo: %v", err)
	}
	if signed {
		if iss, ok := claims["iss"]; ok && iss != p.cfg.Issuer {
			return nil, auth.Fail(auth.ErrInvalid, "oidc: signed userinfo from another issuer")
		}
		if _, ok := claims["aud"]; ok && !slices.Contains(strs(claims, "aud"), p.cfg.ClientID) {
			return nil, auth.Fail(auth.ErrInvalid, "oidc: signed userinfo for another audience")
		}
	}
	return claims, nil
}

// tokenClaims returns the ID token's claims with numbers kept exact.
func tokenClaims(idt *gooidc.IDToken) (map[string]any, error) {
	var raw json.RawMessage
	if err := idt.Claims(&raw); err != nil {
		return nil, err
	}
	return decodeClaims(raw)
}

func decodeClaims(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("decoding claims: %w", err)
	}
	if m == nil {
		return nil, errors.New("claims are not a JSON object")
	}
	return m, nil
}

// str returns a string claim; a number (some brokers send personnummer as
// one) is returned in its exact decimal form.
func str(m map[string]any, name string) string {
	switch v := m[name].(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	}
	return ""
}

// strs returns a claim that is a string or an array of strings.
func strs(m map[string]any, name string) []string {
	switch v := m[name].(type) {
	case string:
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// equal compares two secrets in constant time.
func equal(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// clip shortens a provider-supplied value before it goes into an error, and
// drops control characters so it cannot forge log lines.
func clip(s string) string {
	const max = 80
	if len(s) > max {
		s = s[:max] + "…"
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
}
