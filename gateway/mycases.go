package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/civicgate/civicgate/auth"
	"github.com/civicgate/civicgate/eservices"
	"github.com/civicgate/civicgate/eservices/cases"
	"github.com/civicgate/civicgate/gateway/audit"
	mw "github.com/civicgate/civicgate/gateway/middleware"
	"github.com/civicgate/civicgate/web"
)

// AuditReader is implemented by audit logs that can list a person's own
// entries (the SQL log does).
type AuditReader interface {
	ForSubject(ctx context.Context, subject string, limit int) ([]audit.Entry, error)
}

type caseRow struct {
	ID, Number, Module, Title, StatusKey, Channel string
	Updated                                       time.Time
	Draft                                         bool
	URL                                           string
}

// myCases are the citizen's cases: those they own and those that concern
// them (a guardian's report concerns the child; the child's cases are
// listed for the guardian who owns them).
func (s *Server) myCases(ctx context.Context, key, lang string) ([]caseRow, error) {
	if s.d.Cases == nil || key == "" {
		return nil, nil
	}
	owned, err := s.d.Cases.ListByOwner(ctx, key)
	if err != nil {
		return nil, err
	}
	about, err := s.d.Cases.ListBySubject(ctx, key)
	if err != nil {
		return nil, err
	}
	lists := [][]cases.Case{owned, about}
	// A guardian also follows the cases about the children in their
	// custody, whoever filed them (the other guardian, the contact centre).
	for child := range s.childrenOf(ctx, key) {
		cs, err := s.d.Cases.ListBySubject(ctx, child)
		if err != nil {
			return nil, err
		}
		var open []cases.Case
		for _, c := range cs {
			if s.guardianMayFollow(c) {
				open = append(open, c)
			}
		}
		lists = append(lists, open)
	}
	seen := map[string]bool{}
	var rows []caseRow
	for _, list := range lists {
		for _, c := range list {
			if seen[c.ID] || !c.PurgedAt.IsZero() {
				continue
			}
			seen[c.ID] = true
			title := c.Title
			module := c.ModuleID
			if m := s.module(c.ModuleID); m != nil {
				module = m.Title(lang)
			}
			row := caseRow{ID: c.ID, Number: c.Number, Module: module, Title: title, StatusKey: "status." + string(c.Status),
				Channel: "channel." + string(c.Channel), Updated: c.UpdatedAt, Draft: c.Status == cases.Draft}
			row.URL = "/mina-sidor/arenden/" + c.ID
			if row.Draft {
				row.URL = "/e/" + c.ModuleID + "/"
			}
			rows = append(rows, row)
		}
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Updated.After(rows[j].Updated) })
	return rows, nil
}

func (s *Server) module(id string) *eservices.Info {
	for _, m := range s.d.Modules {
		if info := m.Info(); info.ID == id {
			return &info
		}
	}
	return nil
}

// guardianMayFollow reports whether a guardian may follow a case about
// their child on Mina sidor: only in modules open to guardians, and never
// in confidential ones (a young person's own social-services case is not
// their guardians').
func (s *Server) guardianMayFollow(c cases.Case) bool {
	m := s.module(c.ModuleID)
	return m != nil && m.Allows(eservices.Guardian) && !m.Confidential
}

// ownCase loads a case the logged-in citizen may see: they own it or it
// concerns them. Anything else is "not found", so the existence of other
// people's cases does not leak.
func (s *Server) ownCase(w http.ResponseWriter, r *http.Request) (*cases.Case, bool) {
	c, asGuardian, ok := s.visibleCase(w, r)
	if ok && asGuardian {
		s.fail(w, r, http.StatusNotFound, "error.404")
		return nil, false
	}
	return c, ok
}

