package audit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/civicgate/civicgate/gateway/sqldb"
)

// Kinds of Problem that Verify reports.
const (
	// KindChanged: the entry's content no longer matches its hash.
	KindChanged = "changed"
	// KindMoved: the entry is intact but sits at another place in the
	// chain than the one it was written at (entries were reordered).
	KindMoved = "moved"
	// KindMissing: entries are missing (deleted) before this sequence
	// number; Problem.Seq is the first missing one.
	KindMissing = "missing"
	// KindBrokenLink: the entry is intact but does not follow from the
	// entry stored before it, which was therefore replaced by or preceded
	// by an inserted entry.
	KindBrokenLink = "broken-link"
	// KindTruncated: entries at the end of the log are gone; the head
	// checkpoint still records them.
	KindTruncated = "truncated"
	// KindUnrecorded: entries after the head checkpoint, which no writer
	// of the log would have added.
	KindUnrecorded = "unrecorded"
	// KindHead: the head checkpoint is missing or disagrees with the entry
	// it records.
	KindHead = "head"
)

// maxProblems bounds a Report so that a wholesale rewrite does not produce
// millions of lines; the first problems are the informative ones.
const maxProblems = 100

// Problem is one place where the chain is broken.
type Problem struct {
	Seq    int64  `json:"seq"`    // the sequence number at which the chain breaks
	Kind   string `json:"kind"`   // one of the Kind constants
	Detail string `json:"detail"` // what was found, in a sentence
}

// String describes the problem in one sentence.
func (p Problem) String() string {
	return fmt.Sprintf("seq %d: %s", p.Seq, p.Detail)
}

// Report is the result of verifying the whole log.
type Report struct {
	Entries  int       `json:"entries"`   // entries read
	OK       bool      `json:"ok"`        // no problems found
	Problems []Problem `json:"problems"`  // in chain order, at most 100
	Omitted  int       `json:"omitted"`   // problems found beyond those listed
	HeadSeq  int64     `json:"head_seq"`  // the head checkpoint's sequence number
	HeadHash string    `json:"head_hash"` // the head checkpoint's hash, for anchoring elsewhere
}

// String says whether the chain is intact and, if not, where it is broken,
// one sentence per problem.
func (r Report) String() string {
	var b strings.Builder
	if r.OK {
		fmt.Fprintf(&b, "audit log intact: %d entries, head seq %d hash %s.", r.Entries, r.HeadSeq, r.HeadHash)
		return b.String()
	}
	fmt.Fprintf(&b, "audit log BROKEN: %d entries read, %d problems:", r.Entries, len(r.Problems)+r.Omitted)
	for _, p := range r.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	if r.Omitted > 0 {
		fmt.Fprintf(&b, "\n  … and %d more problems after those.", r.Omitted)
	}
	return b.String()
}

// Verify walks the whole chain and reports every place it is broken: an
// entry changed after it was written, entries deleted from the middle or the
// end, an entry inserted or replaced, entries reordered. It reads one
// consistent snapshot, so entries written meanwhile do not disturb it. A
// returned error means the log could not be read, not that it is broken.
func (s *SQL) Verify(ctx context.Context) (Report, error) {
	return VerifyDB(ctx, s.db, s.dialect)
}

