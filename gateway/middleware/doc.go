// Package middleware holds the gateway's HTTP middleware: request IDs,
// security headers, access logs, panic recovery, client addresses, session
// loading, level-of-assurance requirements, CSRF protection, body limits and
// shared rate limits. Each middleware is a func(http.Handler) http.Handler
// whose configuration is captured in the closure.
package middleware
