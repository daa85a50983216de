// Package remote lets an e-service module be a separate service, written in
// any language, behind the gateway: the gateway proxies /e/<id>/ to the
// module's upstream URL and tells the module who is asking with a short-lived
// signed identity assertion. This comment is the contract a municipal
// developer programs against.
//
// # What the module receives
//
// Every request the gateway forwards has the path below /e/<id> (the prefix
// is removed: /e/exempel/kvitto arrives as /kvitto, appended to the
// upstream URL's own path) and these headers:
//
//   - Civicgate-Assertion: the identity assertion, a JWT (below). Every
//     request has one: the gateway sends nobody to a module before login.
//     Never log it: until it expires it speaks for the person.
//   - Civicgate-Request-Id: the gateway's request ID, different on every
//     request; quote it in logs so a support case can be followed through
//     the gateway's audit log. This header is where to read it: the
//     assertion carries it only with bind_request (below).
//   - Civicgate-Csrf-Token: the session's anti-forgery token (never part of
//     the assertion, which several sessions may share). The gateway
//     refuses a state-changing request (POST, PUT, PATCH, DELETE) that does
//     not carry it, so every form must include it as a hidden field named
//     "csrf", and scripts must send it in an X-CSRF-Token header.
//   - X-Forwarded-Proto, X-Forwarded-Host: the gateway's public scheme and
//     host; X-Forwarded-Prefix: "/e/<id>", the path the module is mounted
//     at; X-Forwarded-For: the citizen's address. Prefer relative links
//     and redirects; build absolute ones from these headers.
//
// The module never receives the browser's cookies, its Authorization header,
// any Civicgate-* or X-CSRF-Token header the browser sent (a client cannot
// forge them: the gateway removes them before adding its own), or
// hop-by-hop headers.
//
// What the module may not send back: Set-Cookie (the module shares the
// gateway's origin and must not set cookies on it; keep state server side
// or in the form), Clear-Site-Data, Strict-Transport-Security, Alt-Svc,
// Civicgate-* and every Access-Control-* header (CORS on the gateway's
// origin would let other sites read citizens' pages with their session).
// The gateway removes them. A Location pointing at the upstream URL is
// rewritten to the public /e/<id> address.
//
// # The identity assertion
//
// A compact JWS, signed with ES256 (ECDSA P-256, SHA-256). Its header has
// "alg": "ES256", "typ": "civicgate-assertion+jwt" and "kid", the RFC 7638
// thumbprint of the signing key. The gateway publishes its public keys as a
// JWKS at <public_url>/.well-known/civicgate-jwks.json. A module MUST check:
// alg is ES256 (refuse every other value, "none" and HS256 above all); typ;
// the signature with the key named by kid; iss; aud equals its own module
// ID; exp, nbf and iat with at most 30 seconds of clock skew; htm and htu
// whenever the assertion has them (below). Verifier does all of this for Go
// modules.
//
// # Reuse, and binding to the request
//
// By default an assertion says who is asking, not which request it came
// with, and the gateway sends the same assertion on every request of the
// same person in the same role (same actor, subject, on_behalf, channel,
// level of assurance, identity provider and roles) to the same module for
// 30 seconds after its iat; after that it signs a new one. A module
// therefore always receives an assertion with at least 30 seconds left,
// and can remember the assertions it has verified (Verifier does, until
// their exp) instead of checking the signature on every request. The
// price: an assertion copied from a module's log or traffic can be
// replayed, on any request to that module, until it expires. Keep the
// module reachable only from the gateway, and never log the header.
//
// A module configured with bind_request: true in the gateway gets a new
// assertion on every request, bound to it with htm and htu (and with its
// own jti and request_id); it must compare htm and htu with the request it
// received, so an assertion copied from one request is useless on another.
// This costs one signature in the gateway and one verification in the
// module per request. Such a module should refuse assertions without htm
// and htu (VerifierOptions.RequireRequestBinding), so that losing the
// setting in the gateway does not go unnoticed.
//
// Claims:
//
//	iss          string   the gateway's public URL, e.g. "https://e-tjanster.example.se"
//	aud          string   the module ID (a single string, never an array)
//	iat          number   issued at, Unix seconds
//	nbf          number   not before; equal to iat
//	exp          number   expiry; iat + 60
//	jti          string   random, unique per assertion (128 bits, base64url);
//	                      without bind_request one assertion arrives with
//	                      many requests, so it does not tell requests apart
//	htm          string   bind_request only: the HTTP method of the request
//	                      it was issued for
//	htu          string   bind_request only: the request target sent to the
//	                      module (path and query, e.g. "/kvitto?id=3");
//	                      compare htm and htu with the request line you
//	                      received whenever they are present
//	sub          string   the subject: a pseudonym of the person the matter
//	                      concerns (see below)
//	subject_name string   the subject's name, for display
//	act          object   the actor, who is logged in:
//	  kind       string     "citizen" or "staff"
//	  key        string     a pseudonym of the actor (see below)
//	  name       string     the actor's name, for display
//	  roles      []string   staff roles (staff only), e.g. "contact-centre",
//	                        "building-handler"
//	on_behalf    bool     true when a staff actor (a contact-centre agent)
//	                      acts for the citizen named by sub; the module must
//	                      then show and record the matter as the subject's
//	loa          string   level of assurance of the actor's login: "low",
//	                      "substantial" or "high"
//	acr          string   the exact authentication context URI, e.g.
//	                      "http://id.elegnamnden.se/loa/1.0/loa3"
//	idp          string   the identity provider the actor logged in with,
//	                      e.g. "bankid", "freja"
//	channel      string   how the matter reaches the module: "e-service"
//	                      (a citizen online), "phone" or "visit" (the
//	                      contact centre; "contact-centre" when not
//	                      told which), "staff" (staff handling cases)
//	request_id   string   bind_request only: the same value as
//	                      Civicgate-Request-Id
//	subject_pnr  string   the subject's personnummer (12 digits), ONLY for
//	                      modules configured with allow_personal_number and
//	                      when the subject has one (foreign e-ID users have
//	                      none)
//	actor_pnr    string   the actor's personnummer, on the same terms; never
//	                      for staff
//
// When nobody else is concerned the subject is the actor: sub equals
// act.key and subject_name equals act.name.
//
// # Pseudonyms
//
// sub and act.key are HMAC-SHA256 pseudonyms of the person's stable key
// (personnummer, eIDAS prid, or the staff account), keyed with a secret the
// gateway derives for each module from its own pseudonym key. They are
// stable — the same person always has the same pseudonym in one module, so
// a module can keep "my cases" with them — but two modules cannot match
// their records through them, and a module cannot recover the personnummer.
// A module that needs the number itself must be configured with
// allow_personal_number, which the module's personal-data record must
// justify.
//
// # Keys and rotation
//
// The first configured signing key signs; every configured key is
// published. To rotate: add the new key second and deploy (it is now
// published); after modules' caches have expired (the JWKS is served with
// max-age 300 s, and Verifier refetches on an unknown kid anyway) move it
// first and deploy (it now signs; assertions by the old key stay valid for
// their last 60 s); then remove the old key. A Verifier accepts an
// assertion it has already verified until that assertion's exp (plus the
// clock skew) even after its key has left the JWKS: a removed key's
// assertions are gone 90 seconds after it last signed.
package remote
