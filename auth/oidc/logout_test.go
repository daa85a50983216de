package oidc

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/civicgate/civicgate/auth"
)

func logoutClaims(op *fakeOP) map[string]any {
	now := op.clock.Now()
	return map[string]any{
		"iss":    op.issuer(),
		"aud":    op.clientID,
		"iat":    now.Unix(),
		"exp":    now.Add(2 * time.Minute).Unix(),
		"jti":    "logout-jti-1",
		"sid":    testSID,
		"sub":    testSubject,
		"events": map[string]any{BackChannelLogoutEvent: map[string]any{}},
	}
}

func TestVerifyLogoutToken(t *testing.T) {
	op := newFakeOP(t, newClock())
	p := newProvider(t, op, testConfig(t, op))

	iss, sub, sid, jti, err := p.VerifyLogoutToken(context.Background(), op.signRS256(logoutClaims(op)))
	if err != nil {
		t.Fatalf("valid logout token: %v", err)
	}
	if iss != op.issuer() || sub != testSubject || sid != testSID || jti != "logout-jti-1" {
		t.Fatalf("got %q %q %q %q", iss, sub, sid, jti)
	}

	bad := []struct {
		name   string
		change func(c map[string]any)
		token  func(c map[string]any) string
	}{
		{name: "missing events", change: func(c map[string]any) { delete(c, "events") }},
		{name: "other event", change: func(c map[string]any) { c["events"] = map[string]any{"urn:example:event": map[string]any{}} }},
		{name: "event not an object", change: func(c map[string]any) { c["events"] = map[string]any{BackChannelLogoutEvent: "yes"} }},
		{name: "with nonce", change: func(c map[string]any) { c["nonce"] = "n" }},
		{name: "wrong aud", change: func(c map[string]any) { c["aud"] = "another-client" }},
		{name: "wrong iss", change: func(c map[string]any) { c["iss"] = "https://evil.example.com" }},
		{name: "no jti", change: func(c map[string]any) { delete(c, "jti") }},
		{name: "neither sub nor sid", change: func(c map[string]any) { delete(c, "sub"); delete(c, "sid") }},
		{name: "missing iat", change: func(c map[string]any) { delete(c, "iat") }},
		{name: "iat in the future", change: func(c map[string]any) { c["iat"] = op.clock.Now().Add(time.Hour).Unix() }},
		{name: "expired", change: func(c map[string]any) { c["exp"] = op.clock.Now().Add(-time.Hour).Unix() }},
		{name: "alg none", token: unsignedJWT},
		{name: "HS256", token: func(c map[string]any) string {
			return signJWT(t, jose.HS256, []byte("0123456789abcdef0123456789abcdef"), op.kid, c)
		}},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			c := logoutClaims(op)
			if tc.change != nil {
				tc.change(c)
			}
			raw := ""
			if tc.token != nil {
				raw = tc.token(c)
			} else {
				raw = op.signRS256(c)
			}
			if _, _, _, _, err := p.VerifyLogoutToken(context.Background(), raw); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestLogoutURL(t *testing.T) {
	op := newFakeOP(t, newClock())
	cfg := testConfig(t, op)
	p := newProvider(t, op, cfg)
	id := auth.Identity{IdP: "freja", Subject: testSubject, SessionIndex: testSID, PersonalNumber: testPNR}
	got, err := p.LogoutURL(context.Background(), id, "https://gw.example.se/logged-out")
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(got)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if u.Path != "/logout" || q.Get("tenant") != "kommun" || q.Get("client_id") != op.clientID ||
		q.Get("post_logout_redirect_uri") != "https://gw.example.se/logged-out" || q.Get("logout_hint") != testSubject {
		t.Fatalf("logout URL %s", got)
	}
	if q.Has("id_token_hint") || strings.Contains(got, testPNR) {
		t.Fatalf("logout URL carries more than it should: %s", got)
	}

	cfg.LogoutHint = "sid"
	got, _ = newProvider(t, op, cfg).LogoutURL(context.Background(), id, "")
	if u, _ := url.Parse(got); u.Query().Get("logout_hint") != testSID || u.Query().Has("post_logout_redirect_uri") {
		t.Fatalf("logout URL with sid hint %s", got)
	}

	if _, err := p.LogoutURL(context.Background(), auth.Identity{IdP: "bankid"}, ""); err == nil {
		t.Fatal("identity of another provider accepted")
	}

	op.noEndSession = true
	got, err = newProvider(t, op, testConfig(t, op)).LogoutURL(context.Background(), id, "https://gw.example.se/")
	if err != nil || got != "" {
		t.Fatalf("without end_session_endpoint: %q, %v", got, err)
	}
}
