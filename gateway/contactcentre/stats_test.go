package contactcentre_test

import (
	"context"
	"encoding/csv"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/civicgate/civicgate/eservices/cases"
	"github.com/civicgate/civicgate/gateway/contactcentre"
)

// seedStats creates cases at known times with the fake clock and leaves
// the clock at Wednesday 2026-03-04 10:00 (ISO week 10):
//
//	A bygglov e-service  Tue 02-24 09:00  first response +2h, decided +20h  (within 24 h)
//	B bygglov phone      Tue 02-24 09:00  first response +4h, decided +30h  (not within 24 h)
//	E bygglov e-service  Tue 03-03 10:00  decided +1h, closed               (within 24 h)
//	C bygglov e-service  Mon 03-02 08:00  untouched: open, 1–7 days old
//	D bistånd e-service  Wed 03-04 09:00  in progress +30min: open, < 1 day
//	F skolfrånvaro       Mon 2025-12-01   untouched: open, > 30 days, outside 12 weeks
func seedStats(t *testing.T, e *env) {
	t.Helper()
	ctx := context.Background()
	at := func(y int, m time.Month, d, h, min int) { e.clock.Set(time.Date(y, m, d, h, min, 0, 0, stockholm)) }
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	agent := cases.Actor{Key: agentKey, Role: "contact-centre"}

	at(2025, 12, 1, 10, 0)
	e.newCase("skolfranvaro", "SKOL", tolvan, tian, "Frånvaro", cases.EService, map[string]string{})

	at(2026, 2, 24, 9, 0)
	a := e.newCase("bygglov", "BYGG", tolvan, "", "A", cases.EService, map[string]string{})
	b, err := e.cases.Create(ctx, cases.NewCase{ModuleID: "bygglov", Prefix: "BYGG", Owner: elvan, Channel: cases.Phone, Title: "B", Content: []byte("{}")}, agent)
	must(b, err)
	at(2026, 2, 24, 11, 0)
	must(e.cases.SetStatus(ctx, a.ID, cases.InProgress, "", handler))
	at(2026, 2, 24, 13, 0)
	must(e.cases.AddMessage(ctx, b.ID, cases.NewMessage{Direction: cases.ToCitizen, Body: "Vi återkommer"}, handler))
	at(2026, 2, 25, 5, 0)
	must(e.cases.SetStatus(ctx, a.ID, cases.Decided, "", handler))
	at(2026, 2, 25, 15, 0)
	must(e.cases.SetStatus(ctx, b.ID, cases.Decided, "", handler))

	at(2026, 3, 2, 8, 0)
	e.newCase("bygglov", "BYGG", tolvan, "", "C", cases.EService, map[string]string{})
	at(2026, 3, 3, 10, 0)
	ec := e.newCase("bygglov", "BYGG", elvan, "", "E", cases.EService, map[string]string{})
	at(2026, 3, 3, 11, 0)
	must(e.cases.SetStatus(ctx, ec.ID, cases.Decided, "", handler))
	must(e.cases.SetStatus(ctx, ec.ID, cases.Closed, "", handler))
	at(2026, 3, 4, 9, 0)
	d := e.newCase("ekonomiskt-bistand", "SOC", tolvan, "", "D", cases.EService, map[string]string{})
	at(2026, 3, 4, 9, 30)
	must(e.cases.SetStatus(ctx, d.ID, cases.InProgress, "", handler))
	at(2026, 3, 4, 10, 0)
}

func TestStatsAccess(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, roles := range [][]string{{"system-owner"}, {"management"}} {
		if r := e.get(e.st, e.login("owner-1", roles...), "/"); r.Code != http.StatusOK {
			t.Errorf("%v: %d", roles, r.Code)
		}
	}
	for _, sid := range []string{e.login("building-1", "building-handler"), e.loginCitizen(tolvan), ""} {
		if r := e.get(e.st, sid, "/"); r.Code != http.StatusForbidden {
			t.Errorf("statistics reached: %d", r.Code)
		}
		if r := e.get(e.st, sid, "/export.csv"); r.Code != http.StatusForbidden {
			t.Errorf("CSV reached: %d", r.Code)
		}
	}
	if n := len(e.entries("statistics.denied")); n != 6 {
		t.Errorf("%d denials audited, want 6", n)
	}
}

