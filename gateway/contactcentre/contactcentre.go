package contactcentre

import (
	"context"
	"embed"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/civicgate/civicgate/auth"
	"github.com/civicgate/civicgate/auth/session"
	"github.com/civicgate/civicgate/eservices"
	"github.com/civicgate/civicgate/eservices/cases"
	"github.com/civicgate/civicgate/eservices/population"
	"github.com/civicgate/civicgate/gateway/audit"
	mw "github.com/civicgate/civicgate/gateway/middleware"
	"github.com/civicgate/civicgate/web"
)

// The paths the gateway mounts the handlers at; links and redirects use
// them.
const (
	// WorkspacePath is where New is mounted (with the prefix stripped).
	WorkspacePath = "/kontaktcenter"
	// StatsPath is where NewStats is mounted (with the prefix stripped).
	StatsPath = "/statistik"
)

// Staff roles this package checks.
const (
	// RoleContactCentre may use the workspace.
	RoleContactCentre = "contact-centre"
	// RoleSystemOwner and RoleManagement may read the statistics.
	RoleSystemOwner = "system-owner"
	RoleManagement  = "management"
)

// AssetsID is the ID of this package's templates and messages in the
// renderer: pages are "kontaktcenter/<file>.html", message keys start with
// "kontaktcenter.".
const AssetsID = "kontaktcenter"

// DefaultLookupLimit is the number of lookups an agent may make per minute
// when Deps.LookupLimit is zero.
const DefaultLookupLimit = 30

// CaseStore is what the workspace and the statistics use of the case
// store; *cases.SQL implements it.
type CaseStore interface {
	Get(ctx context.Context, id string) (*cases.Case, error)
	ListByOwner(ctx context.Context, owner string) ([]cases.Case, error)
	ListBySubject(ctx context.Context, subject string) ([]cases.Case, error)
	Messages(ctx context.Context, caseID string) ([]cases.Message, error)
	AddMessage(ctx context.Context, caseID string, m cases.NewMessage, by cases.Actor) (*cases.Message, error)
	Stats(ctx context.Context, from, to time.Time) (*cases.Stats, error)
}

var _ CaseStore = (*cases.SQL)(nil)

// Deps are the collaborators of the workspace and the statistics. Sessions,
// Cases, Audit, Population, Pages, Limiter and Fail are required by New;
// NewStats needs Cases, Pages and Fail (and Audit to record refusals);
// NewCollector needs Cases only.
type Deps struct {
	// Sessions stores the agent's session when acting for a citizen starts
	// or ends.
	Sessions session.Store
	// Cases is the case store.
	Cases CaseStore
	// Audit records every lookup, view and action; the workspace fails
	// closed (503) when it cannot record.
	Audit audit.Logger
	// Population is the population register.
	Population population.Register
	// Pages renders the templates of Assets inside the site layout.
	Pages *web.Renderer
	// Modules are the enabled e-services: their titles, owners, actors and
	// confidentiality.
	Modules []eservices.Info
	// Limiter counts lookups per agent, shared by every replica.
	Limiter session.Limiter
	// LookupLimit is how many lookups by personnummer an agent may make per
	// minute; DefaultLookupLimit when zero.
	LookupLimit int
	// Fail writes the gateway's error page with a status and message key.
	Fail func(w http.ResponseWriter, r *http.Request, status int, key string)
	// Log reports failures; never with a personnummer. Discarded when nil.
	Log *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// MetricsWeeks is how many whole weeks, ending with the current one,
	// the Prometheus figures cover; 4 when zero.
	MetricsWeeks int
	// Location decides the weeks of the statistics and must match the case
	// store's; Europe/Stockholm when nil.
	Location *time.Location
}

func (d Deps) withDefaults() Deps {
	if d.Log == nil {
		d.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.LookupLimit <= 0 {
		d.LookupLimit = DefaultLookupLimit
	}
	if d.MetricsWeeks <= 0 {
		d.MetricsWeeks = 4
	}
	if d.Location == nil {
		loc, err := time.LoadLocation("Europe/Stockholm")
		if err != nil {
			loc = time.FixedZone("CET", 3600)
		}
		d.Location = loc
	}
	if d.Fail == nil {
		d.Fail = func(w http.ResponseWriter, _ *http.Request, status int, _ string) {
			http.Error(w, http.StatusText(status), status)
		}
	}
	return d
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed i18n/*.yaml
var messageFS embed.FS

// Assets returns the templates and messages of the workspace and the
// statistics, for the gateway's renderer (web.Options.Modules).
func Assets() web.ModuleAssets {
	t, _ := fs.Sub(templateFS, "templates")
	m, _ := fs.Sub(messageFS, "i18n")
	return web.ModuleAssets{ID: AssetsID, Templates: t, Messages: m}
}

// lang returns the request's language, "sv" or "en".
func lang(r *http.Request) string { return web.RequestFrom(r.Context()).Lang }

// moduleIndex finds modules by ID.
type moduleIndex map[string]eservices.Info

func indexModules(ms []eservices.Info) moduleIndex {
	idx := moduleIndex{}
	for _, m := range ms {
		idx[m.ID] = m
	}
	return idx
}

// title returns a module's title, or its ID when the module is not enabled
// (cases of a removed module are still counted).
func (m moduleIndex) title(id, lang string) string {
	if info, ok := m[id]; ok {
		return info.Title(lang)
	}
	return id
}

// confidential reports whether a module's case content is hidden from the
// contact centre. A module the gateway does not know is treated as
// confidential: nothing says its content may be shown.
func (m moduleIndex) confidential(id string) bool {
	info, ok := m[id]
	return !ok || info.Confidential
}

// staffSession returns the request's staff session if it holds one of
// roles. Otherwise it answers (503 when the session store failed, 403 with
// an audit event otherwise) and returns nil.
func staffSession(d Deps, w http.ResponseWriter, r *http.Request, action string, roles ...string) *session.Session {
	ctx := r.Context()
	if mw.SessionErr(ctx) != nil {
		w.Header().Set("Retry-After", "5")
		d.Fail(w, r, http.StatusServiceUnavailable, "error.503")
		return nil
	}
	s := mw.SessionFrom(ctx)
	if s != nil && s.Identity.Kind == auth.Staff && slices.ContainsFunc(roles, s.Identity.HasRole) {
		return s
	}
	e := audit.Event{RequestID: mw.RequestIDFrom(ctx), Action: action, Resource: "path:" + r.URL.Path, Outcome: audit.Denied}
	if s != nil {
		e.Actor, e.ActorRole = s.Identity.Key(), strings.Join(s.Identity.Roles, ",")
		if s.Identity.Kind == auth.Citizen {
			e.ActorRole, e.Subject = string(auth.Citizen), s.Identity.Key()
		}
	}
	if d.Audit != nil {
		if err := d.Audit.Record(ctx, e); err != nil {
			d.Log.ErrorContext(ctx, "audit log unavailable", "request_id", e.RequestID, "err", err)
		}
	}
	d.Fail(w, r, http.StatusForbidden, "error.403")
	return nil
}
