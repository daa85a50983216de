package memory_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/civicgate/civicgate/auth"
	"github.com/civicgate/civicgate/auth/session"
	"github.com/civicgate/civicgate/auth/session/memory"
	"github.com/civicgate/civicgate/auth/session/sessiontest"
)

func newMemory(t *testing.T) (*memory.Memory, sessiontest.FastForward) {
	clock := sessiontest.NewClock(time.Now())
	m := memory.New(memory.Options{Now: clock.Now})
	t.Cleanup(func() { m.Close() })
	return m, clock.Advance
}

func TestConformance(t *testing.T) {
	sessiontest.Run(t, sessiontest.Backend{
		Store:   func(t *testing.T) (session.Store, sessiontest.FastForward) { return newMemory(t) },
		Flows:   func(t *testing.T) (session.Flows, sessiontest.FastForward) { return newMemory(t) },
		Replay:  func(t *testing.T) (session.ReplayCache, sessiontest.FastForward) { return newMemory(t) },
		Limiter: func(t *testing.T) (session.Limiter, sessiontest.FastForward) { return newMemory(t) },
	})
}

// TestJanitor checks that expired entries are dropped in the background,
// not only when looked up, so a dev server does not grow without bound.
func TestJanitor(t *testing.T) {
	clock := sessiontest.NewClock(time.Now())
	m := memory.New(memory.Options{Now: clock.Now, JanitorInterval: time.Millisecond})
	defer m.Close()
	ctx := context.Background()
	now := clock.Now()
	s := &session.Session{
		ID:          session.NewID(),
		Identity:    auth.Identity{Kind: auth.Citizen, PersonalNumber: "198107249289", IdP: "bankid", SessionIndex: "sid"},
		Created:     now,
		Expires:     now.Add(time.Hour),
		IdleTimeout: time.Minute,
	}
	if err := m.Put(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := m.Save(ctx, auth.Pending{ID: "flow"}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := m.FirstUse(ctx, "assertion", now); err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.Allow(ctx, "k", 1, time.Minute); err != nil {
		t.Fatal(err)
	}
	if n := m.Len(); n != 4 {
		t.Fatalf("Len = %d before expiry, want 4", n)
	}
	clock.Advance(2 * time.Hour)
	deadline := time.Now().Add(5 * time.Second)
	for m.Len() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("janitor left %d entries after everything expired", m.Len())
		}
		time.Sleep(time.Millisecond)
	}
	if _, err := m.Get(ctx, s.ID); !errors.Is(err, session.ErrNotFound) {
		t.Errorf("Get after the janitor ran: %v, want ErrNotFound", err)
	}
	if err := m.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestIdleSlackIsTheSuites checks the backend's rule against the one the
// conformance suite states, beyond the 15-minute idle timeout it tests.
func TestIdleSlackIsTheSuites(t *testing.T) {
	for _, idle := range []time.Duration{0, -time.Second, time.Millisecond, 59 * time.Millisecond, 60 * time.Millisecond,
		119*time.Millisecond + 999*time.Microsecond, time.Second, time.Minute, 15*time.Minute + 7, 15 * time.Minute, 2 * time.Hour} {
		if got, want := memory.IdleSlack(idle), sessiontest.IdleSlack(idle); got != want {
			t.Errorf("IdleSlack(%v) = %v, the suite says %v", idle, got, want)
		}
	}
}
