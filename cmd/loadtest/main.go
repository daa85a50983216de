// Command loadtest measures the gateway's request path against a bare
// reverse proxy, and case submissions per second on PostgreSQL.
//
//	go run ./cmd/loadtest -duration 10s -concurrency 32 \
//	    [-postgres postgres://postgres@127.0.0.1:5432/test?sslmode=disable] [-cases 2000] [-case-workers 4] \
//	    [-min-ratio 0.8] [-cpuprofile /tmp/lt]
//
// In one process it starts a remote module on 127.0.0.1 that verifies the
// gateway's identity assertion on every request (with remote.Verifier, as
// eservices/example/remote does; that module is a main package and cannot
// be imported) and answers a small HTML page; a gateway built by app.Build
// from the dev configuration with Redis sessions and that module under
// remote_modules, served by a real http.Server; and a bare
// httputil.ReverseProxy to the same module. Logged-in sessions are written
// straight into Redis with the gateway's own store and key prefix (one per
// worker), so the measured path is the one every request of a logged-in
// citizen takes: cookie, session lookup with idle extension, the module
// guard, the signed assertion, the proxy hop and the module's verification.
// The login itself is not measured.
//
// Without an assertion (the bare proxy's requests) the module fills its
// page with stand-ins of the same size, so both paths make it render and
// send the same bytes. With -cpuprofile, every sample carries the label
// part=load generator|gateway|module|bare proxy (go tool pprof -tags).
//
// The same closed-loop load (N workers on keep-alive connections) is driven
// at the gateway and the bare proxy in alternating runs, each after a
// warm-up that is not counted. Every response must be 200 with the module's
// page, and the module must have verified exactly one valid assertion per
// gateway response and seen none on the bare proxy's; anything else is a
// failure and the exit status is 1. With -min-ratio the gateway must also
// keep that fraction of the bare proxy's requests per second.
//
// With -postgres, cases are created through cases.SQL with audit.SQL as the
// auditor (case, history, outbox and audit entry in one transaction) in a
// fresh schema that is dropped afterwards; the schema's audit chain is
// verified and must hold exactly one entry per case.
//
// Everything listens on 127.0.0.1 only, the Redis keys carry a prefix unique
// to the run and are deleted at the end, and every loop is bounded by the
// duration or the case count.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	redisstore "github.com/civicgate/civicgate/auth/session/redis"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

// Config is one load test run; the flags of the command set it.
type Config struct {
	// Duration is the measured time per target, split evenly over Rounds
	// runs (warm-ups come on top). Default 10s.
	Duration time.Duration `yaml:"duration"`
	// Warmup is the time at the start of every run whose requests are
	// checked but not measured. Default 1s.
	Warmup time.Duration `yaml:"warmup"`
	// Concurrency is the number of workers, each with its own session, each
	// sending its next request as soon as the last one is answered. Default
	// 32.
	Concurrency int `yaml:"concurrency"`
	// Rounds is how many times each target is run, alternating gateway and
	// bare proxy to spread drift in the machine's load over both. Default 2.
	Rounds int `yaml:"rounds"`
	// Redis is the host:port of the Redis that holds the gateway's sessions.
	// Default "127.0.0.1:6379".
	Redis string `yaml:"redis"`
	// Postgres is a PostgreSQL URL; when set, case submissions are measured
	// in a fresh schema there. Default empty: not measured.
	Postgres string `yaml:"postgres"`
	// Cases is how many cases the submission test creates. Default 2000.
	Cases int `yaml:"cases"`
	// CaseWorkers is how many workers create cases at once. Default: the
	// same as concurrency.
	CaseWorkers int `yaml:"case_workers"`
	// MinRatio, when above zero, makes the run fail if the gateway's
	// requests per second are below this fraction of the bare proxy's.
	// Default 0: only reported.
	MinRatio float64 `yaml:"min_ratio"`
	// BindRequest configures the module with bind_request, so that every
	// request gets a newly signed assertion bound to it, and makes the
	// module require the binding. Default false: the gateway reuses a
	// person's assertion for up to 30 seconds, as deployed by default.
	BindRequest bool `yaml:"bind_request"`
	// CPUProfile, when set, is a path prefix: the first gateway run's CPU
	// profile is written to <prefix>.gateway.pprof and the first bare run's
	// to <prefix>.bare.pprof. Default empty: no profiles.
	CPUProfile string `yaml:"cpu_profile"`
}

