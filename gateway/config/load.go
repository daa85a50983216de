package config

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
)

// EnvPrefix starts every environment override. The rest of the name is the key
// path in upper case joined by underscores, list items by their index:
// CIVICGATE_PUBLIC_URL, CIVICGATE_SESSIONS_REDIS_ADDRS (comma-separated),
// CIVICGATE_IDENTITY_PROVIDERS_0_OIDC_CLIENT_ID.
const EnvPrefix = "CIVICGATE_"

// Options says how to load a configuration.
type Options struct {
	// Environ holds the environment in os.Environ() form.
	Environ []string
	// Dev is true for `civicgate dev`: memory sessions, plain-HTTP localhost
	// and a generated audit key become allowed.
	Dev bool
}

// Load reads the file at path, applies environment overrides, fills defaults
// and validates. The error names the file and every problem with its key
// path.
func Load(path string, o Options) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("config file %s does not exist", path)
		}
		return nil, fmt.Errorf("config file %s cannot be read: %w", path, err)
	}
	cfg, err := Parse(data, o)
	if err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	return cfg, nil
}

// Parse is Load for bytes already read.
func Parse(data []byte, o Options) (*Config, error) {
	cfg := &Config{}
	if err := decodeStrict(data, cfg); err != nil {
		return nil, err
	}
	cfg.Dev = o.Dev
	if err := applyEnv(cfg, o.Environ); err != nil {
		return nil, err
	}
	cfg.applyDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

var yamlPos = regexp.MustCompile(`^\[(\d+):(\d+)\]\s*`)

// decodeStrict decodes YAML refusing unknown keys, and turns the decoder's
// message into one line naming the key path.
func decodeStrict(data []byte, out any) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return errors.New("the file is empty")
	}
	dec := yaml.NewDecoder(bytes.NewReader(data), yaml.DisallowUnknownField())
	if err := dec.Decode(out); err != nil {
		msg := yaml.FormatError(err, false, false)
		first := strings.SplitN(strings.TrimSpace(msg), "\n", 2)[0]
		path := ""
		if m := yamlPos.FindStringSubmatch(first); m != nil {
			first = fmt.Sprintf("line %s: %s", m[1], strings.TrimSpace(yamlPos.ReplaceAllString(first, "")))
			path = keyPathAt(data, atoi(m[1]))
		}
		if path != "" {
			return fmt.Errorf("%s (at %s)", first, path)
		}
		return errors.New(first)
	}
	return nil
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

// keyPathAt reconstructs the dotted key path of the key on a 1-based line from
// indentation, so "unknown field" errors say where, e.g.
// "sessions.redis.adress".
func keyPathAt(data []byte, line int) string {
	lines := strings.Split(string(data), "\n")
	if line < 1 || line > len(lines) {
		return ""
	}
	type frame struct {
		indent int
		key    string
	}
	var stack []frame
	for i := 0; i < line; i++ {
		l := lines[i]
		trimmed := strings.TrimLeft(l, " ")
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		indent := len(l) - len(trimmed)
		item := false
		if strings.HasPrefix(trimmed, "- ") {
			item = true
			trimmed = strings.TrimPrefix(trimmed, "- ")
			indent += 2
		}
		key, _, ok := strings.Cut(trimmed, ":")
		if !ok {
			continue
		}
		for len(stack) > 0 && stack[len(stack)-1].indent >= indent {
			stack = stack[:len(stack)-1]
		}
		if item && len(stack) > 0 {
			stack[len(stack)-1].key = strings.TrimSuffix(stack[len(stack)-1].key, "[]") + "[]"
		}
		stack = append(stack, frame{indent, strings.TrimSpace(key)})
	}
	parts := make([]string, len(stack))
	for i, f := range stack {
		parts[i] = f.key
	}
	return strings.Join(parts, ".")
}

// applyEnv overrides fields from CIVICGATE_* variables. A variable that names
// no field is an error, so a typo does not pass silently.
func applyEnv(cfg *Config, environ []string) error {
	vars := map[string]string{}
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if ok && strings.HasPrefix(k, EnvPrefix) {
			vars[k] = v
		}
	}
	if len(vars) == 0 {
		return nil
	}
	used := map[string]bool{}
	var errs []error
	walkEnv(reflect.ValueOf(cfg).Elem(), strings.TrimSuffix(EnvPrefix, "_"), "", vars, used, &errs)
	for k := range vars {
		if !used[k] && k != "CIVICGATE_CONFIG" && k != "CIVICGATE_NO_REDIS" && k != "CIVICGATE_NO_POSTGRES" && k != "CIVICGATE_CHROMIUM" && !kubernetesLink(k) {
			errs = append(errs, fmt.Errorf("environment variable %s names no configuration key", k))
		}
	}
	return errors.Join(errs...)
}

