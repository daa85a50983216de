package schoolabsence

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/civicgate/civicgate/auth"
	"github.com/civicgate/civicgate/eservices"
	"github.com/civicgate/civicgate/eservices/cases"
	"github.com/civicgate/civicgate/eservices/population"
	"github.com/civicgate/civicgate/gateway/audit"
)

// The audit actions this module records itself; case changes are audited
// by the case store.
const (
	actionViewed = "case.viewed"
	actionListed = "case.listed"
	actionDenied = "case.denied"
)

var stockholm = func() *time.Location {
	l, err := time.LoadLocation("Europe/Stockholm")
	if err != nil {
		return time.FixedZone("CET", 3600)
	}
	return l
}()

// today returns the date in Sweden as midnight UTC, so that dates compare
// and add by whole days.
func (m *Module) today() time.Time {
	n := m.env.Now().In(stockholm)
	return time.Date(n.Year(), n.Month(), n.Day(), 0, 0, 0, 0, time.UTC)
}

const dateLayout = "2006-01-02"

func parseDay(s string) (time.Time, bool) {
	t, err := time.Parse(dateLayout, s)
	return t, err == nil
}

type errorData struct {
	Heading, Message string
}

// fail renders the error page; 5xx keys come from the site catalogue.
func (m *Module) fail(w http.ResponseWriter, r *http.Request, status int, key string) {
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	m.env.Render(w, r, status, "error.html", "error.title", errorData{Heading: "error.title", Message: key})
}

// failErr turns an error of the case store, the register or the audit log
// into a page, logging what went wrong without personal data.
func (m *Module) failErr(w http.ResponseWriter, r *http.Request, op string, err error) {
	switch {
	case errors.Is(err, cases.ErrNotFound):
		m.fail(w, r, http.StatusNotFound, "error.404")
	case errors.Is(err, cases.ErrConflict):
		m.fail(w, r, http.StatusConflict, "skolfranvaro.error.conflict")
	case errors.Is(err, cases.ErrInvalid):
		m.fail(w, r, http.StatusBadRequest, "error.400")
	default:
		// Errors of the store, register and audit log never carry a
		// personal identity number (their contracts say so).
		m.env.Log.ErrorContext(r.Context(), "school absence: "+op+" failed", "err", err, "request_id", eservices.RequestID(r.Context()))
		m.fail(w, r, http.StatusServiceUnavailable, "error.503")
	}
}

// record writes an audit event of this module's actor. Its error must be
// handled: reads of a case fail closed when they cannot be audited.
func (m *Module) record(ctx context.Context, role, action, subject, resource, outcome string, detail map[string]string) error {
	a := eservices.ActorFrom(ctx)
	if detail == nil {
		detail = map[string]string{}
	}
	detail["module"] = ID
	return m.env.Audit.Record(ctx, audit.Event{
		RequestID: eservices.RequestID(ctx), Actor: a.Key(), ActorRole: role, Subject: subject,
		Action: action, Resource: resource, Outcome: outcome, Detail: detail,
	})
}

// deny audits a refused attempt. The refusal stands even if the audit log
// is down, so its error is only logged.
func (m *Module) deny(r *http.Request, role, subject, resource, reason string) {
	if !auth.ValidPersonalNumber(subject) {
		subject = ""
	}
	if err := m.record(r.Context(), role, actionDenied, subject, resource, audit.Denied, map[string]string{"reason": reason}); err != nil {
		m.env.Log.ErrorContext(r.Context(), "school absence: audit of a denied access failed", "err", err)
	}
}

// citizenRole is the role the guardian side acts in.
func citizenRole(r *http.Request) string {
	if a := eservices.ActorFrom(r.Context()); a != nil && a.Kind == eservices.ContactCentre {
		return string(eservices.ContactCentre)
	}
	return string(eservices.Guardian)
}

// children returns the living children in the guardian's custody. An
// unknown guardian has none.
func (m *Module) children(ctx context.Context, guardian string) ([]population.Person, error) {
	cs, err := m.env.Population.Children(ctx, guardian)
	if errors.Is(err, population.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := cs[:0]
	for _, c := range cs {
		if !c.Deceased {
			out = append(out, c)
		}
	}
	return out, nil
}

// isGuardianOf reports whether guardian has custody of child now.
func (m *Module) isGuardianOf(ctx context.Context, guardian, child string) (bool, error) {
	gs, err := m.env.Population.Guardians(ctx, child)
	if errors.Is(err, population.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	for _, g := range gs {
		if g.PersonalNumber == guardian {
			return true, nil
		}
	}
	return false, nil
}

// caseByNumber returns one of this module's cases by its number, or
// cases.ErrNotFound for anything else, so that a page never tells another
// module's cases from missing ones.
func (m *Module) caseByNumber(ctx context.Context, number string) (item, error) {
	if p, _, _, ok := cases.ParseNumber(number); !ok || p != CasePrefix {
		return item{}, cases.ErrNotFound
	}
	c, err := m.env.Cases.GetByNumber(ctx, number)
	if err != nil {
		return item{}, err
	}
	it, ok := decode(*c)
	if !ok {
		return item{}, cases.ErrNotFound
	}
	return it, nil
}

// withDecision fills in the decision of a decided leave request from a
// list, whose cases come without their history.
func (m *Module) withDecision(ctx context.Context, it *item) error {
	if it.Report.Kind != kindLeave || it.Decision != "" || (it.Case.Status != cases.Decided && it.Case.Status != cases.Closed) {
		return nil
	}
	c, err := m.env.Cases.Get(ctx, it.Case.ID)
	if err != nil {
		return err
	}
	it.Decision = decisionOf(c)
	return nil
}

// message is a case message as the pages show it: its paragraphs as
// lines, since the pages may not style whitespace inline.
type message struct {
	Time  time.Time
	Lines []string
}

// visibleMessages returns the messages a citizen may read, oldest first:
// internal notes are left out.
func (m *Module) visibleMessages(ctx context.Context, caseID string) ([]message, error) {
	ms, err := m.env.Cases.Messages(ctx, caseID)
	if err != nil {
		return nil, err
	}
	var out []message
	for _, msg := range ms {
		if msg.Direction == cases.Internal {
			continue
		}
		var lines []string
		for _, l := range strings.Split(strings.ReplaceAll(msg.Body, "\r\n", "\n"), "\n") {
			if l = strings.TrimSpace(l); l != "" {
				lines = append(lines, l)
			}
		}
		out = append(out, message{Time: msg.Time, Lines: lines})
	}
	return out, nil
}
