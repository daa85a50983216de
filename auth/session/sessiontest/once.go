package sessiontest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/civicgate/civicgate/auth"
	"github.com/civicgate/civicgate/auth/session"
)

// RunFlowsTests runs the session.Flows conformance suite.
func RunFlowsTests(t *testing.T, newFlows func(t *testing.T) (session.Flows, FastForward)) {
	tests := []struct {
		name string
		fn   func(t *testing.T, f session.Flows, ff FastForward)
	}{
		{"RoundTrip", testFlowRoundTrip},
		{"SingleUse", testFlowSingleUse},
		{"Unknown", testFlowUnknown},
		{"Expiry", testFlowExpiry},
		{"InvalidInput", testFlowInvalid},
		{"ConcurrentTake", testFlowConcurrentTake},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, ff := newFlows(t)
			tc.fn(t, f, ff)
		})
	}
}

func pending(now time.Time) auth.Pending {
	return auth.Pending{
		ID:           session.NewID(),
		IdP:          "freja",
		RequestID:    "state-" + session.NewID(),
		Nonce:        session.NewID(),
		CodeVerifier: session.NewID(),
		WantLoA:      auth.LoAHigh,
		AcceptedURIs: []string{auth.URILoA4, auth.URIEidasHigh},
		ForceAuthn:   true,
		ReturnTo:     "/e/schoolabsence/new?child=1",
		Created:      now.UTC(),
	}
}

func testFlowRoundTrip(t *testing.T, f session.Flows, ff FastForward) {
	ctx := context.Background()
	p := pending(ff(0))
	if err := f.Save(ctx, p, 10*time.Minute); err != nil {
		t.Fatalf("Save: %v", err)
	}
	got, err := f.Take(ctx, p.ID)
	if err != nil {
		t.Fatalf("Take: %v", err)
	}
	got.Created = got.Created.UTC()
	if !reflect.DeepEqual(got, p) {
		t.Errorf("Take returned\n%+v\nwant\n%+v", got, p)
	}
}

func testFlowSingleUse(t *testing.T, f session.Flows, ff FastForward) {
	ctx := context.Background()
	p, q := pending(ff(0)), pending(ff(0))
	for _, x := range []auth.Pending{p, q} {
		if err := f.Save(ctx, x, 10*time.Minute); err != nil {
			t.Fatalf("Save: %v", err)
		}
	}
	if _, err := f.Take(ctx, p.ID); err != nil {
		t.Fatalf("first Take: %v", err)
	}
	if _, err := f.Take(ctx, p.ID); !errors.Is(err, session.ErrNotFound) {
		t.Errorf("second Take: %v, want ErrNotFound", err)
	}
	if got, err := f.Take(ctx, q.ID); err != nil || got.RequestID != q.RequestID {
		t.Errorf("Take of another flow = (%v, %v), want it untouched", got.RequestID == q.RequestID, err)
	}
}

func testFlowUnknown(t *testing.T, f session.Flows, _ FastForward) {
	for _, id := range []string{session.NewID(), ""} {
		if _, err := f.Take(context.Background(), id); !errors.Is(err, session.ErrNotFound) {
			t.Errorf("Take of an unknown flow: %v, want ErrNotFound", err)
		}
	}
}

func testFlowExpiry(t *testing.T, f session.Flows, ff FastForward) {
	ctx := context.Background()
	p, q := pending(ff(0)), pending(ff(0))
	for _, x := range []auth.Pending{p, q} {
		if err := f.Save(ctx, x, 5*time.Minute); err != nil {
			t.Fatalf("Save: %v", err)
		}
	}
	ff(5*time.Minute - time.Millisecond)
	if _, err := f.Take(ctx, p.ID); err != nil {
		t.Errorf("Take just before the TTL: %v", err)
	}
	ff(time.Millisecond)
	if _, err := f.Take(ctx, q.ID); !errors.Is(err, session.ErrNotFound) {
		t.Errorf("Take at the TTL: %v, want ErrNotFound", err)
	}
}

func testFlowInvalid(t *testing.T, f session.Flows, ff FastForward) {
	ctx := context.Background()
	p := pending(ff(0))
	if err := f.Save(ctx, p, 0); err == nil {
		t.Error("Save with a zero TTL succeeded, want an error")
	}
	p.ID = ""
	if err := f.Save(ctx, p, time.Minute); err == nil {
		t.Error("Save without an ID succeeded, want an error")
	}
}

