package cases

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// The states of a mail in the outbox.
const (
	MailPending   = "pending"    // to be sent when due
	MailSent      = "sent"       // accepted by the mail server
	MailFailed    = "failed"     // given up after the last attempt
	MailNoAddress = "no_address" // the citizen gave no address; never sent
)

// Mail is one message in the outbox.
type Mail struct {
	ID      string
	CaseID  string
	To      string // empty for MailNoAddress
	Subject string
	Body    string // plain text
	State   string
	// Attempts counts the sends begun, NextAttempt is when the mail is
	// due next, LastError why the last attempt failed.
	Attempts    int
	NextAttempt time.Time
	LastError   string
	CreatedAt   time.Time
	SentAt      time.Time
}

// Sender delivers one mail. An error means it was not accepted and may be
// retried.
type Sender interface {
	Send(ctx context.Context, m Mail) error
}

// Outbox is the queue the Mailer works on; *SQL is one.
type Outbox interface {
	// ClaimMail returns up to limit pending mails due at now, and makes
	// them not due again until now+lease so that no other worker takes
	// them meanwhile; a worker that dies has its mails retried after the
	// lease. Attempts is already counted.
	ClaimMail(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]Mail, error)
	// MailSent marks a mail sent.
	MailSent(ctx context.Context, id string, at time.Time) error
	// MailFailed records a failed attempt: the mail is due again at next,
	// or marked failed for good when giveUp is true.
	MailFailed(ctx context.Context, id, lastError string, next time.Time, giveUp bool) error
}

var _ Outbox = (*SQL)(nil)

// confirmation returns the bilingual confirmation mail of a case. It holds
// the case number only: no title, content or personal identity number,
// since mail travels and is stored outside the municipality's control.
func confirmation(number string) (subject, body string) {
	subject = "Ärende " + number + " mottaget / Case " + number + " received"
	body = "Hej!\n\n" +
		"Vi har tagit emot ditt ärende " + number + ".\n" +
		"Du kan följa ärendet när du loggar in på kommunens e-tjänster.\n" +
		"Det här mejlet går inte att svara på.\n\n" +
		"---\n\n" +
		"Hello,\n\n" +
		"We have received your case " + number + ".\n" +
		"You can follow the case when you log in to the municipality's e-services.\n" +
		"Please do not reply to this e-mail.\n"
	return subject, body
}

// notification returns the bilingual "news in your case" mail: like the
// confirmation, it names only the case number; the news itself is read on
// Mina sidor after logging in.
func notification(number string) (subject, body string) {
	subject = "Nytt i ärende " + number + " / News in case " + number
	body = "Hej!\n\n" +
		"Det finns nytt i ditt ärende " + number + ", till exempel ett beslut, ett meddelande eller en begäran om komplettering.\n" +
		"Logga in på kommunens e-tjänster och gå till Mina sidor för att läsa det.\n" +
		"Det här mejlet går inte att svara på.\n\n" +
		"---\n\n" +
		"Hello,\n\n" +
		"There is news in your case " + number + ", for example a decision, a message or a request for a supplement.\n" +
		"Log in to the municipality's e-services and go to My pages to read it.\n" +
		"Please do not reply to this e-mail.\n"
	return subject, body
}

const mailColumns = "id, case_id, recipient, subject, body, state, attempts, next_attempt_ms, last_error, created_ms, sent_ms"

func scanMail(sc scanner) (Mail, error) {
	var m Mail
	var next, created int64
	var sent sql.NullInt64
	if err := sc.Scan(&m.ID, &m.CaseID, &m.To, &m.Subject, &m.Body, &m.State, &m.Attempts, &next, &m.LastError, &created, &sent); err != nil {
		return Mail{}, err
	}
	m.NextAttempt, m.CreatedAt, m.SentAt = time.UnixMilli(next), time.UnixMilli(created), fromMS(sent)
	return m, nil
}

