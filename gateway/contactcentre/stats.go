package contactcentre

import (
	"cmp"
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/civicgate/civicgate/eservices/cases"
	mw "github.com/civicgate/civicgate/gateway/middleware"
	"github.com/civicgate/civicgate/web"
)

// Periods are the numbers of weeks the statistics page offers; the first
// is the default.
var Periods = []int{12, 4, 52}

type statsHandler struct {
	d    Deps
	mods moduleIndex
	mux  *http.ServeMux
}

// NewStats returns the management statistics, to be mounted at StatsPath
// with the prefix stripped, behind a staff login. Only staff with
// RoleSystemOwner or RoleManagement get through (403 and an audit event
// otherwise). GET / shows the figures of the last 4, 12 or 52 weeks
// (?veckor=N), GET /export.csv the same per week, e-service and channel as
// CSV. Neither holds personal data. It panics without Cases, Pages or Fail.
func NewStats(d Deps) http.Handler {
	if d.Cases == nil || d.Pages == nil || d.Fail == nil {
		panic("contactcentre: NewStats needs Cases, Pages and Fail")
	}
	h := &statsHandler{d: d.withDefaults(), mods: indexModules(d.Modules)}
	m := http.NewServeMux()
	m.HandleFunc("GET /{$}", h.page)
	m.HandleFunc("GET /export.csv", h.export)
	h.mux = m
	return h
}

func (h *statsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if staffSession(h.d, w, r, "statistics.denied", RoleSystemOwner, RoleManagement) == nil {
		return
	}
	if _, pattern := h.mux.Handler(r); pattern == "" {
		h.d.Fail(w, r, http.StatusNotFound, "error.404")
		return
	}
	h.mux.ServeHTTP(w, r)
}

// weekStart returns the Monday 00:00 of t's ISO week in loc.
func weekStart(t time.Time, loc *time.Location) time.Time {
	t = t.In(loc)
	offset := (int(t.Weekday()) + 6) % 7
	y, m, d := t.Date()
	return time.Date(y, m, d-offset, 0, 0, 0, 0, loc)
}

// period returns the whole weeks [from, to) that end with the current one.
func period(now time.Time, loc *time.Location, weeks int) (time.Time, time.Time) {
	to := weekStart(now, loc).AddDate(0, 0, 7)
	return to.AddDate(0, 0, -7*weeks), to
}

// weeksParam reads ?veckor=N, accepting only the offered periods.
func weeksParam(r *http.Request) int {
	n, err := strconv.Atoi(r.URL.Query().Get("veckor"))
	if err == nil && slices.Contains(Periods, n) {
		return n
	}
	return Periods[0]
}

// total sums a module's (or every module's) weeks. Means are combined
// weighted by their counts, which is exact; medians cannot be combined and
// are shown per week only.
type total struct {
	ModuleID                  string
	Cases, Responded, Decided int
	Resolved24h               int
	ByChannel                 map[cases.Channel]int
	firstSum, decisionSum     time.Duration
}

func (t *total) add(r cases.StatRow) {
	if t.ByChannel == nil {
		t.ByChannel = map[cases.Channel]int{}
	}
	t.Cases += r.Cases
	t.ByChannel[r.Channel] += r.Cases
	t.Responded += r.Responded
	t.Decided += r.Decided
	t.Resolved24h += r.ResolvedWithin24h
	t.firstSum += r.FirstResponseMean * time.Duration(r.Responded)
	t.decisionSum += r.DecisionMean * time.Duration(r.Decided)
}

func (t total) firstMean() time.Duration {
	if t.Responded == 0 {
		return 0
	}
	return t.firstSum / time.Duration(t.Responded)
}

func (t total) decisionMean() time.Duration {
	if t.Decided == 0 {
		return 0
	}
	return t.decisionSum / time.Duration(t.Decided)
}

func (t total) share() float64 {
	if t.Cases == 0 {
		return 0
	}
	return float64(t.Resolved24h) / float64(t.Cases)
}

