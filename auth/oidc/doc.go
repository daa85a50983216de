// Package oidc is the OpenID Connect relying party for Swedish e-ID providers
// (the Swedish OIDC profile) and for the municipality's workforce identity
// provider: authorization code flow with PKCE, nonce and state, level of
// assurance bound through the acr claim, configurable claim mapping for
// commercial brokers, RP-initiated and back-channel logout.
//
// A Provider implements auth.Authenticator and auth.Logouter. It never writes
// HTTP responses and keeps no per-login state itself: everything Finish needs
// travels in the auth.Pending the gateway stores between Begin and Finish.
package oidc
