package main

import (
	"bytes"
	"context"
	"database/sql"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/civicgate/civicgate/configs"
)

func runCLI(args ...string) (string, string, error) {
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err := run(ctx, args, &out, &errb)
	return out.String(), errb.String(), err
}

func TestVersionAndUsage(t *testing.T) {
	out, _, err := runCLI("version")
	if err != nil || !strings.HasPrefix(out, "civicgate ") {
		t.Errorf("version: %q %v", out, err)
	}
	if _, _, err := runCLI("frobnicate"); err == nil || !strings.Contains(err.Error(), `unknown command "frobnicate"`) {
		t.Errorf("unknown command: %v", err)
	}
	if _, _, err := runCLI("serve"); err == nil || !strings.Contains(err.Error(), "--config") {
		t.Errorf("serve without config: %v", err)
	}
}

func TestConfigCheck(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	_ = os.WriteFile(bad, []byte("public_url: https://e.example.se\nlisten: [\n"), 0o600)
	_, _, err := runCLI("config", "check", bad)
	if err == nil || !strings.Contains(err.Error(), "bad.yaml") {
		t.Errorf("broken YAML: %v", err)
	}
	_, _, err = runCLI("config", "check", filepath.Join(dir, "nope.yaml"))
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing file: %v", err)
	}
	dev := filepath.Join(dir, "dev.yaml")
	_ = os.WriteFile(dev, configs.Dev, 0o600)
	_, _, err = runCLI("config", "check", dev)
	if err == nil || !strings.Contains(err.Error(), "sessions.store") || strings.Count(err.Error(), "\n") < 3 {
		t.Errorf("the dev config checked for production should list several problems: %v", err)
	}
}

func TestDevPortInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, _, err = runCLI("dev", "--listen", l.Addr().String(), "--admin", "off", "--data", t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "is already in use") || strings.Contains(err.Error(), "goroutine") {
		t.Fatalf("port in use: %v", err)
	}
}

func TestServeRefusesUnreachableDatabase(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "audit.key")
	_ = os.WriteFile(key, bytes.Repeat([]byte("k"), 32), 0o600)
	cfg := filepath.Join(dir, "c.yaml")
	_ = os.WriteFile(cfg, []byte(`public_url: https://e.example.se
listen: 127.0.0.1:0
admin_listen: "off"
database:
  dsn: postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=2
sessions:
  store: redis
  redis:
    addrs: [127.0.0.1:6379]
audit:
  hmac_key_file: `+key+`
mail:
  host: 127.0.0.1
  port: 2525
  from: noreply@example.se
  tls: none
population:
  file: `+filepath.Join("..", "..", "configs", "population.yaml")+`
identity_providers:
  - name: freja
    protocol: oidc
    oidc:
      issuer: https://op.example.se
      client_id: x
      client_secret_file: `+key+`
`), 0o600)
	_, _, err := runCLI("serve", "--config", cfg)
	if err == nil || !strings.HasPrefix(err.Error(), "database: ") || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("unreachable database: %v", err)
	}
	if strings.Count(strings.TrimSpace(err.Error()), "\n") > 0 {
		t.Errorf("want one sentence, got %q", err)
	}
}

// TestAuditVerifyCatchesTampering runs civicgate dev, logs in (which writes
// audit entries), then edits the SQLite file behind the gateway's back:
// `civicgate audit verify` must say where the chain is broken.
func TestAuditVerifyCatchesTampering(t *testing.T) {
	g := startDev(t)
	dataDir := g.dataDir
	// Two refused logins write audit entries.
	for i := 0; i < 2; i++ {
		resp, err := http.Get(g.URL + "/login/test-oidc/callback?state=x&code=y")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("callback without a flow: %d", resp.StatusCode)
		}
	}
	out, _, err := runCLI("audit", "verify", "--data", dataDir)
	if err != nil || !strings.Contains(out, "intact") {
		t.Fatalf("untouched log: %q %v", out, err)
	}
	db, err := sql.Open("sqlite", filepath.Join(dataDir, "civicgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE audit_log SET outcome = 'success' WHERE seq = (SELECT MIN(seq) FROM audit_log)`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE audit_log SET action = 'nothing.happened' WHERE seq = (SELECT MIN(seq) FROM audit_log)`); err != nil {
		t.Fatal(err)
	}
	out, _, err = runCLI("audit", "verify", "--data", dataDir)
	if err == nil || !strings.Contains(out, "1") {
		t.Fatalf("tampered log passed verification: %q %v", out, err)
	}
}
