package main

import (
	_ "embed"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

//go:embed testdata/axe.min.js
var axeSource string

type axeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target []any `json:"target"`
	} `json:"nodes"`
}

// axeCheck runs axe-core's WCAG 2.1 A and AA rules on the page the browser
// is on and fails the test for every violation.
func axeCheck(t *testing.T, b *browser, page string) {
	t.Helper()
	if _, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](axeSource+";true")); err != nil {
		t.Fatalf("%s: loading axe: %v", page, err)
	}
	vs, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]axeViolation](
		`axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}).then(r => r.violations)`,
		chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("%s: running axe: %v", page, err)
	}
	for _, v := range vs {
		var targets []string
		for _, n := range v.Nodes {
			targets = append(targets, fmt.Sprint(n.Target...))
		}
		t.Errorf("%s: %s (%s): %s — %s", page, v.ID, v.Impact, v.Help, strings.Join(targets, ", "))
	}
}

// TestBrowserAccessibility checks the citizen's pages — start, login, Mina
// sidor, the e-service forms with and without errors, English — against
// WCAG 2.1 AA rules with axe-core in headless Chromium.
func TestBrowserAccessibility(t *testing.T) {
	g := startDev(t)
	b := &browser{t: t, ctx: newBrowser(t), g: g}
	b.do("start", chromedp.Navigate(g.URL+"/"), visible("main"))
	axeCheck(t, b, "start")
	b.do("chooser", chromedp.Navigate(g.URL+"/login?return=/mina-sidor"), visible("#idp-test-oidc"))
	axeCheck(t, b, "login chooser")
	b.do("log in", click("#idp-test-oidc"), visible(`input[name="person"]`), click(`input[value="198107249289"]`),
		click(`button[value="login"]`), visible("#name"))
	axeCheck(t, b, "Mina sidor")
	for _, p := range []string{"/e/skolfranvaro/", "/e/skolfranvaro/franvaro", "/e/bygglov/ansokan", "/e/ekonomiskt-bistand/ansokan", "/mina-sidor/atkomst", "/finns-inte"} {
		b.do(p, chromedp.Navigate(g.URL+p), visible("main"))
		axeCheck(t, b, p)
	}
	// A form sent empty: the error summary and field messages.
	b.do("empty absence form", chromedp.Navigate(g.URL+"/e/skolfranvaro/franvaro"), visible("#submit"), click("#submit"), visible("#error-summary"))
	axeCheck(t, b, "absence form with errors")
	b.do("English", click("#langswitch"), visible(`html[lang="en"]`))
	axeCheck(t, b, "absence form in English")
	b.do("log out", click("#logout"), visible("#loggedout"))

	// Staff pages: the contact centre, a handler's list, the statistics.
	for _, who := range []struct{ person, path string }{
		{"staff:kc-agent-1", "/kontaktcenter/"},
		{"staff:school-admin-1", "/e/skolfranvaro/"},
		{"staff:owner-1", "/statistik/"},
	} {
		b.do("staff page "+who.path, chromedp.Navigate(g.URL+who.path), visible("#idp-test-staff"), click("#idp-test-staff"),
			visible(`input[value="`+who.person+`"]`), click(`input[value="`+who.person+`"]`), click(`button[value="login"]`))
		// The test provider's page has a main h1 too: wait for the page
		// itself, loaded, before axe goes in.
		b.waitJS("staff page "+who.path, `location.pathname === "`+who.path+`" && document.readyState === "complete" && document.querySelector("main h1") !== null`)
		axeCheck(t, b, who.path)
		b.do("log out", click("#logout"), visible("#loggedout"))
	}
}
