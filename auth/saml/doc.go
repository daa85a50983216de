// Package saml is the gateway's SAML 2.0 service provider for the Swedish eID
// framework (Sweden Connect): it signs AuthnRequests, publishes the SP
// metadata the federation registers, and validates the IdP's Response at the
// assertion consumer service with every check the deployment profile asks
// for, on top of the checks github.com/crewjam/saml makes itself.
package saml
