package socialcase

import (
	"encoding/json"
	"errors"
	"mime/multipart"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/civicgate/civicgate/eservices"
	"github.com/civicgate/civicgate/eservices/cases"
)

// maxFormMemory is how much of a multipart form is held in memory; larger
// files spill to temporary files that the standard library removes.
const maxFormMemory = 8 << 20

// caseItem is a case as the lists show it: nothing of the content.
type caseItem struct {
	ID, Number, Title string
	Status            cases.Status
	Submitted         time.Time
	Updated           time.Time
	Applicant         string // masked personnummer, staff lists only
}

func (m *Module) citizenStart(w http.ResponseWriter, r *http.Request) {
	a := eservices.ActorFrom(r.Context())
	list, err := m.env.Cases.ListByOwner(r.Context(), a.Key())
	if err != nil {
		m.storeFailed(w, r, "list by owner", err)
		return
	}
	var drafts, submitted []caseItem
	for _, c := range list {
		if c.ModuleID != ID {
			continue
		}
		it := caseItem{ID: c.ID, Number: c.Number, Title: c.Title, Status: c.Status, Submitted: c.SubmittedAt, Updated: c.UpdatedAt}
		if c.Status == cases.Draft {
			drafts = append(drafts, it)
		} else {
			submitted = append(submitted, it)
		}
	}
	m.env.Render(w, r, http.StatusOK, "start.html", ID+".title", map[string]any{"Drafts": drafts, "Cases": submitted})
}

// formPage is the data of form.html.
type formPage struct {
	Form        *form
	Action      string
	Attachments []cases.Attachment
	MaxFiles    int
	MaxMB       int64
}

func (m *Module) newApplication(w http.ResponseWriter, r *http.Request) {
	m.env.Render(w, r, http.StatusOK, "form.html", ID+".form.title", formPage{Form: newForm(m.env.Now()), Action: modURL("/ansokan"), MaxFiles: maxFiles, MaxMB: m.uploadMB()})
}

// ownDraft returns the actor's draft id of this module, or writes 404.
func (m *Module) ownDraft(w http.ResponseWriter, r *http.Request, id string) (*cases.Case, bool) {
	c, err := m.env.Cases.Get(r.Context(), id)
	if err != nil && !errors.Is(err, cases.ErrNotFound) {
		m.storeFailed(w, r, "get draft", err)
		return nil, false
	}
	// Someone else's draft answers exactly like one that does not exist.
	if err != nil || c.ModuleID != ID || c.Status != cases.Draft || c.Owner != eservices.ActorFrom(r.Context()).Key() {
		m.fail(w, r, http.StatusNotFound)
		return nil, false
	}
	return c, true
}

func (m *Module) editDraft(w http.ResponseWriter, r *http.Request) {
	c, ok := m.ownDraft(w, r, r.PathValue("id"))
	if !ok {
		return
	}
	var app Application
	if err := json.Unmarshal(c.Content, &app); err != nil {
		m.storeFailed(w, r, "read draft", errors.New("content is not an application"))
		return
	}
	atts, err := m.env.Cases.Attachments(r.Context(), c.ID)
	if err != nil {
		m.storeFailed(w, r, "attachments", err)
		return
	}
	m.env.Render(w, r, http.StatusOK, "form.html", ID+".form.title", formPage{
		Form: formFrom(app, m.env.Now()), Action: modURL("/ansokan/" + c.ID), Attachments: atts, MaxFiles: maxFiles, MaxMB: m.uploadMB(),
	})
}

// parseBody parses a url-encoded or multipart form; it writes the error
// page and returns false when the body cannot be read.
func (m *Module) parseBody(w http.ResponseWriter, r *http.Request) bool {
	err := r.ParseMultipartForm(maxFormMemory)
	if errors.Is(err, http.ErrNotMultipart) {
		err = r.ParseForm()
	}
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			m.fail(w, r, http.StatusRequestEntityTooLarge)
			return false
		}
		http.Error(w, "Bad Request", http.StatusBadRequest)
		return false
	}
	return true
}