// kubernetesLink reports whether name is one of the variables Kubernetes
// injects for a Service called "civicgate" (CIVICGATE_SERVICE_HOST,
// CIVICGATE_PORT_8080_TCP, …); no configuration key is named so.
func kubernetesLink(name string) bool {
	rest := strings.TrimPrefix(name, EnvPrefix)
	return rest == "PORT" || strings.HasPrefix(rest, "PORT_") || strings.HasPrefix(rest, "SERVICE_")
}

var durationType = reflect.TypeOf(time.Duration(0))

func walkEnv(v reflect.Value, envName, keyPath string, vars map[string]string, used map[string]bool, errs *[]error) {
	switch v.Kind() {
	case reflect.Struct:
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
			if tag == "" || tag == "-" || !f.IsExported() {
				continue
			}
			walkEnv(v.Field(i), envName+"_"+strings.ToUpper(tag), joinPath(keyPath, tag), vars, used, errs)
		}
		return
	case reflect.Pointer:
		if v.Type().Elem().Kind() != reflect.Struct {
			break
		}
		// Only create a nested section when a variable targets it.
		prefix := envName + "_"
		for k := range vars {
			if strings.HasPrefix(k, prefix) {
				if v.IsNil() {
					v.Set(reflect.New(v.Type().Elem()))
				}
				walkEnv(v.Elem(), envName, keyPath, vars, used, errs)
				return
			}
		}
		return
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Struct {
			for i := 0; i < v.Len(); i++ {
				walkEnv(v.Index(i), envName+"_"+strconv.Itoa(i), fmt.Sprintf("%s[%d]", keyPath, i), vars, used, errs)
			}
			return
		}
	}
	raw, ok := vars[envName]
	if !ok {
		return
	}
	used[envName] = true
	if err := setScalar(v, raw); err != nil {
		*errs = append(*errs, fmt.Errorf("%s (from %s): %v", keyPath, envName, err))
	}
}

func setScalar(v reflect.Value, raw string) error {
	if v.Type() == durationType {
		d, err := time.ParseDuration(raw)
		if err != nil {
			return fmt.Errorf("not a duration like 15m or 8h: %q", raw)
		}
		v.SetInt(int64(d))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(raw)
	case reflect.Bool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return fmt.Errorf("not true or false: %q", raw)
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64, reflect.Int32:
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			return fmt.Errorf("not a whole number: %q", raw)
		}
		v.SetInt(n)
	case reflect.Slice:
		if v.Type().Elem().Kind() != reflect.String {
			return errors.New("cannot be set from the environment")
		}
		var items []string
		for _, s := range strings.Split(raw, ",") {
			if s = strings.TrimSpace(s); s != "" {
				items = append(items, s)
			}
		}
		v.Set(reflect.ValueOf(items))
	default:
		return errors.New("cannot be set from the environment")
	}
	return nil
}

func joinPath(a, b string) string {
	if a == "" {
		return b
	}
	return a + "." + b
}

// Defaults used when a field is zero.
const (
	DefaultListen          = ":8080"
	DefaultAdminListen     = "127.0.0.1:9090"
	DefaultIdleTimeout     = 15 * time.Minute
	DefaultAbsoluteTimeout = 8 * time.Hour
	DefaultWarnBefore      = 2 * time.Minute
	DefaultMaxBodyBytes    = 1 << 20
	DefaultHSTSMaxAge      = 365 * 24 * time.Hour
	DefaultShutdownTimeout = 30 * time.Second
)

