// Package app assembles a gateway from its configuration: session store,
// database, audit log, identity providers and the built-in test provider. The
// binary and the integration tests build gateways the same way.
package app

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/civicgate/civicgate/auth"
	"github.com/civicgate/civicgate/auth/devidp"
	"github.com/civicgate/civicgate/auth/oidc"
	"github.com/civicgate/civicgate/auth/saml"
	"github.com/civicgate/civicgate/auth/session"
	"github.com/civicgate/civicgate/auth/session/memory"
	redisstore "github.com/civicgate/civicgate/auth/session/redis"
	"github.com/civicgate/civicgate/eservices"
	"github.com/civicgate/civicgate/eservices/cases"
	"github.com/civicgate/civicgate/eservices/cases/blob"
	"github.com/civicgate/civicgate/eservices/cases/mail"
	"github.com/civicgate/civicgate/eservices/population"
	"github.com/civicgate/civicgate/gateway"
	"github.com/civicgate/civicgate/gateway/audit"
	"github.com/civicgate/civicgate/gateway/config"
	"github.com/civicgate/civicgate/gateway/sqldb"
	"github.com/civicgate/civicgate/web"
)

// App is everything built from a configuration, and how to close it.
type App struct {
	// Server is the gateway.
	Server *gateway.Server
	// DevIdP is the built-in test provider, when enabled.
	DevIdP *devidp.Provider
	// Audit is the audit log.
	Audit *audit.SQL
	// Cases is the case store.
	Cases *cases.SQL
	// Sessions is the session store.
	Sessions  session.Store
	closers   []func()
	provision func(*web.Renderer) error
	mailer    *cases.Mailer
	remotes   []*remoteModule
	retention map[string]time.Duration
	log       *slog.Logger
	// Mailbox holds the mails of dev mode (nil with SMTP).
	Mailbox *mail.DevMailbox
}

// Options change how Build assembles the gateway; the zero value is right
// for the binary.
type Options struct {
	// DevIdP shares one test provider between several gateways (replica
	// tests); nil builds a new one when test_idp.enabled.
	DevIdP *devidp.Provider
	// DevIdPClient is the HTTP client the test provider sends back-channel
	// logout tokens with (tests pass one trusting their TLS server).
	DevIdPClient *http.Client
}

// Start runs the background jobs — the confirmation-mail worker and the
// retention job — until the returned stop function is called; stop waits
// for them to finish. Every replica runs them; both are safe with several
// replicas.
func (a *App) Start() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := a.mailer.Run(ctx); err != nil && ctx.Err() == nil {
			a.log.Error("mail worker stopped", "err", err)
		}
	}()
	go func() {
		defer wg.Done()
		a.retentionLoop(ctx, time.Hour)
	}()
	return func() { cancel(); wg.Wait() }
}

