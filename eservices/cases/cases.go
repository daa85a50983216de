package cases

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/civicgate/civicgate/gateway/audit"
)

// Status is where a case stands.
type Status string

// The statuses of a case. Draft is a saved application not yet submitted:
// it has no case number and is invisible to handlers' statistics.
const (
	Draft              Status = "draft"
	Received           Status = "received"
	InProgress         Status = "in_progress"
	AwaitingSupplement Status = "awaiting_supplement"
	Decided            Status = "decided"
	Closed             Status = "closed"
)

// Open reports whether a case in status s still awaits a decision.
func (s Status) Open() bool {
	return s == Received || s == InProgress || s == AwaitingSupplement
}

// Channel is how a case reached the municipality.
type Channel string

// The channels. Phone and Visit are cases a contact-centre agent registers
// on a citizen's behalf.
const (
	EService Channel = "e-service"
	Phone    Channel = "phone"
	Visit    Channel = "visit"
)

// Direction says who a message is from and who may read it.
type Direction string

// The directions of a message. Internal notes are never shown to the
// citizen.
const (
	ToHandler Direction = "citizen_to_handler"
	ToCitizen Direction = "handler_to_citizen"
	Internal  Direction = "internal"
)

// Actor is who makes a change and in which request; every mutating method
// takes one and writes it to the audit log.
type Actor struct {
	// Key is the person key (personnummer, "prid:…") or "staff:<idp>:<sub>",
	// or "system" for the gateway's own jobs. Required.
	Key string
	// Role is the role acted in: "citizen", "guardian", "contact-centre",
	// "building-handler", "system".
	Role string
	// RequestID ties the audit entry to the request log.
	RequestID string
}

// Case is one matter. Optional timestamps are zero when the event has not
// happened.
type Case struct {
	ID string
	// Number is the readable case number, "PREFIX-YYYY-NNNNNN"; empty for
	// drafts.
	Number   string
	ModuleID string
	Prefix   string
	// Owner is the citizen whose case it is, Subject the person it concerns
	// (a guardian reports for a child). Both are person keys; both are empty
	// once the case has been purged.
	Owner, Subject string
	Channel        Channel
	// CreatedBy and CreatedByRole are the actor that created the case: the
	// citizen, or the contact-centre agent acting for them.
	CreatedBy, CreatedByRole string
	// Title is a summary line meant for lists; modules must keep personal
	// identity numbers out of it.
	Title string
	// Content is the module's own JSON document.
	Content json.RawMessage
	Status  Status

	CreatedAt       time.Time
	UpdatedAt       time.Time
	SubmittedAt     time.Time
	FirstResponseAt time.Time // the first handler action after submission
	DecidedAt       time.Time
	ClosedAt        time.Time
	PurgedAt        time.Time // content erased; only the statistics stub is left

	// History is filled by Get and GetByNumber, oldest first; lists leave it
	// empty.
	History []HistoryEntry
}

// HistoryEntry is one change of status.
type HistoryEntry struct {
	From, To  Status // From is empty for the first entry
	Actor     string
	ActorRole string
	Note      string
	Time      time.Time
}

// Message is one message on a case.
type Message struct {
	ID        string
	CaseID    string
	From      string // the sender's person key or staff key
	Direction Direction
	Body      string
	Time      time.Time
	ReadAt    time.Time // zero while unread
}

// Read reports whether the message has been read by its recipient.
func (m Message) Read() bool { return !m.ReadAt.IsZero() }

// Attachment is the metadata of one file attached to a case; the bytes are
// in a BlobStore under BlobKey.
type Attachment struct {
	ID     string
	CaseID string
	// Name is the sanitised original file name, for display only: it is
	// never used as a path.
	Name        string
	ContentType string
	Size        int64
	SHA256      string // hex
	BlobKey     string
	UploadedBy  string
	Time        time.Time
	// Supplement marks a file sent in answer to a request for supplement.
	Supplement bool
}

// NewCase is what a module submits.
type NewCase struct {
	// ModuleID is the registered ID of the module owning the case. Required.
	ModuleID string
	// Prefix starts the case number: 2–8 upper-case letters A–Z. Required.
	Prefix string
	// Owner is the citizen's person key. Required.
	Owner string
	// Subject is the person the case concerns; Owner when empty.
	Subject string
	// Channel defaults to EService.
	Channel Channel
	// Title is the summary line, at most MaxTitleLen characters. Required.
	Title string
	// Content is a JSON object; "{}" when empty.
	Content json.RawMessage
	// NotifyEmail receives the confirmation mail; when empty the outbox
	// records that there was no address and nothing is sent.
	NotifyEmail string
}

// DraftUpdate replaces a draft's title and content.
type DraftUpdate struct {
	Title   string
	Content json.RawMessage
}

