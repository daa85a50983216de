package contactcentre

import (
	"context"
	"errors"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/civicgate/civicgate/auth"
	"github.com/civicgate/civicgate/auth/session"
	"github.com/civicgate/civicgate/eservices"
	"github.com/civicgate/civicgate/eservices/cases"
	"github.com/civicgate/civicgate/eservices/population"
	"github.com/civicgate/civicgate/gateway/audit"
	mw "github.com/civicgate/civicgate/gateway/middleware"
	"github.com/civicgate/civicgate/web"
)

// Limits of the workspace's forms.
const (
	// MinReason and MaxReason bound the reason or ticket reference an
	// agent gives for a lookup, in characters.
	MinReason, MaxReason = 5, 200
	// MaxMessage bounds a note, message or question, in characters.
	MaxMessage = 4000
	// MinQuestion is the shortest question to a department.
	MinQuestion = 5
)

// The channels through which a citizen reaches the contact centre.
var channels = []string{string(cases.Phone), string(cases.Visit)}

type workspace struct {
	d    Deps
	mods moduleIndex
	mux  *http.ServeMux
}

// New returns the contact centre's workspace, to be mounted at
// WorkspacePath with the prefix stripped, behind a staff login of at least
// LoA substantial. It lets through only staff with the role
// RoleContactCentre (403 and an audit event otherwise). It panics when a
// required dependency is missing: that is a programming error found at
// start-up.
//
// Routes: GET / (find a citizen), POST /sok (lookup), POST /agera (start
// acting for the citizen found), POST /avsluta (stop acting), GET
// /medborgare (the citizen acted for), GET /arende/{id} and POST
// /arende/{id}/meddelande (one of their cases), POST /fraga (a question to
// a department without a case).
func New(d Deps) http.Handler {
	if d.Sessions == nil || d.Cases == nil || d.Audit == nil || d.Population == nil || d.Pages == nil || d.Limiter == nil || d.Fail == nil {
		panic("contactcentre: New needs Sessions, Cases, Audit, Population, Pages, Limiter and Fail")
	}
	ws := &workspace{d: d.withDefaults(), mods: indexModules(d.Modules)}
	m := http.NewServeMux()
	m.HandleFunc("GET /{$}", ws.searchPage)
	m.HandleFunc("POST /sok", ws.lookup)
	m.HandleFunc("POST /agera", ws.startActing)
	m.HandleFunc("POST /avsluta", ws.endActing)
	m.HandleFunc("GET /medborgare", ws.citizenPage)
	m.HandleFunc("GET /arende/{id}", ws.casePage)
	m.HandleFunc("POST /arende/{id}/meddelande", ws.addMessage)
	m.HandleFunc("POST /fraga", ws.question)
	ws.mux = m
	return ws
}

func (ws *workspace) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if staffSession(ws.d, w, r, "contactcentre.denied", RoleContactCentre) == nil {
		return
	}
	if _, pattern := ws.mux.Handler(r); pattern == "" {
		ws.d.Fail(w, r, http.StatusNotFound, "error.404")
		return
	}
	ws.mux.ServeHTTP(w, r)
}

// fieldError is one invalid field: its element ID and a message key.
type fieldError struct {
	Field, Key string
}

type formErrors []fieldError

func (e *formErrors) add(field, key string) { *e = append(*e, fieldError{field, key}) }

// Of returns the message key of field's error, or "".
func (e formErrors) Of(field string) string {
	for _, f := range e {
		if f.Field == field {
			return f.Key
		}
	}
	return ""
}

// actingView is the citizen an agent acts for, as pages show it.
type actingView struct {
	Name, Reason, ChannelKey string
	Since                    time.Time
}

func actingOf(s *session.Session) *actingView {
	if s.ActingFor == nil {
		return nil
	}
	return &actingView{Name: s.ActingFor.Name, Reason: s.ActingFor.Reason, ChannelKey: "kontaktcenter.channel." + s.ActingFor.Channel, Since: s.ActingFor.Since}
}

type searchData struct {
	PNR, Reason string
	Errors      formErrors
	NotFound    bool
	Acting      *actingView
}

// agentSession returns the session the access check let through.
func agentSession(r *http.Request) *session.Session { return mw.SessionFrom(r.Context()) }

