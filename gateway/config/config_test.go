package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/civicgate/civicgate/configs"
	"github.com/civicgate/civicgate/gateway/config"
)

func TestDevConfigIsValid(t *testing.T) {
	cfg, err := config.Parse(configs.Dev, config.Options{Dev: true})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Sessions.IdleTimeout.Minutes() != 15 || cfg.Sessions.AbsoluteTimeout.Hours() != 8 {
		t.Errorf("session defaults: %v %v", cfg.Sessions.IdleTimeout, cfg.Sessions.AbsoluteTimeout)
	}
	if !cfg.TestIdP.Enabled || len(cfg.IdentityProviders) != 3 {
		t.Errorf("dev config providers: %+v", cfg.IdentityProviders)
	}
	// The dev configuration is refused outside dev mode, for reasons.
	_, err = config.Parse(configs.Dev, config.Options{})
	for _, want := range []string{"sessions.store: memory sessions are only for civicgate dev", "public_url: must be https", "security.insecure_cookies", "audit.hmac_key_file: required", "mail.host: required", "population: set population.file"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("outside dev mode the dev config should fail with %q, got %v", want, err)
		}
	}
}

// TestProductionExampleIsComplete decodes the example strictly: every key
// must be a real one. Its only problems may be the secret files that do not
// exist on this machine.
func TestProductionExampleIsComplete(t *testing.T) {
	_, err := config.Parse(configs.ProductionExample, config.Options{})
	if err == nil {
		return
	}
	var joined interface{ Unwrap() []error }
	errs := []error{err}
	if errors.As(err, &joined) {
		errs = joined.Unwrap()
	}
	for _, e := range errs {
		msg := e.Error()
		if !strings.Contains(msg, "cannot be read") && !strings.Contains(msg, "does not exist") && !strings.Contains(msg, "no such file") && !strings.Contains(msg, "password_file") && !strings.Contains(msg, "_file") {
			t.Errorf("production.example.yaml: %s", msg)
		}
	}
}

func TestUnknownKeyNamesItsPath(t *testing.T) {
	yaml := "public_url: https://e.example.se\nsessions:\n  store: redis\n  redis:\n    adress: [127.0.0.1:6379]\n"
	_, err := config.Parse([]byte(yaml), config.Options{})
	if err == nil || !strings.Contains(err.Error(), "sessions.redis.adress") || !strings.Contains(err.Error(), "line 5") {
		t.Fatalf("want the unknown key's path and line, got %v", err)
	}
}

func TestEveryProblemAtOnce(t *testing.T) {
	yaml := `public_url: ftp://x
listen: nonsense
sessions:
  store: floppy
  idle_timeout: 10s
log:
  level: loud
identity_providers:
  - name: Bad Name
    protocol: carrier-pigeon
`
	_, err := config.Parse([]byte(yaml), config.Options{Dev: true})
	if err == nil {
		t.Fatal("invalid config accepted")
	}
	for _, want := range []string{"public_url:", "listen:", "sessions.store:", "sessions.idle_timeout:", "log.level:", "identity_providers[0].name:", "identity_providers[0].protocol:"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
}

func TestEnvironmentOverrides(t *testing.T) {
	env := []string{
		"CIVICGATE_LISTEN=127.0.0.1:9999",
		"CIVICGATE_SESSIONS_IDLE_TIMEOUT=20m",
		"CIVICGATE_SECURITY_TRUSTED_PROXIES=10.0.0.0/8, 192.168.0.0/16",
		"CIVICGATE_IDENTITY_PROVIDERS_0_TEST_KIND=staff",
	}
	cfg, err := config.Parse(configs.Dev, config.Options{Dev: true, Environ: env})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:9999" || cfg.Sessions.IdleTimeout.Minutes() != 20 || len(cfg.Security.TrustedProxies) != 2 || cfg.IdentityProviders[0].Test.Kind != "staff" {
		t.Errorf("overrides not applied: %+v", cfg)
	}
	// Kubernetes' service-link variables for a Service named civicgate are
	// not configuration and must not stop the gateway.
	if _, err := config.Parse(configs.Dev, config.Options{Dev: true, Environ: []string{
		"CIVICGATE_SERVICE_HOST=10.0.0.1", "CIVICGATE_SERVICE_PORT=8080", "CIVICGATE_PORT=tcp://10.0.0.1:8080", "CIVICGATE_PORT_8080_TCP_ADDR=10.0.0.1",
	}}); err != nil {
		t.Errorf("Kubernetes link variables refused: %v", err)
	}
	_, err = config.Parse(configs.Dev, config.Options{Dev: true, Environ: []string{"CIVICGATE_SESIONS_IDLE_TIMEOUT=1m"}})
	if err == nil || !strings.Contains(err.Error(), "CIVICGATE_SESIONS_IDLE_TIMEOUT names no configuration key") {
		t.Errorf("a misspelt variable must be an error, got %v", err)
	}
	_, err = config.Parse(configs.Dev, config.Options{Dev: true, Environ: []string{"CIVICGATE_SESSIONS_IDLE_TIMEOUT=soon"}})
	if err == nil || !strings.Contains(err.Error(), "sessions.idle_timeout (from CIVICGATE_SESSIONS_IDLE_TIMEOUT)") {
		t.Errorf("a bad value must name the key, got %v", err)
	}
}

func TestLoadNamesTheFile(t *testing.T) {
	_, err := config.Load(filepath.Join(t.TempDir(), "missing.yaml"), config.Options{})
	if err == nil || !strings.Contains(err.Error(), "missing.yaml does not exist") {
		t.Errorf("missing file: %v", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	_ = os.WriteFile(bad, []byte("public_url: [unclosed\n"), 0o600)
	_, err = config.Load(bad, config.Options{})
	if err == nil || !strings.Contains(err.Error(), "bad.yaml") || strings.Contains(err.Error(), "goroutine") {
		t.Errorf("broken file: %v", err)
	}
}

func TestServeRefusesTheTestProvider(t *testing.T) {
	cfg, err := config.Parse(configs.Dev, config.Options{Dev: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.CheckServe(); err == nil || !strings.Contains(err.Error(), "allow_in_serve") {
		t.Errorf("serve must refuse the test provider and say why, got %v", err)
	}
	cfg.TestIdP.AllowInServe = true
	if err := cfg.CheckServe(); err != nil {
		t.Errorf("explicitly allowed: %v", err)
	}
}
