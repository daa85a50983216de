package redisstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/civicgate/civicgate/auth"
	"github.com/civicgate/civicgate/auth/session"
	redisstore "github.com/civicgate/civicgate/auth/session/redis"
	"github.com/civicgate/civicgate/auth/session/sessiontest"
)

// The tests talk to a real Redis: CIVICGATE_REDIS_ADDR (default
// 127.0.0.1:6379). A Redis that cannot be reached fails the tests, so CI
// cannot pass without one; CIVICGATE_NO_REDIS=1 skips them instead.
//
// Expiry without sleeping: the Store takes every expiry decision with its
// Now hook (the scripts receive the time), so FastForward advances a
// sessiontest.Clock that starts at the real time. Redis's own TTLs are set
// from the same clock and then only lie in the future, never in the past;
// TestRedisTTL and TestRealExpiry check them against real time separately.

func redisAddr() string {
	if a := os.Getenv("CIVICGATE_REDIS_ADDR"); a != "" {
		return a
	}
	return "127.0.0.1:6379"
}

// testClient returns a client for the test Redis, failing the test when
// Redis cannot be reached.
func testClient(tb testing.TB) redis.UniversalClient {
	tb.Helper()
	if os.Getenv("CIVICGATE_NO_REDIS") == "1" {
		tb.Skip("CIVICGATE_NO_REDIS=1: skipping tests that need Redis")
	}
	c, err := redisstore.NewClient(redisstore.Config{Addrs: []string{redisAddr()}})
	if err != nil {
		tb.Fatalf("NewClient: %v", err)
	}
	tb.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		tb.Fatalf("Redis at %s is not reachable (%v): start Redis, point CIVICGATE_REDIS_ADDR at it, or set CIVICGATE_NO_REDIS=1 to skip these tests", redisAddr(), err)
	}
	return c
}

// testPrefix returns a key prefix unique to this test run and deletes every
// key under it when the test ends, so tests can share a Redis with others.
func testPrefix(tb testing.TB, c redis.UniversalClient) string {
	tb.Helper()
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		tb.Fatal(err)
	}
	prefix := "cgtest:" + hex.EncodeToString(b[:]) + ":"
	tb.Cleanup(func() {
		ctx := context.Background()
		keys := scanKeys(tb, c, prefix)
		if len(keys) > 0 {
			if err := c.Del(ctx, keys...).Err(); err != nil {
				tb.Errorf("cleaning up test keys: %v", err)
			}
		}
	})
	return prefix
}

func scanKeys(tb testing.TB, c redis.UniversalClient, prefix string) []string {
	tb.Helper()
	var keys []string
	iter := c.Scan(context.Background(), 0, prefix+"*", 1000).Iterator()
	for iter.Next(context.Background()) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		tb.Fatalf("SCAN: %v", err)
	}
	return keys
}

type fixture struct {
	store  *redisstore.Store
	client redis.UniversalClient
	clock  *sessiontest.Clock
	prefix string
}

func newFixture(tb testing.TB) fixture {
	c := testClient(tb)
	prefix := testPrefix(tb, c)
	clock := sessiontest.NewClock(time.Now())
	return fixture{
		store:  redisstore.New(c, redisstore.Options{Prefix: prefix, Now: clock.Now}),
		client: c,
		clock:  clock,
		prefix: prefix,
	}
}

func newStore(t *testing.T) (*redisstore.Store, sessiontest.FastForward) {
	f := newFixture(t)
	return f.store, f.clock.Advance
}

func TestConformance(t *testing.T) {
	sessiontest.Run(t, sessiontest.Backend{
		Store:   func(t *testing.T) (session.Store, sessiontest.FastForward) { return newStore(t) },
		Flows:   func(t *testing.T) (session.Flows, sessiontest.FastForward) { return newStore(t) },
		Replay:  func(t *testing.T) (session.ReplayCache, sessiontest.FastForward) { return newStore(t) },
		Limiter: func(t *testing.T) (session.Limiter, sessiontest.FastForward) { return newStore(t) },
	})
}

