// Package schoolabsence is the e-service in which a guardian reports a
// child's absence from school or asks for leave, and the child's school
// acknowledges the report or decides the request.
//
// The module is registered as "skolfranvaro" with case numbers
// SKOL-YYYY-NNNNNN. Its rules:
//
//   - A guardian (or the contact centre acting for one) reports only for a
//     child the population register lists in their custody; any other
//     personal identity number is refused with 403 and a "case.denied" audit
//     event.
//   - A case is owned by the reporting guardian, concerns the child, and is
//     shown on the module's own pages to every guardian with custody of the
//     child, so the other guardian is informed.
//   - A report is routed to the child's school: staff see and handle it only
//     with the role "school-admin:<school ID>". The register withholds the
//     school of a child with protected personal data, so such a report is
//     routed to "school-admin:skyddad", a dedicated trained function, which
//     sees the child's given name only; every access to such a case is
//     audited.
//   - An absence may be reported at most 7 days back; leave may be asked for
//     future days only, at most one year ahead.
package schoolabsence
