package devidp

import (
	"errors"
	"fmt"

	"github.com/civicgate/civicgate/auth"
)

// Person is a fictional test identity offered on the picker page.
type Person struct {
	// PersonalNumber is a 12-digit test personnummer or samordningsnummer
	// (day + 60); empty for eIDAS users without one and for staff.
	PersonalNumber string `yaml:"personal_number"`
	// GivenName and FamilyName are the person's names.
	GivenName  string `yaml:"given_name"`
	FamilyName string `yaml:"family_name"`
	// DateOfBirth is YYYY-MM-DD. Empty means: derived from PersonalNumber.
	DateOfBirth string `yaml:"date_of_birth"`
	// Kind is "citizen" (the default) or "staff".
	Kind auth.Kind `yaml:"kind"`
	// Subject is the staff user's stable identifier at the workforce IdP;
	// required for staff.
	Subject string `yaml:"subject"`
	// Email is the staff user's e-mail address.
	Email string `yaml:"email"`
	// Groups are the staff user's groups, sent in the "groups" claim.
	Groups []string `yaml:"groups"`
	// PRID is the eIDAS provisional identifier of a foreign e-ID user,
	// e.g. "NO:05068907693".
	PRID string `yaml:"prid"`
	// Country is the ISO 3166 country code of a foreign e-ID user's e-ID.
	Country string `yaml:"country"`
	// ProtectedIdentity marks a person with protected personal data
	// (skyddad identitet); it only changes the description shown.
	ProtectedIdentity bool `yaml:"protected_identity"`
	// DescriptionSv and DescriptionEn say on the picker page what the person
	// is good for in tests.
	DescriptionSv string `yaml:"description_sv"`
	DescriptionEn string `yaml:"description_en"`
}

// Key returns the person's stable identifier inside the provider: the
// personnummer, "prid:<prid>" or "staff:<subject>". It is the input of the
// pairwise pseudonyms and the value of the picker's radio buttons.
func (p Person) Key() string {
	switch {
	case p.Kind == auth.Staff:
		return "staff:" + p.Subject
	case p.PersonalNumber != "":
		return p.PersonalNumber
	default:
		return "prid:" + p.PRID
	}
}

// Name returns the full name.
func (p Person) Name() string { return p.GivenName + " " + p.FamilyName }

// IsCoordinationNumber reports whether the person has a samordningsnummer.
func (p Person) IsCoordinationNumber() bool {
	return len(p.PersonalNumber) == 12 && p.PersonalNumber[6] >= '6'
}

// BirthDate returns DateOfBirth, or the date encoded in the personnummer.
func (p Person) BirthDate() string {
	if p.DateOfBirth != "" || len(p.PersonalNumber) != 12 {
		return p.DateOfBirth
	}
	day := p.PersonalNumber[6:8]
	if p.IsCoordinationNumber() {
		day = fmt.Sprintf("%02d", int(day[0]-'0'-6)*10+int(day[1]-'0'))
	}
	return p.PersonalNumber[:4] + "-" + p.PersonalNumber[4:6] + "-" + day
}

func (p Person) kind() auth.Kind {
	if p.Kind == "" {
		return auth.Citizen
	}
	return p.Kind
}

// validate reports what is wrong with a person, prefixed with path.
func (p Person) validate(path string) []error {
	var errs []error
	bad := func(field, msg string) { errs = append(errs, fmt.Errorf("%s.%s: %s", path, field, msg)) }
	if p.GivenName == "" {
		bad("given_name", "required")
	}
	if p.FamilyName == "" {
		bad("family_name", "required")
	}
	switch p.kind() {
	case auth.Citizen:
		if p.PersonalNumber == "" && p.PRID == "" {
			bad("personal_number", "a citizen needs a personal_number or a prid")
		}
	case auth.Staff:
		if p.Subject == "" {
			bad("subject", "required for staff")
		}
	default:
		bad("kind", `must be "citizen" or "staff"`)
	}
	if p.PersonalNumber != "" && !auth.ValidPersonalNumber(p.PersonalNumber) {
		// The message must not echo the number.
		bad("personal_number", "not a valid 12-digit personnummer or samordningsnummer")
	}
	return errs
}

func validatePeople(people []Person, path string) error {
	var errs []error
	seen := map[string]bool{}
	for i, p := range people {
		at := fmt.Sprintf("%s[%d]", path, i)
		errs = append(errs, p.validate(at)...)
		if seen[p.Key()] {
			errs = append(errs, fmt.Errorf("%s: duplicate person", at))
		}
		seen[p.Key()] = true
	}
	return errors.Join(errs...)
}

