// Package sessiontest is the conformance suite for session backends: the
// same named subtests run against the memory and the Redis implementations
// of session.Store, session.Flows, session.ReplayCache and session.Limiter,
// so the two cannot drift apart.
//
// Expiry is tested without sleeping: each constructor returns a FastForward
// that moves the backend's clock. Backends must therefore take "now" from
// an injectable clock for every expiry decision (the Redis backend passes
// its clock to its scripts and uses real Redis TTLs only to collect
// garbage); Clock is a ready-made one.
package sessiontest

import (
	"sync"
	"testing"
	"time"

	"github.com/civicgate/civicgate/auth/session"
)

// FastForward moves the clock of the backend under test forward by d and
// returns the new time; FastForward(0) only reads the clock.
type FastForward func(d time.Duration) time.Time

// Clock is a manual clock for backends' Now hooks. It is safe for
// concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock standing at start, truncated to the millisecond
// (the Redis backend's resolution) and in UTC.
func NewClock(start time.Time) *Clock {
	return &Clock{t: start.Truncate(time.Millisecond).UTC()}
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d and returns the new time; it is a
// FastForward.
func (c *Clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

// Backend holds a backend's constructors for Run. Each constructor returns a
// fresh, empty instance (its own namespace) for one subtest and registers
// its clean-up with t.Cleanup. A nil constructor skips that part.
type Backend struct {
	Store   func(t *testing.T) (session.Store, FastForward)
	Flows   func(t *testing.T) (session.Flows, FastForward)
	Replay  func(t *testing.T) (session.ReplayCache, FastForward)
	Limiter func(t *testing.T) (session.Limiter, FastForward)
}

// Run runs every suite whose constructor b has, as subtests Store, Flows,
// Replay and Limiter.
func Run(t *testing.T, b Backend) {
	if b.Store != nil {
		t.Run("Store", func(t *testing.T) { RunStoreTests(t, b.Store) })
	}
	if b.Flows != nil {
		t.Run("Flows", func(t *testing.T) { RunFlowsTests(t, b.Flows) })
	}
	if b.Replay != nil {
		t.Run("Replay", func(t *testing.T) { RunReplayTests(t, b.Replay) })
	}
	if b.Limiter != nil {
		t.Run("Limiter", func(t *testing.T) { RunLimiterTests(t, b.Limiter) })
	}
}
