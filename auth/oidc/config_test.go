package oidc

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/civicgate/civicgate/auth"
)

func ExampleConfig_Validate() {
	cfg := Config{
		Issuer:      "http://op.example.se",
		ClientAuth:  PrivateKeyJWT,
		RedirectURL: "https://gw.example.se/login/freja/callback#x",
		Scopes:      []string{"profile"},
		AcrMap:      map[string]string{"bankid": "urn:unknown"},
		Kind:        "staff",
		ClockSkew:   time.Hour,
	}
	fmt.Println(cfg.Validate())
	// Output:
	// issuer: must use https (http only for localhost)
	// client_id: required
	// private_key_file: required with client_auth private_key_jwt
	// redirect_url: must be an absolute URL without user info or fragment
	// scopes: must include openid
	// acr_map.bankid: "urn:unknown" is not a known level of assurance URI
	// role_map: required with kind staff
	// clock_skew: must be between 0 and 5m0s
}

func TestValidateAcceptsMinimal(t *testing.T) {
	cfg := Config{
		Issuer:           "https://op.example.se",
		ClientID:         "gw",
		ClientSecretFile: "/run/secrets/op",
		RedirectURL:      "https://gw.example.se/login/op/callback",
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	cfg.LoARequest = LoARequestNone
	if err := cfg.Validate(); err == nil {
		t.Fatal("loa_request none accepted for citizens")
	}
}

// TestLazyDiscovery checks that the gateway can start while the OP is down
// and that discovery is retried, but not on every request.
func TestLazyDiscovery(t *testing.T) {
	clock := newClock()
	op := newFakeOP(t, clock)
	op.down = true
	p, err := New(context.Background(), "freja", testConfig(t, op), Options{
		HTTPClient:     op.srv.Client(),
		Now:            clock.Now,
		DiscoveryRetry: 10 * time.Second,
	})
	if err != nil {
		t.Fatalf("New must succeed while the OP is down: %v", err)
	}
	if err := p.Ready(context.Background()); auth.CodeOf(err) != auth.ErrUnavailable || err == nil {
		t.Fatalf("Ready while down: %v", err)
	}
	_, err = p.Begin(context.Background(), auth.LoASubstantial, "/", false)
	wantCode(t, err, auth.ErrUnavailable)

	op.mu.Lock()
	op.down = false
	op.mu.Unlock()
	if err := p.Ready(context.Background()); err == nil {
		t.Fatal("discovery retried before the retry interval")
	}
	clock.Advance(11 * time.Second)
	if err := p.Ready(context.Background()); err != nil {
		t.Fatalf("Ready after the OP came back: %v", err)
	}
	if _, err := login(t, p, auth.LoASubstantial, false); err != nil {
		t.Fatal(err)
	}
	if info := p.Info(); info.Name != "freja" || info.Protocol != "oidc" || info.MaxLoA != auth.LoAHigh || info.Kind != auth.Citizen || info.DisplaySv != "Freja eID" {
		t.Fatalf("info %+v", info)
	}
}
