package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/civicgate/civicgate/auth"
	"github.com/civicgate/civicgate/auth/session"
	"github.com/civicgate/civicgate/eservices"
	"github.com/civicgate/civicgate/eservices/cases"
	"github.com/civicgate/civicgate/eservices/population"
	"github.com/civicgate/civicgate/gateway/audit"
	"github.com/civicgate/civicgate/gateway/config"
	"github.com/civicgate/civicgate/gateway/contactcentre"
	mw "github.com/civicgate/civicgate/gateway/middleware"
	"github.com/civicgate/civicgate/web"
)

// Deps are the gateway's collaborators. Log, Sessions, Flows, Limiter,
// Replay, Audit and at least one provider are required.
type Deps struct {
	Log       *slog.Logger
	Sessions  session.Store
	Flows     session.Flows
	Limiter   session.Limiter
	Replay    session.ReplayCache
	Audit     audit.Logger
	Providers []auth.Authenticator
	// DevIdP is the built-in test provider, mounted at /devidp/ in dev mode.
	DevIdP http.Handler
	// Modules are the enabled e-service modules, already validated and
	// provisioned; each is served at /e/<id>/.
	Modules []eservices.Module
	// Population is the population register (a guardian's children).
	Population population.Register
	// Cases is the case store, for Mina sidor; Blobs holds attachments.
	Cases cases.Store
	Blobs cases.BlobStore
	// ModuleAssets are the modules' templates and messages for the renderer.
	ModuleAssets []web.ModuleAssets
	// Extra are further routes (dev mailbox, JWKS) by path prefix.
	Extra map[string]http.Handler
	// Ready are named readiness checks that must pass (Redis, database).
	Ready map[string]func(context.Context) error
	// Status are checks reported by /readyz that do not make the replica
	// unready (identity providers: one IdP being down must not take every
	// replica out of the load balancer).
	Status map[string]func(context.Context) error
	// Registry receives the gateway's metrics; nil makes a new one.
	Registry *prometheus.Registry
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Server is the gateway.
type Server struct {
	cfg       *config.Config
	d         Deps
	log       *slog.Logger
	web       *web.Renderer
	cookies   mw.Cookies
	providers map[string]auth.Authenticator
	order     []string
	public    *url.URL
	handler   http.Handler
	admin     http.Handler
	metrics   *metrics
	now       func() time.Time
}

// New builds the gateway from a validated configuration.
func New(cfg *config.Config, d Deps) (*Server, error) {
	var missing []error
	if d.Log == nil {
		missing = append(missing, errors.New("gateway: Deps.Log is required"))
	}
	if d.Sessions == nil || d.Flows == nil || d.Limiter == nil || d.Replay == nil {
		missing = append(missing, errors.New("gateway: Deps.Sessions, Flows, Limiter and Replay are required"))
	}
	if d.Audit == nil {
		missing = append(missing, errors.New("gateway: Deps.Audit is required"))
	}
	if len(d.Providers) == 0 {
		missing = append(missing, errors.New("gateway: at least one identity provider is required"))
	}
	if err := errors.Join(missing...); err != nil {
		return nil, err
	}
	pub, err := url.Parse(cfg.PublicURL)
	if err != nil {
		return nil, fmt.Errorf("gateway: public_url: %w", err)
	}
	s := &Server{
		cfg:       cfg,
		d:         d,
		log:       d.Log,
		cookies:   mw.NewCookies(cfg.Security.InsecureCookies),
		providers: map[string]auth.Authenticator{},
		public:    pub,
		now:       d.Now,
	}
	if s.now == nil {
		s.now = time.Now
	}
	for _, p := range d.Providers {
		name := p.Info().Name
		if _, dup := s.providers[name]; dup {
			return nil, fmt.Errorf("gateway: two identity providers are named %q", name)
		}
		s.providers[name] = p
		s.order = append(s.order, name)
	}
	assets := append(append([]web.ModuleAssets(nil), d.ModuleAssets...), contactcentre.Assets())
	s.web, err = web.New(web.Options{Dev: cfg.Dev || cfg.TestIdP.Enabled, MunicipalitySv: cfg.Municipality.NameSv, MunicipalityEn: cfg.Municipality.NameEn, Logger: d.Log, Modules: assets})
	if err != nil {
		return nil, err
	}
	reg := d.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	s.metrics = newMetrics(reg)
	if cs, ok := d.Cases.(contactcentre.CaseStore); ok {
		if err := reg.Register(contactcentre.NewCollector(contactcentre.Deps{Cases: cs, Log: d.Log})); err != nil {
			return nil, fmt.Errorf("gateway: case metrics: %w", err)
		}
	}
	s.handler = s.routes()
	s.admin = s.adminRoutes(reg)
	return s, nil
}

// Pages is the page renderer with the site layout and the modules'
// templates.
func (s *Server) Pages() *web.Renderer { return s.web }

// Handler is the public listener's handler.
func (s *Server) Handler() http.Handler { return s.handler }

// AdminHandler serves /metrics, /healthz and /readyz for operations.
func (s *Server) AdminHandler() http.Handler { return s.admin }

func (s *Server) routes() http.Handler {
	r := mux.NewRouter()
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		s.fail(w, req, http.StatusNotFound, "error.404")
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		s.fail(w, req, http.StatusMethodNotAllowed, "error.405")
	})
	r.Use(s.routeLabel)

	r.Handle("/healthz", http.HandlerFunc(s.healthz)).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/readyz", http.HandlerFunc(s.readyz)).Methods(http.MethodGet, http.MethodHead)
	r.PathPrefix("/static/").Handler(web.Static()).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/", s.start).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/lang/{lang:sv|en}", s.switchLang).Methods(http.MethodGet)

	loginStart := mw.RateLimit(s.d.Limiter, "login", s.cfg.Security.RateLimits.LoginStart, time.Minute, nil, s.fail, s.log)
	callback := mw.RateLimit(s.d.Limiter, "callback", s.cfg.Security.RateLimits.Callback, time.Minute, nil, s.fail, s.log)
	r.HandleFunc("/login", s.chooser).Methods(http.MethodGet)
	r.Handle("/login/{idp}", loginStart(http.HandlerFunc(s.beginLogin))).Methods(http.MethodGet)
	r.Handle("/login/{idp}/callback", callback(http.HandlerFunc(s.finishLogin))).Methods(http.MethodGet)
	r.Handle("/login/{idp}/done", callback(http.HandlerFunc(s.finishParked))).Methods(http.MethodGet)
	r.Handle("/saml/{idp}/acs", callback(http.HandlerFunc(s.finishLogin))).Methods(http.MethodPost)
	r.HandleFunc("/saml/{idp}/metadata", s.samlMetadata).Methods(http.MethodGet)
	r.HandleFunc("/saml/{idp}/slo", s.samlSLO).Methods(http.MethodGet, http.MethodPost)
	// Back-channel logout comes from the IdPs' servers, not browsers: its own
	// generous bucket, so user logins cannot starve it (tokens are signed).
	backchannel := mw.RateLimit(s.d.Limiter, "backchannel", 600, time.Minute, nil, s.fail, s.log)
	r.Handle("/backchannel-logout/{idp}", backchannel(http.HandlerFunc(s.backchannelLogout))).Methods(http.MethodPost)
	r.HandleFunc("/logout", s.logout).Methods(http.MethodPost)
	r.HandleFunc("/logged-out", s.loggedOut).Methods(http.MethodGet)

	citizen := mw.RequireLoA(auth.LoASubstantial, s.login, s.fail)
	anyone := mw.RequireLoA(auth.LoANone, s.login, s.fail)
	r.Handle("/mina-sidor", citizen(http.HandlerFunc(s.myPages))).Methods(http.MethodGet)
	r.Handle("/mina-sidor/logga-ut-overallt", citizen(http.HandlerFunc(s.logoutEverywhere))).Methods(http.MethodPost)
	staff := mw.RequireLoA(auth.LoASubstantial, s.login, s.fail, auth.Staff)
	r.Handle("/personal", staff(http.HandlerFunc(s.staffHome))).Methods(http.MethodGet)
	own := mw.RequireLoA(auth.LoASubstantial, s.login, s.fail, auth.Citizen)
	r.Handle("/mina-sidor/arenden/{id}", own(http.HandlerFunc(s.myCase))).Methods(http.MethodGet)
	r.Handle("/mina-sidor/arenden/{id}/svar", own(http.HandlerFunc(s.replyCase))).Methods(http.MethodPost)
	r.Handle("/mina-sidor/arenden/{id}/komplettering", own(http.HandlerFunc(s.supplementCase))).Methods(http.MethodPost)
	r.Handle("/mina-sidor/arenden/{id}/bilagor/{aid}", own(http.HandlerFunc(s.caseAttachment))).Methods(http.MethodGet)
	r.Handle("/mina-sidor/atkomst", own(http.HandlerFunc(s.accessLog))).Methods(http.MethodGet)
	r.Handle("/mina-sidor/mina-uppgifter.json", own(http.HandlerFunc(s.exportData))).Methods(http.MethodGet)
	r.Handle("/session/extend", anyone(http.HandlerFunc(s.extendSession))).Methods(http.MethodPost)

	if (s.cfg.Dev || s.cfg.TestIdP.Enabled) && s.d.DevIdP != nil {
		r.PathPrefix("/devidp/").Handler(s.d.DevIdP)
	}
	for prefix, h := range s.d.Extra {
		r.PathPrefix(prefix).Handler(h)
	}
	if cs, ok := s.d.Cases.(contactcentre.CaseStore); ok {
		var infos []eservices.Info
		for _, m := range s.d.Modules {
			infos = append(infos, m.Info())
		}
		kc := contactcentre.Deps{Sessions: s.d.Sessions, Cases: cs, Audit: s.d.Audit, Population: s.d.Population, Pages: s.web,
			Modules: infos, Limiter: s.d.Limiter, LookupLimit: s.cfg.Security.RateLimits.Lookup, Fail: s.fail, Log: s.log, Now: s.now}
		r.PathPrefix(contactcentre.WorkspacePath + "/").Handler(staff(http.StripPrefix(contactcentre.WorkspacePath, contactcentre.New(kc))))
		r.Handle(contactcentre.WorkspacePath, http.RedirectHandler(contactcentre.WorkspacePath+"/", http.StatusMovedPermanently))
		r.PathPrefix(contactcentre.StatsPath + "/").Handler(staff(http.StripPrefix(contactcentre.StatsPath, contactcentre.NewStats(kc))))
		r.Handle(contactcentre.StatsPath, http.RedirectHandler(contactcentre.StatsPath+"/", http.StatusMovedPermanently))
	}
	modules := make(map[string]http.Handler, len(s.d.Modules))
	for _, m := range s.d.Modules {
		info := m.Info()
		base := "/e/" + info.ID
		h := s.moduleGuard(info, http.StripPrefix(base, m))
		modules[info.ID] = routeAs(base+"/", h)
		r.PathPrefix(base + "/").Handler(h)
		r.Handle(base, http.RedirectHandler(base+"/", http.StatusMovedPermanently))
	}

	var trusted []netip.Prefix
	for _, c := range s.cfg.Security.TrustedProxies {
		if p, err := netip.ParsePrefix(c); err == nil {
			trusted = append(trusted, p)
		}
	}
	hsts := s.cfg.Security.HSTSMaxAge
	if s.public.Scheme != "https" {
		hsts = 0
	}
	var h http.Handler = moduleRoutes(modules, r)
	h = mw.CSRF([]string{"/saml/", "/backchannel-logout/", "/devidp/"}, s.fail)(h)
	h = s.pageContext(h)
	h = mw.LoadSession(s.d.Sessions, s.cookies, s.log)(h)
	// A multipart request may carry a few attachments of the largest size
	// allowed, plus the form around them.
	h = mw.MaxBody(s.cfg.Security.MaxBodyBytes, 5*s.uploadLimit()+1<<20, []string{"/e/", "/mina-sidor/arenden/"}, s.fail)(h)
	h = mw.SecurityHeaders(mw.HeaderOptions{HSTSMaxAge: hsts, NoReferrerPrefixes: []string{"/login/", "/saml/"}})(h)
	h = mw.AccessLog(s.log, s.metrics.observe)(h)
	h = mw.Recover(s.log, func(w http.ResponseWriter, req *http.Request) {
		s.fail(w, req, http.StatusInternalServerError, "error.500")
	})(h)
	h = mw.ClientIP(trusted)(h)
	h = mw.RequestID(h)
	if s.cfg.Dev {
		h = s.canonicalHost(h)
	}
	return h
}

