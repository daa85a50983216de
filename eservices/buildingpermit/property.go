package buildingpermit

import (
	"errors"
	"regexp"
	"strings"
	"unicode"
)

// MaxPropertyLen is the longest property designation accepted, in
// characters.
const MaxPropertyLen = 80

// ErrPropertyDesignation is returned by ParsePropertyDesignation for text
// that is not a property designation.
var ErrPropertyDesignation = errors.New("buildingpermit: not a property designation (e.g. JÖNKÖPING KÄLLSTORP 1:23)")

// propertyRE is a normalised designation: one or more names (the
// municipality and the district, or the district alone) of upper-case
// letters joined by single spaces or dashes, then block:unit as two
// positive numbers of at most five digits.
var propertyRE = regexp.MustCompile(`^[A-ZÅÄÖÉÜ]+(?:[ -][A-ZÅÄÖÉÜ]+)* [1-9][0-9]{0,4}:[1-9][0-9]{0,4}$`)

// ParsePropertyDesignation normalises and checks a property designation
// (fastighetsbeteckning) such as "Jönköping  Källstorp 1 : 23": letters are
// made upper-case, runs of white space become one space, spaces around ":"
// and "-" are dropped. It returns the normalised form ("JÖNKÖPING
// KÄLLSTORP 1:23") or ErrPropertyDesignation.
func ParsePropertyDesignation(s string) (string, error) {
	if len([]rune(s)) > MaxPropertyLen {
		return "", ErrPropertyDesignation
	}
	s = strings.Join(strings.FieldsFunc(strings.ToUpper(s), unicode.IsSpace), " ")
	s = strings.NewReplacer(" :", ":", ": ", ":", " -", "-", "- ", "-").Replace(s)
	// A second pass catches "A - B" where both sides had a space.
	s = strings.NewReplacer(" :", ":", ": ", ":", " -", "-", "- ", "-").Replace(s)
	if !propertyRE.MatchString(s) {
		return "", ErrPropertyDesignation
	}
	return s, nil
}
