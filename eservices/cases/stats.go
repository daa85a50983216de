package cases

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"
)

// StatRow sums up the cases of one module and channel submitted in one
// week.
type StatRow struct {
	ModuleID string
	Channel  Channel
	// Week is the Monday 00:00, in the store's Location, starting the week.
	Week  time.Time
	Cases int
	// Responded counts the cases with a first response; the durations are
	// from submission to it.
	Responded           int
	FirstResponseMedian time.Duration
	FirstResponseMean   time.Duration
	// Decided counts the cases with a decision; the durations are from
	// submission to it.
	Decided        int
	DecisionMedian time.Duration
	DecisionMean   time.Duration
	// ResolvedWithin24h counts the cases decided, or closed without a
	// decision, within 24 hours of submission.
	ResolvedWithin24h int
}

// ShareResolvedWithin24h is ResolvedWithin24h / Cases (0 without cases).
func (r StatRow) ShareResolvedWithin24h() float64 {
	if r.Cases == 0 {
		return 0
	}
	return float64(r.ResolvedWithin24h) / float64(r.Cases)
}

// AgeBucket names how long an open case has waited since submission.
type AgeBucket string

// The age buckets of open cases.
const (
	AgeUnder1Day   AgeBucket = "0-1d"
	AgeUnder7Days  AgeBucket = "1-7d"
	AgeUnder30Days AgeBucket = "7-30d"
	AgeOver30Days  AgeBucket = "30d+"
)

func bucketOf(age time.Duration) AgeBucket {
	switch {
	case age < 24*time.Hour:
		return AgeUnder1Day
	case age < 7*24*time.Hour:
		return AgeUnder7Days
	case age < 30*24*time.Hour:
		return AgeUnder30Days
	}
	return AgeOver30Days
}

// OpenRow counts a module's open cases (received, in progress or awaiting
// supplement) of one age.
type OpenRow struct {
	ModuleID string
	Bucket   AgeBucket
	Cases    int
}

// Stats is what Stats computes.
type Stats struct {
	// Weeks covers the cases submitted in the period, ordered by week,
	// module and channel.
	Weeks []StatRow
	// Open covers every case open now, whenever submitted, ordered by
	// module and age.
	Open []OpenRow
}

// Stats sums up the cases submitted in [from, to) per module, channel and
// week, and the cases open now by age. Purged stubs count: they keep their
// dates.
func (s *SQL) Stats(ctx context.Context, from, to time.Time) (*Stats, error) {
	rows, err := s.db.QueryContext(ctx, s.d.Rebind(`SELECT module_id, channel, submitted_ms, first_response_ms, decided_ms, closed_ms
		FROM cases WHERE submitted_ms >= ? AND submitted_ms < ?`), ms(from), ms(to))
	if err != nil {
		return nil, fmt.Errorf("cases: stats: %w", err)
	}
	type key struct {
		module  string
		channel Channel
		week    int64
	}
	type acc struct {
		StatRow
		first, decided []time.Duration
	}
	groups := map[key]*acc{}
	for rows.Next() {
		var module string
		var channel Channel
		var submitted int64
		var first, decided, closed sql.NullInt64
		if err := rows.Scan(&module, &channel, &submitted, &first, &decided, &closed); err != nil {
			rows.Close()
			return nil, fmt.Errorf("cases: stats: %w", err)
		}
		sub := time.UnixMilli(submitted)
		week := weekStart(sub.In(s.loc))
		k := key{module, channel, week.Unix()}
		a := groups[k]
		if a == nil {
			a = &acc{StatRow: StatRow{ModuleID: module, Channel: channel, Week: week}}
			groups[k] = a
		}
		a.Cases++
		if first.Valid {
			a.first = append(a.first, time.UnixMilli(first.Int64).Sub(sub))
		}
		resolved := closed
		if decided.Valid {
			a.decided = append(a.decided, time.UnixMilli(decided.Int64).Sub(sub))
			resolved = decided
		}
		if resolved.Valid && time.UnixMilli(resolved.Int64).Sub(sub) <= 24*time.Hour {
			a.ResolvedWithin24h++
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cases: stats: %w", err)
	}
	out := &Stats{}
	for _, a := range groups {
		a.Responded, a.FirstResponseMedian, a.FirstResponseMean = summarise(a.first)
		a.Decided, a.DecisionMedian, a.DecisionMean = summarise(a.decided)
		out.Weeks = append(out.Weeks, a.StatRow)
	}
	slices.SortFunc(out.Weeks, func(x, y StatRow) int {
		if c := x.Week.Compare(y.Week); c != 0 {
			return c
		}
		if x.ModuleID != y.ModuleID {
			return cmp.Compare(x.ModuleID, y.ModuleID)
		}
		return cmp.Compare(x.Channel, y.Channel)
	})

	rows, err = s.db.QueryContext(ctx, `SELECT module_id, submitted_ms FROM cases
		WHERE status IN ('received', 'in_progress', 'awaiting_supplement')`)
	if err != nil {
		return nil, fmt.Errorf("cases: stats: %w", err)
	}
	defer rows.Close()
	now := s.now()
	open := map[OpenRow]int{}
	for rows.Next() {
		var module string
		var submitted int64
		if err := rows.Scan(&module, &submitted); err != nil {
			return nil, fmt.Errorf("cases: stats: %w", err)
		}
		open[OpenRow{ModuleID: module, Bucket: bucketOf(now.Sub(time.UnixMilli(submitted)))}]++
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cases: stats: %w", err)
	}
	order := map[AgeBucket]int{AgeUnder1Day: 0, AgeUnder7Days: 1, AgeUnder30Days: 2, AgeOver30Days: 3}
	for r, n := range open {
		r.Cases = n
		out.Open = append(out.Open, r)
	}
	slices.SortFunc(out.Open, func(x, y OpenRow) int {
		if x.ModuleID != y.ModuleID {
			return cmp.Compare(x.ModuleID, y.ModuleID)
		}
		return order[x.Bucket] - order[y.Bucket]
	})
	return out, nil
}

// weekStart returns the Monday 00:00 of t's ISO week in t's location.
func weekStart(t time.Time) time.Time {
	offset := (int(t.Weekday()) + 6) % 7
	y, m, d := t.Date()
	return time.Date(y, m, d-offset, 0, 0, 0, 0, t.Location())
}

// summarise returns the count, median and mean of ds.
func summarise(ds []time.Duration) (int, time.Duration, time.Duration) {
	if len(ds) == 0 {
		return 0, 0, 0
	}
	slices.Sort(ds)
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	median := ds[len(ds)/2]
	if len(ds)%2 == 0 {
		median = (ds[len(ds)/2-1] + ds[len(ds)/2]) / 2
	}
	return len(ds), median, sum / time.Duration(len(ds))
}