// uploadLimit is the largest file accepted: the municipality's setting,
// or the case store's default.
func (m *Module) uploadLimit() int64 {
	if m.env.MaxUploadBytes > 0 {
		return m.env.MaxUploadBytes
	}
	return cases.DefaultMaxUploadBytes
}

// uploadMB is uploadLimit in whole megabytes (at least 1), for the hints.
func (m *Module) uploadMB() int64 { return max(m.uploadLimit()>>20, 1) }

// uploads checks the files of field against cases.CheckUpload. Inputs left
// empty arrive as a part without name and bytes and are skipped.
func (m *Module) uploads(r *http.Request, field string) ([]cases.Upload, string) {
	if r.MultipartForm == nil {
		return nil, ""
	}
	var hs []*multipart.FileHeader
	for _, h := range r.MultipartForm.File[field] {
		if h.Filename == "" && h.Size == 0 {
			continue
		}
		hs = append(hs, h)
	}
	if len(hs) > maxFiles {
		return nil, "err.files.toomany"
	}
	var out []cases.Upload
	for _, h := range hs {
		f, err := h.Open()
		if err != nil {
			return nil, "err.file.unreadable"
		}
		u, err := cases.CheckUpload(h.Filename, f, m.uploadLimit())
		_ = f.Close()
		if err != nil {
			var ve *cases.ValidationError
			if !errors.As(err, &ve) || len(ve.Fields) == 0 {
				return nil, "err.file.unreadable"
			}
			switch p := ve.Fields[0].Problem; {
			case p == "empty":
				return nil, "err.file.empty"
			case strings.HasPrefix(p, "larger"):
				return nil, "err.file.toolarge"
			default:
				return nil, "err.file.type"
			}
		}
		out = append(out, u)
	}
	return out, ""
}

// saveApplication validates the form and keeps it as a draft with its
// files, then shows the summary to confirm. A draft, not a submitted case,
// because files cannot travel through a confirmation page without
// script.
func (m *Module) saveApplication(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	a := eservices.ActorFrom(ctx)
	var draft *cases.Case
	var existing []cases.Attachment
	action := modURL("/ansokan")
	if id := r.PathValue("id"); id != "" {
		var ok bool
		if draft, ok = m.ownDraft(w, r, id); !ok {
			return
		}
		var err error
		if existing, err = m.env.Cases.Attachments(ctx, draft.ID); err != nil {
			m.storeFailed(w, r, "attachments", err)
			return
		}
		action = modURL("/ansokan/" + draft.ID)
	}
	if !m.parseBody(w, r) {
		return
	}
	f, app := parseForm(r.PostForm, m.env.Now())
	ups, key := m.uploads(r, "attachments")
	if key == "" && len(existing)+len(ups) > cases.DefaultMaxAttachm {
		key = "err.files.toomany"
	}
	if key != "" {
		f.add("attachments", key)
	}
	if len(f.Errors) > 0 {
		m.env.Render(w, r, http.StatusUnprocessableEntity, "form.html", ID+".form.title", formPage{
			Form: f, Action: action, Attachments: existing, MaxFiles: maxFiles, MaxMB: m.uploadMB(),
		})
		return
	}
	app.ApplicantName = a.Identity.Name()
	content, err := json.Marshal(app)
	if err != nil {
		m.storeFailed(w, r, "encode", err)
		return
	}
	by := eservices.CaseActor(r, roleCitizen)
	title := caseTitle(app.Month)
	if draft == nil {
		draft, err = m.env.Cases.SaveDraft(ctx, cases.NewCase{
			ModuleID: ID, Prefix: Prefix, Owner: a.Key(), Subject: a.Key(), Channel: cases.EService,
			Title: title, Content: content,
		}, by)
	} else {
		draft, err = m.env.Cases.UpdateDraft(ctx, draft.ID, cases.DraftUpdate{Title: title, Content: content}, by)
	}
	if err != nil {
		m.storeFailed(w, r, "save draft", err)
		return
	}
	for _, u := range ups {
		if _, err := cases.Attach(ctx, m.env.Cases, m.env.Blobs, draft.ID, u, false, by); err != nil {
			m.storeFailed(w, r, "attach", err)
			return
		}
	}
	http.Redirect(w, r, modURL("/ansokan/"+draft.ID+"/granska"), http.StatusSeeOther)
}