func TestStatsPage(t *testing.T) {
	e := newEnv(t, envOptions{})
	seedStats(t, e)
	sid := e.login("owner-1", "system-owner")
	r := e.get(e.st, sid, "/?veckor=4")
	if r.Code != http.StatusOK {
		t.Fatalf("stats: %d %s", r.Code, r.Body)
	}
	body := r.Body
	want := []string{
		`<dd id="total-cases">5</dd>`, `<dd id="total-share">40 %</dd>`,
		// Bygglov generates the most cases: 3 by e-service, 1 by phone, half resolved within 24 h,
		// mean first response (2+4+1)/3 h, mean decision (20+30+1)/3 h.
		`<tr><th scope="row">Bygglov</th><td>4</td><td>3</td><td>1</td><td>0</td><td>50 %</td><td>2,3 h</td><td>17,0 h</td></tr>`,
		`<tr><th scope="row">Ekonomiskt bistånd</th><td>1</td><td>1</td><td>0</td><td>0</td><td>0 %</td><td>0,5 h</td><td>–</td></tr>`,
		`<th scope="row"><time datetime="2026-02-23">2026-W09</time></th><td>Bygglov</td><td>E-tjänst</td><td>1</td><td>1</td><td>2,0 h</td><td>1</td><td>20,0 h</td><td>1</td><td>100 %</td>`,
		`<th scope="row"><time datetime="2026-02-23">2026-W09</time></th><td>Bygglov</td><td>Telefon</td><td>1</td><td>1</td><td>4,0 h</td><td>1</td><td>30,0 h</td><td>0</td><td>0 %</td>`,
		`<th scope="row"><time datetime="2026-03-02">2026-W10</time></th><td>Bygglov</td><td>E-tjänst</td><td>2</td><td>1</td><td>1,0 h</td><td>1</td><td>1,0 h</td><td>1</td><td>50 %</td>`,
		// Open cases by age, whenever submitted.
		`<tr><th scope="row">Bygglov</th><td>0</td><td>1</td><td>0</td><td>0</td><td>1</td></tr>`,
		`<tr><th scope="row">Ekonomiskt bistånd</th><td>1</td><td>0</td><td>0</td><td>0</td><td>1</td></tr>`,
		`<tr><th scope="row">Frånvaroanmälan</th><td>0</td><td>0</td><td>0</td><td>1</td><td>1</td></tr>`,
		`<caption>`, `<option value="4" selected>`, `href="/statistik/export.csv?veckor=4"`,
	}
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Errorf("page lacks %s", w)
		}
	}
	if strings.Index(body, `<th scope="row">Bygglov</th><td>4</td>`) > strings.Index(body, `<th scope="row">Ekonomiskt bistånd</th><td>1</td>`) {
		t.Error("e-services are not ordered by number of cases")
	}
	if strings.Contains(body, "2025-W49") {
		t.Error("a case outside the 4 weeks is counted")
	}
	// 52 weeks reaches back to December; English titles in English.
	r = e.get(e.st, sid, "/?veckor=52")
	if !strings.Contains(r.Body, `<dd id="total-cases">6</dd>`) || !strings.Contains(r.Body, "2025-W49") {
		t.Error("52 weeks does not include the December case")
	}
	req := httptestGet("/?veckor=12")
	req.AddCookie(&http.Cookie{Name: "cg_lang", Value: "en"})
	r = e.serve(e.st, sid, req)
	if !strings.Contains(r.Body, `<th scope="row">Building permit</th><td>4</td><td>3</td><td>1</td><td>0</td><td>50%</td><td>2.3 h</td>`) {
		t.Error("English page lacks the English title or number format")
	}
	for _, pnr := range []string{tolvan, elvan, tian, "Tolvan"} {
		if strings.Contains(r.Body, pnr) {
			t.Errorf("statistics contain personal data %q", pnr)
		}
	}
}

func httptestGet(target string) *http.Request {
	req, _ := http.NewRequest(http.MethodGet, "http://example.test"+target, nil)
	return req
}

