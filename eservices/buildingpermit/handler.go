package buildingpermit

import (
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/civicgate/civicgate/auth"
	"github.com/civicgate/civicgate/eservices/cases"
)

// The decisions a handler records.
const (
	DecisionApproved               = "approved"
	DecisionApprovedWithConditions = "approved_with_conditions"
	DecisionRejected               = "rejected"
)

// Decisions lists the decisions in the order the form shows them.
var Decisions = []string{DecisionApproved, DecisionApprovedWithConditions, DecisionRejected}

// decisionLabel heads the decision message. Messages are stored as text
// in one form for every reader, so the label is in both languages.
var decisionLabel = map[string]string{
	DecisionApproved:               "Beslut: Bygglov beviljas / Decision: Permit granted",
	DecisionApprovedWithConditions: "Beslut: Bygglov beviljas med villkor / Decision: Permit granted with conditions",
	DecisionRejected:               "Beslut: Ansökan avslås / Decision: Application rejected",
}

// The history notes the module writes (shown translated to the applicant).
const (
	noteSupplementRequested = "supplement_requested"
	noteSupplement          = "supplement"
	noteDecisionPrefix      = "decision:"
)

// handlerList shows the handler the submitted applications, newest first.
// It shows no personal identity numbers: the list is not audited, the
// case page is.
func (m *Module) handlerList(w http.ResponseWriter, r *http.Request) {
	f := cases.Filter{Limit: 200}
	if s := cases.Status(r.URL.Query().Get("status")); s.Valid() && s != cases.Draft {
		f.Statuses = []cases.Status{s}
	}
	list, err := m.env.Cases.ListByModule(r.Context(), ID, f)
	if err != nil {
		m.storeError(w, r, err)
		return
	}
	rows := make([]caseRow, 0, len(list))
	for _, cs := range list {
		if cs.Status == cases.Draft || !cs.PurgedAt.IsZero() {
			continue
		}
		rows = append(rows, rowOf(cs))
	}
	m.env.Render(w, r, http.StatusOK, "handler_list.html", "bygglov.handler.title", rows)
}

// renderHandlerCase shows a case to a handler after recording the read;
// when the audit log cannot record it, the case is not shown.
func (m *Module) renderHandlerCase(w http.ResponseWriter, r *http.Request, cs *cases.Case, status int, form func(*caseData)) {
	if err := m.recordView(r, cs, nil); err != nil {
		m.env.Log.ErrorContext(r.Context(), "audit failed; case not shown", "err", err)
		w.Header().Set("Retry-After", "5")
		m.problem(w, r, http.StatusServiceUnavailable, "error.503")
		return
	}
	d, err := m.caseData(r, cs)
	if err != nil {
		m.storeError(w, r, err)
		return
	}
	d.ApplicantPNR = cs.Owner
	if auth.ValidPersonalNumber(cs.Owner) {
		// The register shows a protected person minimised; a failed
		// lookup leaves the name out rather than stopping the handler.
		if p, err := m.env.Population.Person(r.Context(), cs.Owner); err == nil {
			d.ApplicantName = p.DisplayName()
		}
	}
	d.Handler = true
	d.CanStart = cs.Status == cases.Received
	d.CanRequest = cases.CanTransition(cs.Status, cases.AwaitingSupplement)
	d.CanDecide = cases.CanTransition(cs.Status, cases.Decided)
	d.CanClose = cs.Status == cases.Decided
	d.Decisions = Decisions
	if form != nil {
		form(&d)
	}
	d.Summary = d.Errors.summary([]string{"supplement-request", "decision", "decision-text"})
	m.env.Render(w, r, status, "case.html", "bygglov.handle.title", d)
}

// transition checks that cs may move to to, answering 409 with the case's
// status when it may not.
func (m *Module) transition(w http.ResponseWriter, r *http.Request, cs *cases.Case, to cases.Status) bool {
	if cases.CanTransition(cs.Status, to) {
		return true
	}
	key := "bygglov.err.transition." + string(to)
	m.problemWithStatus(w, r, http.StatusConflict, key, statusKey(cs.Status))
	return false
}

// handlerText reads a required text field of a handler form.
func handlerText(r *http.Request, field string, fe fieldErrors) string {
	t := strings.TrimSpace(strings.ReplaceAll(r.PostFormValue(field), "\r\n", "\n"))
	switch {
	case t == "":
		fe.set(field, "bygglov.err.text.required")
	case len([]rune(t)) > MaxDescriptionLen:
		fe.set(field, "bygglov.err.message.long")
	case !printableText(t):
		fe.set(field, "bygglov.err.description.chars")
	}
	return t
}

// startHandling moves a received case to in progress.
func (m *Module) startHandling(w http.ResponseWriter, r *http.Request) {
	cs, ok := m.load(w, r)
	if !ok || !m.transition(w, r, cs, cases.InProgress) {
		return
	}
	if _, err := m.env.Cases.SetStatus(r.Context(), cs.ID, cases.InProgress, "", m.by(r)); err != nil {
		m.storeError(w, r, err)
		return
	}
	seeOther(w, r, "/arende/"+cs.ID+"?klart=paborjad")
}

