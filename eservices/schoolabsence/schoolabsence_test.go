package schoolabsence_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/civicgate/civicgate/auth"
	"github.com/civicgate/civicgate/eservices"
	"github.com/civicgate/civicgate/eservices/cases"
	"github.com/civicgate/civicgate/eservices/moduletest"
	"github.com/civicgate/civicgate/eservices/population"
	"github.com/civicgate/civicgate/eservices/schoolabsence"
	"github.com/civicgate/civicgate/gateway/audit"
)

// The test population (configs/population.yaml, built into population).
const (
	tolvanPNR = "198107249289" // guardian of Tian (joint) and Nian (sole)
	elvanPNR  = "195006262546" // joint custody of Tian only
	samuelPNR = "197010632391" // no children
	tianPNR   = "201701102384" // skola-1
	nianPNR   = "200809032386" // protected
)

var (
	tolvan = moduletest.Citizen(tolvanPNR, "Tolvan", "Tolvansson")
	elvan  = moduletest.Citizen(elvanPNR, "Elvan", "Elvansson")
	samuel = moduletest.Citizen(samuelPNR, "Samuel", "Samordnare")

	admin1    = moduletest.Staff("school-admin-1", "school-admin:skola-1")
	admin2    = moduletest.Staff("school-admin-2", "school-admin:skola-2")
	protAdmin = moduletest.Staff("skyddad-1", "school-admin:skyddad")
)

// today is the pinned clock: Monday 2 March 2026, 09:00 in Sweden.
var (
	sweden = mustLoc("Europe/Stockholm")
	now    = time.Date(2026, 3, 2, 9, 0, 0, 0, sweden)
)

func mustLoc(name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		return time.FixedZone("CET", 3600)
	}
	return l
}

func day(offset int) string { return now.AddDate(0, 0, offset).Format("2006-01-02") }

type env struct {
	*moduletest.Harness
	t   *testing.T
	log *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newEnv(t *testing.T, opts ...func(*moduletest.Options)) *env {
	t.Helper()
	o := moduletest.Options{Now: func() time.Time { return now }}
	for _, f := range opts {
		f(&o)
	}
	h := moduletest.New(t, schoolabsence.New(), o)
	buf := &syncBuffer{}
	// The module keeps the Env pointer, so its log can be captured here.
	h.Env.Log = slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return &env{Harness: h, t: t, log: buf}
}

func absence(child, from, to string) url.Values {
	return url.Values{"barn": {child}, "fran": {from}, "till": {to}, "omfattning": {"heldag"}, "orsak": {"illness"}}
}

func leave(child, from, to, reason string) url.Values {
	return url.Values{"barn": {child}, "fran": {from}, "till": {to}, "skal": {reason}}
}

var receiptRE = regexp.MustCompile(`^/e/skolfranvaro/kvitto/(SKOL-\d{4}-\d{6})$`)

// submit posts a form that must be accepted and returns the case number.
func (e *env) submit(as moduletest.As, path string, form url.Values) string {
	e.t.Helper()
	res := e.Post(as, path, form)
	if res.Code != http.StatusSeeOther {
		e.t.Fatalf("POST %s: status %d, want 303\n%s", path, res.Code, res.Body)
	}
	m := receiptRE.FindStringSubmatch(res.Header.Get("Location"))
	if m == nil {
		e.t.Fatalf("POST %s redirected to %q, want the receipt", path, res.Header.Get("Location"))
	}
	return m[1]
}

func (e *env) caseOf(number string) *cases.Case {
	e.t.Helper()
	c, err := e.Cases.GetByNumber(context.Background(), number)
	if err != nil {
		e.t.Fatalf("case %s: %v", number, err)
	}
	return c
}

func (e *env) content(number string) map[string]any {
	e.t.Helper()
	var m map[string]any
	if err := json.Unmarshal(e.caseOf(number).Content, &m); err != nil {
		e.t.Fatal(err)
	}
	return m
}

// audited returns the audit entries with action (and outcome, if given).
func (e *env) audited(action, outcome string) []audit.Entry {
	var out []audit.Entry
	for _, en := range e.AuditActions() {
		if en.Action == action && (outcome == "" || en.Outcome == outcome) {
			out = append(out, en)
		}
	}
	return out
}

func mustContain(t *testing.T, what, body string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Errorf("%s does not contain %q", what, w)
		}
	}
}

func mustNotContain(t *testing.T, what, body string, bads ...string) {
	t.Helper()
	for _, b := range bads {
		if strings.Contains(body, b) {
			t.Errorf("%s contains %q", what, b)
		}
	}
}

func TestInfo(t *testing.T) {
	info := schoolabsence.New().Info()
	if err := info.Validate(); err != nil {
		t.Fatal(err)
	}
	if info.ID != "skolfranvaro" || info.CasePrefix != "SKOL" || info.MinLoA != auth.LoASubstantial {
		t.Errorf("ID %q, prefix %q, LoA %v", info.ID, info.CasePrefix, info.MinLoA)
	}
	if info.Owner.Department != "Barn- och utbildningsförvaltningen" {
		t.Errorf("owner %q", info.Owner.Department)
	}
	for _, a := range []eservices.ActorKind{eservices.Self, eservices.Guardian, eservices.ContactCentre} {
		if !info.Allows(a) {
			t.Errorf("actor %s not allowed", a)
		}
	}
	if !info.Handles([]string{"school-admin:skola-1"}) || !info.Handles([]string{"school-admin:skyddad"}) || info.Handles([]string{"building-handler"}) {
		t.Error("HandlerRoles do not select the school administrators")
	}
	if _, ok := eservices.Default.Lookup("skolfranvaro"); !ok {
		t.Error("the module does not register itself")
	}
}