// caseTitle is the case's summary line. It reveals nothing but the kind of
// matter and the month: lists outside social services show it.
func caseTitle(month string) string { return "Ansökan ekonomiskt bistånd " + month }

// summary is an application prepared for showing.
type summary struct {
	App           Application
	IncomeTotal   string
	ExpenseTotal  string
	Income        []amountField
	Expenses      []amountField
	OtherLines    []string
	HouseholdSize int
}

func summarize(app Application) summary {
	s := summary{App: app, IncomeTotal: formatSEK(Total(app.Income)), ExpenseTotal: formatSEK(Total(app.Expenses)), HouseholdSize: len(app.Household) + 1}
	for _, t := range incomeTypes {
		s.Income = append(s.Income, amountField{Type: t, Value: formatSEK(app.Income[t])})
	}
	for _, t := range expenseTypes {
		s.Expenses = append(s.Expenses, amountField{Type: t, Value: formatSEK(app.Expenses[t])})
	}
	s.OtherLines = lines(app.Other)
	return s
}

func lines(s string) []string {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// reviewPage is the data of confirm.html.
type reviewPage struct {
	ID          string
	Summary     summary
	Attachments []cases.Attachment
	Errors      []fieldError
	MonthStale  bool
}

// Err returns the message key of field's problem, or "".
func (p reviewPage) Err(field string) string {
	for _, e := range p.Errors {
		if e.Field == field {
			return e.Key
		}
	}
	return ""
}

func (m *Module) loadReview(w http.ResponseWriter, r *http.Request) (*cases.Case, *reviewPage, bool) {
	c, ok := m.ownDraft(w, r, r.PathValue("id"))
	if !ok {
		return nil, nil, false
	}
	var app Application
	if err := json.Unmarshal(c.Content, &app); err != nil {
		m.storeFailed(w, r, "read draft", errors.New("content is not an application"))
		return nil, nil, false
	}
	atts, err := m.env.Cases.Attachments(r.Context(), c.ID)
	if err != nil {
		m.storeFailed(w, r, "attachments", err)
		return nil, nil, false
	}
	p := &reviewPage{ID: c.ID, Summary: summarize(app), Attachments: atts, MonthStale: checkMonth(app.Month, m.env.Now()) != ""}
	return c, p, true
}

func (m *Module) review(w http.ResponseWriter, r *http.Request) {
	if _, p, ok := m.loadReview(w, r); ok {
		m.env.Render(w, r, http.StatusOK, "confirm.html", ID+".confirm.title", p)
	}
}

// submit submits a reviewed draft once the applicant confirms that the
// information is true. The month is checked again: a draft reviewed on the
// last day of a month may be submitted after it.
func (m *Module) submit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	c, p, ok := m.loadReview(w, r)
	if !ok {
		return
	}
	if !m.parseBody(w, r) {
		return
	}
	if r.PostForm.Get("consent") != "yes" {
		p.Errors = append(p.Errors, fieldError{"consent", "err.consent.required"})
	}
	if p.MonthStale {
		p.Errors = append(p.Errors, fieldError{"edit", "err.month.stale"})
	}
	if len(p.Errors) > 0 {
		m.env.Render(w, r, http.StatusUnprocessableEntity, "confirm.html", ID+".confirm.title", p)
		return
	}
	app := p.Summary.App
	app.Consent, app.ConsentAt = true, m.env.Now().UTC()
	content, err := json.Marshal(app)
	if err != nil {
		m.storeFailed(w, r, "encode", err)
		return
	}
	by := eservices.CaseActor(r, roleCitizen)
	if _, err := m.env.Cases.UpdateDraft(ctx, c.ID, cases.DraftUpdate{Title: c.Title, Content: content}, by); err != nil {
		m.storeFailed(w, r, "consent", err)
		return
	}
	sub, err := m.env.Cases.SubmitDraft(ctx, c.ID, eservices.ActorFrom(ctx).Identity.Email, by)
	if errors.Is(err, cases.ErrInvalid) {
		// An address the store does not accept must not stop the
		// application; the receipt page shows the number anyway.
		sub, err = m.env.Cases.SubmitDraft(ctx, c.ID, "", by)
	}
	if err != nil {
		m.storeFailed(w, r, "submit", err)
		return
	}
	http.Redirect(w, r, modURL("/arende/"+sub.Number+"/kvitto"), http.StatusSeeOther)
}

