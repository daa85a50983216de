package remote

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/civicgate/civicgate/auth"
)

// TokenType is the JWT "typ" header of an identity assertion. A module
// refuses any other type, so a JWT the gateway signs for another purpose
// can never pass as an assertion.
const TokenType = "civicgate-assertion+jwt"

// Header names the gateway sets on requests to a remote module.
const (
	HeaderAssertion = "Civicgate-Assertion"
	HeaderRequestID = "Civicgate-Request-Id"
	HeaderCSRFToken = "Civicgate-Csrf-Token"
)

// JWKSPath is where the gateway publishes its assertion keys, relative to
// its public URL.
const JWKSPath = "/.well-known/civicgate-jwks.json"

// Lifetime is how long an assertion is valid. A longer lifetime would
// only widen the window for replaying a leaked assertion.
const Lifetime = 60 * time.Second

// ReuseWindow is how long after signing the gateway sends the same
// assertion again (modules without bind_request): half the lifetime, so a
// module always receives an assertion with at least 30 seconds left, room
// for clock skew and a slow request.
const ReuseWindow = Lifetime / 2

// Default channels of an assertion; the gateway may name others (the
// contact centre's "phone" and "visit").
const (
	ChannelEService      = "e-service"      // a citizen online
	ChannelContactCentre = "contact-centre" // an agent, channel not given
	ChannelStaff         = "staff"          // staff handling cases
)

// Assertion is the claims set of an identity assertion, as the package doc
// describes it. The JSON names are the wire contract.
type Assertion struct {
	Issuer    string `json:"iss"`
	Audience  string `json:"aud"`
	IssuedAt  int64  `json:"iat"`
	NotBefore int64  `json:"nbf"`
	Expiry    int64  `json:"exp"`
	ID        string `json:"jti"`
	// Method and Target bind the assertion to one request; they are set
	// only for modules configured with bind_request.
	Method string `json:"htm,omitempty"`
	Target string `json:"htu,omitempty"`
	// Subject is the pseudonym of the person the matter concerns.
	Subject     string `json:"sub"`
	SubjectName string `json:"subject_name,omitempty"`
	Actor       Actor  `json:"act"`
	OnBehalf    bool   `json:"on_behalf"`
	LoA         string `json:"loa"`
	ACR         string `json:"acr,omitempty"`
	IdP         string `json:"idp,omitempty"`
	Channel     string `json:"channel"`
	// RequestID is set only with bind_request; otherwise the request ID
	// travels in the Civicgate-Request-Id header alone.
	RequestID string `json:"request_id,omitempty"`
	// SubjectPNR and ActorPNR are set only for modules that may receive
	// personal identity numbers.
	SubjectPNR string `json:"subject_pnr,omitempty"`
	ActorPNR   string `json:"actor_pnr,omitempty"`
}

// Actor is who is logged in.
type Actor struct {
	Kind  string   `json:"kind"`
	Key   string   `json:"key"`
	Name  string   `json:"name,omitempty"`
	Roles []string `json:"roles,omitempty"`
}

// Level returns the assertion's level of assurance; LoANone when the claim
// is missing or unknown.
func (a *Assertion) Level() auth.LoA {
	l, err := auth.ParseLoA(a.LoA)
	if err != nil {
		return auth.LoANone
	}
	return l
}

// The methods below let golang-jwt validate the registered claims.

// GetExpirationTime implements jwt.Claims.
func (a *Assertion) GetExpirationTime() (*jwt.NumericDate, error) { return numericDate(a.Expiry), nil }

// GetIssuedAt implements jwt.Claims.
func (a *Assertion) GetIssuedAt() (*jwt.NumericDate, error) { return numericDate(a.IssuedAt), nil }

// GetNotBefore implements jwt.Claims.
func (a *Assertion) GetNotBefore() (*jwt.NumericDate, error) { return numericDate(a.NotBefore), nil }

// GetIssuer implements jwt.Claims.
func (a *Assertion) GetIssuer() (string, error) { return a.Issuer, nil }

// GetSubject implements jwt.Claims.
func (a *Assertion) GetSubject() (string, error) { return a.Subject, nil }

// GetAudience implements jwt.Claims.
func (a *Assertion) GetAudience() (jwt.ClaimStrings, error) {
	if a.Audience == "" {
		return nil, nil
	}
	return jwt.ClaimStrings{a.Audience}, nil
}

// Validate implements jwt.ClaimsValidator: it checks what golang-jwt does
// not know about. The lifetime bound means a token minted for hours (by a
// stolen key or a misconfigured signer) is refused even within its exp.
func (a *Assertion) Validate() error {
	var errs []error
	if a.IssuedAt == 0 || a.NotBefore == 0 {
		errs = append(errs, errors.New("iat and nbf are required"))
	}
	if a.Expiry-a.IssuedAt > int64(maxLifetime/time.Second) {
		errs = append(errs, fmt.Errorf("lifetime exceeds %s", maxLifetime))
	}
	if a.ID == "" {
		errs = append(errs, errors.New("jti is required"))
	}
	if a.Subject == "" || a.Actor.Key == "" {
		errs = append(errs, errors.New("sub and act.key are required"))
	}
	if a.Actor.Kind != string(auth.Citizen) && a.Actor.Kind != string(auth.Staff) {
		errs = append(errs, errors.New("act.kind must be citizen or staff"))
	}
	return errors.Join(errs...)
}