// TestGuardianReportsAbsence is the main journey on the guardian side: the
// form offers only the guardian's own children, the report becomes a case
// owned by the guardian about the child, routed to the child's school, with
// a confirmation in the outbox and a receipt showing the number.
func TestGuardianReportsAbsence(t *testing.T) {
	e := newEnv(t)
	form := e.Get(tolvan, "/franvaro")
	if form.Code != http.StatusOK {
		t.Fatalf("form: %d", form.Code)
	}
	mustContain(t, "the form", form.Body, `value="`+tianPNR+`"`, "Tian Tolvansson", `value="`+nianPNR+`"`, `name="csrf" value="`+moduletest.CSRF+`"`, `type="date"`)
	mustNotContain(t, "the form", form.Body, "Nian Tolvansson", elvanPNR, "20080903-XXXX")

	f := absence(tianPNR, day(0), "")
	f.Set("omfattning", "deldag")
	f.Set("start", "08:00")
	f.Set("slut", "10:30")
	f.Set("orsak", "other")
	f.Set("kommentar", "Tandläkare")
	f.Set("epost", "tolvan@example.se")
	number := e.submit(tolvan, "/franvaro", f)

	rec := e.Get(tolvan, "/kvitto/"+number)
	if rec.Code != http.StatusOK {
		t.Fatalf("receipt: %d", rec.Code)
	}
	mustContain(t, "the receipt", rec.Body, "Ditt ärendenummer är "+number, `href="/mina-sidor"`)
	en := e.Get(moduletest.As{Actor: tolvan.Actor, Subject: tolvan.Subject, Lang: "en"}, "/kvitto/"+number)
	mustContain(t, "the English receipt", en.Body, "Your case number is "+number)

	c := e.caseOf(number)
	if c.Owner != tolvanPNR || c.Subject != tianPNR || c.ModuleID != "skolfranvaro" || c.Channel != cases.EService ||
		c.CreatedByRole != "guardian" || c.Status != cases.Received {
		t.Errorf("case = owner %s subject %s module %s channel %s role %s status %s", auth.MaskPersonalNumber(c.Owner),
			auth.MaskPersonalNumber(c.Subject), c.ModuleID, c.Channel, c.CreatedByRole, c.Status)
	}
	if strings.Contains(c.Title, tianPNR) || !strings.Contains(c.Title, day(0)) {
		t.Errorf("title %q", c.Title)
	}
	ct := e.content(number)
	if ct["kind"] != "absence" || ct["scope"] != "skola-1" || ct["part_day"] != true || ct["start"] != "08:00" || ct["end"] != "10:30" ||
		ct["reason"] != "other" || ct["note"] != "Tandläkare" || ct["from"] != day(0) || ct["to"] != day(0) {
		t.Errorf("content = %v", ct)
	}
	mails, err := e.Cases.Mails(context.Background(), c.ID)
	if err != nil || len(mails) != 1 || mails[0].To != "tolvan@example.se" || mails[0].State != cases.MailPending {
		t.Errorf("outbox = %+v, %v", mails, err)
	}
	if len(e.audited("case.created", audit.Success)) != 1 {
		t.Error("the creation is not audited")
	}

	// Mina barns frånvaro lists it for the reporter.
	ov := e.Get(tolvan, "/")
	mustContain(t, "the overview", ov.Body, number, "Mottagen")
}

// TestOtherGuardianIsInformed: a report by one guardian is visible to the
// other guardian with custody, but not to anyone else.
func TestOtherGuardianIsInformed(t *testing.T) {
	e := newEnv(t)
	number := e.submit(tolvan, "/franvaro", absence(tianPNR, day(1), day(2)))

	ov := e.Get(elvan, "/")
	if ov.Code != http.StatusOK {
		t.Fatalf("Elvan's overview: %d", ov.Code)
	}
	mustContain(t, "Elvan's overview", ov.Body, number, "En annan vårdnadshavare", "Tian Tolvansson")
	mustNotContain(t, "Elvan's overview", ov.Body, "Nian")
	if res := e.Get(elvan, "/arende/"+number); res.Code != http.StatusOK {
		t.Errorf("Elvan's view of the case: %d", res.Code)
	}
	// Samuel has no custody of Tian: the case does not exist for him.
	if res := e.Get(samuel, "/arende/"+number); res.Code != http.StatusNotFound {
		t.Errorf("Samuel's view of the case: %d, want 404", res.Code)
	}
	if res := e.Get(samuel, "/kvitto/"+number); res.Code != http.StatusNotFound {
		t.Errorf("Samuel's view of the receipt: %d, want 404", res.Code)
	}
	mustNotContain(t, "Samuel's overview", e.Get(samuel, "/").Body, number)
	if len(e.audited("case.denied", audit.Denied)) != 2 {
		t.Errorf("denied reads audited %d times, want 2", len(e.audited("case.denied", audit.Denied)))
	}
}

