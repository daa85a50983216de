package config

import (
	"time"

	"github.com/civicgate/civicgate/auth/oidc"
	"github.com/civicgate/civicgate/auth/saml"
	redisstore "github.com/civicgate/civicgate/auth/session/redis"
	"github.com/civicgate/civicgate/eservices/cases"
	"github.com/civicgate/civicgate/eservices/cases/mail"
	"github.com/civicgate/civicgate/eservices/population"
	"github.com/civicgate/civicgate/gateway/remote"
)

// Config is the whole configuration file.
type Config struct {
	// PublicURL is the address citizens use, for example
	// "https://e-tjanster.example.se". Required. Every callback, ACS and
	// metadata URL is derived from it; it must be https except for
	// http://localhost in dev mode.
	PublicURL string `yaml:"public_url"`
	// Listen is the address of the public listener. Default ":8080".
	Listen string `yaml:"listen"`
	// AdminListen is the address of the operations listener (Prometheus
	// metrics, health). Keep it off the internet. Default "127.0.0.1:9090";
	// "off" disables it.
	AdminListen string `yaml:"admin_listen"`
	// TLS makes the public listener serve HTTPS itself. Usually TLS ends at
	// the load balancer and this stays empty.
	TLS TLS `yaml:"tls"`
	// DataDir holds the SQLite database, generated dev keys and attachments
	// when nothing else is configured. Default "./data".
	DataDir string `yaml:"data_dir"`
	// Municipality names the organisation on every page.
	Municipality Municipality `yaml:"municipality"`
	// Database stores cases, the outbox and the audit log.
	Database Database `yaml:"database"`
	// Sessions configures logged-in sessions.
	Sessions Sessions `yaml:"sessions"`
	// Audit configures the tamper-evident audit log.
	Audit Audit `yaml:"audit"`
	// Security holds cookie, header and rate-limit settings.
	Security Security `yaml:"security"`
	// IdentityProviders are the e-ID (and workforce) providers people log in
	// with. At least one is required.
	IdentityProviders []IdentityProvider `yaml:"identity_providers"`
	// TestIdP is the built-in TEST e-ID provider. Never enable it in
	// production: anyone can log in as anyone.
	TestIdP TestIdP `yaml:"test_idp"`
	// Log configures structured logging.
	Log Log `yaml:"log"`
	// Cases configures case attachments and confirmation mail.
	Cases cases.Config `yaml:"cases"`
	// Population is the population register: a file (dev, tests) or the
	// municipality's register service over HTTP. Empty means the built-in
	// test population, allowed only in dev mode.
	Population population.Config `yaml:"population"`
	// Modules chooses which bundled e-service modules run.
	Modules Modules `yaml:"modules"`
	// Mail is the SMTP server confirmation mails go through. Required
	// outside dev mode; civicgate dev keeps mails in a dev mailbox at
	// /dev/mailbox instead.
	Mail mail.Config `yaml:"mail"`
	// Remote holds the keys for the identity assertions sent to remote
	// modules. Required when remote_modules is set (dev mode generates
	// them).
	Remote remote.Config `yaml:"remote"`
	// RemoteModules are e-services run as separate services behind the
	// gateway: each is served at /e/<id>/ and receives a signed identity
	// assertion.
	RemoteModules []remote.ModuleConfig `yaml:"remote_modules"`
	// ShutdownTimeout is how long a graceful shutdown waits for requests in
	// flight. Default 30s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// Dev is set by `civicgate dev` only; it cannot be set in a file.
	Dev bool `yaml:"-"`
}

// TLS is a certificate for the public listener.
type TLS struct {
	// CertFile is a PEM certificate chain.
	CertFile string `yaml:"cert_file"`
	// KeyFile is the PEM private key.
	KeyFile string `yaml:"key_file"`
}

// Municipality is the organisation running the gateway.
type Municipality struct {
	// NameSv is the name in Swedish. Default "Kommunen".
	NameSv string `yaml:"name_sv"`
	// NameEn is the name in English. Default "The Municipality".
	NameEn string `yaml:"name_en"`
	// ContactURL is where citizens get help. Optional.
	ContactURL string `yaml:"contact_url"`
}

// Database is where cases and the audit log live.
type Database struct {
	// DSN is "postgres://user@host/db?sslmode=verify-full" for PostgreSQL, or
	// "file:PATH" for SQLite. Default "file:<data_dir>/civicgate.db".
	DSN string `yaml:"dsn"`
	// DSNFile reads the DSN from a file (to keep a password out of the
	// config). Overrides DSN.
	DSNFile string `yaml:"dsn_file"`
}

