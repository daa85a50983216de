package schoolabsence

import (
	"embed"
	"encoding/json"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/civicgate/civicgate/auth"
	"github.com/civicgate/civicgate/eservices"
	"github.com/civicgate/civicgate/eservices/cases"
)

// The module's identity.
const (
	// ID is the module's registered ID and URL segment (/e/skolfranvaro/).
	ID = "skolfranvaro"
	// CasePrefix starts the module's case numbers.
	CasePrefix = "SKOL"
	// RolePrefix starts the staff roles that handle the cases of one school:
	// "school-admin:skola-1".
	RolePrefix = "school-admin:"
	// ProtectedScope is the school scope that reports for children with
	// protected personal data are routed to, since the register withholds
	// their school: only "school-admin:skyddad" sees them.
	ProtectedScope = "skyddad"
)

// Time limits of the rules of the issue.
const (
	// MaxDaysBack is how many days back an absence may be reported.
	MaxDaysBack = 7
	// maxNoteLen and maxReasonLen bound the free texts.
	maxNoteLen   = 500
	maxReasonLen = 1000
	maxEmailLen  = 254
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed i18n/*.yaml
var messageFS embed.FS

func init() { eservices.Register(New()) }

// Module is the school absence e-service. Its zero value is not usable:
// New builds it, Provision gives it its services.
type Module struct {
	env     *eservices.Env
	citizen http.Handler
	staff   http.Handler
}

var (
	_ eservices.Module      = (*Module)(nil)
	_ eservices.Provisioner = (*Module)(nil)
	_ eservices.Assets      = (*Module)(nil)
)

// New returns the module, without side effects; it serves requests only
// after Provision.
func New() *Module {
	m := &Module{}
	c := http.NewServeMux()
	c.HandleFunc("GET /{$}", m.overview)
	c.HandleFunc("GET /franvaro", m.absenceForm)
	c.HandleFunc("POST /franvaro", m.submitAbsence)
	c.HandleFunc("GET /ledighet", m.leaveForm)
	c.HandleFunc("POST /ledighet", m.submitLeave)
	c.HandleFunc("GET /kvitto/{number}", m.receipt)
	c.HandleFunc("GET /arende/{number}", m.citizenCase)
	m.citizen = c
	s := http.NewServeMux()
	s.HandleFunc("GET /{$}", m.staffList)
	s.HandleFunc("GET /arende/{number}", m.staffCase)
	s.HandleFunc("POST /arende/{number}/kvittera", m.acknowledge)
	s.HandleFunc("POST /arende/{number}/beslut", m.decide)
	m.staff = s
	return m
}

// Info describes the e-service to the gateway.
func (m *Module) Info() eservices.Info {
	return eservices.Info{
		ID:         ID,
		CasePrefix: CasePrefix,
		TitleSv:    "Frånvaro och ledighet i skolan",
		TitleEn:    "School absence and leave",
		DescriptionSv: "Anmäl ditt barns frånvaro från skolan, hel eller del av dag, " +
			"eller ansök om ledighet. Skolan kvitterar anmälan och beslutar om ledighet.",
		DescriptionEn: "Report your child's absence from school, for a whole or part of a day, " +
			"or apply for leave. The school acknowledges the report and decides on leave.",
		Owner: eservices.Owner{
			Department: "Barn- och utbildningsförvaltningen",
			Name:       "Systemägare skoladministration",
			Contact:    "barn-och-utbildning@kommun.example",
		},
		MinLoA:       auth.LoASubstantial,
		Actors:       []eservices.ActorKind{eservices.Self, eservices.Guardian, eservices.ContactCentre},
		HandlerRoles: []string{RolePrefix + "*"},
		PersonalData: []string{
			"personnummer (vårdnadshavare och barn)",
			"namn",
			"skola",
			"frånvarodatum och tider",
			"frånvaroorsak (kan vara en uppgift om hälsa)",
			"e-postadress (frivillig)",
		},
		LegalBasis: "Uppgift av allmänt intresse och myndighetsutövning, GDPR art. 6.1 e " +
			"(skollagen (2010:800) 7 kap. 17–19 a §§ om närvaro, frånvaro och ledighet); " +
			"uppgifter om hälsa enligt art. 9.2 g och lagen (2018:218) 3 kap. 3 §",
		// The school year in which the absence happened and the following
		// one, when absence is followed up and reported.
		Retention:    2 * 365 * 24 * time.Hour,
		Confidential: false,
	}
}

// Provision keeps the gateway's services.
func (m *Module) Provision(env *eservices.Env) error {
	m.env = env
	return nil
}

// Templates returns the module's pages.
func (m *Module) Templates() fs.FS {
	sub, _ := fs.Sub(templateFS, "templates")
	return sub
}

// Messages returns the module's sv.yaml and en.yaml.
func (m *Module) Messages() fs.FS {
	sub, _ := fs.Sub(messageFS, "i18n")
	return sub
}

// ServeHTTP sends staff who handle cases to the school side and citizens
// (and the contact centre acting for one) to the guardian side.
func (m *Module) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a := eservices.ActorFrom(r.Context())
	if m.env == nil || a == nil {
		http.Error(w, "Service Unavailable", http.StatusServiceUnavailable)
		return
	}
	switch {
	case a.IsStaff() && a.Kind != eservices.ContactCentre:
		if len(scopes(a.Identity.Roles)) == 0 {
			m.fail(w, r, http.StatusForbidden, "error.403")
			return
		}
		m.staff.ServeHTTP(w, r)
	default:
		if guardianPNR(r) == "" {
			m.fail(w, r, http.StatusForbidden, "error.403")
			return
		}
		m.citizen.ServeHTTP(w, r)
	}
}

// scopes returns the school IDs that roles handle, from
// "school-admin:<school ID>".
func scopes(roles []string) map[string]bool {
	out := map[string]bool{}
	for _, r := range roles {
		if s, ok := strings.CutPrefix(r, RolePrefix); ok && s != "" && s != "*" {
			out[s] = true
		}
	}
	return out
}

// guardianPNR returns the personal identity number of the guardian a
// request acts for: the citizen themself, or the citizen the contact centre
// serves. It is empty when there is none (e.g. a foreign e-ID without one).
func guardianPNR(r *http.Request) string {
	a := eservices.ActorFrom(r.Context())
	s := eservices.SubjectFrom(r.Context())
	if a == nil || s == nil || !auth.ValidPersonalNumber(s.PersonalNumber) {
		return ""
	}
	// A citizen acts only in their own name, whatever the subject says.
	if !a.IsStaff() && s.PersonalNumber != a.Identity.PersonalNumber {
		return ""
	}
	if a.IsStaff() && a.Kind != eservices.ContactCentre {
		return ""
	}
	return s.PersonalNumber
}

// The kinds of report.
const (
	kindAbsence = "absence"
	kindLeave   = "leave"
)

// The reasons for an absence.
const (
	reasonIllness = "illness"
	reasonOther   = "other"
)

// report is a case's content. It never holds a protected child's family
// name, address or school: the register does not hand them out and the
// module does not ask for them.
type report struct {
	Kind string `json:"kind"`
	// ChildName is the child's display name: the given name alone when
	// Protected.
	ChildName string `json:"child_name"`
	Protected bool   `json:"protected"`
	// Scope is the school ID the report is routed to, or ProtectedScope.
	Scope      string `json:"scope"`
	SchoolName string `json:"school_name,omitempty"`
	From       string `json:"from"`
	To         string `json:"to"`
	PartDay    bool   `json:"part_day,omitempty"`
	Start      string `json:"start,omitempty"`
	End        string `json:"end,omitempty"`
	Reason     string `json:"reason,omitempty"`
	Note       string `json:"note,omitempty"`
	// ReporterName is the reporting guardian's name, for the school; empty
	// for a protected child, whose guardian's family name would point at
	// the child.
	ReporterName string `json:"reporter_name,omitempty"`
}

// covers reports whether the report's dates include day (YYYY-MM-DD);
// ISO dates compare as strings.
func (rp report) covers(day string) bool { return rp.From <= day && day <= rp.To }

// item is a case and its decoded content, as the pages show it.
type item struct {
	Case   cases.Case
	Report report
	// Decision is "approved" or "rejected" once a leave request is decided.
	Decision string
	// Mine is true when the viewer reported it themself.
	Mine bool
}

// StatusKey is the message key of the item's status, worded for its kind.
func (it item) StatusKey() string {
	switch {
	case it.Report.Kind == kindAbsence && it.Case.Status == cases.Closed:
		return "skolfranvaro.status.acknowledged"
	case it.Report.Kind == kindLeave && it.Decision != "":
		return "skolfranvaro.status." + it.Decision
	}
	return "skolfranvaro.status." + string(it.Case.Status)
}

// Acknowledgeable reports whether the school may still acknowledge it.
func (it item) Acknowledgeable() bool {
	return it.Report.Kind == kindAbsence && it.Case.Status.Open()
}

// Decidable reports whether the school may still decide it.
func (it item) Decidable() bool {
	return it.Report.Kind == kindLeave && it.Case.Status.Open()
}

// The notes of the history entries the school writes; the decision is read
// back from them, and Mina sidor shows them as they are, so they are in
// both languages.
const (
	noteAcknowledged = "Kvitterad av skolan / Acknowledged by the school"
	noteApproved     = "Beviljad / Approved"
	noteRejected     = "Avslagen / Rejected"
)

func decisionOf(c *cases.Case) string {
	for _, h := range c.History {
		if h.To == cases.Decided {
			switch h.Note {
			case noteApproved:
				return "approved"
			case noteRejected:
				return "rejected"
			}
		}
	}
	return ""
}

// decode returns the item of c, or false when c is not one of this
// module's submitted cases.
func decode(c cases.Case) (item, bool) {
	if c.ModuleID != ID || c.Status == cases.Draft || !c.PurgedAt.IsZero() {
		return item{}, false
	}
	var rp report
	if err := json.Unmarshal(c.Content, &rp); err != nil || (rp.Kind != kindAbsence && rp.Kind != kindLeave) {
		return item{}, false
	}
	return item{Case: c, Report: rp, Decision: decisionOf(&c)}, true
}