// TestNotYourChild: a personnummer that is not one of the guardian's
// children is refused with 403 and audited, and nothing is created.
func TestNotYourChild(t *testing.T) {
	for _, tc := range []struct {
		name  string
		as    moduletest.As
		path  string
		form  url.Values
		child string
	}{
		{"Elvan for Nian (no custody)", elvan, "/franvaro", absence(nianPNR, day(0), ""), nianPNR},
		{"Elvan leave for Nian", elvan, "/ledighet", leave(nianPNR, day(1), day(2), "Resa"), nianPNR},
		{"Samuel for Tian", samuel, "/franvaro", absence(tianPNR, day(0), ""), tianPNR},
		{"Tolvan for an adult", tolvan, "/franvaro", absence(samuelPNR, day(0), ""), samuelPNR},
		{"Tolvan for herself", tolvan, "/franvaro", absence(tolvanPNR, day(0), ""), tolvanPNR},
		{"garbage", tolvan, "/franvaro", absence("20170110-2384", day(0), ""), ""},
		// Even an otherwise invalid form is refused as an attempt first.
		{"Elvan for Nian, bad dates", elvan, "/franvaro", absence(nianPNR, "1999-01-01", ""), nianPNR},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			res := e.Post(tc.as, tc.path, tc.form)
			if res.Code != http.StatusForbidden {
				t.Fatalf("status %d, want 403", res.Code)
			}
			mustContain(t, "the refusal", res.Body, "barn i din vårdnad")
			denied := e.audited("case.denied", audit.Denied)
			if len(denied) != 1 {
				t.Fatalf("case.denied audited %d times", len(denied))
			}
			if tc.child != "" && denied[0].SubjectHMAC != e.Audit.SubjectHMAC(tc.child) {
				t.Error("the denial does not name the child it was about")
			}
			if denied[0].Actor != e.Audit.SubjectHMAC(tc.as.Actor.Key()) && !strings.HasPrefix(denied[0].Actor, "hmac:") {
				t.Errorf("actor %q", denied[0].Actor)
			}
			all, err := e.Cases.ListByModule(context.Background(), "skolfranvaro", cases.Filter{})
			if err != nil || len(all) != 0 {
				t.Errorf("cases after a refusal: %d, %v", len(all), err)
			}
			if len(e.audited("case.created", "")) != 0 {
				t.Error("a case was created")
			}
		})
	}
}

// TestValidation: every rule of the form, with the boundaries, refused with
// 422, a summary, field messages and the typed values kept.
func TestValidation(t *testing.T) {
	part := func(from, to, start, end string) url.Values {
		f := absence(tianPNR, from, to)
		f.Set("omfattning", "deldag")
		f.Set("start", start)
		f.Set("slut", end)
		return f
	}
	without := func(f url.Values, key string) url.Values { f.Del(key); return f }
	with := func(f url.Values, key, v string) url.Values { f.Set(key, v); return f }
	for _, tc := range []struct {
		name  string
		path  string
		form  url.Values
		field string // "" = accepted
		msg   string
	}{
		{"absence 7 days back", "/franvaro", absence(tianPNR, day(-7), day(-6)), "", ""},
		{"absence 8 days back", "/franvaro", absence(tianPNR, day(-8), day(-7)), "fran", "längst 7 dagar bakåt"},
		{"absence a year back", "/franvaro", absence(tianPNR, "2025-03-02", ""), "fran", "längst 7 dagar bakåt"},
		{"absence today, one day", "/franvaro", absence(tianPNR, day(0), ""), "", ""},
		{"absence over a year ahead", "/franvaro", absence(tianPNR, day(0), day(366)), "till", "ett år framåt"},
		{"to before from", "/franvaro", absence(tianPNR, day(2), day(1)), "till", "före från och med"},
		{"no from", "/franvaro", absence(tianPNR, "", ""), "fran", "första datumet"},
		{"not a date", "/franvaro", absence(tianPNR, "2026-02-30", ""), "fran", "ÅÅÅÅ-MM-DD"},
		{"no child", "/franvaro", absence("", day(0), ""), "barn", "Välj vilket barn"},
		{"no extent", "/franvaro", without(absence(tianPNR, day(0), ""), "omfattning"), "omfattning", "hel dag eller del av dag"},
		{"no reason", "/franvaro", without(absence(tianPNR, day(0), ""), "orsak"), "orsak", "Välj orsak"},
		{"unknown reason", "/franvaro", with(absence(tianPNR, day(0), ""), "orsak", "vacation"), "orsak", "Välj orsak"},
		{"part day ok", "/franvaro", part(day(0), day(0), "08:00", "09:15"), "", ""},
		{"part day over days", "/franvaro", part(day(0), day(1), "08:00", "09:00"), "till", "gäller en dag"},
		{"part day no times", "/franvaro", part(day(0), "", "", ""), "start", "TT:MM"},
		{"part day bad time", "/franvaro", part(day(0), "", "25:00", "26:00"), "start", "TT:MM"},
		{"part day end first", "/franvaro", part(day(0), "", "10:00", "09:00"), "slut", "efter starttiden"},
		{"note too long", "/franvaro", with(absence(tianPNR, day(0), ""), "kommentar", strings.Repeat("x", 501)), "kommentar", "500 tecken"},
		{"bad e-mail", "/franvaro", with(absence(tianPNR, day(0), ""), "epost", "Tolvan <t@example.se>"), "epost", "e-postadress"},
		{"leave tomorrow", "/ledighet", leave(tianPNR, day(1), day(3), "Resa"), "", ""},
		{"leave today", "/ledighet", leave(tianPNR, day(0), day(3), "Resa"), "fran", "kommande dagar"},
		{"leave in the past", "/ledighet", leave(tianPNR, day(-3), day(-1), "Resa"), "fran", "kommande dagar"},
		{"leave a year ahead", "/ledighet", leave(tianPNR, now.AddDate(1, 0, -1).Format("2006-01-02"), now.AddDate(1, 0, 0).Format("2006-01-02"), "Resa"), "", ""},
		{"leave over a year ahead", "/ledighet", leave(tianPNR, day(300), now.AddDate(1, 0, 1).Format("2006-01-02"), "Resa"), "till", "ett år framåt"},
		{"leave without reason", "/ledighet", leave(tianPNR, day(1), day(2), " "), "skal", "Skriv skälet"},
		{"leave to before from", "/ledighet", leave(tianPNR, day(5), day(4), "Resa"), "till", "före från och med"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			res := e.Post(tolvan, tc.path, tc.form)
			if tc.field == "" {
				if res.Code != http.StatusSeeOther {
					t.Fatalf("status %d, want 303\n%s", res.Code, res.Body)
				}
				return
			}
			if res.Code != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 422", res.Code)
			}
			mustContain(t, "the refused form", res.Body, `role="alert"`, `href="#f-`+tc.field+`"`, `id="e-`+tc.field+`"`, tc.msg)
			if tc.field != "barn" && tc.field != "omfattning" && tc.field != "orsak" {
				mustContain(t, "the refused form", res.Body, `aria-invalid="true" aria-describedby="e-`+tc.field)
			}
			// What the guardian typed is kept.
			if v := tc.form.Get("fran"); v != "" {
				mustContain(t, "the refused form", res.Body, `value="`+v+`"`)
			}
			if v := tc.form.Get("skal"); strings.TrimSpace(v) != "" {
				mustContain(t, "the refused form", res.Body, ">"+v+"</textarea>")
			}
			if all, _ := e.Cases.ListByModule(context.Background(), "skolfranvaro", cases.Filter{}); len(all) != 0 {
				t.Error("a refused form created a case")
			}
		})
	}
}

