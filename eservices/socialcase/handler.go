package socialcase

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/civicgate/civicgate/auth"
	"github.com/civicgate/civicgate/eservices"
	"github.com/civicgate/civicgate/eservices/cases"
	"github.com/civicgate/civicgate/gateway/audit"
)

// The decisions a handler can make, and the largest amount one decision
// may grant (far above any monthly norm, to catch typing errors).
var decisions = []string{"granted", "partial", "rejected"}

const maxGrant = 500_000

// decisionSv is the Swedish wording of each decision in the decision text.
var decisionSv = map[string]string{
	"granted":  "Beviljas",
	"partial":  "Beviljas delvis",
	"rejected": "Avslås",
}

// caseFor finds the case a request names and decides, by actor, what the
// requester may see. It writes the answer and returns ok false for
// everyone who may not see the content: 404 for citizens who do not own
// it (as if it did not exist), 403 and "case.denied" for staff who do not
// handle social services cases.
func (m *Module) caseFor(w http.ResponseWriter, r *http.Request) (*cases.Case, who, bool) {
	side := m.classify(eservices.ActorFrom(r.Context()))
	if side == citizen {
		c, ok := m.ownCase(w, r)
		return c, side, ok
	}
	number := r.PathValue("number")
	c, err := m.env.Cases.GetByNumber(r.Context(), number)
	if err != nil && !errors.Is(err, cases.ErrNotFound) {
		m.storeFailed(w, r, "get case", err)
		return nil, side, false
	}
	ours := err == nil && c.ModuleID == ID && c.Status != cases.Draft
	if side != handler {
		subject := ""
		if ours {
			subject = c.Owner
		}
		m.deny(w, r, "case:"+number, subject)
		return nil, side, false
	}
	if !ours {
		m.fail(w, r, http.StatusNotFound)
		return nil, side, false
	}
	return c, side, true
}

// viewed records a handler's read of a case's content as action
// ("case.viewed", or "attachment.downloaded" for a file). The caller shows
// nothing when it fails: a read that cannot be audited is not made.
func (m *Module) viewed(r *http.Request, c *cases.Case, action string, detail map[string]string) error {
	return m.env.Audit.Record(r.Context(), audit.Event{
		RequestID: eservices.RequestID(r.Context()),
		Actor:     eservices.ActorFrom(r.Context()).Key(),
		ActorRole: HandlerRole,
		Subject:   c.Owner,
		Action:    action,
		Resource:  "case:" + c.Number,
		Outcome:   audit.Success,
		Detail:    detail,
	})
}

func (m *Module) casePage(w http.ResponseWriter, r *http.Request) {
	c, side, ok := m.caseFor(w, r)
	if !ok {
		return
	}
	if side == citizen {
		m.citizenCase(w, r, c, http.StatusOK, "", nil)
		return
	}
	m.handlerCase(w, r, c, http.StatusOK, nil, nil)
}

// attachment sends a file of a case to its applicant or to a handler (an
// audited read). The stored name is only shown, never used as a path.
func (m *Module) attachment(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	c, side, ok := m.caseFor(w, r)
	if !ok {
		return
	}
	atts, err := m.env.Cases.Attachments(ctx, c.ID)
	if err != nil {
		m.storeFailed(w, r, "attachments", err)
		return
	}
	var att *cases.Attachment
	for i := range atts {
		if atts[i].ID == r.PathValue("att") {
			att = &atts[i]
		}
	}
	if att == nil {
		m.fail(w, r, http.StatusNotFound)
		return
	}
	if side == handler {
		if err := m.viewed(r, c, "attachment.downloaded", map[string]string{"attachment": att.ID}); err != nil {
			m.env.Log.ErrorContext(ctx, "audit log unavailable: attachment not shown", "err", err)
			m.fail(w, r, http.StatusServiceUnavailable)
			return
		}
	}
	rc, err := m.env.Blobs.Open(ctx, att.BlobKey)
	if err != nil {
		m.storeFailed(w, r, "open attachment", err)
		return
	}
	defer rc.Close()
	h := w.Header()
	h.Set("Content-Type", att.ContentType)
	h.Set("Content-Disposition", "attachment; filename*=UTF-8''"+url.PathEscape(att.Name))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	_, _ = io.Copy(w, rc)
}

