// Package gateway is civicgate's HTTP server: the router, login and logout
// through the configured identity providers, Mina sidor, the mounting of
// e-service modules, health, readiness and metrics. Nothing imports it but
// the binary; New takes every dependency so tests pass their own.
package gateway
