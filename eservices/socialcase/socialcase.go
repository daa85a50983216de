package socialcase

import (
	"embed"
	"errors"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/civicgate/civicgate/auth"
	"github.com/civicgate/civicgate/eservices"
	"github.com/civicgate/civicgate/eservices/cases"
	"github.com/civicgate/civicgate/gateway/audit"
)

// ID is the module's ID and URL segment (/e/ekonomiskt-bistand/).
const ID = "ekonomiskt-bistand"

// Prefix starts the module's case numbers (SOC-2026-000123).
const Prefix = "SOC"

// HandlerRole is the staff role that handles applications and may read
// their content.
const HandlerRole = "social-handler"

// roleCitizen is the role the applicant acts in, in case and audit records.
const roleCitizen = "citizen"

//go:embed templates/*.html
var templateFS embed.FS

//go:embed i18n/*.yaml
var messageFS embed.FS

// Module is the ekonomiskt bistånd e-service. Create it with New; it is
// usable after Provision.
type Module struct {
	env *eservices.Env
	mux *http.ServeMux
}

var (
	_ eservices.Module      = (*Module)(nil)
	_ eservices.Provisioner = (*Module)(nil)
	_ eservices.Assets      = (*Module)(nil)
)

func init() { eservices.Register(New()) }

// New returns the module, not yet provisioned; it has no side effects.
func New() *Module {
	m := &Module{mux: http.NewServeMux()}
	m.routes()
	return m
}

// Info implements eservices.Module.
func (m *Module) Info() eservices.Info {
	return eservices.Info{
		ID:            ID,
		CasePrefix:    Prefix,
		TitleSv:       "Ansök om ekonomiskt bistånd",
		TitleEn:       "Apply for financial aid (ekonomiskt bistånd)",
		DescriptionSv: "Ansök om ekonomiskt bistånd (försörjningsstöd) för en månad och följ din ansökan. Uppgifterna omfattas av sekretess.",
		DescriptionEn: "Apply for financial aid for a month and follow your application. The information is confidential.",
		Owner: eservices.Owner{
			Department: "Socialförvaltningen",
			Name:       "Enhetschef ekonomiskt bistånd",
			Contact:    "socialforvaltningen@kommun.example",
		},
		MinLoA:       auth.LoASubstantial,
		Actors:       []eservices.ActorKind{eservices.Self},
		HandlerRoles: []string{HandlerRole},
		PersonalData: []string{
			"personnummer", "name",
			"household members (name, relation, age)",
			"economic situation (income, expenses, housing)",
			"free text that may contain sensitive personal data",
			"attachments (rent contract, payslips)",
		},
		LegalBasis:   "Myndighetsutövning (GDPR art. 6.1 e; socialtjänstlagen 4 kap. 1 §); sekretess enligt offentlighets- och sekretesslagen 26 kap.",
		Retention:    5 * 365 * 24 * time.Hour,
		Confidential: true,
	}
}

// Provision implements eservices.Provisioner: the module keeps env.
func (m *Module) Provision(env *eservices.Env) error {
	if env == nil || env.Cases == nil || env.Blobs == nil || env.Audit == nil || env.Pages == nil {
		return errors.New("socialcase: the environment lacks cases, blobs, audit or pages")
	}
	if env.Now == nil {
		env.Now = time.Now
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

// ServeHTTP implements eservices.Module.
func (m *Module) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if m.env == nil {
		http.Error(w, "Service Unavailable", http.StatusServiceUnavailable)
		return
	}
	if eservices.ActorFrom(r.Context()) == nil {
		m.fail(w, r, http.StatusForbidden)
		return
	}
	m.mux.ServeHTTP(w, r)
}

func (m *Module) routes() {
	m.mux.HandleFunc("GET /{$}", m.start)
	m.mux.HandleFunc("GET /ansokan", m.citizenOnly(m.newApplication))
	m.mux.HandleFunc("POST /ansokan", m.citizenOnly(m.saveApplication))
	m.mux.HandleFunc("GET /ansokan/{id}", m.citizenOnly(m.editDraft))
	m.mux.HandleFunc("POST /ansokan/{id}", m.citizenOnly(m.saveApplication))
	m.mux.HandleFunc("GET /ansokan/{id}/granska", m.citizenOnly(m.review))
	m.mux.HandleFunc("POST /ansokan/{id}/skicka", m.citizenOnly(m.submit))
	m.mux.HandleFunc("GET /arende/{number}", m.casePage)
	m.mux.HandleFunc("GET /arende/{number}/kvitto", m.citizenOnly(m.receipt))
	m.mux.HandleFunc("GET /arende/{number}/bilaga/{att}", m.attachment)
	m.mux.HandleFunc("POST /arende/{number}/komplettera", m.citizenOnly(m.supplement))
	m.mux.HandleFunc("POST /arende/{number}/paborja", m.handlerOnly(m.startHandling))
	m.mux.HandleFunc("POST /arende/{number}/begar-komplettering", m.handlerOnly(m.requestSupplement))
	m.mux.HandleFunc("POST /arende/{number}/beslut", m.handlerOnly(m.decide))
	m.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { m.fail(w, r, http.StatusNotFound) })
}

