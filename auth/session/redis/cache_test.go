package redisstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/civicgate/civicgate/auth"
	"github.com/civicgate/civicgate/auth/session"
	redisstore "github.com/civicgate/civicgate/auth/session/redis"
	"github.com/civicgate/civicgate/auth/session/sessiontest"
)

// replicas are two stores with local caches on the same Redis and prefix,
// as two gateway replicas have them.
type replicas struct {
	a, b  *redisstore.Store
	clock *sessiontest.Clock
}

func newReplicas(t testing.TB, client redis.UniversalClient) replicas {
	t.Helper()
	c := testClient(t)
	prefix := testPrefix(t, c)
	if client == nil {
		client = testClient(t)
	}
	clock := sessiontest.NewClock(time.Now())
	opts := redisstore.Options{Prefix: prefix, Now: clock.Now, LocalCache: 1000, CacheTimeout: 100 * time.Millisecond}
	r := replicas{a: redisstore.New(c, opts), b: redisstore.New(client, opts), clock: clock}
	t.Cleanup(func() { r.a.Close(); r.b.Close() })
	waitCacheLive(t, r.a)
	waitCacheLive(t, r.b)
	return r
}

// waitCacheLive waits until st's cache serves hits, i.e. its subscription
// is confirmed: a session read twice must be a hit the second time.
func waitCacheLive(t testing.TB, st *redisstore.Store) {
	t.Helper()
	ctx := context.Background()
	s := citizenSession(time.Now(), "195210202395", "", time.Hour, 8*time.Hour)
	if err := st.Put(ctx, s); err != nil {
		t.Fatalf("Put: %v", err)
	}
	defer st.Delete(ctx, s.ID)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		before := st.CacheStats().Hits
		for range 2 {
			if _, err := st.Get(ctx, s.ID); err != nil {
				t.Fatalf("Get: %v", err)
			}
		}
		if st.CacheStats().Hits > before {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("the local cache never served a hit: %+v", st.CacheStats())
}

// split is one session.Store made of two replicas: every change goes to
// a, every read to b. The conformance suite run on it checks that what one
// replica does is seen by the other's cache at once.
type split struct{ a, b *redisstore.Store }

func (s split) Get(ctx context.Context, id string) (*session.Session, error) { return s.b.Get(ctx, id) }
func (s split) Put(ctx context.Context, sess *session.Session) error         { return s.a.Put(ctx, sess) }
func (s split) Delete(ctx context.Context, id string) error                  { return s.a.Delete(ctx, id) }
func (s split) List(ctx context.Context, p string) ([]session.Summary, error) {
	return s.b.List(ctx, p)
}
func (s split) DeleteByIdPSession(ctx context.Context, idp, sid string) (int, error) {
	return s.a.DeleteByIdPSession(ctx, idp, sid)
}
func (s split) DeleteByPerson(ctx context.Context, p string) (int, error) {
	return s.a.DeleteByPerson(ctx, p)
}

func TestConformanceWithLocalCache(t *testing.T) {
	t.Run("OneReplica", func(t *testing.T) {
		sessiontest.RunStoreTests(t, func(t *testing.T) (session.Store, sessiontest.FastForward) {
			r := newReplicas(t, nil)
			return r.a, r.clock.Advance
		})
	})
	t.Run("ChangeOnOneReadOnOther", func(t *testing.T) {
		sessiontest.RunStoreTests(t, func(t *testing.T) (session.Store, sessiontest.FastForward) {
			r := newReplicas(t, nil)
			return split{r.a, r.b}, r.clock.Advance
		})
	})
}

// TestCacheServesReads shows the cache is used: repeated reads of one
// session on a replica are hits, and return the stored session.
func TestCacheServesReads(t *testing.T) {
	r := newReplicas(t, nil)
	ctx := context.Background()
	s := citizenSession(r.clock.Now(), "198107249289", "sid-1", time.Hour, 8*time.Hour)
	if err := r.a.Put(ctx, s); err != nil {
		t.Fatal(err)
	}
	before := r.b.CacheStats()
	for range 50 {
		got, err := r.b.Get(ctx, s.ID)
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		if got.Identity.PersonalNumber != s.Identity.PersonalNumber || got.CSRF != s.CSRF || got.ID != s.ID {
			t.Fatalf("Get returned another session: %+v", got.Identity)
		}
	}
	after := r.b.CacheStats()
	if hits := after.Hits - before.Hits; hits < 45 {
		t.Fatalf("%d of 50 reads were cache hits (stats %+v), want at least 45", hits, after)
	}
	if after.Pings == before.Pings {
		t.Fatal("cache hits without a read barrier")
	}
}

// TestCacheLogoutOnOtherReplica: a session cached on B and ended on A, in
// every way a session ends, is refused by B on the very next read; a
// session replaced on A (step-up) is read in its new form on B.
func TestCacheLogoutOnOtherReplica(t *testing.T) {
	r := newReplicas(t, nil)
	ctx := context.Background()
	ends := map[string]func(s *session.Session) error{
		"Delete":         func(s *session.Session) error { return r.a.Delete(ctx, s.ID) },
		"DeleteByPerson": func(s *session.Session) error { _, err := r.a.DeleteByPerson(ctx, s.Identity.Key()); return err },
		"DeleteByIdPSession": func(s *session.Session) error {
			_, err := r.a.DeleteByIdPSession(ctx, "bankid", s.Identity.SessionIndex)
			return err
		},
	}
	for name, end := range ends {
		t.Run(name, func(t *testing.T) {
			for i := range 100 {
				s := citizenSession(r.clock.Now(), "198107249289", fmt.Sprintf("sid-%s-%d", name, i), time.Hour, 8*time.Hour)
				if err := r.a.Put(ctx, s); err != nil {
					t.Fatal(err)
				}
				for range 2 {
					if _, err := r.b.Get(ctx, s.ID); err != nil {
						t.Fatalf("Get on B before logout: %v", err)
					}
				}
				if err := end(s); err != nil {
					t.Fatalf("%s on A: %v", name, err)
				}
				if got, err := r.b.Get(ctx, s.ID); !errors.Is(err, session.ErrNotFound) {
					t.Fatalf("round %d: B still serves a session ended on A: (%v, %v)", i, got != nil, err)
				}
			}
		})
	}
	t.Run("StepUp", func(t *testing.T) {
		for i := range 100 {
			s := citizenSession(r.clock.Now(), "198107249289", "", time.Hour, 8*time.Hour)
			if err := r.a.Put(ctx, s); err != nil {
				t.Fatal(err)
			}
			for range 2 {
				if _, err := r.b.Get(ctx, s.ID); err != nil {
					t.Fatal(err)
				}
			}
			s.Identity.LoA = auth.LoAHigh
			s.CSRF = session.NewID()
			if err := r.a.Put(ctx, s); err != nil {
				t.Fatal(err)
			}
			got, err := r.b.Get(ctx, s.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Identity.LoA != auth.LoAHigh || got.CSRF != s.CSRF {
				t.Fatalf("round %d: B serves the session as it was before A replaced it (LoA %s)", i, got.Identity.LoA)
			}
		}
	})
	if st := r.b.CacheStats(); st.Hits == 0 || st.Invalidations == 0 {
		t.Fatalf("the cache was not exercised: %+v", st)
	}
}

// TestCacheLogoutRacesReads has readers on B hammer a session while A ends
// it: once Delete has returned on A, no read that starts on B may succeed,
// whatever reads (and cache fills) were in flight.
func TestCacheLogoutRacesReads(t *testing.T) {
	r := newReplicas(t, nil)
	ctx := context.Background()
	for round := range 50 {
		s := citizenSession(r.clock.Now(), "198107249289", "", time.Hour, 8*time.Hour)
		if err := r.a.Put(ctx, s); err != nil {
			t.Fatal(err)
		}
		var deleted atomic.Bool
		var wrong atomic.Int64
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for range 8 {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					after := deleted.Load()
					_, err := r.b.Get(ctx, s.ID)
					if after && err == nil {
						wrong.Add(1)
					}
					if err != nil && !errors.Is(err, session.ErrNotFound) {
						t.Errorf("Get: %v", err)
						return
					}
				}
			})
		}
		time.Sleep(2 * time.Millisecond)
		if err := r.a.Delete(ctx, s.ID); err != nil {
			t.Fatal(err)
		}
		deleted.Store(true)
		time.Sleep(3 * time.Millisecond)
		close(stop)
		wg.Wait()
		if n := wrong.Load(); n > 0 {
			t.Fatalf("round %d: %d reads that started after the logout on A got the session on B", round, n)
		}
	}
}