// queue lists the applications that await handling, and the latest
// decided ones, with nothing of their content.
func (m *Module) queue(w http.ResponseWriter, r *http.Request) {
	open, err := m.env.Cases.ListByModule(r.Context(), ID, cases.Filter{Statuses: []cases.Status{cases.Received, cases.InProgress, cases.AwaitingSupplement}})
	if err != nil {
		m.storeFailed(w, r, "queue", err)
		return
	}
	decided, err := m.env.Cases.ListByModule(r.Context(), ID, cases.Filter{Statuses: []cases.Status{cases.Decided}, Limit: 20})
	if err != nil {
		m.storeFailed(w, r, "queue", err)
		return
	}
	items := func(cs []cases.Case) []caseItem {
		var out []caseItem
		for _, c := range cs {
			out = append(out, caseItem{ID: c.ID, Number: c.Number, Title: c.Title, Status: c.Status, Submitted: c.SubmittedAt, Updated: c.UpdatedAt, Applicant: auth.MaskPersonalNumber(c.Owner)})
		}
		return out
	}
	m.env.Render(w, r, http.StatusOK, "queue.html", ID+".queue.title", map[string]any{"Open": items(open), "Decided": items(decided)})
}

// handlerForm is what a handler typed in one of the case page's forms.
type handlerForm struct {
	Request    string
	Decision   string
	Amount     string
	Motivation string
}

// handlerCasePage is the data of handle.html.
type handlerCasePage struct {
	Case        *cases.Case
	PNR         string
	Summary     summary
	Messages    []messageView
	Decision    *messageView
	Attachments []cases.Attachment
	Form        handlerForm
	Errors      []fieldError
	Decisions   []string
	CanStart    bool
	CanRequest  bool
	CanDecide   bool
}

// Err returns the message key of field's problem, or "".
func (p handlerCasePage) Err(field string) string {
	for _, e := range p.Errors {
		if e.Field == field {
			return e.Key
		}
	}
	return ""
}

// handlerCase shows a case to a handler; every showing is a read and is
// audited first.
func (m *Module) handlerCase(w http.ResponseWriter, r *http.Request, c *cases.Case, status int, f *handlerForm, errs []fieldError) {
	ctx := r.Context()
	if err := m.viewed(r, c, "case.viewed", nil); err != nil {
		m.env.Log.ErrorContext(ctx, "audit log unavailable: case not shown", "err", err)
		m.fail(w, r, http.StatusServiceUnavailable)
		return
	}
	app, msgs, atts, ok := m.loadCase(w, r, c)
	if !ok {
		return
	}
	views := viewMessages(msgs, true)
	p := handlerCasePage{
		Case: c, PNR: formatPNR(c.Owner), Summary: summarize(app), Messages: views, Decision: lastDecision(views),
		Attachments: atts, Errors: errs, Decisions: decisions,
		CanStart:   cases.CanTransition(c.Status, cases.InProgress),
		CanRequest: c.Status == cases.Received || c.Status == cases.InProgress || c.Status == cases.AwaitingSupplement,
		CanDecide:  cases.CanTransition(c.Status, cases.Decided),
	}
	if f != nil {
		p.Form = *f
	}
	m.env.Render(w, r, status, "handle.html", ID+".handle.title", p)
}

// formatPNR writes a personnummer as YYYYMMDD-NNNC for the audited case
// page; other keys are shown as they are.
func formatPNR(key string) string {
	if auth.ValidPersonalNumber(key) {
		return key[:8] + "-" + key[8:]
	}
	return key
}

func (m *Module) startHandling(w http.ResponseWriter, r *http.Request) {
	c, _, ok := m.caseFor(w, r)
	if !ok {
		return
	}
	if cases.CanTransition(c.Status, cases.InProgress) {
		if _, err := m.env.Cases.SetStatus(r.Context(), c.ID, cases.InProgress, "", eservices.CaseActor(r, HandlerRole)); err != nil && !errors.Is(err, cases.ErrConflict) {
			m.storeFailed(w, r, "status", err)
			return
		}
	}
	http.Redirect(w, r, modURL("/arende/"+c.Number), http.StatusSeeOther)
}

