package gateway

import (
	"net/http"
	"net/url"
	"time"

	"github.com/gorilla/mux"

	"github.com/civicgate/civicgate/auth"
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
		}
		next.ServeHTTP(w, r.WithContext(web.WithRequest(r.Context(), rq)))
	})
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

func (s *Server) services(r *http.Request) []Service { return nil }

// switchLang remembers the language for a year and goes back to the page the
// person was on. A GET is fine: the preference changes nothing of substance.
func (s *Server) switchLang(w http.ResponseWriter, r *http.Request) {
	lang := mux.Vars(r)["lang"]
	http.SetCookie(w, &http.Cookie{Name: langCookie, Value: lang, Path: "/", MaxAge: 365 * 24 * 3600, Secure: s.cookies.Secure, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, auth.SafeReturnTo(r.URL.Query().Get("return")), http.StatusSeeOther)
}

// login is the middleware's LoginFunc: it sends the browser to the chooser
// with the current page as the return address.
func (s *Server) login(w http.ResponseWriter, r *http.Request, min auth.LoA, stepUp bool) {
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
	s.web.Render(w, r, http.StatusOK, "mypages.html", web.Page{Title: "mypages.title", Data: map[string]any{"Identity": view}})
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

func (s *Server) loggedOut(w http.ResponseWriter, r *http.Request) {
	s.web.Render(w, r, http.StatusOK, "loggedout.html", web.Page{Title: "logout.title"})
}