// ownCase returns the actor's submitted case of this module by number, or
// writes 404: another person's case looks exactly like a missing one.
func (m *Module) ownCase(w http.ResponseWriter, r *http.Request) (*cases.Case, bool) {
	c, err := m.env.Cases.GetByNumber(r.Context(), r.PathValue("number"))
	if err != nil && !errors.Is(err, cases.ErrNotFound) {
		m.storeFailed(w, r, "get case", err)
		return nil, false
	}
	if err != nil || c.ModuleID != ID || c.Status == cases.Draft || c.Owner != eservices.ActorFrom(r.Context()).Key() {
		m.fail(w, r, http.StatusNotFound)
		return nil, false
	}
	return c, true
}

func (m *Module) receipt(w http.ResponseWriter, r *http.Request) {
	c, ok := m.ownCase(w, r)
	if !ok {
		return
	}
	m.env.Render(w, r, http.StatusOK, "receipt.html", ID+".receipt.title", map[string]any{
		"Number": c.Number, "Submitted": c.SubmittedAt, "Title": c.Title,
	})
}

// messageView is a message prepared for showing.
type messageView struct {
	cases.Message
	Lines    []string
	Decision bool
}

// decisionHeader starts the text of every decision message; the case page
// finds the decision by it.
const decisionHeader = "Beslut om ekonomiskt bistånd"

func viewMessages(ms []cases.Message, internal bool) []messageView {
	var out []messageView
	for _, msg := range ms {
		if msg.Direction == cases.Internal && !internal {
			continue
		}
		out = append(out, messageView{
			Message:  msg,
			Lines:    lines(msg.Body),
			Decision: msg.Direction == cases.ToCitizen && strings.HasPrefix(msg.Body, decisionHeader),
		})
	}
	return out
}

// lastDecision returns the latest decision message, if any.
func lastDecision(ms []messageView) *messageView {
	for i := len(ms) - 1; i >= 0; i-- {
		if ms[i].Decision {
			return &ms[i]
		}
	}
	return nil
}

// lastRequest returns the latest message from the handler that is not a
// decision: the request for supplement the applicant answers.
func lastRequest(ms []messageView) *messageView {
	for i := len(ms) - 1; i >= 0; i-- {
		if ms[i].Direction == cases.ToCitizen && !ms[i].Decision {
			return &ms[i]
		}
	}
	return nil
}

// citizenCasePage is the data of case.html.
type citizenCasePage struct {
	Case        *cases.Case
	Summary     summary
	Messages    []messageView
	Decision    *messageView
	Request     *messageView
	Attachments []cases.Attachment
	CanReply    bool
	Sent        bool
	Reply       string
	Errors      []fieldError
	MaxFiles    int
	MaxMB       int64
}

// Err returns the message key of field's problem, or "".
func (p citizenCasePage) Err(field string) string {
	for _, e := range p.Errors {
		if e.Field == field {
			return e.Key
		}
	}
	return ""
}

