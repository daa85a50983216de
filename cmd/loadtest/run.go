package main

import (
	"context"
	"fmt"
	redisstore "github.com/civicgate/civicgate/auth/session/redis"
	"io"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Run starts the module, the gateway and the bare proxy, drives the load,
// measures case submissions when c.Postgres is set, and tears everything
// down. An error means the test could not be set up or run; failed checks
// are in Report.Failures. Progress goes to progress.
func Run(ctx context.Context, c Config, progress io.Writer) (*Report, error) {
	c = c.withDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	rep := &Report{Config: c, Gateway: Target{Name: "gateway"}, Bare: Target{Name: "bare proxy"}, LoadBefore: loadAverage()}
	defer func() { rep.LoadAfter = loadAverage() }()
	fail := func(format string, args ...any) { rep.Failures = append(rep.Failures, fmt.Sprintf(format, args...)) }

	up, err := startUpstream()
	if err != nil {
		return nil, err
	}
	defer up.close()
	gw, err := startGateway(ctx, c, up.url)
	if err != nil {
		return nil, err
	}
	defer gw.close()
	rep.RedisPrefix = gw.prefix
	if err := up.trust(gw.url, c.BindRequest); err != nil {
		return nil, err
	}
	bare, err := startBare(up.url)
	if err != nil {
		return nil, err
	}
	defer bare.close()
	cookies, err := gw.sessions(ctx, c.Concurrency)
	if err != nil {
		return nil, err
	}

	client := &http.Client{
		Transport: &http.Transport{
			Proxy:               nil,
			MaxIdleConns:        2 * c.Concurrency,
			MaxIdleConnsPerHost: 2 * c.Concurrency,
			IdleConnTimeout:     time.Minute,
			DisableCompression:  true,
		},
		Timeout: 30 * time.Second,
		// A redirect (to the login page) is a failure to report, not to follow.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	defer client.CloseIdleConnections()

	per := c.Duration / time.Duration(c.Rounds)
	for round := 0; round < c.Rounds; round++ {
		for _, t := range []*Target{&rep.Gateway, &rep.Bare} {
			if err := ctx.Err(); err != nil {
				return rep, err
			}
			url := bare.url + "/"
			if t == &rep.Gateway {
				url = gw.url + "/e/" + moduleID + "/"
			}
			var profile string
			if round == 0 && c.CPUProfile != "" {
				profile = c.CPUProfile + "." + strings.Fields(t.Name)[0] + ".pprof"
			}
			before := up.counts()
			redisBefore := gw.redisCPU(ctx)
			r, err := drive(ctx, client, url, cookies, c.Concurrency, c.Warmup, per, profile)
			if err != nil {
				return rep, err
			}
			r.RedisCPU = gw.redisCPU(ctx) - redisBefore
			if profile != "" && t == &rep.Gateway {
				// Allocations so far: mostly the gateway's run, which is the
				// first (go tool pprof -sample_index=alloc_space).
				if err := writeProfile("allocs", strings.TrimSuffix(profile, ".pprof")+".allocs.pprof"); err != nil {
					return rep, err
				}
			}
			seen := up.counts().minus(before)
			t.Verified += seen.verified
			t.Refused += seen.refused
			t.Unasserted += seen.unasserted
			t.Runs = append(t.Runs, r)
			fmt.Fprintf(progress, "%-10s run %d: %6.0f req/s, %d errors\n", t.Name, round+1, r.RPS(), r.Errors)
		}
	}
	if cs, ok := gw.app.Sessions.(interface{ CacheStats() redisstore.CacheStats }); ok {
		rep.SessionCache = cs.CacheStats()
	}
	for _, t := range []*Target{&rep.Gateway, &rep.Bare} {
		t.summarise()
		if t.Requests() == 0 {
			fail("%s: no request was measured", t.Name)
		}
		if n := t.Errors(); n > 0 {
			fail("%s: %d requests failed, e.g. %s", t.Name, n, t.firstError())
		}
	}
	if g := rep.Gateway; g.Refused > 0 || g.Unasserted > 0 || g.Verified != g.OK {
		fail("gateway: the module verified %d assertions and refused %d for %d successful responses, and saw %d requests without one (last refusal: %s)",
			g.Verified, g.Refused, g.OK, g.Unasserted, up.lastRefusal())
	}
	if b := rep.Bare; b.Verified > 0 || b.Refused > 0 || b.Unasserted != b.OK {
		fail("bare proxy: the module saw %d requests without assertion for %d successful responses, and %d with one", b.Unasserted, b.OK, b.Verified+b.Refused)
	}
	if n, lines := gw.logs.problems(); n > 0 {
		fail("gateway: %d warnings or errors in its log, e.g. %s", n, lines)
	}
	if b := rep.Bare.RPS(); b > 0 {
		rep.Ratio = rep.Gateway.RPS() / b
	}
	if g := rep.Gateway.CPUPerRequest() + rep.Gateway.RedisCPUPerRequest(); g > 0 {
		rep.CPURatio = float64(rep.Bare.CPUPerRequest()+rep.Bare.RedisCPUPerRequest()) / float64(g)
	}
	if c.MinRatio > 0 && rep.Ratio < c.MinRatio {
		fail("gateway keeps %.3f of the bare proxy's requests per second, below -min-ratio %.2f", rep.Ratio, c.MinRatio)
	}

	if c.Postgres != "" {
		fmt.Fprintf(progress, "creating %d cases on PostgreSQL with %d workers\n", c.Cases, c.CaseWorkers)
		cr, err := runCases(ctx, c.Postgres, c.CaseWorkers, c.Cases)
		if err != nil {
			return rep, err
		}
		rep.Cases = cr
		if cr.Errors > 0 {
			fail("cases: %d submissions failed, e.g. %s", cr.Errors, cr.FirstError)
		}
		if cr.Stored != int64(c.Cases) || cr.Created != int64(c.Cases) {
			fail("cases: %d created and %d stored, want %d", cr.Created, cr.Stored, c.Cases)
		}
		if !cr.AuditIntact || cr.AuditEntries != int64(c.Cases) {
			fail("cases: audit chain intact=%v with %d entries, want %d (one per case)", cr.AuditIntact, cr.AuditEntries, c.Cases)
		}
	}
	return rep, nil
}

// RunResult is one run of the load at one target.
type RunResult struct {
	// Measured is how many requests completed within the measured window,
	// which lasted Window.
	Measured int64
	Window   time.Duration
	// OK and Errors count every request of the run, warm-up included.
	OK, Errors int64
	// FirstError describes the first failed request.
	FirstError string
	// Latencies of the measured requests, unsorted.
	Latencies []time.Duration
	// CPU is this process's user and system CPU time during the run, and
	// RedisCPU the Redis server's (as INFO cpu reports it).
	CPU, RedisCPU time.Duration
}

// RPS is the run's completed requests per second in the measured window.
func (r RunResult) RPS() float64 {
	if r.Window <= 0 {
		return 0
	}
	return float64(r.Measured) / r.Window.Seconds()
}

// Target is everything measured at one target.
type Target struct {
	Name string
	Runs []RunResult
	// P50 and P99 are over every measured request of every run.
	P50, P99 time.Duration
	// OK counts successful responses, warm-ups included.
	OK int64
	// What the module saw while this target was driven: valid assertions,
	// refused ones, and requests without an assertion.
	Verified, Refused, Unasserted int64
}

func (t *Target) summarise() {
	var all []time.Duration
	t.OK = 0
	for _, r := range t.Runs {
		all = append(all, r.Latencies...)
		t.OK += r.OK
	}
	slices.Sort(all)
	t.P50, t.P99 = percentile(all, 0.50), percentile(all, 0.99)
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// RPS is the target's requests per second over all its measured windows.
func (t Target) RPS() float64 {
	var n int64
	var d time.Duration
	for _, r := range t.Runs {
		n += r.Measured
		d += r.Window
	}
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// Requests is the number of measured requests.
func (t Target) Requests() int64 {
	var n int64
	for _, r := range t.Runs {
		n += r.Measured
	}
	return n
}

// Errors is the number of failed requests, warm-ups included.
func (t Target) Errors() int64 {
	var n int64
	for _, r := range t.Runs {
		n += r.Errors
	}
	return n
}

// CPUPerRequest is this process's CPU time per request (client, gateway or
// bare proxy, and module together; warm-ups included).
func (t Target) CPUPerRequest() time.Duration {
	var cpu time.Duration
	var n int64
	for _, r := range t.Runs {
		cpu += r.CPU
		n += r.OK + r.Errors
	}
	if n == 0 {
		return 0
	}
	return cpu / time.Duration(n)
}

// RedisCPUPerRequest is the Redis server's CPU time per request.
func (t Target) RedisCPUPerRequest() time.Duration {
	var cpu time.Duration
	var n int64
	for _, r := range t.Runs {
		cpu += r.RedisCPU
		n += r.OK + r.Errors
	}
	if n == 0 {
		return 0
	}
	return cpu / time.Duration(n)
}

func (t Target) firstError() string {
	for _, r := range t.Runs {
		if r.FirstError != "" {
			return r.FirstError
		}
	}
	return ""
}

// drive runs conc closed-loop workers against url for warmup+measure. Worker
// i sends cookie i with every request. Requests in flight at the end are
// completed, not cancelled, so that none is counted as failed for being cut
// off. With profile set, the run's CPU profile is written there.
func drive(ctx context.Context, client *http.Client, url string, cookies []string, conc int, warmup, measure time.Duration, profile string) (RunResult, error) {
	if profile != "" {
		f, err := os.Create(profile)
		if err != nil {
			return RunResult{}, fmt.Errorf("cpuprofile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return RunResult{}, fmt.Errorf("cpuprofile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	type worker struct {
		measured, ok, errs int64
		firstErr           string
		lat                []time.Duration
	}
	ws := make([]worker, conc)
	cpuBefore := processCPU()
	start := time.Now()
	from, end := start.Add(warmup), start.Add(warmup+measure)
	var wg sync.WaitGroup
	for i := range ws {
		w := &ws[i]
		wg.Go(func() {
			pprof.SetGoroutineLabels(pprof.WithLabels(ctx, pprof.Labels("part", "load generator")))
			buf := make([]byte, 32<<10)
			for {
				t0 := time.Now()
				if !t0.Before(end) || ctx.Err() != nil {
					return
				}
				err := fetch(ctx, client, url, cookies[i], buf)
				t1 := time.Now()
				if err != nil {
					w.errs++
					if w.firstErr == "" {
						w.firstErr = err.Error()
					}
					continue
				}
				w.ok++
				if !t1.Before(from) && !t1.After(end) {
					w.measured++
					w.lat = append(w.lat, t1.Sub(t0))
				}
			}
		})
	}
	wg.Wait()
	r := RunResult{Window: measure, CPU: processCPU() - cpuBefore}
	for _, w := range ws {
		r.Measured += w.measured
		r.OK += w.ok
		r.Errors += w.errs
		r.Latencies = append(r.Latencies, w.lat...)
		if r.FirstError == "" {
			r.FirstError = w.firstErr
		}
	}
	return r, nil
}

// fetch GETs url with the session cookie and checks that the module's page
// came back whole.
func fetch(ctx context.Context, client *http.Client, url, cookie string, buf []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Cookie", cookie)
	req.Header.Set("Accept", "text/html")
	res, err := client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	n, err := io.ReadFull(res.Body, buf)
	if err != nil && err != io.ErrUnexpectedEOF {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("status %d, reading the body: %w", res.StatusCode, err)
	}
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d (Location %q)", res.StatusCode, res.Header.Get("Location"))
	}
	if n == len(buf) {
		return fmt.Errorf("body larger than %d bytes", len(buf))
	}
	if !strings.Contains(string(buf[:n]), pageMarker) {
		return fmt.Errorf("status 200 but not the module's page (%d bytes)", n)
	}
	return nil
}

// processCPU returns the user and system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loadAverage returns the 1-minute load average, or "?" off Linux.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	if f := strings.Fields(string(b)); len(f) > 0 {
		return f[0]
	}
	return "?"
}

func gomaxprocs() int { return runtime.GOMAXPROCS(0) }

func writeProfile(name, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	if err := pprof.Lookup(name).WriteTo(f, 0); err != nil {
		f.Close()
		return fmt.Errorf("profile: %w", err)
	}
	return f.Close()
}
