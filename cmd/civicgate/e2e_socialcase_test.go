package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// socialcaseLogin opens the ekonomiskt bistånd e-service, logs in on the
// test e-ID provider through idp ("#idp-test-oidc" or "#idp-test-staff") as
// person (a personnummer or "staff:<subject>"), and waits for ready.
func socialcaseLogin(b *browser, idp, person, ready string) {
	b.t.Helper()
	b.do("open the financial aid e-service as "+person,
		chromedp.Navigate(b.g.URL+"/e/ekonomiskt-bistand/"), visible(idp))
	b.do("choose "+idp, click(idp), visible(`input[value="`+person+`"]`))
	b.do("log in as "+person, click(`input[value="`+person+`"]`), click(`button[value="login"]`), visible(ready))
}

// TestBrowserSocialCase is the ekonomiskt bistånd journey: Samuel (a
// samordningsnummer holder) applies, reviews and confirms and gets a case
// number; the social services handler opens the application (an audited
// read) and decides; Samuel sees the decision on his case page, the case
// on Mina sidor and the handler's read among the accesses to his data.
func TestBrowserSocialCase(t *testing.T) {
	g := startDev(t)
	b := &browser{t: t, ctx: newBrowser(t), g: g}
	const samuel = "197010632391"
	const handler = "staff:social-1"
	const secret = "Väntar på besked från Försäkringskassan QWERTY"

	socialcaseLogin(b, "#idp-test-oidc", samuel, "#apply")
	b.do("open the form", click("#apply"), visible("#month"))
	// The options are the current and the next month; take the next.
	month := b.attr("#month option:nth-child(3)", "value")
	if !regexp.MustCompile(`^\d{4}-\d{2}$`).MatchString(month) {
		t.Fatalf("month option %q", month)
	}
	contract := filepath.Join(t.TempDir(), "hyreskontrakt.pdf")
	if err := os.WriteFile(contract, []byte("%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b.do("fill in the application",
		chromedp.SetValue(chromedp.CSS("#month"), month),
		chromedp.SetValue(chromedp.CSS("#hh-0-name"), "Tian Samordnare"),
		chromedp.SetValue(chromedp.CSS("#hh-0-relation"), "child"),
		chromedp.SetValue(chromedp.CSS("#hh-0-age"), "9"),
		chromedp.SetValue(chromedp.CSS("#income-benefits"), "4 200"),
		chromedp.SetValue(chromedp.CSS("#expense-rent"), "7800"),
		chromedp.SetValue(chromedp.CSS("#expense-electricity"), "-300"),
		click("#housing-rental"),
		chromedp.SetValue(chromedp.CSS("#other"), secret),
	)
	// A negative amount is refused with the field marked and the rest kept.
	b.do("continue with a negative amount", click("#continue"), visible("#error-summary"))
	if inv := b.attr("#expense-electricity", "aria-invalid"); inv != "true" {
		t.Errorf("the negative amount is not marked invalid (%q)", inv)
	}
	if v := b.attr("#hh-0-name", "value"); v != "Tian Samordnare" {
		t.Errorf("the household row was not kept: %q", v)
	}
	b.do("correct and continue",
		chromedp.SetValue(chromedp.CSS("#expense-electricity"), "300"),
		chromedp.SetUploadFiles(chromedp.CSS("#attachments"), []string{contract}),
		click("#continue"), visible("#consent"))
	if total := b.text("#sum-expense-total"); total != "8 100 kr" {
		t.Errorf("summary expense total %q", total)
	}
	if files := b.text("#sum-attachments"); !strings.Contains(files, "hyreskontrakt.pdf") {
		t.Errorf("summary files %q", files)
	}
	b.do("confirm and submit", click("#consent"), click("#submit"), visible("#case-number"))
	receipt := b.text("#case-number")
	m := regexp.MustCompile(`^Ditt ärendenummer är (SOC-\d{4}-\d{6})$`).FindStringSubmatch(receipt)
	if m == nil {
		t.Fatalf("receipt %q", receipt)
	}
	number := m[1]
	b.do("log out", click("#logout"), visible("#loggedout"))

	// The handler opens the application from the queue and decides.
	caseLink := "#case-" + number
	socialcaseLogin(b, "#idp-test-staff", handler, caseLink)
	if q := b.text("#queue"); strings.Contains(q, samuel) || strings.Contains(q, secret) {
		t.Errorf("the queue shows more than it should: %q", q)
	}
	b.do("open the application", click(caseLink), visible("#decide"))
	if p := b.text("#applicant-pnr"); p != "19701063-2391" {
		t.Errorf("the handler's page shows the applicant as %q", p)
	}
	if o := b.text("#sum-other"); o != secret {
		t.Errorf("the handler does not see the free text: %q", o)
	}
	b.do("record the decision",
		click("#decision-partial"),
		chromedp.SetValue(chromedp.CSS("#amount"), "4500"),
		chromedp.SetValue(chromedp.CSS("#motivation"), "Hyran överstiger skälig nivå."),
		click("#decide"), visible("#decision"))
	if s := b.text("#status"); s != "Beslutad" {
		t.Errorf("status after the decision %q", s)
	}
	b.do("log out", click("#logout"), visible("#loggedout"))

	// Samuel sees the decision on his case page in the module.
	socialcaseLogin(b, "#idp-test-oidc", samuel, "#cases")
	b.do("open his case", click(`#cases a[href$="`+number+`"]`), visible("#decision"))
	if s := b.text("#status"); s != "Beslutad" {
		t.Errorf("status %q", s)
	}
	if d := b.text("#decision-text"); !strings.Contains(d, "Beviljas delvis") || !strings.Contains(d, "4 500 kr") || !strings.Contains(d, "Hyran överstiger skälig nivå.") {
		t.Errorf("decision %q", d)
	}
	// Mina sidor lists the case, and the handler's read is among the
	// accesses to his data.
	b.do("open Mina sidor", chromedp.Navigate(g.URL+"/mina-sidor"), visible("#mycases"))
	if list := b.text("#mycases"); !strings.Contains(list, number) {
		t.Errorf("Mina sidor does not list %s: %q", number, list)
	}
	b.do("open who accessed my data", click("#accesslink"), visible("#access"))
	if acc := b.text("#access"); !strings.Contains(acc, "Läste ärendet") || !strings.Contains(acc, number) {
		t.Errorf("the handler's read is not among the accesses: %q", acc)
	}

	out := g.out.String()
	for _, s := range []string{samuel, secret, "Tian Samordnare"} {
		if strings.Contains(out, s) {
			t.Errorf("the gateway log contains %q", s)
		}
	}
}
