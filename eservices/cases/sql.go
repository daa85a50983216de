package cases

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/mail"
	"strconv"
	"strings"
	"time"

	// The zone database is embedded so that case-number years and
	// statistics weeks follow Swedish time on hosts without tzdata.
	_ "time/tzdata"

	"github.com/civicgate/civicgate/gateway/audit"
	"github.com/civicgate/civicgate/gateway/sqldb"
)

// VersionTable is the table in which Migrate records the applied
// migrations of the case store, apart from other packages' migrations.
const VersionTable = "cases_schema_version"

//go:embed migrations/*.sql
var migrations embed.FS

// Migrate brings the case tables in db up to date. It is safe to run from
// several replicas at once on PostgreSQL and beside other packages'
// migrations.
func Migrate(ctx context.Context, db *sql.DB, d sqldb.Dialect) error {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("cases: migrate: %w", err)
	}
	if err := sqldb.Migrate(ctx, db, d, sub, VersionTable); err != nil {
		return fmt.Errorf("cases: %w", err)
	}
	return nil
}

// Options configure a SQL store.
type Options struct {
	// Auditor writes the audit entry of every change in the change's
	// transaction. Required: normally the *audit.SQL on the same database.
	Auditor TxAuditor
	// Blobs holds attachment bytes; PurgeClosedBefore deletes them there.
	// When nil, purging a case with attachments fails.
	Blobs BlobStore
	// MaxAttachments is the most attachments a case may have;
	// DefaultMaxAttachm when zero.
	MaxAttachments int
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Location decides the year of a case number and the weeks of Stats;
	// Europe/Stockholm when nil.
	Location *time.Location
}

// SQL is the Store kept in a PostgreSQL or SQLite database whose tables
// Migrate has created. It is safe for concurrent use, and any number of
// replicas may share the database: case numbers never repeat and have no
// gaps, because the counter row is advanced in the transaction that writes
// the case.
type SQL struct {
	db      *sql.DB
	d       sqldb.Dialect
	auditor TxAuditor
	blobs   BlobStore
	maxAtt  int
	now     func() time.Time
	loc     *time.Location

	qLock, qClaim string
}

var _ Store = (*SQL)(nil)

// NewSQL returns the store kept in db. It does not create tables; run
// Migrate first.
func NewSQL(db *sql.DB, d sqldb.Dialect, o Options) (*SQL, error) {
	if db == nil {
		return nil, errors.New("cases: nil database")
	}
	if !d.Valid() {
		return nil, fmt.Errorf("cases: invalid dialect %s", d)
	}
	if o.Auditor == nil {
		return nil, errors.New("cases: an auditor is required")
	}
	s := &SQL{db: db, d: d, auditor: o.Auditor, blobs: o.Blobs, maxAtt: o.MaxAttachments, now: o.Now, loc: o.Location}
	if s.maxAtt <= 0 {
		s.maxAtt = DefaultMaxAttachm
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.loc == nil {
		loc, err := time.LoadLocation("Europe/Stockholm")
		if err != nil {
			return nil, fmt.Errorf("cases: %w", err)
		}
		s.loc = loc
	}
	claimSub := `SELECT id FROM cases_outbox WHERE state = 'pending' AND next_attempt_ms <= ?
		ORDER BY next_attempt_ms LIMIT ?`
	switch d {
	case sqldb.Postgres:
		// The row lock on the case serialises changes to one case across
		// replicas (history seq, attachment count, transitions).
		s.qLock = "SELECT " + caseColumns + " FROM cases WHERE id = ? FOR UPDATE"
		// Replicas claiming at once skip each other's rows instead of
		// waiting for them and then sending them twice.
		claimSub += " FOR UPDATE SKIP LOCKED"
	case sqldb.SQLite:
		// A write as the first statement takes SQLite's write lock before
		// anything is read, even in a transaction begun DEFERRED.
		s.qLock = "UPDATE cases SET updated_ms = updated_ms WHERE id = ? RETURNING " + caseColumns
	}
	s.qLock = d.Rebind(s.qLock)
	s.qClaim = d.Rebind(`UPDATE cases_outbox SET next_attempt_ms = ?, attempts = attempts + 1
		WHERE id IN (` + claimSub + `)
		RETURNING id, case_id, recipient, subject, body, state, attempts, next_attempt_ms, last_error, created_ms, sent_ms`)
	return s, nil
}

const caseColumns = `id, number, module_id, prefix, owner_key, subject_key, channel, created_by,
	created_by_role, title, content, status, created_ms, updated_ms, submitted_ms,
	first_response_ms, decided_ms, closed_ms, purged_ms`

type scanner interface{ Scan(dest ...any) error }

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.UnixMilli(n.Int64)
}

