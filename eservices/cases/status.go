package cases

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/civicgate/civicgate/auth"
)

// transitions lists the statuses SetStatus may move a case to from each
// status. Draft → Received happens only through SubmitDraft, so that a
// case never becomes submitted without a number and a confirmation;
// Closed is final so that a purged stub can never be reopened.
var transitions = map[Status][]Status{
	Received:           {InProgress, AwaitingSupplement, Decided, Closed},
	InProgress:         {AwaitingSupplement, Decided, Closed},
	AwaitingSupplement: {InProgress, Decided, Closed},
	Decided:            {Closed},
}

// CanTransition reports whether SetStatus accepts moving a case from one
// status to another.
func CanTransition(from, to Status) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// Valid reports whether s is one of the defined statuses.
func (s Status) Valid() bool {
	switch s {
	case Draft, Received, InProgress, AwaitingSupplement, Decided, Closed:
		return true
	}
	return false
}

// Valid reports whether c is one of the defined channels.
func (c Channel) Valid() bool { return c == EService || c == Phone || c == Visit }

// Valid reports whether d is one of the defined directions.
func (d Direction) Valid() bool { return d == ToHandler || d == ToCitizen || d == Internal }

var prefixPattern = regexp.MustCompile(`^[A-Z]{2,8}$`)

// ValidPrefix reports whether p can start a case number: 2–8 upper-case
// letters A–Z.
func ValidPrefix(p string) bool { return prefixPattern.MatchString(p) }

// FormatNumber returns the case number "PREFIX-YYYY-NNNNNN" (at least six
// digits).
func FormatNumber(prefix string, year int, n int64) string {
	return fmt.Sprintf("%s-%04d-%06d", prefix, year, n)
}

var numberPattern = regexp.MustCompile(`^([A-Z]{2,8})-(\d{4})-(\d{6,})$`)

// ParseNumber splits a case number made by FormatNumber; ok is false for
// anything else.
func ParseNumber(s string) (prefix string, year int, n int64, ok bool) {
	m := numberPattern.FindStringSubmatch(s)
	if m == nil {
		return "", 0, 0, false
	}
	year, _ = strconv.Atoi(m[2])
	n, err := strconv.ParseInt(m[3], 10, 64)
	if err != nil {
		return "", 0, 0, false
	}
	return m[1], year, n, true
}

// validPersonKey accepts the keys of citizens: a valid personnummer or
// samordningsnummer in 12 digits, or "prid:" and an identifier.
func validPersonKey(k string) bool {
	if rest, ok := strings.CutPrefix(k, "prid:"); ok {
		return rest != "" && len(k) <= 256 && printable(rest)
	}
	return auth.ValidPersonalNumber(k)
}

func printable(s string) bool {
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return utf8.ValidString(s)
}

// validLine reports whether s is one line of printable text.
func validLine(s string) bool {
	return utf8.ValidString(s) && printable(s)
}

// validText reports whether s is printable text in which only newlines and
// tabs are allowed as control characters.
func validText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r == '\n' || r == '\r' || r == '\t' {
			continue
		}
		if !unicode.IsPrint(r) && !unicode.IsSpace(r) {
			return false
		}
	}
	return true
}

func validActor(p *problems, by Actor) {
	switch {
	case by.Key == "":
		p.add("actor.key", "required")
	case len(by.Key) > 300 || !validLine(by.Key):
		p.add("actor.key", "invalid")
	}
	if len(by.Role) > 100 || !validLine(by.Role) {
		p.add("actor.role", "invalid")
	}
}