// retentionLoop erases closed cases past each module's retention period,
// keeping anonymous stubs for statistics; the store audits every purge.
func (a *App) retentionLoop(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		a.PurgeExpired(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// PurgeExpired runs the retention job once.
func (a *App) PurgeExpired(ctx context.Context) {
	for id, keep := range a.retention {
		n, err := a.Cases.PurgeClosedBefore(ctx, id, time.Now().Add(-keep), cases.Actor{Key: "system", Role: "retention"})
		if err != nil && ctx.Err() != nil {
			return
		}
		if err != nil {
			a.log.Error("retention job failed", "module", id, "err", err)
			continue
		}
		if n > 0 {
			a.log.Info("retention: closed cases anonymised", "module", id, "cases", n)
		}
	}
}

// Close releases what Build opened, newest first.
func (a *App) Close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
}

// Build assembles the gateway from cfg. Every error is one sentence that
// names the configuration key or file at fault.
func Build(ctx context.Context, cfg *config.Config, log *slog.Logger, o Options) (_ *App, err error) {
	a := &App{}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	ready := map[string]func(context.Context) error{}
	status := map[string]func(context.Context) error{}
	deps := gateway.Deps{Log: log, Ready: ready, Status: status, Registry: prometheus.NewRegistry()}

	// Sessions, flows, replay cache and rate limits.
	switch cfg.Sessions.Store {
	case "memory":
		m := memory.New(memory.Options{})
		a.closers = append(a.closers, func() { _ = m.Close() })
		deps.Sessions, deps.Flows, deps.Replay, deps.Limiter = m, m, m, m
	default:
		client, err := redisstore.NewClient(cfg.Sessions.Redis)
		if err != nil {
			return nil, fmt.Errorf("sessions.redis: %w", err)
		}
		a.closers = append(a.closers, func() { _ = client.Close() })
		st := redisstore.New(client, cfg.Sessions.Redis.StoreOptions())
		a.closers = append(a.closers, func() { _ = st.Close() })
		registerCacheMetrics(deps.Registry, st)
		deps.Sessions, deps.Flows, deps.Replay, deps.Limiter = st, st, st, st
		ready["redis"] = st.Ping
	}

	// Database and audit log.
	dsn := cfg.Database.DSN
	if cfg.Database.DSNFile != "" {
		b, err := os.ReadFile(cfg.Database.DSNFile)
		if err != nil {
			return nil, fmt.Errorf("database.dsn_file: cannot read %s", cfg.Database.DSNFile)
		}
		dsn = strings.TrimSpace(string(b))
	}
	if strings.HasPrefix(dsn, "file:") {
		if err := os.MkdirAll(filepath.Dir(strings.TrimPrefix(strings.SplitN(dsn, "?", 2)[0], "file:")), 0o700); err != nil {
			return nil, fmt.Errorf("database.dsn: cannot create the directory for %s: %v", dsn, err)
		}
	}
	db, dialect, err := sqldb.Open(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("database: cannot open %s: %v", RedactDSN(dsn), err)
	}
	a.closers = append(a.closers, func() { _ = db.Close() })
	if err := db.PingContext(ctx); err != nil {
		return nil, fmt.Errorf("database: %s is unreachable: %v", RedactDSN(dsn), err)
	}
	ready["database"] = db.PingContext
	if err := audit.Migrate(ctx, db, dialect); err != nil {
		return nil, fmt.Errorf("database: migrating the audit log failed: %v", err)
	}
	key, err := auditKey(cfg)
	if err != nil {
		return nil, err
	}
	al, err := audit.NewSQL(db, dialect, key, audit.Options{})
	if err != nil {
		return nil, fmt.Errorf("audit: %v", err)
	}
	deps.Audit = al

	// Cases, attachments, the population register and the e-service modules.
	if err := cases.Migrate(ctx, db, dialect); err != nil {
		return nil, fmt.Errorf("database: migrating the case store failed: %v", err)
	}
	blobDir := cfg.Cases.BlobDir
	if blobDir == "" {
		blobDir = filepath.Join(cfg.DataDir, "attachments")
	}
	blobs, err := blob.NewDir(blobDir)
	if err != nil {
		return nil, fmt.Errorf("cases.blob_dir: %v", err)
	}
	cs, err := cases.NewSQL(db, dialect, cases.Options{Auditor: al, Blobs: blobs, MaxAttachments: cfg.Cases.MaxAttachments})
	if err != nil {
		return nil, fmt.Errorf("cases: %v", err)
	}
	a.Cases = cs
	deps.Cases = cs
	deps.Blobs = blobs
	reg, err := population.Open(cfg.Population)
	if err != nil {
		return nil, fmt.Errorf("population: %v", err)
	}
	reg = population.Audited(reg, func(ctx context.Context, action, pnr string, protected bool) {
		actor, role := "system", ""
		if act := eservices.ActorFrom(ctx); act != nil {
			actor, role = act.Key(), string(act.Kind)
		}
		detail := map[string]string{}
		if protected {
			detail["protected"] = "true"
		}
		if err := al.Record(ctx, audit.Event{RequestID: eservices.RequestID(ctx), Actor: actor, ActorRole: role, Subject: pnr,
			Action: action, Resource: "population", Outcome: audit.Success, Detail: detail}); err != nil {
			log.ErrorContext(ctx, "audit log unavailable for a population lookup", "err", err)
		}
	})
	deps.Population = reg
	if err := a.provisionModules(cfg, &deps, cs, blobs, reg, al, log); err != nil {
		return nil, err
	}
	deps.Extra = map[string]http.Handler{}
	if err := a.remoteModules(cfg, &deps, log); err != nil {
		return nil, err
	}

	// Confirmation mail: SMTP, or the dev mailbox in dev mode.
	var sender cases.Sender
	if cfg.Mail.Host != "" {
		smtp, err := mail.NewSMTP(cfg.Mail)
		if err != nil {
			return nil, fmt.Errorf("mail: %v", err)
		}
		sender = smtp
	} else if cfg.Dev {
		box := mail.NewDevMailbox(200)
		a.Mailbox = box
		sender = box
		deps.Extra["/dev/mailbox"] = box
	} else {
		return nil, errors.New("mail.host: required outside dev mode")
	}
	a.mailer = cases.NewMailer(cs, sender, cfg.Cases.MailerOptions())
	a.log = log
	a.retention = map[string]time.Duration{}
	for _, m := range deps.Modules {
		a.retention[m.Info().ID] = m.Info().Retention
	}

	// Identity providers. The test provider needs its OIDC clients before
	// it starts, so they are prepared first.
	var dev *devidp.Provider
	var pendingSP [][]byte
	testClients := map[string]devClient{}
	if cfg.TestIdP.Enabled && o.DevIdP != nil {
		dev = o.DevIdP
		for _, pc := range cfg.IdentityProviders {
			if pc.Protocol == "test" && pc.Test.Protocol == "oidc" {
				dc, err := newDevClient(cfg, pc.Name)
				if err != nil {
					return nil, fmt.Errorf("data_dir: %v", err)
				}
				testClients[pc.Name] = dc
				if err := dev.AddClient(dc.client); err != nil {
					return nil, fmt.Errorf("test_idp: %v", err)
				}
			}
		}
		deps.DevIdP = dev.Handler()
	} else if cfg.TestIdP.Enabled {
		var clients []devidp.Client
		for _, pc := range cfg.IdentityProviders {
			if pc.Protocol == "test" && pc.Test.Protocol == "oidc" {
				dc, err := newDevClient(cfg, pc.Name)
				if err != nil {
					return nil, fmt.Errorf("data_dir: %v", err)
				}
				testClients[pc.Name] = dc
				clients = append(clients, dc.client)
			}
		}
		// A fixed pairwise secret keeps test people's subjects (and so staff
		// keys) the same across restarts of civicgate dev.
		pairwise, err := persistentSecret(filepath.Join(cfg.DataDir, "dev-keys", "devidp-pairwise.key"))
		if err != nil {
			return nil, fmt.Errorf("data_dir: %v", err)
		}
		dev, err = devidp.New(devidp.Options{BaseURL: strings.TrimSuffix(cfg.PublicURL, "/") + "/devidp", Clients: clients, PairwiseSecret: pairwise, Logger: log, HTTPClient: o.DevIdPClient})
		if err != nil {
			return nil, fmt.Errorf("test_idp: %v", err)
		}
		deps.DevIdP = dev.Handler()
	}
	for i, pc := range cfg.IdentityProviders {
		path := fmt.Sprintf("identity_providers[%d]", i)
		switch pc.Protocol {
		case "oidc":
			c := *pc.OIDC
			if c.RedirectURL == "" {
				c.RedirectURL = callbackURL(cfg, pc.Name)
			}
			p, err := oidc.New(ctx, pc.Name, c, oidc.Options{Logger: log})
			if err != nil {
				return nil, fmt.Errorf("%s.oidc: %v", path, err)
			}
			deps.Providers = append(deps.Providers, p)
			status["idp:"+pc.Name] = p.Ready
		case "saml":
			c := *pc.SAML
			fillSAMLDefaults(cfg, pc.Name, &c)
			p, err := saml.New(ctx, pc.Name, c, saml.Options{Replay: deps.Replay, Logger: log})
			if err != nil {
				return nil, fmt.Errorf("%s.saml: %v", path, err)
			}
			a.closers = append(a.closers, p.Close)
			deps.Providers = append(deps.Providers, p)
			status["idp:"+pc.Name] = p.Ready
		case "test":
			if dev == nil {
				return nil, fmt.Errorf("%s: protocol test needs test_idp.enabled: true", path)
			}
			p, spMeta, err := testProvider(ctx, cfg, pc, dev, testClients[pc.Name], deps.Replay, log)
			if err != nil {
				return nil, fmt.Errorf("%s: %v", path, err)
			}
			if spMeta != nil {
				pendingSP = append(pendingSP, spMeta)
			}
			deps.Providers = append(deps.Providers, p)
		}
	}
	for _, md := range pendingSP {
		if err := dev.AddServiceProvider(md); err != nil {
			return nil, fmt.Errorf("test_idp: trusting our own SAML metadata: %v", err)
		}
	}

	srv, err := gateway.New(cfg, deps)
	if err != nil {
		return nil, err
	}
	if a.provision != nil {
		if err := a.provision(srv.Pages()); err != nil {
			return nil, err
		}
	}
	for _, rm := range a.remotes {
		rm.srv = srv
	}
	a.Server = srv
	a.DevIdP = dev
	a.Audit = al
	a.Sessions = deps.Sessions
	return a, nil
}

// provisionModules validates every enabled module's Info (refusing to start
// with an incomplete one), gives each its Env and collects their page
// assets.
func (a *App) provisionModules(cfg *config.Config, deps *gateway.Deps, cs cases.Store, blobs cases.BlobStore, reg population.Register, al audit.Logger, log *slog.Logger) error {
	disabled := map[string]bool{}
	for _, id := range cfg.Modules.Disabled {
		disabled[id] = true
	}
	var envs []*eservices.Env
	var provs []eservices.Provisioner
	for _, m := range eservices.Default.Modules() {
		info := m.Info()
		if disabled[info.ID] {
			continue
		}
		if err := info.Validate(); err != nil {
			return fmt.Errorf("e-service %v", err)
		}
		deps.Modules = append(deps.Modules, m)
		assets := web.ModuleAssets{ID: info.ID}
		if as, ok := m.(eservices.Assets); ok {
			assets.Templates, assets.Messages = as.Templates(), as.Messages()
		}
		deps.ModuleAssets = append(deps.ModuleAssets, assets)
		env := &eservices.Env{Cases: cs, Blobs: blobs, Audit: al, Population: reg, Log: log.With("module", info.ID), Now: time.Now, ModuleID: info.ID, MaxUploadBytes: cfg.Cases.UploadLimit()}
		if p, ok := m.(eservices.Provisioner); ok {
			envs = append(envs, env)
			provs = append(provs, p)
		}
	}
	for id := range disabled {
		if _, ok := eservices.Default.Lookup(id); !ok {
			return fmt.Errorf("modules.disabled: no bundled module is called %q", id)
		}
	}
	// The renderer is built by the gateway from the assets; modules get it
	// after the gateway exists.
	a.provision = func(pages *web.Renderer) error {
		for i, p := range provs {
			envs[i].Pages = pages
			if err := p.Provision(envs[i]); err != nil {
				return fmt.Errorf("e-service %s: %v", envs[i].ModuleID, err)
			}
		}
		return nil
	}
	return nil
}

func callbackURL(cfg *config.Config, name string) string {
	return strings.TrimSuffix(cfg.PublicURL, "/") + "/login/" + name + "/callback"
}

func fillSAMLDefaults(cfg *config.Config, name string, c *saml.Config) {
	base := strings.TrimSuffix(cfg.PublicURL, "/") + "/saml/" + name
	if c.EntityID == "" {
		c.EntityID = base + "/metadata"
	}
	if c.MetadataURL == "" {
		c.MetadataURL = base + "/metadata"
	}
	if c.ACSURL == "" {
		c.ACSURL = base + "/acs"
	}
}

// testProvider connects the gateway to the built-in test provider through
// the real OIDC relying party or SAML service provider code: the same code
// paths as a production IdP, with generated keys and secrets in the data
// directory.
func testProvider(ctx context.Context, cfg *config.Config, pc config.IdentityProvider, dev *devidp.Provider, dc devClient, replay session.ReplayCache, log *slog.Logger) (auth.Authenticator, []byte, error) {
	keyDir := filepath.Join(cfg.DataDir, "dev-keys")
	if err := os.MkdirAll(keyDir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("cannot create %s: %v", keyDir, err)
	}
	kind := pc.Test.Kind
	displaySv, displayEn := "Test-e-legitimation", "Test e-ID"
	if kind == "staff" {
		displaySv, displayEn = "Medarbetare (test)", "Staff (test)"
	}
	switch pc.Test.Protocol {
	case "saml":
		c := saml.Config{
			DisplaySv: displaySv + " (SAML)", DisplayEn: displayEn + " (SAML)", MaxLoA: "high", Kind: kind,
			AcceptCoordinationNumber: true, NonResident: true, AcceptUncertified: true,
		}
		fillSAMLDefaults(cfg, pc.Name, &c)
		c.Organization = saml.Organization{
			Name:        saml.Localized{Sv: cfg.Municipality.NameSv, En: cfg.Municipality.NameEn},
			DisplayName: saml.Localized{Sv: cfg.Municipality.NameSv, En: cfg.Municipality.NameEn},
			URL:         saml.Localized{Sv: cfg.PublicURL, En: cfg.PublicURL},
		}
		c.UIInfo = saml.UIInfo{
			DisplayName: saml.Localized{Sv: cfg.Municipality.NameSv + " e-tjänster", En: cfg.Municipality.NameEn + " e-services"},
			Description: saml.Localized{Sv: "Kommunens e-tjänster (TESTLÄGE)", En: "The municipality's e-services (TEST MODE)"},
		}
		files, err := devSAMLKeys(keyDir, pc.Name)
		if err != nil {
			return nil, nil, err
		}
		c.SigningKeyFile, c.SigningCertFile, c.EncryptionKeyFile, c.EncryptionCertFile = files[0], files[1], files[2], files[3]
		mdFile := filepath.Join(keyDir, pc.Name+"-idp-metadata.xml")
		if err := os.WriteFile(mdFile, dev.SAMLMetadata(), 0o600); err != nil {
			return nil, nil, err
		}
		c.IdPMetadataFile = mdFile
		p, err := saml.New(ctx, pc.Name, c, saml.Options{Replay: replay, Logger: log})
		if err != nil {
			return nil, nil, err
		}
		rec := httptest.NewRecorder()
		p.MetadataHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, c.MetadataURL, nil))
		if rec.Code != http.StatusOK {
			return nil, nil, errors.New("our SAML metadata could not be produced")
		}
		return p, rec.Body.Bytes(), nil
	default:
		c := oidc.Config{
			Issuer: dev.Issuer(), ClientID: dc.client.ID, ClientSecretFile: dc.secretFile, RedirectURL: dc.client.RedirectURIs[0],
			DisplaySv: displaySv, DisplayEn: displayEn, MaxLoA: "high", Kind: kind,
			AcceptUncertified: true, NonResident: true, UseUserinfo: true,
		}
		if kind == "staff" {
			c.RoleMap = devStaffRoles
			c.Claims.Groups = "groups"
		}
		// The test provider lives in this process: the relying party reaches
		// it through its handler directly, so discovery works before the
		// listener is up. Every byte still goes through real HTTP requests
		// and responses.
		p, err := oidc.New(ctx, pc.Name, c, oidc.Options{Logger: log, HTTPClient: &http.Client{Transport: handlerTransport{dev.Handler()}, Timeout: 10 * time.Second}})
		if err != nil {
			return nil, nil, err
		}
		return p, nil, nil
	}
}

