package casestest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/civicgate/civicgate/eservices/cases"
)

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// recorder is a Sender that fails its first failures sends and records
// the rest.
type recorder struct {
	mu       sync.Mutex
	failures int
	sent     []cases.Mail
	tries    int
}

func (r *recorder) Send(_ context.Context, m cases.Mail) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tries++
	if r.failures != 0 {
		r.failures--
		return errors.New("421 4.3.0 try again later")
	}
	r.sent = append(r.sent, m)
	return nil
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func testMailer(t *testing.T, newDSN DSNFunc) {
	ctx := context.Background()
	e := NewEnv(t, newDSN(t), cases.Options{})
	c1 := mustCreate(t, e.Store, newCase(pnGuardian, pnChild), citizen)
	c2 := mustCreate(t, e.Store, newCase(pnOther, ""), citizen)
	nc := newCase(pnOther, "")
	nc.NotifyEmail = ""
	c3 := mustCreate(t, e.Store, nc, citizen)
	rec := &recorder{}
	m := cases.NewMailer(e.Store, rec, cases.MailerOptions{Now: e.Clock.Now, Logger: quiet})
	e.Clock.Advance(time.Second)
	n, err := m.RunOnce(ctx)
	if err != nil || n != 2 {
		t.Fatalf("RunOnce = %d, %v; want 2 mails", n, err)
	}
	if len(rec.sent) != 2 {
		t.Fatalf("sent %d", len(rec.sent))
	}
	nums := []string{c1.Number, c2.Number}
	for _, s := range rec.sent {
		if s.To != "medborgare@example.se" || !slices.ContainsFunc(nums, func(n string) bool { return strings.Contains(s.Body, n) }) ||
			!strings.Contains(s.Subject, "mottaget") || !strings.Contains(s.Subject, "received") {
			t.Errorf("sent %+v", s)
		}
	}
	for _, c := range []*cases.Case{c1, c2} {
		mails, _ := e.Store.Mails(ctx, c.ID)
		if len(mails) != 1 || mails[0].State != cases.MailSent || !mails[0].SentAt.Equal(Start.Add(time.Second)) || mails[0].Attempts != 1 {
			t.Errorf("mail of %s: %+v", c.Number, mails)
		}
	}
	if mails, _ := e.Store.Mails(ctx, c3.ID); len(mails) != 1 || mails[0].State != cases.MailNoAddress {
		t.Errorf("mail without address: %+v", mails)
	}
	e.Clock.Advance(time.Hour)
	if n, err := m.RunOnce(ctx); n != 0 || err != nil {
		t.Errorf("second RunOnce = %d, %v; nothing is due", n, err)
	}

	// Run sends what is created while it runs and stops with its context.
	c4 := mustCreate(t, e.Store, newCase(pnOther, ""), citizen)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- cases.NewMailer(e.Store, rec, cases.MailerOptions{Now: e.Clock.Now, Interval: 10 * time.Millisecond, Logger: quiet}).Run(runCtx)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if mails, _ := e.Store.Mails(ctx, c4.ID); len(mails) == 1 && mails[0].State == cases.MailSent {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run returned %v", err)
	}
	if mails, _ := e.Store.Mails(ctx, c4.ID); len(mails) != 1 || mails[0].State != cases.MailSent {
		t.Errorf("Run did not send: %+v", mails)
	}
}