func scanCase(sc scanner) (*Case, error) {
	var c Case
	var number sql.NullString
	var content string
	var created, updated int64
	var submitted, first, decided, closed, purged sql.NullInt64
	err := sc.Scan(&c.ID, &number, &c.ModuleID, &c.Prefix, &c.Owner, &c.Subject, &c.Channel,
		&c.CreatedBy, &c.CreatedByRole, &c.Title, &content, &c.Status, &created, &updated,
		&submitted, &first, &decided, &closed, &purged)
	if err != nil {
		return nil, err
	}
	c.Number = number.String
	c.Content = json.RawMessage(content)
	c.CreatedAt, c.UpdatedAt = time.UnixMilli(created), time.UnixMilli(updated)
	c.SubmittedAt, c.FirstResponseAt = fromMS(submitted), fromMS(first)
	c.DecidedAt, c.ClosedAt, c.PurgedAt = fromMS(decided), fromMS(closed), fromMS(purged)
	return &c, nil
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// inTx runs fn in a transaction and commits it when fn returns nil.
func (s *SQL) inTx(ctx context.Context, op string, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("cases: %s: begin: %w", op, err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("cases: %s: commit: %w", op, err)
	}
	return nil
}

func (s *SQL) audit(ctx context.Context, tx *sql.Tx, by Actor, action string, c *Case, detail map[string]string) error {
	if detail == nil {
		detail = map[string]string{}
	}
	detail["module"] = c.ModuleID
	e := audit.Event{
		Time:      s.now(),
		RequestID: by.RequestID,
		Actor:     by.Key,
		ActorRole: by.Role,
		Subject:   c.Subject,
		Action:    action,
		Resource:  resource(c),
		Outcome:   audit.Success,
		Detail:    detail,
	}
	if err := s.auditor.RecordTx(ctx, tx, e); err != nil {
		return fmt.Errorf("cases: %s: audit: %w", action, err)
	}
	return nil
}

func resource(c *Case) string {
	if c.Number != "" {
		return "case:" + c.Number
	}
	return "case-draft:" + c.ID
}

func validNewCase(c *NewCase, by Actor) error {
	var p problems
	if c.ModuleID == "" {
		p.add("module_id", "required")
	} else if len(c.ModuleID) > 64 || !validLine(c.ModuleID) {
		p.add("module_id", "invalid")
	}
	if !ValidPrefix(c.Prefix) {
		p.add("prefix", "must be 2-8 upper-case letters A-Z")
	}
	if c.Owner == "" {
		p.add("owner", "required")
	} else if !validPersonKey(c.Owner) {
		p.add("owner", "not a valid personnummer or prid key")
	}
	if c.Subject == "" {
		c.Subject = c.Owner
	} else if !validPersonKey(c.Subject) {
		p.add("subject", "not a valid personnummer or prid key")
	}
	if c.Channel == "" {
		c.Channel = EService
	} else if !c.Channel.Valid() {
		p.add("channel", "must be e-service, phone or visit")
	}
	validTitle(&p, c.Title)
	var err error
	if c.Content, err = normContent(c.Content); err != nil {
		p.add("content", err.Error())
	}
	if c.NotifyEmail != "" && !validEmail(c.NotifyEmail) {
		p.add("notify_email", "not a valid e-mail address")
	}
	validActor(&p, by)
	return p.err()
}

func validTitle(p *problems, t string) {
	switch {
	case strings.TrimSpace(t) == "":
		p.add("title", "required")
	case len([]rune(t)) > MaxTitleLen:
		p.add("title", "longer than "+strconv.Itoa(MaxTitleLen)+" characters")
	case !validLine(t):
		p.add("title", "contains control characters")
	}
}

func normContent(c json.RawMessage) (json.RawMessage, error) {
	if len(bytes.TrimSpace(c)) == 0 {
		return json.RawMessage("{}"), nil
	}
	if len(c) > MaxContentBytes {
		return nil, errors.New("larger than " + strconv.Itoa(MaxContentBytes) + " bytes")
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(c, &obj); err != nil || obj == nil {
		return nil, errors.New("must be a JSON object")
	}
	return c, nil
}

func validEmail(s string) bool {
	if len(s) > 254 {
		return false
	}
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s && a.Name == ""
}

// Create implements Store.
func (s *SQL) Create(ctx context.Context, nc NewCase, by Actor) (*Case, error) {
	if err := validNewCase(&nc, by); err != nil {
		return nil, err
	}
	now := s.now()
	c := &Case{
		ID: newID(), ModuleID: nc.ModuleID, Prefix: nc.Prefix, Owner: nc.Owner, Subject: nc.Subject,
		Channel: nc.Channel, CreatedBy: by.Key, CreatedByRole: by.Role, Title: nc.Title,
		Content: nc.Content, Status: Received, CreatedAt: now, UpdatedAt: now, SubmittedAt: now,
	}
	err := s.inTx(ctx, "create", func(tx *sql.Tx) error {
		if err := s.allocate(ctx, tx, c, now); err != nil {
			return err
		}
		if err := s.insertCase(ctx, tx, c); err != nil {
			return err
		}
		return s.submitted(ctx, tx, c, "", nc.NotifyEmail, by, "case.created")
	})
	if err != nil {
		return nil, err
	}
	c.History = []HistoryEntry{{To: Received, Actor: by.Key, ActorRole: by.Role, Time: now}}
	return c, nil
}

// allocate gives c the next number of its prefix and year. The upsert
// locks the counter row until the transaction ends, so concurrent
// submitters, on any replica, queue for it, and a rolled-back transaction
// gives its number back.
func (s *SQL) allocate(ctx context.Context, tx *sql.Tx, c *Case, now time.Time) error {
	year := now.In(s.loc).Year()
	var n int64
	err := tx.QueryRowContext(ctx, s.d.Rebind(`INSERT INTO cases_counter (prefix, year, n) VALUES (?, ?, 1)
		ON CONFLICT (prefix, year) DO UPDATE SET n = cases_counter.n + 1 RETURNING n`),
		c.Prefix, year).Scan(&n)
	if err != nil {
		return fmt.Errorf("cases: allocate number: %w", err)
	}
	c.Number = FormatNumber(c.Prefix, year, n)
	return nil
}

func (s *SQL) insertCase(ctx context.Context, tx *sql.Tx, c *Case) error {
	var number, submitted any
	if c.Number != "" {
		number = c.Number
	}
	if !c.SubmittedAt.IsZero() {
		submitted = ms(c.SubmittedAt)
	}
	_, err := tx.ExecContext(ctx, s.d.Rebind(`INSERT INTO cases
		(id, number, module_id, prefix, owner_key, subject_key, channel, created_by, created_by_role,
		 title, content, status, created_ms, updated_ms, submitted_ms)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		c.ID, number, c.ModuleID, c.Prefix, c.Owner, c.Subject, string(c.Channel), c.CreatedBy,
		c.CreatedByRole, c.Title, string(c.Content), string(c.Status), ms(c.CreatedAt), ms(c.UpdatedAt), submitted)
	if err != nil {
		return fmt.Errorf("cases: insert case: %w", err)
	}
	return nil
}

// submitted writes what every submission writes besides the case row: the
// history entry, the confirmation mail and the audit entry.
func (s *SQL) submitted(ctx context.Context, tx *sql.Tx, c *Case, from Status, email string, by Actor, action string) error {
	now := c.SubmittedAt
	if err := s.addHistory(ctx, tx, c.ID, from, Received, "", by, now); err != nil {
		return err
	}
	subject, body := confirmation(c.Number)
	state := "pending"
	if email == "" {
		state = "no_address"
	}
	_, err := tx.ExecContext(ctx, s.d.Rebind(`INSERT INTO cases_outbox
		(id, case_id, recipient, subject, body, state, attempts, next_attempt_ms, last_error, created_ms)
		VALUES (?, ?, ?, ?, ?, ?, 0, ?, '', ?)`),
		newID(), c.ID, email, subject, body, state, ms(now), ms(now))
	if err != nil {
		return fmt.Errorf("cases: insert outbox: %w", err)
	}
	return s.audit(ctx, tx, by, action, c, map[string]string{"channel": string(c.Channel), "mail": state})
}

// notify queues the "news in your case" mail to the address the citizen gave
// when submitting (none: nothing is queued), in the change's transaction.
// One pending notification per case is enough: a decision that writes a
// message and sets the status sends one mail.
func (s *SQL) notify(ctx context.Context, tx *sql.Tx, c *Case, now time.Time) error {
	var recipient string
	err := tx.QueryRowContext(ctx, s.d.Rebind(`SELECT recipient FROM cases_outbox
		WHERE case_id = ? AND recipient <> '' ORDER BY created_ms DESC LIMIT 1`), c.ID).Scan(&recipient)
	if errors.Is(err, sql.ErrNoRows) || recipient == "" {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cases: notify: %w", err)
	}
	subject, body := notification(c.Number)
	var pending int
	if err := tx.QueryRowContext(ctx, s.d.Rebind(`SELECT COUNT(*) FROM cases_outbox
		WHERE case_id = ? AND state = 'pending' AND subject = ?`), c.ID, subject).Scan(&pending); err != nil {
		return fmt.Errorf("cases: notify: %w", err)
	}
	if pending > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, s.d.Rebind(`INSERT INTO cases_outbox
		(id, case_id, recipient, subject, body, state, attempts, next_attempt_ms, last_error, created_ms)
		VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, '', ?)`),
		newID(), c.ID, recipient, subject, body, ms(now), ms(now)); err != nil {
		return fmt.Errorf("cases: notify: %w", err)
	}
	return nil
}

func (s *SQL) addHistory(ctx context.Context, tx *sql.Tx, id string, from, to Status, note string, by Actor, at time.Time) error {
	_, err := tx.ExecContext(ctx, s.d.Rebind(`INSERT INTO cases_history
		(case_id, seq, from_status, to_status, actor, actor_role, note, time_ms)
		VALUES (?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM cases_history WHERE case_id = ?), ?, ?, ?, ?, ?, ?)`),
		id, id, string(from), string(to), by.Key, by.Role, note, ms(at))
	if err != nil {
		return fmt.Errorf("cases: insert history: %w", err)
	}
	return nil
}

// SaveDraft implements Store.
func (s *SQL) SaveDraft(ctx context.Context, nc NewCase, by Actor) (*Case, error) {
	if err := validNewCase(&nc, by); err != nil {
		return nil, err
	}
	now := s.now()
	c := &Case{
		ID: newID(), ModuleID: nc.ModuleID, Prefix: nc.Prefix, Owner: nc.Owner, Subject: nc.Subject,
		Channel: nc.Channel, CreatedBy: by.Key, CreatedByRole: by.Role, Title: nc.Title,
		Content: nc.Content, Status: Draft, CreatedAt: now, UpdatedAt: now,
	}
	err := s.inTx(ctx, "save draft", func(tx *sql.Tx) error {
		if err := s.insertCase(ctx, tx, c); err != nil {
			return err
		}
		if err := s.addHistory(ctx, tx, c.ID, "", Draft, "", by, now); err != nil {
			return err
		}
		return s.audit(ctx, tx, by, "case.draft_saved", c, nil)
	})
	if err != nil {
		return nil, err
	}
	c.History = []HistoryEntry{{To: Draft, Actor: by.Key, ActorRole: by.Role, Time: now}}
	return c, nil
}

// lock reads a case inside tx and keeps other writers off it until tx
// ends.
func (s *SQL) lock(ctx context.Context, tx *sql.Tx, id string) (*Case, error) {
	c, err := scanCase(tx.QueryRowContext(ctx, s.qLock, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("cases: lock case: %w", err)
	}
	return c, nil
}

// UpdateDraft implements Store.
func (s *SQL) UpdateDraft(ctx context.Context, id string, u DraftUpdate, by Actor) (*Case, error) {
	var p problems
	validTitle(&p, u.Title)
	content, err := normContent(u.Content)
	if err != nil {
		p.add("content", err.Error())
	}
	validActor(&p, by)
	if err := p.err(); err != nil {
		return nil, err
	}
	err = s.inTx(ctx, "update draft", func(tx *sql.Tx) error {
		c, err := s.lock(ctx, tx, id)
		if err != nil {
			return err
		}
		if c.Status != Draft {
			return fmt.Errorf("%w: case is not a draft", ErrConflict)
		}
		if _, err := tx.ExecContext(ctx, s.d.Rebind(`UPDATE cases SET title = ?, content = ?, updated_ms = ? WHERE id = ?`),
			u.Title, string(content), ms(s.now()), id); err != nil {
			return fmt.Errorf("cases: update draft: %w", err)
		}
		return s.audit(ctx, tx, by, "case.draft_updated", c, nil)
	})
	if err != nil {
		return nil, err
	}
	return s.Get(ctx, id)
}

// SubmitDraft implements Store.
func (s *SQL) SubmitDraft(ctx context.Context, id, notifyEmail string, by Actor) (*Case, error) {
	var p problems
	if notifyEmail != "" && !validEmail(notifyEmail) {
		p.add("notify_email", "not a valid e-mail address")
	}
	validActor(&p, by)
	if err := p.err(); err != nil {
		return nil, err
	}
	err := s.inTx(ctx, "submit draft", func(tx *sql.Tx) error {
		c, err := s.lock(ctx, tx, id)
		if err != nil {
			return err
		}
		if c.Status != Draft {
			return fmt.Errorf("%w: case is not a draft", ErrConflict)
		}
		now := s.now()
		c.SubmittedAt = now
		if err := s.allocate(ctx, tx, c, now); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.d.Rebind(`UPDATE cases SET number = ?, status = ?, submitted_ms = ?, updated_ms = ? WHERE id = ?`),
			c.Number, string(Received), ms(now), ms(now), id); err != nil {
			return fmt.Errorf("cases: submit draft: %w", err)
		}
		return s.submitted(ctx, tx, c, Draft, notifyEmail, by, "case.submitted")
	})
	if err != nil {
		return nil, err
	}
	return s.Get(ctx, id)
}

// Get implements Store.
func (s *SQL) Get(ctx context.Context, id string) (*Case, error) {
	return s.getWhere(ctx, "id", id)
}

// GetByNumber implements Store.
func (s *SQL) GetByNumber(ctx context.Context, number string) (*Case, error) {
	return s.getWhere(ctx, "number", number)
}

func (s *SQL) getWhere(ctx context.Context, col, v string) (*Case, error) {
	c, err := scanCase(s.db.QueryRowContext(ctx, s.d.Rebind("SELECT "+caseColumns+" FROM cases WHERE "+col+" = ?"), v))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("cases: get: %w", err)
	}
	rows, err := s.db.QueryContext(ctx, s.d.Rebind(`SELECT from_status, to_status, actor, actor_role, note, time_ms
		FROM cases_history WHERE case_id = ? ORDER BY seq`), c.ID)
	if err != nil {
		return nil, fmt.Errorf("cases: get history: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var h HistoryEntry
		var t int64
		if err := rows.Scan(&h.From, &h.To, &h.Actor, &h.ActorRole, &h.Note, &t); err != nil {
			return nil, fmt.Errorf("cases: get history: %w", err)
		}
		h.Time = time.UnixMilli(t)
		c.History = append(c.History, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cases: get history: %w", err)
	}
	return c, nil
}

// ListByOwner implements Store.
func (s *SQL) ListByOwner(ctx context.Context, owner string) ([]Case, error) {
	if owner == "" {
		return nil, &ValidationError{Fields: []FieldError{{"owner", "required"}}}
	}
	return s.list(ctx, "WHERE owner_key = ? ORDER BY created_ms DESC, id LIMIT ?", owner, MaxListLimit)
}

// ListBySubject implements Store.
func (s *SQL) ListBySubject(ctx context.Context, subject string) ([]Case, error) {
	if subject == "" {
		return nil, &ValidationError{Fields: []FieldError{{"subject", "required"}}}
	}
	return s.list(ctx, "WHERE subject_key = ? ORDER BY created_ms DESC, id LIMIT ?", subject, MaxListLimit)
}

// ListByModule implements Store. Purged stubs are left out.
func (s *SQL) ListByModule(ctx context.Context, moduleID string, f Filter) ([]Case, error) {
	limit := f.Limit
	switch {
	case limit <= 0:
		limit = DefaultListLimit
	case limit > MaxListLimit:
		limit = MaxListLimit
	}
	q := "WHERE module_id = ? AND purged_ms IS NULL AND "
	args := []any{moduleID}
	if len(f.Statuses) == 0 {
		q += "status <> 'draft'"
	} else {
		marks := make([]string, len(f.Statuses))
		for i, st := range f.Statuses {
			if !st.Valid() {
				return nil, &ValidationError{Fields: []FieldError{{"statuses", "unknown status"}}}
			}
			marks[i] = "?"
			args = append(args, string(st))
		}
		q += "status IN (" + strings.Join(marks, ", ") + ")"
	}
	return s.list(ctx, q+" ORDER BY created_ms DESC, id LIMIT ?", append(args, limit)...)
}

func (s *SQL) list(ctx context.Context, where string, args ...any) ([]Case, error) {
	rows, err := s.db.QueryContext(ctx, s.d.Rebind("SELECT "+caseColumns+" FROM cases "+where), args...)
	if err != nil {
		return nil, fmt.Errorf("cases: list: %w", err)
	}
	defer rows.Close()
	var out []Case
	for rows.Next() {
		c, err := scanCase(rows)
		if err != nil {
			return nil, fmt.Errorf("cases: list: %w", err)
		}
		out = append(out, *c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cases: list: %w", err)
	}
	return out, nil
}

// isCitizen reports whether by is the case's owner or subject: their
// actions (a withdrawal, a supplement) are not the handler's first response.
func isCitizen(c *Case, by Actor) bool { return by.Key == c.Owner || by.Key == c.Subject }

// SetStatus implements Store. The first status change made by someone
// other than the owner or subject stamps FirstResponseAt.
func (s *SQL) SetStatus(ctx context.Context, id string, to Status, note string, by Actor) (*Case, error) {
	var p problems
	if !to.Valid() {
		p.add("status", "unknown status")
	}
	if len([]rune(note)) > MaxMessageLen || !validText(note) {
		p.add("note", "too long or contains control characters")
	}
	validActor(&p, by)
	if err := p.err(); err != nil {
		return nil, err
	}
	err := s.inTx(ctx, "set status", func(tx *sql.Tx) error {
		c, err := s.lock(ctx, tx, id)
		if err != nil {
			return err
		}
		if !CanTransition(c.Status, to) {
			return fmt.Errorf("%w: status %s cannot change to %s", ErrConflict, c.Status, to)
		}
		now := ms(s.now())
		q := "UPDATE cases SET status = ?, updated_ms = ?"
		args := []any{string(to), now}
		if c.FirstResponseAt.IsZero() && !isCitizen(c, by) {
			q += ", first_response_ms = ?"
			args = append(args, now)
		}
		switch to {
		case Decided:
			q += ", decided_ms = ?"
			args = append(args, now)
		case Closed:
			q += ", closed_ms = ?"
			args = append(args, now)
		}
		if _, err := tx.ExecContext(ctx, s.d.Rebind(q+" WHERE id = ?"), append(args, id)...); err != nil {
			return fmt.Errorf("cases: set status: %w", err)
		}
		if err := s.addHistory(ctx, tx, id, c.Status, to, note, by, time.UnixMilli(now)); err != nil {
			return err
		}
		if (to == Decided || to == AwaitingSupplement) && !isCitizen(c, by) {
			if err := s.notify(ctx, tx, c, time.UnixMilli(now)); err != nil {
				return err
			}
		}
		return s.audit(ctx, tx, by, "case.status_changed", c, map[string]string{"from": string(c.Status), "to": string(to)})
	})
	if err != nil {
		return nil, err
	}
	return s.Get(ctx, id)
}

// AddMessage implements Store. A handler's message or internal note is a
// first response.
func (s *SQL) AddMessage(ctx context.Context, caseID string, nm NewMessage, by Actor) (*Message, error) {
	var p problems
	if !nm.Direction.Valid() {
		p.add("direction", "unknown direction")
	}
	switch {
	case strings.TrimSpace(nm.Body) == "":
		p.add("body", "required")
	case len([]rune(nm.Body)) > MaxMessageLen:
		p.add("body", "longer than "+strconv.Itoa(MaxMessageLen)+" characters")
	case !validText(nm.Body):
		p.add("body", "contains control characters")
	}
	validActor(&p, by)
	if err := p.err(); err != nil {
		return nil, err
	}
	m := &Message{ID: newID(), CaseID: caseID, From: by.Key, Direction: nm.Direction, Body: nm.Body, Time: s.now()}
	err := s.inTx(ctx, "add message", func(tx *sql.Tx) error {
		c, err := s.lock(ctx, tx, caseID)
		if err != nil {
			return err
		}
		if c.Status == Draft || c.Status == Closed {
			return fmt.Errorf("%w: no messages on a %s case", ErrConflict, c.Status)
		}
		if _, err := tx.ExecContext(ctx, s.d.Rebind(`INSERT INTO cases_message (id, case_id, seq, sender, direction, body, time_ms)
			VALUES (?, ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM cases_message WHERE case_id = ?), ?, ?, ?, ?)`),
			m.ID, caseID, caseID, m.From, string(m.Direction), m.Body, ms(m.Time)); err != nil {
			return fmt.Errorf("cases: add message: %w", err)
		}
		if c.FirstResponseAt.IsZero() && nm.Direction != ToHandler {
			if _, err := tx.ExecContext(ctx, s.d.Rebind(`UPDATE cases SET first_response_ms = ?, updated_ms = ? WHERE id = ?`),
				ms(m.Time), ms(m.Time), caseID); err != nil {
				return fmt.Errorf("cases: add message: %w", err)
			}
		}
		if nm.Direction == ToCitizen {
			if err := s.notify(ctx, tx, c, m.Time); err != nil {
				return err
			}
		}
		return s.audit(ctx, tx, by, "case.message_added", c, map[string]string{"direction": string(nm.Direction)})
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// Messages implements Store.
func (s *SQL) Messages(ctx context.Context, caseID string) ([]Message, error) {
	rows, err := s.db.QueryContext(ctx, s.d.Rebind(`SELECT id, case_id, sender, direction, body, time_ms, read_ms
		FROM cases_message WHERE case_id = ? ORDER BY seq`), caseID)
	if err != nil {
		return nil, fmt.Errorf("cases: messages: %w", err)
	}
	defer rows.Close()
	var out []Message
	for rows.Next() {
		var m Message
		var t int64
		var read sql.NullInt64
		if err := rows.Scan(&m.ID, &m.CaseID, &m.From, &m.Direction, &m.Body, &t, &read); err != nil {
			return nil, fmt.Errorf("cases: messages: %w", err)
		}
		m.Time, m.ReadAt = time.UnixMilli(t), fromMS(read)
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cases: messages: %w", err)
	}
	return out, nil
}

// MarkRead implements Store.
func (s *SQL) MarkRead(ctx context.Context, caseID string, dir Direction, by Actor) error {
	var p problems
	if !dir.Valid() {
		p.add("direction", "unknown direction")
	}
	validActor(&p, by)
	if err := p.err(); err != nil {
		return err
	}
	return s.inTx(ctx, "mark read", func(tx *sql.Tx) error {
		c, err := s.lock(ctx, tx, caseID)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, s.d.Rebind(`UPDATE cases_message SET read_ms = ?
			WHERE case_id = ? AND direction = ? AND read_ms IS NULL`), ms(s.now()), caseID, string(dir))
		if err != nil {
			return fmt.Errorf("cases: mark read: %w", err)
		}
		n, _ := res.RowsAffected()
		return s.audit(ctx, tx, by, "case.messages_read", c, map[string]string{"direction": string(dir), "count": strconv.FormatInt(n, 10)})
	})
}

// AddAttachment implements Store.
func (s *SQL) AddAttachment(ctx context.Context, caseID string, na NewAttachment, by Actor) (*Attachment, error) {
	var p problems
	name := SanitizeName(na.Name)
	if !allowedType(na.ContentType) {
		p.add("content_type", "must be application/pdf, image/png or image/jpeg")
	}
	if na.Size <= 0 {
		p.add("size", "must be positive")
	}
	if b, err := hex.DecodeString(na.SHA256); err != nil || len(b) != 32 {
		p.add("sha256", "must be 64 hexadecimal digits")
	}
	if na.BlobKey == "" || len(na.BlobKey) > 200 || !validLine(na.BlobKey) {
		p.add("blob_key", "invalid")
	}
	validActor(&p, by)
	if err := p.err(); err != nil {
		return nil, err
	}
	a := &Attachment{
		ID: newID(), CaseID: caseID, Name: name, ContentType: na.ContentType, Size: na.Size,
		SHA256: strings.ToLower(na.SHA256), BlobKey: na.BlobKey, UploadedBy: by.Key, Time: s.now(),
		Supplement: na.Supplement,
	}
	err := s.inTx(ctx, "add attachment", func(tx *sql.Tx) error {
		c, err := s.lock(ctx, tx, caseID)
		if err != nil {
			return err
		}
		if c.Status == Closed {
			return fmt.Errorf("%w: no attachments on a closed case", ErrConflict)
		}
		var n int
		if err := tx.QueryRowContext(ctx, s.d.Rebind("SELECT COUNT(*) FROM cases_attachment WHERE case_id = ?"), caseID).Scan(&n); err != nil {
			return fmt.Errorf("cases: add attachment: %w", err)
		}
		if n >= s.maxAtt {
			return fmt.Errorf("%w: the case already has %d attachments, the most allowed", ErrConflict, n)
		}
		supp := 0
		if a.Supplement {
			supp = 1
		}
		if _, err := tx.ExecContext(ctx, s.d.Rebind(`INSERT INTO cases_attachment
			(id, case_id, name, content_type, size, sha256, blob_key, uploaded_by, time_ms, supplement)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
			a.ID, caseID, a.Name, a.ContentType, a.Size, a.SHA256, a.BlobKey, a.UploadedBy, ms(a.Time), supp); err != nil {
			return fmt.Errorf("cases: add attachment: %w", err)
		}
		return s.audit(ctx, tx, by, "case.attachment_added", c, map[string]string{
			"content_type": a.ContentType, "size": strconv.FormatInt(a.Size, 10), "supplement": strconv.FormatBool(a.Supplement),
		})
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

// Attachments implements Store.
func (s *SQL) Attachments(ctx context.Context, caseID string) ([]Attachment, error) {
	rows, err := s.db.QueryContext(ctx, s.d.Rebind(`SELECT id, case_id, name, content_type, size, sha256, blob_key,
		uploaded_by, time_ms, supplement FROM cases_attachment WHERE case_id = ? ORDER BY time_ms, id`), caseID)
	if err != nil {
		return nil, fmt.Errorf("cases: attachments: %w", err)
	}
	defer rows.Close()
	var out []Attachment
	for rows.Next() {
		var a Attachment
		var t, supp int64
		if err := rows.Scan(&a.ID, &a.CaseID, &a.Name, &a.ContentType, &a.Size, &a.SHA256, &a.BlobKey,
			&a.UploadedBy, &t, &supp); err != nil {
			return nil, fmt.Errorf("cases: attachments: %w", err)
		}
		a.Time, a.Supplement = time.UnixMilli(t), supp != 0
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cases: attachments: %w", err)
	}
	return out, nil
}

// PurgeClosedBefore erases the content of moduleID's cases closed before
// cutoff: title, content, owner, subject, creator, history actors and
// notes, messages, attachments (rows and blobs) and outbox mails. What is
// left is an anonymised stub — number, module, prefix, channel, status,
// dates — for statistics. Each case is purged in its own transaction with a
// "case.purged" audit entry. It returns how many cases were purged; blobs
// that could not be deleted after their case was purged are reported in
// the error and must be removed by hand.
func (s *SQL) PurgeClosedBefore(ctx context.Context, moduleID string, cutoff time.Time, by Actor) (int, error) {
	var p problems
	if moduleID == "" {
		p.add("module_id", "required")
	}
	validActor(&p, by)
	if err := p.err(); err != nil {
		return 0, err
	}
	rows, err := s.db.QueryContext(ctx, s.d.Rebind(`SELECT id FROM cases WHERE module_id = ? AND status = 'closed'
		AND closed_ms < ? AND purged_ms IS NULL ORDER BY closed_ms`), moduleID, ms(cutoff))
	if err != nil {
		return 0, fmt.Errorf("cases: purge: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, fmt.Errorf("cases: purge: %w", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("cases: purge: %w", err)
	}
	purged := 0
	var blobErrs []error
	for _, id := range ids {
		keys, err := s.purgeOne(ctx, id, cutoff, by)
		if err != nil {
			return purged, errors.Join(append(blobErrs, err)...)
		}
		purged++
		for _, k := range keys {
			if err := s.blobs.Delete(ctx, k); err != nil && !errors.Is(err, ErrNotFound) {
				blobErrs = append(blobErrs, fmt.Errorf("cases: purge: delete blob %s: %w", k, err))
			}
		}
	}
	return purged, errors.Join(blobErrs...)
}

func (s *SQL) purgeOne(ctx context.Context, id string, cutoff time.Time, by Actor) ([]string, error) {
	var keys []string
	err := s.inTx(ctx, "purge", func(tx *sql.Tx) error {
		c, err := s.lock(ctx, tx, id)
		if err != nil {
			return err
		}
		if c.Status != Closed || !c.PurgedAt.IsZero() || !c.ClosedAt.Before(cutoff) {
			return nil
		}
		rows, err := tx.QueryContext(ctx, s.d.Rebind("SELECT blob_key FROM cases_attachment WHERE case_id = ?"), id)
		if err != nil {
			return fmt.Errorf("cases: purge: %w", err)
		}
		for rows.Next() {
			var k string
			if err := rows.Scan(&k); err != nil {
				rows.Close()
				return fmt.Errorf("cases: purge: %w", err)
			}
			keys = append(keys, k)
		}
		rows.Close()
		if len(keys) > 0 && s.blobs == nil {
			return errors.New("cases: purge: the case has attachments but the store has no BlobStore")
		}
		now := ms(s.now())
		for _, q := range []string{
			"DELETE FROM cases_attachment WHERE case_id = ?",
			"DELETE FROM cases_message WHERE case_id = ?",
			"DELETE FROM cases_outbox WHERE case_id = ?",
			"UPDATE cases_history SET actor = '', actor_role = '', note = '' WHERE case_id = ?",
		} {
			if _, err := tx.ExecContext(ctx, s.d.Rebind(q), id); err != nil {
				return fmt.Errorf("cases: purge: %w", err)
			}
		}
		if _, err := tx.ExecContext(ctx, s.d.Rebind(`UPDATE cases SET owner_key = '', subject_key = '', created_by = '',
			created_by_role = '', title = '', content = '{}', purged_ms = ?, updated_ms = ? WHERE id = ?`), now, now, id); err != nil {
			return fmt.Errorf("cases: purge: %w", err)
		}
		return s.audit(ctx, tx, by, "case.purged", c, map[string]string{"attachments": strconv.Itoa(len(keys))})
	})
	if err != nil {
		return nil, err
	}
	return keys, nil
}
