package contactcentre_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/civicgate/civicgate/eservices/cases"
	"github.com/civicgate/civicgate/eservices/population"
	"github.com/civicgate/civicgate/gateway/audit"
)

const agentKey = "staff:test-staff:kc-agent-1"

func TestLookupWithoutReasonIsRefusedAndNotAudited(t *testing.T) {
	e := newEnv(t, envOptions{})
	sid := e.agent()
	for _, reason := range []string{"", "   ", "abc", strings.Repeat("x", 201), "ok\x00bad reason"} {
		r := e.post(e.ws, sid, "/sok", url.Values{"pnr": {tolvan}, "reason": {reason}})
		if r.Code != http.StatusUnprocessableEntity {
			t.Fatalf("reason %q: status %d, want 422", reason, r.Code)
		}
		for _, want := range []string{`role="alert"`, `href="#reason"`, `id="reason-error"`, `aria-invalid="true"`, `value="` + tolvan + `"`} {
			if !strings.Contains(r.Body, want) {
				t.Errorf("reason %q: page lacks %s", reason, want)
			}
		}
		if strings.Contains(r.Body, "Tolvansson") || strings.Contains(r.Body, "Storgatan") {
			t.Errorf("reason %q: the citizen was shown without a reason", reason)
		}
	}
	if n := len(e.entries("contactcentre.lookup")); n != 0 {
		t.Errorf("%d lookups audited, want none", n)
	}
}

func TestLookupRejectsInvalidPersonalNumber(t *testing.T) {
	e := newEnv(t, envOptions{})
	sid := e.agent()
	for _, tc := range []struct{ pnr, message string }{
		{"", "Ange ett personnummer."},
		{"198107249288", "fel kontrollsiffra"},
		{"19811324-9289", "datum som inte finns"},
		{"tolvan", "12 siffror"},
		{"1981072492", "12 siffror"},
	} {
		r := e.post(e.ws, sid, "/sok", url.Values{"pnr": {tc.pnr}, "reason": {"Samtal om bygglov"}})
		if r.Code != http.StatusUnprocessableEntity {
			t.Errorf("%q: status %d, want 422", tc.pnr, r.Code)
		}
		if !strings.Contains(r.Body, tc.message) || !strings.Contains(r.Body, `id="pnr-error"`) || !strings.Contains(r.Body, `href="#pnr"`) {
			t.Errorf("%q: page lacks the message %q next to the field", tc.pnr, tc.message)
		}
		if !strings.Contains(r.Body, `value="Samtal om bygglov"`) {
			t.Errorf("%q: the reason typed was not kept", tc.pnr)
		}
	}
	if n := len(e.entries("contactcentre.lookup")); n != 0 {
		t.Errorf("%d lookups audited, want none", n)
	}
}

func TestLookupFindsCitizenAndIsAudited(t *testing.T) {
	e := newEnv(t, envOptions{})
	sid := e.agent()
	for i, form := range []string{tolvan, "19810724-9289", "810724-9289"} {
		r, tok := e.lookup(sid, form, "Ärende KC-1234")
		if r.Code != http.StatusOK {
			t.Fatalf("%s: status %d: %s", form, r.Code, r.Body)
		}
		for _, want := range []string{"Tolvan Tolvansson", "19810724-XXXX", "Storgatan 12", `id="start-acting"`} {
			if !strings.Contains(r.Body, want) {
				t.Errorf("%s: result lacks %q", form, want)
			}
		}
		if tok == "" {
			t.Errorf("%s: no token to start acting", form)
		}
		if strings.Contains(r.Body, tolvan) || strings.Contains(r.Body, "7249289") {
			t.Errorf("%s: the full personnummer is in the page", form)
		}
		got := e.entries("contactcentre.lookup")
		if len(got) != i+1 {
			t.Fatalf("%d lookups audited, want %d", len(got), i+1)
		}
		last := got[len(got)-1]
		if last.Actor != agentKey || last.ActorRole != "contact-centre" || last.SubjectHMAC != e.audit.SubjectHMAC(tolvan) ||
			last.Outcome != audit.Success || last.Detail["reason"] != "Ärende KC-1234" || last.Detail["protected"] != "" {
			t.Errorf("lookup audited as %+v", last)
		}
	}
	// The citizen's own trail (Mina sidor) holds the lookups.
	mine, err := e.audit.ForSubject(context.Background(), tolvan, 100)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, en := range mine {
		if en.Action == "contactcentre.lookup" && en.ActorRole == "contact-centre" {
			n++
		}
	}
	if n != 3 {
		t.Errorf("citizen's trail has %d contact-centre lookups, want 3", n)
	}

}

