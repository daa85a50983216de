package redisstore_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/redis/go-redis/v9"

	redisstore "github.com/civicgate/civicgate/auth/session/redis"
)

func TestConfigYAML(t *testing.T) {
	src := `
addrs: [redis-0:26379, redis-1:26379]
master_name: sessions
username: civicgate
password_file: /run/secrets/redis
db: 2
tls: true
dial_timeout: 3s
read_timeout: 500ms
pool_size: 20
key_prefix: "kommun:"
local_cache: false
local_cache_entries: 500
`
	var c redisstore.Config
	if err := yaml.UnmarshalWithOptions([]byte(src), &c, yaml.Strict()); err != nil {
		t.Fatal(err)
	}
	want := redisstore.Config{
		Addrs: []string{"redis-0:26379", "redis-1:26379"}, MasterName: "sessions", Username: "civicgate",
		PasswordFile: "/run/secrets/redis", DB: 2, TLS: true, DialTimeout: 3 * time.Second,
		ReadTimeout: 500 * time.Millisecond, PoolSize: 20, KeyPrefix: "kommun:",
	}
	if c.MasterName != want.MasterName || c.DB != want.DB || !c.TLS || c.DialTimeout != want.DialTimeout ||
		c.ReadTimeout != want.ReadTimeout || c.PoolSize != want.PoolSize || c.KeyPrefix != want.KeyPrefix ||
		c.Username != want.Username || c.PasswordFile != want.PasswordFile || len(c.Addrs) != 2 || c.Addrs[1] != want.Addrs[1] {
		t.Errorf("decoded %+v, want %+v", c, want)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate of a Sentinel config with db 2: %v", err)
	}
	if c.LocalCache == nil || *c.LocalCache || c.LocalCacheEntries != 500 {
		t.Errorf("local_cache decoded as %v, %d", c.LocalCache, c.LocalCacheEntries)
	}
	if o := c.StoreOptions(); o.LocalCache != 0 || o.Prefix != "kommun:" {
		t.Errorf("local_cache: false gives options %+v, want no cache", o)
	}
	on := true
	for _, tc := range []struct {
		c    redisstore.Config
		want int
	}{
		{redisstore.Config{}, redisstore.DefaultLocalCacheEntries},
		{redisstore.Config{LocalCache: &on}, redisstore.DefaultLocalCacheEntries},
		{redisstore.Config{LocalCacheEntries: 7}, 7},
	} {
		if got := tc.c.StoreOptions().LocalCache; got != tc.want {
			t.Errorf("StoreOptions of %+v: LocalCache %d, want %d", tc.c, got, tc.want)
		}
	}
	if err := (redisstore.Config{LocalCacheEntries: -1}).Validate(); err == nil || !strings.Contains(err.Error(), "local_cache_entries") {
		t.Errorf("negative local_cache_entries: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (redisstore.Config{}).Validate(); err != nil {
		t.Errorf("zero Config: %v, want valid (all defaults)", err)
	}
	bad := redisstore.Config{
		Addrs:       []string{"redis-0:6379", "no-port", "redis-2:99999"},
		DB:          3, // Cluster, because of several addrs
		DialTimeout: -time.Second,
		ReadTimeout: -time.Second,
		PoolSize:    -1,
		KeyPrefix:   "{cg}:",
	}
	err := bad.Validate()
	if err == nil {
		t.Fatal("Validate accepted a bad config")
	}
	lines := strings.Split(err.Error(), "\n")
	for _, prefix := range []string{"addrs[1]: ", "addrs[2]: ", "db: ", "dial_timeout: ", "read_timeout: ", "pool_size: ", "key_prefix: "} {
		found := false
		for _, l := range lines {
			found = found || strings.HasPrefix(l, prefix)
		}
		if !found {
			t.Errorf("Validate did not report %q; got:\n%v", prefix, err)
		}
	}
	if len(lines) != 7 {
		t.Errorf("Validate reported %d problems, want 7:\n%v", len(lines), err)
	}
	if err := (redisstore.Config{MasterName: "m", Cluster: true}).Validate(); err == nil || !strings.HasPrefix(err.Error(), "master_name: ") {
		t.Errorf("Sentinel with cluster: true: %v, want a master_name error", err)
	}
	if err := (redisstore.Config{Cluster: true, DB: 1}).Validate(); err == nil || !strings.HasPrefix(err.Error(), "db: ") {
		t.Errorf("cluster: true with db 1: %v, want a db error", err)
	}
}

func TestNewClientPasswordFile(t *testing.T) {
	dir := t.TempDir()
	if _, err := redisstore.NewClient(redisstore.Config{PasswordFile: filepath.Join(dir, "missing")}); err == nil || !strings.Contains(err.Error(), "password_file") {
		t.Errorf("missing password file: %v, want a password_file error", err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := redisstore.NewClient(redisstore.Config{PasswordFile: empty}); err == nil || !strings.Contains(err.Error(), "password_file") {
		t.Errorf("empty password file: %v, want a password_file error", err)
	}
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, []byte("s3cret-value\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := redisstore.NewClient(redisstore.Config{PasswordFile: secret})
	if err != nil {
		t.Fatalf("NewClient with a password file: %v", err)
	}
	defer c.Close()
	single, ok := c.(*redis.Client)
	if !ok {
		t.Fatalf("NewClient with one address returned %T, want *redis.Client", c)
	}
	if got := single.Options().Password; got != "s3cret-value" {
		t.Errorf("password read from the file = %q, want it without the trailing newline", got)
	}
	if _, err := redisstore.NewClient(redisstore.Config{DB: -1}); err == nil || !strings.Contains(err.Error(), "db: ") {
		t.Errorf("NewClient with an invalid config: %v, want the validation error", err)
	}
}

func TestNewClientMode(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     redisstore.Config
		cluster bool
	}{
		{"single", redisstore.Config{Addrs: []string{"127.0.0.1:6379"}}, false},
		{"sentinel", redisstore.Config{Addrs: []string{"127.0.0.1:26379", "127.0.0.2:26379"}, MasterName: "m"}, false},
		{"cluster by addrs", redisstore.Config{Addrs: []string{"127.0.0.1:7000", "127.0.0.1:7001"}}, true},
		{"cluster by flag", redisstore.Config{Addrs: []string{"127.0.0.1:7000"}, Cluster: true}, true},
	} {
		c, err := redisstore.NewClient(tc.cfg)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		_, isCluster := c.(*redis.ClusterClient)
		if isCluster != tc.cluster {
			t.Errorf("%s: got %T", tc.name, c)
		}
		c.Close()
	}
}
