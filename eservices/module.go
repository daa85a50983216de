package eservices

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/civicgate/civicgate/auth"
)

// ActorKind is who may use a module on a citizen's matter.
type ActorKind string

// The actors of an e-service.
const (
	// Self is the citizen acting in their own matter.
	Self ActorKind = "self"
	// Guardian is a guardian acting for a child in their custody.
	Guardian ActorKind = "guardian"
	// ContactCentre is contact-centre staff acting on a citizen's behalf.
	ContactCentre ActorKind = "contact-centre"
)

// Owner is the named owner of an e-service: every e-service has one.
type Owner struct {
	// Department is the owning department, e.g. "Barn- och
	// utbildningsförvaltningen".
	Department string `yaml:"department"`
	// Name is the system owner (a role or person).
	Name string `yaml:"name"`
	// Contact is an e-mail address or phone number for the owner.
	Contact string `yaml:"contact"`
}

// Info is what a module states about itself. The gateway refuses a module
// whose Info is incomplete.
type Info struct {
	// ID is the module's URL segment (/e/<id>/): lowercase letters, digits
	// and dashes.
	ID string
	// CasePrefix starts the module's case numbers (BYGG-2026-000123): 2–8
	// uppercase letters.
	CasePrefix string
	// Titles and descriptions for the start page, in Swedish and English.
	TitleSv, TitleEn             string
	DescriptionSv, DescriptionEn string
	// Owner names the owning department and system owner.
	Owner Owner
	// MinLoA is the lowest level of assurance the module accepts; the
	// gateway steps up a session below it.
	MinLoA auth.LoA
	// Actors lists who may use the module on a citizen's matter.
	Actors []ActorKind
	// HandlerRoles are the staff roles that handle the module's cases (a
	// role may be scoped, e.g. "school-admin:skola-1"; list it as
	// "school-admin:*" to accept any scope).
	HandlerRoles []string
	// PersonalData lists the categories of personal data processed, e.g.
	// "personnummer", "name", "health (absence reason)".
	PersonalData []string
	// LegalBasis is the GDPR legal basis with its source, e.g. "Allmänt
	// intresse / myndighetsutövning (skollagen 7 kap.)".
	LegalBasis string
	// Retention is how long closed cases are kept before they are
	// anonymised.
	Retention time.Duration
	// Confidential marks content that only HandlerRoles may read (social
	// services): everyone else sees that a case exists and its status.
	Confidential bool
}

var (
	idRE     = regexp.MustCompile(`^[a-z][a-z0-9-]{1,31}$`)
	prefixRE = regexp.MustCompile(`^[A-Z]{2,8}$`)
)

// Validate reports every missing or malformed field at once.
func (i Info) Validate() error {
	var errs []error
	add := func(field, msg string) { errs = append(errs, fmt.Errorf("%s: %s", field, msg)) }
	if !idRE.MatchString(i.ID) {
		add("ID", fmt.Sprintf("%q must be 2–32 lowercase letters, digits or dashes, starting with a letter", i.ID))
	}
	if !prefixRE.MatchString(i.CasePrefix) {
		add("CasePrefix", fmt.Sprintf("%q must be 2–8 uppercase letters A–Z", i.CasePrefix))
	}
	if i.TitleSv == "" || i.TitleEn == "" {
		add("Title", "both TitleSv and TitleEn are required")
	}
	if i.Owner.Department == "" || i.Owner.Name == "" || i.Owner.Contact == "" {
		add("Owner", "department, name and contact of the system owner are required")
	}
	if i.MinLoA < auth.LoALow || i.MinLoA > auth.LoAHigh {
		add("MinLoA", "must be low, substantial or high")
	}
	if len(i.Actors) == 0 {
		add("Actors", "at least one actor (self, guardian, contact-centre) is required")
	}
	for _, a := range i.Actors {
		if a != Self && a != Guardian && a != ContactCentre {
			add("Actors", fmt.Sprintf("unknown actor %q", a))
		}
	}
	if len(i.HandlerRoles) == 0 {
		add("HandlerRoles", "at least one staff role must handle the cases")
	}
	if len(i.PersonalData) == 0 {
		add("PersonalData", "list the categories of personal data processed")
	}
	if i.LegalBasis == "" {
		add("LegalBasis", "the legal basis for processing is required")
	}
	if i.Retention <= 0 {
		add("Retention", "a retention period is required")
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("module %q: %w", i.ID, err)
	}
	return nil
}

// Title returns the title in lang ("sv" or "en").
func (i Info) Title(lang string) string {
	if lang == "en" {
		return i.TitleEn
	}
	return i.TitleSv
}