func (ws *workspace) searchPage(w http.ResponseWriter, r *http.Request) {
	ws.renderSearch(w, r, http.StatusOK, searchData{Acting: actingOf(agentSession(r))})
}

func (ws *workspace) renderSearch(w http.ResponseWriter, r *http.Request, status int, data searchData) {
	ws.d.Pages.Render(w, r, status, AssetsID+"/search.html", web.Page{Title: "kontaktcenter.search.title", Data: data})
}

// validReason checks a reason or ticket reference and returns the message
// key of its problem, or "".
func validReason(s string) string {
	n := utf8.RuneCountInString(s)
	switch {
	case n == 0:
		return "kontaktcenter.error.reason.required"
	case n < MinReason || n > MaxReason:
		return "kontaktcenter.error.reason.length"
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return "kontaktcenter.error.reason.invalid"
	}
	return ""
}

// validText checks a message body of at most MaxMessage characters (tabs
// and line breaks allowed) and returns the message key of its problem.
func validText(s string, min int) string {
	n := utf8.RuneCountInString(s)
	switch {
	case n == 0:
		return "kontaktcenter.error.body.required"
	case n < min || n > MaxMessage:
		return "kontaktcenter.error.body.length"
	case strings.IndexFunc(s, func(c rune) bool { return unicode.IsControl(c) && c != '\n' && c != '\r' && c != '\t' }) >= 0:
		return "kontaktcenter.error.body.invalid"
	}
	return ""
}

func pnrProblem(in string, now time.Time) (string, string) {
	if in == "" {
		return "", "kontaktcenter.error.pnr.required"
	}
	p, err := auth.ParsePersonalNumber(in, now)
	switch {
	case errors.Is(err, auth.ErrPNCheckDigit):
		return "", "kontaktcenter.error.pnr.checkdigit"
	case errors.Is(err, auth.ErrPNDate):
		return "", "kontaktcenter.error.pnr.date"
	case err != nil:
		return "", "kontaktcenter.error.pnr.format"
	}
	return p.Digits(), ""
}

// event returns an audit event of the agent acting on the citizen pnr.
func (ws *workspace) event(r *http.Request, action, pnr, resource, outcome string, detail map[string]string) audit.Event {
	s := agentSession(r)
	return audit.Event{
		RequestID: mw.RequestIDFrom(r.Context()), Actor: s.Identity.Key(), ActorRole: RoleContactCentre,
		Subject: pnr, Action: action, Resource: resource, Outcome: outcome, Detail: detail,
	}
}

// record writes e, or answers 503 and returns false: nothing is shown or
// done that the audit log does not hold.
func (ws *workspace) record(w http.ResponseWriter, r *http.Request, e audit.Event) bool {
	if err := ws.d.Audit.Record(r.Context(), e); err != nil {
		ws.d.Log.ErrorContext(r.Context(), "audit log unavailable", "request_id", e.RequestID, "action", e.Action, "err", err)
		ws.unavailable(w, r)
		return false
	}
	return true
}

func (ws *workspace) unavailable(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Retry-After", "5")
	ws.d.Fail(w, r, http.StatusServiceUnavailable, "error.503")
}

// registerCtx tells an audited population register that the agent looks
// the citizen up.
func registerCtx(r *http.Request, pnr string) context.Context {
	s := agentSession(r)
	a := eservices.Actor{Identity: s.Identity, Kind: eservices.ContactCentre}
	if s.ActingFor != nil && s.ActingFor.PersonalNumber == pnr {
		a.Channel, a.Reason = s.ActingFor.Channel, s.ActingFor.Reason
	}
	ctx := eservices.WithActor(r.Context(), a, &eservices.Subject{PersonalNumber: pnr})
	return eservices.WithRequestID(ctx, mw.RequestIDFrom(r.Context()))
}

func protectedDetail(p population.Person, d map[string]string) map[string]string {
	if d == nil {
		d = map[string]string{}
	}
	if p.Protected {
		d["protected"] = "true"
	}
	return d
}