func (c *Config) applyDefaults() {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&c.Listen, DefaultListen)
	def(&c.AdminListen, DefaultAdminListen)
	def(&c.DataDir, "./data")
	def(&c.Municipality.NameSv, "Kommunen")
	def(&c.Municipality.NameEn, "The Municipality")
	def(&c.Sessions.Store, "redis")
	def(&c.Log.Level, "info")
	def(&c.Log.Format, "json")
	if c.Database.DSN == "" && c.Database.DSNFile == "" {
		c.Database.DSN = "file:" + filepath.ToSlash(filepath.Join(c.DataDir, "civicgate.db"))
	}
	if c.Sessions.IdleTimeout == 0 {
		c.Sessions.IdleTimeout = DefaultIdleTimeout
	}
	if c.Sessions.AbsoluteTimeout == 0 {
		c.Sessions.AbsoluteTimeout = DefaultAbsoluteTimeout
	}
	if c.Sessions.WarnBefore == 0 {
		c.Sessions.WarnBefore = DefaultWarnBefore
	}
	if c.Security.MaxBodyBytes == 0 {
		c.Security.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.Security.HSTSMaxAge == 0 {
		c.Security.HSTSMaxAge = DefaultHSTSMaxAge
	}
	rl := &c.Security.RateLimits
	if rl.LoginStart == 0 {
		rl.LoginStart = 20
	}
	if rl.Callback == 0 {
		rl.Callback = 30
	}
	if rl.Lookup == 0 {
		rl.Lookup = 30
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	base := strings.TrimSuffix(c.PublicURL, "/")
	for i := range c.IdentityProviders {
		p := &c.IdentityProviders[i]
		if p.SAML != nil {
			// Our SP's URLs follow from the public URL; the organisation
			// and UI texts from the municipality, unless set.
			sc := p.SAML
			def(&sc.EntityID, base+"/saml/"+p.Name+"/metadata")
			def(&sc.MetadataURL, base+"/saml/"+p.Name+"/metadata")
			def(&sc.ACSURL, base+"/saml/"+p.Name+"/acs")
			// slo_url stays opt-in: set it to base+"/saml/<name>/slo" for IdPs
			// that offer single logout.
			def(&sc.Organization.Name.Sv, c.Municipality.NameSv)
			def(&sc.Organization.Name.En, c.Municipality.NameEn)
			def(&sc.Organization.DisplayName.Sv, c.Municipality.NameSv)
			def(&sc.Organization.DisplayName.En, c.Municipality.NameEn)
			def(&sc.Organization.URL.Sv, base)
			def(&sc.Organization.URL.En, base)
			def(&sc.UIInfo.DisplayName.Sv, c.Municipality.NameSv+" e-tjänster")
			def(&sc.UIInfo.DisplayName.En, c.Municipality.NameEn+" e-services")
			def(&sc.UIInfo.Description.Sv, "Kommunens e-tjänster för invånare")
			def(&sc.UIInfo.Description.En, "The municipality's e-services for residents")
		}
		if p.OIDC != nil {
			def(&p.OIDC.RedirectURL, base+"/login/"+p.Name+"/callback")
		}
		if p.Protocol == "test" {
			if p.Test == nil {
				p.Test = &TestProvider{}
			}
			def(&p.Test.Protocol, "oidc")
			def(&p.Test.Kind, "citizen")
		}
	}
}

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)

