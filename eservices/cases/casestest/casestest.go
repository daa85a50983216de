// Package casestest is the conformance suite of the case store: Run drives
// cases.SQL over a real database of each dialect, with a real audit log on
// the same database, and checks numbers, transitions, atomicity with the
// audit entry, the outbox and mailer, attachments, retention and
// statistics.
package casestest

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/civicgate/civicgate/eservices/cases"
	"github.com/civicgate/civicgate/eservices/cases/blob"
	"github.com/civicgate/civicgate/gateway/audit"
	"github.com/civicgate/civicgate/gateway/sqldb"
	"github.com/civicgate/civicgate/gateway/sqldb/sqldbtest"
)

// Test personal identity numbers from the tax agency's list of numbers
// that are valid but never assigned.
const (
	pnGuardian = "198107249289"
	pnOther    = "195006262546"
	pnChild    = "201701102384"
	pnCoord    = "197010632391"
)

var (
	citizen  = cases.Actor{Key: pnGuardian, Role: "guardian", RequestID: "req-1"}
	handler  = cases.Actor{Key: "staff:workforce:h1", Role: "building-handler", RequestID: "req-2"}
	system   = cases.Actor{Key: "system", Role: "retention"}
	auditKey = []byte("0123456789abcdef0123456789abcdef-casestest")
)

// DSNFunc returns the DSN of a fresh, empty database of its own; it is
// called once per subtest.
type DSNFunc func(t *testing.T) string

// Clock is a settable clock shared by the store and the mailer.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock set to t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Env is one subtest's world: a store over a migrated database, its audit
// log, blob directory and clock.
type Env struct {
	DSN     string
	DB      *sql.DB
	Dialect sqldb.Dialect
	Store   *cases.SQL
	Audit   *audit.SQL
	Blobs   *blob.Dir
	BlobDir string
	Clock   *Clock
}

// Start is where every Env's clock starts: a Tuesday.
var Start = time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)