// visibleCase is ownCase for reading: a guardian may also read a case about
// a child in their custody (asGuardian), and that read is audited for the
// child — if it cannot be, nothing is shown.
func (s *Server) visibleCase(w http.ResponseWriter, r *http.Request) (*cases.Case, bool, bool) {
	sess := mw.SessionFrom(r.Context())
	key := sess.Identity.Key()
	c, err := s.d.Cases.Get(r.Context(), mux.Vars(r)["id"])
	if err != nil {
		if errors.Is(err, cases.ErrNotFound) {
			s.fail(w, r, http.StatusNotFound, "error.404")
			return nil, false, false
		}
		s.log.ErrorContext(r.Context(), "case store unavailable", "request_id", mw.RequestIDFrom(r.Context()), "err", err)
		s.fail(w, r, http.StatusServiceUnavailable, "error.503")
		return nil, false, false
	}
	mine := c.Owner == key || c.Subject == key
	asGuardian := false
	if !mine && sess.Identity.Kind == auth.Citizen && s.guardianMayFollow(*c) {
		asGuardian = s.childrenOf(r.Context(), key)[c.Subject]
	}
	if sess.Identity.Kind != auth.Citizen || !(mine || asGuardian) || !c.PurgedAt.IsZero() {
		s.fail(w, r, http.StatusNotFound, "error.404")
		return nil, false, false
	}
	if asGuardian {
		if err := s.d.Audit.Record(r.Context(), audit.Event{RequestID: mw.RequestIDFrom(r.Context()), Actor: key, ActorRole: "guardian",
			Subject: c.Subject, Action: "case.viewed", Resource: "case:" + c.Number, Outcome: audit.Success}); err != nil {
			s.fail(w, r, http.StatusServiceUnavailable, "error.503")
			return nil, false, false
		}
	}
	return c, asGuardian, true
}

// childrenOf returns the personnummer of the children in pnr's custody, from
// the population register (the lookup is audited by the register wrapper).
func (s *Server) childrenOf(ctx context.Context, pnr string) map[string]bool {
	out := map[string]bool{}
	if s.d.Population == nil || !auth.ValidPersonalNumber(pnr) {
		return out
	}
	sess := mw.SessionFrom(ctx)
	if sess != nil {
		ctx = eservices.WithActor(ctx, eservices.Actor{Identity: sess.Identity, Kind: eservices.Self, Channel: "e-service"}, &eservices.Subject{PersonalNumber: pnr})
		ctx = eservices.WithRequestID(ctx, mw.RequestIDFrom(ctx))
	}
	kids, err := s.d.Population.Children(ctx, pnr)
	if err != nil {
		return out
	}
	for _, k := range kids {
		out[k.PersonalNumber] = true
	}
	return out
}

type historyRow struct {
	StatusKey, RoleKey, Note string
	Time                     time.Time
}

type messageRow struct {
	FromMe      bool
	FromCitizen bool
	Body        string
	Time        time.Time
}

func (s *Server) caseActor(r *http.Request) cases.Actor {
	sess := mw.SessionFrom(r.Context())
	return cases.Actor{Key: sess.Identity.Key(), Role: "citizen", RequestID: mw.RequestIDFrom(r.Context())}
}

// myCase shows one case with its whole history, messages and attachments,
// and lets the citizen reply or add a supplement when asked.
func (s *Server) myCase(w http.ResponseWriter, r *http.Request) {
	c, asGuardian, ok := s.visibleCase(w, r)
	if !ok {
		return
	}
	s.renderCaseAs(w, r, c, http.StatusOK, nil, asGuardian)
}

func (s *Server) renderCase(w http.ResponseWriter, r *http.Request, c *cases.Case, status int, formErr map[string]string) {
	s.renderCaseAs(w, r, c, status, formErr, false)
}

