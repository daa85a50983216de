// Package audittest is the conformance suite every audit.SQL backend must
// pass: Run records, tampers with the stored rows directly and checks that
// Verify finds each kind of tampering where it happened.
package audittest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/civicgate/civicgate/gateway/audit"
)

// Test personal identity numbers from the tax agency's list of numbers
// that are valid but never assigned.
const (
	pnA = "198107249289"
	pnB = "195006262546"
	pnC = "201701102384"
)

// NewFunc returns a logger over a fresh, migrated, empty database of its own
// and that database, which the suite tampers with directly. It is called
// once per subtest.
type NewFunc func(t *testing.T) (*audit.SQL, *sql.DB)

// ReplicasFunc returns n loggers over n separate connection pools on one
// fresh, migrated, empty database, as n gateway replicas would have.
type ReplicasFunc func(t *testing.T, n int) []*audit.SQL

// Option adjusts Run.
type Option func(*options)

type options struct{ replicas ReplicasFunc }

// WithReplicas makes the concurrency test write through several replicas
// rather than one shared logger.
func WithReplicas(f ReplicasFunc) Option { return func(o *options) { o.replicas = f } }

// Run runs the suite as subtests of t.
func Run(t *testing.T, newLogger NewFunc, opts ...Option) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	tests := []struct {
		name string
		run  func(t *testing.T, s *audit.SQL, db *sql.DB)
	}{
		{"EmptyLogVerifies", testEmpty},
		{"RecordAndVerify", testRecordAndVerify},
		{"InvalidEventRejected", testInvalidEvent},
		{"ChangedFieldReported", testChangedField},
		{"DeletedMiddleReported", testDeletedMiddle},
		{"DeletedFirstReported", testDeletedFirst},
		{"ReplacedEntryReported", testReplacedEntry},
		{"InsertedEntryReported", testInsertedEntry},
		{"SwappedEntriesReported", testSwapped},
		{"DeletedLastReported", testDeletedLast},
		{"HeadTamperingReported", testHeadTampered},
		{"RecordTxRollbackAndCommit", testRecordTx},
		{"SubjectStoredOnlyAsHMAC", testOnlyHMAC},
		{"ForSubject", testForSubject},
		{"SincePages", testSince},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, db := newLogger(t)
			tc.run(t, s, db)
		})
	}
	t.Run("ConcurrentWriters", func(t *testing.T) {
		var loggers []*audit.SQL
		if o.replicas != nil {
			loggers = o.replicas(t, 3)
		} else {
			s, _ := newLogger(t)
			loggers = []*audit.SQL{s}
		}
		testConcurrent(t, loggers)
	})
}

var t0 = time.Date(2026, 3, 14, 9, 26, 53, 589793238, time.UTC)

