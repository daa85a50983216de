package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/civicgate/civicgate/auth"
	"github.com/civicgate/civicgate/eservices/cases"
	"github.com/civicgate/civicgate/gateway/audit"
)

const elvan = "195006262546"

// TestMyCasesJourney follows a case on Mina sidor: listed, opened, replied
// to, a supplement sent when asked, staff reads shown under "who accessed
// my data", and the GDPR export; another citizen sees none of it.
func TestMyCasesJourney(t *testing.T) {
	g := newGateway(t, gwOptions{})
	ctx := context.Background()
	c, err := g.app.Cases.Create(ctx, cases.NewCase{ModuleID: "demo", Prefix: "DEMO", Owner: tolvan, Title: "Ansökan om parkeringstillstånd",
		Content: json.RawMessage(`{"plats":"Storgatan"}`), NotifyEmail: "tolvan@example.se"}, cases.Actor{Key: tolvan, Role: "citizen", RequestID: "T"})
	if err != nil {
		t.Fatal(err)
	}
	other, err := g.app.Cases.Create(ctx, cases.NewCase{ModuleID: "demo", Prefix: "DEMO", Owner: elvan, Title: "Elvans ärende"},
		cases.Actor{Key: elvan, Role: "citizen"})
	if err != nil {
		t.Fatal(err)
	}
	handler := cases.Actor{Key: "staff:test-staff:building-1", Role: "building-handler", RequestID: "H"}
	if _, err := g.app.Cases.SetStatus(ctx, c.ID, cases.AwaitingSupplement, "", handler); err != nil {
		t.Fatal(err)
	}
	if _, err := g.app.Cases.AddMessage(ctx, c.ID, cases.NewMessage{Direction: cases.ToCitizen, Body: "Skicka en situationsplan, tack."}, handler); err != nil {
		t.Fatal(err)
	}
	if err := g.app.Audit.Record(ctx, audit.Event{Actor: handler.Key, ActorRole: "building-handler", Subject: tolvan, Action: "case.viewed", Resource: "case:" + c.Number, Outcome: audit.Success}); err != nil {
		t.Fatal(err)
	}

	b := newBrowser(t, g)
	home := b.login("test-oidc", tolvan, auth.URILoA3, "/mina-sidor")
	if !strings.Contains(home.Body, c.Number) || strings.Contains(home.Body, other.Number) {
		t.Fatalf("Mina sidor should list %s and not %s:\n%s", c.Number, other.Number, home.Body)
	}
	if !strings.Contains(home.Body, "Väntar på komplettering från dig") {
		t.Error("status not shown in Swedish")
	}
	casePage := b.get("/mina-sidor/arenden/" + c.ID)
	for _, want := range []string{c.Number, "Skicka en situationsplan, tack.", `id="supplement-asked"`, "Väntar på komplettering från dig"} {
		if !strings.Contains(casePage.Body, want) {
			t.Errorf("case page lacks %q", want)
		}
	}
	token := csrf(t, casePage.Body)

	// Another citizen's case does not exist for Tolvan.
	if res := b.get("/mina-sidor/arenden/" + other.ID); res.Status != http.StatusNotFound {
		t.Errorf("someone else's case: %d", res.Status)
	}

	// Reply, and an empty reply is a field error that keeps the page.
	if res := b.post("/mina-sidor/arenden/"+c.ID+"/svar", url.Values{"csrf": {token}, "message": {""}}); res.Status != http.StatusUnprocessableEntity || !strings.Contains(res.Body, "Skriv ett meddelande.") {
		t.Errorf("empty reply: %d", res.Status)
	}
	res := b.post("/mina-sidor/arenden/"+c.ID+"/svar", url.Values{"csrf": {token}, "message": {"Planen kommer i eftermiddag."}})
	if !strings.Contains(res.Body, "Planen kommer i eftermiddag.") {
		t.Error("reply not shown")
	}

	// A supplement that is not a PDF is refused whatever its name says.
	upload := func(name string, data []byte) page {
		var body bytes.Buffer
		mp := multipart.NewWriter(&body)
		_ = mp.WriteField("csrf", token)
		fw, _ := mp.CreateFormFile("file", name)
		_, _ = fw.Write(data)
		_ = mp.Close()
		req, _ := http.NewRequest(http.MethodPost, g.URL+"/mina-sidor/arenden/"+c.ID+"/komplettering", &body)
		req.Header.Set("Content-Type", mp.FormDataContentType())
		return b.do(req)
	}
	if res := upload("plan.pdf", []byte("<html><script>alert(1)</script>")); res.Status != http.StatusUnprocessableEntity {
		t.Errorf("HTML named .pdf: %d", res.Status)
	}
	res = upload("../../etc/situationsplan.pdf", []byte("%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"))
	if res.Status != http.StatusOK || !strings.Contains(res.Body, "situationsplan.pdf") || strings.Contains(res.Body, "../") {
		t.Fatalf("supplement: %d\n%s", res.Status, res.Body)
	}
	got, _ := g.app.Cases.Get(ctx, c.ID)
	if got.Status != cases.InProgress {
		t.Errorf("after the supplement the case is %s, want in_progress", got.Status)
	}
	atts, _ := g.app.Cases.Attachments(ctx, c.ID)
	if len(atts) != 1 || !atts[0].Supplement {
		t.Fatalf("attachments: %+v", atts)
	}
	dl := b.get("/mina-sidor/arenden/" + c.ID + "/bilagor/" + atts[0].ID)
	if dl.Status != 200 || !strings.HasPrefix(dl.Body, "%PDF-") || dl.Header.Get("Content-Type") != "application/pdf" || !strings.HasPrefix(dl.Header.Get("Content-Disposition"), "attachment") {
		t.Errorf("download: %d %q %q", dl.Status, dl.Header.Get("Content-Type"), dl.Header.Get("Content-Disposition"))
	}

	// Who accessed my data: the handler's read, by role.
	acc := b.get("/mina-sidor/atkomst")
	if !strings.Contains(acc.Body, "Bygglovshandläggare") || !strings.Contains(acc.Body, "Läste ärendet") || !strings.Contains(acc.Body, c.Number) {
		t.Errorf("access page:\n%s", acc.Body)
	}
	if strings.Contains(acc.Body, "building-1") {
		t.Error("access page shows the staff member's identity")
	}

	// The GDPR export holds my case and nothing of Elvan's.
	exp := b.get("/mina-sidor/mina-uppgifter.json")
	var out struct {
		Cases []struct {
			Number   string
			Messages []struct{ Body string }
		} `json:"cases"`
		Access []struct{ Who, Action string } `json:"audit_entries"`
	}
	if err := json.Unmarshal([]byte(exp.Body), &out); err != nil {
		t.Fatalf("export is not JSON: %v", err)
	}
	if len(out.Cases) != 1 || out.Cases[0].Number != c.Number || len(out.Cases[0].Messages) != 2 || len(out.Access) == 0 {
		t.Errorf("export: %+v", out)
	}
	if strings.Contains(exp.Body, "building-1") {
		t.Error("the export names a staff member")
	}
	if strings.Contains(exp.Body, elvan) || strings.Contains(exp.Body, other.Number) {
		t.Error("export leaks another person's data")
	}
}