// who is what an actor may do in this module.
type who int

const (
	nobody  who = iota
	citizen     // the applicant side: a citizen acting for themself
	handler     // social services staff handling applications
)

// classify decides an actor's side. The gateway has already refused most
// others, but a module must not rely on that: the content is confidential,
// so contact-centre agents (even with a handler role, as long as they act
// for a citizen) and staff without the handler role are nobody here.
func (m *Module) classify(a *eservices.Actor) who {
	switch {
	case a == nil:
		return nobody
	case !a.IsStaff():
		if a.Kind == eservices.Self && a.Key() != "" {
			return citizen
		}
		return nobody
	case a.Kind == "" && m.Info().Handles(a.Identity.Roles) && a.Key() != "":
		return handler
	}
	return nobody
}

func (m *Module) citizenOnly(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a := eservices.ActorFrom(r.Context())
		switch m.classify(a) {
		case citizen:
			next(w, r)
		case handler:
			// Handlers do not apply; the page does not exist for them.
			m.fail(w, r, http.StatusNotFound)
		default:
			m.deny(w, r, "module:"+ID, "")
		}
	}
}

func (m *Module) handlerOnly(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a := eservices.ActorFrom(r.Context())
		switch m.classify(a) {
		case handler:
			next(w, r)
		case citizen:
			m.fail(w, r, http.StatusNotFound)
		default:
			m.deny(w, r, "module:"+ID, "")
		}
	}
}

// deny refuses a request with 403 and records "case.denied". subject is
// the applicant when the request named an existing case, so that the
// attempt shows among the accesses to their data.
func (m *Module) deny(w http.ResponseWriter, r *http.Request, resource, subject string) {
	a := eservices.ActorFrom(r.Context())
	key, role := "", ""
	if a != nil {
		key, role = a.Key(), string(a.Kind)
		if a.IsStaff() && role == "" {
			role = "staff"
		}
		if a.IsStaff() && len(a.Identity.Roles) > 0 {
			role = strings.Join(a.Identity.Roles, ",")
		}
	}
	if key == "" {
		key = "anonymous"
	}
	if err := m.env.Audit.Record(r.Context(), audit.Event{
		RequestID: eservices.RequestID(r.Context()), Actor: key, ActorRole: role, Subject: subject,
		Action: "case.denied", Resource: resource, Outcome: audit.Denied,
	}); err != nil {
		m.env.Log.ErrorContext(r.Context(), "audit log unavailable for a denied access", "err", err)
	}
	m.fail(w, r, http.StatusForbidden)
}

// fail shows the site's error message for status.
func (m *Module) fail(w http.ResponseWriter, r *http.Request, status int) {
	key := "error.500"
	switch status {
	case http.StatusForbidden, http.StatusNotFound, http.StatusServiceUnavailable, http.StatusRequestEntityTooLarge:
		key = "error." + strconv.Itoa(status)
	}
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	m.env.Render(w, r, status, "error.html", "error.title", map[string]string{"Message": key})
}

// start is the module's first page: the applicant's own applications, or
// the handlers' queue.
func (m *Module) start(w http.ResponseWriter, r *http.Request) {
	switch m.classify(eservices.ActorFrom(r.Context())) {
	case citizen:
		m.citizenStart(w, r)
	case handler:
		m.queue(w, r)
	default:
		m.deny(w, r, "module:"+ID, "")
	}
}

// storeFailed answers for a failed case-store call: 404 for a missing case,
// 503 when the store or the audit log is down.
func (m *Module) storeFailed(w http.ResponseWriter, r *http.Request, op string, err error) {
	if errors.Is(err, cases.ErrNotFound) {
		m.fail(w, r, http.StatusNotFound)
		return
	}
	// Errors of the case store name fields and problems, never values.
	m.env.Log.ErrorContext(r.Context(), "case store failed", "op", op, "err", err)
	m.fail(w, r, http.StatusServiceUnavailable)
}

// url returns the full path of a module page for redirects and links.
func modURL(path string) string { return "/e/" + ID + path }