func TestValidationInEnglish(t *testing.T) {
	e := newEnv(t)
	res := e.Post(moduletest.As{Actor: tolvan.Actor, Subject: tolvan.Subject, Lang: "en"}, "/ledighet", leave(tianPNR, day(-1), "", ""))
	if res.Code != http.StatusUnprocessableEntity {
		t.Fatalf("status %d", res.Code)
	}
	mustContain(t, "the English form", res.Body, "Leave can only be requested for coming days", "Write the reason for the leave")
	mustNotContain(t, "the English form", res.Body, "skolfranvaro.")
}

// TestSchoolScope: a school administrator sees and acknowledges the
// reports of their own school only.
func TestSchoolScope(t *testing.T) {
	e := newEnv(t)
	number := e.submit(tolvan, "/franvaro", absence(tianPNR, day(0), ""))

	// skola-2 sees nothing of skola-1's report, by list or by URL.
	list2 := e.Get(admin2, "/")
	if list2.Code != http.StatusOK {
		t.Fatalf("skola-2 list: %d", list2.Code)
	}
	mustNotContain(t, "skola-2's list", list2.Body, number, "Tian", "20170110")
	if res := e.Get(admin2, "/arende/"+number); res.Code != http.StatusNotFound {
		t.Errorf("skola-2 opening the case: %d, want 404", res.Code)
	} else {
		mustNotContain(t, "skola-2's case page", res.Body, "Tian", tianPNR)
	}
	if res := e.Post(admin2, "/arende/"+number+"/kvittera", nil); res.Code != http.StatusNotFound {
		t.Errorf("skola-2 acknowledging: %d, want 404", res.Code)
	}
	if e.caseOf(number).Status != cases.Received {
		t.Fatal("skola-2 changed skola-1's case")
	}
	denied := e.audited("case.denied", audit.Denied)
	if len(denied) != 2 || denied[0].Resource != "case:"+number || denied[0].ActorRole != "school-admin:skola-2" {
		t.Errorf("denials audited: %+v", denied)
	}
	if len(e.audited("case.viewed", "")) != 0 {
		t.Error("a refused read was audited as a view")
	}

	// skola-1 sees it in today's list, masked, and opens it (audited).
	list1 := e.Get(admin1, "/")
	mustContain(t, "skola-1's list", list1.Body, number, "Tian Tolvansson", "20170110-XXXX", `id="ack-`+number+`"`, day(0))
	mustNotContain(t, "skola-1's list", list1.Body, tianPNR)
	page := e.Get(admin1, "/arende/"+number)
	if page.Code != http.StatusOK {
		t.Fatalf("skola-1 case page: %d", page.Code)
	}
	mustContain(t, "skola-1's case page", page.Body, tianPNR, "Exempelskolan", "Tolvan Tolvansson")
	viewed := e.audited("case.viewed", audit.Success)
	if len(viewed) != 1 || viewed[0].Resource != "case:"+number || viewed[0].ActorRole != "school-admin:skola-1" ||
		viewed[0].Actor != admin1.Actor.Key() || viewed[0].SubjectHMAC != e.Audit.SubjectHMAC(tianPNR) {
		t.Errorf("view audited as %+v", viewed)
	}

	res := e.Post(admin1, "/arende/"+number+"/kvittera", url.Values{"datum": {day(0)}})
	if res.Code != http.StatusSeeOther || !strings.Contains(res.Header.Get("Location"), "kvitterad="+number) {
		t.Fatalf("acknowledge: %d %q", res.Code, res.Header.Get("Location"))
	}
	c := e.caseOf(number)
	if c.Status != cases.Closed || c.FirstResponseAt.IsZero() {
		t.Errorf("after acknowledging: status %s", c.Status)
	}
	if h := c.History[len(c.History)-1]; h.ActorRole != "school-admin:skola-1" || !strings.Contains(h.Note, "Kvitterad") {
		t.Errorf("history %+v", h)
	}
	if res := e.Post(admin1, "/arende/"+number+"/kvittera", nil); res.Code != http.StatusConflict {
		t.Errorf("second acknowledgement: %d, want 409", res.Code)
	}
	// Both guardians see that the school has acknowledged it.
	mustContain(t, "Tolvan's case page", e.Get(tolvan, "/arende/"+number).Body, "Kvitterad av skolan")
	mustContain(t, "Elvan's overview", e.Get(elvan, "/").Body, "Kvitterad av skolan")
}

