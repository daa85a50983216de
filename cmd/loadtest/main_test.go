package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/civicgate/civicgate/gateway/remote"
)

const redisAddr = "127.0.0.1:6379"

func requireRedis(t testing.TB) {
	t.Helper()
	c, err := net.DialTimeout("tcp", redisAddr, time.Second)
	if err != nil {
		if os.Getenv("CIVICGATE_NO_REDIS") == "1" {
			t.Skip("CIVICGATE_NO_REDIS=1")
		}
		t.Fatalf("Redis is not reachable on %s: %v (start it, or set CIVICGATE_NO_REDIS=1 to skip)", redisAddr, err)
	}
	_ = c.Close()
}

// TestRun drives a short load through a real gateway with Redis sessions
// and through the bare proxy, and checks that both served the module's page
// every time, that the module verified one valid assertion per gateway
// response and none on the bare path, and that the run's Redis keys are
// gone afterwards. Throughput is not asserted: it depends on the machine.
// With bind_request the module requires every assertion to be bound to
// its request, so the run also shows that the gateway binds them.
func TestRun(t *testing.T) {
	requireRedis(t)
	for _, bind := range []bool{false, true} {
		t.Run(fmt.Sprintf("bind_request=%v", bind), func(t *testing.T) { testRun(t, bind) })
	}
}

func testRun(t *testing.T, bind bool) {
	var progress bytes.Buffer
	rep, err := Run(context.Background(), Config{
		Duration: time.Second, Warmup: 200 * time.Millisecond, Concurrency: 4, Rounds: 2, Redis: redisAddr, BindRequest: bind,
	}, &progress)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, progress.String())
	}
	if len(rep.Failures) > 0 {
		t.Fatalf("failures: %q", rep.Failures)
	}
	for _, tg := range []Target{rep.Gateway, rep.Bare} {
		if len(tg.Runs) != 2 {
			t.Errorf("%s: %d runs, want 2", tg.Name, len(tg.Runs))
		}
		if tg.Requests() == 0 || tg.OK < tg.Requests() {
			t.Errorf("%s: %d measured requests, %d successful", tg.Name, tg.Requests(), tg.OK)
		}
		if tg.Errors() != 0 {
			t.Errorf("%s: %d errors: %s", tg.Name, tg.Errors(), tg.firstError())
		}
		if tg.P50 <= 0 || tg.P99 < tg.P50 {
			t.Errorf("%s: p50 %v p99 %v", tg.Name, tg.P50, tg.P99)
		}
	}
	if g := rep.Gateway; g.Verified == 0 || g.Verified != g.OK || g.Refused != 0 || g.Unasserted != 0 {
		t.Errorf("gateway: module verified %d, refused %d, unasserted %d for %d responses", g.Verified, g.Refused, g.Unasserted, g.OK)
	}
	if b := rep.Bare; b.Unasserted != b.OK || b.Verified != 0 {
		t.Errorf("bare: module saw %d without assertion, %d verified, for %d responses", b.Unasserted, b.Verified, b.OK)
	}
	if rep.Ratio <= 0 {
		t.Errorf("ratio %v", rep.Ratio)
	}
	var out bytes.Buffer
	rep.Print(&out)
	for _, want := range []string{"gateway", "bare proxy", "gateway / bare", "PASS"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}

	if rep.RedisPrefix == "" {
		t.Fatal("no Redis prefix reported")
	}
	c := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer c.Close()
	keys, err := c.Keys(context.Background(), rep.RedisPrefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 0 {
		t.Errorf("%d Redis keys left under the run's prefix", len(keys))
	}
}