func testFlowConcurrentTake(t *testing.T, f session.Flows, ff FastForward) {
	ctx := context.Background()
	const rounds, takers = 20, 8
	for range rounds {
		p := pending(ff(0))
		if err := f.Save(ctx, p, time.Minute); err != nil {
			t.Fatalf("Save: %v", err)
		}
		var wins atomic.Int32
		var wg sync.WaitGroup
		errs := make(chan error, takers)
		start := make(chan struct{})
		for range takers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				got, err := f.Take(ctx, p.ID)
				switch {
				case err == nil && got.RequestID == p.RequestID:
					wins.Add(1)
				case err == nil:
					errs <- errors.New("a Take returned another flow")
				case !errors.Is(err, session.ErrNotFound):
					errs <- err
				}
			}()
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if n := wins.Load(); n != 1 {
			t.Fatalf("%d of %d concurrent Takes won, want exactly 1", n, takers)
		}
	}
}

// RunReplayTests runs the session.ReplayCache conformance suite.
func RunReplayTests(t *testing.T, newCache func(t *testing.T) (session.ReplayCache, FastForward)) {
	tests := []struct {
		name string
		fn   func(t *testing.T, c session.ReplayCache, ff FastForward)
	}{
		{"FirstUseThenReplay", testReplayOnce},
		{"KeptThroughGrace", testReplayGrace},
		{"PastExpiryStillRecorded", testReplayPastExpiry},
		{"ConcurrentFirstUse", testReplayConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, ff := newCache(t)
			tc.fn(t, c, ff)
		})
	}
}

func firstUse(t *testing.T, c session.ReplayCache, key string, expiry time.Time, want bool, when string) {
	t.Helper()
	got, err := c.FirstUse(context.Background(), key, expiry)
	if err != nil {
		t.Fatalf("FirstUse %s: %v", when, err)
	}
	if got != want {
		t.Errorf("FirstUse %s = %v, want %v", when, got, want)
	}
}

func testReplayOnce(t *testing.T, c session.ReplayCache, ff FastForward) {
	exp := ff(0).Add(5 * time.Minute)
	key := "saml:_" + session.NewID()
	firstUse(t, c, key, exp, true, "of a new assertion ID")
	firstUse(t, c, key, exp, false, "of the same ID (a replay)")
	firstUse(t, c, key, exp.Add(time.Hour), false, "of the same ID with a later expiry")
	firstUse(t, c, "oidc:"+key, exp, true, "of another key")
}

func testReplayGrace(t *testing.T, c session.ReplayCache, ff FastForward) {
	exp := ff(0).Add(5 * time.Minute)
	key := "jti-" + session.NewID()
	firstUse(t, c, key, exp, true, "first")
	ff(5 * time.Minute)
	firstUse(t, c, key, exp, false, "at expiry (still within the grace)")
	ff(session.ReplayGrace - time.Millisecond)
	firstUse(t, c, key, exp, false, "just before the grace ends")
	ff(time.Millisecond)
	firstUse(t, c, key, exp, true, "after expiry and grace (forgotten)")
}

func testReplayPastExpiry(t *testing.T, c session.ReplayCache, ff FastForward) {
	key := "jti-" + session.NewID()
	past := ff(0).Add(-time.Hour)
	firstUse(t, c, key, past, true, "first, with an expiry in the past")
	firstUse(t, c, key, past, false, "again, with an expiry in the past")
}

func testReplayConcurrent(t *testing.T, c session.ReplayCache, ff FastForward) {
	const rounds, users = 20, 8
	for r := range rounds {
		key := fmt.Sprintf("round-%d-%s", r, session.NewID())
		exp := ff(0).Add(time.Minute)
		var firsts atomic.Int32
		var wg sync.WaitGroup
		errs := make(chan error, users)
		start := make(chan struct{})
		for range users {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				ok, err := c.FirstUse(context.Background(), key, exp)
				if err != nil {
					errs <- err
				} else if ok {
					firsts.Add(1)
				}
			}()
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if n := firsts.Load(); n != 1 {
			t.Fatalf("%d of %d concurrent FirstUse calls answered true, want exactly 1", n, users)
		}
	}
}

