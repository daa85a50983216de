package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/civicgate/civicgate/auth"
	"github.com/civicgate/civicgate/auth/session"
	"github.com/civicgate/civicgate/configs"
	"github.com/civicgate/civicgate/gateway/app"
	"github.com/civicgate/civicgate/gateway/config"
	"github.com/civicgate/civicgate/gateway/logging"
	"github.com/civicgate/civicgate/gateway/remote"
)

// moduleID is the remote module's ID, as in eservices/example/remote.
const moduleID = "exempel"

// pageMarker is in every page the module serves; a 200 without it came from
// somewhere else.
const pageMarker = "<h1>Felanmälan gata och park</h1>"

var page = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="sv"><head><meta charset="utf-8"><title>Felanmälan gata och park</title></head>
<body><main>
` + pageMarker + `
{{if .Name}}<p>Du är inloggad som {{.Name}} (nivå {{.LoA}}).</p>{{end}}
<form method="post" action="./">
<input type="hidden" name="csrf" value="{{.CSRF}}">
<label for="plats">Var är felet?</label> <input id="plats" name="plats" maxlength="200">
<label for="beskrivning">Beskriv felet</label> <textarea id="beskrivning" name="beskrivning"></textarea>
<button>Skicka</button>
</form>
</main></body></html>
`))

// upstream is the remote module: it verifies the gateway's assertion when a
// request carries one (refusing it with 401 when invalid) and answers its
// form page either way, so the bare proxy can reach it too. A request
// without an assertion gets the page filled with stand-ins of the same
// size, so the module renders and sends the same bytes on both paths and
// the difference measured is the gateway's (and the verification's).
type upstream struct {
	url      string
	srv      *http.Server
	verifier atomic.Pointer[remote.Verifier]

	verified, refused, unasserted atomic.Int64
	refusal                       atomic.Pointer[string]
}

type upstreamCounts struct{ verified, refused, unasserted int64 }

func (c upstreamCounts) minus(o upstreamCounts) upstreamCounts {
	return upstreamCounts{c.verified - o.verified, c.refused - o.refused, c.unasserted - o.unasserted}
}

func startUpstream() (*upstream, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("module: %w", err)
	}
	u := &upstream{url: "http://" + ln.Addr().String()}
	u.srv = &http.Server{Handler: u, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	go serveAs("module", u.srv, ln)
	return u, nil
}

// trust makes the module accept assertions of the gateway at gatewayURL,
// with keys from its JWKS as a deployed module fetches them; with bind it
// accepts only assertions bound to their request.
func (u *upstream) trust(gatewayURL string, bind bool) error {
	v, err := remote.NewVerifier(gatewayURL+remote.JWKSPath, moduleID, remote.VerifierOptions{RequireRequestBinding: bind})
	if err != nil {
		return fmt.Errorf("module: %w", err)
	}
	u.verifier.Store(v)
	return nil
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var data struct{ Name, LoA, CSRF string }
	if r.Header.Get(remote.HeaderAssertion) == "" {
		u.unasserted.Add(1)
		data.Name, data.LoA, data.CSRF = standInName, "substantial", standInCSRF
	} else {
		v := u.verifier.Load()
		if v == nil {
			u.refuse(w, "no verifier yet")
			return
		}
		a, err := v.Verify(r)
		if err != nil {
			u.refuse(w, err.Error())
			return
		}
		// The gateway let a logged-in citizen through at the module's
		// level; an assertion saying anything else is as wrong as a forged
		// one.
		if a.Actor.Kind != string(auth.Citizen) || a.Subject == "" || a.Actor.Key == "" || (a.LoA != "substantial" && a.LoA != "high") || a.Channel != remote.ChannelEService {
			u.refuse(w, "assertion for the wrong actor, level or channel")
			return
		}
		u.verified.Add(1)
		data.Name, data.LoA, data.CSRF = a.Actor.Name, a.LoA, r.Header.Get(remote.HeaderCSRFToken)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	var b bytes.Buffer
	if err := page.Execute(&b, data); err != nil {
		http.Error(w, "template", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
	_, _ = w.Write(b.Bytes())
}

// Stand-ins for the bare path: a name as long as the test people's and a
// token as long as a CSRF token.
var (
	standInName = "Tolvan Tolvansson"
	standInCSRF = strings.Repeat("x", len(session.NewID()))
)

func (u *upstream) refuse(w http.ResponseWriter, why string) {
	u.refused.Add(1)
	u.refusal.Store(&why)
	http.Error(w, "invalid identity assertion", http.StatusUnauthorized)
}

func (u *upstream) counts() upstreamCounts {
	return upstreamCounts{u.verified.Load(), u.refused.Load(), u.unasserted.Load()}
}

func (u *upstream) lastRefusal() string {
	if p := u.refusal.Load(); p != nil {
		return *p
	}
	return "none"
}

func (u *upstream) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = u.srv.Shutdown(ctx)
}

// gatewayTarget is a gateway built the way the binary builds it, with Redis
// sessions under a key prefix of its own.
type gatewayTarget struct {
	url     string
	app     *app.App
	srv     *http.Server
	cfg     *config.Config
	prefix  string
	redis   *redis.Client
	dataDir string
	logs    *logWatch
	stop    func() // stops the background jobs and waits for them
}

// remoteModuleYAML is the module's entry as eservices/example/remote's
// README gives it, with bind_request when bind is set.
func remoteModuleYAML(upstreamURL string, bind bool) string {
	return `
