package population

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/goccy/go-yaml"

	"github.com/civicgate/civicgate/auth"
	"github.com/civicgate/civicgate/configs"
)

// File is a Register read from a YAML file, for dev and tests. It is
// immutable after loading and safe for concurrent use.
//
// The file has two lists; keys are strict and every problem is reported at
// once:
//
//	schools:                      # schools children attend
//	  - id: skola-1               # required, unique
//	    name: Exempelskolan       # required
//	persons:
//	  - personal_number: "198107249289"  # required, valid, unique
//	    given_name: Tolvan               # required
//	    family_name: Tolvansson          # required
//	    protected: false                 # skyddade personuppgifter
//	    deceased: false
//	    address:                         # optional; all three fields required
//	      street: Storgatan 12
//	      postal_code: "123 45"          # five digits, space optional
//	      city: Exempelby
//	    school: skola-1                  # optional; an id from schools
//	    guardians: ["198107249289"]      # custody holders (at most two),
//	                                     # each a person of this file
//
// Custody is recorded on the child (its guardians), so a relation such as
// joint custody of one child only is stated where it applies. The file is
// authoritative: custody does not end by itself at 18.
type File struct {
	people   map[string]Person
	guardian map[string][]string // child → guardians
	children map[string][]string // guardian → children
}

var _ Register = (*File)(nil)

// LoadFile reads and validates a population file.
func LoadFile(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("population: %w", err)
	}
	f, err := ParseFile(data)
	if err != nil {
		return nil, fmt.Errorf("population: %s: %w", path, err)
	}
	return f, nil
}

var defaultFile = sync.OnceValue(func() *File {
	f, err := ParseFile(configs.Population)
	if err != nil {
		panic("population: embedded configs/population.yaml: " + err.Error())
	}
	return f
})

// Default returns the built-in test population (configs/population.yaml):
// Skatteverket test personnummer only, with the same people as the built-in
// test e-ID provider. Every call returns the same read-only register.
func Default() *File { return defaultFile() }

type fileData struct {
	Schools []fileSchool `yaml:"schools"`
	Persons []filePerson `yaml:"persons"`
}

type fileSchool struct {
	ID   string `yaml:"id"`
	Name string `yaml:"name"`
}

type filePerson struct {
	PersonalNumber string       `yaml:"personal_number"`
	GivenName      string       `yaml:"given_name"`
	FamilyName     string       `yaml:"family_name"`
	Protected      bool         `yaml:"protected"`
	Deceased       bool         `yaml:"deceased"`
	Address        *fileAddress `yaml:"address"`
	School         string       `yaml:"school"`
	Guardians      []string     `yaml:"guardians"`
}

type fileAddress struct {
	Street     string `yaml:"street"`
	PostalCode string `yaml:"postal_code"`
	City       string `yaml:"city"`
}

// maxGuardians is the legal maximum of custody holders of one child
// (föräldrabalken 6 kap.).
const maxGuardians = 2

var postalCode = regexp.MustCompile(`^[0-9]{3} ?[0-9]{2}$`)

// ParseFile parses and validates population YAML. The error lists every
// problem at once, one per line, each starting with its key path (e.g.
// "persons[2].guardians[0]: ..."); no message echoes a personal number.
func ParseFile(data []byte) (*File, error) {
	var raw any
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return nil, errors.New(yamlMessage(err))
	}
	if raw == nil {
		return nil, errors.New("the file is empty")
	}
	var errs []error
	unknownKeys(raw, reflect.TypeOf(fileData{}), "", &errs)
	var d fileData
	if err := yaml.Unmarshal(data, &d); err != nil {
		return nil, errors.Join(append(errs, errors.New(yamlMessage(err)))...)
	}
	f, more := build(d)
	if errs = append(errs, more...); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return f, nil
}

// yamlMessage keeps the first line of a decoder error: the rest quotes the
// source, which may hold personal numbers.
func yamlMessage(err error) string {
	msg := strings.TrimSpace(yaml.FormatError(err, false, false))
	return strings.SplitN(msg, "\n", 2)[0]
}

// unknownKeys walks decoded YAML against the struct that will receive it and
// reports every key the struct does not have, so a typo is an error naming
// its path rather than silently dropped data.
func unknownKeys(v any, t reflect.Type, path string, errs *[]error) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			return // the typed decode reports the mismatch
		}
		fields := map[string]reflect.Type{}
		for i := 0; i < t.NumField(); i++ {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
			fields[name] = t.Field(i).Type
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			at := k
			if path != "" {
				at = path + "." + k
			}
			ft, ok := fields[k]
			if !ok {
				*errs = append(*errs, fmt.Errorf("%s: unknown key", at))
				continue
			}
			unknownKeys(m[k], ft, at, errs)
		}
	case reflect.Slice:
		s, ok := v.([]any)
		if !ok {
			return
		}
		for i, e := range s {
			unknownKeys(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i), errs)
		}
	}
}