// maxLifetime is the longest exp-iat a verifier accepts.
const maxLifetime = 5 * time.Minute

func numericDate(s int64) *jwt.NumericDate {
	if s == 0 {
		return nil
	}
	return jwt.NewNumericDate(time.Unix(s, 0))
}

// Claims is what the gateway knows about a request, handed to the proxy by
// Options.Identity. It is the input the assertion is made from; it holds
// personal identity numbers in clear and never leaves the gateway as is.
type Claims struct {
	// ActorKind is auth.Citizen or auth.Staff.
	ActorKind auth.Kind
	// ActorKey is the actor's stable key, auth.Identity.Key(). Required.
	ActorKey string
	// ActorName is shown by the module.
	ActorName string
	// ActorPersonalNumber is a citizen actor's personnummer; empty for
	// staff and for people without one.
	ActorPersonalNumber string
	// ActorRoles are staff roles.
	ActorRoles []string
	// SubjectKey is the stable key (personnummer or "prid:…") of the
	// person the matter concerns. Empty means the actor themself; it is
	// required with OnBehalf.
	SubjectKey string
	// SubjectPersonalNumber and SubjectName describe that person.
	SubjectPersonalNumber string
	SubjectName           string
	// LoA, ACR and IdP describe the actor's login.
	LoA auth.LoA
	ACR string
	IdP string
	// OnBehalf is set while a contact-centre agent acts for the subject.
	OnBehalf bool
	// Channel is how the matter reaches the module: "e-service", "phone",
	// "visit", "staff". Default ChannelEService for citizens,
	// ChannelContactCentre with OnBehalf, ChannelStaff for other staff.
	Channel string
	// RequestID is the gateway's request ID, sent in the
	// Civicgate-Request-Id header (and, with bind_request, in the
	// assertion).
	RequestID string
	// CSRFToken is the session's anti-forgery token, passed to the module
	// in the Civicgate-Csrf-Token header so its forms can carry it; it is
	// never part of an assertion, which may be shared by several sessions
	// of one person.
	CSRFToken string
}

// ClaimsFromIdentity returns the claims of a person acting for themself.
// The gateway adds the subject, OnBehalf and Channel when a contact-centre
// agent acts for a citizen, and the request ID and CSRF token.
func ClaimsFromIdentity(id auth.Identity) Claims {
	c := Claims{
		ActorKind:  id.Kind,
		ActorKey:   id.Key(),
		ActorName:  id.Name(),
		ActorRoles: id.Roles,
		LoA:        id.LoA,
		ACR:        id.LoAURI,
		IdP:        id.IdP,
	}
	if id.Kind != auth.Staff {
		c.ActorPersonalNumber = id.PersonalNumber
	}
	return c
}

// Pseudonymizer turns person keys into per-module pseudonyms.
type Pseudonymizer struct {
	moduleKey []byte
}

// MinPseudonymKeyBytes is the shortest pseudonym key accepted: 256 bits.
const MinPseudonymKeyBytes = 32

// NewPseudonymizer returns the pseudonymizer of module moduleID. The
// module's HMAC key is derived from the gateway-wide key, so one secret
// serves every module and the pseudonyms of two modules are unrelated.
func NewPseudonymizer(gatewayKey []byte, moduleID string) (*Pseudonymizer, error) {
	if len(gatewayKey) < MinPseudonymKeyBytes {
		return nil, fmt.Errorf("remote: pseudonym key must be at least %d bytes", MinPseudonymKeyBytes)
	}
	m := hmac.New(sha256.New, gatewayKey)
	m.Write([]byte("civicgate/remote/pseudonym/v1\x00" + moduleID))
	return &Pseudonymizer{moduleKey: m.Sum(nil)}, nil
}

// Pseudonym returns the module's pseudonym of personKey, base64url.
func (p *Pseudonymizer) Pseudonym(personKey string) string {
	m := hmac.New(sha256.New, p.moduleKey)
	m.Write([]byte(personKey))
	var buf [sha256.Size]byte
	return base64.RawURLEncoding.EncodeToString(m.Sum(buf[:0]))
}

type assertionKey struct{}

// WithAssertion returns a context carrying a verified assertion.
func WithAssertion(ctx context.Context, a *Assertion) context.Context {
	return context.WithValue(ctx, assertionKey{}, a)
}

// FromContext returns the assertion Verifier.Middleware verified, or nil.
func FromContext(ctx context.Context) *Assertion {
	a, _ := ctx.Value(assertionKey{}).(*Assertion)
	return a
}
