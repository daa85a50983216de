package population

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/civicgate/civicgate/configs"
)

func TestConfig(t *testing.T) {
	var zero Config
	if err := zero.Validate(); err != nil || !zero.BuiltIn() {
		t.Fatalf("zero config: %v, built-in %v", err, zero.BuiltIn())
	}
	reg, err := Open(zero)
	if err != nil || reg != Register(Default()) {
		t.Fatalf("Open(zero) = %T, %v", reg, err)
	}

	bad := Config{File: "pop.yaml", HTTP: HTTPConfig{URL: "http://register.example", Timeout: -1}}
	err = bad.Validate()
	if err == nil {
		t.Fatal("accepted")
	}
	for _, w := range []string{"file: cannot be combined with http", "http.url: must use https", "http.timeout: must not be negative"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q misses %q", err, w)
		}
	}
	if _, err := Open(bad); err == nil {
		t.Error("Open accepted an invalid config")
	}
	if (Config{HTTP: HTTPConfig{Timeout: 1}}).Validate() == nil {
		t.Error("http without url accepted")
	}

	path := filepath.Join(t.TempDir(), "population.yaml")
	if err := os.WriteFile(path, configs.Population, 0o600); err != nil {
		t.Fatal(err)
	}
	reg, err = Open(Config{File: path})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := reg.(*File); !ok || reg == Register(Default()) {
		t.Errorf("Open(file) = %T", reg)
	}

	up := newUpstream(t, Default())
	reg, err = Open(Config{HTTP: HTTPConfig{URL: up.srv.URL + "/api"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Person(context.Background(), tolvan); err != nil {
		t.Errorf("http register: %v", err)
	}
}
