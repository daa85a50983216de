// Package audit is the gateway's tamper-evident audit log: every entry carries
// the hash of the one before it, so a changed, deleted, inserted or reordered
// entry is found by Verify.
package audit

import (
	"context"
	"errors"
	"time"
)

// Outcome of an audited action.
const (
	Success = "success"
	Failure = "failure"
	Denied  = "denied"
)

// Event is one audited action. Subject is the personnummer (or other person
// key) the action concerns in clear: the Logger stores only a keyed
// pseudonym of it (HMAC), never the number itself.
type Event struct {
	Time      time.Time         // set by the Logger when zero
	RequestID string            // the request that caused it
	Actor     string            // who acted: a person key, "staff:<idp>:<sub>", or "system"
	ActorRole string            // e.g. "citizen", "guardian", "contact-centre", "building-handler"
	Subject   string            // whose data it concerns (pseudonymised on write)
	Action    string            // e.g. "login", "login.failed", "logout", "case.viewed"
	Resource  string            // e.g. "case:BYGG-2026-000123", "idp:freja"
	Outcome   string            // Success, Failure or Denied
	Detail    map[string]string // short, non-personal details (error code, LoA, IdP)
}

// Logger records events. Record is durable when it returns nil; callers fail
// closed when it returns an error.
type Logger interface {
	Record(ctx context.Context, e Event) error
}

// ErrUnavailable wraps storage failures.
var ErrUnavailable = errors.New("audit: log unavailable")