// handlerTransport answers HTTP requests with an in-process handler.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	in := r.Clone(r.Context())
	in.RequestURI = r.URL.RequestURI()
	in.RemoteAddr = "127.0.0.1:0"
	if in.Body == nil {
		in.Body = http.NoBody
	}
	t.h.ServeHTTP(rec, in)
	resp := rec.Result()
	resp.Request = r
	return resp, nil
}

// devClient is the gateway's client registration at the test provider.
type devClient struct {
	client     devidp.Client
	secretFile string
}

func newDevClient(cfg *config.Config, name string) (devClient, error) {
	keyDir := filepath.Join(cfg.DataDir, "dev-keys")
	if err := os.MkdirAll(keyDir, 0o700); err != nil {
		return devClient{}, fmt.Errorf("cannot create %s: %v", keyDir, err)
	}
	secretFile := filepath.Join(keyDir, name+"-client-secret")
	b, err := persistentSecret(secretFile)
	if err != nil {
		return devClient{}, err
	}
	secret := string(b)
	base := strings.TrimSuffix(cfg.PublicURL, "/")
	return devClient{
		client: devidp.Client{
			ID: "civicgate-" + name, Secret: secret,
			RedirectURIs:           []string{callbackURL(cfg, name)},
			PostLogoutRedirectURIs: []string{base + "/logged-out"},
			BackchannelLogoutURI:   base + "/backchannel-logout/" + name,
		},
		secretFile: secretFile,
	}, nil
}