// withDefaults returns c with the documented defaults filled in.
func (c Config) withDefaults() Config {
	if c.Duration == 0 {
		c.Duration = 10 * time.Second
	}
	if c.Warmup == 0 {
		c.Warmup = time.Second
	}
	if c.Concurrency == 0 {
		c.Concurrency = 32
	}
	if c.Rounds == 0 {
		c.Rounds = 2
	}
	if c.Redis == "" {
		c.Redis = "127.0.0.1:6379"
	}
	if c.Cases == 0 {
		c.Cases = 2000
	}
	if c.CaseWorkers == 0 {
		c.CaseWorkers = c.Concurrency
	}
	return c
}

// Validate reports every problem in c at once.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Duration < 0 {
		add("duration: must not be negative")
	}
	if c.Warmup < 0 {
		add("warmup: must not be negative")
	}
	if c.Concurrency < 0 || c.Concurrency > 4096 {
		add("concurrency: must be from 1 to 4096")
	}
	if c.Rounds < 0 || c.Rounds > 100 {
		add("rounds: must be from 1 to 100")
	}
	if c.Cases < 0 {
		add("cases: must not be negative")
	}
	if c.CaseWorkers < 0 || c.CaseWorkers > 1024 {
		add("case_workers: must be from 1 to 1024")
	}
	if c.MinRatio < 0 || c.MinRatio > 10 {
		add("min_ratio: must be from 0 to 10")
	}
	if c.Postgres != "" && !strings.HasPrefix(c.Postgres, "postgres://") && !strings.HasPrefix(c.Postgres, "postgresql://") {
		add("postgres: must be a postgres:// URL")
	}
	return errors.Join(errs...)
}

