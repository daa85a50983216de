package schoolabsence

import (
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/civicgate/civicgate/eservices"
	"github.com/civicgate/civicgate/eservices/cases"
	"github.com/civicgate/civicgate/gateway/audit"
)

// The decisions on a leave request, as posted in the "beslut" field.
const (
	decisionApproved = "approved"
	decisionRejected = "rejected"
	maxDecisionLen   = 2000
)

// listData is the school's day list.
type listData struct {
	// Day is the date shown (YYYY-MM-DD); BadDay is true when the date
	// asked for was not a date and today is shown instead.
	Day     string
	BadDay  bool
	IsToday bool
	// Reports are the absences and leave covering Day; Pending are the
	// leave requests still to decide, whatever their dates.
	Reports []item
	Pending []item
	// Done is the number of the case just acknowledged, for the notice.
	Done string
}

// staffRole returns the role in which staff act on a case of scope; empty
// when they do not handle that scope.
func staffRole(r *http.Request, scope string) string {
	a := eservices.ActorFrom(r.Context())
	if a == nil || !scopes(a.Identity.Roles)[scope] {
		return ""
	}
	return RolePrefix + scope
}

func staffRoles(r *http.Request) string {
	return strings.Join(eservices.ActorFrom(r.Context()).Identity.Roles, ",")
}

// staffList shows the reports of the staff member's schools for one day
// (today unless ?datum= names another) and the leave requests awaiting a
// decision. Cases of other schools, and protected children's cases for
// anyone but the protected-identity function, never reach the page.
func (m *Module) staffList(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	today := m.today().Format(dateLayout)
	d := listData{Day: today}
	if q := r.URL.Query().Get("datum"); q != "" {
		if t, ok := parseDay(q); ok {
			d.Day = t.Format(dateLayout)
		} else {
			d.BadDay = true
		}
	}
	d.IsToday = d.Day == today
	if n := r.URL.Query().Get("kvitterad"); n != "" {
		if p, _, _, ok := cases.ParseNumber(n); ok && p == CasePrefix {
			d.Done = n
		}
	}
	all, err := m.env.Cases.ListByModule(ctx, ID, cases.Filter{Limit: cases.MaxListLimit})
	if err != nil {
		m.failErr(w, r, "list cases", err)
		return
	}
	for _, c := range all {
		it, ok := decode(c)
		if !ok || staffRole(r, it.Report.Scope) == "" {
			continue
		}
		inDay, pending := it.Report.covers(d.Day), it.Decidable()
		if !inDay && !pending {
			continue
		}
		if it.Report.Protected {
			if err := m.record(ctx, staffRole(r, it.Report.Scope), actionListed, c.Subject, "case:"+c.Number, audit.Success,
				map[string]string{"protected": "true"}); err != nil {
				m.failErr(w, r, "audit", err)
				return
			}
		}
		if err := m.withDecision(ctx, &it); err != nil {
			m.failErr(w, r, "get case", err)
			return
		}
		if inDay {
			d.Reports = append(d.Reports, it)
		}
		if pending {
			d.Pending = append(d.Pending, it)
		}
	}
	// Oldest first: the order in which the school works through them.
	sort.SliceStable(d.Reports, func(i, j int) bool { return d.Reports[i].Case.CreatedAt.Before(d.Reports[j].Case.CreatedAt) })
	sort.SliceStable(d.Pending, func(i, j int) bool { return d.Pending[i].Report.From < d.Pending[j].Report.From })
	m.env.Render(w, r, http.StatusOK, "staff_list.html", "skolfranvaro.staff.title", d)
}

// staffItem returns the case of the request's {number} and the role to act
// in, if the staff member handles the case's school. Anything else is
// audited as denied and answered as a missing case, so that a school
// cannot even learn that another school's, or a protected child's, case
// exists.
func (m *Module) staffItem(w http.ResponseWriter, r *http.Request) (item, string, bool) {
	it, err := m.caseByNumber(r.Context(), r.PathValue("number"))
	if err != nil {
		m.failErr(w, r, "get case", err)
		return item{}, "", false
	}
	role := staffRole(r, it.Report.Scope)
	if role == "" {
		m.deny(r, staffRoles(r), it.Case.Subject, "case:"+it.Case.Number, "other_school")
		m.fail(w, r, http.StatusNotFound, "error.404")
		return item{}, "", false
	}
	return it, role, true
}

// staffCaseData is the school's view of one case.
type staffCaseData struct {
	Item     item
	Child    string // the child's personal identity number
	Messages []message
	Problems problems
	Errors   map[string]string
	Decision string
	Message  string
}