// requestSupplement tells the applicant what is missing and sets the case
// to await it. The message is the notification: the case store sends
// mail only on submission, and the applicant sees the message on the case
// page and on Mina sidor.
func (m *Module) requestSupplement(w http.ResponseWriter, r *http.Request) {
	cs, ok := m.load(w, r)
	if !ok || !m.transition(w, r, cs, cases.AwaitingSupplement) {
		return
	}
	fe := fieldErrors{}
	text := handlerText(r, "supplement-request", fe)
	if len(fe) > 0 {
		m.renderHandlerCase(w, r, cs, http.StatusUnprocessableEntity, func(d *caseData) { d.Errors, d.RequestText = fe, text })
		return
	}
	ctx, by := r.Context(), m.by(r)
	if _, err := m.env.Cases.AddMessage(ctx, cs.ID, cases.NewMessage{Direction: cases.ToCitizen, Body: text}, by); err != nil {
		m.storeError(w, r, err)
		return
	}
	if _, err := m.env.Cases.SetStatus(ctx, cs.ID, cases.AwaitingSupplement, noteSupplementRequested, by); err != nil {
		m.storeError(w, r, err)
		return
	}
	seeOther(w, r, "/arende/"+cs.ID+"?klart=begaran")
}

// decide records the decision: its text as a message to the applicant,
// then the status decided with the decision in the history.
func (m *Module) decide(w http.ResponseWriter, r *http.Request) {
	cs, ok := m.load(w, r)
	if !ok || !m.transition(w, r, cs, cases.Decided) {
		return
	}
	fe := fieldErrors{}
	decision := r.PostFormValue("decision")
	if !slices.Contains(Decisions, decision) {
		fe.set("decision", "bygglov.err.decision.required")
		decision = ""
	}
	text := handlerText(r, "decision-text", fe)
	if len(fe) > 0 {
		m.renderHandlerCase(w, r, cs, http.StatusUnprocessableEntity, func(d *caseData) {
			d.Errors, d.Decision, d.DecisionText = fe, decision, text
		})
		return
	}
	ctx, by := r.Context(), m.by(r)
	body := decisionLabel[decision] + "\n\n" + text
	if _, err := m.env.Cases.AddMessage(ctx, cs.ID, cases.NewMessage{Direction: cases.ToCitizen, Body: body}, by); err != nil {
		m.storeError(w, r, err)
		return
	}
	if _, err := m.env.Cases.SetStatus(ctx, cs.ID, cases.Decided, noteDecisionPrefix+decision, by); err != nil {
		m.storeError(w, r, err)
		return
	}
	seeOther(w, r, "/arende/"+cs.ID+"?klart=beslut")
}

// closeCase closes a decided case; it can then not change again.
func (m *Module) closeCase(w http.ResponseWriter, r *http.Request) {
	cs, ok := m.load(w, r)
	if !ok {
		return
	}
	if cs.Status != cases.Decided {
		m.problemWithStatus(w, r, http.StatusConflict, "bygglov.err.transition.closed", statusKey(cs.Status))
		return
	}
	if _, err := m.env.Cases.SetStatus(r.Context(), cs.ID, cases.Closed, "", m.by(r)); err != nil {
		m.storeError(w, r, err)
		return
	}
	seeOther(w, r, "/arende/"+cs.ID+"?klart=avslutad")
}

// download sends one attachment of a case to its applicant or a handler
// (a staff read, audited before a byte is sent). The type is the one
// detected from the bytes at upload, the file is always a download, and
// the browser is told not to guess another type.
func (m *Module) download(w http.ResponseWriter, r *http.Request) {
	cs, ok := m.load(w, r)
	if !ok {
		return
	}
	c := callerFrom(r.Context())
	atts, err := m.env.Cases.Attachments(r.Context(), cs.ID)
	if err != nil {
		m.storeError(w, r, err)
		return
	}
	i := slices.IndexFunc(atts, func(a cases.Attachment) bool { return a.ID == r.PathValue("aid") })
	if i < 0 {
		m.problem(w, r, http.StatusNotFound, "error.404")
		return
	}
	a := atts[i]
	if c.actor.IsStaff() {
		if err := m.recordView(r, cs, map[string]string{"attachment": a.ID}); err != nil {
			m.env.Log.ErrorContext(r.Context(), "audit failed; attachment not sent", "err", err)
			w.Header().Set("Retry-After", "5")
			m.problem(w, r, http.StatusServiceUnavailable, "error.503")
			return
		}
	}
	rc, err := m.env.Blobs.Open(r.Context(), a.BlobKey)
	if err != nil {
		m.storeError(w, r, err)
		return
	}
	defer func() { _ = rc.Close() }()
	h := w.Header()
	h.Set("Content-Type", a.ContentType)
	h.Set("Content-Disposition", contentDisposition(downloadName(a.Name, a.ContentType)))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.FormatInt(a.Size, 10))
	w.WriteHeader(http.StatusOK)
	if _, err := io.Copy(w, rc); err != nil {
		m.env.Log.WarnContext(r.Context(), "sending attachment failed", "err", err)
	}
}
