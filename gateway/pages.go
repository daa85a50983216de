package gateway

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gorilla/mux"

	"github.com/civicgate/civicgate/auth"
	"github.com/civicgate/civicgate/auth/session"
	"github.com/civicgate/civicgate/gateway/audit"
	mw "github.com/civicgate/civicgate/gateway/middleware"
	"github.com/civicgate/civicgate/web"
)

const langCookie = "cg_lang"

// pageContext puts what the layout needs (language, who is logged in, the
// CSRF token, the request ID) in the context.
func (s *Server) pageContext(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rq := &web.Request{Lang: web.Languages[0], RequestID: mw.RequestIDFrom(r.Context())}
		if c, err := r.Cookie(langCookie); err == nil && (c.Value == "sv" || c.Value == "en") {
			rq.Lang = c.Value
		}
		if sess := mw.SessionFrom(r.Context()); sess != nil {
			rq.User = &web.User{Name: sess.Identity.Name(), Staff: sess.Identity.Kind == auth.Staff}
			if sess.ActingFor != nil {
				rq.User.ActingFor = sess.ActingFor.Name
			}
			rq.CSRF = sess.CSRF
			// Sessions are extended lazily (they may end up to
			// session.IdleSlack early), so the countdown ends that much sooner.
			rq.IdleSeconds = int((sess.IdleTimeout - session.IdleSlack(sess.IdleTimeout)) / time.Second)
			rq.WarnSeconds = int(s.cfg.Sessions.WarnBefore / time.Second)
		}
		next.ServeHTTP(w, r.WithContext(web.WithRequest(r.Context(), rq)))
	})
}

// Fail renders the error page with status and a message key, for
// collaborators outside this package (remote modules, the contact centre).
func (s *Server) Fail(w http.ResponseWriter, r *http.Request, status int, key string) {
	s.fail(w, r, status, key)
}

// fail renders the error page with a message key. It is the ErrorFunc every
// middleware uses, so every error a citizen sees is a page in their language.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, status int, key string) {
	s.failWith(w, r, status, key, "")
}

func (s *Server) failWith(w http.ResponseWriter, r *http.Request, status int, key, retry string) {
	heading := "error.title"
	if len(key) > 5 && key[:5] == "auth." {
		heading = "auth.failed.title"
	}
	s.web.Render(w, r, status, "error.html", web.Page{Title: heading, Data: map[string]any{
		"Heading": heading, "Message": key, "Retry": retry,
	}})
}

// Service is an e-service as the start page lists it.
type Service struct {
	URL, Title, Description, LoA string
}

func (s *Server) start(w http.ResponseWriter, r *http.Request) {
	s.web.Render(w, r, http.StatusOK, "start.html", web.Page{Title: "start.title", Data: map[string]any{
		"Services": s.services(r),
	}})
}

