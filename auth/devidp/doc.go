// Package devidp is the built-in TEST e-ID provider: a real OpenID Provider
// (Swedish OIDC profile) and a real SAML identity provider (Sweden Connect
// profile) that let a person pick a fictional test identity from a list
// instead of authenticating. The gateway logs in through it with its real
// relying-party code, so `civicgate dev` and tests exercise the production
// login paths end to end.
//
// It must never be enabled in production: every page it renders carries the
// banner "TESTLÄGE – inte riktig e-legitimation" / "TEST MODE – not a real
// e-ID", its keys live only in memory and it uses only the test personnummer
// that Skatteverket publishes.
package devidp