remote_modules:
  - id: ` + moduleID + `
    upstream: ` + upstreamURL + `
    title_sv: Felanmälan gata och park
    title_en: Report a street or park fault
    owner:
      department: Tekniska förvaltningen
      name: Gatuchef
      contact: felanmalan@example.se
    min_loa: substantial
    actors: [self, contact-centre]
    handler_roles: [street-handler]
    personal_data: [name, location, description of the fault]
    legal_basis: Allmänt intresse (GDPR art. 6.1 e)
    retention: 17520h
    bind_request: ` + strconv.FormatBool(bind) + `
`
}

func startGateway(ctx context.Context, c Config, upstreamURL string) (_ *gatewayTarget, err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	g := &gatewayTarget{url: "http://" + ln.Addr().String(), logs: &logWatch{}}
	defer func() {
		if err != nil {
			_ = ln.Close()
			g.close()
		}
	}()
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	g.prefix = fmt.Sprintf("cgload-%d-%s:", os.Getpid(), hex.EncodeToString(rnd[:]))
	g.redis = redis.NewClient(&redis.Options{Addr: c.Redis, DialTimeout: 2 * time.Second})
	if err := g.redis.Ping(ctx).Err(); err != nil {
		return nil, fmt.Errorf("redis at %s is not reachable: %w", c.Redis, err)
	}
	if g.dataDir, err = os.MkdirTemp("", "civicgate-loadtest-"); err != nil {
		return nil, err
	}
	yaml := append(bytes.TrimRight(append([]byte(nil), configs.Dev...), "\n"), remoteModuleYAML(upstreamURL, c.BindRequest)...)
	env := []string{
		"CIVICGATE_PUBLIC_URL=" + g.url,
		"CIVICGATE_LISTEN=" + ln.Addr().String(),
		"CIVICGATE_DATA_DIR=" + g.dataDir,
		"CIVICGATE_SESSIONS_STORE=redis",
		"CIVICGATE_SESSIONS_REDIS_ADDRS=" + c.Redis,
		"CIVICGATE_SESSIONS_REDIS_KEY_PREFIX=" + g.prefix,
	}
	if g.cfg, err = config.Parse(yaml, config.Options{Dev: true, Environ: env}); err != nil {
		return nil, fmt.Errorf("gateway configuration: %w", err)
	}
	// The access log is written as in production (JSON, info), but to a
	// sink that only keeps warnings and errors, which fail the run.
	log := logging.New(g.logs, "json", "info")
	if g.app, err = app.Build(ctx, g.cfg, log, app.Options{}); err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	g.stop = g.app.Start()
	// The timeouts of cmd/civicgate's public listener.
	g.srv = &http.Server{
		Handler:           g.app.Server.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	go serveAs("gateway", g.srv, ln)
	return g, nil
}

// persons are test people of the population register (EID.md).
var persons = []struct {
	pnr, given, family string
	coordination       bool
}{
	{"198107249289", "Tolvan", "Tolvansson", false},
	{"195006262546", "Elvan", "Elvansson", false},
	{"197010632391", "Samuel", "Samordnare", true},
}

// sessions logs n citizens in, as the gateway's login does at its end: a
// session in the gateway's own store. It returns their Cookie headers.
func (g *gatewayTarget) sessions(ctx context.Context, n int) ([]string, error) {
	now := time.Now()
	name := "cg_session"
	if !g.cfg.Security.InsecureCookies {
		name = "__Host-cg_session"
	}
	out := make([]string, n)
	for i := range out {
		p := persons[i%len(persons)]
		s := &session.Session{
			ID: session.NewID(),
			Identity: auth.Identity{
				Kind: auth.Citizen, PersonalNumber: p.pnr, CoordinationNumber: p.coordination,
				Subject: "loadtest-" + strconv.Itoa(i), GivenName: p.given, FamilyName: p.family,
				LoA: auth.LoASubstantial, LoAURI: auth.URILoA3, IdP: "test-oidc", Method: "oidc", AuthTime: now,
			},
			CSRF:        session.NewID(),
			Created:     now,
			Expires:     now.Add(g.cfg.Sessions.AbsoluteTimeout),
			IdleTimeout: g.cfg.Sessions.IdleTimeout,
			LastSeen:    now,
			UserAgent:   "civicgate loadtest",
		}
		if err := g.app.Sessions.Put(ctx, s); err != nil {
			return nil, fmt.Errorf("creating a session: %w", err)
		}
		out[i] = name + "=" + s.ID
	}
	return out, nil
}

// redisCPU returns the Redis server's user and system CPU time so far, or
// zero when INFO does not say.
func (g *gatewayTarget) redisCPU(ctx context.Context) time.Duration {
	info, err := g.redis.Info(ctx, "cpu").Result()
	if err != nil {
		return 0
	}
	var total float64
	for _, line := range strings.Split(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && (k == "used_cpu_sys" || k == "used_cpu_user") {
			f, _ := strconv.ParseFloat(v, 64)
			total += f
		}
	}
	return time.Duration(total * float64(time.Second))
}

// close stops the gateway and deletes its Redis keys and data directory.
func (g *gatewayTarget) close() {
	if g.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = g.srv.Shutdown(ctx)
		cancel()
	}
	if g.stop != nil {
		g.stop()
	}
	if g.app != nil {
		g.app.Close()
	}
	if g.redis != nil {
		if g.prefix != "" {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			_ = deletePrefix(ctx, g.redis, g.prefix)
			cancel()
		}
		_ = g.redis.Close()
	}
	if g.dataDir != "" {
		_ = os.RemoveAll(g.dataDir)
	}
}

// deletePrefix deletes every key that starts with prefix.
func deletePrefix(ctx context.Context, c *redis.Client, prefix string) error {
	iter := c.Scan(ctx, 0, prefix+"*", 500).Iterator()
	var batch []string
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == 500 {
			if err := c.Del(ctx, batch...).Err(); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	if err := iter.Err(); err != nil {
		return err
	}
	if len(batch) > 0 {
		return c.Del(ctx, batch...).Err()
	}
	return nil
}

// bareTarget is a plain httputil.ReverseProxy to the module, with the same
// transport settings as the gateway's proxy: the baseline.
type bareTarget struct {
	url string
	srv *http.Server
}

func startBare(upstreamURL string) (*bareTarget, error) {
	target, err := url.Parse(upstreamURL)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("bare proxy: %w", err)
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.SetXForwarded()
		},
		Transport: remote.NewTransport(nil),
	}
	b := &bareTarget{url: "http://" + ln.Addr().String()}
	b.srv = &http.Server{Handler: rp, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	go serveAs("bare proxy", b.srv, ln)
	return b, nil
}

func (b *bareTarget) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = b.srv.Shutdown(ctx)
}

// logWatch is the gateway's log sink: it drops info lines and keeps count
// of warnings and errors, with the first few for the report.
type logWatch struct {
	mu    sync.Mutex
	n     int
	first []string
}

func (l *logWatch) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte(`"level":"WARN"`)) || bytes.Contains(p, []byte(`"level":"ERROR"`)) {
		l.mu.Lock()
		l.n++
		if len(l.first) < 3 {
			l.first = append(l.first, strings.TrimSpace(string(p)))
		}
		l.mu.Unlock()
	}
	return len(p), nil
}

func (l *logWatch) problems() (int, string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n, strings.Join(l.first, " | ")
}

// serveAs serves srv on ln with the pprof label part=name, which every
// connection's goroutine (and the proxies' outgoing connections) inherit,
// so a CPU profile tells the load generator, gateway, bare proxy and
// module apart: go tool pprof -tags <profile>.
func serveAs(name string, srv *http.Server, ln net.Listener) {
	pprof.Do(context.Background(), pprof.Labels("part", name), func(context.Context) { _ = srv.Serve(ln) })
}