// hidingRegister is the test population without one person, to look up a
// valid number the register does not know.
type hidingRegister struct {
	population.Register
	hidden string
}

func (h hidingRegister) Person(ctx context.Context, pnr string) (population.Person, error) {
	if pnr == h.hidden {
		return population.Person{}, fmt.Errorf("test register: %w", population.ErrNotFound)
	}
	return h.Register.Person(ctx, pnr)
}

func TestLookupOfUnknownPersonIsAuditedAsFailure(t *testing.T) {
	e := newEnv(t, envOptions{population: hidingRegister{population.Default(), "197010632391"}})
	sid := e.agent()
	r := e.post(e.ws, sid, "/sok", url.Values{"pnr": {"197010632391"}, "reason": {"Samtal om bygglov"}})
	if r.Code != http.StatusNotFound || strings.Contains(r.Body, "start-acting") {
		t.Fatalf("unknown person: %d, offered to act: %t", r.Code, strings.Contains(r.Body, "start-acting"))
	}
	if !strings.Contains(r.Body, "finns i folkbokföringen") || !strings.Contains(r.Body, `id="pnr-error"`) {
		t.Error("no clear message for an unknown person")
	}
	got := e.entries("contactcentre.lookup")
	if len(got) != 1 || got[0].Outcome != audit.Failure || got[0].Detail["result"] != "not_found" || got[0].SubjectHMAC != e.audit.SubjectHMAC("197010632391") {
		t.Errorf("failed lookup audited as %+v", got)
	}
}

func TestLookupIsRateLimitedPerAgent(t *testing.T) {
	e := newEnv(t, envOptions{lookupLimit: 2})
	sid := e.agent()
	for i := 0; i < 2; i++ {
		if r, _ := e.lookup(sid, tolvan, "Samtal om bygglov"); r.Code != http.StatusOK {
			t.Fatalf("lookup %d: status %d", i+1, r.Code)
		}
	}
	r, _ := e.lookup(sid, tolvan, "Samtal om bygglov")
	if r.Code != http.StatusTooManyRequests || r.Body != "FAIL error.429" {
		t.Fatalf("third lookup: %d %q, want 429 page", r.Code, r.Body)
	}
	if r.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	denied := 0
	for _, en := range e.entries("contactcentre.lookup") {
		if en.Outcome == audit.Denied && en.Detail["result"] == "rate_limited" {
			denied++
		}
	}
	if denied != 1 {
		t.Errorf("%d rate-limited lookups audited, want 1", denied)
	}
	// Another agent has a limit of their own.
	other := e.login("kc-agent-2", "contact-centre")
	if r, _ := e.lookup(other, tolvan, "Samtal om bygglov"); r.Code != http.StatusOK {
		t.Errorf("another agent was limited too: %d", r.Code)
	}
}

