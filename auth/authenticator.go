package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// ProviderInfo describes a configured identity provider for the chooser page.
type ProviderInfo struct {
	// Name is the configured key, used in URLs (/login/<name>).
	Name string
	// Protocol is "saml" or "oidc".
	Protocol string
	// DisplaySv and DisplayEn are shown on the chooser.
	DisplaySv, DisplayEn string
	// Logo is an optional URL path to a logo served by the gateway.
	Logo string
	// MaxLoA is the highest level this provider can give.
	MaxLoA LoA
	// Kind says whether the provider logs in citizens or staff.
	Kind Kind
}

// Pending is a login in flight: what the gateway keeps (server side, bound to
// the browser by a flow cookie) between Begin and Finish. It holds no
// personal data.
type Pending struct {
	// ID is the flow's own random identifier (the flow cookie's value
	// points at it).
	ID string `json:"id"`
	// IdP is the provider chosen at Begin; Finish refuses a response from any
	// other (mix-up defence).
	IdP string `json:"idp"`
	// RequestID is the SAML AuthnRequest ID or the OIDC state.
	RequestID string `json:"req"`
	// Nonce and CodeVerifier are OIDC's (PKCE).
	Nonce        string `json:"nonce,omitempty"`
	CodeVerifier string `json:"cv,omitempty"`
	// WantLoA is the minimum level asked for; AcceptedURIs the exact contexts
	// that satisfy it.
	WantLoA      LoA      `json:"loa"`
	AcceptedURIs []string `json:"uris,omitempty"`
	// ForceAuthn is set for step-up and always for e-ID logins.
	ForceAuthn bool `json:"force"`
	// ReturnTo is a same-origin relative path to go to after login.
	ReturnTo string `json:"ret"`
	// Created is when Begin ran; AuthTime must not be before it with ForceAuthn.
	Created time.Time `json:"created"`
	// Form holds what a person had typed when their session expired or a
	// step-up interrupted them, so it can be offered again after login.
	// Only the gateway's saved-form records use it.
	Form map[string][]string `json:"form,omitempty"`
	// Identity is a verified login waiting to become a session: the SAML
	// ACS parks it here and finishes on a same-site GET that carries the
	// browser's SameSite=Lax cookies. Only the gateway uses it.
	Identity *Identity `json:"identity,omitempty"`
}

// Challenge tells the gateway how to send the browser to the IdP. Exactly one
// of RedirectURL or PostURL is set.
type Challenge struct {
	// RedirectURL is the IdP URL to 302 to (HTTP-Redirect binding, OIDC).
	RedirectURL string
	// PostURL and PostForm describe an auto-submitting form (SAML HTTP-POST
	// binding); the page has a visible button for browsers without JavaScript.
	PostURL  string
	PostForm url.Values
	// Pending is what the gateway must keep for Finish.
	Pending Pending
}

// Authenticator is one configured identity provider. Implementations do no
// HTTP writing: the gateway owns the response, cookies and the flow store.
type Authenticator interface {
	Info() ProviderInfo
	// Begin prepares a login that proves at least want. returnTo has
	// already been checked to be a same-origin relative path.
	Begin(ctx context.Context, want LoA, returnTo string, force bool) (Challenge, error)
	// Finish validates the IdP's answer (the OIDC callback or the SAML POST to
	// the ACS) against the browser's own pending login. Every failure is a
	// *LoginError.
	Finish(ctx context.Context, r *http.Request, pending Pending) (Identity, error)
}

// Logouter is implemented by providers that can end the IdP session too
// (SAML SLO, OIDC RP-initiated logout). It returns the URL to send the
// browser to, or "" when the provider offers none.
type Logouter interface {
	LogoutURL(ctx context.Context, id Identity, postLogoutRedirect string) (string, error)
}

// ErrorCode classifies a failed login for the citizen's message and the audit
// log.
type ErrorCode string

// Error codes. Cancel, Fraud, PossibleFraud and AuthnFailed come from the IdP
// (Swedish eID status codes); the others are the gateway's own checks.
const (
	ErrCancel        ErrorCode = "cancel"
	ErrFraud         ErrorCode = "fraud"
	ErrPossibleFraud ErrorCode = "possible_fraud"
	ErrAuthnFailed   ErrorCode = "authn_failed"
	ErrInvalid       ErrorCode = "invalid_response" // signature, audience, time, replay, format...
	ErrReplay        ErrorCode = "replay"
	ErrLoATooLow     ErrorCode = "loa_too_low"
	ErrNoIdentity    ErrorCode = "no_identity" // no usable personnummer/prid
	ErrState         ErrorCode = "bad_state"   // unknown, expired or reused flow
	ErrUnavailable   ErrorCode = "idp_unavailable"
)

// LoginError is a failed login. Code decides the citizen's message; Err holds
// the precise reason for operators and must not contain personal data,
// tokens or XML.
type LoginError struct {
	Code ErrorCode
	Err  error
}

func (e *LoginError) Error() string {
	if e.Err == nil {
		return "auth: login failed: " + string(e.Code)
	}
	return fmt.Sprintf("auth: login failed: %s: %v", e.Code, e.Err)
}

func (e *LoginError) Unwrap() error { return e.Err }

// Fail returns a *LoginError with code and a formatted reason.
func Fail(code ErrorCode, format string, args ...any) error {
	return &LoginError{Code: code, Err: fmt.Errorf(format, args...)}
}

// CodeOf returns the code of a *LoginError in err's chain, or ErrInvalid.
func CodeOf(err error) ErrorCode {
	var le *LoginError
	if errors.As(err, &le) {
		return le.Code
	}
	return ErrInvalid
}
