package buildingpermit

import (
	"errors"
	"mime/multipart"
	"net/http"
	"strings"

	"github.com/civicgate/civicgate/eservices/cases"
)

// startData is the applicant's start page.
type startData struct {
	Drafts, Cases []caseRow
}

// start shows applicants their drafts and cases, handlers the received
// applications.
func (m *Module) start(w http.ResponseWriter, r *http.Request) {
	c := callerFrom(r.Context())
	if c.handler {
		m.handlerList(w, r)
		return
	}
	list, err := m.env.Cases.ListByOwner(r.Context(), c.owner)
	if err != nil {
		m.storeError(w, r, err)
		return
	}
	var d startData
	for _, cs := range list {
		if cs.ModuleID != ID || !cs.PurgedAt.IsZero() {
			continue
		}
		if cs.Status == cases.Draft {
			d.Drafts = append(d.Drafts, rowOf(cs))
		} else {
			d.Cases = append(d.Cases, rowOf(cs))
		}
	}
	m.env.Render(w, r, http.StatusOK, "start.html", "bygglov.start.title", d)
}

// formData is the application form.
type formData struct {
	DraftID     string
	App         Application
	Errors      fieldErrors
	Summary     []summaryItem
	Measures    []string
	Attachments []attachmentRow
	Saved       bool
	MaxMB       int64
}

func (m *Module) renderForm(w http.ResponseWriter, r *http.Request, status int, d formData) {
	d.Measures = Measures
	d.MaxMB = m.maxUpload >> 20
	if d.Errors == nil {
		d.Errors = fieldErrors{}
	}
	d.Summary = d.Errors.summary(formErrorOrder)
	m.env.Render(w, r, status, "form.html", "bygglov.form.title", d)
}

func (m *Module) newForm(w http.ResponseWriter, r *http.Request) {
	m.renderForm(w, r, http.StatusOK, formData{})
}

// draftForm shows a saved draft to continue with. A case that is no
// longer a draft is shown on its case page.
func (m *Module) draftForm(w http.ResponseWriter, r *http.Request) {
	cs, ok := m.load(w, r)
	if !ok {
		return
	}
	if cs.Status != cases.Draft {
		seeOther(w, r, "/arende/"+cs.ID)
		return
	}
	atts, err := m.env.Cases.Attachments(r.Context(), cs.ID)
	if err != nil {
		m.storeError(w, r, err)
		return
	}
	m.renderForm(w, r, http.StatusOK, formData{
		DraftID: cs.ID, App: parseApplication(cs.Content), Attachments: attachmentsOf(atts),
		Saved: r.URL.Query().Get("sparat") == "1",
	})
}

// parseUpload reads a multipart form of at most the files the module
// accepts in one go. It answers the request itself when it fails.
func (m *Module) parseUpload(w http.ResponseWriter, r *http.Request) bool {
	limit := m.maxUpload*int64(m.cfg.filesPerUpload()) + 1<<20
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	if err := r.ParseMultipartForm(8 << 20); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			m.problem(w, r, http.StatusRequestEntityTooLarge, "bygglov.err.upload.total")
			return false
		}
		m.problem(w, r, http.StatusBadRequest, "bygglov.err.badform")
		return false
	}
	return true
}

