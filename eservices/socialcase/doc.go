// Package socialcase is the e-service in which a citizen applies for
// ekonomiskt bistånd (financial aid) for a month and social services handle
// the application: queue, supplement requests and a decision.
//
// The content is confidential (offentlighets- och sekretesslagen 26 kap.):
// only the applicant and staff with the role "social-handler" see it.
// Everyone else who reaches the module – contact-centre agents, other
// handlers – is refused with 403 and an audited "case.denied", and other
// citizens get 404 for cases that are not theirs. Every read by a handler
// is audited as "case.viewed" (a file as "attachment.downloaded") with the
// applicant as subject before anything is shown, and the page is refused
// (503) when the audit log cannot record it. Content is never logged.
//
// Routes, relative to /e/ekonomiskt-bistand:
//
//	GET  /                                 the applicant's applications, or the handlers' queue
//	GET  /ansokan, POST /ansokan           the form; a valid form becomes a draft with its files
//	GET  /ansokan/{id}, POST /ansokan/{id} change a draft
//	GET  /ansokan/{id}/granska             the summary to confirm
//	POST /ansokan/{id}/skicka              submit (consent required) → receipt
//	GET  /arende/{number}                  the case: applicant's view, or the handler's (audited)
//	GET  /arende/{number}/kvitto           the receipt with the case number
//	GET  /arende/{number}/bilaga/{att}     download a file (audited for handlers)
//	POST /arende/{number}/komplettera      the applicant's supplement (message and files)
//	POST /arende/{number}/paborja          handler: start handling (in_progress)
//	POST /arende/{number}/begar-komplettering handler: ask for a supplement
//	POST /arende/{number}/beslut           handler: record the decision (decided)
package socialcase