func citizenSession(now time.Time, pnr, sid string, idle, absolute time.Duration) *session.Session {
	return &session.Session{
		ID: session.NewID(),
		Identity: auth.Identity{
			Kind: auth.Citizen, PersonalNumber: pnr, GivenName: "Anna", LoA: auth.LoASubstantial,
			IdP: "bankid", Method: "saml", SessionIndex: sid, AuthTime: now,
		},
		CSRF:        session.NewID(),
		Created:     now,
		Expires:     now.Add(absolute),
		IdleTimeout: idle,
		LastSeen:    now,
	}
}

// TestNoSecretsInKeys checks that neither session IDs, flow IDs nor
// personnummer appear in key names, and that the session ID is not stored.
func TestNoSecretsInKeys(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const pnr = "198107249289"
	s := citizenSession(f.clock.Now(), pnr, "idp-sid-1", 15*time.Minute, 8*time.Hour)
	if err := f.store.Put(ctx, s); err != nil {
		t.Fatal(err)
	}
	flowID := session.NewID()
	if err := f.store.Save(ctx, auth.Pending{ID: flowID, IdP: "bankid"}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.FirstUse(ctx, "assertion-for-"+pnr, f.clock.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.store.Allow(ctx, "login:"+pnr, 5, time.Minute); err != nil {
		t.Fatal(err)
	}
	keys := scanKeys(t, f.client, f.prefix)
	if len(keys) != 6 {
		t.Errorf("found %d keys, want 6 (session, person index, IdP index, flow, replay, limit): %v", len(keys), keys)
	}
	for _, k := range keys {
		for _, secret := range []string{s.ID, flowID, pnr, "idp-sid-1"} {
			if strings.Contains(k, secret) {
				t.Errorf("key %q contains a secret or personal value", k)
			}
		}
	}
	rec, err := f.client.HGetAll(ctx, f.prefix+"s:"+session.HashID(s.ID)).Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(rec) == 0 {
		t.Fatal("no session record under the hashed ID")
	}
	for field, v := range rec {
		if strings.Contains(v, s.ID) {
			t.Errorf("session record field %q holds the session ID", field)
		}
	}
}

func pttl(t *testing.T, c redis.UniversalClient, key string) time.Duration {
	t.Helper()
	d, err := c.PTTL(context.Background(), key).Result()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func near(t *testing.T, what string, got, want time.Duration) {
	t.Helper()
	// The clock started at the real time a moment ago; allow for the time
	// the test itself takes.
	if got > want || got < want-5*time.Second {
		t.Errorf("%s: Redis TTL %v, want about %v", what, got, want)
	}
}

// TestRedisTTL checks that the garbage-collection TTLs Redis holds match
// the store's own expiry: keys must not outlive their use by much, nor
// vanish early.
func TestRedisTTL(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	now := f.clock.Now()
	idle := citizenSession(now, "198107249289", "sid", 15*time.Minute, 8*time.Hour)
	capped := citizenSession(now, "195006262546", "", 15*time.Minute, 10*time.Minute)
	for _, s := range []*session.Session{idle, capped} {
		if err := f.store.Put(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	key := func(s *session.Session) string { return f.prefix + "s:" + session.HashID(s.ID) }
	near(t, "idle session", pttl(t, f.client, key(idle)), 15*time.Minute)
	near(t, "session capped by Expires", pttl(t, f.client, key(capped)), 10*time.Minute)
	near(t, "person index", pttl(t, f.client, f.prefix+"p:"+session.HashPersonKey("198107249289")), 8*time.Hour+time.Minute)
	near(t, "IdP session index", pttl(t, f.client, f.prefix+"k:"+session.HashIdPSession("bankid", "sid")), 8*time.Hour+time.Minute)

	// A Get five minutes later moves the idle expiry, but never past Expires.
	f.clock.Advance(5 * time.Minute)
	for _, s := range []*session.Session{idle, capped} {
		if _, err := f.store.Get(ctx, s.ID); err != nil {
			t.Fatal(err)
		}
	}
	near(t, "idle session after Get", pttl(t, f.client, key(idle)), 20*time.Minute)
	near(t, "capped session after Get", pttl(t, f.client, key(capped)), 10*time.Minute)

	if err := f.store.Save(ctx, auth.Pending{ID: "flow-1"}, 10*time.Minute); err != nil {
		t.Fatal(err)
	}
	near(t, "flow", pttl(t, f.client, f.prefix+"f:"+session.HashKey("civicgate flow", "flow-1")), 10*time.Minute)
	if _, err := f.store.FirstUse(ctx, "jti-1", f.clock.Now().Add(5*time.Minute)); err != nil {
		t.Fatal(err)
	}
	near(t, "replay key", pttl(t, f.client, f.prefix+"r:"+session.HashKey("civicgate replay", "jti-1")), 10*time.Minute+session.ReplayGrace)
}

// TestRealExpiry uses the real clock and short real TTLs: Redis itself must
// drop sessions at their idle and absolute expiry.
func TestRealExpiry(t *testing.T) {
	c := testClient(t)
	prefix := testPrefix(t, c)
	st := redisstore.New(c, redisstore.Options{Prefix: prefix})
	ctx := context.Background()
	now := time.Now()
	abs := citizenSession(now, "198107249289", "", 0, 300*time.Millisecond)
	idle := citizenSession(now, "198107249289", "", 200*time.Millisecond, time.Hour)
	for _, s := range []*session.Session{abs, idle} {
		if err := st.Put(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(120 * time.Millisecond)
	if _, err := st.Get(ctx, idle.ID); err != nil {
		t.Fatalf("Get within the idle timeout: %v", err)
	}
	time.Sleep(120 * time.Millisecond) // 240ms in: idle only because of the Get
	if _, err := st.Get(ctx, idle.ID); err != nil {
		t.Fatalf("Get within the extended idle timeout: %v", err)
	}
	time.Sleep(300 * time.Millisecond)
	for _, s := range []*session.Session{abs, idle} {
		n, err := c.Exists(ctx, prefix+"s:"+session.HashID(s.ID)).Result()
		if err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Error("Redis still holds a session past its expiry")
		}
		if _, err := st.Get(ctx, s.ID); !errors.Is(err, session.ErrNotFound) {
			t.Errorf("Get past expiry: %v, want ErrNotFound", err)
		}
	}
}

// TestIndexPrunedOnPut checks that a person who keeps logging in does not
// grow an index set without bound.
func TestIndexPrunedOnPut(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const pnr = "201701102384"
	idx := f.prefix + "p:" + session.HashPersonKey(pnr)
	for i := range 40 {
		s := citizenSession(f.clock.Now(), pnr, "", 15*time.Minute, 8*time.Hour)
		if err := f.store.Put(ctx, s); err != nil {
			t.Fatal(err)
		}
		if i < 39 {
			if err := f.store.Delete(ctx, s.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	n, err := f.client.SCard(ctx, idx).Result()
	if err != nil {
		t.Fatal(err)
	}
	if n >= 16 {
		t.Errorf("person index holds %d members after 39 logouts and 1 live session, want it pruned", n)
	}
	l, err := f.store.List(ctx, pnr)
	if err != nil || len(l) != 1 {
		t.Fatalf("List = (%d, %v), want 1 live session", len(l), err)
	}
	if n, _ := f.client.SCard(ctx, idx).Result(); n != 1 {
		t.Errorf("person index holds %d members after List, want 1", n)
	}
}

// TestFailClosed points the store at a port where nothing listens: every
// operation must fail quickly with ErrUnavailable, never ErrNotFound (which
// callers would take for "not logged in" or, worse, "not a replay").
func TestFailClosed(t *testing.T) {
	c, err := redisstore.NewClient(redisstore.Config{Addrs: []string{"127.0.0.1:1"}, DialTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	st := redisstore.New(c, redisstore.Options{})
	checkUnavailable(t, st, time.Second)
}

// TestContextDeadline points the store at a server that accepts
// connections but never answers: the caller's deadline, not the client's
// longer read timeout, must end each operation.
func TestContextDeadline(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				buf := make([]byte, 4096)
				for {
					if _, err := conn.Read(buf); err != nil {
						return
					}
				}
			}()
		}
	}()
	c, err := redisstore.NewClient(redisstore.Config{Addrs: []string{ln.Addr().String()}, ReadTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	st := redisstore.New(c, redisstore.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = st.Get(ctx, session.NewID())
	if !errors.Is(err, session.ErrUnavailable) || errors.Is(err, session.ErrNotFound) {
		t.Errorf("Get against a silent server: %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Get took %v despite a 200ms deadline", d)
	}
}

func checkUnavailable(t *testing.T, st *redisstore.Store, within time.Duration) {
	t.Helper()
	ctx := context.Background()
	now := time.Now()
	s := citizenSession(now, "198107249289", "sid", 15*time.Minute, time.Hour)
	ops := map[string]func() error{
		"Ping": func() error { return st.Ping(ctx) },
		"Get": func() error {
			_, err := st.Get(ctx, s.ID)
			return err
		},
		"Put":    func() error { return st.Put(ctx, s) },
		"Delete": func() error { return st.Delete(ctx, s.ID) },
		"DeleteByIdPSession": func() error {
			_, err := st.DeleteByIdPSession(ctx, "bankid", "sid")
			return err
		},
		"List": func() error {
			_, err := st.List(ctx, "198107249289")
			return err
		},
		"DeleteByPerson": func() error {
			_, err := st.DeleteByPerson(ctx, "198107249289")
			return err
		},
		"Save": func() error { return st.Save(ctx, auth.Pending{ID: "f"}, time.Minute) },
		"Take": func() error {
			_, err := st.Take(ctx, "f")
			return err
		},
		"FirstUse": func() error {
			ok, err := st.FirstUse(ctx, "jti", now.Add(time.Minute))
			if ok {
				t.Error("FirstUse answered true without Redis")
			}
			return err
		},
		"Allow": func() error {
			ok, _, err := st.Allow(ctx, "k", 10, time.Minute)
			if ok {
				t.Error("Allow allowed without Redis")
			}
			return err
		},
	}
	for name, op := range ops {
		start := time.Now()
		err := op()
		if !errors.Is(err, session.ErrUnavailable) || errors.Is(err, session.ErrNotFound) {
			t.Errorf("%s: %v, want ErrUnavailable", name, err)
		}
		if err != nil && strings.Contains(err.Error(), s.ID) {
			t.Errorf("%s: the error contains the session ID", name)
		}
		if d := time.Since(start); d > within {
			t.Errorf("%s took %v, want under %v", name, d, within)
		}
	}
}

// TestPipelineWithoutCachedScript checks the EVAL fallback that pipelines
// use when a node has lost its script cache (restart, failover): every
// call runs exactly once.
func TestPipelineWithoutCachedScript(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	// A unique comment makes a script no Redis has cached.
	src := "-- " + f.prefix + "\nreturn redis.call('INCR', KEYS[1])"
	keys := []string{f.prefix + "x:a", f.prefix + "x:b", f.prefix + "x:a"}
	got, err := f.store.RunScriptsFresh(ctx, src, keys)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0] != 1 || got[1] != 1 || got[2] != 2 {
		t.Errorf("first run = %v, want [1 1 2] (each call exactly once)", got)
	}
	// Now cached: EVALSHA succeeds directly.
	got, err = f.store.RunScriptsFresh(ctx, src, keys[:1])
	if err != nil || len(got) != 1 || got[0] != 3 {
		t.Errorf("second run = (%v, %v), want [3]", got, err)
	}
}

// TestDeleteLeavesNoRecord races Gets against Delete and checks that no
// partial record (say, a last-seen field written after the delete) is left
// behind in Redis, which a non-atomic touch would create.
func TestDeleteLeavesNoRecord(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for range 50 {
		s := citizenSession(f.clock.Now(), "198107249289", "", 15*time.Minute, 365*24*time.Hour)
		if err := f.store.Put(ctx, s); err != nil {
			t.Fatal(err)
		}
		stop := make(chan struct{})
		done := make(chan struct{})
		for range 4 {
			go func() {
				defer func() { done <- struct{}{} }()
				for {
					select {
					case <-stop:
						return
					default:
						// Past the slack, so that the Get writes.
						f.clock.Advance(15 * time.Second)
						if _, err := f.store.Get(ctx, s.ID); err != nil && !errors.Is(err, session.ErrNotFound) {
							t.Error(err)
							return
						}
					}
				}
			}()
		}
		time.Sleep(time.Millisecond)
		if err := f.store.Delete(ctx, s.ID); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
		close(stop)
		for range 4 {
			<-done
		}
		if n, err := f.client.Exists(ctx, f.prefix+"s:"+session.HashID(s.ID)).Result(); err != nil || n != 0 {
			t.Fatalf("after Delete raced with Gets, the session key exists (%d, %v)", n, err)
		}
	}
}