// TestDayList: the school's list shows the chosen day's reports.
func TestDayList(t *testing.T) {
	e := newEnv(t)
	later := e.submit(tolvan, "/franvaro", absence(tianPNR, day(3), day(4)))
	week := e.submit(tolvan, "/franvaro", absence(tianPNR, day(-2), day(2)))

	today := e.Get(admin1, "/")
	mustContain(t, "today's list", today.Body, week)
	mustNotContain(t, "today's list", today.Body, later)
	d4 := e.Get(admin1, "/?datum="+day(4))
	mustContain(t, "the list of day 4", d4.Body, later, `value="`+day(4)+`"`)
	mustNotContain(t, "the list of day 4", d4.Body, week)
	bad := e.Get(admin1, "/?datum=igår")
	if bad.Code != http.StatusOK {
		t.Fatalf("bad date: %d", bad.Code)
	}
	mustContain(t, "the list of a bad date", bad.Body, `id="badday"`, week)
}

// TestLeaveDecision: the school decides a leave request; the decision
// reaches both guardians as status and message.
func TestLeaveDecision(t *testing.T) {
	e := newEnv(t)
	number := e.submit(tolvan, "/ledighet", leave(tianPNR, day(10), day(12), "Släktbröllop i Norrland"))

	list := e.Get(admin1, "/")
	mustContain(t, "the pending list", list.Body, `id="pending"`, number)
	mustNotContain(t, "skola-2's list", e.Get(admin2, "/").Body, number)
	if res := e.Post(admin2, "/arende/"+number+"/beslut", url.Values{"beslut": {"approved"}}); res.Code != http.StatusNotFound {
		t.Errorf("skola-2 deciding: %d, want 404", res.Code)
	}
	// A rejection needs a message; the form is shown again.
	res := e.Post(admin1, "/arende/"+number+"/beslut", url.Values{"beslut": {"rejected"}})
	if res.Code != http.StatusUnprocessableEntity {
		t.Fatalf("rejection without message: %d", res.Code)
	}
	mustContain(t, "the refused decision", res.Body, `href="#f-meddelande"`, "förklarar avslaget", `id="beslut-rejected" value="rejected" checked`)
	if res := e.Post(admin1, "/arende/"+number+"/beslut", url.Values{"beslut": {"maybe"}}); res.Code != http.StatusUnprocessableEntity {
		t.Errorf("unknown decision: %d", res.Code)
	}
	if e.caseOf(number).Status != cases.Received {
		t.Fatal("a refused decision changed the case")
	}

	res = e.Post(admin1, "/arende/"+number+"/beslut", url.Values{"beslut": {"approved"}, "meddelande": {"Trevlig resa!"}})
	if res.Code != http.StatusSeeOther || res.Header.Get("Location") != "/e/skolfranvaro/arende/"+number {
		t.Fatalf("decision: %d %q", res.Code, res.Header.Get("Location"))
	}
	c := e.caseOf(number)
	if c.Status != cases.Decided || c.DecidedAt.IsZero() {
		t.Errorf("status %s", c.Status)
	}
	msgs, err := e.Cases.Messages(context.Background(), c.ID)
	if err != nil || len(msgs) != 1 || msgs[0].Direction != cases.ToCitizen || !strings.Contains(msgs[0].Body, "beviljas") ||
		!strings.Contains(msgs[0].Body, "Trevlig resa!") || msgs[0].From != admin1.Actor.Key() {
		t.Errorf("messages %+v, %v", msgs, err)
	}
	if res := e.Post(admin1, "/arende/"+number+"/beslut", url.Values{"beslut": {"rejected"}, "meddelande": {"Nej"}}); res.Code != http.StatusConflict {
		t.Errorf("second decision: %d, want 409", res.Code)
	}
	for _, g := range []moduletest.As{tolvan, elvan} {
		page := e.Get(g, "/arende/"+number)
		mustContain(t, "the guardian's case page", page.Body, "Beviljad", "Trevlig resa!", "Släktbröllop i Norrland")
	}
	mustNotContain(t, "the pending list after the decision", e.Get(admin1, "/").Body, `id="pending"`)
	// The lists show the decision too, not only "decided".
	mustContain(t, "Elvan's overview", e.Get(elvan, "/").Body, "Beviljad")
	mustContain(t, "the school's list of the day", e.Get(admin1, "/?datum="+day(11)).Body, number, "Beviljad")
}

