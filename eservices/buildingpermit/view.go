package buildingpermit

import (
	"strconv"
	"strings"
	"time"

	"github.com/civicgate/civicgate/eservices/cases"
)

// caseRow is one case in a list.
type caseRow struct {
	ID, Number, Property, MeasureKey, StatusKey string
	Submitted, Updated                          time.Time
}

func rowOf(c cases.Case) caseRow {
	a := parseApplication(c.Content)
	row := caseRow{ID: c.ID, Number: c.Number, Property: a.Property, StatusKey: statusKey(c.Status),
		Submitted: c.SubmittedAt, Updated: c.UpdatedAt}
	if a.Measure != "" {
		row.MeasureKey = "bygglov.measure." + a.Measure
	}
	return row
}

func statusKey(s cases.Status) string { return "bygglov.status." + string(s) }

// historyRow is one step of a case as the applicant sees it: the role
// that acted, never the person.
type historyRow struct {
	Time      time.Time
	StatusKey string
	RoleKey   string
	NoteKey   string
}

// roleKeys names the roles in the history; anything else is "the
// municipality".
var roleKeys = map[string]string{
	roleCitizen:       "bygglov.role.citizen",
	roleContactCentre: "bygglov.role.contact-centre",
	RoleHandler:       "bygglov.role.building-handler",
	"system":          "bygglov.role.system",
}

// noteKeys are the history notes the module writes; other notes (written
// by other parts of the gateway) are not shown, since they may be meant
// for staff only.
var noteKeys = map[string]string{
	noteSupplementRequested:                             "bygglov.note.supplement_requested",
	noteSupplement:                                      "bygglov.note.supplement",
	noteDecisionPrefix + DecisionApproved:               "bygglov.decision." + DecisionApproved,
	noteDecisionPrefix + DecisionApprovedWithConditions: "bygglov.decision." + DecisionApprovedWithConditions,
	noteDecisionPrefix + DecisionRejected:               "bygglov.decision." + DecisionRejected,
}

func historyOf(c *cases.Case) []historyRow {
	out := make([]historyRow, 0, len(c.History))
	for _, h := range c.History {
		rk, ok := roleKeys[h.ActorRole]
		if !ok {
			rk = "bygglov.role.municipality"
		}
		out = append(out, historyRow{Time: h.Time, StatusKey: statusKey(h.To), RoleKey: rk, NoteKey: noteKeys[h.Note]})
	}
	return out
}

// messageRow is one message; internal notes never become one for the
// applicant.
type messageRow struct {
	Time    time.Time
	FromKey string
	Lines   []string
	Unread  bool
}

func messagesOf(ms []cases.Message) []messageRow {
	var out []messageRow
	for _, msg := range ms {
		var from string
		switch msg.Direction {
		case cases.ToCitizen:
			from = "bygglov.message.from_handler"
		case cases.ToHandler:
			from = "bygglov.message.from_applicant"
		default:
			continue
		}
		out = append(out, messageRow{Time: msg.Time, FromKey: from, Lines: lines(msg.Body), Unread: !msg.Read()})
	}
	return out
}

// attachmentRow is one attached file.
type attachmentRow struct {
	ID, Name, TypeLabel, Size string
	Supplement                bool
	Time                      time.Time
}

func attachmentsOf(as []cases.Attachment) []attachmentRow {
	out := make([]attachmentRow, 0, len(as))
	for _, a := range as {
		out = append(out, attachmentRow{ID: a.ID, Name: a.Name, TypeLabel: typeLabel(a.ContentType),
			Size: humanSize(a.Size), Supplement: a.Supplement, Time: a.Time})
	}
	return out
}

func typeLabel(ct string) string {
	switch ct {
	case cases.TypePDF:
		return "PDF"
	case cases.TypePNG:
		return "PNG"
	case cases.TypeJPEG:
		return "JPEG"
	}
	return "?"
}

func humanSize(n int64) string {
	switch {
	case n >= 1<<20:
		return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MB"
	case n >= 1<<10:
		return strconv.FormatInt((n+512)>>10, 10) + " kB"
	}
	return strconv.FormatInt(n, 10) + " B"
}

// extension is the file extension that matches a detected type.
func extension(ct string) string {
	switch ct {
	case cases.TypePDF:
		return ".pdf"
	case cases.TypePNG:
		return ".png"
	case cases.TypeJPEG:
		return ".jpg"
	}
	return ""
}

// downloadName is the name a file is saved as: the uploaded name made
// safe, ending in the extension of its real type (so "plan.html" holding a
// PDF is saved as "plan.html.pdf" and opens as what it is).
func downloadName(name, ct string) string {
	name = cases.SanitizeName(name)
	ext := extension(ct)
	lower := strings.ToLower(name)
	if !strings.HasSuffix(lower, ext) && !(ct == cases.TypeJPEG && strings.HasSuffix(lower, ".jpeg")) {
		name += ext
	}
	return name
}

// contentDisposition returns an attachment disposition for name: an ASCII
// fallback where every character outside a safe set is "_", and the exact
// name in RFC 5987 encoding for browsers that read it.
func contentDisposition(name string) string {
	var ascii, enc strings.Builder
	for _, r := range name {
		switch {
		case r < 0x80 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-+()", r)):
			ascii.WriteRune(r)
		default:
			ascii.WriteByte('_')
		}
	}
	for _, b := range []byte(name) {
		if b < 0x80 && (b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || strings.IndexByte("!#$&+-.^_`|~", b) >= 0) {
			enc.WriteByte(b)
		} else {
			enc.WriteString("%" + strings.ToUpper(strconv.FormatInt(int64(b)|0x100, 16)[1:]))
		}
	}
	return `attachment; filename="` + ascii.String() + `"; filename*=UTF-8''` + enc.String()
}
