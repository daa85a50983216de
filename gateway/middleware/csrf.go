package middleware

import (
	"context"
	"crypto/subtle"
	"net/http"
	"strings"
)

// CSRFField is the form field (and X-CSRF-Token the header) carrying the
// session's anti-forgery token.
const CSRFField = "csrf"

type csrfKey struct{}

// CSRF protects every state-changing request twice over:
//   - the standard library's cross-origin protection refuses requests whose
//     Sec-Fetch-Site or Origin shows another origin — including sibling
//     subdomains, which SameSite cookies alone do not stop;
//   - a logged-in request must carry the session's token (for browsers that
//     send neither header).
//
// Paths starting with one of exempt (the SAML ACS and back-channel logout,
// which IdPs post to cross-site and which carry their own signed proof) are
// let through. A request without a session is let through unverified and
// marked: nothing can change without a session, and RequireLoA sends it to
// log in.
func CSRF(exempt []string, fail ErrorFunc) func(http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.Method {
			case http.MethodGet, http.MethodHead, http.MethodOptions:
				next.ServeHTTP(w, r)
				return
			}
			for _, p := range exempt {
				if strings.HasPrefix(r.URL.Path, p) {
					next.ServeHTTP(w, r)
					return
				}
			}
			if err := cop.Check(r); err != nil {
				fail(w, r, http.StatusForbidden, "error.csrf")
				return
			}
			s := SessionFrom(r.Context())
			if s == nil {
				next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), csrfKey{}, false)))
				return
			}
			tok := r.Header.Get("X-CSRF-Token")
			if tok == "" {
				if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/") {
					// Files beyond 1 MiB go to temporary files, not memory.
					_ = r.ParseMultipartForm(1 << 20)
				}
				tok = r.PostFormValue(CSRFField)
			}
			if tok == "" || s.CSRF == "" || subtle.ConstantTimeCompare([]byte(tok), []byte(s.CSRF)) != 1 {
				fail(w, r, http.StatusForbidden, "error.csrf")
				return
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), csrfKey{}, true)))
		})
	}
}

// CSRFVerified reports whether this state-changing request carried a valid
// token for its session.
func CSRFVerified(ctx context.Context) bool {
	v, _ := ctx.Value(csrfKey{}).(bool)
	return v
}