func TestOnlyContactCentreReachesWorkspace(t *testing.T) {
	e := newEnv(t, envOptions{})
	handlerSID := e.login("building-1", "building-handler")
	citizenSID := e.loginCitizen(tolvan)
	for _, tc := range []struct {
		name, sid string
	}{{"staff without the role", handlerSID}, {"citizen", citizenSID}, {"anonymous", ""}} {
		if r := e.get(e.ws, tc.sid, "/"); r.Code != http.StatusForbidden {
			t.Errorf("%s: GET / = %d, want 403", tc.name, r.Code)
		}
		r := e.post(e.ws, tc.sid, "/sok", url.Values{"pnr": {tolvan}, "reason": {"Samtal om bygglov"}})
		if r.Code != http.StatusForbidden || strings.Contains(r.Body, "Tolvansson") {
			t.Errorf("%s: POST /sok = %d, want 403", tc.name, r.Code)
		}
	}
	denied := e.entries("contactcentre.denied")
	if len(denied) != 6 {
		t.Fatalf("%d denials audited, want 6", len(denied))
	}
	if d := denied[0]; d.Outcome != audit.Denied || d.Actor != "staff:test-staff:building-1" || d.ActorRole != "building-handler" {
		t.Errorf("denial audited as %+v", d)
	}
	if n := len(e.entries("contactcentre.lookup")); n != 0 {
		t.Errorf("%d lookups audited for refused requests", n)
	}
	// The statistics are not for the contact centre either.
	if r := e.get(e.st, e.agent(), "/"); r.Code != http.StatusForbidden {
		t.Errorf("contact centre reached the statistics: %d", r.Code)
	}
}

func TestConfidentialCaseShowsOnlyStatus(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	open := e.newCase("bygglov", "BYGG", tolvan, "", "Carport på tomten", cases.EService, map[string]string{"plan": "carport"})
	soc := e.newCase("ekonomiskt-bistand", "SOC", tolvan, "", "SECRET-TITLE hyra mars", cases.EService, map[string]string{"inkomst": "SECRET-CONTENT"})
	if _, err := e.cases.SetStatus(ctx, soc.ID, cases.InProgress, "SECRET-NOTE", handler); err != nil {
		t.Fatal(err)
	}
	if _, err := e.cases.AddMessage(ctx, soc.ID, cases.NewMessage{Direction: cases.ToCitizen, Body: "SECRET-MESSAGE"}, handler); err != nil {
		t.Fatal(err)
	}
	if _, err := e.cases.AddMessage(ctx, open.ID, cases.NewMessage{Direction: cases.ToCitizen, Body: "Vi har tagit emot ritningen"}, handler); err != nil {
		t.Fatal(err)
	}
	secrets := []string{"SECRET-TITLE", "SECRET-CONTENT", "SECRET-NOTE", "SECRET-MESSAGE", "inkomst"}
	noSecrets := func(where, body string) {
		t.Helper()
		for _, s := range secrets {
			if strings.Contains(body, s) {
				t.Errorf("%s shows %s of a confidential case", where, s)
			}
		}
	}
	sid := e.agent()
	r, _ := e.lookup(sid, tolvan, "Samtal om ärenden")
	noSecrets("lookup result", r.Body)
	for _, want := range []string{"Carport på tomten", open.Number, soc.Number, "Under handläggning", "Sekretess – endast status visas"} {
		if !strings.Contains(r.Body, want) {
			t.Errorf("lookup result lacks %q", want)
		}
	}

	e.act(sid, tolvan)
	r = e.get(e.ws, sid, "/medborgare")
	if r.Code != http.StatusOK {
		t.Fatalf("citizen page: %d", r.Code)
	}
	noSecrets("citizen page", r.Body)
	r = e.get(e.ws, sid, "/arende/"+soc.ID)
	if r.Code != http.StatusOK {
		t.Fatalf("confidential case page: %d %s", r.Code, r.Body)
	}
	noSecrets("case page", r.Body)
	for _, want := range []string{soc.Number, "Under handläggning", `id="confidential-notice"`, "Socialförvaltningen"} {
		if !strings.Contains(r.Body, want) {
			t.Errorf("confidential case page lacks %q", want)
		}
	}
	r = e.get(e.ws, sid, "/arende/"+open.ID)
	if !strings.Contains(r.Body, "Carport på tomten") || !strings.Contains(r.Body, "Vi har tagit emot ritningen") {
		t.Error("an open case does not show its title and messages")
	}
	if strings.Contains(r.Body, "carport\"") || strings.Contains(r.Body, `"plan"`) {
		t.Error("a case page shows the module's own content")
	}
	views := e.entries("case.viewed")
	if len(views) != 2 {
		t.Fatalf("%d case views audited, want 2", len(views))
	}
	if v := views[0]; v.Resource != "case:"+soc.Number || v.ActorRole != "contact-centre" || v.SubjectHMAC != e.audit.SubjectHMAC(tolvan) || v.Detail["content"] != "hidden" {
		t.Errorf("confidential view audited as %+v", v)
	}
}

