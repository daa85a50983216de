package audit

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/civicgate/civicgate/auth"
)

// Entry is one stored audit entry as read back from the log. Persons appear
// only as pseudonyms: SubjectHMAC is HMAC-SHA256(key, subject) in hex, and an
// Actor that was a person key reads "hmac:" followed by the same kind of
// pseudonym.
type Entry struct {
	Seq         int64             `json:"seq"`          // position in the chain, 1 for the first entry, without gaps
	Time        time.Time         `json:"time"`         // UTC, millisecond precision
	RequestID   string            `json:"request_id"`   // the request that caused it
	Actor       string            `json:"actor"`        // "system", "staff:<idp>:<sub>" or "hmac:<hex>" for a person
	ActorRole   string            `json:"actor_role"`   // as given in the Event
	SubjectHMAC string            `json:"subject_hmac"` // empty when the event concerned no person
	Action      string            `json:"action"`       // as given in the Event
	Resource    string            `json:"resource"`     // as given, personal identity numbers pseudonymised
	Outcome     string            `json:"outcome"`      // Success, Failure or Denied
	Detail      map[string]string `json:"detail"`       // as given, personal identity numbers pseudonymised
	PrevHash    string            `json:"prev_hash"`    // Hash of entry Seq-1; GenesisHash for the first entry
	Hash        string            `json:"hash"`         // SHA-256 over the canonical encoding of all fields above
}

// GenesisHash is the PrevHash of the first entry: 64 zeros.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// hashDomain starts every hashed encoding so that a hash of an audit entry
// can never be mistaken for the hash of anything else, and so that a future
// encoding can be told apart by its version.
const hashDomain = "civicgate.audit.entry.v1"

// ComputeHash returns the hash e should carry: hex SHA-256 over the
// length-prefixed fields of e in a fixed order (seq, time in Unix
// milliseconds, request ID, actor, actor role, subject HMAC, action,
// resource, outcome, detail as JSON with sorted keys, previous hash). Every
// field is preceded by its length as 8 big-endian bytes, so no two different
// entries share an encoding. External tools can recompute it to check an
// exported log.
func ComputeHash(e Entry) string {
	return hashFields(e.Seq, e.Time.UnixMilli(), e.RequestID, e.Actor, e.ActorRole, e.SubjectHMAC,
		e.Action, e.Resource, e.Outcome, detailJSON(e.Detail), e.PrevHash)
}

// row is an entry as stored, with the detail kept as the exact stored text
// so that Verify hashes what is in the database, not a re-encoding of it.
type row struct {
	seq                                                                         int64
	timeMS                                                                      int64
	requestID, actor, actorRole, subjectHMAC, action, resource, outcome, detail string
	prevHash, hash                                                              string
}

func (r *row) computeHash(seq int64) string {
	return hashFields(seq, r.timeMS, r.requestID, r.actor, r.actorRole, r.subjectHMAC,
		r.action, r.resource, r.outcome, r.detail, r.prevHash)
}

func (r *row) entry() Entry {
	e := Entry{
		Seq: r.seq, Time: time.UnixMilli(r.timeMS).UTC(), RequestID: r.requestID,
		Actor: r.actor, ActorRole: r.actorRole, SubjectHMAC: r.subjectHMAC,
		Action: r.action, Resource: r.resource, Outcome: r.outcome,
		PrevHash: r.prevHash, Hash: r.hash,
	}
	// A detail that no longer parses was tampered with; Verify reports
	// that, so reading it back shows what can be shown rather than failing.
	if json.Unmarshal([]byte(r.detail), &e.Detail) != nil {
		e.Detail = map[string]string{"_unreadable": r.detail}
	}
	return e
}

func hashFields(seq, timeMS int64, fields ...string) string {
	h := sha256.New()
	var n [8]byte
	put := func(s string) {
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	put(hashDomain)
	put(strconv.FormatInt(seq, 10))
	put(strconv.FormatInt(timeMS, 10))
	for _, f := range fields {
		put(f)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// detailJSON encodes d with sorted keys (encoding/json sorts map keys); nil
// and empty maps both encode as "{}".
func detailJSON(d map[string]string) string {
	if len(d) == 0 {
		return "{}"
	}
	b, err := json.Marshal(d)
	if err != nil {
		// A map of strings always encodes; keep the entry rather than
		// losing it over an impossible error.
		return "{}"
	}
	return string(b)
}

// pseudonymizer turns person keys into keyed pseudonyms.
type pseudonymizer struct{ key []byte }

// subject returns HMAC-SHA256(key, normalised subject) in hex, or "" for an
// empty subject.
func (p pseudonymizer) subject(s string) string {
	s = normalizePersonKey(s)
	if s == "" {
		return ""
	}
	m := hmac.New(sha256.New, p.key)
	m.Write([]byte(s))
	return hex.EncodeToString(m.Sum(nil))
}

// actor keeps "system" and staff keys in clear, since staff act in their
// role and must be accountable by name, and pseudonymises everything else:
// an actor that is not known to be staff or the system is treated as a
// person, so that an unexpected key form cannot put a personnummer in clear.
func (p pseudonymizer) actor(a string) string {
	switch {
	case a == "", a == "system", strings.HasPrefix(a, "staff:"):
		return a
	}
	return "hmac:" + p.subject(a)
}

// personNumberLike matches what could be a personnummer or
// samordningsnummer written into free text: 12 digits (YYYYMMDDNNNC,
// optionally with a separator before the last four) or 10 digits with a
// separator (YYMMDD-NNNC). Digit runs that are part of longer numbers are
// left alone by the boundary checks in scrub.
var personNumberLike = regexp.MustCompile(`\d{8}[-+]?\d{4}|\d{6}[-+]\d{4}`)

// scrub replaces anything in s that looks like a personal identity number
// with its pseudonym, so that a careless Resource or Detail value cannot put
// one in the log in clear. False positives only cost readability.
func (p pseudonymizer) scrub(s string) string {
	idx := personNumberLike.FindAllStringIndex(s, -1)
	if idx == nil {
		return s
	}
	var b strings.Builder
	last := 0
	for _, m := range idx {
		start, end := m[0], m[1]
		// Only a whole token that is a valid number (date and check digit)
		// counts: random identifiers (hex IDs) often hold long digit runs.
		if (start > 0 && isAlnum(s[start-1])) || (end < len(s) && isAlnum(s[end])) {
			continue
		}
		if _, err := auth.ParsePersonalNumber(s[start:end], time.Now()); err != nil {
			continue
		}
		b.WriteString(s[last:start])
		b.WriteString("hmac:")
		b.WriteString(p.subject(s[start:end])[:16])
		last = end
	}
	b.WriteString(s[last:])
	return b.String()
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isAlnum(c byte) bool {
	return isDigit(c) || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// normalizePersonKey trims spaces and writes a 12-digit personnummer given
// as "YYYYMMDD-NNNC" or "YYYYMMDD+NNNC" as its 12 digits, so that the same
// person gets the same pseudonym however the number was written.
func normalizePersonKey(s string) string {
	s = strings.TrimSpace(s)
	if len(s) == 13 && (s[8] == '-' || s[8] == '+') && allDigits(s[:8]) && allDigits(s[9:]) {
		return s[:8] + s[9:]
	}
	return s
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return s != ""
}
