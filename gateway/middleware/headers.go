package middleware

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// HeaderOptions configures SecurityHeaders.
type HeaderOptions struct {
	// HSTSMaxAge is sent when positive (not in plain-HTTP dev mode).
	HSTSMaxAge time.Duration
	// NoReferrerPrefixes get Referrer-Policy no-referrer (login callbacks,
	// where the URL carries a code or state); elsewhere same-origin.
	NoReferrerPrefixes []string
	// FormActions are extra origins forms may post to (the IdPs' SAML
	// endpoints for the HTTP-POST binding).
	FormActions []string
}

// SecurityHeaders sets strict headers on every response: a
// Content-Security-Policy without unsafe-inline, no framing, no sniffing,
// a narrow Permissions-Policy and HSTS.
func SecurityHeaders(o HeaderOptions) func(http.Handler) http.Handler {
	formAction := "'self'"
	if len(o.FormActions) > 0 {
		formAction += " " + strings.Join(o.FormActions, " ")
	}
	csp := "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; " +
		"connect-src 'self'; form-action " + formAction + "; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
	hsts := ""
	if o.HSTSMaxAge > 0 {
		hsts = "max-age=" + strconv.FormatInt(int64(o.HSTSMaxAge/time.Second), 10) + "; includeSubDomains"
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			h.Set("Content-Security-Policy", csp)
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("X-Frame-Options", "DENY")
			h.Set("Cross-Origin-Opener-Policy", "same-origin")
			h.Set("Cross-Origin-Resource-Policy", "same-origin")
			h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()")
			ref := "same-origin"
			for _, p := range o.NoReferrerPrefixes {
				if strings.HasPrefix(r.URL.Path, p) {
					ref = "no-referrer"
					break
				}
			}
			h.Set("Referrer-Policy", ref)
			if hsts != "" {
				h.Set("Strict-Transport-Security", hsts)
			}
			next.ServeHTTP(w, r)
		})
	}
}
