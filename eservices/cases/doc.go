// Package cases is the case store every e-service module uses: case
// numbers, status history, messages between citizen and handler,
// attachment metadata, the confirmation-mail outbox and statistics, kept in
// PostgreSQL or SQLite.
//
// Every change is written in one transaction together with its audit entry
// (through a TxAuditor, normally *audit.SQL on the same database): when the
// audit entry cannot be written, nothing is. Reads are not audited here;
// a module showing a case to someone records "case.viewed" itself.
//
// Personal data: a case row holds the owner's and subject's person keys
// (personnummer or "prid:…") in clear, because citizens and the contact
// centre must find their cases by them. They never leave this package in
// errors, in the confirmation mail or in log lines, and
// PurgeClosedBefore erases them together with the content when the
// retention time of a closed case has passed.
//
// Access control is the caller's duty: the store returns any case by ID
// and trusts its caller to have checked that the actor may see or change it.
package cases
