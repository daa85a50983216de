package remote

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/civicgate/civicgate/auth"
)

// Config holds the gateway-wide settings of remote modules.
type Config struct {
	// SigningKeyFiles are PEM files with ECDSA P-256 private keys (create
	// one with `openssl ecparam -name prime256v1 -genkey -noout | openssl
	// pkcs8 -topk8 -nocrypt`). The first signs identity assertions; all are
	// published in the JWKS, which is how a key is rotated (see the package
	// documentation). Required in production; dev mode generates one.
	SigningKeyFiles []string `yaml:"signing_key_files"`
	// PseudonymKeyFile is a file holding at least 32 bytes of secret (e.g.
	// `openssl rand -hex 32`) from which each module's pseudonym key is
	// derived. Changing it changes every pseudonym modules have stored, so
	// keep it for the life of the deployment. Required in production; dev
	// mode generates one.
	PseudonymKeyFile string `yaml:"pseudonym_key_file"`
}

// Validate reports every problem in c at once. Both fields may be empty: the
// caller decides whether that is allowed (dev mode) or not.
func (c Config) Validate() error {
	var errs []error
	for i, f := range c.SigningKeyFiles {
		if f == "" {
			errs = append(errs, fmt.Errorf("signing_key_files[%d]: empty path", i))
		}
	}
	return errors.Join(errs...)
}

// LoadPseudonymKeyFile reads a pseudonym key: the file's content without
// surrounding whitespace, at least MinPseudonymKeyBytes long.
func LoadPseudonymKeyFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("remote: pseudonym key: %w", err)
	}
	b = bytes.TrimSpace(b)
	if len(b) < MinPseudonymKeyBytes {
		return nil, fmt.Errorf("remote: pseudonym key %s: shorter than %d bytes", path, MinPseudonymKeyBytes)
	}
	return b, nil
}

// Defaults of ModuleConfig, documented on its fields.
const (
	DefaultTimeout      = 10 * time.Second
	DefaultMaxBodyBytes = 10 << 20
)

// Actors a module may admit (Info.Actors), as in the eservices contract.
const (
	ActorSelf          = "self"           // a citizen in their own matter
	ActorGuardian      = "guardian"       // a citizen acting for a child in their custody
	ActorContactCentre = "contact-centre" // a staff agent acting on a citizen's behalf
)

// ModuleConfig is one remote module: an entry of remote_modules in the
// gateway's configuration.
type ModuleConfig struct {
	// ID names the module: its address /e/<id>/ and the audience of its
	// assertions. 2–32 lower-case letters, digits and hyphens, starting with
	// a letter. Required.
	ID string `yaml:"id"`
	// Upstream is the module's base URL, http or https, e.g.
	// "http://127.0.0.1:8181" or "https://felanmalan.intern.example.se/app".
	// Request paths are appended to its path. Required.
	Upstream string `yaml:"upstream"`
	// AllowPersonalNumber adds the personnummer of the subject and of a
	// citizen actor to the assertion (subject_pnr, actor_pnr). Default
	// false: the module sees only pseudonyms. Allow it only where the
	// module's personal-data record justifies it.
	AllowPersonalNumber bool `yaml:"allow_personal_number"`
	// BindRequest binds every assertion to its request: the gateway signs
	// a new assertion for each request, with the request's method and
	// target (htm, htu), a jti of its own and request_id, and the module
	// must check htm and htu. An assertion copied from one request is then
	// useless on another, at the price of one signature in the gateway and
	// one verification in the module per request. Default false: the
	// assertion names who is asking but not the request, and the gateway
	// reuses it for the same person in the same role for up to 30 seconds.
	BindRequest bool `yaml:"bind_request"`
	// Timeout bounds connecting to the module, sending the request and
	// receiving the response headers; a module that takes longer gets the
	// citizen a "504 the service did not answer" page. Default 10s.
	Timeout time.Duration `yaml:"timeout"`
	// MaxBodyBytes is the largest request body passed to the module; a
	// larger one is refused with 413. Default 10485760 (10 MiB).
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// CAFile is a PEM bundle of the certificate authorities trusted for an
	// https upstream, e.g. the municipality's internal CA. Default empty:
	// the system's roots.
	CAFile string `yaml:"ca_file"`
	// Info describes the module to citizens and to the register of
	// processing; its fields sit directly in the module's entry.
	Info Info `yaml:",inline"`
}

// Info is what the gateway needs to list, guard and account for a module.
// It mirrors eservices.Info field by field, so the gateway maps it as is
// and applies the same rules to remote and bundled modules.
type Info struct {
	// TitleSv is the module's name in Swedish, e.g. "Felanmälan gata och
	// park". Required.
	TitleSv string `yaml:"title_sv"`
	// TitleEn is the module's name in English. Required.
	TitleEn string `yaml:"title_en"`
	// DescriptionSv and DescriptionEn are one sentence for the start page.
	// Default empty.
	DescriptionSv string `yaml:"description_sv"`
	DescriptionEn string `yaml:"description_en"`
	// CasePrefix starts the module's case numbers: 2–8 upper-case letters.
	// Default: the ID's letters in upper case, e.g. "EXEMPEL".
	CasePrefix string `yaml:"case_prefix"`
	// Owner is the system owner answerable for the module. Required.
	Owner Owner `yaml:"owner"`
	// MinLoA is the lowest level of assurance that reaches the module:
	// "low", "substantial" or "high"; the gateway steps a session up to it.
	// Default "substantial".
	MinLoA string `yaml:"min_loa"`
	// Actors are who may use the module on a citizen's matter: "self" (the
	// citizen), "guardian" (for a child), "contact-centre" (an agent acting
	// for a citizen). Default ["self"].
	Actors []string `yaml:"actors"`
	// HandlerRoles are the staff roles that handle the module's cases and
	// may reach it in their own right; "building-handler:*" accepts any
	// scope of the role. Required (at least one).
	HandlerRoles []string `yaml:"handler_roles"`
	// PersonalData lists the categories of personal data the module
	// processes, for the register of processing, e.g. ["name", "location",
	// "description of the fault"]. Required (at least one).
	PersonalData []string `yaml:"personal_data"`
	// LegalBasis is the GDPR legal basis with its source, e.g. "Allmänt
	// intresse (GDPR art. 6.1 e)". Required.
	LegalBasis string `yaml:"legal_basis"`
	// Retention is how long closed cases are kept, as a duration, e.g.
	// "17520h" (two years). Required.
	Retention time.Duration `yaml:"retention"`
	// Confidential marks content only handler_roles may read (social
	// services). Default false.
	Confidential bool `yaml:"confidential"`
}