// totals sums rows per module, most cases first, and over everything.
func totals(rows []cases.StatRow) ([]total, total) {
	by := map[string]*total{}
	var all total
	for _, r := range rows {
		t := by[r.ModuleID]
		if t == nil {
			t = &total{ModuleID: r.ModuleID}
			by[r.ModuleID] = t
		}
		t.add(r)
		all.add(r)
	}
	out := make([]total, 0, len(by))
	for _, t := range by {
		out = append(out, *t)
	}
	slices.SortFunc(out, func(a, b total) int {
		if c := cmp.Compare(b.Cases, a.Cases); c != 0 {
			return c
		}
		return cmp.Compare(a.ModuleID, b.ModuleID)
	})
	return out, all
}

// hours formats a duration in hours with one decimal in lang's style, or
// "–" when nothing was measured.
func hours(d time.Duration, n int, lang string) string {
	if n == 0 {
		return "–"
	}
	s := strconv.FormatFloat(d.Hours(), 'f', 1, 64)
	if lang == "sv" {
		s = strings.Replace(s, ".", ",", 1)
	}
	return s + " h"
}

// percent formats a share with at most one decimal in lang's style.
func percent(x float64, lang string) string {
	s := strconv.FormatFloat(x*100, 'f', 1, 64)
	s = strings.TrimSuffix(s, ".0")
	if lang == "sv" {
		return strings.Replace(s, ".", ",", 1) + " %"
	}
	return s + "%"
}

func isoWeek(t time.Time) string {
	y, w := t.ISOWeek()
	return fmt.Sprintf("%d-W%02d", y, w)
}

type moduleRow struct {
	Module                                 string
	Cases, EService, Phone, Visit          int
	Share, FirstResponseMean, DecisionMean string
}

type weekRow struct {
	Week, WeekStart, Module, ChannelKey        string
	Cases, Responded, Decided, Resolved        int
	FirstResponseMedian, DecisionMedian, Share string
}

type openRow struct {
	Module  string
	Buckets []int
	Total   int
}

type statsData struct {
	Weeks       int
	Periods     []int
	From, To    time.Time
	Total       moduleRow
	TotalShare  string
	Modules     []moduleRow
	Rows        []weekRow
	Open        []openRow
	OpenBuckets []string
	CSV         string
}

var ageBuckets = []cases.AgeBucket{cases.AgeUnder1Day, cases.AgeUnder7Days, cases.AgeUnder30Days, cases.AgeOver30Days}

