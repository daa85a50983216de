package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// buildingpermitLogin opens the building permit e-service, logs in on the
// test e-ID provider through idp ("#idp-test-oidc" or "#idp-test-staff") as
// person (a personnummer or "staff:<subject>"), and waits for ready.
func buildingpermitLogin(b *browser, idp, person, ready string) {
	b.t.Helper()
	b.do("open the building permit e-service as "+person,
		chromedp.Navigate(b.g.URL+"/e/bygglov/"), visible(idp))
	b.do("choose "+idp, click(idp), visible(`input[value="`+person+`"]`))
	b.do("log in as "+person, click(`input[value="`+person+`"]`), click(`button[value="login"]`), visible(ready))
}

// buildingpermitLogout logs out and waits for the logged-out page.
func buildingpermitLogout(b *browser) {
	b.t.Helper()
	b.do("log out", click("#logout"), visible("#loggedout"))
}

// buildingpermitFile writes a small file for the file inputs.
func buildingpermitFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestBrowserBuildingPermit is the building permit journey: Elvan applies
// (draft, continue, upload, submit), the handler asks for a supplement,
// Elvan sends it, the handler decides, and Elvan sees the decision.
func TestBrowserBuildingPermit(t *testing.T) {
	g := startDev(t)
	b := &browser{t: t, ctx: newBrowser(t), g: g}
	const elvan = "195006262546"
	const handler = "staff:building-1"

	// Elvan fills in part of the form and saves a draft.
	buildingpermitLogin(b, "#idp-test-oidc", elvan, "#new-application")
	b.do("open the form", click("#new-application"), visible("#property"))
	b.do("fill in the form",
		chromedp.SetValue(chromedp.CSS("#property"), "Jönköping  Källstorp 1:23"),
		click("#measure-extension"),
		chromedp.SetValue(chromedp.CSS("#description"), "Tillbyggnad av enbostadshus med ett uterum på 15 kvadratmeter."),
		chromedp.SetValue(chromedp.CSS("#email"), "elvan@example.com"),
	)
	b.do("save the draft", click("#save-draft"), visible("#draft-saved"))

	// She continues from the start page: the draft keeps what she typed.
	b.do("back to the start page", chromedp.Navigate(g.URL+"/e/bygglov/"), visible("#drafts a.draft-link"))
	b.do("continue the draft", click("#drafts a.draft-link"), visible("#attachments"))
	if v := b.attr("#property", "value"); v != "JÖNKÖPING KÄLLSTORP 1:23" {
		t.Errorf("the draft's property designation is %q", v)
	}
	plan := buildingpermitFile(t, "situationsplan.pdf", "%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n")
	b.do("attach the site plan and submit",
		chromedp.SetUploadFiles(chromedp.CSS("#attachments"), []string{plan}),
		click("#submit"), visible("#case-number"))
	number := b.text("#case-number")
	if !regexp.MustCompile(`^BYGG-\d{4}-\d{6}$`).MatchString(number) {
		t.Fatalf("case number %q", number)
	}
	if receipt := b.text("#receipt"); !strings.Contains(receipt, "Ditt ärendenummer är") {
		t.Errorf("receipt %q", receipt)
	}
	buildingpermitLogout(b)

	// The handler opens the application and asks for a supplement.
	const missing = "Fasadritning mot norr saknas."
	caseLink := `#applications a[data-number="` + number + `"]`
	buildingpermitLogin(b, "#idp-test-staff", handler, caseLink)
	b.do("open the application", click(caseLink), visible("#request-form"))
	if a := b.text("#applicant"); !strings.Contains(a, elvan) {
		t.Errorf("the handler's page shows the applicant as %q", a)
	}
	b.do("request a supplement",
		chromedp.SetValue(chromedp.CSS("#supplement-request"), missing),
		click("#request-submit"), visible("#notice"))
	if s := b.text("#status"); s != "Väntar på komplettering" {
		t.Errorf("status after the request %q", s)
	}
	buildingpermitLogout(b)

	// Elvan reads the request on her case page and sends the supplement.
	buildingpermitLogin(b, "#idp-test-oidc", elvan, "#cases")
	b.do("open her case", click(`#cases a`), visible("#supplement-form"))
	if msgs := b.text("#messages"); !strings.Contains(msgs, missing) {
		t.Errorf("the request is not on her case page: %q", msgs)
	}
	facade := buildingpermitFile(t, "fasad-norr.pdf", "%PDF-1.4\n%fasad\n%%EOF\n")
	b.do("send the supplement",
		chromedp.SetUploadFiles(chromedp.CSS("#supplement-files"), []string{facade}),
		click("#supplement-submit"), visible("#notice"))
	if s := b.text("#status"); s != "Under handläggning" {
		t.Errorf("status after the supplement %q", s)
	}
	if files := b.text("ul#attachments"); !strings.Contains(files, "fasad-norr.pdf") {
		t.Errorf("files %q", files)
	}
	buildingpermitLogout(b)

	// The handler records the decision.
	const decision = "Bygglov beviljas enligt ansökan."
	buildingpermitLogin(b, "#idp-test-staff", handler, caseLink)
	b.do("open the application again", click(caseLink), visible("#decision-form"))
	b.do("record the decision",
		click("#decision-approved"),
		chromedp.SetValue(chromedp.CSS("#decision-text"), decision),
		click("#decision-submit"), visible("#notice"))
	buildingpermitLogout(b)

	// Elvan sees the decision.
	buildingpermitLogin(b, "#idp-test-oidc", elvan, "#cases")
	b.do("open her case again", click(`#cases a`), visible("#status"))
	if s := b.text("#status"); s != "Beslut fattat" {
		t.Errorf("status %q", s)
	}
	if msgs := b.text("#messages"); !strings.Contains(msgs, decision) || !strings.Contains(msgs, "Bygglov beviljas") {
		t.Errorf("decision not shown: %q", msgs)
	}
	if h := b.text("#history"); !strings.Contains(h, "Bygglovshandläggare") || strings.Contains(h, "Byggare") {
		t.Errorf("history %q", h)
	}
	if strings.Contains(g.out.String(), elvan) {
		t.Error("the gateway log contains a personnummer in clear")
	}
}