func TestActOnBehalfStartAndEnd(t *testing.T) {
	e := newEnv(t, envOptions{})
	sid := e.agent()
	r, tok := e.lookup(sid, tolvan, "Samtal om bygglov")
	if r.Code != http.StatusOK {
		t.Fatal(r.Code)
	}
	// Bad channel: refused, nothing changes.
	r = e.post(e.ws, sid, "/agera", url.Values{"token": {tok}, "reason": {"Samtal om bygglov"}, "channel": {"email"}})
	if r.Code != http.StatusUnprocessableEntity || !strings.Contains(r.Body, `id="channel-error"`) {
		t.Errorf("bad channel: %d", r.Code)
	}
	// A forged token, or one sealed for another session, is refused.
	other := e.agent()
	for _, tc := range []struct{ sid, tok string }{{sid, "forged"}, {sid, tok[:len(tok)-2] + "AA"}, {other, tok}} {
		r = e.post(e.ws, tc.sid, "/agera", url.Values{"token": {tc.tok}, "reason": {"Samtal om bygglov"}, "channel": {"phone"}})
		if r.Code != http.StatusBadRequest {
			t.Errorf("token %q in session %t: %d, want 400", tc.tok, tc.sid == sid, r.Code)
		}
	}
	if s := e.session(sid); s.ActingFor != nil {
		t.Fatal("acting started by a refused request")
	}
	if n := len(e.entries("contactcentre.act.start")); n != 0 {
		t.Fatalf("%d starts audited for refused requests", n)
	}

	r = e.post(e.ws, sid, "/agera", url.Values{"token": {tok}, "reason": {"Samtal om bygglov"}, "channel": {"phone"}})
	if r.Code != http.StatusSeeOther || r.Header.Get("Location") != "/kontaktcenter/medborgare" {
		t.Fatalf("start: %d %s", r.Code, r.Header.Get("Location"))
	}
	s := e.session(sid)
	if s.ActingFor == nil || s.ActingFor.PersonalNumber != tolvan || s.ActingFor.Name != "Tolvan Tolvansson" || s.ActingFor.Channel != "phone" ||
		s.ActingFor.Reason != "Samtal om bygglov" || !s.ActingFor.Since.Equal(e.clock.Now()) {
		t.Fatalf("ActingFor = %+v", s.ActingFor)
	}
	if s.Identity.Subject != "kc-agent-1" || s.CSRF != "csrf-token" {
		t.Error("starting to act changed the rest of the session")
	}
	starts := e.entries("contactcentre.act.start")
	if len(starts) != 1 || starts[0].Actor != agentKey || starts[0].ActorRole != "contact-centre" || starts[0].SubjectHMAC != e.audit.SubjectHMAC(tolvan) ||
		starts[0].Detail["channel"] != "phone" || starts[0].Detail["reason"] != "Samtal om bygglov" {
		t.Fatalf("start audited as %+v", starts)
	}

	r = e.get(e.ws, sid, "/medborgare")
	for _, want := range []string{`id="actingfor"`, "Du agerar för Tolvan Tolvansson", `href="/e/bygglov/"`, "bygglov@kommun.example", `id="end-acting"`} {
		if !strings.Contains(r.Body, want) {
			t.Errorf("citizen page lacks %q", want)
		}
	}
	for _, not := range []string{`href="/e/ekonomiskt-bistand/"`, `href="/e/skolfranvaro/"`} {
		if strings.Contains(r.Body, not) {
			t.Errorf("citizen page offers %s, which does not take contact-centre cases", not)
		}
	}
	// The search page says whom the agent acts for.
	if r := e.get(e.ws, sid, "/"); !strings.Contains(r.Body, "Du agerar för Tolvan Tolvansson") || !strings.Contains(r.Body, `id="acting-panel"`) {
		t.Error("search page does not show whom the agent acts for")
	}

	e.clock.Add(5 * 60e9)
	r = e.post(e.ws, sid, "/avsluta", nil)
	if r.Code != http.StatusSeeOther || r.Header.Get("Location") != "/kontaktcenter/" {
		t.Fatalf("end: %d %s", r.Code, r.Header.Get("Location"))
	}
	if s := e.session(sid); s.ActingFor != nil {
		t.Fatal("ActingFor still set after ending")
	}
	ends := e.entries("contactcentre.act.end")
	if len(ends) != 1 || ends[0].ActorRole != "contact-centre" || ends[0].SubjectHMAC != e.audit.SubjectHMAC(tolvan) || ends[0].Detail["duration_s"] != "300" {
		t.Fatalf("end audited as %+v", ends)
	}
	if r := e.get(e.ws, sid, "/medborgare"); r.Code != http.StatusSeeOther {
		t.Errorf("citizen page without acting: %d, want a redirect to the search", r.Code)
	}

	// Every event about Tolvan names the agent and the contact-centre role:
	// Mina sidor builds "the contact centre acted for you" from them.
	mine, _ := e.audit.ForSubject(context.Background(), tolvan, 100)
	actions := map[string]bool{}
	for _, en := range mine {
		if en.ActorRole != "contact-centre" || en.Actor != agentKey {
			t.Errorf("event %s about the citizen has actor %s role %s", en.Action, en.Actor, en.ActorRole)
		}
		actions[en.Action] = true
	}
	for _, a := range []string{"contactcentre.lookup", "contactcentre.act.start", "contactcentre.act.end"} {
		if !actions[a] {
			t.Errorf("citizen's trail lacks %s", a)
		}
	}
}

