// Package buildingpermit is the building permit e-service (bygglov): a
// citizen applies for a permit for a property, can save the application
// as a draft and continue later, follows every step of the case and sends
// in supplements; the building permit unit's handlers check the
// application, ask for supplements and record the decision.
//
// The module is served at /e/bygglov/. Citizens (and contact-centre agents
// acting for them) use the applicant pages; staff with the role
// "building-handler" use the handler pages under the same paths. Whoever
// is not the applicant or a handler of a case gets 404 for it, so that
// nobody learns which cases exist.
package buildingpermit