// VerifyDSN opens the database named by dsn (as sqldb.Open does), verifies
// its audit log as Verify does and closes it. Verification needs no key: the
// chain's hashes are over the stored pseudonyms.
func VerifyDSN(ctx context.Context, dsn string) (Report, error) {
	db, d, err := sqldb.Open(ctx, dsn)
	if err != nil {
		return Report{}, fmt.Errorf("audit: verify: %w", err)
	}
	defer db.Close()
	return VerifyDB(ctx, db, d)
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// VerifyDB verifies the audit log in db as Verify does.
func VerifyDB(ctx context.Context, db *sql.DB, d Dialect) (Report, error) {
	var q querier
	switch d {
	case Postgres:
		tx, err := db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
		if err != nil {
			return Report{}, fmt.Errorf("audit: verify: %w", err)
		}
		defer tx.Rollback()
		q = tx
	case SQLite:
		// A deferred transaction is a WAL read snapshot that does not hold
		// the write lock, so writers carry on while a long log is checked.
		// database/sql's own transactions may be IMMEDIATE (sqldb.Open), so
		// the snapshot is begun by hand on a dedicated connection.
		conn, err := db.Conn(ctx)
		if err != nil {
			return Report{}, fmt.Errorf("audit: verify: %w", err)
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, "BEGIN DEFERRED"); err != nil {
			return Report{}, fmt.Errorf("audit: verify: %w", err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		q = conn
	default:
		return Report{}, fmt.Errorf("audit: verify: invalid dialect %s", d)
	}
	return verify(ctx, q, d)
}

// verifyPage is how many entries are read per query.
const verifyPage = 1000

// moveWindow is how far from its place Verify looks for the place a
// misplaced entry was written at.
const moveWindow = 16

func verify(ctx context.Context, q querier, d Dialect) (Report, error) {
	var rep Report
	add := func(p Problem) {
		if len(rep.Problems) < maxProblems {
			rep.Problems = append(rep.Problems, p)
		} else {
			rep.Omitted++
		}
	}

	headFound := true
	if err := q.QueryRowContext(ctx, "SELECT seq, hash FROM audit_head WHERE id = 1").Scan(&rep.HeadSeq, &rep.HeadHash); err != nil {
		if !errors.Is(err, sql.ErrNoRows) {
			return Report{}, fmt.Errorf("audit: verify: read head: %w", err)
		}
		headFound = false
	}

	page := d.Rebind("SELECT " + rowColumns + " FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?")
	var (
		lastSeq   int64
		lastHash  = GenesisHash
		lastMoved bool
	)
	for {
		rows, err := q.QueryContext(ctx, page, lastSeq, verifyPage)
		if err != nil {
			return Report{}, fmt.Errorf("audit: verify: %w", err)
		}
		n := 0
		for rows.Next() {
			var r row
			if err := scanRow(rows, &r); err != nil {
				rows.Close()
				return Report{}, fmt.Errorf("audit: verify: %w", err)
			}
			n++
			rep.Entries++
			moved := checkEntry(&r, lastSeq, lastHash, lastMoved, add)
			lastSeq, lastHash, lastMoved = r.seq, r.hash, moved
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return Report{}, fmt.Errorf("audit: verify: %w", err)
		}
		if n < verifyPage {
			break
		}
	}

	switch {
	case !headFound:
		add(Problem{Seq: lastSeq, Kind: KindHead, Detail: "the head checkpoint (audit_head) is missing, so entries removed from the end cannot be detected"})
	case lastSeq < rep.HeadSeq:
		add(Problem{Seq: lastSeq + 1, Kind: KindTruncated, Detail: fmt.Sprintf(
			"entries %s at the end of the log are missing (deleted); the head checkpoint records entries up to %d",
			seqRange(lastSeq+1, rep.HeadSeq), rep.HeadSeq)})
	case lastSeq > rep.HeadSeq:
		add(Problem{Seq: rep.HeadSeq + 1, Kind: KindUnrecorded, Detail: fmt.Sprintf(
			"entries %s follow the head checkpoint at %d, so they were inserted outside the audit log",
			seqRange(rep.HeadSeq+1, lastSeq), rep.HeadSeq)})
	case lastHash != rep.HeadHash:
		add(Problem{Seq: lastSeq, Kind: KindHead, Detail: fmt.Sprintf(
			"the last entry's hash differs from the head checkpoint's, so entry %d was replaced or the checkpoint altered", lastSeq)})
	}
	rep.OK = len(rep.Problems) == 0 && rep.Omitted == 0
	return rep, nil
}

// checkEntry reports what is wrong with r given the entry stored before it
// (prevSeq, prevHash; 0 and GenesisHash at the start) and reports whether r
// is an intact entry written at another place.
func checkEntry(r *row, prevSeq int64, prevHash string, prevMoved bool, add func(Problem)) (moved bool) {
	gap := r.seq != prevSeq+1
	if gap {
		add(Problem{Seq: prevSeq + 1, Kind: KindMissing, Detail: fmt.Sprintf(
			"%s missing (deleted) before entry %d", plural(prevSeq+1, r.seq-1), r.seq)})
	}
	if r.computeHash(r.seq) != r.hash {
		for _, delta := range windowDeltas() {
			at := r.seq + delta
			if at >= 1 && r.computeHash(at) == r.hash {
				add(Problem{Seq: r.seq, Kind: KindMoved, Detail: fmt.Sprintf(
					"the entry stored here was written as entry %d: entries were reordered", at)})
				return true
			}
		}
		add(Problem{Seq: r.seq, Kind: KindChanged, Detail: "the entry was changed after it was written (its content no longer matches its hash)"})
		return false
	}
	// A link broken by a gap or by a misplaced predecessor is already
	// explained by the problem reported for those.
	if !gap && !prevMoved && r.prevHash != prevHash {
		add(Problem{Seq: r.seq, Kind: KindBrokenLink, Detail: fmt.Sprintf(
			"the entry does not follow from entry %d: entry %d was replaced or an entry was inserted before this one", prevSeq, prevSeq)})
	}
	return false
}

func windowDeltas() []int64 {
	d := make([]int64, 0, 2*moveWindow)
	for i := int64(1); i <= moveWindow; i++ {
		d = append(d, -i, i)
	}
	return d
}

func seqRange(from, to int64) string {
	if from == to {
		return fmt.Sprint(from)
	}
	return fmt.Sprintf("%d–%d", from, to)
}

func plural(from, to int64) string {
	if from == to {
		return fmt.Sprintf("entry %d is", from)
	}
	return fmt.Sprintf("entries %d–%d are", from, to)
}