// lookup finds a citizen by personnummer for a stated reason: validated,
// rate-limited per agent and audited before anything is shown.
func (ws *workspace) lookup(w http.ResponseWriter, r *http.Request) {
	s := agentSession(r)
	data := searchData{PNR: strings.TrimSpace(r.PostFormValue("pnr")), Reason: strings.TrimSpace(r.PostFormValue("reason")), Acting: actingOf(s)}
	pnr, key := pnrProblem(data.PNR, ws.d.Now())
	if key != "" {
		data.Errors.add("pnr", key)
	}
	if key := validReason(data.Reason); key != "" {
		data.Errors.add("reason", key)
	}
	if len(data.Errors) > 0 {
		ws.renderSearch(w, r, http.StatusUnprocessableEntity, data)
		return
	}
	if !ws.allowLookup(w, r, pnr) {
		return
	}
	p, err := ws.d.Population.Person(registerCtx(r, pnr), pnr)
	switch {
	case errors.Is(err, population.ErrNotFound):
		if !ws.record(w, r, ws.event(r, "contactcentre.lookup", pnr, "person", audit.Failure, map[string]string{"reason": data.Reason, "result": "not_found"})) {
			return
		}
		data.NotFound = true
		data.Errors.add("pnr", "kontaktcenter.error.pnr.notfound")
		ws.renderSearch(w, r, http.StatusNotFound, data)
		return
	case err != nil:
		ws.d.Log.ErrorContext(r.Context(), "population register unavailable", "request_id", mw.RequestIDFrom(r.Context()), "err", err)
		ws.unavailable(w, r)
		return
	}
	if !ws.record(w, r, ws.event(r, "contactcentre.lookup", pnr, "person", audit.Success, protectedDetail(p, map[string]string{"reason": data.Reason}))) {
		return
	}
	ws.renderCitizen(w, r, http.StatusOK, p, &citizenData{
		Lookup: true, Token: sealLookup(s, pnr, ws.d.Now().Add(lookupTTL)), Reason: data.Reason, Channel: string(cases.Phone),
	})
}

// allowLookup counts one lookup for the agent; over the limit it answers
// 429 (and audits the refusal), and 503 when the limiter is down.
func (ws *workspace) allowLookup(w http.ResponseWriter, r *http.Request, pnr string) bool {
	s := agentSession(r)
	ok, retry, err := ws.d.Limiter.Allow(r.Context(), "rl:contactcentre-lookup:"+s.Identity.Key(), ws.d.LookupLimit, time.Minute)
	if err != nil {
		ws.d.Log.ErrorContext(r.Context(), "rate limiter unavailable", "request_id", mw.RequestIDFrom(r.Context()), "err", err)
		ws.unavailable(w, r)
		return false
	}
	if !ok {
		if err := ws.d.Audit.Record(r.Context(), ws.event(r, "contactcentre.lookup", pnr, "person", audit.Denied, map[string]string{"result": "rate_limited"})); err != nil {
			ws.d.Log.ErrorContext(r.Context(), "audit log unavailable", "request_id", mw.RequestIDFrom(r.Context()), "err", err)
		}
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(retry.Seconds())))))
		ws.d.Fail(w, r, http.StatusTooManyRequests, "error.429")
		return false
	}
	return true
}

type personView struct {
	Name, MaskedPNR string
	Protected       bool
	Deceased        bool
	Address         *population.Address
}

type caseView struct {
	ID, Number, Module, StatusKey, ChannelKey, Title string
	// Hidden is true when only the case's existence and status may be
	// shown: a confidential module, or a person with protected identity.
	Hidden    bool
	Submitted time.Time
	Open      bool
}

type moduleView struct {
	ID, Title, Description, URL string
	Department, Owner, Contact  string
}

type questionForm struct {
	Module, Body string
}

type citizenData struct {
	// Lookup is a lookup's result: the agent does not act for the citizen
	// yet and may start to, with Token.
	Lookup          bool
	Token           string
	Reason, Channel string
	Person          personView
	Acting          *actingView
	Cases           []caseView
	// Start are the e-services the contact centre may use for the citizen;
	// Modules every e-service, to ask its department a question.
	Start, Modules []moduleView
	Question       questionForm
	Errors         formErrors
}

func (ws *workspace) modulesView(lang string) (start, all []moduleView) {
	for _, info := range ws.d.Modules {
		mv := moduleView{
			ID: info.ID, Title: info.Title(lang), Description: info.Description(lang), URL: "/e/" + info.ID + "/",
			Department: info.Owner.Department, Owner: info.Owner.Name, Contact: info.Owner.Contact,
		}
		all = append(all, mv)
		if info.Allows(eservices.ContactCentre) {
			start = append(start, mv)
		}
	}
	return start, all
}

