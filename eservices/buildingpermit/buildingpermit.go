package buildingpermit

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/civicgate/civicgate/auth"
	"github.com/civicgate/civicgate/eservices"
	"github.com/civicgate/civicgate/eservices/cases"
	"github.com/civicgate/civicgate/gateway/audit"
)

// The module's identity.
const (
	// ID is the module's URL segment: /e/bygglov/.
	ID = "bygglov"
	// CasePrefix starts the module's case numbers: BYGG-2026-000123.
	CasePrefix = "BYGG"
	// RoleHandler is the staff role that handles building permit cases.
	RoleHandler = "building-handler"
)

// The roles the module acts in towards the case store and the audit log.
const (
	roleCitizen       = "citizen"
	roleContactCentre = "contact-centre"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed i18n/*.yaml
var messageFS embed.FS

// info is what the module states about itself.
var info = eservices.Info{
	ID:            ID,
	CasePrefix:    CasePrefix,
	TitleSv:       "Ansök om bygglov",
	TitleEn:       "Apply for a building permit",
	DescriptionSv: "Ansök om bygglov, rivningslov eller ändrad användning, skicka ritningar och följ ditt ärende.",
	DescriptionEn: "Apply for a building, demolition or change-of-use permit, send drawings and follow your case.",
	Owner: eservices.Owner{
		Department: "Samhällsbyggnadsförvaltningen",
		Name:       "Bygglovsenheten",
		Contact:    "bygglov@kommun.example",
	},
	MinLoA:       auth.LoASubstantial,
	Actors:       []eservices.ActorKind{eservices.Self, eservices.ContactCentre},
	HandlerRoles: []string{RoleHandler},
	PersonalData: []string{
		"personnummer", "namn", "e-postadress", "telefonnummer",
		"fastighetsbeteckning", "ritningar och situationsplan (bifogade filer)",
	},
	LegalBasis: "Allmänt intresse / myndighetsutövning (plan- och bygglagen 2010:900, 9 kap.)",
	// Building permit records are archived for good by the municipality's
	// archive; the e-service keeps its copy ten years after closing.
	Retention:    10 * 365 * 24 * time.Hour,
	Confidential: false,
}

// Module is the building permit e-service. Create it with New or
// NewWithConfig; it is ready for requests once Provision has been called.
type Module struct {
	cfg       Config
	env       *eservices.Env
	maxUpload int64
	mux       *http.ServeMux
}

var (
	_ eservices.Module      = (*Module)(nil)
	_ eservices.Provisioner = (*Module)(nil)
	_ eservices.Assets      = (*Module)(nil)
)

func init() { eservices.Register(New()) }

// New returns the module with the default configuration.
func New() *Module {
	m, err := NewWithConfig(Config{})
	if err != nil {
		panic(err) // the zero Config is always valid
	}
	return m
}

// NewWithConfig returns the module configured by c, or c's problems.
func NewWithConfig(c Config) (*Module, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("buildingpermit: %w", err)
	}
	m := &Module{cfg: c, maxUpload: c.uploadLimit(0)}
	m.routes()
	return m, nil
}

// Info implements eservices.Module.
func (m *Module) Info() eservices.Info { return info }

// Provision implements eservices.Provisioner; the module keeps env.
func (m *Module) Provision(env *eservices.Env) error {
	if env == nil || env.Cases == nil || env.Blobs == nil || env.Audit == nil || env.Pages == nil {
		return errors.New("buildingpermit: the environment lacks cases, blobs, audit or pages")
	}
	m.env = env
	return nil
}

// Templates implements eservices.Assets.
func (m *Module) Templates() fs.FS {
	sub, _ := fs.Sub(templateFS, "templates")
	return sub
}

// Messages implements eservices.Assets.
func (m *Module) Messages() fs.FS {
	sub, _ := fs.Sub(messageFS, "i18n")
	return sub
}

func (m *Module) routes() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", m.start)
	mux.HandleFunc("GET /ansokan", m.applicantOnly(m.newForm))
	mux.HandleFunc("GET /ansokan/{id}", m.applicantOnly(m.draftForm))
	mux.HandleFunc("POST /ansokan", m.applicantOnly(m.saveApplication))
	mux.HandleFunc("GET /kvitto/{id}", m.applicantOnly(m.receipt))
	mux.HandleFunc("GET /arende/{id}", m.casePage)
	mux.HandleFunc("GET /arende/{id}/bilaga/{aid}", m.download)
	mux.HandleFunc("POST /arende/{id}/komplettering", m.applicantOnly(m.supplement))
	mux.HandleFunc("POST /arende/{id}/paborja", m.handlerOnly(m.startHandling))
	mux.HandleFunc("POST /arende/{id}/begar-komplettering", m.handlerOnly(m.requestSupplement))
	mux.HandleFunc("POST /arende/{id}/beslut", m.handlerOnly(m.decide))
	mux.HandleFunc("POST /arende/{id}/avsluta", m.handlerOnly(m.closeCase))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		m.problem(w, r, http.StatusNotFound, "error.404")
	})
	m.mux = mux
}

// caller is who a request comes from, as the module sees them.
type caller struct {
	actor *eservices.Actor
	// handler is true for staff with the handler role; the rest are
	// applicants (the citizen, or the contact centre acting for them).
	handler bool
	// owner is the applicant's person key; empty for handlers.
	owner string
	// role is the role written to the case store and the audit log.
	role string
}

type callerKey struct{}

func callerFrom(ctx context.Context) caller {
	c, _ := ctx.Value(callerKey{}).(caller)
	return c
}

// ServeHTTP implements eservices.Module. It decides once who the caller is
// and refuses anyone the module has no pages for: the gateway's guard
// already does, but the module must not depend on being mounted behind it.
func (m *Module) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if m.env == nil {
		http.Error(w, "Service Unavailable", http.StatusServiceUnavailable)
		return
	}
	a := eservices.ActorFrom(r.Context())
	c, ok := identify(a, eservices.SubjectFrom(r.Context()))
	if !ok {
		if a != nil {
			_ = m.env.Audit.Record(r.Context(), audit.Event{
				RequestID: eservices.RequestID(r.Context()), Actor: a.Key(), ActorRole: strings.Join(a.Identity.Roles, ","),
				Action: "module.denied", Resource: "module:" + ID, Outcome: audit.Denied,
			})
		}
		m.problem(w, r, http.StatusForbidden, "error.403")
		return
	}
	m.mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), callerKey{}, c)))
}

// identify classifies an actor: a citizen for themself, a contact-centre
// agent for the citizen they serve, or a handler by role. Anyone else —
// staff without the role, an identity without a key — is refused.
func identify(a *eservices.Actor, s *eservices.Subject) (caller, bool) {
	switch {
	case a == nil:
		return caller{}, false
	case !a.IsStaff() && a.Kind == eservices.Self && a.Key() != "":
		return caller{actor: a, owner: a.Key(), role: roleCitizen}, true
	case a.IsStaff() && a.Kind == eservices.ContactCentre && s != nil && auth.ValidPersonalNumber(s.PersonalNumber) && a.Key() != "":
		return caller{actor: a, owner: s.PersonalNumber, role: roleContactCentre}, true
	case a.IsStaff() && a.Kind == "" && info.Handles(a.Identity.Roles) && a.Key() != "":
		return caller{actor: a, handler: true, role: RoleHandler}, true
	}
	return caller{}, false
}

// applicantOnly serves h to applicants only: handlers do not apply.
func (m *Module) applicantOnly(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if callerFrom(r.Context()).handler {
			m.problem(w, r, http.StatusForbidden, "bygglov.err.applicantonly")
			return
		}
		h(w, r)
	}
}

// handlerOnly serves h to handlers only. It refuses by role before any
// case is looked up, so the answer says nothing about which cases exist.
func (m *Module) handlerOnly(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !callerFrom(r.Context()).handler {
			m.problem(w, r, http.StatusForbidden, "error.403")
			return
		}
		h(w, r)
	}
}

// by returns the case-store actor of the request.
func (m *Module) by(r *http.Request) cases.Actor {
	return eservices.CaseActor(r, callerFrom(r.Context()).role)
}

// load returns the case named in the path if the caller may see it: its
// applicant, or a handler once it is submitted. Every other case, of this
// module or another, is answered with 404 exactly as a case that does not
// exist, so nobody learns that it does.
func (m *Module) load(w http.ResponseWriter, r *http.Request) (*cases.Case, bool) {
	c := callerFrom(r.Context())
	cs, err := m.env.Cases.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		m.storeError(w, r, err)
		return nil, false
	}
	visible := cs.ModuleID == ID && cs.PurgedAt.IsZero()
	if c.handler {
		visible = visible && cs.Status != cases.Draft
	} else {
		visible = visible && cs.Owner == c.owner
	}
	if !visible {
		m.problem(w, r, http.StatusNotFound, "error.404")
		return nil, false
	}
	return cs, true
}

// recordView writes the "case.viewed" audit entry of a staff read. The
// caller must not show the case when it fails.
func (m *Module) recordView(r *http.Request, cs *cases.Case, detail map[string]string) error {
	c := callerFrom(r.Context())
	subject := cs.Subject
	if subject == "" {
		subject = cs.Owner
	}
	return m.env.Audit.Record(r.Context(), audit.Event{
		Action: "case.viewed", Actor: c.actor.Key(), ActorRole: c.role, Subject: subject,
		Resource: "case:" + cs.Number, Outcome: audit.Success, RequestID: eservices.RequestID(r.Context()),
		Detail: detail,
	})
}

// storeError answers a failed case-store call. Details go to the log (the
// store's errors never hold personal identity numbers), the person gets a
// page that says what they can do.
func (m *Module) storeError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, cases.ErrNotFound):
		m.problem(w, r, http.StatusNotFound, "error.404")
	case errors.Is(err, cases.ErrConflict):
		m.problem(w, r, http.StatusConflict, "bygglov.err.conflict")
	case errors.Is(err, cases.ErrInvalid):
		m.env.Log.WarnContext(r.Context(), "case store refused a request", "err", err)
		m.problem(w, r, http.StatusUnprocessableEntity, "bygglov.err.invalid")
	default:
		m.env.Log.ErrorContext(r.Context(), "case store failed", "err", err)
		w.Header().Set("Retry-After", "5")
		m.problem(w, r, http.StatusServiceUnavailable, "error.503")
	}
}

// problemData is the data of the problem page.
type problemData struct {
	Message   string // message key
	StatusKey string // message key of the case's status, for Message's {{.Status}}
	Back      string // where to go on
}

// problem renders a short page that explains what went wrong.
func (m *Module) problem(w http.ResponseWriter, r *http.Request, status int, key string) {
	m.problemWithStatus(w, r, status, key, "")
}

// problemWithStatus is problem for a message that names the case's
// status. A conflict links back to the case, everything else to the
// module's start page.
func (m *Module) problemWithStatus(w http.ResponseWriter, r *http.Request, status int, key, statusKey string) {
	back := "/e/" + ID + "/"
	if id := r.PathValue("id"); id != "" && status == http.StatusConflict {
		back += "arende/" + id
	}
	m.env.Render(w, r, status, "problem.html", "bygglov.problem.title", problemData{Message: key, StatusKey: statusKey, Back: back})
}

// seeOther redirects after a successful POST.
func seeOther(w http.ResponseWriter, r *http.Request, path string) {
	http.Redirect(w, r, "/e/"+ID+path, http.StatusSeeOther)
}
