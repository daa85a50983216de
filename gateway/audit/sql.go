package audit

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/civicgate/civicgate/gateway/sqldb"
)

// Dialect is the SQL dialect of the database the log is kept in.
type Dialect = sqldb.Dialect

// The dialects NewSQL accepts.
const (
	Postgres = sqldb.Postgres
	SQLite   = sqldb.SQLite
)

// MinKeySize is the least number of bytes an HMAC key for pseudonyms must have.
const MinKeySize = 32

// VersionTable is the table in which Migrate records the applied migrations
// of the audit log, apart from other packages' migrations.
const VersionTable = "audit_schema_version"

// ErrInvalidEvent is returned by Record and RecordTx for an event that must
// not be logged as it is: no Action, or an Outcome other than Success,
// Failure or Denied.
var ErrInvalidEvent = errors.New("audit: invalid event")

//go:embed migrations/*.sql
var migrations embed.FS

// Migrate brings the audit tables in db up to date. It is safe to run from
// several replicas at once and beside other packages' migrations.
func Migrate(ctx context.Context, db *sql.DB, d Dialect) error {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("audit: migrate: %w", err)
	}
	if err := sqldb.Migrate(ctx, db, d, sub, VersionTable); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

// Options tune a SQL log.
type Options struct {
	// Now is the clock that stamps events whose Time is zero; time.Now
	// when nil.
	Now func() time.Time
}

// SQL is the audit log kept in a PostgreSQL or SQLite database whose tables
// Migrate has created. It is safe for concurrent use, and several SQL values
// on several replicas may write the same database at once: the chain stays
// linear because every write first locks the head checkpoint.
type SQL struct {
	db      *sql.DB
	dialect Dialect
	pseudo  pseudonymizer
	now     func() time.Time

	qLock, qInsert, qAdvance, qForSubject, qSince, qHead string
}

var _ Logger = (*SQL)(nil)