func testMailerRetries(t *testing.T, newDSN DSNFunc) {
	ctx := context.Background()
	e := NewEnv(t, newDSN(t), cases.Options{})
	c := mustCreate(t, e.Store, newCase(pnGuardian, pnChild), citizen)
	rec := &recorder{failures: 2}
	m := cases.NewMailer(e.Store, rec, cases.MailerOptions{
		Now: e.Clock.Now, Backoff: time.Minute, MaxBackoff: 10 * time.Minute, MaxAttempts: 3, Logger: quiet,
	})
	mail := func() cases.Mail {
		t.Helper()
		mails, err := e.Store.Mails(ctx, c.ID)
		if err != nil || len(mails) != 1 {
			t.Fatalf("Mails = %v, %v", mails, err)
		}
		return mails[0]
	}
	run := func(want int) {
		t.Helper()
		if n, err := m.RunOnce(ctx); n != want || err != nil {
			t.Fatalf("at %v RunOnce = %d, %v; want %d", e.Clock.Now().Sub(Start), n, err, want)
		}
	}
	run(1)
	got := mail()
	if got.State != cases.MailPending || got.Attempts != 1 || !strings.Contains(got.LastError, "421") ||
		!got.NextAttempt.Equal(Start.Add(time.Minute)) {
		t.Errorf("after the first failure: %+v", got)
	}
	run(0)
	e.Clock.Advance(59 * time.Second)
	run(0)
	e.Clock.Advance(time.Second)
	run(1)
	if got := mail(); got.Attempts != 2 || !got.NextAttempt.Equal(e.Clock.Now().Add(2*time.Minute)) {
		t.Errorf("after the second failure: %+v; want the backoff doubled", got)
	}
	e.Clock.Advance(2 * time.Minute)
	run(1)
	if got := mail(); got.State != cases.MailSent || got.Attempts != 3 || got.LastError != "" || len(rec.sent) != 1 {
		t.Errorf("after the third attempt: %+v, %d sent", got, len(rec.sent))
	}

	// A mail that keeps failing is given up after MaxAttempts.
	c2 := mustCreate(t, e.Store, newCase(pnOther, ""), citizen)
	rec.failures = -1
	for i := 0; i < 3; i++ {
		e.Clock.Advance(time.Hour)
		run(1)
	}
	mails, _ := e.Store.Mails(ctx, c2.ID)
	if len(mails) != 1 || mails[0].State != cases.MailFailed || mails[0].Attempts != 3 {
		t.Errorf("given-up mail: %+v", mails)
	}
	e.Clock.Advance(24 * time.Hour)
	run(0)

	if b := m.Backoff(10); b != 10*time.Minute {
		t.Errorf("Backoff(10) = %v, want the 10m cap", b)
	}

	// A claimed mail whose worker died is retried after the lease.
	c3 := mustCreate(t, e.Store, newCase(pnOther, ""), citizen)
	claimed, err := e.Store.ClaimMail(ctx, e.Clock.Now(), 10, 5*time.Minute)
	if err != nil || len(claimed) != 1 || claimed[0].CaseID != c3.ID || claimed[0].Attempts != 1 {
		t.Fatalf("ClaimMail = %+v, %v", claimed, err)
	}
	e.Clock.Advance(4 * time.Minute)
	if again, _ := e.Store.ClaimMail(ctx, e.Clock.Now(), 10, 5*time.Minute); len(again) != 0 {
		t.Errorf("leased mail claimed again within the lease")
	}
	e.Clock.Advance(time.Minute)
	if again, _ := e.Store.ClaimMail(ctx, e.Clock.Now(), 10, 5*time.Minute); len(again) != 1 || again[0].Attempts != 2 {
		t.Errorf("mail not reclaimed after the lease: %+v", again)
	}
}

func testConcurrentClaims(t *testing.T, newDSN DSNFunc) {
	ctx := context.Background()
	e := NewEnv(t, newDSN(t), cases.Options{})
	const total = 30
	for i := 0; i < total; i++ {
		mustCreate(t, e.Store, newCase(pnGuardian, ""), citizen)
	}
	outboxes := []cases.Outbox{e.Store, e.Replica(t)}
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func(o cases.Outbox) {
			defer wg.Done()
			for {
				ms, err := o.ClaimMail(ctx, e.Clock.Now(), 3, time.Hour)
				if err != nil {
					t.Errorf("ClaimMail: %v", err)
					return
				}
				if len(ms) == 0 {
					return
				}
				mu.Lock()
				for _, m := range ms {
					seen[m.ID]++
				}
				mu.Unlock()
			}
		}(outboxes[i%2])
	}
	wg.Wait()
	if len(seen) != total {
		t.Errorf("%d mails claimed, want %d", len(seen), total)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("mail %s claimed %d times", id, n)
		}
	}
}

