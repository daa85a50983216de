package population

import (
	"cmp"
	"context"
	"errors"
	"slices"

	"github.com/civicgate/civicgate/auth"
)

// Errors of a [Register]. Compare with errors.Is: implementations wrap them
// with a reason that never contains a personal identity number.
var (
	// ErrNotFound means the register knows no such person (or the number
	// given is not a valid personal identity number).
	ErrNotFound = errors.New("population: person not found")
	// ErrUnavailable means the register could not answer: it is down, timed
	// out, or answered something this package does not accept. Callers fail
	// closed.
	ErrUnavailable = errors.New("population: register unavailable")
)

// Person is one person as the register returns it. A protected person is
// always minimised (see the package documentation).
type Person struct {
	// PersonalNumber is the 12-digit personnummer or samordningsnummer.
	PersonalNumber string `json:"personal_number"`
	// GivenName and FamilyName are the registered names; FamilyName is empty
	// for a protected person.
	GivenName  string `json:"given_name"`
	FamilyName string `json:"family_name"`
	// Protected is true for skyddade personuppgifter (sekretessmarkering or
	// skyddad folkbokföring).
	Protected bool `json:"protected"`
	// Address is the registered address; nil when protected or unknown.
	Address *Address `json:"address,omitempty"`
	// School is the school a child attends; nil when protected, for adults
	// and when unknown.
	School *School `json:"school,omitempty"`
	// Deceased is true when the register records the person as dead.
	Deceased bool `json:"deceased"`
}

// Address is a postal address in Sweden.
type Address struct {
	Street     string `json:"street"`
	PostalCode string `json:"postal_code"`
	City       string `json:"city"`
}

// School identifies a school: ID is the municipality's stable identifier
// (e.g. "skola-1"), Name what people call it.
type School struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Register looks people up in the population register. Every method returns
// protected persons minimised, sorted lists by personal number, and errors
// wrapping [ErrNotFound] or [ErrUnavailable] that never contain a personal
// identity number.
type Register interface {
	// Person returns the person with personal identity number pnr, or an
	// error wrapping ErrNotFound.
	Person(ctx context.Context, pnr string) (Person, error)
	// Children returns the children in guardianPNR's custody (vårdnad),
	// oldest first; an empty list for a known person without any, and
	// ErrNotFound for an unknown guardian.
	Children(ctx context.Context, guardianPNR string) ([]Person, error)
	// Guardians returns the guardians with custody of childPNR, sorted by
	// personal number; ErrNotFound for an unknown child.
	Guardians(ctx context.Context, childPNR string) ([]Person, error)
}

// DisplayName returns the name to show for p. For a protected person it is
// the given name alone, even if a caller built p with a family name. When p
// has no name at all it is the masked personal number (YYYYMMDD-XXXX), so a
// page never shows an empty name.
func (p Person) DisplayName() string {
	name := p.GivenName
	if !p.Protected && p.FamilyName != "" {
		if name != "" {
			name += " "
		}
		name += p.FamilyName
	}
	if name == "" {
		return auth.MaskPersonalNumber(p.PersonalNumber)
	}
	return name
}

// minimise applies the protection rule of the package documentation. It is
// idempotent and leaves unprotected persons unchanged, so every layer may
// apply it again.
func minimise(p Person) Person {
	if !p.Protected {
		return p
	}
	return Person{
		PersonalNumber: p.PersonalNumber,
		GivenName:      p.GivenName,
		Protected:      true,
		Deceased:       p.Deceased,
	}
}

// minimiseAll minimises and sorts ps in place and returns it.
func minimiseAll(ps []Person) []Person {
	for i := range ps {
		ps[i] = minimise(ps[i])
	}
	// Personal numbers start with the date of birth, so this is oldest
	// first, and stable across backends.
	slices.SortFunc(ps, func(a, b Person) int { return cmp.Compare(a.PersonalNumber, b.PersonalNumber) })
	return ps
}

// clone returns a deep copy so that callers cannot change a backend's data
// through the pointers.
func clone(p Person) Person {
	if p.Address != nil {
		a := *p.Address
		p.Address = &a
	}
	if p.School != nil {
		s := *p.School
		p.School = &s
	}
	return p
}