func event(i int, subject string) audit.Event {
	return audit.Event{
		Time:      t0.Add(time.Duration(i) * time.Second),
		RequestID: fmt.Sprintf("req-%d", i),
		Actor:     "staff:workforce:agent7",
		ActorRole: "contact-centre",
		Subject:   subject,
		Action:    "case.viewed",
		Resource:  fmt.Sprintf("case:BYGG-2026-%06d", i),
		Outcome:   audit.Success,
		Detail:    map[string]string{"module": "buildingpermit", "n": fmt.Sprint(i)},
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

func recordN(t *testing.T, s *audit.SQL, n int) {
	t.Helper()
	for i := 1; i <= n; i++ {
		if err := s.Record(ctx(t), event(i, pnA)); err != nil {
			t.Fatalf("Record %d: %v", i, err)
		}
	}
}

func all(t *testing.T, s *audit.SQL) []audit.Entry {
	t.Helper()
	var out []audit.Entry
	var after int64
	for {
		page, err := s.Since(ctx(t), after, 7)
		if err != nil {
			t.Fatalf("Since(%d): %v", after, err)
		}
		out = append(out, page...)
		if len(page) < 7 {
			return out
		}
		after = page[len(page)-1].Seq
	}
}

func exec(t *testing.T, s *audit.SQL, db *sql.DB, query string, args ...any) {
	t.Helper()
	if _, err := db.ExecContext(ctx(t), s.Dialect().Rebind(query), args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

func verify(t *testing.T, s *audit.SQL) audit.Report {
	t.Helper()
	rep, err := s.Verify(ctx(t))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return rep
}

// wantProblems checks that the report lists exactly the given problems, as
// (seq, kind) pairs in chain order.
func wantProblems(t *testing.T, rep audit.Report, want ...audit.Problem) {
	t.Helper()
	if rep.OK {
		t.Fatalf("Verify reported OK after tampering; want problems %v", want)
	}
	got := make([]string, len(rep.Problems))
	for i, p := range rep.Problems {
		got[i] = fmt.Sprintf("%d/%s", p.Seq, p.Kind)
		if p.Detail == "" {
			t.Errorf("problem %d/%s has no detail", p.Seq, p.Kind)
		}
	}
	exp := make([]string, len(want))
	for i, p := range want {
		exp[i] = fmt.Sprintf("%d/%s", p.Seq, p.Kind)
	}
	if strings.Join(got, " ") != strings.Join(exp, " ") {
		t.Fatalf("problems = [%s], want [%s]\n%s", strings.Join(got, " "), strings.Join(exp, " "), rep)
	}
	if s := rep.String(); !strings.Contains(s, "BROKEN") || strings.Count(s, "\n") != len(want) {
		t.Errorf("Report.String() should say the log is broken with one line per problem:\n%s", s)
	}
}

func testEmpty(t *testing.T, s *audit.SQL, _ *sql.DB) {
	rep := verify(t, s)
	if !rep.OK || rep.Entries != 0 || rep.HeadSeq != 0 || rep.HeadHash != audit.GenesisHash {
		t.Fatalf("empty log: %+v", rep)
	}
}

func testRecordAndVerify(t *testing.T, s *audit.SQL, _ *sql.DB) {
	e := event(1, pnA)
	e.Actor = pnA
	e.ActorRole = "citizen"
	if err := s.Record(ctx(t), e); err != nil {
		t.Fatal(err)
	}
	recordN(t, s, 4) // entries 2–5, staff actor
	noTime := event(6, "")
	noTime.Time = time.Time{}
	before := time.Now().Add(-time.Second)
	if err := s.Record(ctx(t), noTime); err != nil {
		t.Fatal(err)
	}

	entries := all(t, s)
	if len(entries) != 6 {
		t.Fatalf("got %d entries, want 6", len(entries))
	}
	prev := audit.GenesisHash
	for i, got := range entries {
		if got.Seq != int64(i+1) {
			t.Errorf("entry %d has seq %d", i+1, got.Seq)
		}
		if got.PrevHash != prev {
			t.Errorf("entry %d: prev_hash %s, want %s", got.Seq, got.PrevHash, prev)
		}
		if h := audit.ComputeHash(got); got.Hash != h || len(h) != 64 {
			t.Errorf("entry %d: hash %s, recomputed %s", got.Seq, got.Hash, h)
		}
		if got.Time.Location() != time.UTC || got.Time.Nanosecond()%int(time.Millisecond) != 0 {
			t.Errorf("entry %d: time %v is not UTC at millisecond precision", got.Seq, got.Time)
		}
		prev = got.Hash
	}
	first := entries[0]
	if want := t0.Add(time.Second).Truncate(time.Millisecond); !first.Time.Equal(want) {
		t.Errorf("time = %v, want %v", first.Time, want)
	}
	if !strings.HasPrefix(first.Actor, "hmac:") || first.Actor != "hmac:"+s.SubjectHMAC(pnA) {
		t.Errorf("person actor stored as %q, want hmac:<pseudonym>", first.Actor)
	}
	if first.SubjectHMAC != s.SubjectHMAC(pnA) || len(first.SubjectHMAC) != 64 {
		t.Errorf("subject_hmac = %q", first.SubjectHMAC)
	}
	if first.ActorRole != "citizen" || first.Action != "case.viewed" || first.Outcome != audit.Success ||
		first.RequestID != "req-1" || first.Resource != "case:BYGG-2026-000001" {
		t.Errorf("fields not stored as given: %+v", first)
	}
	if len(first.Detail) != 2 || first.Detail["module"] != "buildingpermit" || first.Detail["n"] != "1" {
		t.Errorf("detail = %v", first.Detail)
	}
	if entries[1].Actor != "staff:workforce:agent7" {
		t.Errorf("staff actor stored as %q, want it in clear", entries[1].Actor)
	}
	last := entries[5]
	if last.SubjectHMAC != "" {
		t.Errorf("empty subject stored as %q, want empty", last.SubjectHMAC)
	}
	if last.Time.Before(before) || last.Time.After(time.Now().Add(time.Second)) {
		t.Errorf("zero Time stamped as %v, want about now", last.Time)
	}

	rep := verify(t, s)
	if !rep.OK || rep.Entries != 6 || len(rep.Problems) != 0 {
		t.Fatalf("Verify: %s", rep)
	}
	if rep.HeadSeq != 6 || rep.HeadHash != last.Hash {
		t.Errorf("head = %d %s, want 6 %s", rep.HeadSeq, rep.HeadHash, last.Hash)
	}
	seq, hash, err := s.Head(ctx(t))
	if err != nil || seq != 6 || hash != last.Hash {
		t.Errorf("Head() = %d %s %v", seq, hash, err)
	}
	if !strings.Contains(rep.String(), "intact") {
		t.Errorf("Report.String() = %q", rep.String())
	}
}

func testInvalidEvent(t *testing.T, s *audit.SQL, _ *sql.DB) {
	noAction := event(1, pnA)
	noAction.Action = ""
	badOutcome := event(2, pnA)
	badOutcome.Outcome = "maybe"
	for _, e := range []audit.Event{noAction, badOutcome} {
		if err := s.Record(ctx(t), e); !errors.Is(err, audit.ErrInvalidEvent) {
			t.Errorf("Record(%+v) = %v, want ErrInvalidEvent", e, err)
		}
	}
	if n := len(all(t, s)); n != 0 {
		t.Fatalf("%d entries written for invalid events", n)
	}
}

func testChangedField(t *testing.T, s *audit.SQL, db *sql.DB) {
	for _, tc := range []struct{ column, value string }{
		{"outcome", "'denied'"},
		{"actor", "'staff:workforce:someone-else'"},
		{"detail", `'{"module":"socialcase"}'`},
		{"time_ms", "time_ms + 1"},
		{"subject_hmac", "''"},
		{"hash", "prev_hash"},
	} {
		t.Run(tc.column, func(t *testing.T) {
			s, db := s, db
			// Each column gets a fresh chain of its own in the same
			// database: clear the previous one.
			exec(t, s, db, "DELETE FROM audit_log")
			exec(t, s, db, "UPDATE audit_head SET seq = 0, hash = ?", audit.GenesisHash)
			recordN(t, s, 5)
			if rep := verify(t, s); !rep.OK {
				t.Fatalf("before tampering: %s", rep)
			}
			exec(t, s, db, "UPDATE audit_log SET "+tc.column+" = "+tc.value+" WHERE seq = 3")
			want := []audit.Problem{{Seq: 3, Kind: audit.KindChanged}}
			if tc.column == "hash" {
				// The next entry no longer links to the altered hash either.
				want = append(want, audit.Problem{Seq: 4, Kind: audit.KindBrokenLink})
			}
			wantProblems(t, verify(t, s), want...)
		})
	}
}

func testDeletedMiddle(t *testing.T, s *audit.SQL, db *sql.DB) {
	recordN(t, s, 6)
	exec(t, s, db, "DELETE FROM audit_log WHERE seq IN (3, 4)")
	rep := verify(t, s)
	wantProblems(t, rep, audit.Problem{Seq: 3, Kind: audit.KindMissing})
	if rep.Entries != 4 {
		t.Errorf("Entries = %d, want 4", rep.Entries)
	}
}

func testDeletedFirst(t *testing.T, s *audit.SQL, db *sql.DB) {
	recordN(t, s, 3)
	exec(t, s, db, "DELETE FROM audit_log WHERE seq = 1")
	wantProblems(t, verify(t, s), audit.Problem{Seq: 1, Kind: audit.KindMissing})
}

// insertEntry writes e as a row directly, as someone with database access
// but without the audit code would.
func insertEntry(t *testing.T, s *audit.SQL, db *sql.DB, e audit.Entry) {
	t.Helper()
	detail := "{}"
	if len(e.Detail) > 0 {
		detail = `{"forged":"yes"}`
	}
	exec(t, s, db, `INSERT INTO audit_log
		(seq, time_ms, request_id, actor, actor_role, subject_hmac, action, resource, outcome, detail, prev_hash, hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.Seq, e.Time.UnixMilli(), e.RequestID, e.Actor, e.ActorRole, e.SubjectHMAC,
		e.Action, e.Resource, e.Outcome, detail, e.PrevHash, e.Hash)
}

func forge(e audit.Entry) audit.Entry {
	e.Outcome = audit.Success
	e.Action = "case.closed"
	e.Detail = map[string]string{"forged": "yes"}
	e.Hash = audit.ComputeHash(e)
	return e
}

func testReplacedEntry(t *testing.T, s *audit.SQL, db *sql.DB) {
	recordN(t, s, 5)
	orig := all(t, s)[2]
	// A well-formed forgery: correct seq, correct link to entry 2, correct
	// hash of its own content. Only the next link gives it away.
	exec(t, s, db, "DELETE FROM audit_log WHERE seq = 3")
	insertEntry(t, s, db, forge(orig))
	wantProblems(t, verify(t, s), audit.Problem{Seq: 4, Kind: audit.KindBrokenLink})
}

func testInsertedEntry(t *testing.T, s *audit.SQL, db *sql.DB) {
	recordN(t, s, 4)
	entries := all(t, s)
	last := entries[len(entries)-1]
	// Appended with a correct link and hash, but behind the audit code's
	// back: the head checkpoint does not know it.
	extra := forge(audit.Entry{Seq: last.Seq + 1, Time: last.Time.Add(time.Second), PrevHash: last.Hash, Actor: "system"})
	insertEntry(t, s, db, extra)
	wantProblems(t, verify(t, s), audit.Problem{Seq: 5, Kind: audit.KindUnrecorded})

	// An appended row with a made-up link is reported as well.
	bogus := forge(audit.Entry{Seq: 6, Time: last.Time, PrevHash: strings.Repeat("ab", 32), Actor: "system"})
	insertEntry(t, s, db, bogus)
	wantProblems(t, verify(t, s),
		audit.Problem{Seq: 6, Kind: audit.KindBrokenLink},
		audit.Problem{Seq: 5, Kind: audit.KindUnrecorded})
}

func testSwapped(t *testing.T, s *audit.SQL, db *sql.DB) {
	recordN(t, s, 5)
	// Swap every column but seq between entries 2 and 3, done by moving
	// entry 2 out of the way.
	exec(t, s, db, "UPDATE audit_log SET seq = 1000 WHERE seq = 2")
	exec(t, s, db, "UPDATE audit_log SET seq = 2 WHERE seq = 3")
	exec(t, s, db, "UPDATE audit_log SET seq = 3 WHERE seq = 1000")
	wantProblems(t, verify(t, s),
		audit.Problem{Seq: 2, Kind: audit.KindMoved},
		audit.Problem{Seq: 3, Kind: audit.KindMoved})
}

func testDeletedLast(t *testing.T, s *audit.SQL, db *sql.DB) {
	recordN(t, s, 5)
	exec(t, s, db, "DELETE FROM audit_log WHERE seq = 5")
	rep := verify(t, s)
	wantProblems(t, rep, audit.Problem{Seq: 5, Kind: audit.KindTruncated})

	// Everything gone but the checkpoint: still reported.
	exec(t, s, db, "DELETE FROM audit_log")
	wantProblems(t, verify(t, s), audit.Problem{Seq: 1, Kind: audit.KindTruncated})
}

func testHeadTampered(t *testing.T, s *audit.SQL, db *sql.DB) {
	recordN(t, s, 3)
	exec(t, s, db, "UPDATE audit_head SET hash = ?", strings.Repeat("0f", 32))
	wantProblems(t, verify(t, s), audit.Problem{Seq: 3, Kind: audit.KindHead})

	exec(t, s, db, "DELETE FROM audit_head")
	wantProblems(t, verify(t, s), audit.Problem{Seq: 3, Kind: audit.KindHead})
	if err := s.Record(ctx(t), event(4, pnA)); !errors.Is(err, audit.ErrUnavailable) {
		t.Fatalf("Record without a head checkpoint = %v, want ErrUnavailable", err)
	}
}

func testRecordTx(t *testing.T, s *audit.SQL, db *sql.DB) {
	recordN(t, s, 2)
	exec(t, s, db, "CREATE TABLE audittest_change (id INTEGER PRIMARY KEY)")
	count := func() (entries, changes int) {
		if err := db.QueryRowContext(ctx(t), "SELECT COUNT(*) FROM audittest_change").Scan(&changes); err != nil {
			t.Fatal(err)
		}
		return len(all(t, s)), changes
	}

	tx, err := db.BeginTx(ctx(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx(t), "INSERT INTO audittest_change (id) VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordTx(ctx(t), tx, event(3, pnB)); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if e, c := count(); e != 2 || c != 0 {
		t.Fatalf("after rollback: %d entries, %d changes; want 2 and 0", e, c)
	}
	if rep := verify(t, s); !rep.OK || rep.Entries != 2 || rep.HeadSeq != 2 {
		t.Fatalf("after rollback: %s", rep)
	}

	tx, err = db.BeginTx(ctx(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx(t), "INSERT INTO audittest_change (id) VALUES (2)"); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordTx(ctx(t), tx, event(4, pnB)); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := s.Record(ctx(t), event(5, pnB)); err != nil {
		t.Fatal(err)
	}
	if e, c := count(); e != 4 || c != 1 {
		t.Fatalf("after commit: %d entries, %d changes; want 4 and 1", e, c)
	}
	entries := all(t, s)
	if entries[2].Seq != 3 || entries[2].RequestID != "req-4" || entries[3].Seq != 4 {
		t.Fatalf("the rolled-back entry left a trace or a gap: %+v", entries)
	}
	if rep := verify(t, s); !rep.OK || rep.Entries != 4 {
		t.Fatalf("after commit: %s", rep)
	}
}

func testOnlyHMAC(t *testing.T, s *audit.SQL, db *sql.DB) {
	events := []audit.Event{
		{Actor: pnA, ActorRole: "citizen", Subject: pnA, Action: "login", Resource: "idp:bankid", Outcome: audit.Success,
			RequestID: "req-" + pnA, Detail: map[string]string{"loa": "loa3"}},
		{Actor: pnA, ActorRole: "guardian", Subject: "20170110-2384", Action: "absence.reported",
			Resource: "person:" + pnA, Outcome: audit.Success,
			Detail: map[string]string{"note": "child of 19810724-9289", "child": pnC, pnA: "as key", "short": "810724-9289"}},
		{Actor: "prid:SE/ABCD1234", ActorRole: "citizen", Subject: "prid:SE/ABCD1234", Action: "login", Outcome: audit.Failure},
		{Actor: "staff:workforce:agent7", ActorRole: "contact-centre", Subject: pnB, Action: "citizen.searched",
			Outcome: audit.Denied, Detail: map[string]string{"query": pnB}},
	}
	for _, e := range events {
		if err := s.Record(ctx(t), e); err != nil {
			t.Fatal(err)
		}
	}
	forbidden := []string{pnA, pnB, pnC, "8107249289", "19810724-9289", "810724-9289", "20170110-2384", "1701102384", "ABCD1234"}
	var cells int
	for _, table := range []string{"audit_log", "audit_head"} {
		rows, err := db.QueryContext(ctx(t), "SELECT * FROM "+table)
		if err != nil {
			t.Fatal(err)
		}
		cols, err := rows.Columns()
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			vals := make([]sql.NullString, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for i, v := range vals {
				cells++
				for _, f := range forbidden {
					if strings.Contains(v.String, f) {
						t.Errorf("%s.%s contains a person key in clear: %q", table, cols[i], v.String)
					}
				}
			}
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if cells < len(events)*12 {
		t.Fatalf("only %d cells read; the check would pass vacuously", cells)
	}
	// The pseudonyms are still the person's: the child given with a dash is
	// found under the plain number.
	if got, err := s.ForSubject(ctx(t), pnC, 10); err != nil || len(got) != 1 || got[0].Action != "absence.reported" {
		t.Fatalf("ForSubject(child) = %+v, %v", got, err)
	}
	if got, err := s.ForSubject(ctx(t), "prid:SE/ABCD1234", 10); err != nil || len(got) != 1 {
		t.Fatalf("ForSubject(prid) = %+v, %v", got, err)
	}
	if rep := verify(t, s); !rep.OK {
		t.Fatal(rep)
	}
}

func testForSubject(t *testing.T, s *audit.SQL, _ *sql.DB) {
	subjects := []string{pnA, pnB, pnA, "", pnC, pnA, pnB, pnA}
	want := map[string][]int64{}
	for i, sub := range subjects {
		if err := s.Record(ctx(t), event(i+1, sub)); err != nil {
			t.Fatal(err)
		}
		want[sub] = append(want[sub], int64(i+1))
	}
	for _, sub := range []string{pnA, pnB, pnC} {
		got, err := s.ForSubject(ctx(t), sub, 0)
		if err != nil {
			t.Fatal(err)
		}
		var seqs []int64
		for _, e := range got {
			seqs = append(seqs, e.Seq)
			if e.SubjectHMAC != s.SubjectHMAC(sub) {
				t.Errorf("entry %d has another subject", e.Seq)
			}
		}
		w := want[sub]
		if len(seqs) != len(w) {
			t.Fatalf("ForSubject: seqs %v, want %d entries %v (newest first)", seqs, len(w), w)
		}
		for i := range w {
			if seqs[i] != w[len(w)-1-i] {
				t.Fatalf("ForSubject: seqs %v, want %v newest first", seqs, w)
			}
		}
	}
	got, err := s.ForSubject(ctx(t), pnA, 2)
	if err != nil || len(got) != 2 || got[0].Seq != 8 || got[1].Seq != 6 {
		t.Fatalf("ForSubject(limit 2) = %v, %v; want entries 8 and 6", got, err)
	}
	if got, err := s.ForSubject(ctx(t), "200809032386", 0); err != nil || len(got) != 0 {
		t.Fatalf("ForSubject(unknown person) = %v, %v", got, err)
	}
	if got, err := s.ForSubject(ctx(t), "", 0); err != nil || len(got) != 0 {
		t.Fatalf("ForSubject(\"\") = %d entries, %v; want none", len(got), err)
	}
}

func testSince(t *testing.T, s *audit.SQL, _ *sql.DB) {
	recordN(t, s, 10)
	page, err := s.Since(ctx(t), 4, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 3 || page[0].Seq != 5 || page[2].Seq != 7 {
		t.Fatalf("Since(4, 3) = %+v", page)
	}
	rest, err := s.Since(ctx(t), 7, 0)
	if err != nil || len(rest) != 3 || rest[2].Seq != 10 {
		t.Fatalf("Since(7) = %d entries, %v", len(rest), err)
	}
	if none, err := s.Since(ctx(t), 10, 5); err != nil || len(none) != 0 {
		t.Fatalf("Since(10) = %v, %v", none, err)
	}
}

func testConcurrent(t *testing.T, loggers []*audit.SQL) {
	const perWorker, workersPerLogger = 15, 6
	var wg sync.WaitGroup
	errs := make(chan error, len(loggers)*workersPerLogger)
	for li, s := range loggers {
		for w := 0; w < workersPerLogger; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < perWorker; i++ {
					e := event(i, pnA)
					e.RequestID = fmt.Sprintf("r%d-w%d-%d", li, w, i)
					if err := s.Record(context.Background(), e); err != nil {
						errs <- fmt.Errorf("replica %d worker %d: %w", li, w, err)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}
	total := len(loggers) * workersPerLogger * perWorker
	s := loggers[0]
	entries := all(t, s)
	if len(entries) != total {
		t.Fatalf("%d entries, want %d", len(entries), total)
	}
	seen := map[string]bool{}
	for i, e := range entries {
		if e.Seq != int64(i+1) {
			t.Fatalf("entry %d has seq %d: the sequence has a gap or a duplicate", i+1, e.Seq)
		}
		if seen[e.RequestID] {
			t.Fatalf("request %s recorded twice", e.RequestID)
		}
		seen[e.RequestID] = true
	}
	rep := verify(t, s)
	if !rep.OK || rep.Entries != total || rep.HeadSeq != int64(total) {
		t.Fatalf("after concurrent writes: %s", rep)
	}
}