func TestLeaveRejected(t *testing.T) {
	e := newEnv(t)
	number := e.submit(elvan, "/ledighet", leave(tianPNR, day(20), "", "Resa"))
	res := e.Post(admin1, "/arende/"+number+"/beslut", url.Values{"beslut": {"rejected"}, "meddelande": {"Nationella prov den dagen."}})
	if res.Code != http.StatusSeeOther {
		t.Fatalf("decision: %d", res.Code)
	}
	page := e.Get(tolvan, "/arende/"+number)
	mustContain(t, "Tolvan's case page", page.Body, "Avslagen", "Nationella prov den dagen.", "En annan vårdnadshavare")
}

// protectedLeaks are what must never be shown about Nian: family name,
// address and school (configs/population.yaml holds them on purpose).
var protectedLeaks = []string{"Nian Tolvansson", "Hemliga", "Någonstans", "987 65", "skola-2", "Exempelgymnasiet"}

// TestProtectedChild: a protected child's report goes to the protected
// identity function only, shows the given name only, is never visible to a
// school, and every access is audited.
func TestProtectedChild(t *testing.T) {
	e := newEnv(t)
	number := e.submit(tolvan, "/franvaro", absence(nianPNR, day(0), ""))
	lnumber := e.submit(tolvan, "/ledighet", leave(nianPNR, day(5), day(6), "Resa"))

	ct := e.content(number)
	if ct["scope"] != "skyddad" || ct["protected"] != true || ct["child_name"] != "Nian" || ct["school_name"] != nil || ct["reporter_name"] != nil {
		t.Errorf("content %v", ct)
	}
	c := e.caseOf(number)
	mustNotContain(t, "the stored case", c.Title+string(c.Content), append(protectedLeaks, "Tolvansson", nianPNR)...)

	// Ordinary schools: nothing in lists, 404 by URL, on every school.
	for _, admin := range []moduletest.As{admin1, admin2} {
		for _, path := range []string{"/", "/?datum=" + day(5)} {
			list := e.Get(admin, path)
			mustNotContain(t, "a school's list", list.Body, append(protectedLeaks, number, lnumber, "Nian", "20080903")...)
		}
		for _, n := range []string{number, lnumber} {
			res := e.Get(admin, "/arende/"+n)
			if res.Code != http.StatusNotFound {
				t.Errorf("%s opening %s: %d, want 404", admin.Actor.Identity.Subject, n, res.Code)
			}
			mustNotContain(t, "a school's refusal", res.Body, "Nian", nianPNR)
		}
		if res := e.Post(admin, "/arende/"+number+"/kvittera", nil); res.Code != http.StatusNotFound {
			t.Errorf("acknowledging a protected case: %d", res.Code)
		}
		if res := e.Post(admin, "/arende/"+lnumber+"/beslut", url.Values{"beslut": {"approved"}}); res.Code != http.StatusNotFound {
			t.Errorf("deciding a protected case: %d", res.Code)
		}
	}
	if c := e.caseOf(number); c.Status != cases.Received {
		t.Fatal("an ordinary school changed a protected case")
	}
	if n := len(e.audited("case.denied", audit.Denied)); n != 8 {
		t.Errorf("denied accesses audited %d times, want 8", n)
	}

	// The protected identity function sees the given name only.
	before := len(e.audited("case.listed", ""))
	list := e.Get(protAdmin, "/")
	if list.Code != http.StatusOK {
		t.Fatalf("protected function list: %d", list.Code)
	}
	mustContain(t, "the protected list", list.Body, number, lnumber, "Nian", "skyddade personuppgifter")
	mustNotContain(t, "the protected list", list.Body, append(protectedLeaks, "Tolvansson", "20080903")...)
	listed := e.audited("case.listed", "")[before:]
	if len(listed) != 2 || listed[0].Detail["protected"] != "true" || listed[0].ActorRole != "school-admin:skyddad" {
		t.Errorf("protected list audited as %+v", listed)
	}
	page := e.Get(protAdmin, "/arende/"+number)
	if page.Code != http.StatusOK {
		t.Fatalf("protected case page: %d", page.Code)
	}
	mustContain(t, "the protected case page", page.Body, "Nian", `id="protected"`)
	mustNotContain(t, "the protected case page", page.Body, append(protectedLeaks, "Tolvansson")...)
	viewed := e.audited("case.viewed", "")
	if len(viewed) != 1 || viewed[0].Detail["protected"] != "true" || viewed[0].SubjectHMAC != e.Audit.SubjectHMAC(nianPNR) {
		t.Errorf("protected view audited as %+v", viewed)
	}
	if res := e.Post(protAdmin, "/arende/"+number+"/kvittera", nil); res.Code != http.StatusSeeOther {
		t.Errorf("the protected function acknowledging: %d", res.Code)
	}

	// The guardian's own pages: given name only, and audited too.
	before = len(e.AuditActions())
	ov := e.Get(tolvan, "/")
	mustContain(t, "Tolvan's overview", ov.Body, number, lnumber, "Nian")
	mustNotContain(t, "Tolvan's overview", ov.Body, protectedLeaks...)
	gpage := e.Get(tolvan, "/arende/"+number)
	mustNotContain(t, "Tolvan's case page", gpage.Body, protectedLeaks...)
	var guardianReads int
	for _, en := range e.AuditActions()[before:] {
		if (en.Action == "case.listed" || en.Action == "case.viewed") && en.Detail["protected"] == "true" {
			guardianReads++
		}
	}
	if guardianReads != 3 {
		t.Errorf("guardian reads of protected cases audited %d times, want 3", guardianReads)
	}

	// Nothing about Nian in the module's log, nor in clear in the audit log.
	mustNotContain(t, "the log", e.log.String(), append(protectedLeaks, nianPNR, "Nian")...)
	raw, _ := json.Marshal(e.AuditActions())
	mustNotContain(t, "the audit log", string(raw), nianPNR, tolvanPNR, "Nian", "Hemliga")
}