// TestUpstreamRefuses checks the module's side of the check: a request
// with a forged assertion is refused and counted, so a gateway that sent
// bad assertions would fail the run.
func TestUpstreamRefuses(t *testing.T) {
	up, err := startUpstream()
	if err != nil {
		t.Fatal(err)
	}
	defer up.close()
	// The keys are never fetched: the forged token fails to parse first.
	if err := up.trust("http://127.0.0.1:1", false); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, up.url+"/", nil)
	req.Header.Set(remote.HeaderAssertion, "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Errorf("forged assertion: status %d, want 401", res.StatusCode)
	}
	if c := up.counts(); c.refused != 1 || c.verified != 0 {
		t.Errorf("counts after a forged assertion: %+v", c)
	}
	var buf [32 << 10]byte
	if err := fetch(context.Background(), http.DefaultClient, up.url+"/", "", buf[:]); err != nil {
		t.Errorf("plain request: %v", err)
	}
	if c := up.counts(); c.unasserted != 1 {
		t.Errorf("counts after a plain request: %+v", c)
	}
}

// TestConfigValidate checks that every problem is reported at once.
func TestConfigValidate(t *testing.T) {
	err := Config{Duration: -1, Concurrency: -1, MinRatio: -1, Postgres: "mysql://x"}.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"duration:", "concurrency:", "min_ratio:", "postgres:"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	if err := (Config{}).withDefaults().Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
}

// benchEnv is the module, gateway and bare proxy the benchmarks share, so
// that the gateway is built once however often the benchmarks are run.
var benchEnv struct {
	once    sync.Once
	err     error
	up      *upstream
	gw      *gatewayTarget
	bare    *bareTarget
	cookies []string
	client  *http.Client
}

func TestMain(m *testing.M) {
	code := m.Run()
	if e := &benchEnv; e.gw != nil {
		e.client.CloseIdleConnections()
		e.bare.close()
		e.gw.close()
		e.up.close()
	}
	os.Exit(code)
}

func setupBench(b *testing.B) {
	requireRedis(b)
	e := &benchEnv
	e.once.Do(func() {
		ctx := context.Background()
		if e.up, e.err = startUpstream(); e.err != nil {
			return
		}
		if e.gw, e.err = startGateway(ctx, Config{Redis: redisAddr}.withDefaults(), e.up.url); e.err != nil {
			return
		}
		if e.err = e.up.trust(e.gw.url, false); e.err != nil {
			return
		}
		if e.bare, e.err = startBare(e.up.url); e.err != nil {
			return
		}
		e.cookies, e.err = e.gw.sessions(ctx, 64)
		e.client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128, DisableCompression: true}, Timeout: 30 * time.Second}
	})
	if e.err != nil {
		b.Fatal(e.err)
	}
}

// benchTarget drives GETs at url from 8 goroutines per CPU and reports the
// CPU time of this process (client, proxy and module together) and of
// Redis per request. For a profile of where the time goes:
//
//	go test -run '^$' -bench Gateway -benchtime 20000x -cpuprofile /tmp/gw.pprof ./cmd/loadtest/
func benchTarget(b *testing.B, url string) {
	e := &benchEnv
	ctx := context.Background()
	var next atomic.Int64
	before := e.up.counts()
	cpu, redisCPU := processCPU(), e.gw.redisCPU(ctx)
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		cookie := e.cookies[int(next.Add(1))%len(e.cookies)]
		buf := make([]byte, 32<<10)
		for pb.Next() {
			if err := fetch(ctx, e.client, url, cookie, buf); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(e.gw.redisCPU(ctx)-redisCPU)/float64(b.N), "redis-cpu-ns/op")
	if seen := e.up.counts().minus(before); seen.refused > 0 {
		b.Errorf("the module refused %d assertions: %s", seen.refused, e.up.lastRefusal())
	}
}

// BenchmarkGateway is a logged-in citizen's request through the gateway to
// the remote module.
func BenchmarkGateway(b *testing.B) {
	setupBench(b)
	benchTarget(b, benchEnv.gw.url+"/e/"+moduleID+"/")
}

// BenchmarkBare is the same request through a bare httputil.ReverseProxy.
func BenchmarkBare(b *testing.B) {
	setupBench(b)
	benchTarget(b, benchEnv.bare.url+"/")
}
