package auth

import (
	"context"
	"time"
)

// Kind says whether an identity is a citizen (e-ID) or municipal staff
// (workforce IdP).
type Kind string

// The kinds of identity.
const (
	Citizen Kind = "citizen"
	Staff   Kind = "staff"
)

// Identity is who is logged in. It holds only what the gateway needs; it
// never holds tokens or SAML XML.
type Identity struct {
	Kind Kind `json:"kind"`
	// PersonalNumber is the 12-digit personnummer or samordningsnummer,
	// validated. Empty for staff and for non-residents without one.
	PersonalNumber string `json:"pnr,omitempty"`
	// CoordinationNumber is true when PersonalNumber is a samordningsnummer.
	CoordinationNumber bool `json:"coord,omitempty"`
	// PRID is the eIDAS provisional identifier for foreign e-ID users.
	PRID string `json:"prid,omitempty"`
	// Subject is the IdP's subject (OIDC sub, SAML NameID): a pairwise
	// pseudonym kept for logout, never used as the user key.
	Subject     string `json:"sub,omitempty"`
	GivenName   string `json:"given,omitempty"`
	FamilyName  string `json:"family,omitempty"`
	DisplayName string `json:"display,omitempty"`
	DateOfBirth string `json:"dob,omitempty"`
	Email       string `json:"email,omitempty"`
	LoA         LoA    `json:"loa"`
	// LoAURI is the exact authentication context the IdP asserted.
	LoAURI string `json:"loa_uri,omitempty"`
	// IdP is the configured provider name, Method its protocol ("saml", "oidc").
	IdP    string `json:"idp"`
	Method string `json:"method"`
	// AuthTime is when the person authenticated at the IdP.
	AuthTime time.Time `json:"auth_time"`
	// Roles are staff roles mapped from the workforce IdP's groups.
	Roles []string `json:"roles,omitempty"`
	// SessionIndex is the IdP session (SAML SessionIndex, OIDC sid) used to
	// end gateway sessions on back-channel logout.
	SessionIndex string `json:"sid,omitempty"`
	// NotOnOrAfter caps the session when the IdP limits it
	// (SAML SessionNotOnOrAfter); zero means no cap.
	NotOnOrAfter time.Time `json:"not_on_or_after,omitzero"`
	// NameIDFormat and NameIDQualifiers are kept for SAML single logout.
	NameIDFormat string `json:"nameid_format,omitempty"`
	// TransactionID is the IdP's transaction identifier for support cases.
	TransactionID string `json:"txn,omitempty"`
}

// Name returns the name to greet the person with.
func (id Identity) Name() string {
	if id.DisplayName != "" {
		return id.DisplayName
	}
	switch {
	case id.GivenName != "" && id.FamilyName != "":
		return id.GivenName + " " + id.FamilyName
	case id.GivenName != "":
		return id.GivenName
	default:
		return id.FamilyName
	}
}

// Key returns the stable key of a person: the personnummer for residents,
// "prid:<prid>" for eIDAS users, and "staff:<idp>:<sub>" for staff. It is
// empty when the identity has none, which must then be refused.
func (id Identity) Key() string {
	switch {
	case id.Kind == Staff && id.Subject != "":
		return "staff:" + id.IdP + ":" + id.Subject
	case id.Kind == Staff:
		// Never fall back to a personnummer: a staff key must not collide
		// with a citizen's.
		return ""
	case id.PersonalNumber != "":
		return id.PersonalNumber
	case id.PRID != "":
		return "prid:" + id.PRID
	}
	return ""
}

// HasRole reports whether a staff identity holds role.
func (id Identity) HasRole(role string) bool {
	for _, r := range id.Roles {
		if r == role {
			return true
		}
	}
	return false
}

type identityKey struct{}

// WithIdentity returns a context carrying id.
func WithIdentity(ctx context.Context, id *Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// FromContext returns the logged-in identity, or nil for an anonymous request.
func FromContext(ctx context.Context) *Identity {
	id, _ := ctx.Value(identityKey{}).(*Identity)
	return id
}