// NewMessage is a message to add to a case.
type NewMessage struct {
	Direction Direction
	Body      string // at most MaxMessageLen characters
}

// NewAttachment is the metadata of a file already put in a BlobStore.
type NewAttachment struct {
	Name        string
	ContentType string
	Size        int64
	SHA256      string
	BlobKey     string
	Supplement  bool
}

// Filter narrows ListByModule.
type Filter struct {
	// Statuses keeps cases in one of them; all but drafts when empty.
	Statuses []Status
	// Limit caps the result (newest first); DefaultListLimit when zero,
	// at most MaxListLimit.
	Limit int
}

// Limits on what the store accepts.
const (
	MaxTitleLen       = 200
	MaxMessageLen     = 20000
	MaxContentBytes   = 1 << 20
	DefaultListLimit  = 100
	MaxListLimit      = 1000
	DefaultMaxAttachm = 20
)

// Store is what e-service modules and the contact centre use to keep
// cases. Every method that changes something takes the Actor and writes
// the change and its audit entry in one transaction.
type Store interface {
	// Create submits a new case: it allocates the case number, and writes
	// the case, its first history entry (Received), the confirmation mail
	// in the outbox and the audit entry at once.
	Create(ctx context.Context, c NewCase, by Actor) (*Case, error)
	// SaveDraft stores an application without submitting it: no number,
	// no mail.
	SaveDraft(ctx context.Context, c NewCase, by Actor) (*Case, error)
	// UpdateDraft replaces a draft's title and content; ErrConflict when
	// the case is no longer a draft.
	UpdateDraft(ctx context.Context, id string, u DraftUpdate, by Actor) (*Case, error)
	// SubmitDraft submits a draft as Create submits a new case.
	SubmitDraft(ctx context.Context, id, notifyEmail string, by Actor) (*Case, error)

	// Get and GetByNumber return a case with its history; ErrNotFound when
	// there is none.
	Get(ctx context.Context, id string) (*Case, error)
	GetByNumber(ctx context.Context, number string) (*Case, error)
	// ListByOwner and ListBySubject return a person's cases, drafts
	// included, newest first.
	ListByOwner(ctx context.Context, owner string) ([]Case, error)
	ListBySubject(ctx context.Context, subject string) ([]Case, error)
	// ListByModule returns a module's submitted cases, newest first.
	ListByModule(ctx context.Context, moduleID string, f Filter) ([]Case, error)

	// SetStatus moves a case to status to, with an optional note;
	// ErrConflict when the transition is not allowed (see CanTransition).
	SetStatus(ctx context.Context, id string, to Status, note string, by Actor) (*Case, error)
	// AddMessage adds a message from by; ErrConflict on drafts and closed
	// cases.
	AddMessage(ctx context.Context, caseID string, m NewMessage, by Actor) (*Message, error)
	// Messages returns a case's messages, oldest first, internal notes
	// included.
	Messages(ctx context.Context, caseID string) ([]Message, error)
	// MarkRead marks the unread messages of direction dir read.
	MarkRead(ctx context.Context, caseID string, dir Direction, by Actor) error
	// AddAttachment records a file already in the BlobStore; ErrConflict
	// when the case has its maximum number of attachments or is closed.
	AddAttachment(ctx context.Context, caseID string, a NewAttachment, by Actor) (*Attachment, error)
	// Attachments returns a case's attachments, oldest first.
	Attachments(ctx context.Context, caseID string) ([]Attachment, error)
}

// TxAuditor writes an audit entry inside the caller's transaction;
// *audit.SQL is one.
type TxAuditor interface {
	RecordTx(ctx context.Context, tx *sql.Tx, e audit.Event) error
}

var _ TxAuditor = (*audit.SQL)(nil)

// Sentinel errors, compared with errors.Is.
var (
	ErrNotFound = errors.New("cases: not found")
	ErrConflict = errors.New("cases: conflict")
	ErrInvalid  = errors.New("cases: invalid")
)

// FieldError names one invalid field.
type FieldError struct {
	Field   string // e.g. "title", "owner"
	Problem string // e.g. "required"
}

// ValidationError lists every invalid field of a request. It matches
// ErrInvalid with errors.Is. Its text names fields and problems only,
// never the values, which may be personal data.
type ValidationError struct {
	Fields []FieldError
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Field + ": " + f.Problem
	}
	return "cases: invalid: " + strings.Join(parts, "; ")
}

// Is makes errors.Is(err, ErrInvalid) true.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

type problems []FieldError

func (p *problems) add(field, problem string) {
	*p = append(*p, FieldError{Field: field, Problem: problem})
}

func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	return &ValidationError{Fields: p}
}
