package socialcase_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/civicgate/civicgate/auth"
	"github.com/civicgate/civicgate/eservices"
	"github.com/civicgate/civicgate/eservices/cases"
	"github.com/civicgate/civicgate/eservices/moduletest"
	"github.com/civicgate/civicgate/eservices/socialcase"
	"github.com/civicgate/civicgate/gateway/audit"
	"github.com/goccy/go-yaml"
)

const (
	samuel = "197010632391" // the applicant (samordningsnummer)
	tolvan = "198107249289" // another citizen
	// secret is a piece of content that only the applicant and social
	// services handlers may ever see.
	secret = "Skulder hos Kronofogden XYZZY"
	base   = "/e/" + socialcase.ID
)

// june15 pins the clock: the open months are 2026-06 and 2026-07.
var june15 = time.Date(2026, 6, 15, 10, 0, 0, 0, time.UTC)

var (
	pdf = []byte("%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n")
	png = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
)

var (
	applicant     = moduletest.Citizen(samuel, "Samuel", "Samordnare")
	otherCitizen  = moduletest.Citizen(tolvan, "Tolvan", "Tolvansson")
	socialHandler = moduletest.Staff("social-1", "social-handler")
	building      = moduletest.Staff("building-1", "building-handler")
	contactCentre = moduletest.ContactCentre("kc-agent-1", samuel, "Samuel Samordnare", "phone", "Ärende 42")
)

type env struct {
	*moduletest.Harness
	logs *bytes.Buffer
}

func newEnv(t *testing.T) env {
	t.Helper()
	h := moduletest.New(t, socialcase.New(), moduletest.Options{Now: func() time.Time { return june15 }})
	var logs bytes.Buffer
	h.Env.Log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return env{Harness: h, logs: &logs}
}

func validForm() url.Values {
	return url.Values{
		"month":           {"2026-07"},
		"hh-0-name":       {"Tian Tolvansson"},
		"hh-0-relation":   {"child"},
		"hh-0-age":        {"9"},
		"income-salary":   {"12 500"},
		"income-benefits": {"1500"},
		"expense-rent":    {"7800"},
		"expense-travel":  {"950"},
		"housing":         {"rental"},
		"other":           {secret},
	}
}

func must(t *testing.T, r moduletest.Response, code int) {
	t.Helper()
	if r.Code != code {
		t.Fatalf("status %d, want %d; body:\n%s", r.Code, code, r.Body)
	}
}

// submit applies as the applicant and returns the case number.
func (e env) submit(t *testing.T) string {
	t.Helper()
	r := e.PostMultipart(applicant, "/ansokan", validForm(), moduletest.File{Field: "attachments", Name: "hyreskontrakt.pdf", Data: pdf})
	must(t, r, http.StatusSeeOther)
	review := r.Header.Get("Location")
	if !strings.HasPrefix(review, base+"/ansokan/") || !strings.HasSuffix(review, "/granska") {
		t.Fatalf("after the form, redirect to %q, want the review page", review)
	}
	id := strings.TrimSuffix(strings.TrimPrefix(review, base+"/ansokan/"), "/granska")
	r = e.Post(applicant, "/ansokan/"+id+"/skicka", url.Values{"consent": {"yes"}})
	must(t, r, http.StatusSeeOther)
	m := regexp.MustCompile(`^` + base + `/arende/(SOC-2026-\d{6})/kvitto$`).FindStringSubmatch(r.Header.Get("Location"))
	if m == nil {
		t.Fatalf("after submitting, redirect to %q, want the receipt", r.Header.Get("Location"))
	}
	return m[1]
}

