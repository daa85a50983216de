// Package population is the population register (folkbokföring) adapter that
// e-services use to find a person, the children in a guardian's custody and
// the guardians of a child.
//
// Two implementations satisfy [Register]: [File], a YAML file for dev and
// tests (the built-in test population is [Default]), and [HTTP], a client of
// the municipality's register service (its JSON API is documented on
// [HTTP]). [Audited] wraps either so that every lookup reaches the audit log.
//
// # Protected personal data
//
// A person with skyddade personuppgifter (sekretessmarkering or skyddad
// folkbokföring) is returned minimised by every implementation, whatever its
// source holds, so a caller cannot leak what it never receives:
//
//   - PersonalNumber is kept: callers already hold it or need it as the key
//     to act on the person's behalf (e.g. a guardian reporting an absence).
//   - GivenName is kept, so a guardian can tell their children apart and
//     staff can address the person.
//   - FamilyName is cleared: together with a relation it points at a
//     household whose address may be known.
//   - Address and School are nil: they say where the person can be found,
//     which is exactly what the marking protects.
//   - Protected is true and Deceased is kept.
//
// E-services that need a protected person's address or school (e.g. to route
// an absence report) must handle that case by hand through the register
// authority's own secure channel; this package never supplies it.
package population