// TestProtectedFailsClosed: when a read of a protected case cannot be
// audited, nothing of the case is shown.
func TestProtectedFailsClosed(t *testing.T) {
	e := newEnv(t)
	number := e.submit(tolvan, "/franvaro", absence(nianPNR, day(0), ""))
	e.Env.Audit = brokenAudit{}
	for _, tc := range []struct {
		as   moduletest.As
		path string
	}{{protAdmin, "/"}, {protAdmin, "/arende/" + number}, {tolvan, "/"}, {tolvan, "/arende/" + number}, {admin1, "/arende/" + number}} {
		res := e.Get(tc.as, tc.path)
		if tc.as.Actor.Identity.Subject == "school-admin-1" {
			if res.Code != http.StatusNotFound {
				t.Errorf("%s: %d, want 404", tc.path, res.Code)
			}
			continue
		}
		if res.Code != http.StatusServiceUnavailable {
			t.Errorf("%s with a broken audit log: %d, want 503", tc.path, res.Code)
		}
		mustNotContain(t, "a page without audit", res.Body, "Nian", `id="facts"`)
		if tc.path == "/" {
			// Case pages carry the number in their own URL (the language
			// switch); a list must not show it.
			mustNotContain(t, "a list without audit", res.Body, number)
		}
	}
	mustNotContain(t, "the log", e.log.String(), nianPNR, tolvanPNR)
	if !strings.Contains(e.log.String(), "audit") {
		t.Error("the audit failure is not logged")
	}
}

type brokenAudit struct{}

func (brokenAudit) Record(context.Context, audit.Event) error {
	return fmt.Errorf("audit: disk full: %w", audit.ErrUnavailable)
}

// TestStaffCaseFailsClosed: an ordinary case page is not shown to staff
// either when the view cannot be audited.
func TestStaffCaseFailsClosed(t *testing.T) {
	e := newEnv(t)
	number := e.submit(tolvan, "/franvaro", absence(tianPNR, day(0), ""))
	e.Env.Audit = brokenAudit{}
	res := e.Get(admin1, "/arende/"+number)
	if res.Code != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503", res.Code)
	}
	mustNotContain(t, "the refused page", res.Body, tianPNR, "Tian")
}

// TestContactCentre: an agent reports on a guardian's behalf: the case is
// the guardian's, created by the agent, with the agent's channel.
func TestContactCentre(t *testing.T) {
	e := newEnv(t)
	kc := moduletest.ContactCentre("kc-agent-1", tolvanPNR, "Tolvan Tolvansson", "phone", "Samtal")
	form := e.Get(kc, "/franvaro")
	mustContain(t, "the agent's form", form.Body, `id="acting"`, "Tian Tolvansson", `value="`+tianPNR+`"`)
	number := e.submit(kc, "/franvaro", absence(tianPNR, day(0), ""))
	c := e.caseOf(number)
	if c.Owner != tolvanPNR || c.Subject != tianPNR || c.Channel != cases.Phone || c.CreatedBy != kc.Actor.Key() || c.CreatedByRole != "contact-centre" {
		t.Errorf("case by the contact centre: channel %s, created by %s as %s", c.Channel, c.CreatedBy, c.CreatedByRole)
	}
	if e.content(number)["reporter_name"] != "Tolvan Tolvansson" {
		t.Error("the school does not learn whom the agent acted for")
	}
	// The agent's reads are staff reads: audited.
	if res := e.Get(kc, "/arende/"+number); res.Code != http.StatusOK {
		t.Fatalf("agent's case page: %d", res.Code)
	}
	if v := e.audited("case.viewed", audit.Success); len(v) != 1 || v[0].ActorRole != "contact-centre" {
		t.Errorf("agent's read audited as %+v", v)
	}
	visit := moduletest.ContactCentre("kc-agent-1", elvanPNR, "Elvan Elvansson", "visit", "Besök")
	vnumber := e.submit(visit, "/franvaro", absence(tianPNR, day(1), ""))
	if e.caseOf(vnumber).Channel != cases.Visit {
		t.Error("a visit is not recorded as one")
	}
	// Acting for Elvan, the agent cannot report for Nian.
	if res := e.Post(visit, "/franvaro", absence(nianPNR, day(0), "")); res.Code != http.StatusForbidden {
		t.Errorf("agent for Elvan reporting Nian: %d, want 403", res.Code)
	}
	if d := e.audited("case.denied", audit.Denied); len(d) != 1 || d[0].ActorRole != "contact-centre" {
		t.Errorf("denial audited as %+v", d)
	}
	if res := e.Get(moduletest.ContactCentre("kc-agent-1", samuelPNR, "Samuel Samordnare", "phone", "x"), "/arende/"+number); res.Code != http.StatusNotFound {
		t.Errorf("agent for Samuel opening Tian's case: %d", res.Code)
	}
}