// persistentSecret reads a random secret from path, creating it first when
// the file does not exist (an existing file is never replaced).
func persistentSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		return b, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("cannot read %s: %v", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("cannot create %s: %v", filepath.Dir(path), err)
	}
	b = []byte(randomSecret())
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return nil, fmt.Errorf("cannot write %s: %v", path, err)
	}
	return b, nil
}

func randomSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x", b)
}

// auditKey reads the configured HMAC key, or in dev mode creates one in the
// data directory on first start.
func auditKey(cfg *config.Config) ([]byte, error) {
	path := cfg.Audit.HMACKeyFile
	if path == "" && cfg.Dev {
		path = filepath.Join(cfg.DataDir, "audit-hmac.key")
		if _, err := persistentSecret(path); err != nil {
			return nil, fmt.Errorf("data_dir: %v", err)
		}
	}
	key, err := audit.LoadKey(path)
	if err != nil {
		return nil, fmt.Errorf("audit.hmac_key_file: %v", err)
	}
	return key, nil
}

// RedactDSN hides a password in a database URL.
func RedactDSN(dsn string) string {
	if i := strings.Index(dsn, "://"); i >= 0 {
		rest := dsn[i+3:]
		if at := strings.Index(rest, "@"); at >= 0 {
			cred := rest[:at]
			if c := strings.Index(cred, ":"); c >= 0 {
				return dsn[:i+3] + cred[:c] + ":***" + rest[at:]
			}
		}
	}
	return dsn
}