// switchLang remembers the language for a year and goes back to the page the
// person was on. A GET is fine: the preference changes nothing of substance.
func (s *Server) switchLang(w http.ResponseWriter, r *http.Request) {
	lang := mux.Vars(r)["lang"]
	http.SetCookie(w, &http.Cookie{Name: langCookie, Value: lang, Path: "/", MaxAge: 365 * 24 * 3600, Secure: s.cookies.Secure, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, auth.SafeReturnTo(r.URL.Query().Get("return")), http.StatusSeeOther)
}

// login is the middleware's LoginFunc: it sends the browser to the chooser
// with the current page as the return address. A form posted without a
// valid session (expired, or below the level the page needs) is kept
// server-side, bound to this browser, and offered again after the login.
func (s *Server) login(w http.ResponseWriter, r *http.Request, min auth.LoA, stepUp bool) {
	if r.Method == http.MethodPost {
		s.saveForm(w, r)
	}
	q := url.Values{}
	q.Set("return", r.URL.RequestURI())
	if min > auth.LoANone {
		q.Set("loa", min.String())
	}
	if stepUp {
		q.Set("stepup", "1")
	}
	http.Redirect(w, r, "/login?"+q.Encode(), http.StatusSeeOther)
}

// savedFormTTL is how long a kept form waits for its owner to log in.
const savedFormTTL = 30 * time.Minute

// savedFormIdP marks saved-form records in the flow store.
const savedFormIdP = "saved-form"

// Limits of a kept form: it is a convenience, so anything unusual is simply
// not kept.
const (
	savedFormMaxBytes  = 64 << 10
	savedFormMaxFields = 100
	savedFormPerMinute = 10
)

func (s *Server) saveForm(w http.ResponseWriter, r *http.Request) {
	// Files cannot be kept, and a multipart body is not worth parsing here.
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/") {
		return
	}
	ctx := r.Context()
	ok, _, err := s.d.Limiter.Allow(ctx, "rl:saved-form:"+mw.ClientIPFrom(ctx), savedFormPerMinute, time.Minute)
	if err != nil || !ok {
		return
	}
	if err := r.ParseForm(); err != nil {
		return
	}
	vals := map[string][]string{}
	size, fields := 0, 0
	for k, v := range r.PostForm {
		if k == mw.CSRFField {
			continue
		}
		for _, x := range v {
			size += len(k) + len(x)
			fields++
			if !utf8.ValidString(x) || !utf8.ValidString(k) {
				return
			}
		}
		vals[k] = v
	}
	if len(vals) == 0 || size > savedFormMaxBytes || fields > savedFormMaxFields {
		return
	}
	p := auth.Pending{ID: session.NewID(), IdP: savedFormIdP, ReturnTo: r.URL.RequestURI(), Form: vals, Created: s.now()}
	// A step-up knows who posted: only that person gets the form back.
	if sess := mw.SessionFrom(ctx); sess != nil {
		p.RequestID = session.HashID(sess.Identity.Key())
	}
	if err := s.d.Flows.Save(ctx, p, savedFormTTL); err != nil {
		s.log.WarnContext(ctx, "could not keep a form across login", "request_id", mw.RequestIDFrom(ctx), "err", err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: s.cookies.Form, Value: p.ID, Path: "/", MaxAge: int(savedFormTTL / time.Second), HttpOnly: true, Secure: s.cookies.Secure, SameSite: http.SameSiteLaxMode})
}

// takeSavedForm returns the form this browser kept before logging in, once.
func (s *Server) takeSavedForm(w http.ResponseWriter, r *http.Request) (auth.Pending, bool) {
	ck, err := r.Cookie(s.cookies.Form)
	if err != nil || ck.Value == "" {
		return auth.Pending{}, false
	}
	http.SetCookie(w, s.cookies.Expire(s.cookies.Form))
	p, err := s.d.Flows.Take(r.Context(), ck.Value)
	if err != nil || p.IdP != savedFormIdP {
		return auth.Pending{}, false
	}
	if p.RequestID != "" {
		if sess := mw.SessionFrom(r.Context()); sess == nil || session.HashID(sess.Identity.Key()) != p.RequestID {
			return auth.Pending{}, false
		}
	}
	return p, true
}

// extendSession answers the idle warning's "stay logged in": loading the
// session already extended it.
func (s *Server) extendSession(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Accept") == "application/json" {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write([]byte(`{"status":"ok"}`))
		return
	}
	http.Redirect(w, r, auth.SafeReturnTo(r.PostFormValue("return")), http.StatusSeeOther)
}

type sessionView struct {
	Device, Method    string
	Created, LastSeen time.Time
	Current           bool
}

// logoutEverywhere ends every session of the logged-in person, on every
// replica.
func (s *Server) logoutEverywhere(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	sess := mw.SessionFrom(ctx)
	n, err := s.d.Sessions.DeleteByPerson(ctx, sess.Identity.Key())
	if err != nil {
		s.log.ErrorContext(ctx, "session store unavailable", "request_id", mw.RequestIDFrom(ctx), "err", err)
		w.Header().Set("Retry-After", "5")
		s.fail(w, r, http.StatusServiceUnavailable, "error.503")
		return
	}
	// The current session is among them, but delete it by ID as well in
	// case the person index lagged behind.
	_ = s.d.Sessions.Delete(ctx, sess.ID)
	if err := s.d.Audit.Record(ctx, audit.Event{
		RequestID: mw.RequestIDFrom(ctx), Actor: sess.Identity.Key(), ActorRole: string(sess.Identity.Kind), Subject: subjectOf(sess.Identity),
		Action: "logout.everywhere", Resource: "sessions", Outcome: audit.Success, Detail: map[string]string{"sessions": strconv.Itoa(n)},
	}); err != nil {
		s.log.ErrorContext(ctx, "audit log unavailable", "request_id", mw.RequestIDFrom(ctx), "err", err)
	}
	http.SetCookie(w, s.cookies.Expire(s.cookies.Session))
	http.Redirect(w, r, "/logged-out", http.StatusSeeOther)
}