func (h *statsHandler) page(w http.ResponseWriter, r *http.Request) {
	weeks := weeksParam(r)
	from, to := period(h.d.Now(), h.d.Location, weeks)
	st, err := h.d.Cases.Stats(r.Context(), from, to)
	if err != nil {
		h.d.Log.ErrorContext(r.Context(), "case statistics unavailable", "request_id", mw.RequestIDFrom(r.Context()), "err", err)
		w.Header().Set("Retry-After", "5")
		h.d.Fail(w, r, http.StatusServiceUnavailable, "error.503")
		return
	}
	l := lang(r)
	data := statsData{Weeks: weeks, Periods: Periods, From: from, To: to.AddDate(0, 0, -1), CSV: StatsPath + "/export.csv?veckor=" + strconv.Itoa(weeks)}
	mods, all := totals(st.Weeks)
	row := func(t total, name string) moduleRow {
		return moduleRow{
			Module: name, Cases: t.Cases, EService: t.ByChannel[cases.EService], Phone: t.ByChannel[cases.Phone], Visit: t.ByChannel[cases.Visit],
			Share: percent(t.share(), l), FirstResponseMean: hours(t.firstMean(), t.Responded, l), DecisionMean: hours(t.decisionMean(), t.Decided, l),
		}
	}
	for _, t := range mods {
		data.Modules = append(data.Modules, row(t, h.mods.title(t.ModuleID, l)))
	}
	data.Total = row(all, "")
	for _, s := range st.Weeks {
		data.Rows = append(data.Rows, weekRow{
			Week: isoWeek(s.Week), WeekStart: s.Week.Format("2006-01-02"), Module: h.mods.title(s.ModuleID, l),
			ChannelKey: "kontaktcenter.channel." + string(s.Channel), Cases: s.Cases, Responded: s.Responded, Decided: s.Decided,
			Resolved: s.ResolvedWithin24h, FirstResponseMedian: hours(s.FirstResponseMedian, s.Responded, l),
			DecisionMedian: hours(s.DecisionMedian, s.Decided, l), Share: percent(s.ShareResolvedWithin24h(), l),
		})
	}
	idx := map[string]int{}
	for _, o := range st.Open {
		i, ok := idx[o.ModuleID]
		if !ok {
			i = len(data.Open)
			idx[o.ModuleID] = i
			data.Open = append(data.Open, openRow{Module: h.mods.title(o.ModuleID, l), Buckets: make([]int, len(ageBuckets))})
		}
		data.Open[i].Buckets[slices.Index(ageBuckets, o.Bucket)] += o.Cases
		data.Open[i].Total += o.Cases
	}
	for _, b := range ageBuckets {
		data.OpenBuckets = append(data.OpenBuckets, "kontaktcenter.stats.age."+string(b))
	}
	h.d.Pages.Render(w, r, http.StatusOK, AssetsID+"/stats.html", web.Page{Title: "kontaktcenter.stats.title", Data: data})
}

// CSVHeader is the header row of the CSV export. Durations are in hours,
// shares between 0 and 1, with a dot as decimal separator.
var CSVHeader = []string{
	"week_start", "iso_week", "module", "channel", "cases",
	"responded", "first_response_median_hours", "first_response_mean_hours",
	"decided", "decision_median_hours", "decision_mean_hours",
	"resolved_within_24h", "share_resolved_within_24h",
}

func (h *statsHandler) export(w http.ResponseWriter, r *http.Request) {
	weeks := weeksParam(r)
	from, to := period(h.d.Now(), h.d.Location, weeks)
	st, err := h.d.Cases.Stats(r.Context(), from, to)
	if err != nil {
		h.d.Log.ErrorContext(r.Context(), "case statistics unavailable", "request_id", mw.RequestIDFrom(r.Context()), "err", err)
		w.Header().Set("Retry-After", "5")
		h.d.Fail(w, r, http.StatusServiceUnavailable, "error.503")
		return
	}
	hr := func(d time.Duration, n int) string {
		if n == 0 {
			return ""
		}
		return strconv.FormatFloat(d.Hours(), 'f', 2, 64)
	}
	var b strings.Builder
	cw := csv.NewWriter(&b)
	_ = cw.Write(CSVHeader)
	for _, s := range st.Weeks {
		_ = cw.Write([]string{
			s.Week.Format("2006-01-02"), isoWeek(s.Week), s.ModuleID, string(s.Channel), strconv.Itoa(s.Cases),
			strconv.Itoa(s.Responded), hr(s.FirstResponseMedian, s.Responded), hr(s.FirstResponseMean, s.Responded),
			strconv.Itoa(s.Decided), hr(s.DecisionMedian, s.Decided), hr(s.DecisionMean, s.Decided),
			strconv.Itoa(s.ResolvedWithin24h), strconv.FormatFloat(s.ShareResolvedWithin24h(), 'f', 4, 64),
		})
	}
	cw.Flush()
	name := fmt.Sprintf("civicgate-statistik-%s-%s.csv", from.Format("20060102"), to.AddDate(0, 0, -1).Format("20060102"))
	hd := w.Header()
	hd.Set("Content-Type", "text/csv; charset=utf-8")
	hd.Set("Content-Disposition", `attachment; filename="`+name+`"`)
	hd.Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte(b.String()))
}

// statsContext bounds a statistics query made outside a request.
func statsContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 10*time.Second)
}