// registerCacheMetrics publishes what the local session cache does: a
// growing fallback count means its subscription is in trouble (reads then
// go to Redis, so nothing is served stale, only slower).
func registerCacheMetrics(reg *prometheus.Registry, st *redisstore.Store) {
	counter := func(name, help string, v func(redisstore.CacheStats) int64) {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "civicgate", Subsystem: "session_cache", Name: name, Help: help,
		}, func() float64 { return float64(v(st.CacheStats())) }))
	}
	counter("hits_total", "Session reads answered from the local cache after a read barrier.", func(c redisstore.CacheStats) int64 { return c.Hits })
	counter("misses_total", "Session reads that went to Redis because the cache did not hold the session.", func(c redisstore.CacheStats) int64 { return c.Misses })
	counter("fallbacks_total", "Session reads that went to Redis because the read barrier could not be completed.", func(c redisstore.CacheStats) int64 { return c.Fallbacks })
	counter("invalidations_total", "Invalidation messages applied.", func(c redisstore.CacheStats) int64 { return c.Invalidations })
	counter("flushes_total", "Times the cache was emptied because its subscription was (re)established or failed.", func(c redisstore.CacheStats) int64 { return c.Flushes })
	counter("barriers_total", "Read barriers (PINGs on the subscription).", func(c redisstore.CacheStats) int64 { return c.Pings })
}
