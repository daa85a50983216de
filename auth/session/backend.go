package session

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// ReplayGrace is how long past its expiry a ReplayCache keeps a one-time
// value. Validators accept assertions and tokens up to about a minute past
// their NotOnOrAfter (clock skew between us and the IdP), so forgetting the
// value exactly at expiry would open a minute-long replay window.
const ReplayGrace = time.Minute

// HashPersonKey returns the name under which backends index the sessions of
// a person (Identity.Key()). A personnummer must never appear in clear in a
// key name, which shows up in monitoring and slow logs. The hash is domain
// separated so it cannot be confused with a session hash; it pseudonymises
// key names only, since the session record itself holds the identity.
func HashPersonKey(personKey string) string {
	return hashParts("civicgate person", personKey)
}

// HashIdPSession returns the name under which backends index the sessions
// that one IdP session (idp, SAML SessionIndex or OIDC sid) created.
func HashIdPSession(idp, sid string) string {
	return hashParts("civicgate idp session", idp, sid)
}

// HashKey returns a fixed-length name for an arbitrary caller-supplied key
// (a flow ID, an assertion ID, a rate-limit key) in the given domain, so
// that long or personal values never become key names.
func HashKey(domain, key string) string {
	return hashParts(domain, key)
}

// hashParts hashes NUL-separated parts; none of the inputs can contain NUL
// in practice, and the separator keeps ("ab","c") apart from ("a","bc").
func hashParts(parts ...string) string {
	h := sha256.New()
	for i, p := range parts {
		if i > 0 {
			h.Write([]byte{0})
		}
		h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// SummaryOf returns what "my active sessions" shows about s, stored under
// idHash (HashID of its ID; backends no longer know the ID itself).
func SummaryOf(idHash string, s *Session) Summary {
	return Summary{
		IDHash:    idHash,
		Created:   s.Created,
		LastSeen:  s.LastSeen,
		Expires:   s.Expires,
		UserAgent: s.UserAgent,
		IdP:       s.Identity.IdP,
		LoA:       s.Identity.LoA,
	}
}

// Window returns the fixed rate-limit window that now falls in: its number
// (counted from the Unix epoch, so every replica with a synchronised clock
// agrees on it) and the instant it ends. window must be at least a
// millisecond.
func Window(now time.Time, window time.Duration) (n int64, end time.Time) {
	w := window.Milliseconds()
	n = now.UnixMilli() / w
	return n, time.UnixMilli((n + 1) * w)
}

// MaxIdleSlack bounds IdleSlack; it is also the slack for a session without
// an idle timeout, whose last-seen time is only shown to its owner.
const MaxIdleSlack = 15 * time.Second

// IdleSlack is how long after a session's last idle extension a Get leaves
// the idle expiry where it is: min(idle/60, MaxIdleSlack), in whole
// milliseconds. Within the slack a Get is a read instead of a write; the
// price is that an idle session ends idle after its last extension, up to
// the slack earlier than idle after the last request, never later. Every
// backend uses this rule (the Redis script computes the same in Lua), and
// the gateway shortens the idle warning's countdown by it.
func IdleSlack(idle time.Duration) time.Duration {
	if idle <= 0 {
		return MaxIdleSlack
	}
	return min((idle / 60).Truncate(time.Millisecond), MaxIdleSlack)
}