// TestCacheSilentSubscription freezes what Redis sends on B's subscription
// connection, as a network fault or a stuck proxy would, without closing
// it: invalidations no longer arrive. A logout on A must still be refused
// on B at once (the barrier's PONG does not come either, so B reads
// Redis), and B's cache must come back once the path is healthy.
func TestCacheSilentSubscription(t *testing.T) {
	p := startFreezer(t, redisAddr())
	viaProxy, err := redisstore.NewClient(redisstore.Config{Addrs: []string{p.addr()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { viaProxy.Close() })
	r := newReplicas(t, viaProxy)
	ctx := context.Background()
	s := citizenSession(r.clock.Now(), "198107249289", "", time.Hour, 8*time.Hour)
	if err := r.a.Put(ctx, s); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := r.b.Get(ctx, s.ID); err != nil {
			t.Fatal(err)
		}
	}
	before := r.b.CacheStats()
	p.freeze.Store(true)
	if err := r.a.Delete(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if got, err := r.b.Get(ctx, s.ID); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("B served a session ended on A while its subscription was frozen: (%v, %v)", got != nil, err)
	}
	t.Logf("read with a frozen subscription took %v", time.Since(start))
	after := r.b.CacheStats()
	if after.Fallbacks == before.Fallbacks || after.Flushes == before.Flushes {
		t.Fatalf("the frozen subscription was not noticed: before %+v, after %+v", before, after)
	}

	// Healthy again: a new subscription is made and the cache serves hits.
	p.freeze.Store(false)
	waitCacheLive(t, r.b)
}

// TestCacheKilledSubscription closes B's subscription connection from the
// server side: B flushes, reads Redis meanwhile, subscribes again and
// serves hits again.
func TestCacheKilledSubscription(t *testing.T) {
	name := "cgtest-" + session.NewID()[:12]
	named := redis.NewClient(&redis.Options{Addr: redisAddr(), ClientName: name})
	t.Cleanup(func() { named.Close() })
	r := newReplicas(t, named)
	ctx := context.Background()
	s := citizenSession(r.clock.Now(), "198107249289", "", time.Hour, 8*time.Hour)
	if err := r.a.Put(ctx, s); err != nil {
		t.Fatal(err)
	}
	flushes := r.b.CacheStats().Flushes
	admin := testClient(t)
	list, err := admin.ClientList(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	killed := 0
	for _, line := range strings.Split(list, "\n") {
		if !strings.Contains(line, " name="+name+" ") || strings.Contains(line, " sub=0 ") {
			continue
		}
		for _, f := range strings.Fields(line) {
			if id, ok := strings.CutPrefix(f, "id="); ok {
				if err := admin.Do(ctx, "CLIENT", "KILL", "ID", id).Err(); err != nil {
					t.Fatal(err)
				}
				killed++
			}
		}
	}
	if killed != 1 {
		t.Fatalf("found %d subscription connections named %s, want 1", killed, name)
	}
	deadline := time.Now().Add(5 * time.Second)
	for r.b.CacheStats().Flushes == flushes {
		if time.Now().After(deadline) {
			t.Fatal("the killed subscription was not noticed")
		}
		if _, err := r.b.Get(ctx, s.ID); err != nil {
			t.Fatalf("Get while resubscribing: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := r.a.Delete(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := r.b.Get(ctx, s.ID); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("after resubscribing, B serves a deleted session: %v", err)
	}
	waitCacheLive(t, r.b)
}

// TestCacheOffOnCluster: a Cluster client gets no cache (and no
// invalidation channel), since the barrier cannot order pub/sub there.
func TestCacheOffOnCluster(t *testing.T) {
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"127.0.0.1:1"}})
	defer c.Close()
	st := redisstore.New(c, redisstore.Options{LocalCache: 100})
	defer st.Close()
	if st.HasLocalCache() {
		t.Fatal("a Cluster store has a local cache")
	}
}

// freezer is a TCP proxy to Redis that, while freeze is set, stops passing
// what the server sends on subscription connections (those whose client
// sent SUBSCRIBE), keeping them open.
type freezer struct {
	ln     net.Listener
	target string
	freeze atomic.Bool
}

func startFreezer(t *testing.T, target string) *freezer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &freezer{ln: ln, target: target}
	var conns sync.WaitGroup
	t.Cleanup(func() { ln.Close(); conns.Wait() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Go(func() { p.serve(c) })
		}
	}()
	return p
}

