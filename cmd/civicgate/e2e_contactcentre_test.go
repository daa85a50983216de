package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// contactcentreMounted reports whether the gateway serves the contact
// centre's workspace: anonymous, it sends the browser to log in.
func contactcentreMounted(t *testing.T, g *devGateway) bool {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(g.URL + "/kontaktcenter/")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode != http.StatusNotFound
}

// TestBrowserContactCentreActsForCitizen is the contact centre's journey: an
// agent logs in with the workforce test provider, finds Tolvan by
// personnummer with a reason, starts acting for him on the phone, sees on
// every page whom they act for, and ends it.
func TestBrowserContactCentreActsForCitizen(t *testing.T) {
	g := startDev(t)
	if !contactcentreMounted(t, g) {
		t.Skip("mount pending: the gateway does not serve /kontaktcenter/ yet")
	}
	b := &browser{t: t, ctx: newBrowser(t), g: g}

	b.do("open the workspace", chromedp.Navigate(g.URL+"/kontaktcenter/"), visible("#idp-test-staff"))
	b.do("choose the staff provider", click("#idp-test-staff"), visible(`input[value="staff:kc-agent-1"]`))
	b.do("log in as the agent", click(`input[value="staff:kc-agent-1"]`), click(`button[value="login"]`), visible("#pnr"))

	// A lookup without a reason is refused with a message at the field.
	b.do("look up without reason", chromedp.SendKeys(chromedp.CSS("#pnr"), "19810724-9289", chromedp.NodeVisible), click("#lookup"), visible("#reason-error"))
	if s := b.text("#error-summary"); !strings.Contains(s, "Ange varför du söker") {
		t.Errorf("error summary %q", s)
	}
	b.do("look up Tolvan", chromedp.SendKeys(chromedp.CSS("#reason"), "Samtal om bygglov", chromedp.NodeVisible), click("#lookup"), visible("#start-acting"))
	if name := b.text("#citizen-name"); name != "Tolvan Tolvansson" {
		t.Errorf("found %q", name)
	}
	if pnr := b.text("#citizen-pnr"); pnr != "19810724-XXXX" {
		t.Errorf("personnummer shown as %q, want masked", pnr)
	}

	b.do("start acting by phone", click("#channel-phone"), click("#start-acting"), visible("#actingfor"))
	if s := b.text("#actingfor"); s != "Du agerar för Tolvan Tolvansson" {
		t.Errorf("acting banner %q", s)
	}
	if loc := b.location(); !strings.HasSuffix(loc, "/kontaktcenter/medborgare") {
		t.Errorf("after starting at %s", loc)
	}
	// Every page says whom the agent acts for.
	b.do("back to the search page", chromedp.Navigate(g.URL+"/kontaktcenter/"), visible("#acting-panel"))
	if s := b.text("#actingfor"); !strings.Contains(s, "Tolvan Tolvansson") {
		t.Errorf("search page banner %q", s)
	}

	b.clickAndLoad("end acting", "#end-acting", visible("#pnr"))
	n, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](`document.querySelectorAll("#actingfor").length`))
	if err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Error("still acting after ending")
	}
	if strings.Contains(g.out.String(), "198107249289") {
		t.Error("the gateway log contains a personnummer in clear")
	}
}

// TestBrowserContactCentreFilesForCitizen is the contact centre's whole
// journey: a citizen phones, the agent finds him, files a school absence
// on his behalf, the school sees it with channel "contact centre", and the
// citizen sees it on Mina sidor together with the record that the contact
// centre acted for him.
func TestBrowserContactCentreFilesForCitizen(t *testing.T) {
	g := startDev(t)
	b := &browser{t: t, ctx: newBrowser(t), g: g}

	// The agent.
	b.do("open the workspace", chromedp.Navigate(g.URL+"/kontaktcenter/"), visible("#idp-test-staff"))
	schoolabsenceLogin(b, "idp-test-staff", "staff:kc-agent-1", "#pnr")
	b.do("look up Tolvan", chromedp.SendKeys(chromedp.CSS("#pnr"), "198107249289", chromedp.NodeVisible),
		chromedp.SendKeys(chromedp.CSS("#reason"), "Samtal 14:05, sjukanmälan", chromedp.NodeVisible),
		click("#lookup"), visible("#start-acting"))
	b.do("act for Tolvan by phone", click("#channel-phone"), click("#start-acting"), visible("#actingfor"))
	b.do("open school absence", chromedp.Navigate(g.URL+"/e/skolfranvaro/"), visible("#report-absence"))
	if s := b.text("#actingfor"); !strings.Contains(s, "Tolvan") {
		t.Errorf("the module page does not say whom the agent acts for: %q", s)
	}
	today := time.Now().In(stockholm()).Format("2006-01-02")
	b.do("file the absence", click("#report-absence"), visible("#f-fran"),
		click(`input[name="barn"][value="201701102384"]`),
		chromedp.SetValue(chromedp.CSS("#f-fran"), today),
		click("#omfattning-heldag"), click("#orsak-illness"), click("#submit"), visible("#casenumber"))
	number := schoolabsenceNumber(b)
	b.do("back to the search page", chromedp.Navigate(g.URL+"/kontaktcenter/"), visible("#end-acting"))
	b.clickAndLoad("end acting", "#end-acting", visible("#pnr"))
	b.do("log out the agent", click("#logout"), visible("#loggedout"))

	// The school sees it, with the channel.
	b.do("school opens the e-service", chromedp.Navigate(g.URL+"/e/skolfranvaro/"), visible("#idp-test-staff"))
	schoolabsenceLogin(b, "idp-test-staff", "staff:school-admin-1", "#reports")
	if list := b.text("#reports"); !strings.Contains(list, number) {
		t.Fatalf("the school's list lacks %s: %q", number, list)
	}
	b.do("open the case", chromedp.Navigate(g.URL+"/e/skolfranvaro/arende/"+number), visible("main dl"))
	if page := b.text("main"); !strings.Contains(page, "Telefon (kontaktcenter)") {
		t.Errorf("the school does not see the channel:\n%s", page)
	}
	b.do("log out the school", click("#logout"), visible("#loggedout"))

	// The citizen sees the case and that the contact centre acted for him.
	b.do("Tolvan opens Mina sidor", chromedp.Navigate(g.URL+"/mina-sidor"), visible("#idp-test-oidc"))
	schoolabsenceLogin(b, "idp-test-oidc", "198107249289", "#mycases")
	if cases := b.text("#mycases"); !strings.Contains(cases, number) {
		t.Errorf("Mina sidor lacks %s: %q", number, cases)
	}
	acting := b.text("#acting")
	for _, want := range []string{"Började hjälpa dig", "Sökte fram dig i kontaktcentret"} {
		if !strings.Contains(acting, want) {
			t.Errorf("the contact centre's record lacks %q: %q", want, acting)
		}
	}
	if strings.Contains(g.out.String(), "198107249289") {
		t.Error("the gateway log contains a personnummer in clear")
	}
}

func stockholm() *time.Location {
	l, err := time.LoadLocation("Europe/Stockholm")
	if err != nil {
		return time.UTC
	}
	return l
}