// RunLimiterTests runs the session.Limiter conformance suite.
func RunLimiterTests(t *testing.T, newLimiter func(t *testing.T) (session.Limiter, FastForward)) {
	tests := []struct {
		name string
		fn   func(t *testing.T, l session.Limiter, ff FastForward)
	}{
		{"CountsAndRetryAfter", testLimiterCounts},
		{"KeysAndWindowsIndependent", testLimiterIndependent},
		{"InvalidArguments", testLimiterInvalid},
		{"Concurrency", testLimiterConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, ff := newLimiter(t)
			tc.fn(t, l, ff)
		})
	}
}

func allow(t *testing.T, l session.Limiter, key string, limit int, window time.Duration) (bool, time.Duration) {
	t.Helper()
	ok, retry, err := l.Allow(context.Background(), key, limit, window)
	if err != nil {
		t.Fatalf("Allow: %v", err)
	}
	if ok && retry != 0 {
		t.Errorf("Allow allowed with retryAfter %v, want 0", retry)
	}
	return ok, retry
}

func testLimiterCounts(t *testing.T, l session.Limiter, ff FastForward) {
	const limit, window = 3, time.Minute
	key := "login:" + session.NewID()
	// Start at the beginning of a window so the whole test stays inside it.
	_, end := session.Window(ff(0), window)
	ff(end.Sub(ff(0)))
	for i := range limit {
		if ok, _ := allow(t, l, key, limit, window); !ok {
			t.Fatalf("event %d of %d refused", i+1, limit)
		}
	}
	ff(10 * time.Second)
	ok, retry := allow(t, l, key, limit, window)
	if ok {
		t.Fatal("event over the limit allowed")
	}
	if retry != window-10*time.Second {
		t.Errorf("retryAfter = %v, want %v (the rest of the window)", retry, window-10*time.Second)
	}
	ff(retry - time.Millisecond)
	if ok, retry := allow(t, l, key, limit, window); ok || retry != time.Millisecond {
		t.Errorf("Allow a millisecond before the window ends = (%v, %v), want (false, 1ms)", ok, retry)
	}
	ff(time.Millisecond)
	if ok, _ := allow(t, l, key, limit, window); !ok {
		t.Error("first event of the next window refused")
	}
}

func testLimiterIndependent(t *testing.T, l session.Limiter, ff FastForward) {
	_, end := session.Window(ff(0), time.Hour)
	ff(end.Sub(ff(0)))
	a, b := "ip:192.0.2.1:"+session.NewID(), "ip:192.0.2.2:"+session.NewID()
	if ok, _ := allow(t, l, a, 1, time.Hour); !ok {
		t.Fatal("first event refused")
	}
	if ok, _ := allow(t, l, a, 1, time.Hour); ok {
		t.Fatal("second event over a limit of 1 allowed")
	}
	if ok, _ := allow(t, l, b, 1, time.Hour); !ok {
		t.Error("another key was limited by the first key's events")
	}
	if ok, _ := allow(t, l, a, 1, time.Minute); !ok {
		t.Error("the same key with another window was limited by the first window's events")
	}
}

func testLimiterInvalid(t *testing.T, l session.Limiter, _ FastForward) {
	for _, c := range []struct {
		limit  int
		window time.Duration
	}{{0, time.Minute}, {-1, time.Minute}, {1, 0}, {1, time.Microsecond}} {
		if ok, _, err := l.Allow(context.Background(), "k", c.limit, c.window); err == nil || ok {
			t.Errorf("Allow(limit %d, window %v) = (%v, %v), want refusal with an error", c.limit, c.window, ok, err)
		}
	}
}

func testLimiterConcurrent(t *testing.T, l session.Limiter, ff FastForward) {
	const limit, callers = 5, 24
	_, end := session.Window(ff(0), time.Hour)
	ff(end.Sub(ff(0)))
	key := "conc:" + session.NewID()
	var allowed atomic.Int32
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, _, err := l.Allow(context.Background(), key, limit, time.Hour)
			if err != nil {
				errs <- err
			} else if ok {
				allowed.Add(1)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := allowed.Load(); n != limit {
		t.Errorf("%d of %d concurrent events allowed, want exactly %d", n, callers, limit)
	}
}
