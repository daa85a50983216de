package population

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
)

type record struct {
	action, pnr string
	protected   bool
}

func (r record) String() string {
	return fmt.Sprintf("%s %s %v", r.action, mask(r.pnr), r.protected)
}

type ctxKey struct{}

func TestAudited(t *testing.T) {
	var got []record
	ctx := context.WithValue(context.Background(), ctxKey{}, "request-1")
	reg := Audited(Default(), func(c context.Context, action, pnr string, protected bool) {
		if c.Value(ctxKey{}) != "request-1" {
			t.Error("the caller's context did not reach the recorder")
		}
		got = append(got, record{action, pnr, protected})
	})
	for _, c := range []struct {
		name string
		call func() error
		want []record
	}{
		{"person", func() error { _, err := reg.Person(ctx, tolvan); return err },
			[]record{{ActionPerson, tolvan, false}}},
		{"protected person", func() error { _, err := reg.Person(ctx, nian); return err },
			[]record{{ActionPerson, nian, true}}},
		{"unknown person", func() error { _, err := reg.Person(ctx, "201701272394"); return ignore(err, ErrNotFound) },
			[]record{{ActionPerson + FailedSuffix, "201701272394", false}}},
		{"children with a protected child", func() error { _, err := reg.Children(ctx, tolvan); return err },
			[]record{{ActionChildren, tolvan, true}, {ActionChildren, nian, true}}},
		{"children without protected", func() error { _, err := reg.Children(ctx, elvan); return err },
			[]record{{ActionChildren, elvan, false}}},
		{"no children", func() error { _, err := reg.Children(ctx, samuel); return err },
			[]record{{ActionChildren, samuel, false}}},
		{"guardians", func() error { _, err := reg.Guardians(ctx, nian); return err },
			[]record{{ActionGuardians, nian, false}}},
		{"guardians of unknown", func() error { _, err := reg.Guardians(ctx, ""); return ignore(err, ErrNotFound) },
			[]record{{ActionGuardians + FailedSuffix, "", false}}},
	} {
		got = nil
		if err := c.call(); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: records %v, want %v", c.name, got, c.want)
		}
	}
}

// leaky is a Register that does not minimise, as a careless implementation
// might.
type leaky struct{ p Person }

func (l leaky) Person(context.Context, string) (Person, error)      { return l.p, nil }
func (l leaky) Children(context.Context, string) ([]Person, error)  { return []Person{l.p}, nil }
func (l leaky) Guardians(context.Context, string) ([]Person, error) { return nil, ErrUnavailable }

func TestAuditedMinimisesWhateverItWraps(t *testing.T) {
	raw := Person{
		PersonalNumber: nian, GivenName: "Nian", FamilyName: "Tolvansson", Protected: true,
		Address: &Address{Street: "Hemliga vägen 9", PostalCode: "98765", City: "Någonstans"},
		School:  &School{ID: "skola-2", Name: "Exempelgymnasiet"},
	}
	var n int
	reg := Audited(leaky{raw}, func(context.Context, string, string, bool) { n++ })
	p, err := reg.Person(context.Background(), nian)
	if err != nil {
		t.Fatal(err)
	}
	assertMinimised(t, p, "Nian")
	kids, err := reg.Children(context.Background(), tolvan)
	if err != nil || len(kids) != 1 {
		t.Fatal(kids, err)
	}
	assertMinimised(t, kids[0], "Nian")
	if _, err := reg.Guardians(context.Background(), nian); !errors.Is(err, ErrUnavailable) {
		t.Errorf("the inner error was not passed on: %v", err)
	}
	if n != 4 {
		t.Errorf("%d records, want 4", n)
	}
}

func ignore(err, want error) error {
	if errors.Is(err, want) {
		return nil
	}
	return fmt.Errorf("err = %v, want %v", err, want)
}