func (e env) caseByNumber(t *testing.T, number string) *cases.Case {
	t.Helper()
	c, err := e.Cases.GetByNumber(context.Background(), number)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (e env) forSubject(t *testing.T, pnr string) []audit.Entry {
	t.Helper()
	es, err := e.Audit.ForSubject(context.Background(), pnr, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return es
}

func count(es []audit.Entry, action string) int {
	n := 0
	for _, e := range es {
		if e.Action == action {
			n++
		}
	}
	return n
}

func TestInfo(t *testing.T) {
	info := socialcase.New().Info()
	if err := info.Validate(); err != nil {
		t.Fatal(err)
	}
	if info.ID != "ekonomiskt-bistand" || info.CasePrefix != "SOC" || !info.Confidential || info.MinLoA != auth.LoASubstantial {
		t.Errorf("info = %+v", info)
	}
	if !info.Allows(eservices.Self) || info.Allows(eservices.ContactCentre) || info.Allows(eservices.Guardian) {
		t.Errorf("actors = %v, want self only", info.Actors)
	}
	if !info.Handles([]string{"social-handler"}) || info.Handles([]string{"building-handler"}) || info.Handles([]string{"contact-centre"}) {
		t.Errorf("handler roles = %v", info.HandlerRoles)
	}
	if info.Owner.Department != "Socialförvaltningen" || !strings.Contains(info.LegalBasis, "socialtjänstlagen 4 kap. 1 §") {
		t.Errorf("owner %+v, legal basis %q", info.Owner, info.LegalBasis)
	}
}

// TestMessages checks that both catalogues have the same keys, all under
// the module ID, and that every key the pages and code use exists.
func TestMessages(t *testing.T) {
	m := socialcase.New()
	cat := map[string]map[string]string{}
	for _, lang := range []string{"sv", "en"} {
		data, err := fs.ReadFile(m.Messages(), lang+".yaml")
		if err != nil {
			t.Fatal(err)
		}
		kv := map[string]string{}
		if err := yaml.Unmarshal(data, &kv); err != nil {
			t.Fatal(err)
		}
		for k := range kv {
			if !strings.HasPrefix(k, socialcase.ID+".") {
				t.Errorf("%s: key %q is not under %s.", lang, k, socialcase.ID)
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
	var used []string
	tmpl, _ := fs.Glob(m.Templates(), "*.html")
	for _, f := range tmpl {
		data, _ := fs.ReadFile(m.Templates(), f)
		for _, k := range regexp.MustCompile(`"(ekonomiskt-bistand\.[a-z0-9_.-]+[a-z0-9_])"`).FindAllStringSubmatch(string(data), -1) {
			used = append(used, k[1])
		}
	}
	src, _ := filepath.Glob("*.go")
	for _, f := range src {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		data, _ := os.ReadFile(f)
		for _, k := range regexp.MustCompile(`"(err\.[a-z.]+[a-z])"`).FindAllStringSubmatch(string(data), -1) {
			used = append(used, socialcase.ID+"."+k[1])
		}
		for _, k := range regexp.MustCompile(`ID\+"(\.[a-z.]+)"`).FindAllStringSubmatch(string(data), -1) {
			used = append(used, socialcase.ID+k[1])
		}
	}
	for _, s := range []string{"draft", "received", "in_progress", "awaiting_supplement", "decided", "closed"} {
		used = append(used, socialcase.ID+".status."+s)
	}
	if len(used) < 100 {
		t.Fatalf("found only %d used keys; the scan is broken", len(used))
	}
	for _, k := range used {
		if _, ok := cat["sv"][k]; !ok {
			t.Errorf("key %s is used but missing", k)
		}
	}
}

func TestApplyReviewSubmitReceipt(t *testing.T) {
	e := newEnv(t)
	r := e.Get(applicant, "/")
	must(t, r, http.StatusOK)
	if !strings.Contains(r.Body, `href="`+base+`/ansokan"`) || !strings.Contains(r.Body, "Du har inga inskickade ansökningar") {
		t.Errorf("start page lacks the apply link or the empty list:\n%s", r.Body)
	}

	r = e.Get(applicant, "/ansokan")
	must(t, r, http.StatusOK)
	for _, want := range []string{`value="2026-06"`, `value="2026-07"`, `name="csrf" value="` + moduletest.CSRF + `"`, `enctype="multipart/form-data"`, `id="hh-5-name"`, `id="expense-childcare"`, `type="radio" id="housing-rental"`, `<label for="income-salary">`} {
		if !strings.Contains(r.Body, want) {
			t.Errorf("form lacks %s", want)
		}
	}
	if strings.Contains(r.Body, `value="2026-05"`) || strings.Contains(r.Body, `value="2026-08"`) {
		t.Error("the form offers a month other than the current and the next")
	}

	// The form keeps a draft and shows the summary; nothing is submitted
	// yet.
	r = e.PostMultipart(applicant, "/ansokan", validForm(), moduletest.File{Field: "attachments", Name: "hyreskontrakt.pdf", Data: pdf})
	must(t, r, http.StatusSeeOther)
	review := strings.TrimPrefix(r.Header.Get("Location"), base)
	list, err := e.Cases.ListByOwner(context.Background(), samuel)
	if err != nil || len(list) != 1 || list[0].Status != cases.Draft || list[0].Number != "" {
		t.Fatalf("after the form the store holds %+v (%v), want one draft", list, err)
	}
	r = e.Get(applicant, review)
	must(t, r, http.StatusOK)
	for _, want := range []string{"2026-07", "14 000 kr", "8 750 kr", "Tian Tolvansson", "2 personer", "Hyresrätt", secret, "hyreskontrakt.pdf", `id="consent"`} {
		if !strings.Contains(r.Body, want) {
			t.Errorf("review page lacks %q", want)
		}
	}

	// Without the consent nothing is submitted.
	id := list[0].ID
	r = e.Post(applicant, "/ansokan/"+id+"/skicka", url.Values{})
	must(t, r, http.StatusUnprocessableEntity)
	if !strings.Contains(r.Body, `role="alert"`) || !strings.Contains(r.Body, `href="#consent"`) || !strings.Contains(r.Body, `aria-invalid="true" aria-describedby="consent-error"`) {
		t.Errorf("missing consent is not shown as a field error:\n%s", r.Body)
	}
	if c, _ := e.Cases.Get(context.Background(), id); c.Status != cases.Draft {
		t.Fatalf("submitted without consent: %s", c.Status)
	}

	r = e.Post(applicant, "/ansokan/"+id+"/skicka", url.Values{"consent": {"yes"}})
	must(t, r, http.StatusSeeOther)
	if loc := r.Header.Get("Location"); loc != base+"/arende/SOC-2026-000001/kvitto" {
		t.Fatalf("redirect to %q", loc)
	}
	r = e.Get(applicant, "/arende/SOC-2026-000001/kvitto")
	must(t, r, http.StatusOK)
	if !strings.Contains(r.Body, "Ditt ärendenummer är SOC-2026-000001") || !strings.Contains(r.Body, `href="/mina-sidor"`) {
		t.Errorf("receipt lacks the number or the Mina sidor link:\n%s", r.Body)
	}
	en := applicant
	en.Lang = "en"
	if r := e.Get(en, "/arende/SOC-2026-000001/kvitto"); !strings.Contains(r.Body, "Your case number is SOC-2026-000001") {
		t.Errorf("English receipt lacks the number")
	}

	c := e.caseByNumber(t, "SOC-2026-000001")
	if c.Status != cases.Received || c.Owner != samuel || c.Subject != samuel || c.ModuleID != socialcase.ID || c.Channel != cases.EService {
		t.Errorf("case = %+v", c)
	}
	if c.Title != "Ansökan ekonomiskt bistånd 2026-07" {
		t.Errorf("title %q", c.Title)
	}
	var app socialcase.Application
	if err := json.Unmarshal(c.Content, &app); err != nil {
		t.Fatal(err)
	}
	if !app.Consent || app.ConsentAt.IsZero() || app.Month != "2026-07" || app.Income["salary"] != 12500 || app.Expenses["rent"] != 7800 ||
		len(app.Household) != 1 || app.Household[0].Age != 9 || app.Housing != "rental" || app.Other != secret || app.ApplicantName != "Samuel Samordnare" {
		t.Errorf("content = %+v", app)
	}
	atts, _ := e.Cases.Attachments(context.Background(), c.ID)
	if len(atts) != 1 || atts[0].ContentType != cases.TypePDF || atts[0].Name != "hyreskontrakt.pdf" {
		t.Errorf("attachments = %+v", atts)
	}
	if n := count(e.forSubject(t, samuel), "case.submitted"); n != 1 {
		t.Errorf("%d case.submitted audit entries, want 1", n)
	}
	// The start page now lists the case.
	if r := e.Get(applicant, "/"); !strings.Contains(r.Body, "SOC-2026-000001") || !strings.Contains(r.Body, "Mottagen") {
		t.Errorf("start page does not list the case")
	}
}

func TestValidation(t *testing.T) {
	tests := []struct {
		name  string
		set   map[string]string
		field string
		msg   string
	}{
		{"negative amount", map[string]string{"expense-rent": "-500"}, "expense-rent", "kan inte vara negativt"},
		{"absurd income", map[string]string{"income-salary": "99999999"}, "income-salary", "orimligt stort"},
		{"absurd expense", map[string]string{"expense-medicine": "250000"}, "expense-medicine", "orimligt stort"},
		{"decimals", map[string]string{"expense-electricity": "450,50"}, "expense-electricity", "helt antal kronor"},
		{"letters", map[string]string{"income-other": "tusen"}, "income-other", "helt antal kronor"},
		{"past month", map[string]string{"month": "2026-05"}, "month", "har passerat"},
		{"far month", map[string]string{"month": "2026-09"}, "month", "högst nästa månad"},
		{"long past month", map[string]string{"month": "2019-01"}, "month", "har passerat"},
		{"malformed month", map[string]string{"month": "juli"}, "month", "år och månad"},
		{"no month", map[string]string{"month": ""}, "month", "Välj vilken månad"},
		{"no housing", map[string]string{"housing": ""}, "housing-rental", "Välj hur du bor"},
		{"unknown housing", map[string]string{"housing": "castle"}, "housing-rental", "Välj hur du bor"},
		{"member without age", map[string]string{"hh-0-age": ""}, "hh-0-age", "Skriv personens ålder"},
		{"member absurd age", map[string]string{"hh-0-age": "200"}, "hh-0-age", "mellan 0 och 120"},
		{"member without name", map[string]string{"hh-0-name": ""}, "hh-0-name", "Skriv namnet"},
		{"member bad relation", map[string]string{"hh-0-relation": "boss"}, "hh-0-relation", "Välj personens relation"},
		{"half-filled second row", map[string]string{"hh-3-age": "40"}, "hh-3-name", "Skriv namnet"},
		{"long text", map[string]string{"other": strings.Repeat("x", 4001)}, "other", "högst 4 000 tecken"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			form := validForm()
			for k, v := range tc.set {
				form.Set(k, v)
			}
			r := e.PostMultipart(applicant, "/ansokan", form)
			must(t, r, http.StatusUnprocessableEntity)
			if !strings.Contains(r.Body, `role="alert"`) || !strings.Contains(r.Body, `href="#`+tc.field+`"`) {
				t.Errorf("no error summary linking to #%s", tc.field)
			}
			errID := tc.field + "-error"
			if tc.field == "housing-rental" {
				errID = "housing-error" // the radio group's message
			}
			if !strings.Contains(r.Body, `id="`+errID+`">`) || !strings.Contains(r.Body, tc.msg) {
				t.Errorf("no field message %q for %s", tc.msg, tc.field)
			}
			if !regexp.MustCompile(`id="` + tc.field + `"[^>]*aria-invalid="true"`).MatchString(r.Body) {
				t.Errorf("%s is not marked aria-invalid", tc.field)
			}
			// What was typed is kept.
			if tc.field != "other" && !strings.Contains(r.Body, secret) {
				t.Error("the free text was not kept")
			}
			if tc.field != "hh-0-name" && !strings.Contains(r.Body, `value="Tian Tolvansson"`) {
				t.Error("the household row was not kept")
			}
			if list, _ := e.Cases.ListByOwner(context.Background(), samuel); len(list) != 0 {
				t.Errorf("an invalid form stored %d cases", len(list))
			}
		})
	}
	t.Run("blank rows and spaced amounts are fine", func(t *testing.T) {
		e := newEnv(t)
		form := validForm()
		form.Set("expense-rent", "7\u00a0800")
		form.Set("hh-4-name", "")
		form.Set("month", "2026-06")
		must(t, e.PostMultipart(applicant, "/ansokan", form), http.StatusSeeOther)
	})
}

func TestAttachmentsAreCheckedByTheirBytes(t *testing.T) {
	e := newEnv(t)
	r := e.PostMultipart(applicant, "/ansokan", validForm(), moduletest.File{Field: "attachments", Name: "lonebesked.pdf", Data: []byte("MZ\x90\x00 not a pdf at all")})
	must(t, r, http.StatusUnprocessableEntity)
	if !strings.Contains(r.Body, "inte en PDF, PNG eller JPEG") || !strings.Contains(r.Body, `href="#attachments"`) {
		t.Errorf("a disguised file was not refused with a field message")
	}
	var many []moduletest.File
	for range 6 {
		many = append(many, moduletest.File{Field: "attachments", Name: "a.png", Data: png})
	}
	r = e.PostMultipart(applicant, "/ansokan", validForm(), many...)
	must(t, r, http.StatusUnprocessableEntity)
	if !strings.Contains(r.Body, "för många filer") {
		t.Error("six files at once were accepted")
	}
	// The municipality's upload limit applies.
	if r := e.Get(applicant, "/ansokan"); !strings.Contains(r.Body, "10 MB per fil") {
		t.Error("the form does not state the default upload limit")
	}
	e.Env.MaxUploadBytes = 1 << 20
	big := append(append([]byte{}, pdf...), bytes.Repeat([]byte("0"), 1<<20)...)
	r = e.PostMultipart(applicant, "/ansokan", validForm(), moduletest.File{Field: "attachments", Name: "stor.pdf", Data: big})
	must(t, r, http.StatusUnprocessableEntity)
	if !strings.Contains(r.Body, "En av filerna är för stor") || !strings.Contains(r.Body, "1 MB per fil") {
		t.Error("a file over the limit was not refused with a field message")
	}
	if list, _ := e.Cases.ListByOwner(context.Background(), samuel); len(list) != 0 {
		t.Errorf("refused uploads stored %d cases", len(list))
	}
}

// TestMonthGoneStaleAtSubmit: a draft for June reviewed in June cannot be
// submitted once July has ended June.
func TestMonthGoneStaleAtSubmit(t *testing.T) {
	now := june15
	h := moduletest.New(t, socialcase.New(), moduletest.Options{Now: func() time.Time { return now }})
	form := validForm()
	form.Set("month", "2026-06")
	r := h.PostMultipart(applicant, "/ansokan", form)
	must(t, r, http.StatusSeeOther)
	review := strings.TrimPrefix(r.Header.Get("Location"), base)
	now = time.Date(2026, 7, 2, 10, 0, 0, 0, time.UTC)
	r = h.Post(applicant, strings.TrimSuffix(review, "/granska")+"/skicka", url.Values{"consent": {"yes"}})
	must(t, r, http.StatusUnprocessableEntity)
	if !strings.Contains(r.Body, "går inte längre att söka för") {
		t.Errorf("stale month not explained:\n%s", r.Body)
	}
	if list, _ := h.Cases.ListByOwner(context.Background(), samuel); len(list) != 1 || list[0].Status != cases.Draft {
		t.Errorf("a stale application was submitted: %+v", list)
	}
}

func TestOtherCitizensGet404(t *testing.T) {
	e := newEnv(t)
	number := e.submit(t)
	c := e.caseByNumber(t, number)
	atts, _ := e.Cases.Attachments(context.Background(), c.ID)

	// A draft of the applicant's too.
	r := e.PostMultipart(applicant, "/ansokan", validForm())
	must(t, r, http.StatusSeeOther)
	draft := strings.TrimPrefix(r.Header.Get("Location"), base)

	for _, target := range []string{"/arende/" + number, "/arende/" + number + "/kvitto", "/arende/" + number + "/bilaga/" + atts[0].ID, draft, strings.TrimSuffix(draft, "/granska"), "/arende/SOC-2026-999999"} {
		r := e.Get(otherCitizen, target)
		if r.Code != http.StatusNotFound {
			t.Errorf("GET %s by another citizen: %d, want 404", target, r.Code)
		}
		if strings.Contains(r.Body, secret) || strings.Contains(r.Body, "Tian") {
			t.Errorf("GET %s by another citizen shows content", target)
		}
	}
	r = e.PostMultipart(otherCitizen, "/arende/"+number+"/komplettera", url.Values{"message": {"hej"}})
	must(t, r, http.StatusNotFound)
	r = e.Post(otherCitizen, strings.TrimSuffix(draft, "/granska")+"/skicka", url.Values{"consent": {"yes"}})
	must(t, r, http.StatusNotFound)
	r = e.PostMultipart(otherCitizen, strings.TrimSuffix(draft, "/granska"), validForm())
	must(t, r, http.StatusNotFound)
	// The applicant trying handler actions is told nothing exists there.
	r = e.Post(applicant, "/arende/"+number+"/beslut", url.Values{"decision": {"granted"}, "amount": {"99999"}, "motivation": {"själv"}})
	must(t, r, http.StatusNotFound)
	if c := e.caseByNumber(t, number); c.Status != cases.Received {
		t.Errorf("status after the refused actions: %s", c.Status)
	}
	if msgs, _ := e.Cases.Messages(context.Background(), c.ID); len(msgs) != 0 {
		t.Errorf("refused actions added messages: %+v", msgs)
	}
	// The other citizen's own list does not show it.
	if r := e.Get(otherCitizen, "/"); strings.Contains(r.Body, number) {
		t.Error("another citizen's start page lists the case")
	}
}

func TestOtherStaffAreDeniedAndAudited(t *testing.T) {
	e := newEnv(t)
	number := e.submit(t)
	c := e.caseByNumber(t, number)
	atts, _ := e.Cases.Attachments(context.Background(), c.ID)
	ccWithRole := moduletest.ContactCentre("kc-agent-1", samuel, "Samuel Samordnare", "visit", "besök")
	ccWithRole.Actor.Identity.Roles = append(ccWithRole.Actor.Identity.Roles, "social-handler")
	schoolAdmin := moduletest.Staff("school-admin-1", "school-admin:skola-1")

	for name, as := range map[string]moduletest.As{"building handler": building, "contact centre": contactCentre, "contact centre with handler role": ccWithRole, "school admin": schoolAdmin} {
		t.Run(name, func(t *testing.T) {
			before := count(e.forSubject(t, samuel), "case.denied")
			for _, target := range []string{"/arende/" + number, "/arende/" + number + "/bilaga/" + atts[0].ID} {
				r := e.Get(as, target)
				if r.Code != http.StatusForbidden {
					t.Errorf("GET %s: %d, want 403", target, r.Code)
				}
				if strings.Contains(r.Body, secret) || strings.Contains(r.Body, "Tian") || strings.Contains(r.Body, "12 500") {
					t.Errorf("GET %s shows content to %s", target, name)
				}
			}
			r := e.Post(as, "/arende/"+number+"/beslut", url.Values{"decision": {"granted"}, "amount": {"1000"}, "motivation": {"x"}})
			must(t, r, http.StatusForbidden)
			denied := e.forSubject(t, samuel)
			if got := count(denied, "case.denied") - before; got != 2 {
				t.Errorf("%d case.denied entries with the applicant as subject, want 2 (the POST names no readable case)", got)
			}
			var found bool
			for _, en := range denied {
				if en.Action == "case.denied" && en.Outcome == audit.Denied && en.Resource == "case:"+number && en.Actor == as.Actor.Key() {
					found = true
				}
			}
			if !found {
				t.Errorf("no case.denied entry by %s for case:%s", as.Actor.Key(), number)
			}
			// The queue and the form are refused as well.
			for _, target := range []string{"/", "/ansokan"} {
				r := e.Get(as, target)
				if r.Code != http.StatusForbidden || strings.Contains(r.Body, number) {
					t.Errorf("GET %s: %d (or lists the case), want 403", target, r.Code)
				}
			}
			r = e.PostMultipart(as, "/ansokan", validForm())
			must(t, r, http.StatusForbidden)
		})
	}
	if c := e.caseByNumber(t, number); c.Status != cases.Received {
		t.Errorf("status after the refused decisions: %s", c.Status)
	}
	if msgs, _ := e.Cases.Messages(context.Background(), c.ID); len(msgs) != 0 {
		t.Errorf("refused staff added messages")
	}
	if list, _ := e.Cases.ListByModule(context.Background(), socialcase.ID, cases.Filter{}); len(list) != 1 {
		t.Errorf("refused staff created cases: %d", len(list))
	}
	if n := count(e.forSubject(t, samuel), "case.viewed"); n != 0 {
		t.Errorf("%d case.viewed entries although nobody was allowed to read", n)
	}
}

func TestHandlerQueueAndAuditedRead(t *testing.T) {
	e := newEnv(t)
	number := e.submit(t)

	r := e.Get(socialHandler, "/")
	must(t, r, http.StatusOK)
	if !strings.Contains(r.Body, number) || !strings.Contains(r.Body, "19701063-XXXX") {
		t.Errorf("the queue lacks the case or the masked number:\n%s", r.Body)
	}
	if strings.Contains(r.Body, samuel) || strings.Contains(r.Body, secret) || strings.Contains(r.Body, "Tian") {
		t.Error("the queue shows the full personnummer or content")
	}
	if n := len(e.forSubject(t, samuel)); n == 0 {
		t.Fatal("no audit entries for the applicant at all")
	}
	before := count(e.forSubject(t, samuel), "case.viewed")
	if before != 0 {
		t.Fatalf("%d case.viewed before any read", before)
	}

	r = e.Get(socialHandler, "/arende/"+number)
	must(t, r, http.StatusOK)
	for _, want := range []string{secret, "Tian Tolvansson", "14 000 kr", "19701063-2391", "Samuel Samordnare", "hyreskontrakt.pdf", `id="decide"`} {
		if !strings.Contains(r.Body, want) {
			t.Errorf("handler's page lacks %q", want)
		}
	}
	es := e.forSubject(t, samuel)
	var viewed []audit.Entry
	for _, en := range es {
		if en.Action == "case.viewed" {
			viewed = append(viewed, en)
		}
	}
	if len(viewed) != 1 {
		t.Fatalf("%d case.viewed entries for the applicant, want 1", len(viewed))
	}
	v := viewed[0]
	if v.Actor != socialHandler.Actor.Key() || v.ActorRole != "social-handler" || v.Resource != "case:"+number || v.Outcome != audit.Success || v.RequestID != "TESTREQ" {
		t.Errorf("case.viewed entry = %+v", v)
	}
	if v.SubjectHMAC != e.Audit.SubjectHMAC(samuel) {
		t.Error("the read is not recorded with the applicant as subject")
	}
	// Downloading an attachment is a read too.
	c := e.caseByNumber(t, number)
	atts, _ := e.Cases.Attachments(context.Background(), c.ID)
	r = e.Get(socialHandler, "/arende/"+number+"/bilaga/"+atts[0].ID)
	must(t, r, http.StatusOK)
	if r.Body != string(pdf) || r.Header.Get("Content-Type") != cases.TypePDF || !strings.HasPrefix(r.Header.Get("Content-Disposition"), "attachment;") {
		t.Errorf("download: %q %v", r.Body, r.Header)
	}
	if n := count(e.forSubject(t, samuel), "attachment.downloaded"); n != 1 {
		t.Errorf("%d attachment.downloaded after the download, want 1", n)
	}
	// The owner may download their own file; that is not a handler read.
	r = e.Get(applicant, "/arende/"+number+"/bilaga/"+atts[0].ID)
	must(t, r, http.StatusOK)
	if n := count(e.forSubject(t, samuel), "attachment.downloaded"); n != 1 {
		t.Errorf("the owner's own download was recorded as a handler read")
	}
	if r := e.Get(socialHandler, "/arende/SOC-2026-424242"); r.Code != http.StatusNotFound {
		t.Errorf("missing case: %d", r.Code)
	}
}

// failingAudit is an audit log that is down.
type failingAudit struct{}

func (failingAudit) Record(context.Context, audit.Event) error { return audit.ErrUnavailable }

func TestReadFailsClosedWithoutAudit(t *testing.T) {
	e := newEnv(t)
	number := e.submit(t)
	c := e.caseByNumber(t, number)
	atts, _ := e.Cases.Attachments(context.Background(), c.ID)
	e.Env.Audit = failingAudit{}
	for _, target := range []string{"/arende/" + number, "/arende/" + number + "/bilaga/" + atts[0].ID} {
		r := e.Get(socialHandler, target)
		if r.Code != http.StatusServiceUnavailable {
			t.Errorf("GET %s with the audit log down: %d, want 503", target, r.Code)
		}
		if strings.Contains(r.Body, secret) || strings.Contains(r.Body, "%PDF") || strings.Contains(r.Body, "Tian") {
			t.Errorf("GET %s showed content without an audit entry", target)
		}
	}
}

func TestSupplementAndDecision(t *testing.T) {
	e := newEnv(t)
	number := e.submit(t)
	c := e.caseByNumber(t, number)

	must(t, e.Post(socialHandler, "/arende/"+number+"/paborja", nil), http.StatusSeeOther)
	if c := e.caseByNumber(t, number); c.Status != cases.InProgress {
		t.Fatalf("after starting: %s", c.Status)
	}

	r := e.Post(socialHandler, "/arende/"+number+"/begar-komplettering", url.Values{"request": {"  "}})
	must(t, r, http.StatusUnprocessableEntity)
	if !strings.Contains(r.Body, "Skriv vad som behöver kompletteras") || !strings.Contains(r.Body, secret) {
		t.Error("an empty request is not explained on the case page")
	}
	r = e.Post(socialHandler, "/arende/"+number+"/begar-komplettering", url.Values{"request": {"Skicka lönebesked för maj."}})
	must(t, r, http.StatusSeeOther)
	if c := e.caseByNumber(t, number); c.Status != cases.AwaitingSupplement {
		t.Fatalf("after the request: %s", c.Status)
	}

	// The applicant sees the request and answers with a file.
	r = e.Get(applicant, "/arende/"+number)
	must(t, r, http.StatusOK)
	if !strings.Contains(r.Body, "Skicka lönebesked för maj.") || !strings.Contains(r.Body, "Väntar på komplettering") || !strings.Contains(r.Body, `id="send-reply"`) {
		t.Errorf("the applicant does not see the request:\n%s", r.Body)
	}
	r = e.PostMultipart(applicant, "/arende/"+number+"/komplettera", url.Values{})
	must(t, r, http.StatusUnprocessableEntity)
	if !strings.Contains(r.Body, "Skriv ett meddelande eller bifoga en fil") {
		t.Error("an empty supplement is not explained")
	}
	r = e.PostMultipart(applicant, "/arende/"+number+"/komplettera", url.Values{"message": {"Här är lönebeskedet."}}, moduletest.File{Field: "files", Name: "lonebesked.png", Data: png})
	must(t, r, http.StatusSeeOther)
	if c := e.caseByNumber(t, number); c.Status != cases.InProgress {
		t.Errorf("after the supplement: %s, want in_progress", c.Status)
	}
	atts, _ := e.Cases.Attachments(context.Background(), c.ID)
	var supplements int
	for _, a := range atts {
		if a.Supplement && a.Name == "lonebesked.png" && a.ContentType == cases.TypePNG {
			supplements++
		}
	}
	if len(atts) != 2 || supplements != 1 {
		t.Errorf("attachments after the supplement: %+v", atts)
	}

	// Bad decisions are refused with field messages.
	bad := []struct {
		form  url.Values
		field string
		msg   string
	}{
		{url.Values{"amount": {"1000"}, "motivation": {"x"}}, "decision-granted", "Välj beslut"},
		{url.Values{"decision": {"granted"}, "amount": {"-100"}, "motivation": {"x"}}, "amount", "kan inte vara negativt"},
		{url.Values{"decision": {"granted"}, "amount": {"9000000"}, "motivation": {"x"}}, "amount", "orimligt stort"},
		{url.Values{"decision": {"partial"}, "amount": {""}, "motivation": {"x"}}, "amount", "Ange beviljat belopp"},
		{url.Values{"decision": {"rejected"}, "amount": {"500"}, "motivation": {"x"}}, "amount", "inget belopp"},
		{url.Values{"decision": {"granted"}, "amount": {"500"}, "motivation": {""}}, "motivation", "Skriv en motivering"},
	}
	for _, b := range bad {
		r := e.Post(socialHandler, "/arende/"+number+"/beslut", b.form)
		must(t, r, http.StatusUnprocessableEntity)
		if !strings.Contains(r.Body, `href="#`+b.field+`"`) || !strings.Contains(r.Body, b.msg) {
			t.Errorf("decision %v: no message %q at %s", b.form, b.msg, b.field)
		}
	}
	if c := e.caseByNumber(t, number); c.Status != cases.InProgress {
		t.Fatalf("a refused decision changed the status to %s", c.Status)
	}

	r = e.Post(socialHandler, "/arende/"+number+"/beslut", url.Values{"decision": {"partial"}, "amount": {"4500"}, "motivation": {"Hyran överstiger skälig nivå."}})
	must(t, r, http.StatusSeeOther)
	c = e.caseByNumber(t, number)
	if c.Status != cases.Decided || c.DecidedAt.IsZero() {
		t.Fatalf("after the decision: %s", c.Status)
	}
	for _, h := range c.History {
		if h.Note != "" {
			t.Errorf("a status note carries content: %q", h.Note)
		}
	}
	msgs, _ := e.Cases.Messages(context.Background(), c.ID)
	last := msgs[len(msgs)-1]
	if last.Direction != cases.ToCitizen || !strings.Contains(last.Body, "Beviljas delvis") || !strings.Contains(last.Body, "4 500 kr") || !strings.Contains(last.Body, "Hyran överstiger skälig nivå.") {
		t.Errorf("decision message = %+v", last)
	}

	r = e.Get(applicant, "/arende/"+number)
	must(t, r, http.StatusOK)
	if !regexp.MustCompile(`(?s)id="decision".*Beviljas delvis.*4 500 kr.*Hyran överstiger skälig nivå\.`).MatchString(r.Body) || !strings.Contains(r.Body, "Beslutad") {
		t.Errorf("the applicant does not see the decision:\n%s", r.Body)
	}
	// A second decision is refused.
	r = e.Post(socialHandler, "/arende/"+number+"/beslut", url.Values{"decision": {"granted"}, "amount": {"9000"}, "motivation": {"ändrat"}})
	must(t, r, http.StatusUnprocessableEntity)
	if msgs2, _ := e.Cases.Messages(context.Background(), c.ID); len(msgs2) != len(msgs) {
		t.Error("a second decision was recorded")
	}
	// The handler's page shows the decision and no decision form.
	r = e.Get(socialHandler, "/arende/"+number)
	if !strings.Contains(r.Body, "Beviljas delvis") || strings.Contains(r.Body, `id="decide"`) {
		t.Error("the decided case still offers a decision")
	}
}

// TestNothingLogged runs every path, including failures that log, and
// checks that the module's log holds no personnummer and no content.
func TestNothingLogged(t *testing.T) {
	e := newEnv(t)
	number := e.submit(t)
	e.Get(socialHandler, "/arende/"+number)
	e.Post(socialHandler, "/arende/"+number+"/beslut", url.Values{"decision": {"granted"}, "amount": {"3000"}, "motivation": {secret}})
	e.Get(applicant, "/arende/"+number)
	e.Get(building, "/arende/"+number)
	e.Get(contactCentre, "/arende/"+number)
	e.Get(otherCitizen, "/arende/"+number)
	e.Env.Audit = failingAudit{}
	e.Get(socialHandler, "/arende/"+number)
	e.Get(building, "/arende/"+number)
	if e.logs.Len() == 0 {
		t.Fatal("nothing was logged; the failure paths did not run")
	}
	for _, s := range []string{samuel, tolvan, "19701063", secret, "Tian", "12500", "Samordnare"} {
		if strings.Contains(e.logs.String(), s) {
			t.Errorf("the log contains %q:\n%s", s, e.logs.String())
		}
	}
}

func TestModuleErrorsAreClean(t *testing.T) {
	e := newEnv(t)
	if r := e.Get(applicant, "/finns-inte"); r.Code != http.StatusNotFound {
		t.Errorf("unknown page: %d", r.Code)
	}
	if r := e.Get(applicant, "/ansokan/not-an-id/granska"); r.Code != http.StatusNotFound {
		t.Errorf("unknown draft: %d", r.Code)
	}
	r := e.Get(socialHandler, "/")
	if r.Code != http.StatusOK || !strings.Contains(r.Body, `id="queue-empty"`) {
		t.Errorf("the empty queue: %d", r.Code)
	}
	// A module that was never provisioned refuses instead of crashing.
	rec := httptest.NewRecorder()
	socialcase.New().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("unprovisioned module: %d", rec.Code)
	}
}
