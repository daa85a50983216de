package population

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/civicgate/civicgate/auth"
	"github.com/civicgate/civicgate/auth/devidp"
	"github.com/civicgate/civicgate/configs"
)

func TestDefaultHoldsOnlyTestNumbers(t *testing.T) {
	f := Default()
	if len(f.people) != len(allPNRs) {
		t.Fatalf("default population has %d people, want %d", len(f.people), len(allPNRs))
	}
	for _, p := range allPNRs {
		if _, ok := f.people[p]; !ok {
			t.Errorf("default population misses %s", mask(p))
		}
	}
}

// The test e-ID provider and the register must agree on who is who, or a
// login as Tolvan would find somebody else's children.
func TestDefaultMatchesTestIdP(t *testing.T) {
	f := Default()
	for _, dp := range devidp.DefaultPeople() {
		if dp.Kind == auth.Staff || dp.PersonalNumber == "" {
			continue
		}
		p, ok := f.people[dp.PersonalNumber]
		if !ok {
			t.Errorf("test e-ID person %s is not in the register", dp.Name())
			continue
		}
		if p.GivenName != dp.GivenName || p.FamilyName != dp.FamilyName {
			t.Errorf("register has %s %s, test e-ID %s", p.GivenName, p.FamilyName, dp.Name())
		}
		if p.Protected != dp.ProtectedIdentity {
			t.Errorf("%s: protected %v in the register, %v at the test e-ID", dp.Name(), p.Protected, dp.ProtectedIdentity)
		}
	}
}

func TestLoadFileReadsTheConfigsCopy(t *testing.T) {
	path := filepath.Join("..", "..", "configs", "population.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, configs.Population) {
		t.Fatal("the embedded population differs from configs/population.yaml")
	}
	f, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	testRules(t, f)
}

func TestLoadFileMissing(t *testing.T) {
	_, err := LoadFile(filepath.Join(t.TempDir(), "none.yaml"))
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("err = %v", err)
	}
}

func TestLoadFileNamesPathOnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pop.yaml")
	if err := os.WriteFile(path, []byte("persons: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadFile(path)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "persons: at least one") {
		t.Errorf("err = %v", err)
	}
}

func TestParseFileReportsEveryProblem(t *testing.T) {
	data := `
schools:
  - id: skola-1
    name: Exempelskolan
  - id: skola-1
  - name: Utan id
    rektor: Nobody
persons:
  - personal_number: "198107249289"
    given_name: Tolvan
    family_name: Tolvansson
    adress: {street: Storgatan 1}
  - personal_number: "201701272394"
    given_name: Felaktig
    family_name: Kontrollsiffra
  - personal_number: "198107249289"
    family_name: Dubblett
  - personal_number: "201701102384"
    given_name: Tian
    family_name: Tolvansson
    address: {street: "", postal_code: "12", city: Exempelby, country: SE}
    school: skola-9
    guardians: ["198107249289", "195006262546", "198107249289", "201701102384", "190302299813"]
  - personal_number: "200809032386"
    given_name: Nian
    family_name: Tolvansson
    guardians: ["200809032386"]
  - given_name: Utan
    family_name: Nummer
extra: true
`
	_, err := ParseFile([]byte(data))
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	want := []string{
		"extra: unknown key",
		"persons[0].adress: unknown key",
		"persons[3].address.country: unknown key",
		"schools[2].rektor: unknown key",
		`schools[1].id: duplicate school id "skola-1"`,
		"schools[1].name: required",
		"schools[2].id: required",
		"persons[1].personal_number: not a valid",
		"persons[2].personal_number: duplicate of persons[0]",
		"persons[2].given_name: required",
		"persons[3].address.street: required",
		"persons[3].address.postal_code: must be five digits",
		`persons[3].school: no school with id "skola-9"`,
		"persons[3].guardians: at most 2 guardians",
		"persons[3].guardians[1]: no person with this personal_number in persons",
		"persons[3].guardians[2]: listed twice",
		"persons[3].guardians[3]: a person cannot be their own guardian",
		"persons[3].guardians[4]: not a valid",
		"persons[4].guardians[0]: a person cannot be their own guardian",
		"persons[5].personal_number: required",
	}
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("error misses %q", w)
		}
	}
	if n := strings.Count(msg, "\n") + 1; n != len(want) {
		t.Errorf("%d problems reported, want %d:\n%s", n, len(want), msg)
	}
	for _, p := range append(allPNRs, "201701272394", "190302299813") {
		if strings.Contains(msg, p) {
			t.Errorf("error echoes personal number %s", mask(p))
		}
	}
}

func TestParseFileSyntaxAndTypes(t *testing.T) {
	for name, data := range map[string]string{
		"empty":       "",
		"comment":     "# nothing\n",
		"syntax":      "persons: [\n",
		"wrong type":  "persons: 5\n",
		"wrong field": "persons:\n  - personal_number: [1, 2]\n    given_name: A\n    family_name: B\n",
	} {
		if _, err := ParseFile([]byte(data)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestParseFileGuardianListedAfterChild(t *testing.T) {
	f, err := ParseFile([]byte(`
persons:
  - {personal_number: "201701102384", given_name: Tian, family_name: Tolvansson, guardians: ["198107249289"]}
  - {personal_number: "198107249289", given_name: Tolvan, family_name: Tolvansson, deceased: true}
`))
	if err != nil {
		t.Fatal(err)
	}
	kids, err := f.Children(context.Background(), tolvan)
	if err != nil || !slices.Equal(pnrs(kids), []string{tian}) {
		t.Fatalf("children = %v, %v", pnrs(kids), err)
	}
	g, err := f.Person(context.Background(), tolvan)
	if err != nil || !g.Deceased || g.Address != nil || g.School != nil {
		t.Errorf("guardian = %+v, %v", g, err)
	}
}

// A protected person's data is dropped however the file marks it, including
// when a relation is what reaches them.
func TestFileProtectedGuardianMinimised(t *testing.T) {
	f, err := ParseFile([]byte(`
schools: [{id: skola-1, name: Exempelskolan}]
persons:
  - personal_number: "201701102384"
    given_name: Tian
    family_name: Tolvansson
    school: skola-1
    guardians: ["198107249289", "195006262546"]
  - personal_number: "198107249289"
    given_name: Tolvan
    family_name: Tolvansson
    protected: true
    address: {street: Storgatan 12, postal_code: "12345", city: Exempelby}
  - {personal_number: "195006262546", given_name: Elvan, family_name: Elvansson}
`))
	if err != nil {
		t.Fatal(err)
	}
	gs, err := f.Guardians(context.Background(), tian)
	if err != nil || len(gs) != 2 {
		t.Fatalf("guardians = %v, %v", pnrs(gs), err)
	}
	assertMinimised(t, gs[1], "Tolvan")
	if gs[0].Protected || gs[0].FamilyName != "Elvansson" {
		t.Errorf("unprotected guardian changed: %+v", gs[0])
	}
}
