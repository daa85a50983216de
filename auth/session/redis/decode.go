package redisstore

import (
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/civicgate/civicgate/auth"
	"github.com/civicgate/civicgate/auth/session"
)

// decodeSession decodes a session record as json.Unmarshal would, into a
// zeroed out. Every request decodes its session, and encoding/json's
// reflection costs several times the rest of the client's work on a Get, so
// the records Put writes (json.Marshal of a session.Session: known keys in
// any order, no escapes, no nulls, no whitespace) take a direct path that
// keeps the strings as substrings of data and allocates almost nothing.
// Anything else, such as a key added to the struct but not to the direct
// path, or a string json.Marshal had to escape, falls back to
// json.Unmarshal, so the result never depends on which path ran; only the
// cost does. TestDecodeKnowsEveryField fails when a new field would push
// every record onto the slow path.
func decodeSession(data string, out *session.Session) error {
	*out = session.Session{}
	d := decoder{s: data}
	if d.session(out) && d.i == len(d.s) {
		return nil
	}
	*out = session.Session{}
	return json.Unmarshal([]byte(data), out)
}

// decoder reads the subset of JSON that json.Marshal writes for a session.
// Each method reports false on anything outside that subset.
type decoder struct {
	s string
	i int
}

func (d *decoder) next(c byte) bool {
	if d.i < len(d.s) && d.s[d.i] == c {
		d.i++
		return true
	}
	return false
}

// object reads {"key":value,...}, calling field after each key with the
// decoder positioned at the value.
func (d *decoder) object(field func(key string) bool) bool {
	if !d.next('{') {
		return false
	}
	if d.next('}') {
		return true
	}
	for {
		k, ok := d.str()
		if !ok || !d.next(':') || !field(k) {
			return false
		}
		if d.next('}') {
			return true
		}
		if !d.next(',') {
			return false
		}
	}
}

// str reads a string without escapes. Escapes and control characters are
// left to encoding/json, as is invalid UTF-8 (which it replaces).
func (d *decoder) str() (string, bool) {
	if !d.next('"') {
		return "", false
	}
	start := d.i
	ascii := true
	for ; d.i < len(d.s); d.i++ {
		switch c := d.s[d.i]; {
		case c == '"':
			v := d.s[start:d.i]
			d.i++
			if !ascii && !utf8.ValidString(v) {
				return "", false
			}
			return v, true
		case c == '\\' || c < 0x20:
			return "", false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return "", false
}

func (d *decoder) time(t *time.Time) bool {
	v, ok := d.str()
	return ok && t.UnmarshalText([]byte(v)) == nil
}

func (d *decoder) int64(n *int64) bool {
	start := d.i
	if d.i < len(d.s) && d.s[d.i] == '-' {
		d.i++
	}
	digits := d.i
	for d.i < len(d.s) && d.s[d.i] >= '0' && d.s[d.i] <= '9' {
		d.i++
	}
	// JSON allows no leading zeros; fractions and exponents are not ours.
	if d.i == digits || d.s[digits] == '0' && d.i-digits > 1 {
		return false
	}
	v, err := strconv.ParseInt(d.s[start:d.i], 10, 64)
	*n = v
	return err == nil
}

func (d *decoder) bool(b *bool) bool {
	switch {
	case len(d.s)-d.i >= 4 && d.s[d.i:d.i+4] == "true":
		d.i += 4
		*b = true
	case len(d.s)-d.i >= 5 && d.s[d.i:d.i+5] == "false":
		d.i += 5
		*b = false
	default:
		return false
	}
	return true
}

func (d *decoder) strings(out *[]string) bool {
	if !d.next('[') {
		return false
	}
	// json.Unmarshal turns [] into an empty, non-nil slice.
	list := make([]string, 0, 4)
	if !d.next(']') {
		for {
			v, ok := d.str()
			if !ok {
				return false
			}
			list = append(list, v)
			if d.next(']') {
				break
			}
			if !d.next(',') {
				return false
			}
		}
	}
	*out = list
	return true
}

func (d *decoder) setStr(p *string) bool {
	v, ok := d.str()
	*p = v
	return ok
}

func (d *decoder) session(s *session.Session) bool {
	return d.object(func(k string) bool {
		switch k {
		case "identity":
			return d.identity(&s.Identity)
		case "csrf":
			return d.setStr(&s.CSRF)
		case "created":
			return d.time(&s.Created)
		case "expires":
			return d.time(&s.Expires)
		case "idle":
			var n int64
			ok := d.int64(&n)
			s.IdleTimeout = time.Duration(n)
			return ok
		case "last_seen":
			return d.time(&s.LastSeen)
		case "ua":
			return d.setStr(&s.UserAgent)
		case "acting_for":
			// A repeated key fills the same struct, as encoding/json does.
			if s.ActingFor == nil {
				s.ActingFor = new(session.ActingFor)
			}
			return d.actingFor(s.ActingFor)
		}
		return false
	})
}

func (d *decoder) identity(id *auth.Identity) bool {
	return d.object(func(k string) bool {
		switch k {
		case "kind":
			v, ok := d.str()
			id.Kind = auth.Kind(v)
			return ok
		case "pnr":
			return d.setStr(&id.PersonalNumber)
		case "coord":
			return d.bool(&id.CoordinationNumber)
		case "prid":
			return d.setStr(&id.PRID)
		case "sub":
			return d.setStr(&id.Subject)
		case "given":
			return d.setStr(&id.GivenName)
		case "family":
			return d.setStr(&id.FamilyName)
		case "display":
			return d.setStr(&id.DisplayName)
		case "dob":
			return d.setStr(&id.DateOfBirth)
		case "email":
			return d.setStr(&id.Email)
		case "loa":
			v, ok := d.str()
			return ok && loa(v, &id.LoA)
		case "loa_uri":
			return d.setStr(&id.LoAURI)
		case "idp":
			return d.setStr(&id.IdP)
		case "method":
			return d.setStr(&id.Method)
		case "auth_time":
			return d.time(&id.AuthTime)
		case "roles":
			return d.strings(&id.Roles)
		case "sid":
			return d.setStr(&id.SessionIndex)
		case "not_on_or_after":
			return d.time(&id.NotOnOrAfter)
		case "nameid_format":
			return d.setStr(&id.NameIDFormat)
		case "txn":
			return d.setStr(&id.TransactionID)
		}
		return false
	})
}

// loa is auth.LoA's UnmarshalText without the conversion to bytes for the
// names MarshalText writes.
func loa(v string, l *auth.LoA) bool {
	switch v {
	case "none":
		*l = auth.LoANone
	case "low":
		*l = auth.LoALow
	case "substantial":
		*l = auth.LoASubstantial
	case "high":
		*l = auth.LoAHigh
	default:
		return l.UnmarshalText([]byte(v)) == nil
	}
	return true
}

func (d *decoder) actingFor(a *session.ActingFor) bool {
	return d.object(func(k string) bool {
		switch k {
		case "pnr":
			return d.setStr(&a.PersonalNumber)
		case "name":
			return d.setStr(&a.Name)
		case "reason":
			return d.setStr(&a.Reason)
		case "since":
			return d.time(&a.Since)
		case "channel":
			return d.setStr(&a.Channel)
		}
		return false
	})
}