// checkFiles runs every file of field through cases.CheckUpload. Problems
// name the file, so the applicant knows which one to replace.
func (m *Module) checkFiles(r *http.Request, field string, fe fieldErrors, errField string) []cases.Upload {
	var files []*multipart.FileHeader
	if r.MultipartForm != nil {
		for _, fh := range r.MultipartForm.File[field] {
			// A file input left empty still sends a part without a name.
			if fh.Filename == "" && fh.Size == 0 {
				continue
			}
			files = append(files, fh)
		}
	}
	if len(files) > m.cfg.filesPerUpload() {
		fe.set(errField, "bygglov.err.upload.count")
		return nil
	}
	var out []cases.Upload
	for _, fh := range files {
		name := cases.SanitizeName(fh.Filename)
		fail := func(key string) { fe[errField] = fieldError{Key: key, Name: name} }
		switch {
		case fh.Size == 0:
			fail("bygglov.err.upload.empty")
			return nil
		case fh.Size > m.maxUpload:
			fail("bygglov.err.upload.size")
			return nil
		}
		f, err := fh.Open()
		if err != nil {
			fail("bygglov.err.upload.read")
			return nil
		}
		u, err := cases.CheckUpload(fh.Filename, f, m.maxUpload)
		_ = f.Close()
		if err != nil {
			var ve *cases.ValidationError
			switch {
			case errors.As(err, &ve) && len(ve.Fields) > 0 && strings.HasPrefix(ve.Fields[0].Problem, "larger"):
				fail("bygglov.err.upload.size")
			case errors.As(err, &ve):
				fail("bygglov.err.upload.type")
			default:
				fail("bygglov.err.upload.read")
			}
			return nil
		}
		out = append(out, u)
	}
	return out
}

// channel is how the application reaches the municipality.
func channel(c caller) cases.Channel {
	if c.role != roleContactCentre {
		return cases.EService
	}
	if ch := cases.Channel(c.actor.Channel); ch == cases.Visit {
		return ch
	}
	return cases.Phone
}

// saveApplication saves the form as a draft ("action=save") or submits it
// ("action=submit"). Every file is checked before anything is written;
// a submission is saved as a draft with its files first and then
// submitted, so a case is never submitted without the drawings it was
// sent with.
func (m *Module) saveApplication(w http.ResponseWriter, r *http.Request) {
	if !m.parseUpload(w, r) {
		return
	}
	defer func() { _ = r.MultipartForm.RemoveAll() }()
	c := callerFrom(r.Context())
	action := r.PostFormValue("action")
	if action != "save" && action != "submit" {
		m.problem(w, r, http.StatusBadRequest, "bygglov.err.badform")
		return
	}
	submit := action == "submit"

	var draft *cases.Case
	var existing []cases.Attachment
	if id := r.PostFormValue("draft"); id != "" {
		r.SetPathValue("id", id)
		cs, ok := m.load(w, r)
		if !ok {
			return
		}
		if cs.Status != cases.Draft {
			m.problem(w, r, http.StatusConflict, "bygglov.err.notdraft")
			return
		}
		atts, err := m.env.Cases.Attachments(r.Context(), cs.ID)
		if err != nil {
			m.storeError(w, r, err)
			return
		}
		draft, existing = cs, atts
	}

	app, fe := readApplication(r.PostForm, submit)
	uploads := m.checkFiles(r, "attachments", fe, "attachments")
	if submit && len(existing)+len(uploads) == 0 && fe["attachments"].Key == "" {
		fe.set("attachments", "bygglov.err.attachments.required")
	}
	form := formData{App: app, Errors: fe, Attachments: attachmentsOf(existing)}
	if draft != nil {
		form.DraftID = draft.ID
	}
	if len(fe) > 0 {
		m.renderForm(w, r, http.StatusUnprocessableEntity, form)
		return
	}

	by := m.by(r)
	ctx := r.Context()
	var err error
	if draft == nil {
		draft, err = m.env.Cases.SaveDraft(ctx, cases.NewCase{
			ModuleID: ID, Prefix: CasePrefix, Owner: c.owner, Subject: c.owner, Channel: channel(c),
			Title: app.title(), Content: app.content(),
		}, by)
	} else {
		draft, err = m.env.Cases.UpdateDraft(ctx, draft.ID, cases.DraftUpdate{Title: app.title(), Content: app.content()}, by)
	}
	if err != nil {
		m.storeError(w, r, err)
		return
	}
	form.DraftID = draft.ID
	for _, u := range uploads {
		if _, err := cases.Attach(ctx, m.env.Cases, m.env.Blobs, draft.ID, u, false, by); err != nil {
			if errors.Is(err, cases.ErrConflict) {
				// The draft and the files before this one are kept: show
				// the form again on the draft, with what is attached.
				atts, _ := m.env.Cases.Attachments(ctx, draft.ID)
				form.Attachments = attachmentsOf(atts)
				form.Errors = fieldErrors{"attachments": {Key: "bygglov.err.attachments.full", Name: u.Name}}
				m.renderForm(w, r, http.StatusUnprocessableEntity, form)
				return
			}
			m.storeError(w, r, err)
			return
		}
	}
	if !submit {
		seeOther(w, r, "/ansokan/"+draft.ID+"?sparat=1")
		return
	}
	if _, err := m.env.Cases.SubmitDraft(ctx, draft.ID, app.Email, by); err != nil {
		m.storeError(w, r, err)
		return
	}
	seeOther(w, r, "/kvitto/"+draft.ID)
}