// ClaimMail implements Outbox. On PostgreSQL rows locked by another
// replica's claim are skipped; on SQLite the claim is one write
// transaction.
func (s *SQL) ClaimMail(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]Mail, error) {
	if limit <= 0 {
		limit = 1
	}
	var out []Mail
	err := s.inTx(ctx, "claim mail", func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, s.qClaim, ms(now.Add(lease)), ms(now), limit)
		if err != nil {
			return fmt.Errorf("cases: claim mail: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			m, err := scanMail(rows)
			if err != nil {
				return fmt.Errorf("cases: claim mail: %w", err)
			}
			out = append(out, m)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// MailSent implements Outbox.
func (s *SQL) MailSent(ctx context.Context, id string, at time.Time) error {
	return s.updateMail(ctx, `UPDATE cases_outbox SET state = 'sent', sent_ms = ?, last_error = '' WHERE id = ?`, ms(at), id)
}

// MailFailed implements Outbox.
func (s *SQL) MailFailed(ctx context.Context, id, lastError string, next time.Time, giveUp bool) error {
	state := MailPending
	if giveUp {
		state = MailFailed
	}
	if r := []rune(lastError); len(r) > 500 {
		lastError = string(r[:500])
	}
	return s.updateMail(ctx, `UPDATE cases_outbox SET state = ?, last_error = ?, next_attempt_ms = ? WHERE id = ?`,
		state, lastError, ms(next), id)
}

func (s *SQL) updateMail(ctx context.Context, q string, args ...any) error {
	res, err := s.db.ExecContext(ctx, s.d.Rebind(q), args...)
	if err != nil {
		return fmt.Errorf("cases: update mail: %w", err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return ErrNotFound
	}
	return nil
}

// Mails returns the outbox mails of a case, oldest first, for support
// staff and tests.
func (s *SQL) Mails(ctx context.Context, caseID string) ([]Mail, error) {
	rows, err := s.db.QueryContext(ctx, s.d.Rebind("SELECT "+mailColumns+" FROM cases_outbox WHERE case_id = ? ORDER BY created_ms, id"), caseID)
	if err != nil {
		return nil, fmt.Errorf("cases: mails: %w", err)
	}
	defer rows.Close()
	var out []Mail
	for rows.Next() {
		m, err := scanMail(rows)
		if err != nil {
			return nil, fmt.Errorf("cases: mails: %w", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cases: mails: %w", err)
	}
	return out, nil
}

// MailerOptions tune a Mailer; zero values are the documented defaults.
type MailerOptions struct {
	// Interval is how often Run looks for due mail; 5 s.
	Interval time.Duration
	// Batch is the most mails claimed at once; 20.
	Batch int
	// MaxAttempts is how many sends are tried before a mail is marked
	// failed; 8.
	MaxAttempts int
	// Backoff is the wait after the first failure, doubled after each
	// further one; 30 s.
	Backoff time.Duration
	// MaxBackoff caps the wait; 1 h.
	MaxBackoff time.Duration
	// Lease is how long a claimed mail is kept from other workers while it
	// is being sent; 2 min. Sending must finish well within it.
	Lease time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Logger receives failures, which name the mail by its ID (the
	// Sender's error text may still name the address); slog.Default() when
	// nil.
	Logger *slog.Logger
}

// Mailer sends the outbox's due mails through a Sender. Any number of
// Mailers, on any replicas, may run on one outbox.
type Mailer struct {
	outbox Outbox
	sender Sender
	o      MailerOptions
}

// NewMailer returns a Mailer; start it with Run.
func NewMailer(outbox Outbox, sender Sender, o MailerOptions) *Mailer {
	if o.Interval <= 0 {
		o.Interval = 5 * time.Second
	}
	if o.Batch <= 0 {
		o.Batch = 20
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 8
	}
	if o.Backoff <= 0 {
		o.Backoff = 30 * time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = time.Hour
	}
	if o.Lease <= 0 {
		o.Lease = 2 * time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Mailer{outbox: outbox, sender: sender, o: o}
}

// Backoff returns how long to wait after the attempts-th failed attempt.
func (m *Mailer) Backoff(attempts int) time.Duration {
	d := m.o.Backoff
	for i := 1; i < attempts && d < m.o.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, m.o.MaxBackoff)
}

// Run sends due mail every Interval until ctx is done, then returns nil.
// Database and sending failures are logged and retried; they never stop
// it.
func (m *Mailer) Run(ctx context.Context) error {
	t := time.NewTicker(m.o.Interval)
	defer t.Stop()
	for {
		for {
			n, err := m.RunOnce(ctx)
			if err != nil && ctx.Err() == nil {
				m.o.Logger.Error("cases: mailer", "err", err)
			}
			// A full batch means more may be due right away.
			if err != nil || n < m.o.Batch {
				break
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// RunOnce claims one batch of due mail and tries to send each, returning
// how many were claimed.
func (m *Mailer) RunOnce(ctx context.Context) (int, error) {
	mails, err := m.outbox.ClaimMail(ctx, m.o.Now(), m.o.Batch, m.o.Lease)
	if err != nil {
		return 0, err
	}
	var errs []error
	for _, mail := range mails {
		sendErr := m.sender.Send(ctx, mail)
		// The outcome is recorded even when ctx has just ended, or a sent
		// mail would be sent again after the lease.
		rctx := context.WithoutCancel(ctx)
		if sendErr == nil {
			if err := m.outbox.MailSent(rctx, mail.ID, m.o.Now()); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		giveUp := mail.Attempts >= m.o.MaxAttempts
		next := m.o.Now().Add(m.Backoff(mail.Attempts))
		m.o.Logger.Warn("cases: mail not sent", "mail", mail.ID, "attempt", mail.Attempts, "give_up", giveUp, "err", sendErr)
		if err := m.outbox.MailFailed(rctx, mail.ID, sendErr.Error(), next, giveUp); err != nil {
			errs = append(errs, err)
		}
	}
	return len(mails), errors.Join(errs...)
}