// NewSQL returns the log kept in db. key pseudonymises persons; it must be
// at least MinKeySize bytes and the same on every replica and across
// restarts, or citizens can no longer find their own entries. NewSQL does
// not create tables; run Migrate first.
func NewSQL(db *sql.DB, dialect Dialect, key []byte, opts Options) (*SQL, error) {
	if db == nil {
		return nil, errors.New("audit: nil database")
	}
	if !dialect.Valid() {
		return nil, fmt.Errorf("audit: invalid dialect %s", dialect)
	}
	if len(key) < MinKeySize {
		return nil, fmt.Errorf("audit: HMAC key has %d bytes, need at least %d", len(key), MinKeySize)
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	s := &SQL{
		db: db, dialect: dialect, now: now,
		pseudo: pseudonymizer{key: append([]byte(nil), key...)},
	}
	switch dialect {
	case Postgres:
		// The row lock on the single head row serialises writers across
		// all replicas and lives exactly as long as the transaction, like
		// a transaction-scoped advisory lock, but it belongs to this
		// table: logs in other schemas or databases never wait on it.
		s.qLock = "SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE"
	case SQLite:
		// A write as the first statement takes SQLite's single write lock
		// before anything is read, so the head read next cannot be stale
		// even in a transaction that was begun DEFERRED.
		s.qLock = "UPDATE audit_head SET seq = seq WHERE id = 1 RETURNING seq, hash"
	}
	s.qInsert = dialect.Rebind(`INSERT INTO audit_log
		(seq, time_ms, request_id, actor, actor_role, subject_hmac, action, resource, outcome, detail, prev_hash, hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	s.qAdvance = dialect.Rebind("UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1 AND seq = ?")
	s.qForSubject = dialect.Rebind("SELECT " + rowColumns + " FROM audit_log WHERE subject_hmac = ? AND subject_hmac <> '' ORDER BY seq DESC LIMIT ?")
	s.qSince = dialect.Rebind("SELECT " + rowColumns + " FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?")
	s.qHead = "SELECT seq, hash FROM audit_head WHERE id = 1"
	return s, nil
}

// Dialect reports the dialect of the log's database.
func (s *SQL) Dialect() Dialect { return s.dialect }

// SubjectHMAC returns the pseudonym under which entries about subject are
// stored, for looking them up elsewhere (an export, a support case).
func (s *SQL) SubjectHMAC(subject string) string { return s.pseudo.subject(subject) }

// Record writes e in a transaction of its own and returns nil only once it
// is committed. Storage failures wrap ErrUnavailable; an unacceptable event
// wraps ErrInvalidEvent.
func (s *SQL) Record(ctx context.Context, e Event) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%w: begin: %w", ErrUnavailable, err)
	}
	if err := s.RecordTx(ctx, tx, e); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%w: commit: %w", ErrUnavailable, err)
	}
	return nil
}

// RecordTx writes e inside tx, the caller's transaction on the log's
// database, so that a change and its audit entry are committed or rolled
// back together. The entry is durable only when the caller commits.
//
// RecordTx locks the head of the chain until tx ends, so other writers wait:
// call it late in the transaction and commit soon after. On SQLite the
// transaction must be able to take the write lock when RecordTx is called:
// use a database opened by sqldb.Open (which begins every transaction
// IMMEDIATE), or make RecordTx or another write the first statement of tx;
// otherwise a concurrent writer can make it fail (never corrupt the chain).
// On PostgreSQL use the default READ COMMITTED isolation; under stricter
// levels a concurrent writer makes it fail with a serialisation error.
func (s *SQL) RecordTx(ctx context.Context, tx *sql.Tx, e Event) error {
	if e.Action == "" {
		return fmt.Errorf("%w: no action", ErrInvalidEvent)
	}
	switch e.Outcome {
	case Success, Failure, Denied:
	default:
		return fmt.Errorf("%w: outcome %q is not success, failure or denied", ErrInvalidEvent, e.Outcome)
	}
	t := e.Time
	if t.IsZero() {
		t = s.now()
	}
	detail := make(map[string]string, len(e.Detail))
	for k, v := range e.Detail {
		detail[s.pseudo.scrub(k)] = s.pseudo.scrub(v)
	}
	r := row{
		timeMS:      t.UnixMilli(),
		requestID:   s.pseudo.scrub(e.RequestID),
		actor:       s.pseudo.actor(e.Actor),
		actorRole:   e.ActorRole,
		subjectHMAC: s.pseudo.subject(e.Subject),
		action:      e.Action,
		resource:    s.pseudo.scrub(e.Resource),
		outcome:     e.Outcome,
		detail:      detailJSON(detail),
	}

	var headSeq int64
	if err := tx.QueryRowContext(ctx, s.qLock).Scan(&headSeq, &r.prevHash); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: the head checkpoint (audit_head) is missing", ErrUnavailable)
		}
		return fmt.Errorf("%w: lock head: %w", ErrUnavailable, err)
	}
	r.seq = headSeq + 1
	r.hash = r.computeHash(r.seq)
	if _, err := tx.ExecContext(ctx, s.qInsert, r.seq, r.timeMS, r.requestID, r.actor, r.actorRole,
		r.subjectHMAC, r.action, r.resource, r.outcome, r.detail, r.prevHash, r.hash); err != nil {
		return fmt.Errorf("%w: insert entry %d: %w", ErrUnavailable, r.seq, err)
	}
	// The condition on the old seq makes a lost lock (a caller's
	// transaction that could not take it as documented) fail instead of
	// forking the chain.
	res, err := tx.ExecContext(ctx, s.qAdvance, r.seq, r.hash, headSeq)
	if err != nil {
		return fmt.Errorf("%w: advance head: %w", ErrUnavailable, err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return fmt.Errorf("%w: the head moved while entry %d was written", ErrUnavailable, r.seq)
	}
	return nil
}

// rowColumns lists audit_log's columns in the order scanRow reads them.
const rowColumns = "seq, time_ms, request_id, actor, actor_role, subject_hmac, action, resource, outcome, detail, prev_hash, hash"

type scanner interface{ Scan(dest ...any) error }

func scanRow(sc scanner, r *row) error {
	return sc.Scan(&r.seq, &r.timeMS, &r.requestID, &r.actor, &r.actorRole, &r.subjectHMAC,
		&r.action, &r.resource, &r.outcome, &r.detail, &r.prevHash, &r.hash)
}

// DefaultLimit is the number of entries ForSubject and Since return when
// asked for limit <= 0; MaxLimit is the most they return at once.
const (
	DefaultLimit = 100
	MaxLimit     = 10000
)

func clampLimit(limit int) int {
	switch {
	case limit <= 0:
		return DefaultLimit
	case limit > MaxLimit:
		return MaxLimit
	}
	return limit
}

// ForSubject returns the newest entries (at most limit; see DefaultLimit)
// concerning subject, the person key given as Event.Subject, newest first.
// It finds them by the subject's pseudonym, so it needs the same key the
// entries were written with. Entries in which the person only acted, such
// as a guardian's on a child's matter, concern the child, not the guardian.
func (s *SQL) ForSubject(ctx context.Context, subject string, limit int) ([]Entry, error) {
	h := s.pseudo.subject(subject)
	if h == "" {
		return nil, nil
	}
	return s.query(ctx, s.qForSubject, h, clampLimit(limit))
}

// Since returns the entries after seq (0 for the first), oldest first, at
// most limit of them (see DefaultLimit), for export: pass the last Seq
// returned to get the next page.
func (s *SQL) Since(ctx context.Context, seq int64, limit int) ([]Entry, error) {
	return s.query(ctx, s.qSince, seq, clampLimit(limit))
}

// Head returns the sequence number and hash of the last entry as recorded
// in the head checkpoint (0 and GenesisHash for an empty log). Publishing it
// elsewhere from time to time (a log line, a ticket) anchors the chain, so
// that even someone able to rewrite the whole table cannot do so unnoticed.
func (s *SQL) Head(ctx context.Context) (seq int64, hash string, err error) {
	if err := s.db.QueryRowContext(ctx, s.qHead).Scan(&seq, &hash); err != nil {
		return 0, "", fmt.Errorf("%w: read head: %w", ErrUnavailable, err)
	}
	return seq, hash, nil
}

func (s *SQL) query(ctx context.Context, q string, args ...any) ([]Entry, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("%w: query: %w", ErrUnavailable, err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		var r row
		if err := scanRow(rows, &r); err != nil {
			return nil, fmt.Errorf("%w: query: %w", ErrUnavailable, err)
		}
		out = append(out, r.entry())
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%w: query: %w", ErrUnavailable, err)
	}
	return out, nil
}
