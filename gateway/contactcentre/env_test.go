package contactcentre_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/civicgate/civicgate/auth"
	"github.com/civicgate/civicgate/auth/session"
	"github.com/civicgate/civicgate/auth/session/memory"
	"github.com/civicgate/civicgate/eservices"
	"github.com/civicgate/civicgate/eservices/cases"
	"github.com/civicgate/civicgate/eservices/population"
	"github.com/civicgate/civicgate/gateway/audit"
	"github.com/civicgate/civicgate/gateway/contactcentre"
	mw "github.com/civicgate/civicgate/gateway/middleware"
	"github.com/civicgate/civicgate/gateway/sqldb"
	"github.com/civicgate/civicgate/web"
)

// Test people of the built-in population (EID.md).
const (
	tolvan = "198107249289"
	elvan  = "195006262546"
	tian   = "201701102384"
	nian   = "200809032386" // protected
)

// clock is a settable clock for the case store and the handlers.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var stockholm, _ = time.LoadLocation("Europe/Stockholm")

var testModules = []eservices.Info{
	{
		ID: "bygglov", CasePrefix: "BYGG", TitleSv: "Bygglov", TitleEn: "Building permit",
		Owner:  eservices.Owner{Department: "Samhällsbyggnadsförvaltningen", Name: "Bygglovschef", Contact: "bygglov@kommun.example"},
		MinLoA: auth.LoASubstantial, Actors: []eservices.ActorKind{eservices.Self, eservices.ContactCentre}, HandlerRoles: []string{"building-handler"},
	},
	{
		ID: "ekonomiskt-bistand", CasePrefix: "SOC", TitleSv: "Ekonomiskt bistånd", TitleEn: "Financial aid",
		Owner:  eservices.Owner{Department: "Socialförvaltningen", Name: "Enhetschef", Contact: "08-123 45 00"},
		MinLoA: auth.LoASubstantial, Actors: []eservices.ActorKind{eservices.Self}, HandlerRoles: []string{"social-handler"}, Confidential: true,
	},
	{
		ID: "skolfranvaro", CasePrefix: "SKOL", TitleSv: "Frånvaroanmälan", TitleEn: "Absence report",
		Owner:  eservices.Owner{Department: "Barn- och utbildningsförvaltningen", Name: "Skolchef", Contact: "skola@kommun.example"},
		MinLoA: auth.LoASubstantial, Actors: []eservices.ActorKind{eservices.Guardian}, HandlerRoles: []string{"school-admin:*"},
	},
}

// env is the workspace and statistics with real stores: SQLite case store
// and audit log, in-memory sessions and rate limits, the built-in test
// population and the real templates.
type env struct {
	t        *testing.T
	clock    *clock
	audit    *audit.SQL
	cases    *cases.SQL
	sessions *memory.Memory
	deps     contactcentre.Deps
	ws, st   http.Handler
	cookies  mw.Cookies
	log      *bytes.Buffer
}

type envOptions struct {
	lookupLimit int
	population  population.Register
	auditor     audit.Logger
}

func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	db, d, err := sqldb.Open(ctx, "file:"+filepath.ToSlash(filepath.Join(dir, "test.db")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if err := audit.Migrate(ctx, db, d); err != nil {
		t.Fatal(err)
	}
	if err := cases.Migrate(ctx, db, d); err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Date(2026, 3, 4, 10, 0, 0, 0, stockholm)} // a Wednesday
	al, err := audit.NewSQL(db, d, bytes.Repeat([]byte("k"), 32), audit.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	cs, err := cases.NewSQL(db, d, cases.Options{Auditor: al, Now: clk.Now, Location: stockholm})
	if err != nil {
		t.Fatal(err)
	}
	pages, err := web.New(web.Options{MunicipalitySv: "Exempelkommun", MunicipalityEn: "Example Municipality", Modules: []web.ModuleAssets{contactcentre.Assets()}})
	if err != nil {
		t.Fatalf("templates: %v", err)
	}
	sessions := memory.New(memory.Options{})
	t.Cleanup(func() { _ = sessions.Close() })
	reg := o.population
	if reg == nil {
		reg = population.Default()
	}
	var auditor audit.Logger = al
	if o.auditor != nil {
		auditor = o.auditor
	}
	logs := &bytes.Buffer{}
	deps := contactcentre.Deps{
		Sessions: sessions, Cases: cs, Audit: auditor, Population: reg, Pages: pages, Modules: testModules,
		Limiter: sessions, LookupLimit: o.lookupLimit, Now: clk.Now, Location: stockholm,
		Log: slog.New(slog.NewTextHandler(logs, nil)),
		Fail: func(w http.ResponseWriter, _ *http.Request, status int, key string) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(status)
			_, _ = io.WriteString(w, "FAIL "+key)
		},
	}
	return &env{
		t: t, clock: clk, audit: al, cases: cs, sessions: sessions, deps: deps,
		ws: contactcentre.New(deps), st: contactcentre.NewStats(deps), cookies: mw.NewCookies(true), log: logs,
	}
}