// Owner is the department and person answerable for a module.
type Owner struct {
	// Department is the owning department, e.g. "Tekniska förvaltningen".
	// Required.
	Department string `yaml:"department"`
	// Name is the system owner, a role or a person. Required.
	Name string `yaml:"name"`
	// Contact is an e-mail address or phone number of the owner. Required.
	Contact string `yaml:"contact"`
}

var (
	moduleIDPattern  = regexp.MustCompile(`^[a-z][a-z0-9-]{1,31}$`)
	casePrefixRegexp = regexp.MustCompile(`^[A-Z]{2,8}$`)
)

// Validate reports every problem in c at once.
func (c ModuleConfig) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch {
	case c.ID == "":
		add("id: required")
	case !moduleIDPattern.MatchString(c.ID):
		add("id: %q must be 2–32 lower-case letters, digits and hyphens, starting with a letter", c.ID)
	}
	if p := c.Info.Prefix(c.ID); !casePrefixRegexp.MatchString(p) {
		add("case_prefix: %q must be 2–8 upper-case letters A–Z", p)
	}
	if c.Upstream == "" {
		add("upstream: required")
	} else if u, err := url.Parse(c.Upstream); err != nil {
		// The parse error quotes the URL, which may hold a password.
		add("upstream: not a URL")
	} else {
		if u.Scheme != "http" && u.Scheme != "https" {
			add("upstream: scheme must be http or https")
		}
		if u.Host == "" {
			add("upstream: host required")
		}
		if u.User != nil {
			add("upstream: must not contain credentials")
		}
		if u.RawQuery != "" || u.Fragment != "" {
			add("upstream: must not have a query or fragment")
		}
	}
	if c.Timeout < 0 {
		add("timeout: must not be negative")
	}
	if c.MaxBodyBytes < 0 {
		add("max_body_bytes: must not be negative")
	}
	if c.CAFile != "" {
		if _, err := os.Stat(c.CAFile); err != nil {
			add("ca_file: %v", err)
		}
	}
	errs = append(errs, c.Info.validate()...)
	return errors.Join(errs...)
}

func (i Info) validate() []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if i.TitleSv == "" {
		add("title_sv: required")
	}
	if i.TitleEn == "" {
		add("title_en: required")
	}
	if i.Owner.Department == "" {
		add("owner.department: required")
	}
	if i.Owner.Name == "" {
		add("owner.name: required")
	}
	if i.Owner.Contact == "" {
		add("owner.contact: required")
	}
	if i.MinLoA != "" {
		if l, err := auth.ParseLoA(i.MinLoA); err != nil || l < auth.LoALow {
			add("min_loa: %q is not low, substantial or high", i.MinLoA)
		}
	}
	for k, a := range i.Actors {
		switch a {
		case ActorSelf, ActorGuardian, ActorContactCentre:
		default:
			add("actors[%d]: %q is not self, guardian or contact-centre", k, a)
		}
	}
	if len(i.HandlerRoles) == 0 {
		add("handler_roles: at least one staff role must handle the cases")
	}
	for k, r := range i.HandlerRoles {
		if r == "" {
			add("handler_roles[%d]: empty", k)
		}
	}
	if len(i.PersonalData) == 0 {
		add("personal_data: list the categories of personal data processed")
	}
	if i.LegalBasis == "" {
		add("legal_basis: required")
	}
	if i.Retention <= 0 {
		add("retention: required, a positive duration such as 17520h")
	}
	return errs
}

// Level returns MinLoA as a level, with the default applied.
func (i Info) Level() auth.LoA {
	if i.MinLoA == "" {
		return auth.LoASubstantial
	}
	l, err := auth.ParseLoA(i.MinLoA)
	if err != nil || l < auth.LoALow {
		return auth.LoAHigh // unreachable after Validate; fail closed
	}
	return l
}

// AllowedActors returns Actors with the default applied.
func (i Info) AllowedActors() []string {
	if len(i.Actors) == 0 {
		return []string{ActorSelf}
	}
	return i.Actors
}

// Prefix returns CasePrefix with the default for module id applied.
func (i Info) Prefix(id string) string {
	if i.CasePrefix != "" {
		return i.CasePrefix
	}
	var b strings.Builder
	for _, r := range strings.ToUpper(id) {
		if r >= 'A' && r <= 'Z' && b.Len() < 8 {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Handles reports whether staff with roles handle the module's cases;
// "role:*" in HandlerRoles accepts any scope of role.
func (i Info) Handles(roles []string) bool {
	for _, want := range i.HandlerRoles {
		scope, wild := strings.CutSuffix(want, ":*")
		for _, r := range roles {
			if r == want || (wild && strings.HasPrefix(r, scope+":")) {
				return true
			}
		}
	}
	return false
}