// Description returns the description in lang.
func (i Info) Description(lang string) string {
	if lang == "en" {
		return i.DescriptionEn
	}
	return i.DescriptionSv
}

// Allows reports whether actor kind a may use the module.
func (i Info) Allows(a ActorKind) bool { return slices.Contains(i.Actors, a) }

// Handles reports whether a staff member with roles handles the module's
// cases. "school-admin:*" in HandlerRoles accepts "school-admin:skola-1".
func (i Info) Handles(roles []string) bool {
	for _, want := range i.HandlerRoles {
		for _, r := range roles {
			if r == want {
				return true
			}
			if n := len(want); n > 2 && want[n-2:] == ":*" && len(r) > n-1 && r[:n-1] == want[:n-1] {
				return true
			}
		}
	}
	return false
}

// Module is an e-service. ServeHTTP receives requests under /e/<id>/ with
// the prefix stripped.
type Module interface {
	Info() Info
	http.Handler
}

// Provisioner is implemented by modules that need the gateway's services:
// Provision is called once, before the first request.
type Provisioner interface {
	Provision(env *Env) error
}

// Assets is implemented by modules with their own page templates (rendered
// inside the site layout) and message catalogues. Templates holds *.html
// files, each defining "content"; Messages holds sv.yaml and en.yaml whose
// keys start with the module ID.
type Assets interface {
	Templates() fs.FS
	Messages() fs.FS
}

// Registry holds modules by ID.
type Registry struct {
	mu      sync.RWMutex
	modules map[string]Module
}

// NewRegistry returns an empty registry (tests use their own).
func NewRegistry() *Registry { return &Registry{modules: map[string]Module{}} }

// Register adds m. It panics on a nil module, an invalid ID or a duplicate
// ID, as database/sql.Register does: these are programming errors found at
// start-up.
func (r *Registry) Register(m Module) {
	if m == nil {
		panic("eservices: Register of a nil module")
	}
	id := m.Info().ID
	if !idRE.MatchString(id) {
		panic(fmt.Sprintf("eservices: Register of a module with invalid ID %q", id))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.modules[id]; dup {
		panic(fmt.Sprintf("eservices: Register called twice for module %q", id))
	}
	r.modules[id] = m
}

// Modules returns the registered modules sorted by ID.
func (r *Registry) Modules() []Module {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]Module, 0, len(r.modules))
	for _, m := range r.modules {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Info().ID < out[j].Info().ID })
	return out
}

// Lookup returns the module with id.
func (r *Registry) Lookup(id string) (Module, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	m, ok := r.modules[id]
	return m, ok
}

// Default is the registry the bundled modules register in.
var Default = NewRegistry()

// Register adds m to the default registry; call it from a module's init.
func Register(m Module) { Default.Register(m) }

// Actor is who is behind a request to a module.
type Actor struct {
	// Identity is the logged-in person (a citizen or staff).
	Identity auth.Identity
	// Kind is Self for a citizen, ContactCentre for staff acting on a
	// citizen's behalf, and "" for staff handling cases. Guardian is
	// decided by the module when a citizen chooses a child.
	Kind ActorKind
	// Channel is "e-service" for citizens, "phone" or "visit" for the
	// contact centre.
	Channel string
	// Reason is why the contact centre acts (reason or ticket reference).
	Reason string
}

// IsStaff reports whether the actor is municipal staff.
func (a Actor) IsStaff() bool { return a.Identity.Kind == auth.Staff }

// Key is the actor's key for case and audit records.
func (a Actor) Key() string { return a.Identity.Key() }

// Subject is the citizen a request concerns by default: the citizen
// themself, or the citizen the contact centre acts for. A guardian's child
// is chosen inside the module and checked against the population register.
type Subject struct {
	PersonalNumber string
	Name           string
}

type actorKey struct{}
type subjectKey struct{}

// WithActor stores the actor and subject in ctx; the gateway calls it.
func WithActor(ctx context.Context, a Actor, s *Subject) context.Context {
	ctx = context.WithValue(ctx, actorKey{}, &a)
	return context.WithValue(ctx, subjectKey{}, s)
}

// ActorFrom returns the request's actor; modules can rely on it being set.
func ActorFrom(ctx context.Context) *Actor {
	a, _ := ctx.Value(actorKey{}).(*Actor)
	return a
}

// SubjectFrom returns the citizen the request concerns, or nil for staff
// handling cases.
func SubjectFrom(ctx context.Context) *Subject {
	s, _ := ctx.Value(subjectKey{}).(*Subject)
	return s
}
