package oidc

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/civicgate/civicgate/auth"
)

func TestKeyRotation(t *testing.T) {
	clock := newClock()
	op := newFakeOP(t, clock)
	p := newProvider(t, op, testConfig(t, op))

	if _, err := login(t, p, auth.LoASubstantial, false); err != nil {
		t.Fatalf("login with k1: %v", err)
	}
	if n := op.jwksFetches.Load(); n != 1 {
		t.Fatalf("%d JWKS fetches for the first login, want 1", n)
	}
	if _, err := login(t, p, auth.LoASubstantial, false); err != nil {
		t.Fatalf("second login with k1: %v", err)
	}
	if n := op.jwksFetches.Load(); n != 1 {
		t.Fatalf("cached key refetched: %d fetches", n)
	}

	op.rotate("k2")
	clock.Advance(time.Second)
	// Right after a fetch the new kid is not looked up yet: the refresh
	// interval protects the OP.
	_, err := login(t, p, auth.LoASubstantial, false)
	wantCode(t, err, auth.ErrInvalid)
	if n := op.jwksFetches.Load(); n != 1 {
		t.Fatalf("JWKS refetched within the interval: %d fetches", n)
	}
	clock.Advance(30 * time.Second)
	if _, err := login(t, p, auth.LoASubstantial, false); err != nil {
		t.Fatalf("login with rotated key k2: %v", err)
	}
	if n := op.jwksFetches.Load(); n != 2 {
		t.Fatalf("%d JWKS fetches after rotation, want 2", n)
	}
}

// TestUnknownKidFlood sends many ID tokens with random kids, in sequence and
// concurrently: the JWKS must be fetched at most twice (once for the first
// verification, once more after the interval).
func TestUnknownKidFlood(t *testing.T) {
	clock := newClock()
	op := newFakeOP(t, clock)
	p := newProvider(t, op, testConfig(t, op))
	op.sign = func(c map[string]any) string {
		return signJWT(op.t, "RS256", op.key, randomString(), c)
	}
	for i := 0; i < 20; i++ {
		_, err := login(t, p, auth.LoASubstantial, false)
		wantCode(t, err, auth.ErrInvalid)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ch, err := p.Begin(context.Background(), auth.LoASubstantial, "/", false)
			if err != nil {
				errs <- err
				return
			}
			_, err = finish(p, authorize(t, ch), ch.Pending)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if auth.CodeOf(err) != auth.ErrInvalid || err == nil {
			t.Fatalf("flood login: %v", err)
		}
	}
	if n := op.jwksFetches.Load(); n < 1 || n > 2 {
		t.Fatalf("%d JWKS fetches for 60 unknown kids, want 1–2", n)
	}
}

// TestKeySetSharesFetch checks that concurrent misses wait for one fetch.
func TestKeySetSharesFetch(t *testing.T) {
	clock := newClock()
	op := newFakeOP(t, clock)
	ks := newKeySet(op.issuer()+"/jwks", op.srv.Client(), clock.Now, time.Minute, time.Second)
	claims := map[string]any{"sub": "x"}
	good := op.signRS256(claims)
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := ks.VerifySignature(context.Background(), good); err != nil {
				t.Errorf("verify: %v", err)
			}
		}()
	}
	wg.Wait()
	if n := op.jwksFetches.Load(); n != 1 || ks.fetchCount() != 1 {
		t.Fatalf("%d fetches (%d started) for 50 concurrent first uses, want 1", n, ks.fetchCount())
	}
}
