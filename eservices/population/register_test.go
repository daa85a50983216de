package population

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
)

// The test people (Skatteverket test personnummer, configs/population.yaml).
const (
	tolvan = "198107249289"
	elvan  = "195006262546"
	tian   = "201701102384" // child 1, joint custody of Tolvan and Elvan
	nian   = "200809032386" // child 2, protected, Tolvan's custody
	samuel = "197010632391" // samordningsnummer, no children
)

var allPNRs = []string{tolvan, elvan, tian, nian, samuel}

// testRules runs the register's rules on reg, which must serve the built-in
// test population. Every backend must pass it.
func testRules(t *testing.T, reg Register) {
	ctx := context.Background()

	t.Run("ChildrenOfGuardian", func(t *testing.T) {
		kids, err := reg.Children(ctx, tolvan)
		if err != nil {
			t.Fatal(err)
		}
		if got := pnrs(kids); !slices.Equal(got, []string{nian, tian}) {
			t.Fatalf("children = %v, want oldest first [nian tian]", got)
		}
		assertMinimised(t, kids[0], "Nian")
		k := kids[1]
		if k.GivenName != "Tian" || k.FamilyName != "Tolvansson" || k.Protected {
			t.Errorf("child 1 = %+v", k)
		}
		if k.School == nil || k.School.ID != "skola-1" || k.School.Name != "Exempelskolan" {
			t.Errorf("child 1 school = %+v", k.School)
		}
		if k.Address == nil || k.Address.City == "" {
			t.Errorf("child 1 address = %+v", k.Address)
		}
	})

	t.Run("JointCustodyOfOneChildOnly", func(t *testing.T) {
		kids, err := reg.Children(ctx, elvan)
		if err != nil {
			t.Fatal(err)
		}
		if got := pnrs(kids); !slices.Equal(got, []string{tian}) {
			t.Fatalf("Elvan's children = %v, want only child 1", got)
		}
	})

	t.Run("NoChildren", func(t *testing.T) {
		for _, p := range []string{samuel, tian} {
			kids, err := reg.Children(ctx, p)
			if err != nil || len(kids) != 0 {
				t.Errorf("children of %s = %v, %v; want none", mask(p), pnrs(kids), err)
			}
		}
	})

	t.Run("GuardiansOfChild", func(t *testing.T) {
		gs, err := reg.Guardians(ctx, tian)
		if err != nil {
			t.Fatal(err)
		}
		if got := pnrs(gs); !slices.Equal(got, []string{elvan, tolvan}) {
			t.Fatalf("guardians of child 1 = %v", got)
		}
		if gs[1].GivenName != "Tolvan" || gs[1].FamilyName != "Tolvansson" {
			t.Errorf("guardian = %+v", gs[1])
		}
		gs, err = reg.Guardians(ctx, nian)
		if err != nil {
			t.Fatal(err)
		}
		if got := pnrs(gs); !slices.Equal(got, []string{tolvan}) {
			t.Fatalf("guardians of protected child = %v", got)
		}
		gs, err = reg.Guardians(ctx, tolvan)
		if err != nil || len(gs) != 0 {
			t.Errorf("guardians of an adult = %v, %v", pnrs(gs), err)
		}
	})

	t.Run("ProtectedPersonMinimised", func(t *testing.T) {
		p, err := reg.Person(ctx, nian)
		if err != nil {
			t.Fatal(err)
		}
		assertMinimised(t, p, "Nian")
		if p.DisplayName() != "Nian" {
			t.Errorf("DisplayName = %q", p.DisplayName())
		}
	})

	t.Run("Person", func(t *testing.T) {
		p, err := reg.Person(ctx, samuel)
		if err != nil {
			t.Fatal(err)
		}
		if p.PersonalNumber != samuel || p.DisplayName() != "Samuel Samordnare" || p.Protected {
			t.Errorf("person = %+v", p)
		}
	})

	t.Run("ResultsAreCopies", func(t *testing.T) {
		p, err := reg.Person(ctx, tian)
		if err != nil {
			t.Fatal(err)
		}
		p.Address.City = "changed"
		p.School.Name = "changed"
		again, err := reg.Person(ctx, tian)
		if err != nil {
			t.Fatal(err)
		}
		if again.Address.City == "changed" || again.School.Name == "changed" {
			t.Error("a caller changed the register's data through a result")
		}
	})

	t.Run("InvalidNumberNotFound", func(t *testing.T) {
		for _, bad := range []string{"", "201701272394", "190302299813", "20170110-2384", "x"} {
			if _, err := reg.Person(ctx, bad); !errors.Is(err, ErrNotFound) {
				t.Errorf("Person(%q) err = %v, want ErrNotFound", bad, err)
			}
			if _, err := reg.Children(ctx, bad); !errors.Is(err, ErrNotFound) {
				t.Errorf("Children(%q) err = %v, want ErrNotFound", bad, err)
			}
			if _, err := reg.Guardians(ctx, bad); !errors.Is(err, ErrNotFound) {
				t.Errorf("Guardians(%q) err = %v, want ErrNotFound", bad, err)
			}
		}
	})
}