// citizenCases returns the submitted cases the citizen owns or is the
// subject of, newest first, with what the contact centre may see of them.
func (ws *workspace) citizenCases(ctx context.Context, lang string, p population.Person) ([]caseView, error) {
	owned, err := ws.d.Cases.ListByOwner(ctx, p.PersonalNumber)
	if err != nil {
		return nil, err
	}
	about, err := ws.d.Cases.ListBySubject(ctx, p.PersonalNumber)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []cases.Case
	for _, c := range append(owned, about...) {
		if seen[c.ID] || c.Status == cases.Draft {
			continue
		}
		seen[c.ID] = true
		out = append(out, c)
	}
	slices.SortStableFunc(out, func(a, b cases.Case) int { return b.SubmittedAt.Compare(a.SubmittedAt) })
	views := make([]caseView, 0, len(out))
	for _, c := range out {
		views = append(views, ws.caseView(&c, lang, p.Protected))
	}
	return views, nil
}

func (ws *workspace) caseView(c *cases.Case, lang string, protected bool) caseView {
	v := caseView{
		ID: c.ID, Number: c.Number, Module: ws.mods.title(c.ModuleID, lang), StatusKey: "kontaktcenter.status." + string(c.Status),
		ChannelKey: "kontaktcenter.channel." + string(c.Channel), Submitted: c.SubmittedAt, Open: c.Status.Open(),
		Hidden: protected || ws.mods.confidential(c.ModuleID),
	}
	if !v.Hidden {
		v.Title = c.Title
	}
	return v
}

func personOf(p population.Person) personView {
	v := personView{Name: p.DisplayName(), MaskedPNR: auth.MaskPersonalNumber(p.PersonalNumber), Protected: p.Protected, Deceased: p.Deceased}
	if !p.Protected {
		v.Address = p.Address
	}
	return v
}

// renderCitizen shows the citizen page; data's form fields are kept and
// the rest is filled in here.
func (ws *workspace) renderCitizen(w http.ResponseWriter, r *http.Request, status int, p population.Person, data *citizenData) {
	l := lang(r)
	list, err := ws.citizenCases(r.Context(), l, p)
	if err != nil {
		ws.d.Log.ErrorContext(r.Context(), "case store unavailable", "request_id", mw.RequestIDFrom(r.Context()), "err", err)
		ws.unavailable(w, r)
		return
	}
	data.Person, data.Cases = personOf(p), list
	if !data.Lookup {
		data.Acting = actingOf(agentSession(r))
		data.Start, data.Modules = ws.modulesView(l)
	}
	ws.d.Pages.Render(w, r, status, AssetsID+"/citizen.html", web.Page{Title: "kontaktcenter.citizen.title", Data: data})
}

// startActing starts acting for the citizen of a lookup token: it sets
// ActingFor on the agent's session (audited first), ending any earlier
// acting.
func (ws *workspace) startActing(w http.ResponseWriter, r *http.Request) {
	s := agentSession(r)
	pnr, ok := openLookup(s, r.PostFormValue("token"), ws.d.Now())
	if !ok {
		ws.d.Fail(w, r, http.StatusBadRequest, "kontaktcenter.error.token")
		return
	}
	data := &citizenData{Lookup: true, Token: r.PostFormValue("token"), Reason: strings.TrimSpace(r.PostFormValue("reason")), Channel: r.PostFormValue("channel")}
	if key := validReason(data.Reason); key != "" {
		data.Errors.add("reason", key)
	}
	if !slices.Contains(channels, data.Channel) {
		data.Errors.add("channel-phone", "kontaktcenter.error.channel")
	}
	p, err := ws.d.Population.Person(registerCtx(r, pnr), pnr)
	if err != nil {
		if errors.Is(err, population.ErrNotFound) {
			ws.d.Fail(w, r, http.StatusNotFound, "kontaktcenter.error.pnr.notfound")
			return
		}
		ws.d.Log.ErrorContext(r.Context(), "population register unavailable", "request_id", mw.RequestIDFrom(r.Context()), "err", err)
		ws.unavailable(w, r)
		return
	}
	if len(data.Errors) > 0 {
		if !ws.record(w, r, ws.event(r, "contactcentre.lookup", pnr, "person", audit.Success, protectedDetail(p, map[string]string{"view": "lookup"}))) {
			return
		}
		ws.renderCitizen(w, r, http.StatusUnprocessableEntity, p, data)
		return
	}
	if prev := s.ActingFor; prev != nil && !ws.record(w, r, ws.event(r, "contactcentre.act.end", prev.PersonalNumber, "person", audit.Success, map[string]string{"channel": prev.Channel, "ended_by": "new_citizen"})) {
		return
	}
	if !ws.record(w, r, ws.event(r, "contactcentre.act.start", pnr, "person", audit.Success, protectedDetail(p, map[string]string{"reason": data.Reason, "channel": data.Channel}))) {
		return
	}
	ns := *s
	ns.ActingFor = &session.ActingFor{PersonalNumber: pnr, Name: p.DisplayName(), Reason: data.Reason, Since: ws.d.Now(), Channel: data.Channel}
	if err := ws.d.Sessions.Put(r.Context(), &ns); err != nil {
		ws.d.Log.ErrorContext(r.Context(), "session store unavailable", "request_id", mw.RequestIDFrom(r.Context()), "err", err)
		_ = ws.d.Audit.Record(r.Context(), ws.event(r, "contactcentre.act.start", pnr, "person", audit.Failure, map[string]string{"error": "session_store"}))
		ws.unavailable(w, r)
		return
	}
	mw.SetSession(r.Context(), &ns)
	http.Redirect(w, r, WorkspacePath+"/medborgare", http.StatusSeeOther)
}

