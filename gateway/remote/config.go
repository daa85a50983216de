package remote

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
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

// Actor types a module may admit (Info.Actors).
const (
	ActorCitizen       = "citizen"        // a citizen for themself
	ActorContactCentre = "contact-centre" // a staff agent acting for a citizen
	ActorStaff         = "staff"          // staff in their own role, e.g. case handlers
)

// ModuleConfig is one remote module: an entry of remote_modules in the
// gateway's configuration.
type ModuleConfig struct {
	// ID names the module: its address /e/<id>/ and the audience of its
	// assertions. Lower-case letters, digits and hyphens, starting with a
	// letter, at most 40 characters. Required.
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
type Info struct {
	// TitleSv is the module's name in Swedish, e.g. "Felanmälan gata och
	// park". Required.
	TitleSv string `yaml:"title_sv"`
	// TitleEn is the module's name in English. Required.
	TitleEn string `yaml:"title_en"`
	// Owner is the system owner answerable for the module. Required.
	Owner Owner `yaml:"owner"`
	// MinLoA is the lowest level of assurance that reaches the module:
	// "none" (anonymous visitors too), "low", "substantial" or "high".
	// Default "substantial".
	MinLoA string `yaml:"min_loa"`
	// Actors are who may use the module: "citizen" (for themself),
	// "contact-centre" (an agent acting for a citizen), "staff" (staff in
	// their own role). Default ["citizen"].
	Actors []string `yaml:"actors"`
	// PersonalData lists the categories of personal data the module
	// processes, for the register of processing, e.g. ["contact
	// details", "location"]. Default empty.
	PersonalData []string `yaml:"personal_data"`
	// LegalBasis is the GDPR legal basis of the processing, e.g. "public
	// task (GDPR art. 6.1 e)". Required.
	LegalBasis string `yaml:"legal_basis"`
	// Retention says how long the module keeps the data, e.g. "2 years after
	// the case is closed". Required.
	Retention string `yaml:"retention"`
}

// Owner is the department and person answerable for a module.
type Owner struct {
	// Department is the owning department, e.g. "Tekniska förvaltningen".
	// Required.
	Department string `yaml:"department"`
	// Contact is how to reach the system owner: a name, an e-mail address
	// or a functional mailbox. Required.
	Contact string `yaml:"contact"`
}

var moduleIDPattern = regexp.MustCompile(`^[a-z][a-z0-9-]{0,39}$`)

// Validate reports every problem in c at once.
func (c ModuleConfig) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch {
	case c.ID == "":
		add("id: required")
	case !moduleIDPattern.MatchString(c.ID):
		add("id: %q must be lower-case letters, digits and hyphens, start with a letter, at most 40 characters", c.ID)
	}
	if c.Upstream == "" {
		add("upstream: required")
	} else if u, err := url.Parse(c.Upstream); err != nil {
		add("upstream: not a URL: %v", err)
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
	for _, e := range c.Info.validate() {
		errs = append(errs, e)
	}
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
	if i.Owner.Contact == "" {
		add("owner.contact: required")
	}
	if i.MinLoA != "" {
		if _, err := auth.ParseLoA(i.MinLoA); err != nil {
			add("min_loa: %q is not none, low, substantial or high", i.MinLoA)
		}
	}
	for k, a := range i.Actors {
		switch a {
		case ActorCitizen, ActorContactCentre, ActorStaff:
		default:
			add("actors[%d]: %q is not citizen, contact-centre or staff", k, a)
		}
	}
	if i.LegalBasis == "" {
		add("legal_basis: required")
	}
	if i.Retention == "" {
		add("retention: required")
	}
	return errs
}

// Level returns MinLoA as a level, with the default applied.
func (i Info) Level() auth.LoA {
	if i.MinLoA == "" {
		return auth.LoASubstantial
	}
	l, err := auth.ParseLoA(i.MinLoA)
	if err != nil {
		return auth.LoAHigh // unreachable after Validate; fail closed
	}
	return l
}

// AllowedActors returns Actors with the default applied.
func (i Info) AllowedActors() []string {
	if len(i.Actors) == 0 {
		return []string{ActorCitizen}
	}
	return i.Actors
}