// loadCase reads what a case page shows: the application, the messages and
// the attachments. On failure it has answered the request.
func (m *Module) loadCase(w http.ResponseWriter, r *http.Request, c *cases.Case) (Application, []cases.Message, []cases.Attachment, bool) {
	var app Application
	if err := json.Unmarshal(c.Content, &app); err != nil && c.PurgedAt.IsZero() {
		m.storeFailed(w, r, "read case", errors.New("content is not an application"))
		return app, nil, nil, false
	}
	msgs, err := m.env.Cases.Messages(r.Context(), c.ID)
	if err != nil {
		m.storeFailed(w, r, "messages", err)
		return app, nil, nil, false
	}
	atts, err := m.env.Cases.Attachments(r.Context(), c.ID)
	if err != nil {
		m.storeFailed(w, r, "attachments", err)
		return app, nil, nil, false
	}
	return app, msgs, atts, true
}

func (m *Module) citizenCase(w http.ResponseWriter, r *http.Request, c *cases.Case, status int, reply string, errs []fieldError) {
	app, msgs, atts, ok := m.loadCase(w, r, c)
	if !ok {
		return
	}
	views := viewMessages(msgs, false)
	p := citizenCasePage{
		Case: c, Summary: summarize(app), Messages: views, Decision: lastDecision(views),
		Attachments: atts, CanReply: c.Status.Open(), Sent: r.URL.Query().Get("skickat") == "1",
		Reply: reply, Errors: errs, MaxFiles: maxFiles, MaxMB: m.uploadMB(),
	}
	if c.Status == cases.AwaitingSupplement {
		p.Request = lastRequest(views)
	}
	m.env.Render(w, r, status, "case.html", ID+".case.title", p)
}

// supplement takes the applicant's answer to a request for supplement (or
// any message and files while the case is open). An answer to a request
// puts the case back in the handler's work (in progress).
func (m *Module) supplement(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	c, ok := m.ownCase(w, r)
	if !ok {
		return
	}
	if !m.parseBody(w, r) {
		return
	}
	reply := strings.ReplaceAll(strings.TrimSpace(r.PostForm.Get("message")), "\r\n", "\n")
	var errs []fieldError
	if !c.Status.Open() {
		errs = append(errs, fieldError{"message", "err.reply.closed"})
	}
	if utf8.RuneCountInString(reply) > maxOtherLen || !text(reply) {
		errs = append(errs, fieldError{"message", "err.reply.invalid"})
	}
	ups, key := m.uploads(r, "files")
	if key != "" {
		errs = append(errs, fieldError{"files", key})
	}
	if len(errs) == 0 && reply == "" && len(ups) == 0 {
		errs = append(errs, fieldError{"message", "err.reply.required"})
	}
	if len(errs) > 0 {
		m.citizenCase(w, r, c, http.StatusUnprocessableEntity, reply, errs)
		return
	}
	by := eservices.CaseActor(r, roleCitizen)
	for _, u := range ups {
		if _, err := cases.Attach(ctx, m.env.Cases, m.env.Blobs, c.ID, u, true, by); err != nil {
			if errors.Is(err, cases.ErrConflict) {
				m.citizenCase(w, r, c, http.StatusUnprocessableEntity, reply, []fieldError{{"files", "err.files.toomany"}})
				return
			}
			m.storeFailed(w, r, "attach", err)
			return
		}
	}
	if reply != "" {
		if _, err := m.env.Cases.AddMessage(ctx, c.ID, cases.NewMessage{Direction: cases.ToHandler, Body: reply}, by); err != nil {
			m.storeFailed(w, r, "reply", err)
			return
		}
	}
	if c.Status == cases.AwaitingSupplement {
		if _, err := m.env.Cases.SetStatus(ctx, c.ID, cases.InProgress, "", by); err != nil && !errors.Is(err, cases.ErrConflict) {
			m.storeFailed(w, r, "status", err)
			return
		}
	}
	http.Redirect(w, r, modURL("/arende/"+c.Number+"?skickat=1"), http.StatusSeeOther)
}
