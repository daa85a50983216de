package main

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

var schoolabsenceNumberRE = regexp.MustCompile(`SKOL-\d{4}-\d{6}`)

// schoolabsenceLogin logs in through the test e-ID provider as who (a
// personnummer, or "staff:<subject>") from a page that shows the chooser.
func schoolabsenceLogin(b *browser, idp, who, ready string) {
	b.t.Helper()
	b.do("choose "+idp, click("#"+idp), visible(`input[value="`+who+`"]`))
	b.do("log in as "+who, click(`input[value="`+who+`"]`), click(`button[value="login"]`), visible(ready))
}

// schoolabsenceNumber reads the case number from the receipt.
func schoolabsenceNumber(b *browser) string {
	b.t.Helper()
	text := b.text("#casenumber")
	n := schoolabsenceNumberRE.FindString(text)
	if n == "" {
		b.t.Fatalf("no case number on the receipt: %q", text)
	}
	return n
}

// TestBrowserSchoolAbsence is the school absence journey end to end: a
// guardian reports an absence and asks for leave, the school administrator
// acknowledges the one and approves the other, and the guardian sees both
// outcomes.
func TestBrowserSchoolAbsence(t *testing.T) {
	g := startDev(t)
	b := &browser{t: t, ctx: newBrowser(t), g: g}
	sweden, err := time.LoadLocation("Europe/Stockholm")
	if err != nil {
		t.Fatal(err)
	}
	today := time.Now().In(sweden)
	leaveFrom := today.AddDate(0, 0, 7).Format("2006-01-02")
	leaveTo := today.AddDate(0, 0, 9).Format("2006-01-02")

	// Tolvan reports Tian's absence for today.
	b.do("open the e-service", chromedp.Navigate(g.URL+"/e/skolfranvaro/"), visible("#idp-test-oidc"))
	schoolabsenceLogin(b, "idp-test-oidc", "198107249289", "#report-absence")
	if kids := b.text("#children"); !strings.Contains(kids, "Tian Tolvansson") || !strings.Contains(kids, "Nian") || strings.Contains(kids, "Nian Tolvansson") {
		t.Errorf("children listed as %q", kids)
	}
	b.do("open the absence form", click("#report-absence"), visible("#f-fran"))
	b.do("fill in the absence",
		click(`input[name="barn"][value="201701102384"]`),
		chromedp.SetValue(chromedp.CSS("#f-fran"), today.Format("2006-01-02")),
		click("#omfattning-heldag"),
		click("#orsak-illness"),
		click("#submit"),
		visible("#casenumber"))
	absence := schoolabsenceNumber(b)
	if h := b.text("h1"); !strings.Contains(h, "Tack") {
		t.Errorf("receipt heading %q", h)
	}

	// And asks for leave next week; a date in the past is refused first.
	b.do("open the leave form", chromedp.Navigate(g.URL+"/e/skolfranvaro/ledighet"), visible("#f-fran"))
	b.do("ask for leave in the past",
		click(`input[name="barn"][value="201701102384"]`),
		chromedp.SetValue(chromedp.CSS("#f-fran"), today.AddDate(0, 0, -1).Format("2006-01-02")),
		chromedp.SendKeys(chromedp.CSS("#f-skal"), "Släktbröllop"),
		click("#submit"),
		visible("#error-summary"))
	if msg := b.text("#e-fran"); !strings.Contains(msg, "kommande dagar") {
		t.Errorf("past leave refused with %q", msg)
	}
	if kept := b.attr("#f-skal", "aria-invalid"); kept != "" {
		t.Errorf("a valid field is marked invalid: %q", kept)
	}
	b.do("correct the dates",
		chromedp.SetValue(chromedp.CSS("#f-fran"), leaveFrom),
		chromedp.SetValue(chromedp.CSS("#f-till"), leaveTo),
		click("#submit"),
		visible("#casenumber"))
	leave := schoolabsenceNumber(b)
	if leave == absence {
		t.Fatalf("both cases got number %s", leave)
	}
	b.do("log out Tolvan", click("#logout"), visible("#loggedout"))

	// The school administrator of skola-1 sees today's report.
	b.do("open the e-service as staff", chromedp.Navigate(g.URL+"/e/skolfranvaro/"), visible("#idp-test-staff"))
	schoolabsenceLogin(b, "idp-test-staff", "staff:school-admin-1", "#reports")
	if list := b.text("#reports"); !strings.Contains(list, absence) || !strings.Contains(list, "Tian Tolvansson") ||
		!strings.Contains(list, "20170110-XXXX") || strings.Contains(list, "201701102384") {
		t.Errorf("today's list: %q", list)
	}
	b.do("acknowledge", click("#ack-"+absence), visible("#done"))
	if done := b.text("#done"); !strings.Contains(done, absence) {
		t.Errorf("acknowledgement notice %q", done)
	}
	if pending := b.text("#pending"); !strings.Contains(pending, leave) {
		t.Errorf("pending leave requests: %q", pending)
	}
	b.do("open the leave request", click(`#pending a[href$="`+leave+`"]`), visible("#decide"))
	b.do("approve it",
		click("#beslut-approved"),
		chromedp.SendKeys(chromedp.CSS("#f-meddelande"), "Trevlig resa!"),
		click("#decide"),
		visible("#messages"))
	if st := b.text("#status"); st != "Beviljad" {
		t.Errorf("status after the decision %q", st)
	}
	b.do("log out the administrator", click("#logout"), visible("#loggedout"))

	// Tolvan sees both outcomes.
	b.do("open the e-service again", chromedp.Navigate(g.URL+"/e/skolfranvaro/"), visible("#idp-test-oidc"))
	schoolabsenceLogin(b, "idp-test-oidc", "198107249289", "#cases")
	cases := b.text("#cases")
	if !strings.Contains(cases, absence) || !strings.Contains(cases, "Kvitterad av skolan") || !strings.Contains(cases, leave) || !strings.Contains(cases, "Beviljad") {
		t.Errorf("Mina barns frånvaro: %q", cases)
	}
	b.do("open the decided leave", click(`#cases a[href$="`+leave+`"]`), visible("#messages"))
	if msg := b.text("#messages"); !strings.Contains(msg, "Trevlig resa!") || !strings.Contains(msg, "beviljas") {
		t.Errorf("decision message %q", msg)
	}
	b.do("Mina sidor", chromedp.Navigate(g.URL+"/mina-sidor"), visible("#name"))
	page := b.text("main")
	if !strings.Contains(page, absence) || !strings.Contains(page, leave) {
		t.Errorf("Mina sidor does not list the cases: %q", page)
	}

	log := g.out.String()
	for _, pnr := range []string{"198107249289", "201701102384", "200809032386"} {
		if strings.Contains(log, pnr) {
			t.Errorf("the gateway log contains a personnummer in clear (%s)", pnr[:8])
		}
	}
}
