package middleware

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/civicgate/civicgate/auth"
	"github.com/civicgate/civicgate/auth/session"
)

// ErrorFunc writes an error page: status and a message key of the web
// catalogue.
type ErrorFunc func(w http.ResponseWriter, r *http.Request, status int, key string)

// Cookies names the gateway's cookies and says how to set them.
type Cookies struct {
	// Session and Flow are the cookie names: "__Host-cg_session" and
	// "__Host-cg_flow" in production. Form points at a form kept across a
	// login.
	Session, Flow, Form string
	// Secure sets the Secure flag (false only on plain-HTTP localhost in dev).
	Secure bool
}

// NewCookies returns the production names, or unprefixed names without the
// Secure flag for plain-HTTP dev mode (browsers refuse __Host- cookies
// without Secure).
func NewCookies(insecure bool) Cookies {
	if insecure {
		return Cookies{Session: "cg_session", Flow: "cg_flow", Form: "cg_form", Secure: false}
	}
	return Cookies{Session: "__Host-cg_session", Flow: "__Host-cg_flow", Form: "__Host-cg_form", Secure: true}
}

// SessionCookie returns the session cookie for id: HttpOnly, SameSite=Lax,
// Path=/, no Domain (host-only), no Max-Age (the server decides expiry).
func (c Cookies) SessionCookie(id string) *http.Cookie {
	return &http.Cookie{Name: c.Session, Value: id, Path: "/", HttpOnly: true, Secure: c.Secure, SameSite: http.SameSiteLaxMode}
}

// FlowCookie returns the short-lived cookie that binds a login in flight to
// this browser. The SAML HTTP-POST binding arrives as a cross-site POST, so
// for it (crossSitePost) the cookie is SameSite=None (which needs Secure);
// OIDC callbacks are top-level GETs and get Lax. On plain-HTTP dev it is
// always Lax, which works because the test provider is on the same site.
func (c Cookies) FlowCookie(id string, maxAge int, crossSitePost bool) *http.Cookie {
	ss := http.SameSiteLaxMode
	if crossSitePost && c.Secure {
		ss = http.SameSiteNoneMode
	}
	return &http.Cookie{Name: c.Flow, Value: id, Path: "/", MaxAge: maxAge, HttpOnly: true, Secure: c.Secure, SameSite: ss}
}

// Expire returns a cookie that deletes name.
func (c Cookies) Expire(name string) *http.Cookie {
	ss := http.SameSiteLaxMode
	return &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: c.Secure, SameSite: ss}
}

type sessionKey struct{}

type sessionState struct {
	s   *session.Session
	err error
}

// LoadSession reads the session cookie and puts the session and its identity
// in the context. An unknown or expired ID is dropped (and its cookie
// cleared), never adopted; a store failure is remembered so that protected
// pages fail closed with 503 instead of treating the person as anonymous.
func LoadSession(store session.Store, c Cookies, log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			st := &sessionState{}
			if ck, err := r.Cookie(c.Session); err == nil && ck.Value != "" {
				if !session.ValidID(ck.Value) {
					http.SetCookie(w, c.Expire(c.Session))
				} else {
					s, err := store.Get(r.Context(), ck.Value)
					switch {
					case err == nil:
						s.ID = ck.Value
						st.s = s
					case errors.Is(err, session.ErrNotFound):
						http.SetCookie(w, c.Expire(c.Session))
					default:
						log.ErrorContext(r.Context(), "session store unavailable", "request_id", RequestIDFrom(r.Context()), "err", err)
						st.err = err
					}
				}
			}
			ctx := context.WithValue(r.Context(), sessionKey{}, st)
			if st.s != nil {
				ctx = auth.WithIdentity(ctx, &st.s.Identity)
			}
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}

// SessionFrom returns the request's session, or nil when anonymous.
func SessionFrom(ctx context.Context) *session.Session {
	if st, ok := ctx.Value(sessionKey{}).(*sessionState); ok {
		return st.s
	}
	return nil
}

// SessionErr returns the store failure met while loading the session, if
// any.
func SessionErr(ctx context.Context) error {
	if st, ok := ctx.Value(sessionKey{}).(*sessionState); ok {
		return st.err
	}
	return nil
}

// SetSession replaces the request's session in the context (after login in
// the same request).
func SetSession(ctx context.Context, s *session.Session) {
	if st, ok := ctx.Value(sessionKey{}).(*sessionState); ok {
		st.s = s
		st.err = nil
	}
}

// LoginFunc sends the browser to log in (or step up) to at least min and
// come back to the current page.
type LoginFunc func(w http.ResponseWriter, r *http.Request, min auth.LoA, stepUp bool)

// RequireLoA lets a request through only with a session of at least min,
// and, when kinds is not empty, of one of those identity kinds. Without a
// session it calls login; below min it calls login for a step-up; if the
// session store failed it answers 503 (fail closed).
func RequireLoA(min auth.LoA, login LoginFunc, fail ErrorFunc, kinds ...auth.Kind) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if SessionErr(r.Context()) != nil {
				w.Header().Set("Retry-After", "5")
				fail(w, r, http.StatusServiceUnavailable, "error.503")
				return
			}
			s := SessionFrom(r.Context())
			if s == nil {
				login(w, r, min, false)
				return
			}
			if len(kinds) > 0 {
				ok := false
				for _, k := range kinds {
					if s.Identity.Kind == k {
						ok = true
					}
				}
				if !ok {
					fail(w, r, http.StatusForbidden, "error.403")
					return
				}
			}
			if s.Identity.LoA < min {
				login(w, r, min, true)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