// Sessions configures logged-in sessions.
type Sessions struct {
	// Store is "redis" (default, required for several replicas) or "memory"
	// (only allowed in dev mode: sessions vanish on restart).
	Store string `yaml:"store"`
	// IdleTimeout ends a session after this long without a request.
	// Default 15m.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// AbsoluteTimeout ends a session this long after login, whatever
	// happens. The IdP's SessionNotOnOrAfter may shorten it. Default 8h.
	AbsoluteTimeout time.Duration `yaml:"absolute_timeout"`
	// WarnBefore is how long before the idle timeout a person filling in a
	// form is warned. Default 2m.
	WarnBefore time.Duration `yaml:"warn_before"`
	// Redis is the session server (single, Sentinel or Cluster).
	Redis redisstore.Config `yaml:"redis"`
}

// Audit configures the audit log.
type Audit struct {
	// HMACKeyFile holds the secret (at least 32 bytes) that pseudonymises
	// personal identity numbers in the audit log. Required outside dev mode;
	// dev mode generates one in the data directory. Losing it makes
	// citizens' own audit entries unfindable; leaking it makes them
	// re-identifiable.
	HMACKeyFile string `yaml:"hmac_key_file"`
}

// Security holds web security settings.
type Security struct {
	// InsecureCookies drops the Secure flag and the __Host- prefix so
	// cookies work on plain-HTTP localhost. Allowed only in dev mode.
	InsecureCookies bool `yaml:"insecure_cookies"`
	// TrustedProxies are CIDRs of load balancers whose X-Forwarded-For is
	// believed when finding the client's address for rate limits and logs.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// MaxBodyBytes limits request bodies outside attachment uploads.
	// Default 1 MiB.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// HSTSMaxAge is the Strict-Transport-Security max-age. Default one year;
	// not sent in dev mode.
	HSTSMaxAge time.Duration `yaml:"hsts_max_age"`
	// RateLimits are shared by every replica (Redis).
	RateLimits RateLimits `yaml:"rate_limits"`
}

// RateLimits are per client address (or per staff member for lookups) per
// minute.
type RateLimits struct {
	// LoginStart limits starting logins. Default 20.
	LoginStart int `yaml:"login_start"`
	// Callback limits ACS posts and OIDC callbacks. Default 30.
	Callback int `yaml:"callback"`
	// Lookup limits lookups by personnummer. Default 30.
	Lookup int `yaml:"lookup"`
}

// IdentityProvider is one configured e-ID or workforce provider.
type IdentityProvider struct {
	// Name is the provider's key in URLs and logs: lowercase letters, digits
	// and dashes, for example "bankid" or "freja".
	Name string `yaml:"name"`
	// Protocol is "saml", "oidc" or "test" (the built-in test provider, over
	// OIDC; needs test_idp.enabled).
	Protocol string `yaml:"protocol"`
	// SAML configures a Sweden Connect style SAML IdP (protocol saml).
	SAML *saml.Config `yaml:"saml"`
	// OIDC configures an OpenID Provider (protocol oidc).
	OIDC *oidc.Config `yaml:"oidc"`
	// Test configures how the built-in test provider is offered
	// (protocol test).
	Test *TestProvider `yaml:"test"`
}

// TestProvider shows the built-in test provider on the chooser.
type TestProvider struct {
	// Protocol is "oidc" (default) or "saml": which of the test provider's
	// faces the gateway logs in through.
	Protocol string `yaml:"protocol"`
	// Kind is "citizen" (default) or "staff".
	Kind string `yaml:"kind"`
}

// TestIdP is the built-in test e-ID provider.
type TestIdP struct {
	// Enabled mounts the test provider at /devidp/. Default false.
	Enabled bool `yaml:"enabled"`
	// AllowInServe must also be true for `civicgate serve` to start with the
	// test provider: it lets anyone log in as any test person, so it belongs
	// only in test environments. `civicgate dev` does not need it.
	AllowInServe bool `yaml:"allow_in_serve"`
}

// Modules chooses the bundled e-service modules.
type Modules struct {
	// Disabled lists module IDs not to serve. Default: every bundled module
	// runs.
	Disabled []string `yaml:"disabled"`
}

// Log configures logging.
type Log struct {
	// Level is debug, info (default), warn or error.
	Level string `yaml:"level"`
	// Format is json (default) or text.
	Format string `yaml:"format"`
}
