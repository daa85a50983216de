package devidp

import (
	"strings"
	"testing"

	"github.com/civicgate/civicgate/auth"
)

func TestConfigValidate(t *testing.T) {
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("zero config: %v", err)
	}
	if got := (Config{}).MountPath(); got != "/devidp" {
		t.Errorf("default path %q", got)
	}
	err := Config{
		Path: "devidp/",
		People: []Person{
			{PersonalNumber: "201701272394", GivenName: "A", FamilyName: "B"},
			{Kind: auth.Staff, GivenName: "C", FamilyName: "D"},
			{PersonalNumber: "195006262546", FamilyName: "E"},
			{PersonalNumber: "195006262546", GivenName: "F", FamilyName: "E"},
		},
	}.Validate()
	if err == nil {
		t.Fatal("invalid config accepted")
	}
	msg := err.Error()
	for _, want := range []string{"path:", "people[0].personal_number:", "people[1].subject:", "people[2].given_name:", "people[3]: duplicate"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q: %v", want, msg)
		}
	}
	if strings.Contains(msg, "201701272394") {
		t.Error("error echoes the personnummer")
	}
}

func TestDefaultPeople(t *testing.T) {
	people := DefaultPeople()
	if err := validatePeople(people, "people"); err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{"198107249289": true, "195006262546": true, "201701102384": true, "200809032386": true, "197010632391": true}
	var groups []string
	protected, coordination, nonResident := false, false, false
	for _, p := range people {
		if p.PersonalNumber != "" && !allowed[p.PersonalNumber] {
			t.Errorf("%s is not a listed test number", auth.MaskPersonalNumber(p.PersonalNumber))
		}
		if p.DescriptionSv == "" || p.DescriptionEn == "" {
			t.Errorf("%s lacks a description", p.Key())
		}
		protected = protected || p.ProtectedIdentity
		coordination = coordination || p.IsCoordinationNumber()
		nonResident = nonResident || (p.PRID != "" && p.PersonalNumber == "")
		groups = append(groups, p.Groups...)
	}
	if !protected || !coordination || !nonResident {
		t.Errorf("protected %v coordination %v non-resident %v", protected, coordination, nonResident)
	}
	for _, g := range []string{"cg-contact-centre", "cg-school-admin:skola-1", "cg-building-handler", "cg-social-handler", "cg-system-owner"} {
		if !strings.Contains(strings.Join(groups, " "), g) {
			t.Errorf("no staff in %s", g)
		}
	}
}
