// Package session holds the gateway's server-side state: logged-in sessions,
// logins in flight, the assertion replay cache and shared rate limits. Each
// contract has a memory implementation (civicgate dev only) and a Redis one
// (production, shared by every gateway replica); sessiontest runs the same
// conformance suite against both.
package session

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"time"

	"github.com/civicgate/civicgate/auth"
)

// Errors shared by every backend.
var (
	// ErrNotFound means the session (or flow) is unknown, expired or deleted.
	ErrNotFound = errors.New("session: not found")
	// ErrUnavailable wraps backend failures (Redis down): callers fail closed.
	ErrUnavailable = errors.New("session: store unavailable")
)

// Session is one logged-in browser. The ID is the secret cookie value; backends
// key their records by HashID(ID) and never store the ID itself.
type Session struct {
	// ID is the 256-bit random cookie value. It is never persisted.
	ID string `json:"-"`
	// Identity is who is logged in.
	Identity auth.Identity `json:"identity"`
	// CSRF is the per-session anti-forgery token for forms.
	CSRF string `json:"csrf"`
	// Created is the login time; Expires the absolute end
	// (min(Created+absolute lifetime, IdP's SessionNotOnOrAfter)).
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
	// IdleTimeout ends the session after this long without a request.
	IdleTimeout time.Duration `json:"idle"`
	// LastSeen is updated by Touch (approximately: backends may store it
	// lazily).
	LastSeen time.Time `json:"last_seen"`
	// UserAgent is a short description shown in "my active sessions".
	UserAgent string `json:"ua,omitempty"`
	// ActingFor is set while a contact-centre agent acts on a citizen's behalf.
	ActingFor *ActingFor `json:"acting_for,omitempty"`
}

// ActingFor records that a staff session is acting on behalf of a citizen.
type ActingFor struct {
	PersonalNumber string    `json:"pnr"`
	Name           string    `json:"name,omitempty"`
	Reason         string    `json:"reason"`
	Since          time.Time `json:"since"`
	// Channel is how the citizen reached the contact centre: "phone" or
	// "visit".
	Channel string `json:"channel,omitempty"`
}

// Summary is what "my active sessions" shows: no ID, only its hash.
type Summary struct {
	IDHash    string    `json:"id_hash"`
	Created   time.Time `json:"created"`
	LastSeen  time.Time `json:"last_seen"`
	Expires   time.Time `json:"expires"`
	UserAgent string    `json:"ua,omitempty"`
	IdP       string    `json:"idp"`
	LoA       auth.LoA  `json:"loa"`
}

// Store keeps sessions. Every method is safe for concurrent use; a Delete is
// final: no concurrent Get, Touch or Update may bring the session back.
type Store interface {
	// Get returns the session with this ID and extends its idle timeout
	// (never beyond Expires), atomically: a session deleted concurrently is
	// not resurrected. Extension is lazy: it is written only when the last
	// one is at least min(idle/60, 15 s) old, so a session may end up to that
	// much before idle after the last request, never later. ErrNotFound when
	// unknown, idle-expired or past Expires.
	Get(ctx context.Context, id string) (*Session, error)
	// Put stores a new session (or replaces one, e.g. when the CSRF token
	// changes) with TTL min(IdleTimeout, Expires-now).
	Put(ctx context.Context, s *Session) error
	// Delete removes the session; deleting an unknown ID is not an error.
	Delete(ctx context.Context, id string) error
	// DeleteByIdPSession removes every session that idp's session sid created
	// (OIDC back-channel logout, SAML LogoutRequest).
	DeleteByIdPSession(ctx context.Context, idp, sid string) (int, error)
	// List returns the live sessions of a person (Identity.Key()).
	List(ctx context.Context, personKey string) ([]Summary, error)
	// DeleteByPerson removes every session of a person ("log out everywhere").
	DeleteByPerson(ctx context.Context, personKey string) (int, error)
}

// Flows keeps logins in flight between Begin and Finish. Take is single-use:
// a second Take of the same ID returns ErrNotFound.
type Flows interface {
	Save(ctx context.Context, p auth.Pending, ttl time.Duration) error
	Take(ctx context.Context, id string) (auth.Pending, error)
}

// ReplayCache remembers one-time values (SAML assertion IDs, OIDC jti) until
// they expire, across every replica.
type ReplayCache interface {
	// FirstUse records key until expiry and reports whether it had not been
	// seen before. A false answer means a replay and must be refused.
	FirstUse(ctx context.Context, key string, expiry time.Time) (bool, error)
}

// Limiter is a rate limiter shared by every replica.
type Limiter interface {
	// Allow counts one event for key in a fixed window and reports whether it
	// is within limit; when it is not, retryAfter says when to try again.
	Allow(ctx context.Context, key string, limit int, window time.Duration) (ok bool, retryAfter time.Duration, err error)
}

// Invalidator is optionally implemented by stores with an in-process cache:
// Close stops the background subscription.
type Invalidator interface {
	Close() error
}

// NewID returns a new 256-bit session ID, URL-safe base64.
func NewID() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("session: no randomness: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// HashID returns the key a backend stores a session under: SHA-256 of the ID
// in hex. The ID has 256 bits of entropy, so an unsalted hash is enough to
// make a leaked store useless for hijacking.
func HashID(id string) string {
	h := sha256.Sum256([]byte(id))
	return hex.EncodeToString(h[:])
}

// ValidID reports whether id has the shape NewID produces; anything else is
// refused before it reaches a backend.
func ValidID(id string) bool {
	if len(id) != 43 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// TTL returns how long s may live from now: the idle timeout, capped by the
// absolute expiry. It is zero or negative for an expired session.
func (s *Session) TTL(now time.Time) time.Duration {
	left := s.Expires.Sub(now)
	if s.IdleTimeout > 0 && s.IdleTimeout < left {
		return s.IdleTimeout
	}
	return left
}
