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
	// The values are built once, under their canonical names, and shared
	// by every response: net/http only reads them, and setting a map entry
	// skips the canonicalisation and the allocation of Header.Set.
	fixed := [][2]string{
		{"Content-Security-Policy", csp},
		{"X-Content-Type-Options", "nosniff"},
		{"X-Frame-Options", "DENY"},
		{"Cross-Origin-Opener-Policy", "same-origin"},
		{"Cross-Origin-Resource-Policy", "same-origin"},
		{"Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()"},
	}
	if hsts != "" {
		fixed = append(fixed, [2]string{"Strict-Transport-Security", hsts})
	}
	keys := make([]string, len(fixed))
	vals := make([][]string, len(fixed))
	for i, kv := range fixed {
		keys[i], vals[i] = kv[0], []string{kv[1]}
	}
	sameOrigin, noReferrer := []string{"same-origin"}, []string{"no-referrer"}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			for i, k := range keys {
				h[k] = vals[i][:1:1] // full capacity: an Add elsewhere copies
			}
			ref := sameOrigin
			for _, p := range o.NoReferrerPrefixes {
				if strings.HasPrefix(r.URL.Path, p) {
					ref = noReferrer
					break
				}
			}
			h["Referrer-Policy"] = ref[:1:1]
			next.ServeHTTP(w, r)
		})
	}
}