// renderCaseAs shows a case; a guardian following a child's case someone
// else filed reads it but does not write to it.
func (s *Server) renderCaseAs(w http.ResponseWriter, r *http.Request, c *cases.Case, status int, formErr map[string]string, readOnly bool) {
	ctx := r.Context()
	lang := web.RequestFrom(ctx).Lang
	key := mw.SessionFrom(ctx).Identity.Key()
	msgs, err := s.d.Cases.Messages(ctx, c.ID)
	if err != nil {
		s.fail(w, r, http.StatusServiceUnavailable, "error.503")
		return
	}
	atts, err := s.d.Cases.Attachments(ctx, c.ID)
	if err != nil {
		s.fail(w, r, http.StatusServiceUnavailable, "error.503")
		return
	}
	var hist []historyRow
	for _, h := range c.History {
		role := "role.handler"
		switch {
		case h.Actor == key:
			role = "role.you"
		case h.ActorRole == "citizen" || h.ActorRole == "guardian":
			role = "role.guardian"
		case h.ActorRole == "contact-centre":
			role = "role.contact-centre"
		case h.ActorRole == "system" || h.ActorRole == "retention":
			role = "role.system"
		}
		hist = append(hist, historyRow{StatusKey: "status." + string(h.To), RoleKey: role, Note: h.Note, Time: h.Time})
	}
	var mrows []messageRow
	for _, m := range msgs {
		if m.Direction == cases.Internal {
			continue // internal notes are for staff
		}
		mrows = append(mrows, messageRow{FromMe: m.Direction == cases.ToHandler && m.From == key, FromCitizen: m.Direction == cases.ToHandler, Body: m.Body, Time: m.Time})
	}
	module := c.ModuleID
	if m := s.module(c.ModuleID); m != nil {
		module = m.Title(lang)
	}
	open := !readOnly && c.Status != cases.Closed && c.Status != cases.Decided && c.Status != cases.Draft
	if !readOnly {
		_ = s.d.Cases.MarkRead(ctx, c.ID, cases.ToCitizen, s.caseActor(r))
	}
	s.web.Render(w, r, status, "mycase.html", web.Page{Title: "mycase.title", Data: map[string]any{
		"Case": c, "Module": module, "StatusKey": "status." + string(c.Status), "History": hist, "Messages": mrows,
		"Attachments": atts, "CanReply": open, "AskedForSupplement": !readOnly && c.Status == cases.AwaitingSupplement,
		"Errors": formErr, "ModuleURL": "/e/" + c.ModuleID + "/",
	}})
}

// replyCase adds the citizen's message to the case.
func (s *Server) replyCase(w http.ResponseWriter, r *http.Request) {
	c, ok := s.ownCase(w, r)
	if !ok {
		return
	}
	body := strings.TrimSpace(r.PostFormValue("message"))
	if body == "" {
		s.renderCase(w, r, c, http.StatusUnprocessableEntity, map[string]string{"message": "mycase.error.empty"})
		return
	}
	if _, err := s.d.Cases.AddMessage(r.Context(), c.ID, cases.NewMessage{Direction: cases.ToHandler, Body: body}, s.caseActor(r)); err != nil {
		if errors.Is(err, cases.ErrInvalid) || errors.Is(err, cases.ErrConflict) {
			s.renderCase(w, r, c, http.StatusUnprocessableEntity, map[string]string{"message": "mycase.error.message"})
			return
		}
		s.fail(w, r, http.StatusServiceUnavailable, "error.503")
		return
	}
	http.Redirect(w, r, "/mina-sidor/arenden/"+c.ID+"#messages", http.StatusSeeOther)
}

