package schoolabsence

import (
	"encoding/json"
	"net/http"
	"net/url"
	"sort"

	"github.com/civicgate/civicgate/eservices"
	"github.com/civicgate/civicgate/eservices/cases"
	"github.com/civicgate/civicgate/eservices/population"
	"github.com/civicgate/civicgate/gateway/audit"
)

// base is where the gateway mounts the module; redirects and links need
// the full path because the handler sees it stripped.
const base = "/e/" + ID + "/"

// overviewData is the guardian's start page: the children and the reports
// about them ("Mina barns frånvaro").
type overviewData struct {
	Children  []childOption
	Items     []item
	ActingFor bool
}

func actingFor(r *http.Request) bool {
	a := eservices.ActorFrom(r.Context())
	return a != nil && a.Kind == eservices.ContactCentre
}

// overview lists the children in the guardian's custody and every report
// about them, whichever guardian made it: that is how the other guardian
// with custody is informed.
func (m *Module) overview(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	guardian := guardianPNR(r)
	kids, err := m.children(ctx, guardian)
	if err != nil {
		m.failErr(w, r, "children lookup", err)
		return
	}
	items, err := m.guardianItems(r, guardian, kids)
	if err != nil {
		m.failErr(w, r, "list cases", err)
		return
	}
	for i := range items {
		if err := m.auditCitizenRead(r, items[i], actionListed); err != nil {
			m.failErr(w, r, "audit", err)
			return
		}
		if err := m.withDecision(ctx, &items[i]); err != nil {
			m.failErr(w, r, "get case", err)
			return
		}
	}
	m.env.Render(w, r, http.StatusOK, "overview.html", "skolfranvaro.overview.title",
		overviewData{Children: childOptions(kids), Items: items, ActingFor: actingFor(r)})
}

// guardianItems returns the reports the guardian made and those about the
// children in their custody, newest first.
func (m *Module) guardianItems(r *http.Request, guardian string, kids []population.Person) ([]item, error) {
	ctx := r.Context()
	seen := map[string]bool{}
	var out []item
	add := func(cs []cases.Case) {
		for _, c := range cs {
			if seen[c.ID] {
				continue
			}
			if it, ok := decode(c); ok {
				seen[c.ID] = true
				it.Mine = c.Owner == guardian
				out = append(out, it)
			}
		}
	}
	owned, err := m.env.Cases.ListByOwner(ctx, guardian)
	if err != nil {
		return nil, err
	}
	add(owned)
	for _, k := range kids {
		cs, err := m.env.Cases.ListBySubject(ctx, k.PersonalNumber)
		if err != nil {
			return nil, err
		}
		add(cs)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Case.CreatedAt.After(out[j].Case.CreatedAt) })
	return out, nil
}

// auditCitizenRead records a read on the guardian side that must be
// audited: every read of a protected child's case, and every read by the
// contact centre (staff).
func (m *Module) auditCitizenRead(r *http.Request, it item, action string) error {
	if !it.Report.Protected && !actingFor(r) {
		return nil
	}
	detail := map[string]string{}
	if it.Report.Protected {
		detail["protected"] = "true"
	}
	return m.record(r.Context(), citizenRole(r), action, it.Case.Subject, "case:"+it.Case.Number, audit.Success, detail)
}

// formData is the absence or leave form.
type formData struct {
	Kind      string
	Children  []childOption
	Form      form
	Problems  problems
	Errors    map[string]string
	ActingFor bool
	// Min and Max bound the date inputs (a hint to the browser; the
	// server checks again).
	Min, Max string
}

func (m *Module) absenceForm(w http.ResponseWriter, r *http.Request) {
	m.showForm(w, r, kindAbsence, form{Extent: extentWhole}, nil, http.StatusOK)
}

func (m *Module) leaveForm(w http.ResponseWriter, r *http.Request) {
	m.showForm(w, r, kindLeave, form{}, nil, http.StatusOK)
}

func (m *Module) showForm(w http.ResponseWriter, r *http.Request, kind string, f form, p problems, status int) {
	kids, err := m.children(r.Context(), guardianPNR(r))
	if err != nil {
		m.failErr(w, r, "children lookup", err)
		return
	}
	// A single child is chosen already, so the guardian need not.
	if f.Child == "" && len(kids) == 1 && status == http.StatusOK {
		f.Child = kids[0].PersonalNumber
	}
	today := m.today()
	d := formData{Kind: kind, Children: childOptions(kids), Form: f, Problems: p, Errors: p.byField(), ActingFor: actingFor(r),
		Max: today.AddDate(1, 0, 0).Format(dateLayout)}
	page, title := "absence.html", "skolfranvaro.absence.title"
	if kind == kindLeave {
		page, title = "leave.html", "skolfranvaro.leave.title"
		d.Min = today.AddDate(0, 0, 1).Format(dateLayout)
	} else {
		d.Min = today.AddDate(0, 0, -MaxDaysBack).Format(dateLayout)
	}
	m.env.Render(w, r, status, page, title, d)
}

func (m *Module) submitAbsence(w http.ResponseWriter, r *http.Request) {
	m.submit(w, r, kindAbsence)
}

func (m *Module) submitLeave(w http.ResponseWriter, r *http.Request) {
	m.submit(w, r, kindLeave)
}

