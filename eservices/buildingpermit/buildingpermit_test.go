package buildingpermit_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/civicgate/civicgate/auth"
	"github.com/civicgate/civicgate/eservices"
	"github.com/civicgate/civicgate/eservices/buildingpermit"
	"github.com/civicgate/civicgate/eservices/cases"
	"github.com/civicgate/civicgate/eservices/moduletest"
	"github.com/civicgate/civicgate/gateway/audit"
)

const (
	elvanPNR  = "195006262546"
	tolvanPNR = "198107249289"
)

var (
	elvan   = moduletest.Citizen(elvanPNR, "Elvan", "Elvansson")
	tolvan  = moduletest.Citizen(tolvanPNR, "Tolvan", "Tolvansson")
	handler = moduletest.Staff("building-1", buildingpermit.RoleHandler)
	social  = moduletest.Staff("social-1", "social-handler")
	school  = moduletest.Staff("school-admin-1", "school-admin:skola-1")
	agent   = moduletest.ContactCentre("kc-agent-1", elvanPNR, "Elvan Elvansson", "phone", "ärende 42")

	pdf = []byte("%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")
	png = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
)

func newHarness(t *testing.T) *moduletest.Harness {
	t.Helper()
	m, err := buildingpermit.NewWithConfig(buildingpermit.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return moduletest.New(t, m, moduletest.Options{})
}

func validForm(action string) url.Values {
	return url.Values{
		"property":    {"jönköping  källstorp 1 : 23"},
		"measure":     {buildingpermit.MeasureExtension},
		"description": {"Tillbyggnad av enbostadshus med ett uterum på 15 kvm mot söder."},
		"email":       {"elvan@example.com"},
		"phone":       {"036-10 50 00"},
		"action":      {action},
	}
}

var idFromPath = regexp.MustCompile(`^/e/bygglov/(?:kvitto|ansokan|arende)/([^/?]+)`)

// redirectID checks a 303 to prefix and returns the case ID in it.
func redirectID(t *testing.T, res moduletest.Response, prefix string) string {
	t.Helper()
	if res.Code != http.StatusSeeOther {
		t.Fatalf("status %d, want 303; body:\n%s", res.Code, res.Body)
	}
	loc := res.Header.Get("Location")
	if !strings.HasPrefix(loc, prefix) {
		t.Fatalf("redirect to %q, want %s…", loc, prefix)
	}
	m := idFromPath.FindStringSubmatch(loc)
	if m == nil {
		t.Fatalf("no case ID in %q", loc)
	}
	return m[1]
}

// submit sends a complete application with one PDF as as, returning the
// case.
func submit(t *testing.T, h *moduletest.Harness, as moduletest.As) *cases.Case {
	t.Helper()
	res := h.PostMultipart(as, "/ansokan", validForm("submit"), moduletest.File{Field: "attachments", Name: "situationsplan.pdf", Data: pdf})
	id := redirectID(t, res, "/e/bygglov/kvitto/")
	c, err := h.Cases.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mustGet(t *testing.T, h *moduletest.Harness, id string) *cases.Case {
	t.Helper()
	c, err := h.Cases.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func auditCount(h *moduletest.Harness, action, actor string) int {
	n := 0
	for _, e := range h.AuditActions() {
		if e.Action == action && (actor == "" || e.Actor == actor) {
			n++
		}
	}
	return n
}

func TestInfo(t *testing.T) {
	info := buildingpermit.New().Info()
	if err := info.Validate(); err != nil {
		t.Fatal(err)
	}
	if info.ID != "bygglov" || info.CasePrefix != "BYGG" || info.MinLoA != auth.LoASubstantial {
		t.Errorf("identity %q %q %v", info.ID, info.CasePrefix, info.MinLoA)
	}
	if !info.Allows(eservices.Self) || !info.Allows(eservices.ContactCentre) || info.Allows(eservices.Guardian) {
		t.Errorf("actors %v", info.Actors)
	}
	if !info.Handles([]string{"building-handler"}) || info.Handles([]string{"social-handler"}) || info.Handles([]string{"school-admin:skola-1"}) {
		t.Errorf("handler roles %v", info.HandlerRoles)
	}
	if !strings.Contains(info.Owner.Department, "Samhällsbyggnadsförvaltningen") || info.Owner.Name != "Bygglovsenheten" {
		t.Errorf("owner %+v", info.Owner)
	}
	if _, err := buildingpermit.NewWithConfig(buildingpermit.Config{MaxUploadBytes: -1, MaxFilesPerUpload: -2}); err == nil ||
		!strings.Contains(err.Error(), "max_upload_bytes:") || !strings.Contains(err.Error(), "max_files_per_upload:") {
		t.Errorf("invalid config: %v", err)
	}
}

func TestPropertyDesignation(t *testing.T) {
	good := map[string]string{
		"JÖNKÖPING KÄLLSTORP 1:23":        "JÖNKÖPING KÄLLSTORP 1:23",
		"jönköping  källstorp 1 : 23":     "JÖNKÖPING KÄLLSTORP 1:23",
		"  Källstorp\t4:5 ":               "KÄLLSTORP 4:5",
		"Upplands-Väsby Smedby 12:104":    "UPPLANDS-VÄSBY SMEDBY 12:104",
		"upplands - väsby   smedby 1:1":   "UPPLANDS-VÄSBY SMEDBY 1:1",
		"ÄLMHULT ÖSTRA ÅBY 99999:99999":   "ÄLMHULT ÖSTRA ÅBY 99999:99999",
		"jönköping KÄLLSTORP 1:2":         "JÖNKÖPING KÄLLSTORP 1:2",
		"göteborg    gamlestaden   740:1": "GÖTEBORG GAMLESTADEN 740:1",
	}
	for in, want := range good {
		got, err := buildingpermit.ParsePropertyDesignation(in)
		if err != nil || got != want {
			t.Errorf("ParsePropertyDesignation(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{
		"", "1:23", "KÄLLSTORP", "KÄLLSTORP 1", "KÄLLSTORP 1:", "KÄLLSTORP :23", "KÄLLSTORP 0:1", "KÄLLSTORP 1:0",
		"KÄLLSTORP 1:2:3", "KÄLLSTORP 123456:1", "KÄLLSTORP1:23", "KÄLL5TORP 1:2", "<script> 1:2", "KÄLLSTORP 1;2",
		"KÄLLSTORP 1:2 extra", "-KÄLLSTORP 1:2", "KÄLLSTORP- 1:2", strings.Repeat("A", 80) + " 1:2", "KÄLLSTORP\u202e 1:2",
	} {
		if got, err := buildingpermit.ParsePropertyDesignation(in); !errors.Is(err, buildingpermit.ErrPropertyDesignation) {
			t.Errorf("ParsePropertyDesignation(%q) = %q, %v; want ErrPropertyDesignation", in, got, err)
		}
	}
}

func TestSubmitApplication(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	c := submit(t, h, elvan)

	if c.Status != cases.Received || c.Owner != elvanPNR || c.Subject != elvanPNR || c.Channel != cases.EService || c.ModuleID != "bygglov" {
		t.Errorf("case %+v", c)
	}
	if !regexp.MustCompile(`^BYGG-\d{4}-000001$`).MatchString(c.Number) {
		t.Errorf("number %q", c.Number)
	}
	if strings.Contains(c.Title, elvanPNR) || !strings.Contains(c.Title, "JÖNKÖPING KÄLLSTORP 1:23") {
		t.Errorf("title %q", c.Title)
	}
	if !strings.Contains(string(c.Content), `"property":"JÖNKÖPING KÄLLSTORP 1:23"`) || !strings.Contains(string(c.Content), `"measure":"extension"`) {
		t.Errorf("content %s", c.Content)
	}
	atts, _ := h.Cases.Attachments(ctx, c.ID)
	if len(atts) != 1 || atts[0].ContentType != cases.TypePDF || atts[0].Name != "situationsplan.pdf" || atts[0].Supplement {
		t.Errorf("attachments %+v", atts)
	}
	mails, _ := h.Cases.Mails(ctx, c.ID)
	if len(mails) != 1 || mails[0].To != "elvan@example.com" || !strings.Contains(mails[0].Subject, c.Number) {
		t.Errorf("confirmation mails %+v", mails)
	}
	if auditCount(h, "case.submitted", "") != 1 {
		t.Error("no case.submitted audit entry")
	}

	// The receipt shows the number at once.
	res := h.Get(elvan, "/kvitto/"+c.ID)
	if res.Code != 200 || !strings.Contains(res.Body, "Ditt ärendenummer är") || !strings.Contains(res.Body, c.Number) || !strings.Contains(res.Body, "/mina-sidor") {
		t.Errorf("receipt %d:\n%s", res.Code, res.Body)
	}
	en := elvan
	en.Lang = "en"
	if res := h.Get(en, "/kvitto/"+c.ID); !strings.Contains(res.Body, "Your case number is") {
		t.Errorf("English receipt:\n%s", res.Body)
	}
	// The start page lists it under the applicant's cases.
	if res := h.Get(elvan, "/"); !strings.Contains(res.Body, c.Number) || !strings.Contains(res.Body, `id="no-drafts"`) {
		t.Errorf("start page:\n%s", res.Body)
	}
}

func TestValidationErrorsKeepInput(t *testing.T) {
	h := newHarness(t)
	form := url.Values{
		"property":    {"Källstorp 1-23"},
		"description": {"kort"},
		"email":       {"inte en adress"},
		"phone":       {"12ab"},
		"action":      {"submit"},
	}
	res := h.PostMultipart(elvan, "/ansokan", form)
	if res.Code != http.StatusUnprocessableEntity {
		t.Fatalf("status %d", res.Code)
	}
	for _, want := range []string{
		`role="alert"`, `href="#property"`, `href="#measure"`, `href="#description"`, `href="#email"`, `href="#phone"`, `href="#attachments"`,
		`id="property-error"`, `aria-describedby="property-hint property-error"`, `value="Källstorp 1-23"`,
		`>kort</textarea>`, `value="inte en adress"`, `value="12ab"`, "JÖNKÖPING KÄLLSTORP 1:23", "Beskrivningen är för kort",
		"Bifoga minst en fil",
	} {
		if !strings.Contains(res.Body, want) {
			t.Errorf("error page lacks %q", want)
		}
	}
	if n := strings.Count(res.Body, `aria-invalid="true"`); n != 6 {
		t.Errorf("%d fields marked invalid, want 6", n)
	}
	// No contact at all is its own error.
	form = validForm("submit")
	form.Del("email")
	form.Del("phone")
	res = h.PostMultipart(elvan, "/ansokan", form, moduletest.File{Field: "attachments", Name: "a.pdf", Data: pdf})
	if res.Code != http.StatusUnprocessableEntity || !strings.Contains(res.Body, "Ange e-postadress eller telefonnummer") {
		t.Errorf("no contact: %d", res.Code)
	}
	// English messages.
	en := elvan
	en.Lang = "en"
	res = h.PostMultipart(en, "/ansokan", url.Values{"property": {"x"}, "action": {"submit"}})
	if !strings.Contains(res.Body, "for example JÖNKÖPING KÄLLSTORP 1:23") || !strings.Contains(res.Body, "Please correct the following") {
		t.Errorf("English errors:\n%s", res.Body)
	}
	if list, _ := h.Cases.ListByOwner(context.Background(), elvanPNR); len(list) != 0 {
		t.Errorf("an invalid form stored %d cases", len(list))
	}
	// A draft is checked too: what is typed must be valid.
	res = h.PostMultipart(elvan, "/ansokan", url.Values{"property": {"KÄLLSTORP"}, "action": {"save"}})
	if res.Code != http.StatusUnprocessableEntity || !strings.Contains(res.Body, `id="property-error"`) {
		t.Errorf("invalid draft: %d", res.Code)
	}
	// An unknown action or measure is refused.
	if res := h.PostMultipart(elvan, "/ansokan", url.Values{"action": {"delete"}}); res.Code != http.StatusBadRequest {
		t.Errorf("unknown action: %d", res.Code)
	}
	form = validForm("submit")
	form.Set("measure", "castle")
	if res := h.PostMultipart(elvan, "/ansokan", form, moduletest.File{Field: "attachments", Name: "a.pdf", Data: pdf}); res.Code != http.StatusUnprocessableEntity || !strings.Contains(res.Body, `id="measure-error"`) {
		t.Errorf("unknown measure: %d", res.Code)
	}
}

func TestDraftSaveContinueSubmit(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	res := h.PostMultipart(elvan, "/ansokan", url.Values{"property": {"källstorp 1:23"}, "action": {"save"}},
		moduletest.File{Field: "attachments", Name: "ritning.png", Data: png})
	id := redirectID(t, res, "/e/bygglov/ansokan/")
	if !strings.HasSuffix(res.Header.Get("Location"), "?sparat=1") {
		t.Errorf("redirect %q", res.Header.Get("Location"))
	}
	d := mustGet(t, h, id)
	if d.Status != cases.Draft || d.Number != "" || d.Owner != elvanPNR {
		t.Errorf("draft %+v", d)
	}
	if mails, _ := h.Cases.Mails(ctx, id); len(mails) != 0 {
		t.Errorf("a draft sent mail: %+v", mails)
	}
	// Listed on the start page under "Dina utkast".
	res = h.Get(elvan, "/")
	if !strings.Contains(res.Body, "Dina utkast") || !strings.Contains(res.Body, "/e/bygglov/ansokan/"+id) || !strings.Contains(res.Body, "KÄLLSTORP 1:23") {
		t.Errorf("start page lacks the draft:\n%s", res.Body)
	}
	// Continue: the form shows what was saved and the file.
	res = h.Get(elvan, "/ansokan/"+id+"?sparat=1")
	if res.Code != 200 || !strings.Contains(res.Body, `value="KÄLLSTORP 1:23"`) || !strings.Contains(res.Body, "ritning.png") ||
		!strings.Contains(res.Body, `name="draft" value="`+id+`"`) || !strings.Contains(res.Body, `id="draft-saved"`) {
		t.Errorf("draft form:\n%s", res.Body)
	}
	// Add another file to the draft, then submit without new files: the
	// draft's files count.
	form := validForm("save")
	form.Set("draft", id)
	redirectID(t, h.PostMultipart(elvan, "/ansokan", form, moduletest.File{Field: "attachments", Name: "fasad.pdf", Data: pdf}), "/e/bygglov/ansokan/"+id)
	form.Set("action", "submit")
	redirectID(t, h.PostMultipart(elvan, "/ansokan", form), "/e/bygglov/kvitto/"+id)
	c := mustGet(t, h, id)
	if c.Status != cases.Received || c.Number == "" || !strings.Contains(string(c.Content), "JÖNKÖPING KÄLLSTORP 1:23") {
		t.Errorf("submitted draft %+v", c)
	}
	if atts, _ := h.Cases.Attachments(ctx, id); len(atts) != 2 {
		t.Errorf("%d attachments, want 2", len(atts))
	}
	// A submitted draft cannot be changed or submitted again.
	if res := h.PostMultipart(elvan, "/ansokan", form); res.Code != http.StatusConflict {
		t.Errorf("second submission: %d", res.Code)
	}
	if res := h.Get(elvan, "/ansokan/"+id); res.Code != http.StatusSeeOther || res.Header.Get("Location") != "/e/bygglov/arende/"+id {
		t.Errorf("opening a submitted draft: %d %s", res.Code, res.Header.Get("Location"))
	}
}

func TestDraftOfAnotherCitizen(t *testing.T) {
	h := newHarness(t)
	id := redirectID(t, h.PostMultipart(elvan, "/ansokan", url.Values{"property": {"KÄLLSTORP 1:23"}, "action": {"save"}}), "/e/bygglov/ansokan/")

	if res := h.Get(tolvan, "/ansokan/"+id); res.Code != http.StatusNotFound || strings.Contains(res.Body, "KÄLLSTORP") {
		t.Errorf("Tolvan opened Elvan's draft: %d", res.Code)
	}
	form := validForm("submit")
	form.Set("draft", id)
	res := h.PostMultipart(tolvan, "/ansokan", form, moduletest.File{Field: "attachments", Name: "a.pdf", Data: pdf})
	if res.Code != http.StatusNotFound {
		t.Errorf("Tolvan submitted Elvan's draft: %d", res.Code)
	}
	form.Set("action", "save")
	if res := h.PostMultipart(tolvan, "/ansokan", form); res.Code != http.StatusNotFound {
		t.Errorf("Tolvan changed Elvan's draft: %d", res.Code)
	}
	c := mustGet(t, h, id)
	if c.Status != cases.Draft || strings.Contains(string(c.Content), "extension") {
		t.Errorf("the draft changed: %+v", c)
	}
	if atts, _ := h.Cases.Attachments(context.Background(), id); len(atts) != 0 {
		t.Errorf("a file was added to another's draft")
	}
	if res := h.Get(tolvan, "/"); strings.Contains(res.Body, id) {
		t.Error("Tolvan's start page lists Elvan's draft")
	}
	// Handlers do not see drafts either.
	if res := h.Get(handler, "/arende/"+id); res.Code != http.StatusNotFound {
		t.Errorf("handler opened a draft: %d", res.Code)
	}
	if res := h.Get(handler, "/"); strings.Contains(res.Body, id) {
		t.Error("the handler list shows a draft")
	}
}

func TestDisguisedFilesRefused(t *testing.T) {
	h := newHarness(t)
	for name, data := range map[string][]byte{
		"plan.pdf":  []byte("<html><script>alert(1)</script></html>"),
		"setup.pdf": append([]byte("MZ\x90\x00\x03\x00\x00\x00"), make([]byte, 64)...),
		"tom.pdf":   {},
	} {
		res := h.PostMultipart(elvan, "/ansokan", validForm("submit"),
			moduletest.File{Field: "attachments", Name: "ok.pdf", Data: pdf}, moduletest.File{Field: "attachments", Name: name, Data: data})
		if res.Code != http.StatusUnprocessableEntity {
			t.Errorf("%s: status %d", name, res.Code)
			continue
		}
		want := "Filen " + name + " är inte en PDF-, PNG- eller JPEG-fil"
		if len(data) == 0 {
			want = "Filen " + name + " är tom"
		}
		if !strings.Contains(res.Body, want) || !strings.Contains(res.Body, `id="attachments-error"`) {
			t.Errorf("%s: no clear message:\n%s", name, res.Body)
		}
	}
	if list, _ := h.Cases.ListByOwner(context.Background(), elvanPNR); len(list) != 0 {
		t.Errorf("a refused upload stored %d cases", len(list))
	}

	// The same check on supplements.
	c := submit(t, h, elvan)
	res := h.PostMultipart(elvan, "/arende/"+c.ID+"/komplettering", nil, moduletest.File{Field: "files", Name: "plan.pdf", Data: []byte("<!doctype html><p>hi")})
	if res.Code != http.StatusUnprocessableEntity || !strings.Contains(res.Body, "Filen plan.pdf är inte en PDF-, PNG- eller JPEG-fil") {
		t.Errorf("disguised supplement: %d", res.Code)
	}
	if atts, _ := h.Cases.Attachments(context.Background(), c.ID); len(atts) != 1 {
		t.Errorf("%d attachments after a refused supplement", len(atts))
	}
}

func TestUploadSizeLimit(t *testing.T) {
	m, err := buildingpermit.NewWithConfig(buildingpermit.Config{MaxUploadBytes: 100})
	if err != nil {
		t.Fatal(err)
	}
	h := moduletest.New(t, m, moduletest.Options{})
	big := append(append([]byte{}, pdf...), make([]byte, 100)...)
	res := h.PostMultipart(elvan, "/ansokan", validForm("submit"), moduletest.File{Field: "attachments", Name: "stor.pdf", Data: big})
	if res.Code != http.StatusUnprocessableEntity || !strings.Contains(res.Body, "Filen stor.pdf är för stor") {
		t.Errorf("oversized file: %d\n%s", res.Code, res.Body)
	}
}

func TestOtherCitizenGets404(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	c := submit(t, h, elvan)
	atts, _ := h.Cases.Attachments(ctx, c.ID)
	for _, target := range []string{"/arende/" + c.ID, "/kvitto/" + c.ID, "/arende/" + c.ID + "/bilaga/" + atts[0].ID, "/ansokan/" + c.ID} {
		res := h.Get(tolvan, target)
		if res.Code != http.StatusNotFound {
			t.Errorf("Tolvan GET %s: %d, want 404", target, res.Code)
		}
		// Apart from the address (in the language switch link) the answer
		// is the one for a case that does not exist.
		unknown := h.Get(tolvan, strings.ReplaceAll(target, c.ID, "00000000000000000000000000000000"))
		if strings.ReplaceAll(res.Body, c.ID, "00000000000000000000000000000000") != unknown.Body {
			t.Errorf("GET %s answers differently from an unknown case", target)
		}
		if strings.Contains(res.Body, c.Number) || strings.Contains(res.Body, "KÄLLSTORP") || strings.Contains(res.Body, "%PDF") {
			t.Errorf("GET %s leaks the case", target)
		}
	}
	res := h.PostMultipart(tolvan, "/arende/"+c.ID+"/komplettering", url.Values{"message": {"hej"}}, moduletest.File{Field: "files", Name: "x.pdf", Data: pdf})
	if res.Code != http.StatusNotFound {
		t.Errorf("Tolvan supplemented Elvan's case: %d", res.Code)
	}
	if got, _ := h.Cases.Attachments(ctx, c.ID); len(got) != 1 {
		t.Errorf("%d attachments after another's supplement", len(got))
	}
	if msgs, _ := h.Cases.Messages(ctx, c.ID); len(msgs) != 0 {
		t.Errorf("messages after another's supplement: %+v", msgs)
	}
	// A citizen cannot act as handler, whatever the case.
	for _, p := range []string{"/beslut", "/begar-komplettering", "/paborja", "/avsluta"} {
		if res := h.Post(elvan, "/arende/"+c.ID+p, url.Values{"decision": {"approved"}, "decision-text": {"ok"}, "supplement-request": {"x"}}); res.Code != http.StatusForbidden {
			t.Errorf("citizen POST %s: %d", p, res.Code)
		}
	}
	if got := mustGet(t, h, c.ID); got.Status != cases.Received {
		t.Errorf("status %s after citizen posts", got.Status)
	}
	// A case of another module is not this module's business.
	other, err := h.Cases.Create(ctx, cases.NewCase{ModuleID: "skolfranvaro", Prefix: "SKOL", Owner: elvanPNR, Title: "Frånvaro"}, cases.Actor{Key: elvanPNR, Role: "citizen"})
	if err != nil {
		t.Fatal(err)
	}
	if res := h.Get(elvan, "/arende/"+other.ID); res.Code != http.StatusNotFound {
		t.Errorf("owner opened another module's case here: %d", res.Code)
	}
	if res := h.Get(handler, "/arende/"+other.ID); res.Code != http.StatusNotFound {
		t.Errorf("handler opened another module's case: %d", res.Code)
	}
}

func TestStaffWithoutRoleRefused(t *testing.T) {
	h := newHarness(t)
	c := submit(t, h, elvan)
	atts, _ := h.Cases.Attachments(context.Background(), c.ID)
	noRole := moduletest.Staff("owner-1", "system-owner")
	for _, as := range []moduletest.As{social, school, noRole} {
		for _, target := range []string{"/", "/arende/" + c.ID, "/arende/" + c.ID + "/bilaga/" + atts[0].ID, "/ansokan"} {
			res := h.Get(as, target)
			if res.Code != http.StatusForbidden || strings.Contains(res.Body, c.Number) || strings.Contains(res.Body, "KÄLLSTORP") {
				t.Errorf("%v GET %s: %d", as.Actor.Identity.Roles, target, res.Code)
			}
		}
		if res := h.Post(as, "/arende/"+c.ID+"/beslut", url.Values{"decision": {"approved"}, "decision-text": {"ok"}}); res.Code != http.StatusForbidden {
			t.Errorf("%v decided: %d", as.Actor.Identity.Roles, res.Code)
		}
	}
	if got := mustGet(t, h, c.ID); got.Status != cases.Received {
		t.Errorf("status changed to %s", got.Status)
	}
	if n := auditCount(h, "case.viewed", ""); n != 0 {
		t.Errorf("%d case.viewed entries for refused staff", n)
	}
	if n := auditCount(h, "module.denied", "staff:test-staff:social-1"); n == 0 {
		t.Error("refusals are not audited")
	}
}

func TestHandlerJourney(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	c := submit(t, h, elvan)
	staffKey := "staff:test-staff:building-1"

	// The list shows the application without any personal identity number.
	res := h.Get(handler, "/")
	if res.Code != 200 || !strings.Contains(res.Body, c.Number) || !strings.Contains(res.Body, "/e/bygglov/arende/"+c.ID) {
		t.Fatalf("handler list %d:\n%s", res.Code, res.Body)
	}
	if strings.Contains(res.Body, elvanPNR) || strings.Contains(res.Body, "19500626") {
		t.Error("the handler list shows a personnummer")
	}
	if auditCount(h, "case.viewed", staffKey) != 0 {
		t.Error("listing was audited as a case read")
	}
	// Opening the case is audited.
	res = h.Get(handler, "/arende/"+c.ID)
	if res.Code != 200 || !strings.Contains(res.Body, elvanPNR) || !strings.Contains(res.Body, "Elvan") || !strings.Contains(res.Body, "Tillbyggnad av enbostadshus") {
		t.Fatalf("handler case page %d:\n%s", res.Code, res.Body)
	}
	var viewed *audit.Entry
	for _, e := range h.AuditActions() {
		if e.Action == "case.viewed" {
			viewed = &e
		}
	}
	if viewed == nil || viewed.Actor != staffKey || viewed.ActorRole != "building-handler" || viewed.Resource != "case:"+c.Number ||
		viewed.Outcome != audit.Success || viewed.SubjectHMAC == "" || viewed.RequestID != "TESTREQ" {
		t.Errorf("case.viewed entry %+v", viewed)
	}

	// Start handling, then ask for a supplement (empty text first).
	redirectID(t, h.Post(handler, "/arende/"+c.ID+"/paborja", nil), "/e/bygglov/arende/"+c.ID)
	if got := mustGet(t, h, c.ID); got.Status != cases.InProgress || got.FirstResponseAt.IsZero() {
		t.Errorf("after start: %s", got.Status)
	}
	res = h.Post(handler, "/arende/"+c.ID+"/begar-komplettering", url.Values{"supplement-request": {"  "}})
	if res.Code != http.StatusUnprocessableEntity || !strings.Contains(res.Body, `id="supplement-request-error"`) {
		t.Errorf("empty request: %d", res.Code)
	}
	const missing = "Fasadritning mot norr saknas."
	redirectID(t, h.Post(handler, "/arende/"+c.ID+"/begar-komplettering", url.Values{"supplement-request": {missing}}), "/e/bygglov/arende/"+c.ID)
	if got := mustGet(t, h, c.ID); got.Status != cases.AwaitingSupplement {
		t.Errorf("after request: %s", got.Status)
	}
	msgs, _ := h.Cases.Messages(ctx, c.ID)
	if len(msgs) != 1 || msgs[0].Direction != cases.ToCitizen || msgs[0].Body != missing || msgs[0].From != staffKey {
		t.Errorf("messages %+v", msgs)
	}
	// Asking twice is not a valid step.
	if res := h.Post(handler, "/arende/"+c.ID+"/begar-komplettering", url.Values{"supplement-request": {"igen"}}); res.Code != http.StatusConflict ||
		!strings.Contains(res.Body, "Komplettering kan inte begäras") {
		t.Errorf("second request: %d", res.Code)
	}

	// The applicant sees the request, the status and who (role) acted.
	res = h.Get(elvan, "/arende/"+c.ID)
	for _, want := range []string{missing, "Väntar på komplettering", "Bygglovshandläggare", "Sökande", "Komplettering begärd", `id="supplement-form"`, "situationsplan.pdf"} {
		if !strings.Contains(res.Body, want) {
			t.Errorf("applicant's case page lacks %q", want)
		}
	}
	if strings.Contains(res.Body, "Handläggare</") || strings.Contains(res.Body, staffKey) || strings.Contains(res.Body, "building-1") {
		t.Error("the applicant's page names the handler")
	}
	if msgs, _ := h.Cases.Messages(ctx, c.ID); !msgs[0].Read() {
		t.Error("the applicant's visit did not mark the request read")
	}

	// The applicant sends the supplement: back to in progress.
	res = h.PostMultipart(elvan, "/arende/"+c.ID+"/komplettering", url.Values{"message": {"Här är fasadritningen."}, "supplement": {"true"}},
		moduletest.File{Field: "files", Name: "fasad-norr.pdf", Data: pdf})
	redirectID(t, res, "/e/bygglov/arende/"+c.ID)
	got := mustGet(t, h, c.ID)
	if got.Status != cases.InProgress {
		t.Errorf("after supplement: %s", got.Status)
	}
	last := got.History[len(got.History)-1]
	if last.ActorRole != "citizen" || last.Actor != elvanPNR || last.To != cases.InProgress {
		t.Errorf("history %+v", last)
	}
	atts, _ := h.Cases.Attachments(ctx, c.ID)
	if len(atts) != 2 || !atts[1].Supplement || atts[1].Name != "fasad-norr.pdf" || atts[1].UploadedBy != elvanPNR {
		t.Errorf("attachments %+v", atts)
	}
	if res := h.Get(elvan, "/arende/"+c.ID+"?klart=komplettering"); !strings.Contains(res.Body, "Kompletteringen är skickad") {
		t.Error("no confirmation of the supplement")
	}

	// A decision without text is refused; then recorded.
	res = h.Post(handler, "/arende/"+c.ID+"/beslut", url.Values{"decision": {"approved_with_conditions"}})
	if res.Code != http.StatusUnprocessableEntity || !strings.Contains(res.Body, `id="decision-text-error"`) || !strings.Contains(res.Body, `id="decision-approved_with_conditions" value="approved_with_conditions" checked`) {
		t.Errorf("decision without text: %d", res.Code)
	}
	const decisionText = "Bygglov beviljas. Villkor: kontrollansvarig ska utses."
	redirectID(t, h.Post(handler, "/arende/"+c.ID+"/beslut", url.Values{"decision": {"approved_with_conditions"}, "decision-text": {decisionText}}), "/e/bygglov/arende/"+c.ID)
	got = mustGet(t, h, c.ID)
	if got.Status != cases.Decided || got.DecidedAt.IsZero() {
		t.Errorf("after decision: %s", got.Status)
	}
	res = h.Get(elvan, "/arende/"+c.ID)
	for _, want := range []string{decisionText, "Beslut fattat", "Bygglov beviljas med villkor"} {
		if !strings.Contains(res.Body, want) {
			t.Errorf("applicant's page lacks %q", want)
		}
	}
	if strings.Contains(res.Body, `id="supplement-form"`) {
		t.Error("a decided case still offers the supplement form")
	}
	// Supplements to a decided case are refused with the reason.
	res = h.PostMultipart(elvan, "/arende/"+c.ID+"/komplettering", nil, moduletest.File{Field: "files", Name: "sen.pdf", Data: pdf})
	if res.Code != http.StatusConflict || !strings.Contains(res.Body, "Beslut fattat") {
		t.Errorf("late supplement: %d", res.Code)
	}

	// Close, then try to decide the closed case.
	redirectID(t, h.Post(handler, "/arende/"+c.ID+"/avsluta", nil), "/e/bygglov/arende/"+c.ID)
	res = h.Post(handler, "/arende/"+c.ID+"/beslut", url.Values{"decision": {"rejected"}, "decision-text": {"Avslag."}})
	if res.Code != http.StatusConflict || !strings.Contains(res.Body, "Ärendet har status Avslutad. Ett beslut kan inte registreras.") {
		t.Errorf("deciding a closed case: %d\n%s", res.Code, res.Body)
	}
	if got := mustGet(t, h, c.ID); got.Status != cases.Closed {
		t.Errorf("status %s", got.Status)
	}
	if msgs, _ := h.Cases.Messages(ctx, c.ID); len(msgs) != 3 {
		t.Errorf("%d messages, want 3 (request, supplement note, decision)", len(msgs))
	}
	if res := h.Post(handler, "/arende/"+c.ID+"/avsluta", nil); res.Code != http.StatusConflict {
		t.Errorf("closing twice: %d", res.Code)
	}
	if res := h.Get(handler, "/arende/"+c.ID); !strings.Contains(res.Body, `id="no-actions"`) {
		t.Error("a closed case offers actions")
	}
	// Handlers do not apply.
	if res := h.Get(handler, "/ansokan"); res.Code != http.StatusForbidden {
		t.Errorf("handler GET /ansokan: %d", res.Code)
	}
}

func TestDownload(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	c := submit(t, h, elvan)
	res := h.PostMultipart(elvan, "/arende/"+c.ID+"/komplettering", nil,
		moduletest.File{Field: "files", Name: "plan \"1\";\r\nX-Evil: å.html", Data: pdf})
	redirectID(t, res, "/e/bygglov/arende/"+c.ID)
	atts, _ := h.Cases.Attachments(ctx, c.ID)
	if len(atts) != 2 {
		t.Fatalf("attachments %+v", atts)
	}

	res = h.Get(elvan, "/arende/"+c.ID+"/bilaga/"+atts[0].ID)
	if res.Code != 200 || res.Body != string(pdf) {
		t.Fatalf("download %d", res.Code)
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/pdf" {
		t.Errorf("Content-Type %q", ct)
	}
	if cd := res.Header.Get("Content-Disposition"); cd != `attachment; filename="situationsplan.pdf"; filename*=UTF-8''situationsplan.pdf` {
		t.Errorf("Content-Disposition %q", cd)
	}
	if res.Header.Get("X-Content-Type-Options") != "nosniff" || res.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("headers %v", res.Header)
	}
	// A hostile name comes out harmless, with the extension of its real type.
	res = h.Get(elvan, "/arende/"+c.ID+"/bilaga/"+atts[1].ID)
	cd := res.Header.Get("Content-Disposition")
	if !strings.HasPrefix(cd, `attachment; filename="`) || strings.ContainsAny(cd, "\r\n") || strings.Count(cd, `"`) != 2 ||
		!strings.Contains(cd, `.html.pdf"`) || !strings.Contains(cd, "%C3%A5.html.pdf") {
		t.Errorf("Content-Disposition for a hostile name: %q", cd)
	}
	if auditCount(h, "case.viewed", "") != 0 {
		t.Error("the owner's own download was audited as a staff read")
	}
	// A handler's download is audited.
	res = h.Get(handler, "/arende/"+c.ID+"/bilaga/"+atts[0].ID)
	if res.Code != 200 || res.Body != string(pdf) {
		t.Errorf("handler download %d", res.Code)
	}
	found := false
	for _, e := range h.AuditActions() {
		if e.Action == "case.viewed" && e.Actor == "staff:test-staff:building-1" && e.Detail["attachment"] == atts[0].ID {
			found = true
		}
	}
	if !found {
		t.Error("handler download not audited")
	}
	// An attachment of another case through this case's URL.
	other := submit(t, h, tolvan)
	otherAtts, _ := h.Cases.Attachments(ctx, other.ID)
	if res := h.Get(elvan, "/arende/"+c.ID+"/bilaga/"+otherAtts[0].ID); res.Code != http.StatusNotFound {
		t.Errorf("cross-case attachment: %d", res.Code)
	}
}

// failingAudit is an audit log that is down.
type failingAudit struct{}

func (failingAudit) Record(context.Context, audit.Event) error { return audit.ErrUnavailable }

func TestStaffReadFailsClosed(t *testing.T) {
	h := newHarness(t)
	c := submit(t, h, elvan)
	atts, _ := h.Cases.Attachments(context.Background(), c.ID)
	h.Env.Audit = failingAudit{}
	for _, as := range []moduletest.As{handler, agent} {
		for _, target := range []string{"/arende/" + c.ID, "/arende/" + c.ID + "/bilaga/" + atts[0].ID} {
			res := h.Get(as, target)
			if res.Code != http.StatusServiceUnavailable || strings.Contains(res.Body, "Tillbyggnad av enbostadshus") || strings.Contains(res.Body, "%PDF") {
				t.Errorf("%s with the audit log down: %d", target, res.Code)
			}
		}
	}
	// The applicant's own reads are not staff reads.
	if res := h.Get(elvan, "/arende/"+c.ID); res.Code != 200 {
		t.Errorf("owner with the audit log down: %d", res.Code)
	}
}

func TestContactCentreAppliesForCitizen(t *testing.T) {
	h := newHarness(t)
	res := h.PostMultipart(agent, "/ansokan", validForm("submit"), moduletest.File{Field: "attachments", Name: "plan.pdf", Data: pdf})
	id := redirectID(t, res, "/e/bygglov/kvitto/")
	c := mustGet(t, h, id)
	if c.Owner != elvanPNR || c.Channel != cases.Phone || c.CreatedByRole != "contact-centre" || c.CreatedBy != "staff:test-staff:kc-agent-1" {
		t.Errorf("case %+v", c)
	}
	// The agent's read of the case is audited; the citizen sees it as hers.
	if res := h.Get(agent, "/arende/"+id); res.Code != 200 {
		t.Fatalf("agent case page %d", res.Code)
	}
	if auditCount(h, "case.viewed", "staff:test-staff:kc-agent-1") != 1 {
		t.Error("the agent's read is not audited")
	}
	res = h.Get(elvan, "/arende/"+id)
	if res.Code != 200 || !strings.Contains(res.Body, "Kontaktcenter") || !strings.Contains(res.Body, "Telefon (kontaktcenter)") {
		t.Errorf("Elvan's view of the agent's case %d", res.Code)
	}
	// An agent serving Tolvan cannot reach Elvan's case.
	forTolvan := moduletest.ContactCentre("kc-agent-1", tolvanPNR, "Tolvan Tolvansson", "visit", "besök")
	if res := h.Get(forTolvan, "/arende/"+id); res.Code != http.StatusNotFound {
		t.Errorf("agent for another citizen: %d", res.Code)
	}
}

// TestCatalogues checks that sv and en have the same keys and that every
// key the module's code and templates name exists.
func TestCatalogues(t *testing.T) {
	load := func(lang string) map[string]string {
		b, err := os.ReadFile("i18n/" + lang + ".yaml")
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		if err := yaml.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	sv, en := load("sv"), load("en")
	for k := range sv {
		if _, ok := en[k]; !ok {
			t.Errorf("en.yaml lacks %s", k)
		}
		if !strings.HasPrefix(k, "bygglov.") {
			t.Errorf("key %s outside the module's namespace", k)
		}
	}
	for k := range en {
		if _, ok := sv[k]; !ok {
			t.Errorf("sv.yaml lacks %s", k)
		}
	}
	keyRE := regexp.MustCompile(`"(bygglov\.[a-z_.-]+[a-z_])"`)
	files, _ := os.ReadDir(".")
	tmpl, _ := os.ReadDir("templates")
	var used []string
	for _, f := range append(files, tmpl...) {
		name := f.Name()
		if !strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, ".html") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		if strings.HasSuffix(name, ".html") {
			name = "templates/" + name
		}
		b, _ := os.ReadFile(name)
		for _, m := range keyRE.FindAllStringSubmatch(string(b), -1) {
			used = append(used, m[1])
		}
	}
	// Keys built from a prefix and a value.
	for _, s := range []cases.Status{cases.Draft, cases.Received, cases.InProgress, cases.AwaitingSupplement, cases.Decided, cases.Closed} {
		used = append(used, "bygglov.status."+string(s))
	}
	for _, m := range buildingpermit.Measures {
		used = append(used, "bygglov.measure."+m)
	}
	for _, d := range buildingpermit.Decisions {
		used = append(used, "bygglov.decision."+d)
	}
	for _, to := range []cases.Status{cases.InProgress, cases.AwaitingSupplement, cases.Decided, cases.Closed} {
		used = append(used, "bygglov.err.transition."+string(to))
	}
	sort.Strings(used)
	for _, k := range used {
		if strings.HasSuffix(k, ".") {
			continue
		}
		if _, ok := sv[k]; !ok {
			t.Errorf("key %s is used but not in the catalogues", k)
		}
	}
	if len(used) < 50 {
		t.Errorf("found only %d keys in use; the scan is broken", len(used))
	}
}