func TestStatsCSV(t *testing.T) {
	e := newEnv(t, envOptions{})
	seedStats(t, e)
	r := e.get(e.st, e.login("owner-1", "management"), "/export.csv?veckor=4")
	if r.Code != http.StatusOK {
		t.Fatalf("csv: %d", r.Code)
	}
	if ct := r.Header.Get("Content-Type"); ct != "text/csv; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if cd := r.Header.Get("Content-Disposition"); cd != `attachment; filename="civicgate-statistik-20260209-20260308.csv"` {
		t.Errorf("Content-Disposition %q", cd)
	}
	rows, err := csv.NewReader(strings.NewReader(r.Body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		contactcentre.CSVHeader,
		{"2026-02-23", "2026-W09", "bygglov", "e-service", "1", "1", "2.00", "2.00", "1", "20.00", "20.00", "1", "1.0000"},
		{"2026-02-23", "2026-W09", "bygglov", "phone", "1", "1", "4.00", "4.00", "1", "30.00", "30.00", "0", "0.0000"},
		{"2026-03-02", "2026-W10", "bygglov", "e-service", "2", "1", "1.00", "1.00", "1", "1.00", "1.00", "1", "0.5000"},
		{"2026-03-02", "2026-W10", "ekonomiskt-bistand", "e-service", "1", "1", "0.50", "0.50", "0", "", "", "0", "0.0000"},
	}
	if len(rows) != len(want) {
		t.Fatalf("CSV has %d rows, want %d:\n%s", len(rows), len(want), r.Body)
	}
	for i := range want {
		if strings.Join(rows[i], ",") != strings.Join(want[i], ",") {
			t.Errorf("row %d = %v, want %v", i, rows[i], want[i])
		}
	}
	if rows[0][0] != "week_start" {
		t.Error("no header row")
	}
}

func TestCollector(t *testing.T) {
	e := newEnv(t, envOptions{})
	seedStats(t, e)
	reg := prometheus.NewRegistry()
	if err := reg.Register(contactcentre.NewCollector(e.deps)); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			got[mf.GetName()+labels(m)] = m.GetGauge().GetValue()
		}
	}
	want := map[string]float64{
		"civicgate_case_stats_up":                                                       1,
		"civicgate_case_stats_window_weeks":                                             4,
		"civicgate_cases_submitted{channel=e-service,module=bygglov}":                   3,
		"civicgate_cases_submitted{channel=phone,module=bygglov}":                       1,
		"civicgate_cases_submitted{channel=e-service,module=ekonomiskt-bistand}":        1,
		"civicgate_cases_first_responded{channel=e-service,module=bygglov}":             2,
		"civicgate_cases_first_response_mean_seconds{channel=e-service,module=bygglov}": 5400,
		"civicgate_cases_decided{channel=phone,module=bygglov}":                         1,
		"civicgate_cases_decision_mean_seconds{channel=phone,module=bygglov}":           30 * 3600,
		"civicgate_cases_resolved_within_24h{channel=e-service,module=bygglov}":         2,
		"civicgate_cases_resolved_within_24h_ratio{channel=e-service,module=bygglov}":   2.0 / 3,
		"civicgate_cases_resolved_within_24h_ratio{channel=phone,module=bygglov}":       0,
		"civicgate_cases_open{age=1-7d,module=bygglov}":                                 1,
		"civicgate_cases_open{age=0-1d,module=ekonomiskt-bistand}":                      1,
		"civicgate_cases_open{age=30d+,module=skolfranvaro}":                            1,
	}
	for k, v := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("metric %s missing", k)
			continue
		}
		if math.Abs(g-v) > 1e-9 {
			t.Errorf("%s = %v, want %v", k, g, v)
		}
	}
	if _, ok := got["civicgate_cases_submitted{channel=e-service,module=skolfranvaro}"]; ok {
		t.Error("a case outside the window is counted")
	}
}

func labels(m *dto.Metric) string {
	if len(m.GetLabel()) == 0 {
		return ""
	}
	var parts []string
	for _, l := range m.GetLabel() {
		parts = append(parts, l.GetName()+"="+l.GetValue())
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// brokenStats is a case store whose statistics fail.
type brokenStats struct{ contactcentre.CaseStore }

func (brokenStats) Stats(context.Context, time.Time, time.Time) (*cases.Stats, error) {
	return nil, context.DeadlineExceeded
}

func TestCollectorReportsStoreFailure(t *testing.T) {
	e := newEnv(t, envOptions{})
	d := e.deps
	d.Cases = brokenStats{e.cases}
	reg := prometheus.NewRegistry()
	reg.MustRegister(contactcentre.NewCollector(d))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("a failing store broke the scrape: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "civicgate_case_stats_up" && mf.GetMetric()[0].GetGauge().GetValue() != 0 {
			t.Error("civicgate_case_stats_up is not 0")
		}
	}
	if r := e.get(contactcentre.NewStats(d), e.login("owner-1", "system-owner"), "/"); r.Code != http.StatusServiceUnavailable {
		t.Errorf("stats page with a failing store: %d", r.Code)
	}
}