// NewEnv opens dsn, migrates the audit log and the case store, and returns
// an Env whose store uses opts (the auditor, blobs and clock are filled in
// when unset).
func NewEnv(t testing.TB, dsn string, opts cases.Options) *Env {
	t.Helper()
	db, d := sqldbtest.Open(t, dsn)
	ctx := context.Background()
	if err := audit.Migrate(ctx, db, d); err != nil {
		t.Fatal(err)
	}
	if err := cases.Migrate(ctx, db, d); err != nil {
		t.Fatal(err)
	}
	e := &Env{DSN: dsn, DB: db, Dialect: d, Clock: NewClock(Start)}
	a, err := audit.NewSQL(db, d, auditKey, audit.Options{Now: e.Clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	e.Audit = a
	e.BlobDir = t.TempDir()
	if e.Blobs, err = blob.NewDir(e.BlobDir); err != nil {
		t.Fatal(err)
	}
	if opts.Auditor == nil {
		opts.Auditor = a
	}
	if opts.Blobs == nil {
		opts.Blobs = e.Blobs
	}
	if opts.Now == nil {
		opts.Now = e.Clock.Now
	}
	if e.Store, err = cases.NewSQL(db, d, opts); err != nil {
		t.Fatal(err)
	}
	return e
}

// Replica opens another pool on the same database, as another gateway
// replica would, with a store and audit log of its own.
func (e *Env) Replica(t testing.TB) *cases.SQL {
	t.Helper()
	db, d := sqldbtest.Open(t, e.DSN)
	a, err := audit.NewSQL(db, d, auditKey, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := cases.NewSQL(db, d, cases.Options{Auditor: a, Blobs: e.Blobs, Now: e.Clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Run runs the suite as subtests of t.
func Run(t *testing.T, newDSN DSNFunc) {
	tests := []struct {
		name string
		run  func(t *testing.T, newDSN DSNFunc)
	}{
		{"CreateAndGet", testCreateAndGet},
		{"Invalid", testInvalid},
		{"NotFound", testNotFound},
		{"Drafts", testDrafts},
		{"Transitions", testTransitions},
		{"FirstResponse", testFirstResponse},
		{"Messages", testMessages},
		{"Attachments", testAttachments},
		{"Lists", testLists},
		{"AuditFailureWritesNothing", testAuditFailure},
		{"ConcurrentNumbers", testConcurrentNumbers},
		{"Mailer", testMailer},
		{"MailerRetries", testMailerRetries},
		{"ConcurrentClaims", testConcurrentClaims},
		{"Purge", testPurge},
		{"Stats", testStats},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, newDSN)
		})
	}
}

func newCase(owner, subject string) cases.NewCase {
	return cases.NewCase{
		ModuleID: "buildingpermit", Prefix: "BYGG", Owner: owner, Subject: subject,
		Title: "Bygglov för altan", Content: json.RawMessage(`{"address":"Storgatan 1"}`),
		NotifyEmail: "medborgare@example.se",
	}
}

func mustCreate(t *testing.T, s cases.Store, nc cases.NewCase, by cases.Actor) *cases.Case {
	t.Helper()
	c, err := s.Create(context.Background(), nc, by)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	return c
}

func auditActions(t *testing.T, e *Env) []string {
	t.Helper()
	entries, err := e.Audit.Since(context.Background(), 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, en := range entries {
		out = append(out, en.Action+" "+en.Resource)
	}
	return out
}

func testCreateAndGet(t *testing.T, newDSN DSNFunc) {
	ctx := context.Background()
	e := NewEnv(t, newDSN(t), cases.Options{})
	c := mustCreate(t, e.Store, newCase(pnGuardian, pnChild), citizen)
	if c.Number != "BYGG-2026-000001" {
		t.Errorf("first number %q, want BYGG-2026-000001", c.Number)
	}
	got, err := e.Store.Get(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Number != c.Number || got.ModuleID != "buildingpermit" || got.Prefix != "BYGG" ||
		got.Owner != pnGuardian || got.Subject != pnChild || got.Channel != cases.EService ||
		got.CreatedBy != pnGuardian || got.CreatedByRole != "guardian" || got.Status != cases.Received ||
		got.Title != "Bygglov för altan" {
		t.Errorf("Get = %+v", got)
	}
	var content map[string]string
	if err := json.Unmarshal(got.Content, &content); err != nil || content["address"] != "Storgatan 1" {
		t.Errorf("content %s, %v", got.Content, err)
	}
	if !got.CreatedAt.Equal(Start) || !got.SubmittedAt.Equal(Start) || !got.FirstResponseAt.IsZero() ||
		!got.DecidedAt.IsZero() || !got.ClosedAt.IsZero() {
		t.Errorf("timestamps created %v submitted %v first %v decided %v closed %v",
			got.CreatedAt, got.SubmittedAt, got.FirstResponseAt, got.DecidedAt, got.ClosedAt)
	}
	if len(got.History) != 1 || got.History[0].From != "" || got.History[0].To != cases.Received ||
		got.History[0].Actor != pnGuardian || !got.History[0].Time.Equal(Start) {
		t.Errorf("history %+v", got.History)
	}
	byNum, err := e.Store.GetByNumber(ctx, c.Number)
	if err != nil || byNum.ID != c.ID {
		t.Errorf("GetByNumber = %+v, %v", byNum, err)
	}

	// The confirmation mail waits in the outbox, bilingual, with the
	// number and without any personnummer.
	mails, err := e.Store.Mails(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(mails) != 1 || mails[0].State != cases.MailPending || mails[0].To != "medborgare@example.se" {
		t.Fatalf("mails %+v", mails)
	}
	m := mails[0]
	for _, want := range []string{"Vi har tagit emot ditt ärende BYGG-2026-000001", "We have received your case BYGG-2026-000001"} {
		if !strings.Contains(m.Body, want) {
			t.Errorf("mail body lacks %q:\n%s", want, m.Body)
		}
	}
	for _, pn := range []string{pnGuardian, pnChild, pnGuardian[2:], pnChild[2:8] + "-" + pnChild[8:]} {
		if strings.Contains(m.Body+m.Subject, pn) {
			t.Errorf("mail contains a personnummer")
		}
	}

	// The numbers go on without gaps per prefix, and start again at 1 for
	// another prefix.
	c2 := mustCreate(t, e.Store, newCase(pnOther, ""), cases.Actor{Key: pnOther, Role: "citizen"})
	if c2.Number != "BYGG-2026-000002" || c2.Subject != pnOther {
		t.Errorf("second case %q subject %q", c2.Number, cases.Actor{}.Key+c2.Subject[:0])
	}
	nc := newCase(pnOther, "")
	nc.Prefix, nc.ModuleID = "SKOL", "schoolabsence"
	if c3 := mustCreate(t, e.Store, nc, cases.Actor{Key: pnOther, Role: "citizen"}); c3.Number != "SKOL-2026-000001" {
		t.Errorf("other prefix got %q", c3.Number)
	}

	// The year follows Swedish time: 23:30 UTC on New Year's Eve is
	// already the next year in Stockholm.
	e.Clock.Advance(time.Date(2026, 12, 31, 23, 30, 0, 0, time.UTC).Sub(e.Clock.Now()))
	if c4 := mustCreate(t, e.Store, newCase(pnOther, ""), citizen); c4.Number != "BYGG-2027-000001" {
		t.Errorf("new year's case %q, want BYGG-2027-000001", c4.Number)
	}

	actions := auditActions(t, e)
	if len(actions) != 4 || actions[0] != "case.created case:BYGG-2026-000001" {
		t.Errorf("audit entries %q", actions)
	}
	entries, _ := e.Audit.Since(ctx, 0, 1)
	if len(entries) == 1 && (entries[0].SubjectHMAC != e.Audit.SubjectHMAC(pnChild) || entries[0].ActorRole != "guardian") {
		t.Errorf("audit entry concerns the wrong person or role: %+v", entries[0])
	}
}

func testInvalid(t *testing.T, newDSN DSNFunc) {
	ctx := context.Background()
	e := NewEnv(t, newDSN(t), cases.Options{})
	bad := []struct {
		field string
		edit  func(*cases.NewCase, *cases.Actor)
	}{
		{"module_id", func(c *cases.NewCase, _ *cases.Actor) { c.ModuleID = "" }},
		{"prefix", func(c *cases.NewCase, _ *cases.Actor) { c.Prefix = "bygg" }},
		{"prefix", func(c *cases.NewCase, _ *cases.Actor) { c.Prefix = "B" }},
		{"prefix", func(c *cases.NewCase, _ *cases.Actor) { c.Prefix = "BYGGNADER" }},
		{"owner", func(c *cases.NewCase, _ *cases.Actor) { c.Owner = "201701272394" }},
		{"owner", func(c *cases.NewCase, _ *cases.Actor) { c.Owner = "" }},
		{"subject", func(c *cases.NewCase, _ *cases.Actor) { c.Subject = "190302299813" }},
		{"channel", func(c *cases.NewCase, _ *cases.Actor) { c.Channel = "fax" }},
		{"title", func(c *cases.NewCase, _ *cases.Actor) { c.Title = " " }},
		{"title", func(c *cases.NewCase, _ *cases.Actor) { c.Title = strings.Repeat("x", cases.MaxTitleLen+1) }},
		{"title", func(c *cases.NewCase, _ *cases.Actor) { c.Title = "a\x1bb" }},
		{"content", func(c *cases.NewCase, _ *cases.Actor) { c.Content = json.RawMessage(`[1]`) }},
		{"content", func(c *cases.NewCase, _ *cases.Actor) { c.Content = json.RawMessage(`{`) }},
		{"notify_email", func(c *cases.NewCase, _ *cases.Actor) { c.NotifyEmail = "Name <a@b.se>" }},
		{"actor.key", func(_ *cases.NewCase, a *cases.Actor) { a.Key = "" }},
	}
	for _, b := range bad {
		nc, by := newCase(pnGuardian, pnChild), citizen
		b.edit(&nc, &by)
		_, err := e.Store.Create(ctx, nc, by)
		var ve *cases.ValidationError
		if !errors.Is(err, cases.ErrInvalid) || !errors.As(err, &ve) {
			t.Errorf("%s: Create = %v, want ErrInvalid", b.field, err)
			continue
		}
		if !slices.ContainsFunc(ve.Fields, func(f cases.FieldError) bool { return f.Field == b.field }) {
			t.Errorf("%s: error names %v", b.field, ve.Fields)
		}
		for _, pn := range []string{pnGuardian, pnChild, "201701272394", "190302299813"} {
			if strings.Contains(err.Error(), pn) {
				t.Errorf("%s: error %q contains a personnummer", b.field, err)
			}
		}
	}
	// Every problem is reported at once.
	_, err := e.Store.Create(ctx, cases.NewCase{}, cases.Actor{})
	var ve *cases.ValidationError
	if !errors.As(err, &ve) || len(ve.Fields) < 5 {
		t.Errorf("empty case: %v", err)
	}
	// Other person keys are accepted.
	for _, owner := range []string{pnCoord, "prid:SE/ABC123"} {
		if _, err := e.Store.Create(ctx, newCase(owner, ""), cases.Actor{Key: owner, Role: "citizen"}); err != nil {
			t.Errorf("owner kind %q: %v", owner[:4], err)
		}
	}
	if list, _ := e.Store.ListByModule(ctx, "buildingpermit", cases.Filter{}); len(list) != 2 {
		t.Errorf("invalid requests wrote cases: %d listed, want 2", len(list))
	}
}

func testNotFound(t *testing.T, newDSN DSNFunc) {
	ctx := context.Background()
	e := NewEnv(t, newDSN(t), cases.Options{})
	if _, err := e.Store.Get(ctx, "nope"); !errors.Is(err, cases.ErrNotFound) {
		t.Errorf("Get: %v", err)
	}
	if _, err := e.Store.GetByNumber(ctx, "BYGG-2026-000009"); !errors.Is(err, cases.ErrNotFound) {
		t.Errorf("GetByNumber: %v", err)
	}
	if _, err := e.Store.SetStatus(ctx, "nope", cases.InProgress, "", handler); !errors.Is(err, cases.ErrNotFound) {
		t.Errorf("SetStatus: %v", err)
	}
	if _, err := e.Store.AddMessage(ctx, "nope", cases.NewMessage{Direction: cases.ToCitizen, Body: "hej"}, handler); !errors.Is(err, cases.ErrNotFound) {
		t.Errorf("AddMessage: %v", err)
	}
	if err := e.Store.MarkRead(ctx, "nope", cases.ToCitizen, citizen); !errors.Is(err, cases.ErrNotFound) {
		t.Errorf("MarkRead: %v", err)
	}
	if len(auditActions(t, e)) != 0 {
		t.Errorf("failed changes were audited as successes")
	}
}

func testDrafts(t *testing.T, newDSN DSNFunc) {
	ctx := context.Background()
	e := NewEnv(t, newDSN(t), cases.Options{})
	d, err := e.Store.SaveDraft(ctx, newCase(pnGuardian, pnChild), citizen)
	if err != nil {
		t.Fatal(err)
	}
	if d.Number != "" || d.Status != cases.Draft || !d.SubmittedAt.IsZero() {
		t.Errorf("draft %+v", d)
	}
	if mails, _ := e.Store.Mails(ctx, d.ID); len(mails) != 0 {
		t.Errorf("a draft queued %d mails", len(mails))
	}
	if _, err := e.Store.SetStatus(ctx, d.ID, cases.Received, "", citizen); !errors.Is(err, cases.ErrConflict) {
		t.Errorf("SetStatus draft→received: %v, want ErrConflict", err)
	}
	e.Clock.Advance(time.Hour)
	u, err := e.Store.UpdateDraft(ctx, d.ID, cases.DraftUpdate{Title: "Bygglov för garage", Content: json.RawMessage(`{"v":2}`)}, citizen)
	if err != nil {
		t.Fatal(err)
	}
	if u.Title != "Bygglov för garage" || string(u.Content) != `{"v":2}` || !u.UpdatedAt.Equal(Start.Add(time.Hour)) {
		t.Errorf("updated draft %+v", u)
	}
	// A draft is not in the module's list.
	if list, _ := e.Store.ListByModule(ctx, "buildingpermit", cases.Filter{}); len(list) != 0 {
		t.Errorf("drafts listed to handlers: %d", len(list))
	}
	// A case submitted meanwhile takes number 1; the draft gets number 2
	// when submitted.
	mustCreate(t, e.Store, newCase(pnOther, ""), citizen)
	e.Clock.Advance(time.Hour)
	sub, err := e.Store.SubmitDraft(ctx, d.ID, "", citizen)
	if err != nil {
		t.Fatal(err)
	}
	if sub.Number != "BYGG-2026-000002" || sub.Status != cases.Received || !sub.SubmittedAt.Equal(Start.Add(2*time.Hour)) ||
		!sub.CreatedAt.Equal(Start) {
		t.Errorf("submitted draft %+v", sub)
	}
	if len(sub.History) != 2 || sub.History[0].To != cases.Draft || sub.History[1].From != cases.Draft || sub.History[1].To != cases.Received {
		t.Errorf("history %+v", sub.History)
	}
	mails, _ := e.Store.Mails(ctx, d.ID)
	if len(mails) != 1 || mails[0].State != cases.MailNoAddress || mails[0].To != "" {
		t.Errorf("mails after submit without address: %+v", mails)
	}
	if _, err := e.Store.SubmitDraft(ctx, d.ID, "", citizen); !errors.Is(err, cases.ErrConflict) {
		t.Errorf("second SubmitDraft: %v", err)
	}
	if _, err := e.Store.UpdateDraft(ctx, d.ID, cases.DraftUpdate{Title: "x"}, citizen); !errors.Is(err, cases.ErrConflict) {
		t.Errorf("UpdateDraft after submit: %v", err)
	}
	want := []string{"case.draft_saved case-draft:" + d.ID, "case.draft_updated case-draft:" + d.ID,
		"case.created case:BYGG-2026-000001", "case.submitted case:BYGG-2026-000002"}
	if got := auditActions(t, e); !slices.Equal(got, want) {
		t.Errorf("audit %q, want %q", got, want)
	}
}

func testTransitions(t *testing.T, newDSN DSNFunc) {
	ctx := context.Background()
	e := NewEnv(t, newDSN(t), cases.Options{})
	c := mustCreate(t, e.Store, newCase(pnGuardian, pnChild), citizen)
	steps := []struct {
		to   cases.Status
		note string
	}{
		{cases.InProgress, ""},
		{cases.AwaitingSupplement, "Ritning saknas"},
		{cases.InProgress, ""},
		{cases.Decided, "Beviljat"},
		{cases.Closed, ""},
	}
	for i, st := range steps {
		e.Clock.Advance(time.Hour)
		got, err := e.Store.SetStatus(ctx, c.ID, st.to, st.note, handler)
		if err != nil {
			t.Fatalf("step %d to %s: %v", i, st.to, err)
		}
		if got.Status != st.to {
			t.Errorf("step %d: status %s", i, got.Status)
		}
	}
	got, _ := e.Store.Get(ctx, c.ID)
	if !got.FirstResponseAt.Equal(Start.Add(time.Hour)) || !got.DecidedAt.Equal(Start.Add(4*time.Hour)) ||
		!got.ClosedAt.Equal(Start.Add(5*time.Hour)) {
		t.Errorf("first %v decided %v closed %v", got.FirstResponseAt, got.DecidedAt, got.ClosedAt)
	}
	if len(got.History) != 6 {
		t.Fatalf("history has %d entries", len(got.History))
	}
	h := got.History[2]
	if h.From != cases.InProgress || h.To != cases.AwaitingSupplement || h.Note != "Ritning saknas" ||
		h.Actor != handler.Key || h.ActorRole != handler.Role || !h.Time.Equal(Start.Add(2*time.Hour)) {
		t.Errorf("history entry %+v", h)
	}
	for _, to := range []cases.Status{cases.Received, cases.InProgress, cases.Decided, cases.Draft, cases.Closed} {
		if _, err := e.Store.SetStatus(ctx, c.ID, to, "", handler); !errors.Is(err, cases.ErrConflict) {
			t.Errorf("closed → %s: %v, want ErrConflict", to, err)
		}
	}
	if _, err := e.Store.SetStatus(ctx, c.ID, "archived", "", handler); !errors.Is(err, cases.ErrInvalid) {
		t.Errorf("unknown status: %v", err)
	}
	c2 := mustCreate(t, e.Store, newCase(pnGuardian, ""), citizen)
	if _, err := e.Store.SetStatus(ctx, c2.ID, cases.Decided, "", handler); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Store.SetStatus(ctx, c2.ID, cases.InProgress, "", handler); !errors.Is(err, cases.ErrConflict) {
		t.Errorf("decided → in_progress: %v, want ErrConflict", err)
	}
	if got, _ := e.Store.Get(ctx, c2.ID); got.Status != cases.Decided || len(got.History) != 2 {
		t.Errorf("refused transition changed the case: %s, %d history entries", got.Status, len(got.History))
	}

	table := map[[2]cases.Status]bool{
		{cases.Received, cases.InProgress}: true, {cases.InProgress, cases.AwaitingSupplement}: true,
		{cases.AwaitingSupplement, cases.InProgress}: true, {cases.Decided, cases.Closed}: true,
		{cases.Closed, cases.InProgress}: false, {cases.Draft, cases.Received}: false,
		{cases.Received, cases.Draft}: false, {cases.Decided, cases.Received}: false,
	}
	for k, want := range table {
		if cases.CanTransition(k[0], k[1]) != want {
			t.Errorf("CanTransition(%s, %s) = %v", k[0], k[1], !want)
		}
	}
}

func testFirstResponse(t *testing.T, newDSN DSNFunc) {
	ctx := context.Background()
	e := NewEnv(t, newDSN(t), cases.Options{})
	c := mustCreate(t, e.Store, newCase(pnGuardian, pnChild), citizen)
	e.Clock.Advance(time.Hour)
	// The citizen's own message and withdrawal are not a response.
	if _, err := e.Store.AddMessage(ctx, c.ID, cases.NewMessage{Direction: cases.ToHandler, Body: "Hur går det?"}, citizen); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.Store.Get(ctx, c.ID); !got.FirstResponseAt.IsZero() {
		t.Errorf("citizen's message set first response")
	}
	e.Clock.Advance(time.Hour)
	if _, err := e.Store.AddMessage(ctx, c.ID, cases.NewMessage{Direction: cases.ToCitizen, Body: "Vi tittar på det."}, handler); err != nil {
		t.Fatal(err)
	}
	e.Clock.Advance(time.Hour)
	if _, err := e.Store.SetStatus(ctx, c.ID, cases.InProgress, "", handler); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.Store.Get(ctx, c.ID); !got.FirstResponseAt.Equal(Start.Add(2 * time.Hour)) {
		t.Errorf("first response %v, want the handler's message at %v", got.FirstResponseAt, Start.Add(2*time.Hour))
	}
	c2 := mustCreate(t, e.Store, newCase(pnGuardian, ""), citizen)
	if _, err := e.Store.SetStatus(ctx, c2.ID, cases.Closed, "återkallad", citizen); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.Store.Get(ctx, c2.ID); !got.FirstResponseAt.IsZero() {
		t.Errorf("the owner's withdrawal counted as first response")
	}
}

func testMessages(t *testing.T, newDSN DSNFunc) {
	ctx := context.Background()
	e := NewEnv(t, newDSN(t), cases.Options{})
	c := mustCreate(t, e.Store, newCase(pnGuardian, pnChild), citizen)
	msgs := []struct {
		dir  cases.Direction
		by   cases.Actor
		body string
	}{
		{cases.ToHandler, citizen, "Fråga om ritningen"},
		{cases.Internal, handler, "Kolla detaljplanen"},
		{cases.ToCitizen, handler, "Ritningen ska vara skalenlig.\nMvh"},
	}
	for _, m := range msgs {
		e.Clock.Advance(time.Minute)
		got, err := e.Store.AddMessage(ctx, c.ID, cases.NewMessage{Direction: m.dir, Body: m.body}, m.by)
		if err != nil {
			t.Fatal(err)
		}
		if got.From != m.by.Key || got.Read() {
			t.Errorf("AddMessage = %+v", got)
		}
	}
	list, err := e.Store.Messages(ctx, c.ID)
	if err != nil || len(list) != 3 {
		t.Fatalf("Messages = %d, %v", len(list), err)
	}
	for i, m := range msgs {
		if list[i].Body != m.body || list[i].Direction != m.dir || !list[i].Time.Equal(Start.Add(time.Duration(i+1)*time.Minute)) {
			t.Errorf("message %d = %+v", i, list[i])
		}
	}
	e.Clock.Advance(time.Minute)
	if err := e.Store.MarkRead(ctx, c.ID, cases.ToCitizen, citizen); err != nil {
		t.Fatal(err)
	}
	list, _ = e.Store.Messages(ctx, c.ID)
	if list[0].Read() || list[1].Read() || !list[2].ReadAt.Equal(Start.Add(4*time.Minute)) {
		t.Errorf("read flags %v %v %v", list[0].ReadAt, list[1].ReadAt, list[2].ReadAt)
	}
	for _, bad := range []cases.NewMessage{{Direction: cases.ToCitizen, Body: " "}, {Direction: "sideways", Body: "x"},
		{Direction: cases.ToCitizen, Body: strings.Repeat("x", cases.MaxMessageLen+1)}, {Direction: cases.ToCitizen, Body: "a\x00b"}} {
		if _, err := e.Store.AddMessage(ctx, c.ID, bad, handler); !errors.Is(err, cases.ErrInvalid) {
			t.Errorf("AddMessage(%.20q): %v, want ErrInvalid", bad.Body, err)
		}
	}
	if _, err := e.Store.SetStatus(ctx, c.ID, cases.Closed, "", handler); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Store.AddMessage(ctx, c.ID, cases.NewMessage{Direction: cases.ToHandler, Body: "hallå"}, citizen); !errors.Is(err, cases.ErrConflict) {
		t.Errorf("message on a closed case: %v", err)
	}
	if list, _ := e.Store.Messages(ctx, c.ID); len(list) != 3 {
		t.Errorf("refused messages were stored: %d", len(list))
	}
}

// Minimal files of each accepted type.
var (
	pdfBytes  = []byte("%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")
	pngBytes  = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
	jpegBytes = []byte{0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 'J', 'F', 'I', 'F'}
)

func testAttachments(t *testing.T, newDSN DSNFunc) {
	ctx := context.Background()
	e := NewEnv(t, newDSN(t), cases.Options{MaxAttachments: 3})
	c := mustCreate(t, e.Store, newCase(pnGuardian, pnChild), citizen)
	files := []struct {
		name string
		data []byte
		want string
	}{
		{"../../etc/ritning.pdf", pdfBytes, cases.TypePDF},
		{`C:\Users\x\foto.png`, pngBytes, cases.TypePNG},
		{"bild.exe", jpegBytes, cases.TypeJPEG},
	}
	for i, f := range files {
		u, err := cases.CheckUpload(f.name, bytes.NewReader(f.data), 1024)
		if err != nil {
			t.Fatal(err)
		}
		e.Clock.Advance(time.Second)
		a, err := cases.Attach(ctx, e.Store, e.Blobs, c.ID, u, i == 2, citizen)
		if err != nil {
			t.Fatalf("Attach %s: %v", f.name, err)
		}
		if a.ContentType != f.want || a.Size != int64(len(f.data)) || strings.ContainsAny(a.Name, `/\`) {
			t.Errorf("attachment %+v", a)
		}
		rc, err := e.Blobs.Open(ctx, a.BlobKey)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(rc)
		rc.Close()
		if !bytes.Equal(buf.Bytes(), f.data) {
			t.Errorf("blob of %s differs", f.name)
		}
	}
	list, err := e.Store.Attachments(ctx, c.ID)
	if err != nil || len(list) != 3 {
		t.Fatalf("Attachments = %d, %v", len(list), err)
	}
	if list[0].Name != "ritning.pdf" || list[1].Name != "foto.png" || !list[2].Supplement || list[0].Supplement ||
		list[0].UploadedBy != pnGuardian || !list[0].Time.Equal(Start.Add(time.Second)) {
		t.Errorf("attachments %+v", list)
	}
	// The fourth is over the limit; its blob is removed again.
	u, _ := cases.CheckUpload("fyra.pdf", bytes.NewReader(pdfBytes), 1024)
	if _, err := cases.Attach(ctx, e.Store, e.Blobs, c.ID, u, false, citizen); !errors.Is(err, cases.ErrConflict) {
		t.Errorf("fourth attachment: %v, want ErrConflict", err)
	}
	if n := countBlobs(t, e); n != 3 {
		t.Errorf("%d blobs kept, want 3", n)
	}
	// Metadata the store cannot trust is refused.
	if _, err := e.Store.AddAttachment(ctx, c.ID, cases.NewAttachment{Name: "x.html", ContentType: "text/html", Size: 1,
		SHA256: strings.Repeat("a", 64), BlobKey: "k"}, citizen); !errors.Is(err, cases.ErrInvalid) {
		t.Errorf("text/html attachment: %v", err)
	}
}

func countBlobs(t *testing.T, e *Env) int { return len(blobKeys(t, e)) }

func blobKeys(t *testing.T, e *Env) []string {
	t.Helper()
	entries, err := os.ReadDir(e.BlobDir)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, en := range entries {
		keys = append(keys, en.Name())
	}
	return keys
}

func testLists(t *testing.T, newDSN DSNFunc) {
	ctx := context.Background()
	e := NewEnv(t, newDSN(t), cases.Options{})
	forChild := mustCreate(t, e.Store, newCase(pnGuardian, pnChild), citizen)
	e.Clock.Advance(time.Minute)
	own := mustCreate(t, e.Store, newCase(pnGuardian, ""), citizen)
	e.Clock.Advance(time.Minute)
	phone := newCase(pnOther, "")
	phone.Channel = cases.Phone
	agent := cases.Actor{Key: "staff:workforce:agent7", Role: "contact-centre"}
	other := mustCreate(t, e.Store, phone, agent)
	e.Clock.Advance(time.Minute)
	draft, err := e.Store.SaveDraft(ctx, newCase(pnGuardian, ""), citizen)
	if err != nil {
		t.Fatal(err)
	}
	ids := func(cs []cases.Case) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c.ID)
		}
		return out
	}
	if got, _ := e.Store.ListByOwner(ctx, pnGuardian); !slices.Equal(ids(got), []string{draft.ID, own.ID, forChild.ID}) {
		t.Errorf("ListByOwner = %v", ids(got))
	}
	if got, _ := e.Store.ListBySubject(ctx, pnChild); !slices.Equal(ids(got), []string{forChild.ID}) {
		t.Errorf("ListBySubject(child) = %v", ids(got))
	}
	if got, _ := e.Store.ListBySubject(ctx, pnOther); len(got) != 1 || got[0].Channel != cases.Phone ||
		got[0].CreatedBy != agent.Key || got[0].CreatedByRole != "contact-centre" || got[0].Owner != pnOther {
		t.Errorf("contact-centre case %+v", got)
	}
	if _, err := e.Store.SetStatus(ctx, own.ID, cases.InProgress, "", handler); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.Store.ListByModule(ctx, "buildingpermit", cases.Filter{}); !slices.Equal(ids(got), []string{other.ID, own.ID, forChild.ID}) {
		t.Errorf("ListByModule = %v", ids(got))
	}
	if got, _ := e.Store.ListByModule(ctx, "buildingpermit", cases.Filter{Statuses: []cases.Status{cases.InProgress}}); !slices.Equal(ids(got), []string{own.ID}) {
		t.Errorf("ListByModule(in_progress) = %v", ids(got))
	}
	if got, _ := e.Store.ListByModule(ctx, "buildingpermit", cases.Filter{Limit: 1}); len(got) != 1 {
		t.Errorf("limit 1 returned %d", len(got))
	}
	if got, _ := e.Store.ListByModule(ctx, "schoolabsence", cases.Filter{}); len(got) != 0 {
		t.Errorf("other module's list has %d cases", len(got))
	}
	if _, err := e.Store.ListByOwner(ctx, ""); !errors.Is(err, cases.ErrInvalid) {
		t.Errorf("ListByOwner(\"\"): %v", err)
	}
}

// failingAuditor refuses every entry, as an unavailable audit log would.
type failingAuditor struct{}

func (failingAuditor) RecordTx(context.Context, *sql.Tx, audit.Event) error {
	return fmt.Errorf("%w: disk full", audit.ErrUnavailable)
}

func testAuditFailure(t *testing.T, newDSN DSNFunc) {
	ctx := context.Background()
	e := NewEnv(t, newDSN(t), cases.Options{})
	broken, err := cases.NewSQL(e.DB, e.Dialect, cases.Options{Auditor: failingAuditor{}, Blobs: e.Blobs, Now: e.Clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := broken.Create(ctx, newCase(pnGuardian, pnChild), citizen); !errors.Is(err, audit.ErrUnavailable) {
		t.Errorf("Create with a failing audit log: %v, want audit.ErrUnavailable", err)
	}
	if _, err := broken.SaveDraft(ctx, newCase(pnGuardian, pnChild), citizen); err == nil {
		t.Error("SaveDraft succeeded without audit")
	}
	var n int
	for _, table := range []string{"cases", "cases_history", "cases_outbox", "cases_counter"} {
		if err := e.DB.QueryRow("SELECT COUNT(*) FROM " + table).Scan(&n); err != nil || n != 0 {
			t.Errorf("%s has %d rows after failed writes (%v)", table, n, err)
		}
	}
	// The number was given back: the next case is number 1.
	c := mustCreate(t, e.Store, newCase(pnGuardian, pnChild), citizen)
	if c.Number != "BYGG-2026-000001" {
		t.Errorf("number after a failed create: %s", c.Number)
	}
	if _, err := broken.SetStatus(ctx, c.ID, cases.InProgress, "", handler); err == nil {
		t.Error("SetStatus succeeded without audit")
	}
	if _, err := broken.AddMessage(ctx, c.ID, cases.NewMessage{Direction: cases.ToCitizen, Body: "hej"}, handler); err == nil {
		t.Error("AddMessage succeeded without audit")
	}
	u, _ := cases.CheckUpload("a.pdf", bytes.NewReader(pdfBytes), 1024)
	if _, err := cases.Attach(ctx, broken, e.Blobs, c.ID, u, false, citizen); err == nil {
		t.Error("Attach succeeded without audit")
	}
	got, _ := e.Store.Get(ctx, c.ID)
	if got.Status != cases.Received || len(got.History) != 1 || !got.FirstResponseAt.IsZero() {
		t.Errorf("case changed without audit: %s, %d history entries", got.Status, len(got.History))
	}
	if msgs, _ := e.Store.Messages(ctx, c.ID); len(msgs) != 0 {
		t.Errorf("%d messages stored without audit", len(msgs))
	}
	if atts, _ := e.Store.Attachments(ctx, c.ID); len(atts) != 0 {
		t.Errorf("%d attachments stored without audit", len(atts))
	}
	if n := strayBlobs(t, e); n != 0 {
		t.Errorf("%d blobs left behind by a failed Attach", n)
	}
	e.Clock.Advance(time.Hour)
	if _, err := e.Store.SetStatus(ctx, c.ID, cases.Closed, "", handler); err != nil {
		t.Fatal(err)
	}
	if n, err := broken.PurgeClosedBefore(ctx, "buildingpermit", e.Clock.Now().Add(time.Hour), system); err == nil || n != 0 {
		t.Errorf("purge without audit: %d, %v", n, err)
	}
	if got, _ := e.Store.Get(ctx, c.ID); got.Owner != pnGuardian || !got.PurgedAt.IsZero() {
		t.Errorf("case purged without audit")
	}
	if r, err := e.Audit.Verify(ctx); err != nil || !r.OK || r.Entries != 2 {
		t.Errorf("audit log after failures: %v, %v", r, err)
	}
}

// strayBlobs counts blobs in the store that no attachment row names.
func strayBlobs(t *testing.T, e *Env) int {
	t.Helper()
	known := map[string]bool{}
	rows, err := e.DB.Query("SELECT blob_key FROM cases_attachment")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var k string
		_ = rows.Scan(&k)
		known[k] = true
	}
	rows.Close()
	n := 0
	for _, k := range blobKeys(t, e) {
		if !known[k] {
			n++
		}
	}
	return n
}

func testConcurrentNumbers(t *testing.T, newDSN DSNFunc) {
	e := NewEnv(t, newDSN(t), cases.Options{})
	const replicas, workers, each = 2, 4, 6
	stores := []*cases.SQL{e.Store}
	for len(stores) < replicas {
		stores = append(stores, e.Replica(t))
	}
	var mu sync.Mutex
	var numbers []string
	var wg sync.WaitGroup
	errs := make(chan error, replicas*workers*each)
	for r := 0; r < replicas; r++ {
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func(s *cases.SQL) {
				defer wg.Done()
				for i := 0; i < each; i++ {
					c, err := s.Create(context.Background(), newCase(pnGuardian, pnChild), citizen)
					if err != nil {
						errs <- err
						return
					}
					mu.Lock()
					numbers = append(numbers, c.Number)
					mu.Unlock()
				}
			}(stores[r])
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent Create: %v", err)
	}
	total := replicas * workers * each
	slices.Sort(numbers)
	if len(numbers) != total {
		t.Fatalf("%d numbers, want %d", len(numbers), total)
	}
	for i, n := range numbers {
		if want := cases.FormatNumber("BYGG", 2026, int64(i+1)); n != want {
			t.Fatalf("number %d is %s, want %s: duplicates or gaps in %v", i, n, want, numbers)
		}
	}
	if r, err := e.Audit.Verify(context.Background()); err != nil || !r.OK || r.Entries != total {
		t.Errorf("audit log after concurrent creates: %v, %v", r, err)
	}
}