func (m *Module) staffCase(w http.ResponseWriter, r *http.Request) {
	it, role, ok := m.staffItem(w, r)
	if !ok {
		return
	}
	m.showStaffCase(w, r, it, role, staffCaseData{}, http.StatusOK)
}

// showStaffCase audits the read and shows the case; it shows nothing when
// the read cannot be audited.
func (m *Module) showStaffCase(w http.ResponseWriter, r *http.Request, it item, role string, d staffCaseData, status int) {
	ctx := r.Context()
	detail := map[string]string{}
	if it.Report.Protected {
		detail["protected"] = "true"
	}
	if err := m.record(ctx, role, actionViewed, it.Case.Subject, "case:"+it.Case.Number, audit.Success, detail); err != nil {
		m.failErr(w, r, "audit", err)
		return
	}
	msgs, err := m.visibleMessages(ctx, it.Case.ID)
	if err != nil {
		m.failErr(w, r, "messages", err)
		return
	}
	d.Item, d.Child, d.Messages, d.Errors = it, it.Case.Subject, msgs, d.Problems.byField()
	m.env.Render(w, r, status, "staff_case.html", "skolfranvaro.staffcase.title", d)
}

// acknowledge closes an absence report: the school has taken note of it.
// The history note tells the guardian, on Mina sidor and here.
func (m *Module) acknowledge(w http.ResponseWriter, r *http.Request) {
	it, role, ok := m.staffItem(w, r)
	if !ok {
		return
	}
	if !it.Acknowledgeable() {
		m.fail(w, r, http.StatusConflict, "skolfranvaro.error.conflict")
		return
	}
	if _, err := m.env.Cases.SetStatus(r.Context(), it.Case.ID, cases.Closed, noteAcknowledged, eservices.CaseActor(r, role)); err != nil {
		m.failErr(w, r, "acknowledge", err)
		return
	}
	back := url.Values{"kvitterad": {it.Case.Number}}
	if day, ok := parseDay(r.PostFormValue("datum")); ok {
		back.Set("datum", day.Format(dateLayout))
	}
	http.Redirect(w, r, base+"?"+back.Encode(), http.StatusSeeOther)
}

// decide approves or rejects a leave request. The status change comes
// first: it refuses a second decision (ErrConflict) before any message is
// written. The decision reaches the guardian as the status, its history
// note and a message on the case; the case store offers no mail for
// decisions, so none is sent.
func (m *Module) decide(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	it, role, ok := m.staffItem(w, r)
	if !ok {
		return
	}
	if !it.Decidable() {
		m.fail(w, r, http.StatusConflict, "skolfranvaro.error.conflict")
		return
	}
	d := staffCaseData{Decision: r.PostFormValue("beslut"), Message: strings.TrimSpace(r.PostFormValue("meddelande"))}
	var p problems
	if d.Decision != decisionApproved && d.Decision != decisionRejected {
		p.add("beslut", "skolfranvaro.err.decision_required")
	}
	switch {
	case d.Message == "" && d.Decision == decisionRejected:
		p.add("meddelande", "skolfranvaro.err.decision_message_required")
	case !validText(d.Message, maxDecisionLen):
		p.add("meddelande", "skolfranvaro.err.decision_message_invalid")
	}
	if len(p) > 0 {
		d.Problems = p
		m.showStaffCase(w, r, it, role, d, http.StatusUnprocessableEntity)
		return
	}
	note, body := noteApproved, "Beslut: ledigheten beviljas.\nDecision: the leave is approved."
	if d.Decision == decisionRejected {
		note, body = noteRejected, "Beslut: ledigheten beviljas inte.\nDecision: the leave is not approved."
	}
	if d.Message != "" {
		body += "\n\n" + d.Message
	}
	by := eservices.CaseActor(r, role)
	if _, err := m.env.Cases.SetStatus(r.Context(), it.Case.ID, cases.Decided, note, by); err != nil {
		m.failErr(w, r, "decide", err)
		return
	}
	if _, err := m.env.Cases.AddMessage(r.Context(), it.Case.ID, cases.NewMessage{Direction: cases.ToCitizen, Body: body}, by); err != nil {
		// The decision stands (status and note); the handler sees the
		// message missing on the case page and can write again.
		m.failErr(w, r, "decision message", err)
		return
	}
	http.Redirect(w, r, base+"arende/"+url.PathEscape(it.Case.Number), http.StatusSeeOther)
}
