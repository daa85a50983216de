// Package auth holds who is logged in: identities, levels of assurance,
// Swedish personal identity numbers and the Authenticator contract that every
// e-ID protocol (SAML, OIDC) implements.
package auth
