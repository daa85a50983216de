package redisstore_test

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/civicgate/civicgate/auth"
	"github.com/civicgate/civicgate/auth/session"
	redisstore "github.com/civicgate/civicgate/auth/session/redis"
	"github.com/civicgate/civicgate/auth/session/sessiontest"
)

// The benchmarks report, beside ns/op (wall time, mostly the round trip),
// the CPU this process spends per operation (cpu-ns/op) and the CPU Redis
// spends (redis-cpu-ns/op, from INFO; only meaningful when nothing else
// uses the Redis meanwhile).

func benchStore(b *testing.B) (*redisstore.Store, redis.UniversalClient) {
	c := testClient(b)
	prefix := testPrefix(b, c)
	return redisstore.New(c, redisstore.Options{Prefix: prefix}), c
}

func benchSession(i int64) *session.Session {
	now := time.Now()
	n := strconv.FormatInt(i, 10)
	return &session.Session{
		ID: session.NewID(),
		Identity: auth.Identity{
			Kind: auth.Citizen, PRID: "SE/ZZ/bench-" + n, GivenName: "Bench", FamilyName: "Marked",
			DateOfBirth: "1981-07-24", LoA: auth.LoASubstantial, LoAURI: auth.URILoA3NonResident,
			IdP: "eidas", Method: "saml", AuthTime: now, SessionIndex: "sid-" + n,
		},
		CSRF:        session.NewID(),
		Created:     now,
		Expires:     now.Add(8 * time.Hour),
		IdleTimeout: 15 * time.Minute,
		LastSeen:    now,
		UserAgent:   "Firefox on Linux",
	}
}

type cpuMeter struct {
	self  time.Duration
	redis time.Duration
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func redisCPU(c redis.UniversalClient) time.Duration {
	info, err := c.Info(context.Background(), "cpu").Result()
	if err != nil {
		return 0
	}
	var total float64
	for _, line := range strings.Split(info, "\r\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && (k == "used_cpu_sys" || k == "used_cpu_user") {
			f, _ := strconv.ParseFloat(v, 64)
			total += f
		}
	}
	return time.Duration(total * float64(time.Second))
}

func startCPU(c redis.UniversalClient) cpuMeter {
	return cpuMeter{self: processCPU(), redis: redisCPU(c)}
}

func (m cpuMeter) report(b *testing.B, c redis.UniversalClient) {
	b.ReportMetric(float64(processCPU()-m.self)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(redisCPU(c)-m.redis)/float64(b.N), "redis-cpu-ns/op")
}

// BenchmarkGet is the per-request hot path: look the session up and extend
// its idle timeout.
func BenchmarkGet(b *testing.B) {
	st, c := benchStore(b)
	ctx := context.Background()
	s := benchSession(0)
	if err := st.Put(ctx, s); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	m := startCPU(c)
	b.ResetTimer()
	for range b.N {
		if _, err := st.Get(ctx, s.ID); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	m.report(b, c)
}

// BenchmarkGetExtending is Get when every call extends the idle timeout
// (each comes at least the slack after the one before): the write path.
func BenchmarkGetExtending(b *testing.B) {
	c := testClient(b)
	clock := sessiontest.NewClock(time.Now())
	st := redisstore.New(c, redisstore.Options{Prefix: testPrefix(b, c), Now: clock.Now})
	ctx := context.Background()
	s := benchSession(0)
	s.Expires = s.Created.Add(10 * 365 * 24 * time.Hour)
	if err := st.Put(ctx, s); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	m := startCPU(c)
	b.ResetTimer()
	for range b.N {
		clock.Advance(15 * time.Second)
		if _, err := st.Get(ctx, s.ID); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	m.report(b, c)
}

func BenchmarkGetParallel(b *testing.B) {
	st, c := benchStore(b)
	benchGetParallel(b, st, c)
}

// BenchmarkGetCachedParallel is BenchmarkGetParallel with the local cache:
// after the first read of each session, a read barrier (one PING shared by
// the reads that arrive together) and a decode.
func BenchmarkGetCachedParallel(b *testing.B) {
	c := testClient(b)
	st := redisstore.New(c, redisstore.Options{Prefix: testPrefix(b, c), LocalCache: 1000})
	b.Cleanup(func() { st.Close() })
	waitCacheLive(b, st)
	benchGetParallel(b, st, c)
	b.ReportMetric(float64(st.CacheStats().Hits)/float64(max(st.CacheStats().Pings, 1)), "reads/barrier")
}

func benchGetParallel(b *testing.B, st *redisstore.Store, c redis.UniversalClient) {
	ctx := context.Background()
	ids := make([]string, 64)
	for i := range ids {
		s := benchSession(int64(i))
		if err := st.Put(ctx, s); err != nil {
			b.Fatal(err)
		}
		ids[i] = s.ID
	}
	var next atomic.Int64
	b.ReportAllocs()
	m := startCPU(c)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := st.Get(ctx, ids[next.Add(1)%int64(len(ids))]); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	m.report(b, c)
}

// BenchmarkPut is session creation at login: the session and its two
// index entries.
func BenchmarkPut(b *testing.B) {
	st, c := benchStore(b)
	ctx := context.Background()
	sessions := make([]*session.Session, b.N)
	for i := range sessions {
		sessions[i] = benchSession(int64(i))
	}
	b.ReportAllocs()
	m := startCPU(c)
	b.ResetTimer()
	for _, s := range sessions {
		if err := st.Put(ctx, s); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	m.report(b, c)
}

func BenchmarkPutParallel(b *testing.B) {
	st, c := benchStore(b)
	ctx := context.Background()
	var next atomic.Int64
	b.ReportAllocs()
	m := startCPU(c)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := st.Put(ctx, benchSession(next.Add(1))); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	m.report(b, c)
}

// BenchmarkDecode is the client's decoding of a typical session record,
// by the direct path Get uses and by encoding/json, which it replaces.
func BenchmarkDecode(b *testing.B) {
	data, err := json.Marshal(benchSession(1))
	if err != nil {
		b.Fatal(err)
	}
	rec := string(data)
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			var s session.Session
			if err := redisstore.DecodeSession(rec, &s); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			var s session.Session
			if err := json.Unmarshal([]byte(rec), &s); err != nil {
				b.Fatal(err)
			}
		}
	})
}