// Validate reports every problem at once, each starting with its key path.
func (c *Config) Validate() error {
	var errs []error
	add := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
	}
	sub := func(path string, err error) {
		for _, e := range flatten(err) {
			errs = append(errs, fmt.Errorf("%s.%v", path, e))
		}
	}

	if c.PublicURL == "" {
		add("public_url", "required (the address citizens use, e.g. https://e-tjanster.example.se)")
	} else if u, err := url.Parse(c.PublicURL); err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		add("public_url", "must be an absolute http(s) URL, got %q", c.PublicURL)
	} else {
		if u.Path != "" && u.Path != "/" {
			add("public_url", "must not have a path (the gateway owns the whole origin)")
		}
		if u.Scheme == "http" && !(c.Dev && isLocalhost(u.Hostname())) {
			add("public_url", "must be https (plain http only for localhost in dev mode)")
		}
	}
	for _, l := range []struct{ path, addr string }{{"listen", c.Listen}, {"admin_listen", c.AdminListen}} {
		if l.addr == "off" && l.path == "admin_listen" {
			continue
		}
		if _, _, err := net.SplitHostPort(l.addr); err != nil {
			add(l.path, "must be host:port, got %q", l.addr)
		}
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		add("tls", "cert_file and key_file must be given together")
	}
	for _, f := range []struct{ path, file string }{{"tls.cert_file", c.TLS.CertFile}, {"tls.key_file", c.TLS.KeyFile}, {"audit.hmac_key_file", c.Audit.HMACKeyFile}, {"database.dsn_file", c.Database.DSNFile}} {
		if f.file != "" {
			if _, err := os.Stat(f.file); err != nil {
				add(f.path, "file %s cannot be read", f.file)
			}
		}
	}
	if c.Database.DSN != "" && !strings.HasPrefix(c.Database.DSN, "postgres://") && !strings.HasPrefix(c.Database.DSN, "postgresql://") && !strings.HasPrefix(c.Database.DSN, "file:") {
		add("database.dsn", "must start with postgres:// or file: (SQLite)")
	}
	switch c.Sessions.Store {
	case "redis":
		sub("sessions.redis", c.Sessions.Redis.Validate())
	case "memory":
		if !c.Dev {
			add("sessions.store", "memory sessions are only for civicgate dev (they vanish on restart and are not shared between replicas); use redis")
		}
	default:
		add("sessions.store", "must be redis or memory, got %q", c.Sessions.Store)
	}
	if c.Sessions.IdleTimeout < time.Minute {
		add("sessions.idle_timeout", "must be at least 1m")
	}
	if c.Sessions.AbsoluteTimeout < c.Sessions.IdleTimeout {
		add("sessions.absolute_timeout", "must not be shorter than idle_timeout")
	}
	if c.Sessions.WarnBefore >= c.Sessions.IdleTimeout {
		add("sessions.warn_before", "must be shorter than idle_timeout")
	}
	if !c.Dev && c.Audit.HMACKeyFile == "" {
		add("audit.hmac_key_file", "required: a file with at least 32 random bytes (e.g. head -c 32 /dev/urandom > audit.key)")
	}
	if c.Security.InsecureCookies && !c.Dev {
		add("security.insecure_cookies", "only allowed in dev mode")
	}
	for i, cidr := range c.Security.TrustedProxies {
		if _, _, err := net.ParseCIDR(cidr); err != nil {
			add(fmt.Sprintf("security.trusted_proxies[%d]", i), "not a CIDR like 10.0.0.0/8: %q", cidr)
		}
	}
	if c.Security.MaxBodyBytes < 4096 {
		add("security.max_body_bytes", "must be at least 4096")
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		add("log.level", "must be debug, info, warn or error, got %q", c.Log.Level)
	}
	switch c.Log.Format {
	case "json", "text":
	default:
		add("log.format", "must be json or text, got %q", c.Log.Format)
	}

	sub("cases", c.Cases.Validate())
	if c.Mail.Host == "" && !c.Dev {
		add("mail.host", "required: citizens get their confirmations by e-mail")
	} else if c.Mail.Host != "" {
		sub("mail", c.Mail.Validate())
	}
	if len(c.RemoteModules) > 0 && !c.Dev {
		sub("remote", c.Remote.Validate())
		if len(c.Remote.SigningKeyFiles) == 0 {
			add("remote.signing_key_files", "required with remote_modules")
		}
		if c.Remote.PseudonymKeyFile == "" {
			add("remote.pseudonym_key_file", "required with remote_modules")
		}
	}
	seenModule := map[string]bool{}
	for i, m := range c.RemoteModules {
		path := fmt.Sprintf("remote_modules[%d]", i)
		sub(path, m.Validate())
		if seenModule[m.ID] {
			add(path+".id", "duplicate module ID %q", m.ID)
		}
		seenModule[m.ID] = true
	}
	sub("population", c.Population.Validate())
	if c.Population.BuiltIn() && !c.Dev {
		add("population", "set population.file or population.http: the built-in test population is only for civicgate dev")
	}
	if len(c.IdentityProviders) == 0 {
		add("identity_providers", "at least one identity provider is required")
	}
	seen := map[string]bool{}
	for i, p := range c.IdentityProviders {
		path := fmt.Sprintf("identity_providers[%d]", i)
		if !nameRE.MatchString(p.Name) {
			add(path+".name", "must be lowercase letters, digits and dashes, starting with a letter, got %q", p.Name)
		} else if seen[p.Name] {
			add(path+".name", "duplicate provider name %q", p.Name)
		}
		seen[p.Name] = true
		switch p.Protocol {
		case "saml":
			if p.SAML == nil {
				add(path+".saml", "required for protocol saml")
			} else {
				sub(path+".saml", p.SAML.Validate())
			}
		case "oidc":
			if p.OIDC == nil {
				add(path+".oidc", "required for protocol oidc")
			} else {
				sub(path+".oidc", p.OIDC.Validate())
			}
		case "test":
			if !c.TestIdP.Enabled {
				add(path+".protocol", "protocol test needs test_idp.enabled: true")
			}
			if p.Test != nil {
				if p.Test.Protocol != "oidc" && p.Test.Protocol != "saml" {
					add(path+".test.protocol", "must be oidc or saml")
				}
				if p.Test.Kind != "citizen" && p.Test.Kind != "staff" {
					add(path+".test.kind", "must be citizen or staff")
				}
			}
		default:
			add(path+".protocol", "must be saml, oidc or test, got %q", p.Protocol)
		}
		if p.Protocol != "saml" && p.SAML != nil {
			add(path+".saml", "only for protocol saml")
		}
		if p.Protocol != "oidc" && p.OIDC != nil {
			add(path+".oidc", "only for protocol oidc")
		}
	}
	return errors.Join(errs...)
}

// CheckServe adds the checks that only `civicgate serve` makes: the test
// provider must be allowed explicitly.
func (c *Config) CheckServe() error {
	if c.TestIdP.Enabled && !c.TestIdP.AllowInServe {
		return errors.New("test_idp.enabled: the built-in TEST e-ID provider lets anyone log in as anyone; " +
			"civicgate serve refuses it unless test_idp.allow_in_serve is also true (use civicgate dev for development)")
	}
	return nil
}

func flatten(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

func isLocalhost(h string) bool {
	return h == "localhost" || h == "127.0.0.1" || h == "::1"
}
