package contactcentre

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/civicgate/civicgate/eservices/cases"
)

type collector struct {
	d                                                 Deps
	submitted, responded, firstMean, decided, decMean *prometheus.Desc
	resolved, ratio, open, up, window                 *prometheus.Desc
}

// NewCollector returns the statistics as Prometheus metrics, computed from
// the case store at each scrape over the last Deps.MetricsWeeks whole
// weeks (the current one included), the same figures as the statistics
// page's totals per e-service and channel:
//
//	civicgate_cases_submitted{module,channel}
//	civicgate_cases_first_responded{module,channel}
//	civicgate_cases_first_response_mean_seconds{module,channel}
//	civicgate_cases_decided{module,channel}
//	civicgate_cases_decision_mean_seconds{module,channel}
//	civicgate_cases_resolved_within_24h{module,channel}
//	civicgate_cases_resolved_within_24h_ratio{module,channel}
//	civicgate_cases_open{module,age}   (every open case, whenever submitted)
//	civicgate_case_stats_window_weeks
//	civicgate_case_stats_up            (0 when the case store failed)
//
// It needs Deps.Cases. A failing store gives civicgate_case_stats_up 0
// rather than a failed scrape, so the gateway's other metrics still
// arrive.
func NewCollector(d Deps) prometheus.Collector {
	mc := []string{"module", "channel"}
	desc := func(name, help string, labels []string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &collector{
		d:         d.withDefaults(),
		submitted: desc("civicgate_cases_submitted", "Cases submitted in the statistics window.", mc),
		responded: desc("civicgate_cases_first_responded", "Cases of the window with a first response from the municipality.", mc),
		firstMean: desc("civicgate_cases_first_response_mean_seconds", "Mean time from submission to first response, over the window's responded cases.", mc),
		decided:   desc("civicgate_cases_decided", "Cases of the window with a decision.", mc),
		decMean:   desc("civicgate_cases_decision_mean_seconds", "Mean time from submission to decision, over the window's decided cases.", mc),
		resolved:  desc("civicgate_cases_resolved_within_24h", "Cases of the window decided, or closed without a decision, within 24 hours of submission.", mc),
		ratio:     desc("civicgate_cases_resolved_within_24h_ratio", "Share of the window's cases resolved within 24 hours.", mc),
		open:      desc("civicgate_cases_open", "Cases open now (received, in progress, awaiting supplement) by age since submission.", []string{"module", "age"}),
		up:        desc("civicgate_case_stats_up", "1 when the case statistics could be computed at this scrape.", nil),
		window:    desc("civicgate_case_stats_window_weeks", "Whole weeks, ending with the current one, the case statistics cover.", nil),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.submitted, c.responded, c.firstMean, c.decided, c.decMean, c.resolved, c.ratio, c.open, c.up, c.window} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(c.window, float64(c.d.MetricsWeeks))
	ctx, cancel := statsContext()
	defer cancel()
	from, to := period(c.d.Now(), c.d.Location, c.d.MetricsWeeks)
	st, err := c.d.Cases.Stats(ctx, from, to)
	if err != nil {
		c.d.Log.Error("case statistics unavailable for metrics", "err", err)
		gauge(c.up, 0)
		return
	}
	gauge(c.up, 1)
	type key struct {
		module  string
		channel cases.Channel
	}
	sums := map[key]*total{}
	var order []key
	for _, r := range st.Weeks {
		k := key{r.ModuleID, r.Channel}
		if sums[k] == nil {
			sums[k] = &total{ModuleID: r.ModuleID}
			order = append(order, k)
		}
		sums[k].add(r)
	}
	for _, k := range order {
		t, l := sums[k], []string{k.module, string(k.channel)}
		gauge(c.submitted, float64(t.Cases), l...)
		gauge(c.responded, float64(t.Responded), l...)
		gauge(c.firstMean, t.firstMean().Seconds(), l...)
		gauge(c.decided, float64(t.Decided), l...)
		gauge(c.decMean, t.decisionMean().Seconds(), l...)
		gauge(c.resolved, float64(t.Resolved24h), l...)
		gauge(c.ratio, t.share(), l...)
	}
	for _, o := range st.Open {
		gauge(c.open, float64(o.Cases), o.ModuleID, string(o.Bucket))
	}
}