// supplementCase takes a supplement (a PDF, PNG or JPEG, checked from its
// bytes) when the handler has asked for one; the case goes back to the
// handler.
func (s *Server) supplementCase(w http.ResponseWriter, r *http.Request) {
	c, ok := s.ownCase(w, r)
	if !ok {
		return
	}
	if c.Status != cases.AwaitingSupplement {
		s.renderCase(w, r, c, http.StatusConflict, map[string]string{"file": "mycase.error.notasked"})
		return
	}
	f, hdr, err := r.FormFile("file")
	if err != nil {
		s.renderCase(w, r, c, http.StatusUnprocessableEntity, map[string]string{"file": "mycase.error.nofile"})
		return
	}
	defer f.Close()
	up, err := cases.CheckUpload(hdr.Filename, f, s.uploadLimit())
	if err != nil {
		s.renderCase(w, r, c, http.StatusUnprocessableEntity, map[string]string{"file": "mycase.error.filetype"})
		return
	}
	actor := s.caseActor(r)
	if _, err := cases.Attach(r.Context(), s.d.Cases, s.d.Blobs, c.ID, up, true, actor); err != nil {
		if errors.Is(err, cases.ErrConflict) || errors.Is(err, cases.ErrInvalid) {
			s.renderCase(w, r, c, http.StatusUnprocessableEntity, map[string]string{"file": "mycase.error.toomany"})
			return
		}
		s.fail(w, r, http.StatusServiceUnavailable, "error.503")
		return
	}
	if note := strings.TrimSpace(r.PostFormValue("message")); note != "" {
		_, _ = s.d.Cases.AddMessage(r.Context(), c.ID, cases.NewMessage{Direction: cases.ToHandler, Body: note}, actor)
	}
	if _, err := s.d.Cases.SetStatus(r.Context(), c.ID, cases.InProgress, "supplement", actor); err != nil && !errors.Is(err, cases.ErrConflict) {
		s.fail(w, r, http.StatusServiceUnavailable, "error.503")
		return
	}
	http.Redirect(w, r, "/mina-sidor/arenden/"+c.ID+"#attachments", http.StatusSeeOther)
}

func (s *Server) uploadLimit() int64 {
	if s.cfg.Cases.MaxUploadBytes > 0 {
		return s.cfg.Cases.MaxUploadBytes
	}
	return cases.DefaultMaxUploadBytes
}

// caseAttachment lets the citizen download their own case's attachment.
func (s *Server) caseAttachment(w http.ResponseWriter, r *http.Request) {
	c, _, ok := s.visibleCase(w, r)
	if !ok {
		return
	}
	atts, err := s.d.Cases.Attachments(r.Context(), c.ID)
	if err != nil {
		s.fail(w, r, http.StatusServiceUnavailable, "error.503")
		return
	}
	for _, a := range atts {
		if a.ID != mux.Vars(r)["aid"] {
			continue
		}
		rc, err := s.d.Blobs.Open(r.Context(), a.BlobKey)
		if err != nil {
			s.fail(w, r, http.StatusNotFound, "error.404")
			return
		}
		defer rc.Close()
		h := w.Header()
		h.Set("Content-Type", a.ContentType)
		h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": a.Name}))
		h.Set("Cache-Control", "private, no-store")
		h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
		_, _ = io.Copy(w, rc)
		return
	}
	s.fail(w, r, http.StatusNotFound, "error.404")
}

type accessRow struct {
	Time                 time.Time
	ActionKey, RoleKey   string
	Resource, Department string
}

// staffRoleKey turns an audit entry's role into a message key the citizen
// understands: the municipality's policy shows department and role, not
// staff names.
func staffRoleKey(role string) string {
	r, _, _ := strings.Cut(role, ":")
	switch r {
	case "contact-centre", "school-admin", "building-handler", "social-handler", "system-owner":
		return "role." + r
	}
	return "role.staff"
}

// accessLog answers "Vem har tittat på mina uppgifter?": every read or
// change of the citizen's data by someone else, from the audit log.
func (s *Server) accessLog(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	sess := mw.SessionFrom(ctx)
	key := sess.Identity.Key()
	rows, acting, err := s.accessRows(ctx, key)
	if err != nil {
		s.fail(w, r, http.StatusServiceUnavailable, "error.503")
		return
	}
	s.web.Render(w, r, http.StatusOK, "access.html", web.Page{Title: "access.title", Data: map[string]any{"Rows": rows, "Acting": acting}})
}

func (s *Server) accessRows(ctx context.Context, key string) (rows, acting []accessRow, err error) {
	ar, ok := s.d.Audit.(AuditReader)
	if !ok {
		return nil, nil, nil
	}
	es, err := ar.ForSubject(ctx, key, 1000)
	if err != nil {
		return nil, nil, err
	}
	for _, e := range es {
		if !strings.HasPrefix(e.Actor, "staff:") {
			continue // the citizen's own actions and the system's
		}
		row := accessRow{Time: e.Time, ActionKey: "audit." + e.Action, RoleKey: staffRoleKey(e.ActorRole), Resource: strings.TrimPrefix(e.Resource, "case:")}
		if strings.HasPrefix(e.ActorRole, "contact-centre") {
			acting = append(acting, row)
		}
		rows = append(rows, row)
	}
	return rows, acting, nil
}