// receiptData is the receipt page.
type receiptData struct {
	ID, Number string
}

// receipt shows the case number of a submitted application at once.
func (m *Module) receipt(w http.ResponseWriter, r *http.Request) {
	cs, ok := m.load(w, r)
	if !ok {
		return
	}
	if cs.Status == cases.Draft {
		seeOther(w, r, "/ansokan/"+cs.ID)
		return
	}
	m.env.Render(w, r, http.StatusOK, "receipt.html", "bygglov.receipt.title", receiptData{ID: cs.ID, Number: cs.Number})
}

// caseData is a case page, for the applicant or the handler.
type caseData struct {
	ID, Number       string
	StatusKey        string
	Status           cases.Status
	ChannelKey       string
	App              Application
	MeasureKey       string
	DescriptionLines []string
	History          []historyRow
	Messages         []messageRow
	Attachments      []attachmentRow
	Notice           string // message key of what was just done
	Errors           fieldErrors
	Summary          []summaryItem

	// The applicant's page.
	CanSupplement  bool
	SupplementText string
	MaxMB          int64

	// The handler's page.
	Handler       bool
	ApplicantPNR  string
	ApplicantName string
	CanStart      bool
	CanRequest    bool
	CanDecide     bool
	CanClose      bool
	Decisions     []string
	RequestText   string
	Decision      string
	DecisionText  string
}

// notices are the "done" messages a redirect may ask for.
var notices = map[string]string{
	"komplettering": "bygglov.notice.supplement_sent",
	"begaran":       "bygglov.notice.supplement_requested",
	"beslut":        "bygglov.notice.decided",
	"paborjad":      "bygglov.notice.started",
	"avslutad":      "bygglov.notice.closed",
}

// caseData collects what both case pages show.
func (m *Module) caseData(r *http.Request, cs *cases.Case) (caseData, error) {
	ctx := r.Context()
	msgs, err := m.env.Cases.Messages(ctx, cs.ID)
	if err != nil {
		return caseData{}, err
	}
	atts, err := m.env.Cases.Attachments(ctx, cs.ID)
	if err != nil {
		return caseData{}, err
	}
	app := parseApplication(cs.Content)
	d := caseData{
		ID: cs.ID, Number: cs.Number, StatusKey: statusKey(cs.Status), Status: cs.Status,
		ChannelKey: "bygglov.channel." + string(cs.Channel), App: app,
		DescriptionLines: lines(app.Description), History: historyOf(cs), Messages: messagesOf(msgs),
		Attachments: attachmentsOf(atts), Notice: notices[r.URL.Query().Get("klart")], Errors: fieldErrors{},
	}
	if app.Measure != "" {
		d.MeasureKey = "bygglov.measure." + app.Measure
	}
	return d, nil
}

// casePage shows a case: the applicant's view with history, messages,
// files and the supplement form, or the handler's view (audited).
func (m *Module) casePage(w http.ResponseWriter, r *http.Request) {
	cs, ok := m.load(w, r)
	if !ok {
		return
	}
	if callerFrom(r.Context()).handler {
		m.renderHandlerCase(w, r, cs, http.StatusOK, nil)
		return
	}
	if cs.Status == cases.Draft {
		seeOther(w, r, "/ansokan/"+cs.ID)
		return
	}
	m.renderApplicantCase(w, r, cs, http.StatusOK, nil, "")
}