func testPurge(t *testing.T, newDSN DSNFunc) {
	ctx := context.Background()
	e := NewEnv(t, newDSN(t), cases.Options{})
	old := mustCreate(t, e.Store, newCase(pnGuardian, pnChild), citizen)
	if _, err := e.Store.AddMessage(ctx, old.ID, cases.NewMessage{Direction: cases.ToCitizen, Body: "Beslut bifogat"}, handler); err != nil {
		t.Fatal(err)
	}
	for _, data := range [][]byte{pdfBytes, pngBytes} {
		u, err := cases.CheckUpload("ritning", strings.NewReader(string(data)), 1024)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cases.Attach(ctx, e.Store, e.Blobs, old.ID, u, false, citizen); err != nil {
			t.Fatal(err)
		}
	}
	e.Clock.Advance(time.Hour)
	if _, err := e.Store.SetStatus(ctx, old.ID, cases.Decided, "Beviljas", handler); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Store.SetStatus(ctx, old.ID, cases.Closed, "", handler); err != nil {
		t.Fatal(err)
	}
	cutoff := e.Clock.Now().Add(time.Minute)

	e.Clock.Advance(time.Hour)
	recent := mustCreate(t, e.Store, newCase(pnGuardian, ""), citizen)
	u, _ := cases.CheckUpload("foto.jpg", strings.NewReader(string(jpegBytes)), 1024)
	keep, err := cases.Attach(ctx, e.Store, e.Blobs, recent.ID, u, false, citizen)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Store.SetStatus(ctx, recent.ID, cases.Closed, "", handler); err != nil {
		t.Fatal(err)
	}
	open := mustCreate(t, e.Store, newCase(pnGuardian, ""), citizen)
	nc := newCase(pnGuardian, "")
	nc.ModuleID, nc.Prefix = "schoolabsence", "SKOL"
	otherModule := mustCreate(t, e.Store, nc, citizen)
	e.Clock.Advance(-3 * time.Hour) // closed "before the cutoff" in the other module too
	if _, err := e.Store.SetStatus(ctx, otherModule.ID, cases.Closed, "", handler); err != nil {
		t.Fatal(err)
	}
	e.Clock.Advance(400 * 24 * time.Hour)

	n, err := e.Store.PurgeClosedBefore(ctx, "buildingpermit", cutoff, system)
	if err != nil || n != 1 {
		t.Fatalf("PurgeClosedBefore = %d, %v; want 1", n, err)
	}
	got, err := e.Store.Get(ctx, old.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Owner != "" || got.Subject != "" || got.CreatedBy != "" || got.Title != "" || string(got.Content) != "{}" ||
		got.PurgedAt.IsZero() {
		t.Errorf("purged case still holds personal data: %+v", got)
	}
	if got.Number != old.Number || got.ModuleID != "buildingpermit" || got.Status != cases.Closed ||
		!got.SubmittedAt.Equal(old.SubmittedAt) || got.DecidedAt.IsZero() || got.ClosedAt.IsZero() || got.FirstResponseAt.IsZero() {
		t.Errorf("purged stub lost its statistics: %+v", got)
	}
	if len(got.History) != 3 || got.History[1].To != cases.Decided || got.History[1].Note != "" || got.History[1].Actor != "" {
		t.Errorf("purged history %+v", got.History)
	}
	if msgs, _ := e.Store.Messages(ctx, old.ID); len(msgs) != 0 {
		t.Errorf("%d messages kept", len(msgs))
	}
	if atts, _ := e.Store.Attachments(ctx, old.ID); len(atts) != 0 {
		t.Errorf("%d attachments kept", len(atts))
	}
	if mails, _ := e.Store.Mails(ctx, old.ID); len(mails) != 0 {
		t.Errorf("%d outbox mails kept", len(mails))
	}
	if keys := blobKeys(t, e); len(keys) != 1 || keys[0] != keep.BlobKey {
		t.Errorf("blobs left %v, want only %s", keys, keep.BlobKey)
	}
	list, _ := e.Store.ListByOwner(ctx, pnGuardian)
	for _, c := range list {
		if c.ID == old.ID {
			t.Error("purged case still listed for its owner")
		}
	}
	if len(list) != 3 {
		t.Errorf("owner has %d cases, want 3 untouched", len(list))
	}
	for _, id := range []string{recent.ID, open.ID, otherModule.ID} {
		if c, _ := e.Store.Get(ctx, id); c.Owner != pnGuardian || !c.PurgedAt.IsZero() {
			t.Errorf("case %s purged wrongly", c.Number)
		}
	}
	actions := auditActions(t, e)
	if !slices.Contains(actions, "case.purged case:"+old.Number) {
		t.Errorf("no purge audit entry in %q", actions)
	}
	if n, err := e.Store.PurgeClosedBefore(ctx, "buildingpermit", cutoff, system); n != 0 || err != nil {
		t.Errorf("second purge = %d, %v", n, err)
	}
	st, err := e.Store.Stats(ctx, Start.Add(-time.Hour), e.Clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, r := range st.Weeks {
		total += r.Cases
	}
	if total != 4 {
		t.Errorf("stats count %d cases, want 4 including the purged stub", total)
	}
}

func testStats(t *testing.T, newDSN DSNFunc) {
	ctx := context.Background()
	e := NewEnv(t, newDSN(t), cases.Options{})
	at := func(d time.Duration) { e.Clock.Set(Start.Add(d)) }
	c1 := mustCreate(t, e.Store, newCase(pnGuardian, ""), citizen)
	at(time.Hour)
	c2 := mustCreate(t, e.Store, newCase(pnOther, ""), cases.Actor{Key: pnOther, Role: "citizen"})
	at(2 * time.Hour)
	phone := newCase(pnOther, "")
	phone.Channel = cases.Phone
	mustCreate(t, e.Store, phone, cases.Actor{Key: "staff:workforce:agent7", Role: "contact-centre"})
	step := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err := e.Store.SetStatus(ctx, c1.ID, cases.InProgress, "", handler)
	step(err)
	at(5 * time.Hour)
	_, err = e.Store.AddMessage(ctx, c2.ID, cases.NewMessage{Direction: cases.ToCitizen, Body: "Vi behöver mer"}, handler)
	step(err)
	at(10 * time.Hour)
	_, err = e.Store.SetStatus(ctx, c1.ID, cases.Decided, "", handler)
	step(err)
	at(49 * time.Hour)
	_, err = e.Store.SetStatus(ctx, c2.ID, cases.Decided, "", handler)
	step(err)
	at(7 * 24 * time.Hour)
	nc := newCase(pnGuardian, "")
	nc.ModuleID, nc.Prefix = "schoolabsence", "SKOL"
	c4 := mustCreate(t, e.Store, nc, citizen)
	at(7*24*time.Hour + time.Hour)
	_, err = e.Store.SetStatus(ctx, c4.ID, cases.Closed, "", citizen)
	step(err)

	st, err := e.Store.Stats(ctx, Start.Add(-24*time.Hour), Start.Add(30*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	stockholm, _ := time.LoadLocation("Europe/Stockholm")
	week1 := time.Date(2026, 3, 9, 0, 0, 0, 0, stockholm)
	week2 := week1.AddDate(0, 0, 7)
	want := []cases.StatRow{
		{ModuleID: "buildingpermit", Channel: cases.EService, Week: week1, Cases: 2,
			Responded: 2, FirstResponseMedian: 3 * time.Hour, FirstResponseMean: 3 * time.Hour,
			Decided: 2, DecisionMedian: 29 * time.Hour, DecisionMean: 29 * time.Hour, ResolvedWithin24h: 1},
		{ModuleID: "buildingpermit", Channel: cases.Phone, Week: week1, Cases: 1},
		{ModuleID: "schoolabsence", Channel: cases.EService, Week: week2, Cases: 1, ResolvedWithin24h: 1},
	}
	if len(st.Weeks) != len(want) {
		t.Fatalf("Stats rows %s", dump(st.Weeks))
	}
	for i := range want {
		g, w := st.Weeks[i], want[i]
		if !g.Week.Equal(w.Week) {
			t.Errorf("row %d week %v, want %v", i, g.Week, w.Week)
		}
		g.Week, w.Week = time.Time{}, time.Time{}
		if g != w {
			t.Errorf("row %d:\n got %+v\nwant %+v", i, g, w)
		}
	}
	if s := st.Weeks[0].ShareResolvedWithin24h(); s != 0.5 {
		t.Errorf("share within 24h %v, want 0.5", s)
	}
	if len(st.Open) != 1 || st.Open[0] != (cases.OpenRow{ModuleID: "buildingpermit", Bucket: cases.AgeUnder7Days, Cases: 1}) {
		t.Errorf("open %+v", st.Open)
	}
	st, err = e.Store.Stats(ctx, Start.Add(24*time.Hour), Start.Add(30*24*time.Hour))
	if err != nil || len(st.Weeks) != 1 || st.Weeks[0].ModuleID != "schoolabsence" {
		t.Errorf("Stats from a later day: %s, %v", dump(st.Weeks), err)
	}
}

func dump(rows []cases.StatRow) string {
	var b strings.Builder
	for _, r := range rows {
		fmt.Fprintf(&b, "\n  %+v", r)
	}
	return b.String()
}