// build checks the decoded file and indexes it.
func build(d fileData) (*File, []error) {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if len(d.Persons) == 0 {
		bad("persons: at least one person is required")
	}
	schools := map[string]School{}
	for i, s := range d.Schools {
		at := fmt.Sprintf("schools[%d]", i)
		if s.ID == "" {
			bad("%s.id: required", at)
		} else if _, dup := schools[s.ID]; dup {
			bad("%s.id: duplicate school id %q", at, s.ID)
		}
		if s.Name == "" {
			bad("%s.name: required", at)
		}
		schools[s.ID] = School(s)
	}

	f := &File{
		people:   map[string]Person{},
		guardian: map[string][]string{},
		children: map[string][]string{},
	}
	firstAt := map[string]int{}
	for i, p := range d.Persons {
		at := fmt.Sprintf("persons[%d]", i)
		switch {
		case p.PersonalNumber == "":
			bad("%s.personal_number: required", at)
		case !auth.ValidPersonalNumber(p.PersonalNumber):
			bad("%s.personal_number: not a valid 12-digit personnummer or samordningsnummer", at)
		default:
			if j, dup := firstAt[p.PersonalNumber]; dup {
				bad("%s.personal_number: duplicate of persons[%d]", at, j)
			} else {
				firstAt[p.PersonalNumber] = i
			}
		}
		if p.GivenName == "" {
			bad("%s.given_name: required", at)
		}
		if p.FamilyName == "" {
			bad("%s.family_name: required", at)
		}
		person := Person{
			PersonalNumber: p.PersonalNumber,
			GivenName:      p.GivenName,
			FamilyName:     p.FamilyName,
			Protected:      p.Protected,
			Deceased:       p.Deceased,
		}
		if a := p.Address; a != nil {
			if a.Street == "" {
				bad("%s.address.street: required", at)
			}
			if !postalCode.MatchString(a.PostalCode) {
				bad("%s.address.postal_code: must be five digits, e.g. \"123 45\"", at)
			}
			if a.City == "" {
				bad("%s.address.city: required", at)
			}
			person.Address = &Address{Street: a.Street, PostalCode: a.PostalCode, City: a.City}
		}
		if p.School != "" {
			s, ok := schools[p.School]
			if !ok {
				bad("%s.school: no school with id %q in schools", at, p.School)
			}
			person.School = &s // only used when there are no errors
		}
		if _, dup := f.people[p.PersonalNumber]; !dup && p.PersonalNumber != "" {
			f.people[p.PersonalNumber] = person
		}
	}

	// Relations are checked once every person is known, so a guardian may be
	// listed after the child.
	for i, p := range d.Persons {
		if len(p.Guardians) > maxGuardians {
			bad("persons[%d].guardians: at most %d guardians can have custody of a child", i, maxGuardians)
		}
		var seen []string
		for j, g := range p.Guardians {
			at := fmt.Sprintf("persons[%d].guardians[%d]", i, j)
			switch {
			case !auth.ValidPersonalNumber(g):
				bad("%s: not a valid 12-digit personnummer or samordningsnummer", at)
			case g == p.PersonalNumber:
				bad("%s: a person cannot be their own guardian", at)
			case slices.Contains(seen, g):
				bad("%s: listed twice", at)
			default:
				if _, ok := f.people[g]; !ok {
					bad("%s: no person with this personal_number in persons", at)
					continue
				}
				seen = append(seen, g)
				if firstAt[p.PersonalNumber] == i {
					f.guardian[p.PersonalNumber] = append(f.guardian[p.PersonalNumber], g)
					f.children[g] = append(f.children[g], p.PersonalNumber)
				}
			}
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return f, nil
}

// Person implements Register.
func (f *File) Person(_ context.Context, pnr string) (Person, error) {
	p, ok := f.people[pnr]
	if !ok {
		return Person{}, ErrNotFound
	}
	return minimise(clone(p)), nil
}

// Children implements Register.
func (f *File) Children(_ context.Context, guardianPNR string) ([]Person, error) {
	return f.related(guardianPNR, f.children)
}

// Guardians implements Register.
func (f *File) Guardians(_ context.Context, childPNR string) ([]Person, error) {
	return f.related(childPNR, f.guardian)
}

func (f *File) related(pnr string, index map[string][]string) ([]Person, error) {
	if _, ok := f.people[pnr]; !ok {
		return nil, ErrNotFound
	}
	out := make([]Person, 0, len(index[pnr]))
	for _, other := range index[pnr] {
		out = append(out, clone(f.people[other]))
	}
	return minimiseAll(out), nil
}