func (m *Module) renderApplicantCase(w http.ResponseWriter, r *http.Request, cs *cases.Case, status int, fe fieldErrors, text string) {
	c := callerFrom(r.Context())
	if c.role == roleContactCentre {
		// An agent reading a citizen's case is a staff read like any other.
		if err := m.recordView(r, cs, nil); err != nil {
			m.env.Log.ErrorContext(r.Context(), "audit failed; case not shown", "err", err)
			m.problem(w, r, http.StatusServiceUnavailable, "error.503")
			return
		}
	}
	d, err := m.caseData(r, cs)
	if err != nil {
		m.storeError(w, r, err)
		return
	}
	if c.role == roleCitizen {
		for _, msg := range d.Messages {
			if msg.Unread && msg.FromKey == "bygglov.message.from_handler" {
				if err := m.env.Cases.MarkRead(r.Context(), cs.ID, cases.ToCitizen, m.by(r)); err != nil {
					m.env.Log.WarnContext(r.Context(), "marking messages read failed", "err", err)
				}
				break
			}
		}
	}
	d.CanSupplement = cs.Status.Open()
	d.MaxMB = m.maxUpload >> 20
	d.SupplementText = text
	if fe != nil {
		d.Errors = fe
	}
	d.Summary = d.Errors.summary([]string{"supplement-files", "supplement-message"})
	m.env.Render(w, r, status, "case.html", "bygglov.case.title", d)
}

// supplement takes files (and a message) from the applicant in answer to
// a request for supplement, and moves the case back to the handler.
func (m *Module) supplement(w http.ResponseWriter, r *http.Request) {
	if !m.parseUpload(w, r) {
		return
	}
	defer func() { _ = r.MultipartForm.RemoveAll() }()
	cs, ok := m.load(w, r)
	if !ok {
		return
	}
	if !cs.Status.Open() {
		m.problemWithStatus(w, r, http.StatusConflict, "bygglov.err.supplement.closed", statusKey(cs.Status))
		return
	}
	fe := fieldErrors{}
	text := strings.TrimSpace(strings.ReplaceAll(r.PostFormValue("message"), "\r\n", "\n"))
	switch {
	case len([]rune(text)) > MaxDescriptionLen:
		fe.set("supplement-message", "bygglov.err.message.long")
	case !printableText(text):
		fe.set("supplement-message", "bygglov.err.description.chars")
	}
	uploads := m.checkFiles(r, "files", fe, "supplement-files")
	if len(fe) == 0 && len(uploads) == 0 && text == "" {
		fe.set("supplement-files", "bygglov.err.supplement.empty")
	}
	if len(fe) > 0 {
		m.renderApplicantCase(w, r, cs, http.StatusUnprocessableEntity, fe, text)
		return
	}
	ctx, by := r.Context(), m.by(r)
	for _, u := range uploads {
		if _, err := cases.Attach(ctx, m.env.Cases, m.env.Blobs, cs.ID, u, true, by); err != nil {
			if errors.Is(err, cases.ErrConflict) {
				m.renderApplicantCase(w, r, cs, http.StatusUnprocessableEntity,
					fieldErrors{"supplement-files": {Key: "bygglov.err.attachments.full", Name: u.Name}}, text)
				return
			}
			m.storeError(w, r, err)
			return
		}
	}
	if text != "" {
		if _, err := m.env.Cases.AddMessage(ctx, cs.ID, cases.NewMessage{Direction: cases.ToHandler, Body: text}, by); err != nil {
			m.storeError(w, r, err)
			return
		}
	}
	if cs.Status == cases.AwaitingSupplement {
		if _, err := m.env.Cases.SetStatus(ctx, cs.ID, cases.InProgress, noteSupplement, by); err != nil && !errors.Is(err, cases.ErrConflict) {
			m.storeError(w, r, err)
			return
		}
	}
	seeOther(w, r, "/arende/"+cs.ID+"?klart=komplettering")
}