// submit checks a report against the register and the rules and creates
// the case. The child is checked first: a number that is not one of the
// guardian's children is an attempt on someone else's data, refused with
// 403 and audited, however the rest of the form looks.
func (m *Module) submit(w http.ResponseWriter, r *http.Request, kind string) {
	ctx := r.Context()
	f, err := readForm(r, w, kind)
	if err != nil {
		m.fail(w, r, http.StatusBadRequest, "error.400")
		return
	}
	guardian := guardianPNR(r)
	kids, err := m.children(ctx, guardian)
	if err != nil {
		m.failErr(w, r, "children lookup", err)
		return
	}
	var child *population.Person
	for i := range kids {
		if kids[i].PersonalNumber == f.Child {
			child = &kids[i]
		}
	}
	if f.Child != "" && child == nil {
		m.deny(r, citizenRole(r), f.Child, "module:"+ID, "not_in_custody")
		m.fail(w, r, http.StatusForbidden, "skolfranvaro.error.not_your_child")
		return
	}
	p := f.validate(kind, m.today())
	if child != nil && !child.Protected && child.School == nil {
		p.add("barn", "skolfranvaro.err.no_school")
	}
	if len(p) > 0 {
		m.showForm(w, r, kind, f, p, http.StatusUnprocessableEntity)
		return
	}

	rp := report{Kind: kind, From: f.From, To: f.To, Note: f.Note}
	if kind == kindAbsence {
		rp.PartDay = f.Extent == extentPart
		rp.Start, rp.End, rp.Reason = f.Start, f.End, f.Reason
	}
	if child.Protected {
		rp.ChildName, rp.Protected, rp.Scope = child.GivenName, true, ProtectedScope
	} else {
		rp.ChildName, rp.Scope, rp.SchoolName = child.DisplayName(), child.School.ID, child.School.Name
		if s := eservices.SubjectFrom(ctx); s != nil {
			rp.ReporterName = s.Name
		}
	}
	content, err := json.Marshal(rp)
	if err != nil {
		m.failErr(w, r, "encode report", err)
		return
	}
	c, err := m.env.Cases.Create(ctx, cases.NewCase{
		ModuleID: ID, Prefix: CasePrefix, Owner: guardian, Subject: child.PersonalNumber,
		Channel: channel(r), Title: title(rp, child.GivenName), Content: content, NotifyEmail: f.Email,
	}, eservices.CaseActor(r, citizenRole(r)))
	if err != nil {
		m.failErr(w, r, "create case", err)
		return
	}
	http.Redirect(w, r, base+"kvitto/"+url.PathEscape(c.Number), http.StatusSeeOther)
}

// title is the case's summary line for lists (Mina sidor, the contact
// centre): kind, dates and the child's given name, never a number.
func title(rp report, given string) string {
	kind := "Frånvaroanmälan / Absence report"
	if rp.Kind == kindLeave {
		kind = "Ledighetsansökan / Leave request"
	}
	dates := rp.From
	if rp.To != rp.From {
		dates += "–" + rp.To
	}
	return kind + " " + dates + " (" + given + ")"
}

// channel is how the report reached the municipality: the e-service, or
// the contact centre's phone call or visit.
func channel(r *http.Request) cases.Channel {
	a := eservices.ActorFrom(r.Context())
	if a == nil || a.Kind != eservices.ContactCentre {
		return cases.EService
	}
	if ch := cases.Channel(a.Channel); ch == cases.Phone || ch == cases.Visit {
		return ch
	}
	// The contact centre always talks to the citizen somehow; a channel
	// the gateway did not name is most likely a call.
	return cases.Phone
}

// caseData is the guardian's view of one case.
type caseData struct {
	Item      item
	Messages  []message
	Receipt   bool
	ActingFor bool
}

// citizenItem returns the case of the request's {number} if the guardian
// may see it: they reported it, or they have custody of the child now. A
// refusal is audited and looks like a missing case.
func (m *Module) citizenItem(w http.ResponseWriter, r *http.Request) (item, bool) {
	ctx := r.Context()
	guardian := guardianPNR(r)
	it, err := m.caseByNumber(ctx, r.PathValue("number"))
	if err != nil {
		m.failErr(w, r, "get case", err)
		return item{}, false
	}
	ok := it.Case.Owner == guardian
	if !ok {
		ok, err = m.isGuardianOf(ctx, guardian, it.Case.Subject)
		if err != nil {
			m.failErr(w, r, "guardians lookup", err)
			return item{}, false
		}
	}
	if !ok {
		m.deny(r, citizenRole(r), it.Case.Subject, "case:"+it.Case.Number, "not_guardian")
		m.fail(w, r, http.StatusNotFound, "error.404")
		return item{}, false
	}
	it.Mine = it.Case.Owner == guardian
	if err := m.auditCitizenRead(r, it, actionViewed); err != nil {
		m.failErr(w, r, "audit", err)
		return item{}, false
	}
	return it, true
}

func (m *Module) receipt(w http.ResponseWriter, r *http.Request) {
	it, ok := m.citizenItem(w, r)
	if !ok {
		return
	}
	m.env.Render(w, r, http.StatusOK, "case.html", "skolfranvaro.receipt.title",
		caseData{Item: it, Receipt: true, ActingFor: actingFor(r)})
}

func (m *Module) citizenCase(w http.ResponseWriter, r *http.Request) {
	it, ok := m.citizenItem(w, r)
	if !ok {
		return
	}
	msgs, err := m.visibleMessages(r.Context(), it.Case.ID)
	if err != nil {
		m.failErr(w, r, "messages", err)
		return
	}
	m.env.Render(w, r, http.StatusOK, "case.html", "skolfranvaro.case.title",
		caseData{Item: it, Messages: msgs, ActingFor: actingFor(r)})
}