// testUnknown checks that a valid number the register does not hold is
// ErrNotFound; reg must serve the test population without Samuel.
func testUnknown(t *testing.T, reg Register) {
	ctx := context.Background()
	if _, err := reg.Person(ctx, samuel); !errors.Is(err, ErrNotFound) {
		t.Errorf("Person: err = %v, want ErrNotFound", err)
	}
	if _, err := reg.Children(ctx, samuel); !errors.Is(err, ErrNotFound) {
		t.Errorf("Children: err = %v, want ErrNotFound", err)
	}
	if _, err := reg.Guardians(ctx, samuel); !errors.Is(err, ErrNotFound) {
		t.Errorf("Guardians: err = %v, want ErrNotFound", err)
	}
	if _, err := reg.Person(ctx, tolvan); err != nil {
		t.Errorf("a known person: %v", err)
	}
}

func TestFileRules(t *testing.T) { testRules(t, Default()) }

func TestHTTPRules(t *testing.T) {
	up := newUpstream(t, Default())
	testRules(t, up.client(t, HTTPConfig{}))
}

func TestFileUnknown(t *testing.T) { testUnknown(t, withoutSamuel(t)) }

func TestHTTPUnknown(t *testing.T) {
	up := newUpstream(t, withoutSamuel(t))
	testUnknown(t, up.client(t, HTTPConfig{}))
}

func TestAuditedRules(t *testing.T) {
	testRules(t, Audited(Default(), func(context.Context, string, string, bool) {}))
}

func withoutSamuel(t *testing.T) *File {
	t.Helper()
	f, err := ParseFile([]byte(`
persons:
  - {personal_number: "198107249289", given_name: Tolvan, family_name: Tolvansson}
`))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// upstream is a fake register service that serves a File's data as it is
// stored, unminimised: the client must protect on its own.
type upstream struct {
	srv  *httptest.Server
	hits atomic.Int64
	// override, when set, answers instead of the data.
	override atomic.Pointer[http.HandlerFunc]
	// lastAuth and lastPath are the last request's header and path.
	lastAuth, lastPath atomic.Value
}

func newUpstream(t *testing.T, f *File) *upstream {
	t.Helper()
	u := &upstream{}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.hits.Add(1)
		u.lastAuth.Store(r.Header.Get("Authorization"))
		u.lastPath.Store(r.URL.RequestURI())
		if h := u.override.Load(); h != nil {
			(*h)(w, r)
			return
		}
		serveFile(w, r, f)
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) answer(h http.HandlerFunc) { u.override.Store(&h) }

func (u *upstream) client(t *testing.T, cfg HTTPConfig) *HTTP {
	t.Helper()
	cfg.URL = u.srv.URL + "/api/"
	h, err := NewHTTP(cfg, HTTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// serveFile implements the documented register API over f's raw data.
func serveFile(w http.ResponseWriter, r *http.Request, f *File) {
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	var q struct {
		PNR string `json:"pnr"`
	}
	if err := json.NewDecoder(r.Body).Decode(&q); err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	p, ok := f.people[q.PNR]
	if !ok {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	var answer any
	related := func(index map[string][]string) any {
		out := []Person{}
		for _, o := range index[q.PNR] {
			out = append(out, f.people[o])
		}
		return map[string]any{"persons": out}
	}
	switch r.URL.Path {
	case "/api/lookup":
		answer = map[string]any{"person": p}
	case "/api/children":
		answer = related(f.children)
	case "/api/guardians":
		answer = related(f.guardian)
	default:
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(answer)
}

func assertMinimised(t *testing.T, p Person, given string) {
	t.Helper()
	if !p.Protected || p.GivenName != given || p.FamilyName != "" || p.Address != nil || p.School != nil || p.PersonalNumber == "" {
		t.Errorf("protected person not minimised: %+v", p)
	}
}

func pnrs(ps []Person) []string {
	out := []string{}
	for _, p := range ps {
		out = append(out, p.PersonalNumber)
	}
	return out
}

func mask(p string) string { return p[:8] + "-XXXX" }
