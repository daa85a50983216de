package auth

import (
	"fmt"
	"strings"
)

// LoA is a level of assurance. Levels are ordered: a higher value satisfies
// every requirement that a lower one does.
type LoA int

// The levels of assurance of the Swedish eID framework.
const (
	LoANone        LoA = iota
	LoALow             // loa2
	LoASubstantial     // loa3, eIDAS substantial
	LoAHigh            // loa4, eIDAS high
)

// String returns the short, stable name used in configuration and logs.
func (l LoA) String() string {
	switch l {
	case LoALow:
		return "low"
	case LoASubstantial:
		return "substantial"
	case LoAHigh:
		return "high"
	default:
		return "none"
	}
}

// ParseLoA reads a level from configuration: "none", "low", "substantial",
// "high", or the Swedish names "loa2", "loa3", "loa4".
func ParseLoA(s string) (LoA, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "none", "":
		return LoANone, nil
	case "low", "loa2":
		return LoALow, nil
	case "substantial", "loa3":
		return LoASubstantial, nil
	case "high", "loa4":
		return LoAHigh, nil
	}
	return LoANone, fmt.Errorf("auth: unknown level of assurance %q (want none, low, substantial or high)", s)
}

// MarshalText implements encoding.TextMarshaler.
func (l LoA) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (l *LoA) UnmarshalText(b []byte) error {
	v, err := ParseLoA(string(b))
	if err != nil {
		return err
	}
	*l = v
	return nil
}

// Authentication context URIs of the Swedish eID framework (Registry for
// identifiers) and the eIDAS connector.
const (
	URILoA2               = "http://id.elegnamnden.se/loa/1.0/loa2"
	URILoA3               = "http://id.elegnamnden.se/loa/1.0/loa3"
	URILoA4               = "http://id.elegnamnden.se/loa/1.0/loa4"
	URIUncertifiedLoA3    = "http://id.swedenconnect.se/loa/1.0/uncertified-loa3"
	URILoA3NonResident    = "http://id.swedenconnect.se/loa/1.0/loa3-nonresident"
	URIEidasLow           = "http://id.elegnamnden.se/loa/1.0/eidas-low"
	URIEidasNfLow         = "http://id.elegnamnden.se/loa/1.0/eidas-nf-low"
	URIEidasSubstantial   = "http://id.elegnamnden.se/loa/1.0/eidas-sub"
	URIEidasNfSubstantial = "http://id.elegnamnden.se/loa/1.0/eidas-nf-sub"
	URIEidasHigh          = "http://id.elegnamnden.se/loa/1.0/eidas-high"
	URIEidasNfHigh        = "http://id.elegnamnden.se/loa/1.0/eidas-nf-high"
)

// loaURIs lists every known URI with the level it proves, in the order they
// are requested (strongest Swedish first).
var loaURIs = []struct {
	uri         string
	loa         LoA
	uncertified bool
}{
	{URILoA4, LoAHigh, false},
	{URILoA3, LoASubstantial, false},
	{URIEidasHigh, LoAHigh, false},
	{URIEidasNfHigh, LoAHigh, false},
	{URIEidasSubstantial, LoASubstantial, false},
	{URIEidasNfSubstantial, LoASubstantial, false},
	{URILoA3NonResident, LoASubstantial, false},
	{URIUncertifiedLoA3, LoASubstantial, true},
	{URILoA2, LoALow, false},
	{URIEidasLow, LoALow, false},
	{URIEidasNfLow, LoALow, false},
}

// LoAFromURI returns the level an authentication context URI proves, and
// false for a URI that is not known (which must then be refused).
func LoAFromURI(uri string) (LoA, bool) {
	for _, u := range loaURIs {
		if u.uri == uri {
			return u.loa, true
		}
	}
	return LoANone, false
}

// URIOptions says which URIs a provider may be asked for.
type URIOptions struct {
	// AcceptUncertified lets uncertified-loa3 satisfy "substantial".
	AcceptUncertified bool
	// NonResident lets loa3-nonresident (no personnummer) satisfy "substantial".
	NonResident bool
}

// URIsAtLeast lists every URI whose level is at least min: SAML has no
// "minimum" comparison, so the request names every acceptable context and the
// response is checked against the same list.
func URIsAtLeast(min LoA, o URIOptions) []string {
	var out []string
	for _, u := range loaURIs {
		if u.loa < min {
			continue
		}
		if u.uncertified && !o.AcceptUncertified {
			continue
		}
		if u.uri == URILoA3NonResident && !o.NonResident {
			continue
		}
		out = append(out, u.uri)
	}
	return out
}

// IsNonResidentURI reports whether the context is given to people without a
// Swedish personal identity number.
func IsNonResidentURI(uri string) bool { return uri == URILoA3NonResident }