func TestProtectedPersonIsShownMinimally(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.newCase("skolfranvaro", "SKOL", tolvan, nian, "Frånvaro Exempelgymnasiet", cases.EService, map[string]string{})
	sid := e.agent()
	r, _ := e.lookup(sid, nian, "Samtal från vårdnadshavare")
	if r.Code != http.StatusOK {
		t.Fatalf("lookup: %d", r.Code)
	}
	check := func(where, body string) {
		t.Helper()
		if !strings.Contains(body, "Nian") || !strings.Contains(body, "20080903-XXXX") || !strings.Contains(body, `id="protected-notice"`) {
			t.Errorf("%s lacks the given name, masked number or protection notice", where)
		}
		for _, leak := range []string{"Tolvansson", "Hemliga", "987 65", "Någonstans", "Exempelgymnasiet", "skola-2", nian, `id="citizen-address"`} {
			if strings.Contains(body, leak) {
				t.Errorf("%s shows %q of a protected person", where, leak)
			}
		}
	}
	check("lookup result", r.Body)
	if !strings.Contains(r.Body, c.Number) {
		t.Error("the protected person's case is not listed at all")
	}
	e.act(sid, nian)
	if s := e.session(sid); s.ActingFor.Name != "Nian" {
		t.Errorf("acting for %q, want the given name only", s.ActingFor.Name)
	}
	r = e.get(e.ws, sid, "/medborgare")
	check("citizen page", strings.ReplaceAll(r.Body, "Du agerar för Nian", ""))
	r = e.get(e.ws, sid, "/arende/"+c.ID)
	if r.Code != http.StatusOK || strings.Contains(r.Body, "Exempelgymnasiet") {
		t.Errorf("protected person's case page: %d, title shown: %t", r.Code, strings.Contains(r.Body, "Exempelgymnasiet"))
	}
	// Every view is audited as a view of a protected person.
	var views int
	for _, action := range []string{"contactcentre.lookup", "contactcentre.act.start", "case.viewed"} {
		for _, en := range e.entries(action) {
			if en.SubjectHMAC != e.audit.SubjectHMAC(nian) {
				continue
			}
			views++
			if en.Detail["protected"] != "true" {
				t.Errorf("%s of a protected person audited without protected=true", action)
			}
		}
	}
	// lookup (search), lookup before start, act.start, citizen page, case page
	if views < 4 {
		t.Errorf("%d audited views of the protected person, want at least 4", views)
	}
}