// TestGuardianFollowsTheirChildsCases: a case about a child, filed by the
// other guardian, shows on the first guardian's Mina sidor; a person without
// custody sees nothing of it.
func TestGuardianFollowsTheirChildsCases(t *testing.T) {
	g := newGateway(t, gwOptions{})
	ctx := context.Background()
	const tian = "201701102384"
	c, err := g.app.Cases.Create(ctx, cases.NewCase{ModuleID: "skolfranvaro", Prefix: "SKOL", Owner: elvan, Subject: tian, Title: "Frånvaro Tian"},
		cases.Actor{Key: elvan, Role: "guardian"})
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, g)
	home := b.login("test-oidc", tolvan, auth.URILoA3, "/mina-sidor")
	if !strings.Contains(home.Body, c.Number) {
		t.Fatalf("the other guardian's report about Tian is missing on Tolvan's Mina sidor")
	}
	if res := b.get("/mina-sidor/arenden/" + c.ID); res.Status != http.StatusOK {
		t.Errorf("guardian opening the child's case: %d", res.Status)
	}
	s := newBrowser(t, g)
	s.login("test-oidc", "197010632391", auth.URILoA3, "/")
	if res := s.get("/mina-sidor/arenden/" + c.ID); res.Status != http.StatusNotFound {
		t.Errorf("a stranger opening the child's case: %d", res.Status)
	}
}

// TestGuardianCannotWriteOrReadConfidential: a guardian follows a child's
// case read-only, and never sees a case of a confidential module about the
// child (or of a module not open to guardians).
func TestGuardianCannotWriteOrReadConfidential(t *testing.T) {
	g := newGateway(t, gwOptions{})
	ctx := context.Background()
	const tian = "201701102384"
	school, err := g.app.Cases.Create(ctx, cases.NewCase{ModuleID: "skolfranvaro", Prefix: "SKOL", Owner: elvan, Subject: tian, Title: "Frånvaro"}, cases.Actor{Key: elvan, Role: "guardian"})
	if err != nil {
		t.Fatal(err)
	}
	social, err := g.app.Cases.Create(ctx, cases.NewCase{ModuleID: "ekonomiskt-bistand", Prefix: "SOC", Owner: tian, Subject: tian, Title: "Ansökan"}, cases.Actor{Key: tian, Role: "citizen"})
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, g)
	home := b.login("test-oidc", tolvan, auth.URILoA3, "/mina-sidor")
	if !strings.Contains(home.Body, school.Number) || strings.Contains(home.Body, social.Number) {
		t.Fatalf("guardian's list: want %s and not %s", school.Number, social.Number)
	}
	if res := b.get("/mina-sidor/arenden/" + social.ID); res.Status != http.StatusNotFound {
		t.Errorf("guardian opening the child's social-services case: %d", res.Status)
	}
	page := b.get("/mina-sidor/arenden/" + school.ID)
	if page.Status != http.StatusOK || strings.Contains(page.Body, `/svar"`) {
		t.Errorf("guardian's view of the other guardian's case must be read-only: %d", page.Status)
	}
	if res := b.post("/mina-sidor/arenden/"+school.ID+"/svar", url.Values{"csrf": {csrf(t, page.Body)}, "message": {"hej"}}); res.Status != http.StatusNotFound {
		t.Errorf("guardian replying on the other guardian's case: %d", res.Status)
	}
	// The guardian's read is audited for the child.
	es, _ := g.app.Audit.ForSubject(ctx, tian, 100)
	found := false
	for _, e := range es {
		if e.Action == "case.viewed" && e.ActorRole == "guardian" {
			found = true
		}
	}
	if !found {
		t.Error("the guardian's read is not audited for the child")
	}
}