func main() {
	var c Config
	flag.DurationVar(&c.Duration, "duration", 10*time.Second, "measured time per target, split over -rounds runs")
	flag.DurationVar(&c.Warmup, "warmup", time.Second, "unmeasured warm-up at the start of every run")
	flag.IntVar(&c.Concurrency, "concurrency", 32, "closed-loop workers, one session each")
	flag.IntVar(&c.Rounds, "rounds", 2, "runs per target, alternating gateway and bare proxy")
	flag.StringVar(&c.Redis, "redis", "127.0.0.1:6379", "Redis for the gateway's sessions (host:port)")
	flag.StringVar(&c.Postgres, "postgres", "", "PostgreSQL URL; measure case submissions in a fresh schema there")
	flag.IntVar(&c.Cases, "cases", 2000, "cases to create with -postgres")
	flag.IntVar(&c.CaseWorkers, "case-workers", 0, "workers creating cases at once (default: -concurrency)")
	flag.Float64Var(&c.MinRatio, "min-ratio", 0, "fail when gateway req/s divided by bare req/s is below this (0: report only)")
	flag.BoolVar(&c.BindRequest, "bind-request", false, "configure the module with bind_request (a new assertion per request)")
	flag.StringVar(&c.CPUProfile, "cpuprofile", "", "path prefix for CPU profiles of the first gateway and bare runs")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := Run(ctx, c, os.Stderr)
	if rep != nil {
		rep.Print(os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(2)
	}
	if len(rep.Failures) > 0 {
		os.Exit(1)
	}
}

// Report is what a run measured, and what went wrong.
type Report struct {
	Config  Config
	Gateway Target
	Bare    Target
	// Ratio is the gateway's requests per second over the bare proxy's.
	Ratio float64
	// Cases is set when case submissions were measured.
	Cases *CaseResult
	// CPURatio is the bare path's CPU time per request (this process and
	// Redis) over the gateway path's: the throughput ratio a machine would
	// reach with every core busy with this load alone. It varies less than
	// Ratio when other work shares the machine.
	CPURatio float64
	// RedisPrefix is the key prefix of the run's sessions (deleted at the
	// end).
	RedisPrefix string
	// LoadBefore and LoadAfter are the machine's 1-minute load averages,
	// to judge how much other work competed with the measurement.
	LoadBefore, LoadAfter string
	// SessionCache is what the gateway's local session cache did over the
	// whole run (zero when it has none).
	SessionCache redisstore.CacheStats
	// Failures lists every check that failed; empty means the run passed.
	Failures []string
}

// Print writes the report as a small table.
func (r *Report) Print(w io.Writer) {
	c := r.Config
	fmt.Fprintf(w, "civicgate load test: %d workers, %s measured per target in %d alternating runs (+%s warm-up each), GOMAXPROCS=%d, bind_request %v\n\n",
		c.Concurrency, c.Duration, c.Rounds, c.Warmup, gomaxprocs(), c.BindRequest)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\truns req/s\treq/s\tp50\tp99\trequests\terrors\tCPU/req\tRedis CPU/req\t")
	for _, t := range []Target{r.Gateway, r.Bare} {
		var runs []string
		for _, x := range t.Runs {
			runs = append(runs, fmt.Sprintf("%.0f", x.RPS()))
		}
		fmt.Fprintf(tw, "%s\t%s\t%.0f\t%s\t%s\t%d\t%d\t%s\t%s\t\n", t.Name, strings.Join(runs, " / "), t.RPS(),
			fmtDur(t.P50), fmtDur(t.P99), t.Requests(), t.Errors(), fmtDur(t.CPUPerRequest()), fmtDur(t.RedisCPUPerRequest()))
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "\ngateway / bare = %.3f req/s", r.Ratio)
	if c.MinRatio > 0 {
		fmt.Fprintf(w, " (required ≥ %.2f)", c.MinRatio)
	}
	fmt.Fprintf(w, "; by CPU time per request (this process + Redis) = %.3f", r.CPURatio)
	fmt.Fprintf(w, "\nmachine load average (1 min) before %s, after %s", r.LoadBefore, r.LoadAfter)
	fmt.Fprintf(w, "\nmodule verified %d assertions (%d refused) for %d gateway responses; %d bare requests without assertion\n",
		r.Gateway.Verified, r.Gateway.Refused, r.Gateway.OK, r.Bare.Unasserted)
	if sc := r.SessionCache; sc.Hits+sc.Misses > 0 {
		fmt.Fprintf(w, "session cache: %d hits, %d misses, %d fell back to Redis; %d read barriers (%.1f reads per barrier), %d invalidations\n",
			sc.Hits, sc.Misses, sc.Fallbacks, sc.Pings, float64(sc.Hits)/float64(max(sc.Pings, 1)), sc.Invalidations)
	}
	if cr := r.Cases; cr != nil {
		fmt.Fprintf(w, "\ncase submissions on PostgreSQL (case + history + outbox + audit entry in one transaction):\n")
		fmt.Fprintf(w, "  %d cases by %d workers in %s = %.0f cases/s, p50 %s, p99 %s, errors %d; audit chain: %d entries, intact %v\n",
			cr.Created, cr.Workers, cr.Elapsed.Round(time.Millisecond), cr.PerSecond(), fmtDur(cr.P50), fmtDur(cr.P99), cr.Errors, cr.AuditEntries, cr.AuditIntact)
	}
	if len(r.Failures) == 0 {
		fmt.Fprintln(w, "\nPASS")
		return
	}
	fmt.Fprintln(w, "\nFAIL")
	for _, f := range r.Failures {
		fmt.Fprintln(w, "  -", f)
	}
}

func fmtDur(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < time.Millisecond:
		return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
	default:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	}
}