// endActing clears ActingFor. Giving up the citizen's rights is never held
// back by a failing audit log: the failure is logged instead.
func (ws *workspace) endActing(w http.ResponseWriter, r *http.Request) {
	s := agentSession(r)
	if s.ActingFor == nil {
		http.Redirect(w, r, WorkspacePath+"/", http.StatusSeeOther)
		return
	}
	prev := s.ActingFor
	ns := *s
	ns.ActingFor = nil
	if err := ws.d.Sessions.Put(r.Context(), &ns); err != nil {
		ws.d.Log.ErrorContext(r.Context(), "session store unavailable", "request_id", mw.RequestIDFrom(r.Context()), "err", err)
		ws.unavailable(w, r)
		return
	}
	mw.SetSession(r.Context(), &ns)
	since := ws.d.Now().Sub(prev.Since).Round(time.Second)
	if err := ws.d.Audit.Record(r.Context(), ws.event(r, "contactcentre.act.end", prev.PersonalNumber, "person", audit.Success,
		map[string]string{"channel": prev.Channel, "duration_s": strconv.Itoa(int(since.Seconds()))})); err != nil {
		ws.d.Log.ErrorContext(r.Context(), "audit log unavailable", "request_id", mw.RequestIDFrom(r.Context()), "action", "contactcentre.act.end", "err", err)
	}
	http.Redirect(w, r, WorkspacePath+"/", http.StatusSeeOther)
}

// actingPerson returns the citizen the agent acts for from the register.
// Without acting it redirects to the search page. A citizen the register no
// longer knows is shown minimally, as a protected person would be.
func (ws *workspace) actingPerson(w http.ResponseWriter, r *http.Request) (population.Person, bool) {
	s := agentSession(r)
	if s.ActingFor == nil {
		http.Redirect(w, r, WorkspacePath+"/", http.StatusSeeOther)
		return population.Person{}, false
	}
	pnr := s.ActingFor.PersonalNumber
	p, err := ws.d.Population.Person(registerCtx(r, pnr), pnr)
	switch {
	case errors.Is(err, population.ErrNotFound):
		return population.Person{PersonalNumber: pnr, GivenName: s.ActingFor.Name, Protected: true}, true
	case err != nil:
		ws.d.Log.ErrorContext(r.Context(), "population register unavailable", "request_id", mw.RequestIDFrom(r.Context()), "err", err)
		ws.unavailable(w, r)
		return population.Person{}, false
	}
	return p, true
}

func (ws *workspace) citizenPage(w http.ResponseWriter, r *http.Request) {
	p, ok := ws.actingPerson(w, r)
	if !ok {
		return
	}
	if !ws.record(w, r, ws.event(r, "contactcentre.lookup", p.PersonalNumber, "person", audit.Success, protectedDetail(p, map[string]string{"view": "citizen"}))) {
		return
	}
	ws.renderCitizen(w, r, http.StatusOK, p, &citizenData{})
}