// DefaultPeople returns the built-in test identities. They use only test
// personnummer that Skatteverket publishes (never assigned to anyone) and
// fictional names; the population test data uses the same numbers.
func DefaultPeople() []Person {
	return []Person{
		{
			PersonalNumber: "198107249289", GivenName: "Tolvan", FamilyName: "Tolvansson",
			DescriptionSv: "Vårdnadshavare med två barn (201701102384, 200809032386)",
			DescriptionEn: "Guardian with two children (201701102384, 200809032386)",
		},
		{
			PersonalNumber: "195006262546", GivenName: "Elvan", FamilyName: "Elvansson",
			DescriptionSv: "Invånare utan barn",
			DescriptionEn: "Citizen without children",
		},
		{
			PersonalNumber: "200809032386", GivenName: "Nian", FamilyName: "Tolvansson",
			ProtectedIdentity: true,
			DescriptionSv:     "Skyddad identitet (sekretessmarkering); Tolvans äldre barn, myndigt",
			DescriptionEn:     "Protected identity (confidentiality marking); Tolvan's older child, adult",
		},
		{
			PersonalNumber: "197010632391", GivenName: "Samuel", FamilyName: "Samordnare",
			DescriptionSv: "Samordningsnummer (OIDC: coordinationNumber; SAML: endast till SP som tar emot samordningsnummer)",
			DescriptionEn: "Coordination number (OIDC: coordinationNumber; SAML: only to SPs that accept coordination numbers)",
		},
		{
			PRID: "NO:05068907693", Country: "NO", DateOfBirth: "1989-06-05",
			GivenName: "Ola", FamilyName: "Nordmann",
			DescriptionSv: "Utländsk e-legitimation via eIDAS, inget personnummer (välj loa3-nonresident eller eidas-sub)",
			DescriptionEn: "Foreign e-ID through eIDAS, no personnummer (choose loa3-nonresident or eidas-sub)",
		},
		{
			Kind: auth.Staff, Subject: "kc-agent-1", GivenName: "Kim", FamilyName: "Kontaktsson",
			Email: "kim.kontaktsson@kommun.example", Groups: []string{"cg-contact-centre"},
			DescriptionSv: "Personal: handläggare i kontaktcenter",
			DescriptionEn: "Staff: contact-centre agent",
		},
		{
			Kind: auth.Staff, Subject: "school-admin-1", GivenName: "Sara", FamilyName: "Skolström",
			Email: "sara.skolstrom@kommun.example", Groups: []string{"cg-school-admin:skola-1"},
			DescriptionSv: "Personal: skoladministratör för skola-1",
			DescriptionEn: "Staff: school administrator for skola-1",
		},
		{
			Kind: auth.Staff, Subject: "school-protected-1", GivenName: "Signe", FamilyName: "Skyddsdal",
			Email: "signe.skyddsdal@kommun.example", Groups: []string{"cg-school-admin:skyddad"},
			DescriptionSv: "Personal: skoladministration för elever med skyddade personuppgifter",
			DescriptionEn: "Staff: school administration for pupils with protected identity",
		},
		{
			Kind: auth.Staff, Subject: "building-1", GivenName: "Bo", FamilyName: "Byggare",
			Email: "bo.byggare@kommun.example", Groups: []string{"cg-building-handler"},
			DescriptionSv: "Personal: handläggare av bygglov",
			DescriptionEn: "Staff: building permit handler",
		},
		{
			Kind: auth.Staff, Subject: "social-1", GivenName: "Siv", FamilyName: "Socialsson",
			Email: "siv.socialsson@kommun.example", Groups: []string{"cg-social-handler"},
			DescriptionSv: "Personal: socialsekreterare (ekonomiskt bistånd)",
			DescriptionEn: "Staff: social services handler (financial aid)",
		},
		{
			Kind: auth.Staff, Subject: "owner-1", GivenName: "Olle", FamilyName: "Ägare",
			Email: "olle.agare@kommun.example", Groups: []string{"cg-system-owner"},
			DescriptionSv: "Personal: systemägare",
			DescriptionEn: "Staff: system owner",
		},
		{
			Kind: auth.Staff, Subject: "manager-1", GivenName: "Maja", FamilyName: "Ledare",
			Email: "maja.ledare@kommun.example", Groups: []string{"cg-management"},
			DescriptionSv: "Personal: kommunledning (statistik)",
			DescriptionEn: "Staff: management (statistics)",
		},
	}
}