// canonicalHost sends browsers that reached dev mode under another name
// (127.0.0.1 for localhost) to the public URL's host: cookies and the
// login round trip only work under one host name.
func (s *Server) canonicalHost(next http.Handler) http.Handler {
	if s.public.Hostname() != "localhost" {
		return next
	}
	port := s.public.Port()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, p, _ := net.SplitHostPort(r.Host)
		if p != port || (h != "127.0.0.1" && h != "::1") || r.URL.Path == "/healthz" || r.URL.Path == "/readyz" {
			next.ServeHTTP(w, r)
			return
		}
		u := *s.public
		u.Path = r.URL.Path
		u.RawQuery = r.URL.RawQuery
		http.Redirect(w, r, u.String(), http.StatusTemporaryRedirect)
	})
}

func (s *Server) adminRoutes(reg *prometheus.Registry) http.Handler {
	m := http.NewServeMux()
	m.Handle("GET /metrics", metricsHandler(reg))
	m.HandleFunc("GET /healthz", s.healthz)
	m.HandleFunc("GET /readyz", s.readyzDetail)
	return m
}

// moduleRoutes sends requests under /e/<id>/ straight to the module's
// handler, as the router would, without trying every route's pattern on
// the way: nearly all of a logged-in citizen's requests go there. Anything
// else, and any path the router would first clean (//, /./, /../),
// goes to the router.
func moduleRoutes(modules map[string]http.Handler, router http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if rest, ok := strings.CutPrefix(p, "/e/"); ok {
			if id, _, ok := strings.Cut(rest, "/"); ok && id != "" && !strings.Contains(p, "//") && !strings.Contains(p, "/.") {
				if h := modules[id]; h != nil {
					h.ServeHTTP(w, r)
					return
				}
			}
		}
		router.ServeHTTP(w, r)
	})
}