// question records that the agent passed a question to a department when
// the citizen has no case there, and shows the department's contact. The
// question's text is not stored: it may hold anything, and the audit log
// keeps only short non-personal details.
func (ws *workspace) question(w http.ResponseWriter, r *http.Request) {
	p, ok := ws.actingPerson(w, r)
	if !ok {
		return
	}
	q := questionForm{Module: r.PostFormValue("module"), Body: strings.TrimSpace(r.PostFormValue("question"))}
	var errs formErrors
	info, known := ws.mods[q.Module]
	if !known {
		errs.add("q-module", "kontaktcenter.error.module")
	}
	if key := validText(q.Body, MinQuestion); key != "" {
		errs.add("q-body", key)
	}
	if len(errs) > 0 {
		if !ws.record(w, r, ws.event(r, "contactcentre.lookup", p.PersonalNumber, "person", audit.Success, protectedDetail(p, map[string]string{"view": "citizen"}))) {
			return
		}
		ws.renderCitizen(w, r, http.StatusUnprocessableEntity, p, &citizenData{Question: q, Errors: errs})
		return
	}
	s := agentSession(r)
	if !ws.record(w, r, ws.event(r, "contactcentre.question", p.PersonalNumber, "module:"+info.ID, audit.Success,
		map[string]string{"module": info.ID, "department": info.Owner.Department, "channel": s.ActingFor.Channel})) {
		return
	}
	l := lang(r)
	mv := moduleView{ID: info.ID, Title: info.Title(l), Department: info.Owner.Department, Owner: info.Owner.Name, Contact: info.Owner.Contact}
	var mailto string
	if strings.Contains(info.Owner.Contact, "@") && !strings.ContainsAny(info.Owner.Contact, "?&# ") {
		// Mail programs read "+" literally in a mailto: body.
		mailto = "mailto:" + info.Owner.Contact + "?body=" + strings.ReplaceAll(url.QueryEscape(q.Body), "+", "%20")
	}
	ws.d.Pages.Render(w, r, http.StatusOK, AssetsID+"/question.html", web.Page{Title: "kontaktcenter.question.title", Data: map[string]any{
		"Module": mv, "Question": q.Body, "Mailto": mailto, "Person": personOf(p),
	}})
}

// citizenCase returns the case id if it belongs to the citizen p (as owner
// or subject) and has been submitted; otherwise it answers 404, audited
// as a denial when the case exists.
func (ws *workspace) citizenCase(w http.ResponseWriter, r *http.Request, p population.Person) (*cases.Case, bool) {
	id := r.PathValue("id")
	c, err := ws.d.Cases.Get(r.Context(), id)
	switch {
	case errors.Is(err, cases.ErrNotFound):
		ws.d.Fail(w, r, http.StatusNotFound, "error.404")
		return nil, false
	case err != nil:
		ws.d.Log.ErrorContext(r.Context(), "case store unavailable", "request_id", mw.RequestIDFrom(r.Context()), "err", err)
		ws.unavailable(w, r)
		return nil, false
	}
	if c.Status == cases.Draft || (c.Owner != p.PersonalNumber && c.Subject != p.PersonalNumber) {
		if !ws.record(w, r, ws.event(r, "case.denied", p.PersonalNumber, "case-id:"+c.ID, audit.Denied, map[string]string{"module": c.ModuleID})) {
			return nil, false
		}
		ws.d.Fail(w, r, http.StatusNotFound, "error.404")
		return nil, false
	}
	return c, true
}

type messageView struct {
	Time      time.Time
	KindKey   string
	Body      string
	FromAgent bool
}

type caseData struct {
	Case     caseView
	History  []cases.HistoryEntry
	Messages []messageView
	Person   personView
	Kind     string
	Body     string
	Errors   formErrors
	Sent     bool
	// Contact is the owning department, for questions the agent cannot
	// answer from what is shown.
	Module moduleView
}

func (ws *workspace) casePage(w http.ResponseWriter, r *http.Request) {
	p, ok := ws.actingPerson(w, r)
	if !ok {
		return
	}
	c, ok := ws.citizenCase(w, r, p)
	if !ok {
		return
	}
	ws.renderCase(w, r, http.StatusOK, p, c, &caseData{Kind: "note", Sent: r.URL.Query().Get("skickat") == "1"})
}

