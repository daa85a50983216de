// Package eservices is the contract between the gateway and e-service
// modules: what a module says about itself (Info), how it registers
// (Register, from init), what it receives (Env) and who a request comes from
// (Actor) and concerns (Subject).
//
// A module's life: Register from init → the gateway validates its Info at
// start-up (refusing an incomplete one) → Provision(env) if the module
// implements Provisioner → ServeHTTP for requests under /e/<id>/, with the
// prefix stripped, only after the gateway has enforced the module's minimum
// level of assurance and its actor rules.
//
// Optional capabilities are separate interfaces: Provisioner and Assets
// (page templates and messages).
package eservices
