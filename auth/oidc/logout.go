package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/civicgate/civicgate/auth"
)

// BackChannelLogoutEvent is the member of a logout token's events claim
// that marks it as an OIDC back-channel logout.
const BackChannelLogoutEvent = "http://schemas.openid.net/event/backchannel-logout"

// LogoutURL implements auth.Logouter with OIDC RP-Initiated Logout 1.0. The
// gateway does not keep ID tokens, so instead of id_token_hint the URL
// carries client_id and, per Config.LogoutHint, a logout_hint with the
// identity's sub or sid. postLogoutRedirect, when not empty, must be an
// absolute URL registered at the provider. It returns "" when the provider
// has no end_session_endpoint.
func (p *Provider) LogoutURL(ctx context.Context, id auth.Identity, postLogoutRedirect string) (string, error) {
	if id.IdP != "" && id.IdP != p.name {
		return "", fmt.Errorf("oidc: identity from provider %q, not %q", id.IdP, p.name)
	}
	m, err := p.discover(ctx)
	if err != nil {
		return "", err
	}
	if m.endSession == "" {
		return "", nil
	}
	u, err := url.Parse(m.endSession)
	if err != nil {
		return "", fmt.Errorf("oidc: %s: bad end_session_endpoint: %w", p.name, err)
	}
	q := u.Query()
	q.Set("client_id", p.cfg.ClientID)
	if postLogoutRedirect != "" {
		q.Set("post_logout_redirect_uri", postLogoutRedirect)
	}
	switch p.cfg.LogoutHint {
	case "sub":
		if id.Subject != "" {
			q.Set("logout_hint", id.Subject)
		}
	case "sid":
		if id.SessionIndex != "" {
			q.Set("logout_hint", id.SessionIndex)
		}
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// VerifyLogoutToken verifies a back-channel logout token (OIDC Back-Channel
// Logout 1.0, section 2.6): signature with an allowed algorithm and the
// provider's keys, iss, aud, exp, iat (not in the future beyond the clock
// skew), the events claim holding the back-channel-logout member as a JSON
// object, a sub or sid, no nonce, and a jti. It returns the token's issuer,
// subject, session ID and jti; the caller must refuse a jti it has seen
// before (replay) and then end every session of that sid (or sub).
func (p *Provider) VerifyLogoutToken(ctx context.Context, raw string) (iss, sub, sid, jti string, err error) {
	m, err := p.discover(ctx)
	if err != nil {
		return "", "", "", "", err
	}
	lt, err := m.verifier.VerifyLogout(ctx, raw)
	if err != nil {
		return "", "", "", "", fmt.Errorf("oidc: %s: logout token: %w", p.name, err)
	}
	var extra struct {
		IssuedAt json.Number                `json:"iat"`
		Events   map[string]json.RawMessage `json:"events"`
	}
	if err := lt.Claims(&extra); err != nil {
		return "", "", "", "", fmt.Errorf("oidc: %s: logout token claims: %w", p.name, err)
	}
	iat, ok := numericDate(extra.IssuedAt)
	if extra.IssuedAt == "" || !ok {
		return "", "", "", "", fmt.Errorf("oidc: %s: logout token without iat", p.name)
	}
	if iat.After(p.now().Add(p.cfg.ClockSkew)) {
		return "", "", "", "", fmt.Errorf("oidc: %s: logout token issued in the future (iat %s)", p.name, iat.UTC().Format(time.RFC3339))
	}
	var event map[string]any
	if err := json.Unmarshal(extra.Events[BackChannelLogoutEvent], &event); err != nil || event == nil {
		return "", "", "", "", errors.New("oidc: " + p.name + ": logout token event is not a JSON object")
	}
	return lt.Issuer, lt.Subject, lt.SessionID, lt.TokenID, nil
}