func TestNotesMessagesAndQuestions(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	own := e.newCase("bygglov", "BYGG", tolvan, "", "Carport", cases.EService, map[string]string{})
	child := e.newCase("skolfranvaro", "SKOL", tolvan, tian, "Frånvaro", cases.EService, map[string]string{})
	foreign := e.newCase("bygglov", "BYGG", elvan, "", "Elvans altan", cases.EService, map[string]string{})
	closed := e.newCase("bygglov", "BYGG", tolvan, "", "Gammalt", cases.EService, map[string]string{})
	for _, to := range []cases.Status{cases.InProgress, cases.Decided, cases.Closed} {
		if _, err := e.cases.SetStatus(ctx, closed.ID, to, "", handler); err != nil {
			t.Fatal(err)
		}
	}
	sid := e.agent()
	e.act(sid, tolvan)

	r := e.post(e.ws, sid, "/arende/"+own.ID+"/meddelande", url.Values{"kind": {"note"}, "body": {"Ringde och frågade om handläggningstid"}})
	if r.Code != http.StatusSeeOther {
		t.Fatalf("note: %d %s", r.Code, r.Body)
	}
	r = e.post(e.ws, sid, "/arende/"+child.ID+"/meddelande", url.Values{"kind": {"handler"}, "body": {"Vårdnadshavaren undrar om intyg"}})
	if r.Code != http.StatusSeeOther {
		t.Fatalf("message: %d %s", r.Code, r.Body)
	}
	if r := e.get(e.ws, sid, "/arende/"+own.ID+"?skickat=1"); !strings.Contains(r.Body, `id="sent"`) || !strings.Contains(r.Body, "Ringde och frågade") {
		t.Error("the case page does not show the saved note")
	}
	msgs, _ := e.cases.Messages(ctx, own.ID)
	if len(msgs) != 1 || msgs[0].Direction != cases.Internal || msgs[0].From != agentKey {
		t.Fatalf("messages on own case: %+v", msgs)
	}
	msgs, _ = e.cases.Messages(ctx, child.ID)
	if len(msgs) != 1 || msgs[0].Direction != cases.ToHandler || msgs[0].From != agentKey {
		t.Fatalf("messages on child's case: %+v", msgs)
	}
	added := e.entries("case.message_added")
	subjects := map[string]int{}
	for _, en := range added {
		if en.Actor != agentKey || en.ActorRole != "contact-centre" {
			t.Errorf("message audited with actor %s role %s", en.Actor, en.ActorRole)
		}
		subjects[en.SubjectHMAC]++
	}
	// The store audits each message under the case's subject; the child's
	// case gets one more entry in the citizen's own trail.
	if subjects[e.audit.SubjectHMAC(tolvan)] != 2 || subjects[e.audit.SubjectHMAC(tian)] != 1 {
		t.Errorf("message audit subjects: %v", subjects)
	}

	// Bad input is refused and kept.
	r = e.post(e.ws, sid, "/arende/"+own.ID+"/meddelande", url.Values{"kind": {"shout"}, "body": {""}})
	if r.Code != http.StatusUnprocessableEntity || !strings.Contains(r.Body, `id="body-error"`) || !strings.Contains(r.Body, `id="kind-error"`) {
		t.Errorf("bad message: %d", r.Code)
	}
	// Someone else's case is not reachable.
	for _, path := range []string{"/arende/" + foreign.ID, "/arende/" + foreign.ID + "/meddelande"} {
		var r resp
		if strings.HasSuffix(path, "meddelande") {
			r = e.post(e.ws, sid, path, url.Values{"kind": {"note"}, "body": {"x"}})
		} else {
			r = e.get(e.ws, sid, path)
		}
		if r.Code != http.StatusNotFound || strings.Contains(r.Body, "Elvans altan") {
			t.Errorf("%s of another citizen's case: %d", path, r.Code)
		}
	}
	if msgs, _ := e.cases.Messages(ctx, foreign.ID); len(msgs) != 0 {
		t.Error("a message was added to another citizen's case")
	}
	if d := e.entries("case.denied"); len(d) != 2 || d[0].Outcome != audit.Denied {
		t.Errorf("denied case access audited %d times", len(d))
	}
	// A closed case takes no messages.
	r = e.post(e.ws, sid, "/arende/"+closed.ID+"/meddelande", url.Values{"kind": {"handler"}, "body": {"Fråga"}})
	if r.Code != http.StatusConflict || !strings.Contains(r.Body, "avslutat") {
		t.Errorf("message on a closed case: %d", r.Code)
	}

	// A question without a case.
	r = e.post(e.ws, sid, "/fraga", url.Values{"module": {"nope"}, "question": {"hi"}})
	if r.Code != http.StatusUnprocessableEntity || !strings.Contains(r.Body, `id="q-module-error"`) || !strings.Contains(r.Body, `id="q-body-error"`) {
		t.Errorf("bad question: %d", r.Code)
	}
	if n := len(e.entries("contactcentre.question")); n != 0 {
		t.Errorf("bad question audited")
	}
	r = e.post(e.ws, sid, "/fraga", url.Values{"module": {"ekonomiskt-bistand"}, "question": {"Hur ansöker man om bistånd?"}})
	if r.Code != http.StatusOK {
		t.Fatalf("question: %d", r.Code)
	}
	for _, want := range []string{"Socialförvaltningen", "08-123 45 00", "Hur ansöker man om bistånd?"} {
		if !strings.Contains(r.Body, want) {
			t.Errorf("question receipt lacks %q", want)
		}
	}
	q := e.entries("contactcentre.question")
	if len(q) != 1 || q[0].Resource != "module:ekonomiskt-bistand" || q[0].Detail["department"] != "Socialförvaltningen" ||
		q[0].ActorRole != "contact-centre" || q[0].SubjectHMAC != e.audit.SubjectHMAC(tolvan) {
		t.Fatalf("question audited as %+v", q)
	}
	for _, v := range q[0].Detail {
		if strings.Contains(v, "bistånd?") {
			t.Error("the question's text is in the audit log")
		}
	}
}

// failingAudit refuses every record, as an unreachable database would.
type failingAudit struct{}

func (failingAudit) Record(context.Context, audit.Event) error { return errors.New("database down") }

func TestWorkspaceFailsClosedWithoutAudit(t *testing.T) {
	e := newEnv(t, envOptions{auditor: failingAudit{}})
	sid := e.agent()
	r := e.post(e.ws, sid, "/sok", url.Values{"pnr": {tolvan}, "reason": {"Samtal om bygglov"}})
	if r.Code != http.StatusServiceUnavailable || strings.Contains(r.Body, "Tolvansson") {
		t.Fatalf("lookup without audit: %d, shown: %t", r.Code, strings.Contains(r.Body, "Tolvansson"))
	}
	if strings.Contains(e.log.String(), tolvan) {
		t.Error("the log contains a personnummer")
	}
}