// renderCase audits the view and shows a case: everything but the module's
// own content, or, when hidden, only its number, e-service and status.
func (ws *workspace) renderCase(w http.ResponseWriter, r *http.Request, status int, p population.Person, c *cases.Case, data *caseData) {
	l := lang(r)
	cv := ws.caseView(c, l, p.Protected)
	detail := protectedDetail(p, map[string]string{"module": c.ModuleID})
	if cv.Hidden {
		detail["content"] = "hidden"
	}
	if !ws.record(w, r, ws.event(r, "case.viewed", p.PersonalNumber, "case:"+c.Number, audit.Success, detail)) {
		return
	}
	data.Case, data.Person = cv, personOf(p)
	if info, ok := ws.mods[c.ModuleID]; ok {
		data.Module = moduleView{ID: info.ID, Title: info.Title(l), Department: info.Owner.Department, Owner: info.Owner.Name, Contact: info.Owner.Contact}
	}
	if !cv.Hidden {
		data.History = c.History
		msgs, err := ws.d.Cases.Messages(r.Context(), c.ID)
		if err != nil {
			ws.d.Log.ErrorContext(r.Context(), "case store unavailable", "request_id", mw.RequestIDFrom(r.Context()), "err", err)
			ws.unavailable(w, r)
			return
		}
		agent := agentSession(r).Identity.Key()
		for _, m := range msgs {
			data.Messages = append(data.Messages, messageView{Time: m.Time, KindKey: "kontaktcenter.direction." + string(m.Direction), Body: m.Body, FromAgent: m.From == agent})
		}
	}
	ws.d.Pages.Render(w, r, status, AssetsID+"/case.html", web.Page{Title: "kontaktcenter.case.title", Data: data})
}

// addMessage adds an internal note or a message to the handler (a question
// to the owning department) to one of the citizen's cases. The case store
// audits it with the agent as actor; when the case is about someone else
// (a guardian's child) the citizen's own trail gets an entry too.
func (ws *workspace) addMessage(w http.ResponseWriter, r *http.Request) {
	p, ok := ws.actingPerson(w, r)
	if !ok {
		return
	}
	c, ok := ws.citizenCase(w, r, p)
	if !ok {
		return
	}
	data := &caseData{Kind: r.PostFormValue("kind"), Body: strings.TrimSpace(r.PostFormValue("body"))}
	dirs := map[string]cases.Direction{"note": cases.Internal, "handler": cases.ToHandler}
	dir, known := dirs[data.Kind]
	if !known {
		data.Errors.add("kind-note", "kontaktcenter.error.kind")
	}
	if key := validText(data.Body, 1); key != "" {
		data.Errors.add("body", key)
	}
	if len(data.Errors) > 0 {
		ws.renderCase(w, r, http.StatusUnprocessableEntity, p, c, data)
		return
	}
	s := agentSession(r)
	by := cases.Actor{Key: s.Identity.Key(), Role: RoleContactCentre, RequestID: mw.RequestIDFrom(r.Context())}
	_, err := ws.d.Cases.AddMessage(r.Context(), c.ID, cases.NewMessage{Direction: dir, Body: data.Body}, by)
	switch {
	case errors.Is(err, cases.ErrConflict):
		data.Errors.add("body", "kontaktcenter.error.closed")
		ws.renderCase(w, r, http.StatusConflict, p, c, data)
		return
	case errors.Is(err, cases.ErrInvalid):
		data.Errors.add("body", "kontaktcenter.error.body.invalid")
		ws.renderCase(w, r, http.StatusUnprocessableEntity, p, c, data)
		return
	case err != nil:
		ws.d.Log.ErrorContext(r.Context(), "case store unavailable", "request_id", mw.RequestIDFrom(r.Context()), "err", err)
		ws.unavailable(w, r)
		return
	}
	if c.Subject != p.PersonalNumber {
		if err := ws.d.Audit.Record(r.Context(), ws.event(r, "case.message_added", p.PersonalNumber, "case:"+c.Number,
			audit.Success, map[string]string{"module": c.ModuleID, "direction": string(dir)})); err != nil {
			ws.d.Log.ErrorContext(r.Context(), "audit log unavailable", "request_id", mw.RequestIDFrom(r.Context()), "err", err)
		}
	}
	http.Redirect(w, r, WorkspacePath+"/arende/"+url.PathEscape(c.ID)+"?skickat=1", http.StatusSeeOther)
}
