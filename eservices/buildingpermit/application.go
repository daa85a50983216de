package buildingpermit

import (
	"encoding/json"
	"net/mail"
	"net/url"
	"slices"
	"strings"
	"unicode"
)

// The kinds of measure an application is for.
const (
	MeasureNewBuilding  = "new_building"
	MeasureExtension    = "extension"
	MeasureChangeOfUse  = "change_of_use"
	MeasureFacadeChange = "facade_change"
	MeasureDemolition   = "demolition"
	MeasureOther        = "other"
)

// Measures lists the kinds of measure in the order the form shows them.
var Measures = []string{MeasureNewBuilding, MeasureExtension, MeasureChangeOfUse, MeasureFacadeChange, MeasureDemolition, MeasureOther}

// Limits on the description.
const (
	MinDescriptionLen = 10
	MaxDescriptionLen = 4000
)

// measureSv names the measures in case titles, which are shown in lists
// in one language only.
var measureSv = map[string]string{
	MeasureNewBuilding:  "Nybyggnad",
	MeasureExtension:    "Tillbyggnad",
	MeasureChangeOfUse:  "Ändrad användning",
	MeasureFacadeChange: "Fasadändring",
	MeasureDemolition:   "Rivning",
	MeasureOther:        "Annan åtgärd",
}

// Application is the case content of a building permit application, as
// stored (JSON) in the case store. A draft may have empty fields; a
// submitted application has every field but one of Email and Phone.
type Application struct {
	Property    string `json:"property"`
	Measure     string `json:"measure"`
	Description string `json:"description"`
	Email       string `json:"email,omitempty"`
	Phone       string `json:"phone,omitempty"`
}

// title is the case's summary line: it names the measure and the
// property, never a person.
func (a Application) title() string {
	m, ok := measureSv[a.Measure]
	switch {
	case ok && a.Property != "":
		return "Bygglov: " + m + ", " + a.Property
	case a.Property != "":
		return "Bygglov: " + a.Property
	case ok:
		return "Bygglov: " + m
	}
	return "Bygglovsansökan"
}

func (a Application) content() json.RawMessage {
	b, _ := json.Marshal(a)
	return b
}

func parseApplication(raw json.RawMessage) Application {
	var a Application
	_ = json.Unmarshal(raw, &a)
	return a
}

// fieldError is the problem with one form field: a message key and, for
// files, the file's name.
type fieldError struct{ Key, Name string }

// fieldErrors maps a form field's id to its problem.
type fieldErrors map[string]fieldError

func (fe fieldErrors) set(field, key string) { fe[field] = fieldError{Key: key} }

// formErrorOrder is the order of the error summary: the order of the form.
var formErrorOrder = []string{"property", "measure", "description", "email", "phone", "contact", "attachments"}

// summaryItem is one line of an error summary.
type summaryItem struct{ Field, Key, Name string }

func (fe fieldErrors) summary(order []string) []summaryItem {
	var out []summaryItem
	for _, f := range order {
		if e, ok := fe[f]; ok {
			out = append(out, summaryItem{Field: f, Key: e.Key, Name: e.Name})
		}
	}
	return out
}

// readApplication takes the typed values from a form. complete asks for
// every rule of a submission; otherwise (a draft) empty fields are
// accepted but what is typed must still be valid. The returned
// Application holds normalised values where they are valid and the typed
// text where not, so the form can show it again.
func readApplication(form url.Values, complete bool) (Application, fieldErrors) {
	fe := fieldErrors{}
	a := Application{
		Property:    strings.TrimSpace(form.Get("property")),
		Measure:     form.Get("measure"),
		Description: strings.TrimSpace(strings.ReplaceAll(form.Get("description"), "\r\n", "\n")),
		Email:       strings.TrimSpace(form.Get("email")),
		Phone:       strings.TrimSpace(form.Get("phone")),
	}
	switch p, err := ParsePropertyDesignation(a.Property); {
	case a.Property == "":
		if complete {
			fe.set("property", "bygglov.err.property.required")
		}
	case err != nil:
		fe.set("property", "bygglov.err.property.format")
	default:
		a.Property = p
	}
	switch {
	case a.Measure == "":
		if complete {
			fe.set("measure", "bygglov.err.measure.required")
		}
	case !slices.Contains(Measures, a.Measure):
		a.Measure = ""
		fe.set("measure", "bygglov.err.measure.required")
	}
	n := len([]rune(a.Description))
	switch {
	case n == 0:
		if complete {
			fe.set("description", "bygglov.err.description.required")
		}
	case n > MaxDescriptionLen:
		fe.set("description", "bygglov.err.description.long")
	case !printableText(a.Description):
		fe.set("description", "bygglov.err.description.chars")
	case n < MinDescriptionLen && complete:
		fe.set("description", "bygglov.err.description.short")
	}
	if a.Email != "" && !validEmail(a.Email) {
		fe.set("email", "bygglov.err.email")
	}
	if a.Phone != "" {
		if p, ok := normalisePhone(a.Phone); ok {
			a.Phone = p
		} else {
			fe.set("phone", "bygglov.err.phone")
		}
	}
	if complete && a.Email == "" && a.Phone == "" {
		fe.set("contact", "bygglov.err.contact.required")
	}
	return a, fe
}

// validEmail accepts a bare address, as the case store does for the
// confirmation mail.
func validEmail(s string) bool {
	if len(s) > 254 {
		return false
	}
	addr, err := mail.ParseAddress(s)
	return err == nil && addr.Address == s && addr.Name == ""
}

// normalisePhone accepts digits with an optional leading "+" and the
// separators people type (spaces, dashes, parentheses): 7 to 15 digits.
// It returns the number with single spaces kept as typed.
func normalisePhone(s string) (string, bool) {
	digits := 0
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r == '+' && i == 0:
		case r == ' ' || r == '-' || r == '(' || r == ')':
		default:
			return "", false
		}
	}
	if digits < 7 || digits > 15 {
		return "", false
	}
	return strings.Join(strings.Fields(s), " "), true
}

// printableText reports whether s is text with no control characters but
// newlines and tabs.
func printableText(s string) bool {
	for _, r := range s {
		if r == '\n' || r == '\t' {
			continue
		}
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return false
		}
	}
	return true
}

// lines splits text for display; templates have no line-break function
// and the site's styles allow no inline styles.
func lines(s string) []string { return strings.Split(s, "\n") }
