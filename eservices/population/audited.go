package population

import (
	"context"
	"slices"
)

// Actions passed to a [RecordFunc], one per Register method.
const (
	ActionPerson    = "population.person"
	ActionChildren  = "population.children"
	ActionGuardians = "population.guardians"
)

// FailedSuffix is appended to the action of a lookup that returned an error
// (not found or unavailable), so the audit log tells attempts from
// disclosures.
const FailedSuffix = ".failed"

// RecordFunc receives one audit record: action is an Action constant (with
// FailedSuffix when the lookup failed), pnr the personal identity number the
// record concerns, in clear (the audit log pseudonymises it), and protected
// whether a protected person was disclosed.
type RecordFunc func(ctx context.Context, action, pnr string, protected bool)

// Audited returns a Register that calls rec for every lookup on reg, found
// or not, after reg answers:
//
//   - once for the person looked up, with protected true when the answer
//     contains any protected person;
//   - for Children and Guardians, once more for each protected person in the
//     answer, so that person's own audit trail shows who saw them.
//
// It also minimises every person it returns, so a Register written without
// this package's help cannot leak protected data past it.
func Audited(reg Register, rec RecordFunc) Register {
	return audited{reg: reg, rec: rec}
}

type audited struct {
	reg Register
	rec RecordFunc
}

func (a audited) Person(ctx context.Context, pnr string) (Person, error) {
	p, err := a.reg.Person(ctx, pnr)
	if err != nil {
		a.rec(ctx, ActionPerson+FailedSuffix, pnr, false)
		return Person{}, err
	}
	p = minimise(p)
	a.rec(ctx, ActionPerson, pnr, p.Protected)
	return p, nil
}

func (a audited) Children(ctx context.Context, guardianPNR string) ([]Person, error) {
	return a.list(ctx, ActionChildren, guardianPNR, a.reg.Children)
}

func (a audited) Guardians(ctx context.Context, childPNR string) ([]Person, error) {
	return a.list(ctx, ActionGuardians, childPNR, a.reg.Guardians)
}

func (a audited) list(ctx context.Context, action, pnr string, lookup func(context.Context, string) ([]Person, error)) ([]Person, error) {
	ps, err := lookup(ctx, pnr)
	if err != nil {
		a.rec(ctx, action+FailedSuffix, pnr, false)
		return nil, err
	}
	// Clone: the slice may be the inner Register's own.
	ps = minimiseAll(slices.Clone(ps))
	disclosed := false
	for _, p := range ps {
		disclosed = disclosed || p.Protected
	}
	a.rec(ctx, action, pnr, disclosed)
	for _, p := range ps {
		if p.Protected {
			a.rec(ctx, action, p.PersonalNumber, true)
		}
	}
	return ps, nil
}