// requestSupplement sends the applicant a message saying what is missing
// and waits for their answer (awaiting_supplement).
func (m *Module) requestSupplement(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	c, _, ok := m.caseFor(w, r)
	if !ok {
		return
	}
	if !m.parseBody(w, r) {
		return
	}
	f := handlerForm{Request: strings.ReplaceAll(strings.TrimSpace(r.PostForm.Get("request")), "\r\n", "\n")}
	var errs []fieldError
	switch {
	case !c.Status.Open():
		errs = append(errs, fieldError{"request", "err.request.closed"})
	case f.Request == "":
		errs = append(errs, fieldError{"request", "err.request.required"})
	case utf8.RuneCountInString(f.Request) > maxOtherLen || !text(f.Request):
		errs = append(errs, fieldError{"request", "err.request.invalid"})
	}
	if len(errs) > 0 {
		m.handlerCase(w, r, c, http.StatusUnprocessableEntity, &f, errs)
		return
	}
	by := eservices.CaseActor(r, HandlerRole)
	if _, err := m.env.Cases.AddMessage(ctx, c.ID, cases.NewMessage{Direction: cases.ToCitizen, Body: f.Request}, by); err != nil {
		m.storeFailed(w, r, "request supplement", err)
		return
	}
	if c.Status != cases.AwaitingSupplement {
		if _, err := m.env.Cases.SetStatus(ctx, c.ID, cases.AwaitingSupplement, "", by); err != nil {
			m.storeFailed(w, r, "status", err)
			return
		}
	}
	http.Redirect(w, r, modURL("/arende/"+c.Number), http.StatusSeeOther)
}

// decide records a decision: the decision text goes to the applicant as a
// message, and the case becomes decided. The status note stays empty so
// that the outcome is not shown where only the status may be.
func (m *Module) decide(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	c, _, ok := m.caseFor(w, r)
	if !ok {
		return
	}
	if !m.parseBody(w, r) {
		return
	}
	f := handlerForm{
		Decision:   r.PostForm.Get("decision"),
		Amount:     strings.TrimSpace(r.PostForm.Get("amount")),
		Motivation: strings.ReplaceAll(strings.TrimSpace(r.PostForm.Get("motivation")), "\r\n", "\n"),
	}
	var errs []fieldError
	if !cases.CanTransition(c.Status, cases.Decided) {
		errs = append(errs, fieldError{"decision-" + decisions[0], "err.decision.closed"})
	}
	if !contains(decisions, f.Decision) {
		errs = append(errs, fieldError{"decision-" + decisions[0], "err.decision.required"})
	}
	amount, key := parseAmount(f.Amount, maxGrant)
	switch {
	case key != "":
		errs = append(errs, fieldError{"amount", key})
	case f.Decision == "rejected" && amount != 0:
		errs = append(errs, fieldError{"amount", "err.amount.rejected"})
	case (f.Decision == "granted" || f.Decision == "partial") && amount == 0:
		errs = append(errs, fieldError{"amount", "err.amount.required"})
	}
	switch {
	case f.Motivation == "":
		errs = append(errs, fieldError{"motivation", "err.motivation.required"})
	case utf8.RuneCountInString(f.Motivation) > maxOtherLen || !text(f.Motivation):
		errs = append(errs, fieldError{"motivation", "err.motivation.invalid"})
	}
	if len(errs) > 0 {
		m.handlerCase(w, r, c, http.StatusUnprocessableEntity, &f, errs)
		return
	}
	var app Application
	_ = json.Unmarshal(c.Content, &app)
	by := eservices.CaseActor(r, HandlerRole)
	if _, err := m.env.Cases.AddMessage(ctx, c.ID, cases.NewMessage{Direction: cases.ToCitizen, Body: decisionText(app.Month, f.Decision, amount, f.Motivation)}, by); err != nil {
		m.storeFailed(w, r, "decision", err)
		return
	}
	if _, err := m.env.Cases.SetStatus(ctx, c.ID, cases.Decided, "", by); err != nil {
		m.storeFailed(w, r, "status", err)
		return
	}
	http.Redirect(w, r, modURL("/arende/"+c.Number), http.StatusSeeOther)
}

// decisionText is the decision as the applicant receives it. Decisions are
// written in Swedish, the language of the municipality's records.
func decisionText(month, decision string, amount int64, motivation string) string {
	var b strings.Builder
	b.WriteString(decisionHeader + " för " + month + "\n")
	b.WriteString("Beslut: " + decisionSv[decision] + "\n")
	if decision != "rejected" {
		b.WriteString("Belopp: " + formatSEK(amount) + " kr\n")
	}
	b.WriteString("Motivering: " + motivation + "\n")
	b.WriteString("Du kan överklaga beslutet till förvaltningsrätten inom tre veckor från den dag du fick del av beslutet.")
	return b.String()
}
