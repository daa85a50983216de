package gateway

import (
	"net/http"
	"strings"

	"github.com/civicgate/civicgate/auth"
	"github.com/civicgate/civicgate/eservices"
	"github.com/civicgate/civicgate/gateway/audit"
	mw "github.com/civicgate/civicgate/gateway/middleware"
	"github.com/civicgate/civicgate/web"
)

// moduleGuard enforces a module's level of assurance and actor rules before
// the module sees the request, and tells it who acts and whom the matter
// concerns:
//   - a citizen may use modules open to themself or to guardians;
//   - staff acting for a citizen (contact centre) may use modules open to
//     the contact centre, and the citizen is the subject;
//   - other staff reach a module only with one of its handler roles.
//
// Everything else is refused with 403 and an audit event.
func (s *Server) moduleGuard(info eservices.Info, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if mw.SessionErr(ctx) != nil {
			w.Header().Set("Retry-After", "5")
			s.fail(w, r, http.StatusServiceUnavailable, "error.503")
			return
		}
		sess := mw.SessionFrom(ctx)
		if sess == nil {
			s.login(w, r, info.MinLoA, false)
			return
		}
		id := sess.Identity
		if id.LoA < info.MinLoA {
			s.login(w, r, info.MinLoA, true)
			return
		}
		var actor eservices.Actor
		var subject *eservices.Subject
		allowed := false
		switch {
		case id.Kind == auth.Citizen:
			allowed = info.Allows(eservices.Self) || info.Allows(eservices.Guardian)
			actor = eservices.Actor{Identity: id, Kind: eservices.Self, Channel: "e-service"}
			subject = &eservices.Subject{PersonalNumber: id.PersonalNumber, Name: id.Name()}
		case sess.ActingFor != nil:
			allowed = info.Allows(eservices.ContactCentre) && id.HasRole(RoleContactCentre)
			actor = eservices.Actor{Identity: id, Kind: eservices.ContactCentre, Channel: sess.ActingFor.Channel, Reason: sess.ActingFor.Reason}
			subject = &eservices.Subject{PersonalNumber: sess.ActingFor.PersonalNumber, Name: sess.ActingFor.Name}
		default:
			allowed = info.Handles(id.Roles)
			actor = eservices.Actor{Identity: id, Channel: "staff"}
		}
		if !allowed {
			_ = s.d.Audit.Record(ctx, audit.Event{
				RequestID: mw.RequestIDFrom(ctx), Actor: id.Key(), ActorRole: strings.Join(id.Roles, ","),
				Subject: subjectKey(subject), Action: "module.denied", Resource: "module:" + info.ID, Outcome: audit.Denied,
			})
			s.fail(w, r, http.StatusForbidden, "error.403")
			return
		}
		ctx = eservices.WithActor(ctx, actor, subject)
		ctx = eservices.WithRequestID(ctx, mw.RequestIDFrom(ctx))
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func subjectKey(s *eservices.Subject) string {
	if s == nil {
		return ""
	}
	return s.PersonalNumber
}

// RoleContactCentre is the staff role of contact-centre agents.
const RoleContactCentre = "contact-centre"

// services lists the modules a citizen can use on the start page.
func (s *Server) services(r *http.Request) []Service {
	lang := web.RequestFrom(r.Context()).Lang
	tr := s.web.Translator(lang)
	var out []Service
	for _, m := range s.d.Modules {
		info := m.Info()
		if !info.Allows(eservices.Self) && !info.Allows(eservices.Guardian) {
			continue
		}
		out = append(out, Service{
			URL:         "/e/" + info.ID + "/",
			Title:       info.Title(lang),
			Description: info.Description(lang),
			LoA:         tr.T("loa." + info.MinLoA.String()),
		})
	}
	return out
}
