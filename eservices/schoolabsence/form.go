package schoolabsence

import (
	"net/http"
	"net/mail"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/civicgate/civicgate/auth"
	"github.com/civicgate/civicgate/eservices/population"
)

// maxFormBytes bounds a posted form; the longest legitimate one is a few
// kilobytes.
const maxFormBytes = 64 << 10

// form is what a guardian typed, kept as typed so that a refused form is
// shown again unchanged. The field names are the form's input names.
type form struct {
	Child  string // barn: the child's personal identity number
	From   string // fran
	To     string // till
	Extent string // omfattning: "heldag" or "deldag"
	Start  string // start, HH:MM
	End    string // slut, HH:MM
	Reason string // orsak: reasonIllness or reasonOther (absence)
	Note   string // kommentar (absence) or skal (leave)
	Email  string // epost
}

// The values of the extent radio group.
const (
	extentWhole = "heldag"
	extentPart  = "deldag"
)

func readForm(r *http.Request, w http.ResponseWriter, kind string) (form, error) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		return form{}, err
	}
	v := r.PostForm
	f := form{
		Child: strings.TrimSpace(v.Get("barn")),
		From:  strings.TrimSpace(v.Get("fran")),
		To:    strings.TrimSpace(v.Get("till")),
		Email: strings.TrimSpace(v.Get("epost")),
	}
	if kind == kindAbsence {
		f.Extent = v.Get("omfattning")
		f.Start = strings.TrimSpace(v.Get("start"))
		f.End = strings.TrimSpace(v.Get("slut"))
		f.Reason = v.Get("orsak")
		f.Note = strings.TrimSpace(v.Get("kommentar"))
	} else {
		f.Note = strings.TrimSpace(v.Get("skal"))
	}
	return f, nil
}

// problem is one refused field: Field is the input's id suffix, Key the
// message that explains it.
type problem struct {
	Field string
	Key   string
}

type problems []problem

func (p *problems) add(field, key string) {
	for _, q := range *p {
		if q.Field == field {
			return // one message per field, the first found
		}
	}
	*p = append(*p, problem{Field: field, Key: key})
}

// byField returns the message key of each refused field.
func (p problems) byField() map[string]string {
	out := make(map[string]string, len(p))
	for _, q := range p {
		out[q.Field] = q.Key
	}
	return out
}

// validate checks f against the rules of kind at today (a date in Sweden,
// midnight UTC) and fills in the defaults it implies: To is From for a
// single day. The child is checked by the caller, against the register.
func (f *form) validate(kind string, today time.Time) problems {
	var p problems
	if f.Child == "" {
		p.add("barn", "skolfranvaro.err.child_required")
	}
	from, fromOK := parseDay(f.From)
	switch {
	case f.From == "":
		p.add("fran", "skolfranvaro.err.from_required")
	case !fromOK:
		p.add("fran", "skolfranvaro.err.date_invalid")
	}
	to := from
	toOK := fromOK
	if f.To != "" {
		to, toOK = parseDay(f.To)
		if !toOK {
			p.add("till", "skolfranvaro.err.date_invalid")
		}
	}
	yearAhead := today.AddDate(1, 0, 0)
	if fromOK && toOK && to.Before(from) {
		p.add("till", "skolfranvaro.err.to_before_from")
	}
	if kind == kindAbsence {
		if fromOK && from.Before(today.AddDate(0, 0, -MaxDaysBack)) {
			p.add("fran", "skolfranvaro.err.too_old")
		}
		if fromOK && from.After(yearAhead) {
			p.add("fran", "skolfranvaro.err.too_far")
		}
		if toOK && to.After(yearAhead) {
			p.add("till", "skolfranvaro.err.too_far")
		}
		switch f.Extent {
		case extentWhole:
			f.Start, f.End = "", ""
		case extentPart:
			if fromOK && toOK && !to.Equal(from) {
				p.add("till", "skolfranvaro.err.part_one_day")
			}
			start, startOK := parseClock(f.Start)
			end, endOK := parseClock(f.End)
			if !startOK {
				p.add("start", "skolfranvaro.err.time_invalid")
			}
			if !endOK {
				p.add("slut", "skolfranvaro.err.time_invalid")
			}
			if startOK && endOK && !start.Before(end) {
				p.add("slut", "skolfranvaro.err.end_before_start")
			}
		default:
			p.add("omfattning", "skolfranvaro.err.extent_required")
		}
		if f.Reason != reasonIllness && f.Reason != reasonOther {
			p.add("orsak", "skolfranvaro.err.reason_required")
		}
		if !validText(f.Note, maxNoteLen) {
			p.add("kommentar", "skolfranvaro.err.note_invalid")
		}
	} else {
		if fromOK && !from.After(today) {
			p.add("fran", "skolfranvaro.err.leave_future")
		}
		if fromOK && from.After(yearAhead) {
			p.add("fran", "skolfranvaro.err.too_far")
		}
		if toOK && to.After(yearAhead) {
			p.add("till", "skolfranvaro.err.too_far")
		}
		switch {
		case f.Note == "":
			p.add("skal", "skolfranvaro.err.leave_reason_required")
		case !validText(f.Note, maxReasonLen):
			p.add("skal", "skolfranvaro.err.leave_reason_invalid")
		}
	}
	if f.Email != "" && !validEmail(f.Email) {
		p.add("epost", "skolfranvaro.err.email_invalid")
	}
	if fromOK && toOK && len(p) == 0 {
		f.From, f.To = from.Format(dateLayout), to.Format(dateLayout)
	}
	return p
}

// parseClock accepts "HH:MM" (what <input type="time"> sends).
func parseClock(s string) (time.Time, bool) {
	t, err := time.Parse("15:04", s)
	return t, err == nil
}

// validText accepts printable text of at most max characters; newlines and
// tabs are the only control characters allowed.
func validText(s string, max int) bool {
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > max {
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

// validEmail accepts a bare address, as the case store does.
func validEmail(s string) bool {
	if len(s) > maxEmailLen {
		return false
	}
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s && a.Name == ""
}

// childOption is one child in the form's radio group.
type childOption struct {
	Value string // the personal identity number, posted in the form body
	Label string
}

// childOptions labels the children with their display names; a protected
// child is shown by given name alone and without any part of the number.
func childOptions(kids []population.Person) []childOption {
	out := make([]childOption, len(kids))
	for i, k := range kids {
		label := k.DisplayName()
		if !k.Protected {
			label += " (" + auth.MaskPersonalNumber(k.PersonalNumber) + ")"
		}
		out[i] = childOption{Value: k.PersonalNumber, Label: label}
	}
	return out
}
