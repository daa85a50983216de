package population

import "testing"

func TestDisplayName(t *testing.T) {
	for _, c := range []struct {
		p    Person
		want string
	}{
		{Person{PersonalNumber: tolvan, GivenName: "Tolvan", FamilyName: "Tolvansson"}, "Tolvan Tolvansson"},
		// A caller that built a protected person by hand still gets only
		// the given name.
		{Person{PersonalNumber: nian, GivenName: "Nian", FamilyName: "Tolvansson", Protected: true}, "Nian"},
		{Person{PersonalNumber: nian, Protected: true, FamilyName: "Tolvansson"}, "20080903-XXXX"},
		{Person{PersonalNumber: tolvan, FamilyName: "Tolvansson"}, "Tolvansson"},
		{Person{PersonalNumber: tolvan}, "19810724-XXXX"},
	} {
		if got := c.p.DisplayName(); got != c.want {
			t.Errorf("DisplayName(%+v) = %q, want %q", c.p, got, c.want)
		}
	}
}

func TestMinimise(t *testing.T) {
	raw := Person{
		PersonalNumber: nian, GivenName: "Nian", FamilyName: "Tolvansson", Protected: true, Deceased: true,
		Address: &Address{Street: "Hemliga vägen 9"}, School: &School{ID: "skola-2"},
	}
	m := minimise(raw)
	want := Person{PersonalNumber: nian, GivenName: "Nian", Protected: true, Deceased: true}
	if m != want {
		t.Errorf("minimise = %+v, want %+v", m, want)
	}
	if minimise(m) != m {
		t.Error("minimise is not idempotent")
	}
	open := Person{PersonalNumber: tian, GivenName: "Tian", FamilyName: "Tolvansson", Address: &Address{City: "Exempelby"}}
	if got := minimise(open); got != open {
		t.Errorf("unprotected person changed: %+v", got)
	}
}