// exportEntry is an audit entry as the citizen's export shows it: who by
// role, never a staff member's identity.
type exportEntry struct {
	Time     time.Time `json:"time"`
	Who      string    `json:"who"`
	Action   string    `json:"action"`
	Resource string    `json:"resource,omitempty"`
	Outcome  string    `json:"outcome"`
}

// exportData is the citizen's GDPR access request: everything the gateway
// holds about them, as JSON.
func (s *Server) exportData(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	sess := mw.SessionFrom(ctx)
	id := sess.Identity
	key := id.Key()
	type caseExport struct {
		cases.Case
		Messages    []cases.Message    `json:"messages"`
		Attachments []cases.Attachment `json:"attachments"`
	}
	out := struct {
		Exported time.Time     `json:"exported"`
		Identity auth.Identity `json:"identity"`
		Cases    []caseExport  `json:"cases"`
		Access   []exportEntry `json:"audit_entries"`
		Sessions any           `json:"sessions"`
	}{Exported: s.now().UTC(), Identity: id}
	out.Identity.SessionIndex, out.Identity.Subject = "", ""
	if s.d.Cases != nil {
		seen := map[string]bool{}
		owned, err1 := s.d.Cases.ListByOwner(ctx, key)
		about, err2 := s.d.Cases.ListBySubject(ctx, key)
		if err := errors.Join(err1, err2); err != nil {
			s.fail(w, r, http.StatusServiceUnavailable, "error.503")
			return
		}
		for _, c := range append(owned, about...) {
			if seen[c.ID] {
				continue
			}
			seen[c.ID] = true
			msgs, err := s.d.Cases.Messages(ctx, c.ID)
			if err != nil {
				s.fail(w, r, http.StatusServiceUnavailable, "error.503")
				return
			}
			var visible []cases.Message
			for _, m := range msgs {
				if m.Direction != cases.Internal {
					visible = append(visible, m)
				}
			}
			atts, err := s.d.Cases.Attachments(ctx, c.ID)
			if err != nil {
				s.fail(w, r, http.StatusServiceUnavailable, "error.503")
				return
			}
			for i := range atts {
				atts[i].BlobKey, atts[i].UploadedBy = "", ""
			}
			for i := range visible {
				if visible[i].From != key {
					visible[i].From = "" // staff identities are not personal data of the citizen
				}
			}
			c.CreatedBy = ""
			out.Cases = append(out.Cases, caseExport{Case: c, Messages: visible, Attachments: atts})
		}
	}
	if ar, ok := s.d.Audit.(AuditReader); ok {
		es, err := ar.ForSubject(ctx, key, 10000)
		if err != nil {
			s.fail(w, r, http.StatusServiceUnavailable, "error.503")
			return
		}
		for _, e := range es {
			who := "you"
			if strings.HasPrefix(e.Actor, "staff:") {
				who = strings.TrimPrefix(staffRoleKey(e.ActorRole), "role.")
			} else if e.Actor == "system" {
				who = "system"
			}
			out.Access = append(out.Access, exportEntry{Time: e.Time, Who: who, Action: e.Action, Resource: e.Resource, Outcome: e.Outcome})
		}
	}
	if list, err := s.d.Sessions.List(ctx, key); err == nil {
		out.Sessions = list
	}
	if err := s.d.Audit.Record(ctx, audit.Event{RequestID: mw.RequestIDFrom(ctx), Actor: key, ActorRole: "citizen", Subject: key,
		Action: "gdpr.export", Resource: "person", Outcome: audit.Success}); err != nil {
		s.fail(w, r, http.StatusServiceUnavailable, "error.503")
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="mina-uppgifter.json"`)
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(out)
}