// login stores a staff session as the gateway does after a login and
// returns its ID.
func (e *env) login(subject string, roles ...string) string {
	e.t.Helper()
	now := time.Now()
	s := &session.Session{
		ID: session.NewID(), CSRF: "csrf-token",
		Identity: auth.Identity{Kind: auth.Staff, Subject: subject, GivenName: "Kim", FamilyName: "Kontaktsson", LoA: auth.LoASubstantial, IdP: "test-staff", Method: "oidc", Roles: roles},
		Created:  now, Expires: now.Add(time.Hour), IdleTimeout: 30 * time.Minute, LastSeen: now,
	}
	if err := e.sessions.Put(context.Background(), s); err != nil {
		e.t.Fatal(err)
	}
	return s.ID
}

func (e *env) loginCitizen(pnr string) string {
	e.t.Helper()
	now := time.Now()
	s := &session.Session{
		ID: session.NewID(), CSRF: "csrf-token",
		Identity: auth.Identity{Kind: auth.Citizen, PersonalNumber: pnr, GivenName: "Tolvan", FamilyName: "Tolvansson", LoA: auth.LoASubstantial, IdP: "test-oidc", Method: "oidc"},
		Created:  now, Expires: now.Add(time.Hour), IdleTimeout: 30 * time.Minute, LastSeen: now,
	}
	if err := e.sessions.Put(context.Background(), s); err != nil {
		e.t.Fatal(err)
	}
	return s.ID
}

func (e *env) agent() string { return e.login("kc-agent-1", "contact-centre") }

func (e *env) session(id string) *session.Session {
	e.t.Helper()
	s, err := e.sessions.Get(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

type resp struct {
	Code   int
	Body   string
	Header http.Header
}

// serve sends req through the gateway's session, request-ID and page
// middleware to h, as the gateway mounts it (prefix stripped).
func (e *env) serve(h http.Handler, sid string, req *http.Request) resp {
	if sid != "" {
		req.AddCookie(&http.Cookie{Name: e.cookies.Session, Value: sid})
	}
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rq := &web.Request{Lang: "sv", RequestID: mw.RequestIDFrom(r.Context())}
		if c, err := r.Cookie("cg_lang"); err == nil {
			rq.Lang = c.Value
		}
		if s := mw.SessionFrom(r.Context()); s != nil {
			rq.User = &web.User{Name: s.Identity.Name(), Staff: s.Identity.Kind == auth.Staff}
			if s.ActingFor != nil {
				rq.User.ActingFor = s.ActingFor.Name
			}
			rq.CSRF = s.CSRF
		}
		h.ServeHTTP(w, r.WithContext(web.WithRequest(r.Context(), rq)))
	})
	chain := mw.RequestID(mw.LoadSession(e.sessions, e.cookies, slog.New(slog.NewTextHandler(io.Discard, nil)))(page))
	rec := httptest.NewRecorder()
	chain.ServeHTTP(rec, req)
	return resp{Code: rec.Code, Body: rec.Body.String(), Header: rec.Header()}
}

func (e *env) get(h http.Handler, sid, target string) resp {
	return e.serve(h, sid, httptest.NewRequest(http.MethodGet, target, nil))
}

func (e *env) post(h http.Handler, sid, target string, form url.Values) resp {
	req := httptest.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return e.serve(h, sid, req)
}

// entries returns the audit entries with action, oldest first.
func (e *env) entries(action string) []audit.Entry {
	e.t.Helper()
	all, err := e.audit.Since(context.Background(), 0, 10000)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []audit.Entry
	for _, en := range all {
		if en.Action == action {
			out = append(out, en)
		}
	}
	return out
}

// newCase submits a case as the citizen owner would.
func (e *env) newCase(module, prefix, owner, subject, title string, ch cases.Channel, content any) *cases.Case {
	e.t.Helper()
	raw, _ := json.Marshal(content)
	c, err := e.cases.Create(context.Background(), cases.NewCase{ModuleID: module, Prefix: prefix, Owner: owner, Subject: subject, Channel: ch, Title: title, Content: raw},
		cases.Actor{Key: owner, Role: "citizen"})
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

var handler = cases.Actor{Key: "staff:test-staff:handler-1", Role: "handler"}

var tokenRE = `name="token" value="`

// lookup finds pnr and returns the page and the lookup token.
func (e *env) lookup(sid, pnr, reason string) (resp, string) {
	e.t.Helper()
	r := e.post(e.ws, sid, "/sok", url.Values{"pnr": {pnr}, "reason": {reason}})
	tok := ""
	if i := strings.Index(r.Body, tokenRE); i >= 0 {
		rest := r.Body[i+len(tokenRE):]
		tok = rest[:strings.IndexByte(rest, '"')]
	}
	return r, tok
}

// act looks pnr up and starts acting for them by phone.
func (e *env) act(sid, pnr string) {
	e.t.Helper()
	r, tok := e.lookup(sid, pnr, "Samtal 2026-0042")
	if r.Code != http.StatusOK || tok == "" {
		e.t.Fatalf("lookup: %d %s", r.Code, r.Body)
	}
	r = e.post(e.ws, sid, "/agera", url.Values{"token": {tok}, "reason": {"Samtal 2026-0042"}, "channel": {"phone"}})
	if r.Code != http.StatusSeeOther {
		e.t.Fatalf("start acting: %d %s", r.Code, r.Body)
	}
}