// TestWhoReachesWhat: staff without a school scope reach nothing; a citizen
// cannot act for anyone but themself.
func TestWhoReachesWhat(t *testing.T) {
	e := newEnv(t)
	number := e.submit(tolvan, "/franvaro", absence(tianPNR, day(0), ""))
	for _, as := range []moduletest.As{
		moduletest.Staff("x", "school-admin:*"),
		moduletest.Staff("y", "building-handler"),
		moduletest.Staff("z"),
	} {
		for _, path := range []string{"/", "/arende/" + number} {
			if res := e.Get(as, path); res.Code != http.StatusForbidden {
				t.Errorf("staff %v on %s: %d, want 403", as.Actor.Identity.Roles, path, res.Code)
			}
		}
	}
	// A citizen whose subject is someone else (never set so by the
	// gateway) is refused rather than trusted.
	forged := moduletest.Citizen(elvanPNR, "Elvan", "Elvansson")
	forged.Subject = &eservices.Subject{PersonalNumber: tolvanPNR}
	if res := e.Get(forged, "/arende/"+number); res.Code != http.StatusForbidden {
		t.Errorf("forged subject: %d", res.Code)
	}
	// Not a case of this module, or not a case number at all.
	for _, n := range []string{"BYGG-2026-000001", "SKOL-2026-999999", "x"} {
		if res := e.Get(tolvan, "/arende/"+n); res.Code != http.StatusNotFound {
			t.Errorf("/arende/%s: %d", n, res.Code)
		}
	}
}

// TestRegisterUnavailable: when the population register cannot answer,
// nothing is created, the page says so, and the log holds no number.
func TestRegisterUnavailable(t *testing.T) {
	e := newEnv(t, func(o *moduletest.Options) { o.Population = downRegister{} })
	res := e.Post(tolvan, "/franvaro", absence(tianPNR, day(0), ""))
	if res.Code != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503", res.Code)
	}
	mustContain(t, "the error page", res.Body, "tillfälligt otillgänglig")
	if all, _ := e.Cases.ListByModule(context.Background(), "skolfranvaro", cases.Filter{}); len(all) != 0 {
		t.Error("a case was created without the register")
	}
	mustNotContain(t, "the log", e.log.String(), tolvanPNR, tianPNR)
	if !strings.Contains(e.log.String(), "children lookup") {
		t.Errorf("the failure is not logged: %s", e.log.String())
	}
}

type downRegister struct{}

func (downRegister) Person(context.Context, string) (population.Person, error) {
	return population.Person{}, population.ErrUnavailable
}
func (downRegister) Children(context.Context, string) ([]population.Person, error) {
	return nil, population.ErrUnavailable
}
func (downRegister) Guardians(context.Context, string) ([]population.Person, error) {
	return nil, population.ErrUnavailable
}

// TestMessages: both catalogues have the same keys, all of the module's
// own, and every key the templates and code use exists.
func TestMessages(t *testing.T) {
	m := schoolabsence.New()
	cat := map[string]map[string]string{}
	for _, lang := range []string{"sv", "en"} {
		b, err := fs.ReadFile(m.Messages(), lang+".yaml")
		if err != nil {
			t.Fatal(err)
		}
		kv := map[string]string{}
		if err := yaml.Unmarshal(b, &kv); err != nil {
			t.Fatalf("%s.yaml: %v", lang, err)
		}
		for k := range kv {
			if !strings.HasPrefix(k, "skolfranvaro.") {
				t.Errorf("%s.yaml: key %q outside the module's namespace", lang, k)
			}
		}
		cat[lang] = kv
	}
	for k := range cat["sv"] {
		if _, ok := cat["en"][k]; !ok {
			t.Errorf("en.yaml lacks %s", k)
		}
	}
	for k := range cat["en"] {
		if _, ok := cat["sv"][k]; !ok {
			t.Errorf("sv.yaml lacks %s", k)
		}
	}
	used := regexp.MustCompile(`"(skolfranvaro\.[a-z_.-]+[a-z_-])"`)
	var sources []string
	pages, _ := fs.Glob(m.Templates(), "*.html")
	for _, p := range pages {
		b, _ := fs.ReadFile(m.Templates(), p)
		sources = append(sources, string(b))
	}
	for _, p := range []string{"schoolabsence.go", "access.go", "form.go", "citizen.go", "staff.go"} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		sources = append(sources, string(b))
	}
	found := 0
	for _, src := range sources {
		for _, mm := range used.FindAllStringSubmatch(src, -1) {
			found++
			if _, ok := cat["sv"][mm[1]]; !ok {
				t.Errorf("template key %s missing", mm[1])
			}
		}
	}
	if found < 50 {
		t.Errorf("only %d keys found in templates", found)
	}
	// Keys built at run time: kinds, reasons, statuses, channels.
	for _, k := range []string{"kind.absence", "kind.leave", "reason.illness", "reason.other", "channel.e-service", "channel.phone",
		"channel.visit", "status.received", "status.in_progress", "status.awaiting_supplement", "status.decided", "status.closed",
		"status.acknowledged", "status.approved", "status.rejected"} {
		if _, ok := cat["sv"]["skolfranvaro."+k]; !ok {
			t.Errorf("key skolfranvaro.%s missing", k)
		}
	}
}