func (p *freezer) addr() string { return p.ln.Addr().String() }

func (p *freezer) serve(c net.Conn) {
	defer c.Close()
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer s.Close()
	var subscriber atomic.Bool
	go func() {
		defer s.Close()
		buf := make([]byte, 32<<10)
		for {
			n, err := c.Read(buf)
			if n > 0 {
				if bytes.Contains(bytes.ToLower(buf[:n]), []byte("subscribe")) {
					subscriber.Store(true)
				}
				if _, err := s.Write(buf[:n]); err != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := s.Read(buf)
		if n > 0 && !(subscriber.Load() && p.freeze.Load()) {
			if _, err := c.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// TestCopySessionSharesNothing: the cache hands out copies of one decoded
// session, so a copy must share nothing a caller could change. It walks
// every field of a fully populated session and checks that no slice, map
// or pointer (other than time.Location) in the copy aliases the original;
// a new reference-typed field that copySession does not copy fails here.
func TestCopySessionSharesNothing(t *testing.T) {
	s := citizenSession(time.Now(), "198107249289", "sid", time.Hour, 8*time.Hour)
	s.Identity.Roles = []string{"a", "b"}
	s.ActingFor = &session.ActingFor{PersonalNumber: "195006262546", Name: "Elvan", Reason: "telefon", Since: time.Now()}
	c := redisstore.CopySession(s)
	if !reflect.DeepEqual(c, s) {
		t.Fatal("the copy differs from the original")
	}
	var walk func(path string, a, b reflect.Value)
	walk = func(path string, a, b reflect.Value) {
		switch a.Kind() {
		case reflect.Pointer:
			if a.IsNil() {
				return
			}
			if a.Type() == reflect.TypeOf((*time.Location)(nil)) {
				return // immutable, shared by design
			}
			if a.Pointer() == b.Pointer() {
				t.Errorf("%s: the copy shares the pointer", path)
			}
			walk(path, a.Elem(), b.Elem())
		case reflect.Slice, reflect.Map:
			if a.Len() > 0 && a.Pointer() == b.Pointer() {
				t.Errorf("%s: the copy shares the %s", path, a.Kind())
			}
			if a.Kind() == reflect.Slice {
				for i := range a.Len() {
					walk(fmt.Sprintf("%s[%d]", path, i), a.Index(i), b.Index(i))
				}
			}
		case reflect.Struct:
			for i := range a.NumField() {
				walk(path+"."+a.Type().Field(i).Name, a.Field(i), b.Field(i))
			}
		case reflect.Interface, reflect.Chan, reflect.Func:
			t.Errorf("%s: a %s field; copySession must learn to copy it", path, a.Kind())
		}
	}
	walk("Session", reflect.ValueOf(s).Elem(), reflect.ValueOf(c).Elem())
}

// TestCacheCloseRightAfterNew: a store closed at once (the gateway closes
// it when a later start-up step fails) must not hang in Close, whatever
// point its subscription had reached.
func TestCacheCloseRightAfterNew(t *testing.T) {
	c := testClient(t)
	prefix := testPrefix(t, c)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 200 {
			st := redisstore.New(c, redisstore.Options{Prefix: prefix, LocalCache: 10})
			if i%2 == 1 {
				time.Sleep(time.Duration(i%7) * 100 * time.Microsecond)
			}
			st.Close()
		}
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Close hung")
	}
}

// TestCacheSubscriptionOnAnotherServer: B's subscription is on a Redis
// other than the one its writes and reads go to, as it is after a Sentinel
// failover (go-redis moves a client's connections to the new master, not
// its subscriptions). B must never serve from its cache then: a session
// ended on A is refused by B at once.
func TestCacheSubscriptionOnAnotherServer(t *testing.T) {
	other := startRedisServer(t)
	main := testClient(t)
	prefix := testPrefix(t, main)
	clock := sessiontest.NewClock(time.Now())
	opts := redisstore.Options{Prefix: prefix, Now: clock.Now, LocalCache: 100, CacheTimeout: 100 * time.Millisecond}
	a := redisstore.New(main, opts)
	b := redisstore.NewWithSubscriber(main, other, opts)
	t.Cleanup(func() { a.Close(); b.Close() })
	ctx := context.Background()
	for i := range 20 {
		s := citizenSession(clock.Now(), "198107249289", "", time.Hour, 8*time.Hour)
		if err := a.Put(ctx, s); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if got, err := b.Get(ctx, s.ID); err != nil || got.CSRF != s.CSRF {
				t.Fatalf("Get on B: %v", err)
			}
		}
		if err := a.Delete(ctx, s.ID); err != nil {
			t.Fatal(err)
		}
		if got, err := b.Get(ctx, s.ID); !errors.Is(err, session.ErrNotFound) {
			t.Fatalf("round %d: B served a session ended on A from a cache subscribed elsewhere: (%v, %v)", i, got != nil, err)
		}
		time.Sleep(5 * time.Millisecond) // let B subscribe again in between
	}
	if st := b.CacheStats(); st.Hits != 0 || st.Fallbacks == 0 {
		t.Fatalf("stats %+v: want no hits and some fallbacks", st)
	}
}

// startRedisServer runs a redis-server of its own for the test and returns
// a client of it.
func startRedisServer(t *testing.T) *redis.Client {
	t.Helper()
	if os.Getenv("CIVICGATE_NO_REDIS") == "1" {
		t.Skip("CIVICGATE_NO_REDIS=1")
	}
	c := redis.NewClient(&redis.Options{Addr: sessiontest.StartRedisServer(t).Addr})
	t.Cleanup(func() { c.Close() })
	return c
}

// TestPublishNeedsChannelRight: with a Redis user that may not publish on
// the invalidation channels, readiness says so, and a login or logout fails
// without writing anything (the PUBLISH runs first in each script).
func TestPublishNeedsChannelRight(t *testing.T) {
	admin := startRedisServer(t)
	ctx := context.Background()
	for _, cmd := range [][]any{
		{"ACL", "SETUSER", "nochan", "on", ">pw", "~*", "+@all", "resetchannels"},
		{"ACL", "SETUSER", "withchan", "on", ">pw", "~*", "+@all", "resetchannels", "&cg:invalidate*"},
	} {
		if err := admin.Do(ctx, cmd...).Err(); err != nil {
			t.Fatal(err)
		}
	}
	user := func(name string) *redisstore.Store {
		c := redis.NewClient(&redis.Options{Addr: admin.Options().Addr, Username: name, Password: "pw"})
		t.Cleanup(func() { c.Close() })
		return redisstore.New(c, redisstore.Options{})
	}
	s := citizenSession(time.Now(), "198107249289", "sid-acl", time.Hour, 8*time.Hour)

	denied := user("nochan")
	if err := denied.Ping(ctx); err == nil || !strings.Contains(err.Error(), "ACL") {
		t.Errorf("readiness with a user that cannot publish: %v", err)
	}
	if err := denied.Put(ctx, s); err == nil {
		t.Fatal("Put succeeded without the right to publish its invalidation")
	}
	if n, err := admin.Exists(ctx, "cg:s:"+session.HashID(s.ID)).Result(); err != nil || n != 0 {
		t.Fatalf("a refused Put left the session written (%d, %v)", n, err)
	}

	allowed := user("withchan")
	if err := allowed.Ping(ctx); err != nil {
		t.Fatalf("readiness with the channel right: %v", err)
	}
	if err := allowed.Put(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := denied.Delete(ctx, s.ID); err == nil {
		t.Fatal("Delete succeeded without the right to publish its invalidation")
	}
	if _, err := allowed.Get(ctx, s.ID); err != nil {
		t.Fatalf("a refused Delete removed the session anyway: %v", err)
	}
	if err := allowed.Delete(ctx, s.ID); err != nil {
		t.Fatal(err)
	}

	// "Log out everywhere" refused: the sessions stay listed, so a retry
	// with the right ends them.
	s2 := citizenSession(time.Now(), "198107249289", "sid-acl-2", time.Hour, 8*time.Hour)
	if err := allowed.Put(ctx, s2); err != nil {
		t.Fatal(err)
	}
	if _, err := denied.DeleteByPerson(ctx, s2.Identity.Key()); err == nil {
		t.Fatal("DeleteByPerson succeeded without the right to publish")
	}
	if n, err := allowed.DeleteByPerson(ctx, s2.Identity.Key()); err != nil || n != 1 {
		t.Fatalf("retry of DeleteByPerson: %d, %v; want the session ended", n, err)
	}
	if _, err := allowed.Get(ctx, s2.ID); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("after the retry the session is still there: %v", err)
	}
}

// TestCacheBarrierUnderOOM: a Redis at maxmemory (noeviction, as deployed)
// still runs the read barrier, so the cache keeps working when Redis is
// under pressure.
func TestCacheBarrierUnderOOM(t *testing.T) {
	srv := startRedisServer(t)
	ctx := context.Background()
	st := redisstore.New(srv, redisstore.Options{LocalCache: 10})
	t.Cleanup(func() { st.Close() })
	s := citizenSession(time.Now(), "198107249289", "", time.Hour, 8*time.Hour)
	if err := st.Put(ctx, s); err != nil {
		t.Fatal(err)
	}
	waitCacheLive(t, st)
	if _, err := st.Get(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	used, err := srv.Info(ctx, "memory").Result()
	if err != nil {
		t.Fatal(err)
	}
	var mem int64
	for _, line := range strings.Split(used, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			mem, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	if err := srv.ConfigSet(ctx, "maxmemory-policy", "noeviction").Err(); err != nil {
		t.Fatal(err)
	}
	if err := srv.ConfigSet(ctx, "maxmemory", strconv.FormatInt(mem/2, 10)).Err(); err != nil {
		t.Fatal(err)
	}
	if err := srv.Set(ctx, "cgtest:oom", "x", 0).Err(); err == nil || !strings.Contains(err.Error(), "OOM") {
		t.Fatalf("Redis is not out of memory: %v", err)
	}
	before := st.CacheStats()
	for range 20 {
		if _, err := st.Get(ctx, s.ID); err != nil {
			t.Fatalf("Get at maxmemory: %v", err)
		}
	}
	if after := st.CacheStats(); after.Hits-before.Hits < 15 || after.Flushes != before.Flushes {
		t.Fatalf("at maxmemory the cache stopped working: before %+v, after %+v", before, after)
	}
}