type identityView struct {
	Name, MaskedPNR, PRID, LoAKey, Method string
	Coordination                          bool
	AuthTime, Expires                     time.Time
	Roles                                 []string
}

func (s *Server) myPages(w http.ResponseWriter, r *http.Request) {
	sess := mw.SessionFrom(r.Context())
	id := sess.Identity
	view := identityView{
		Name:         id.Name(),
		MaskedPNR:    auth.MaskPersonalNumber(id.PersonalNumber),
		PRID:         id.PRID,
		LoAKey:       "loa." + id.LoA.String(),
		Method:       s.providerDisplay(r, id.IdP),
		Coordination: id.CoordinationNumber,
		AuthTime:     id.AuthTime,
		Expires:      sess.Expires,
		Roles:        id.Roles,
	}
	var sessions []sessionView
	if list, err := s.d.Sessions.List(r.Context(), id.Key()); err == nil {
		cur := session.HashID(sess.ID)
		for _, l := range list {
			sessions = append(sessions, sessionView{Device: l.UserAgent, Method: s.providerDisplay(r, l.IdP), Created: l.Created, LastSeen: l.LastSeen, Current: l.IDHash == cur})
		}
	} else {
		s.log.WarnContext(r.Context(), "listing sessions failed", "request_id", mw.RequestIDFrom(r.Context()), "err", err)
	}
	data := map[string]any{"Identity": view, "Sessions": sessions, "Citizen": id.Kind == auth.Citizen}
	if id.Kind == auth.Citizen {
		rows, err := s.myCases(r.Context(), id.Key(), web.RequestFrom(r.Context()).Lang)
		if err != nil {
			s.log.ErrorContext(r.Context(), "case store unavailable", "request_id", mw.RequestIDFrom(r.Context()), "err", err)
			s.fail(w, r, http.StatusServiceUnavailable, "error.503")
			return
		}
		data["Cases"] = rows
		_, acting, err := s.accessRows(r.Context(), id.Key())
		if err == nil {
			data["Acting"] = acting
		}
	}
	s.web.Render(w, r, http.StatusOK, "mypages.html", web.Page{Title: "mypages.title", Data: data})
}

func (s *Server) providerDisplay(r *http.Request, name string) string {
	p, ok := s.providers[name]
	if !ok {
		return name
	}
	info := p.Info()
	if web.RequestFrom(r.Context()).Lang == "en" && info.DisplayEn != "" {
		return info.DisplayEn
	}
	if info.DisplaySv != "" {
		return info.DisplaySv
	}
	return name
}

type staffLink struct{ URL, Title, Description string }

// staffHome lists what a staff member can work with: the e-services whose
// cases they handle, the contact centre and the statistics, by role.
func (s *Server) staffHome(w http.ResponseWriter, r *http.Request) {
	id := mw.SessionFrom(r.Context()).Identity
	lang := web.RequestFrom(r.Context()).Lang
	tr := s.web.Translator(lang)
	var links []staffLink
	if id.HasRole(RoleContactCentre) {
		links = append(links, staffLink{URL: "/kontaktcenter/", Title: tr.T("staff.contactcentre"), Description: tr.T("staff.contactcentre.desc")})
	}
	for _, m := range s.d.Modules {
		info := m.Info()
		if info.Handles(id.Roles) {
			links = append(links, staffLink{URL: "/e/" + info.ID + "/", Title: info.Title(lang), Description: info.Owner.Department})
		}
	}
	if id.HasRole("system-owner") || id.HasRole("management") {
		links = append(links, staffLink{URL: "/statistik/", Title: tr.T("staff.stats"), Description: tr.T("staff.stats.desc")})
	}
	s.web.Render(w, r, http.StatusOK, "staff.html", web.Page{Title: "staff.title", Data: map[string]any{"Links": links, "Roles": id.Roles}})
}

func (s *Server) loggedOut(w http.ResponseWriter, r *http.Request) {
	s.web.Render(w, r, http.StatusOK, "loggedout.html", web.Page{Title: "logout.title"})
}
