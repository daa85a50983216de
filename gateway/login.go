package gateway

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/civicgate/civicgate/auth"
	"github.com/civicgate/civicgate/auth/session"
	"github.com/civicgate/civicgate/gateway/audit"
	mw "github.com/civicgate/civicgate/gateway/middleware"
	"github.com/civicgate/civicgate/web"
)

// flowTTL is how long a person may take at the IdP.
const flowTTL = 10 * time.Minute

type providerLink struct {
	Name, Display, Logo, URL string
}

type providerGroup struct {
	ID, Heading string
	Providers   []providerLink
}

// chooser offers the providers that can give the level the person is about
// to need; staff and citizen providers are shown apart.
func (s *Server) chooser(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	want, err := auth.ParseLoA(q.Get("loa"))
	if err != nil {
		want = auth.LoASubstantial
	}
	ret := auth.SafeReturnTo(q.Get("return"))
	lang := web.RequestFrom(r.Context()).Lang
	citizens := providerGroup{ID: "citizen", Heading: "login.citizen"}
	staff := providerGroup{ID: "staff", Heading: "login.staff"}
	for _, name := range s.order {
		info := s.providers[name].Info()
		if info.MaxLoA < want {
			continue
		}
		v := url.Values{}
		v.Set("return", ret)
		if want > auth.LoANone {
			v.Set("loa", want.String())
		}
		display := info.DisplaySv
		if lang == "en" && info.DisplayEn != "" {
			display = info.DisplayEn
		}
		if display == "" {
			display = name
		}
		link := providerLink{Name: name, Display: display, Logo: info.Logo, URL: "/login/" + name + "?" + v.Encode()}
		if info.Kind == auth.Staff {
			staff.Providers = append(staff.Providers, link)
		} else {
			citizens.Providers = append(citizens.Providers, link)
		}
	}
	var groups []providerGroup
	if len(citizens.Providers) > 0 {
		groups = append(groups, citizens)
	}
	if len(staff.Providers) > 0 {
		groups = append(groups, staff)
	}
	loaKey := ""
	if want > auth.LoANone {
		loaKey = web.RequestFrom(r.Context()).Lang
		loaKey = s.web.Translator(loaKey).T("loa." + want.String())
	}
	s.web.Render(w, r, http.StatusOK, "login.html", web.Page{Title: "login.title", Data: map[string]any{
		"Groups": groups, "StepUp": q.Get("stepup") == "1", "LoA": loaKey,
	}})
}

// beginLogin starts a login at one provider: the provider prepares the
// request, the gateway keeps the pending flow server-side and binds it to
// this browser with a short-lived cookie.
func (s *Server) beginLogin(w http.ResponseWriter, r *http.Request) {
	name := mux.Vars(r)["idp"]
	p, ok := s.providers[name]
	if !ok {
		s.fail(w, r, http.StatusNotFound, "error.404")
		return
	}
	q := r.URL.Query()
	want, err := auth.ParseLoA(q.Get("loa"))
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, "error.400")
		return
	}
	if want == auth.LoANone {
		want = auth.LoASubstantial
	}
	if p.Info().MaxLoA < want {
		s.failWith(w, r, http.StatusBadRequest, "auth.loa_too_low", "/login?"+q.Encode())
		return
	}
	ret := auth.SafeReturnTo(q.Get("return"))
	ch, err := p.Begin(r.Context(), want, ret, true)
	if err != nil {
		s.log.ErrorContext(r.Context(), "login could not start", "request_id", mw.RequestIDFrom(r.Context()), "idp", name, "err", err)
		s.metrics.logins.WithLabelValues(name, string(auth.ErrUnavailable)).Inc()
		s.failWith(w, r, http.StatusBadGateway, "auth.idp_unavailable", "/login?"+q.Encode())
		return
	}
	if ch.Pending.ID == "" {
		ch.Pending.ID = session.NewID()
	}
	ch.Pending.IdP = name
	if err := s.d.Flows.Save(r.Context(), ch.Pending, flowTTL); err != nil {
		s.log.ErrorContext(r.Context(), "flow store unavailable", "request_id", mw.RequestIDFrom(r.Context()), "err", err)
		w.Header().Set("Retry-After", "5")
		s.fail(w, r, http.StatusServiceUnavailable, "error.503")
		return
	}
	http.SetCookie(w, s.cookies.FlowCookie(ch.Pending.ID, int(flowTTL/time.Second), p.Info().Protocol == "saml"))
	if ch.RedirectURL != "" {
		http.Redirect(w, r, ch.RedirectURL, http.StatusSeeOther)
		return
	}
	// HTTP-POST binding: the form posts to the IdP, so the policy must allow
	// exactly that origin for this page.
	if u, err := url.Parse(ch.PostURL); err == nil && u.Host != "" {
		csp := w.Header().Get("Content-Security-Policy")
		w.Header().Set("Content-Security-Policy", strings.Replace(csp, "form-action 'self'", "form-action 'self' "+u.Scheme+"://"+u.Host, 1))
	}
	s.web.Render(w, r, http.StatusOK, "post.html", web.Page{Title: "login.title", Data: map[string]any{
		"URL": ch.PostURL, "Form": ch.PostForm,
	}})
}

// refuseLogin answers a failed login: a clear page, a metric, a log line
// with the precise reason (never personal data) and an audit event.
func (s *Server) refuseLogin(w http.ResponseWriter, r *http.Request, name string, code auth.ErrorCode, reason error) {
	ctx := r.Context()
	rid := mw.RequestIDFrom(ctx)
	s.metrics.logins.WithLabelValues(name, string(code)).Inc()
	s.log.WarnContext(ctx, "login refused", "request_id", rid, "idp", name, "code", string(code), "err", reason)
	if err := s.d.Audit.Record(ctx, audit.Event{
		RequestID: rid, Actor: "anonymous", Action: "login.failed", Resource: "idp:" + name,
		Outcome: audit.Failure, Detail: map[string]string{"code": string(code), "client": mw.ClientIPFrom(ctx)},
	}); err != nil {
		s.log.ErrorContext(ctx, "audit log unavailable", "request_id", rid, "err", err)
	}
	status := http.StatusBadRequest
	if code == auth.ErrUnavailable {
		status = http.StatusBadGateway
	}
	s.failWith(w, r, status, "auth."+string(code), "/login")
}

// doneIdP marks a verified login parked for the same-site completion.
const doneIdP = "done:"

// finishLogin is the OIDC callback and the SAML ACS: it takes the browser's
// own pending flow (single use), lets the provider verify the answer, and on
// success starts a new session with a new ID.
//
// The SAML response arrives as a cross-site POST, which carries no
// SameSite=Lax cookies (the current session, a kept form). So the ACS parks
// the verified identity in a new single-use flow and sends the browser to
// GET /login/<idp>/done, a top-level navigation that does carry them.
func (s *Server) finishLogin(w http.ResponseWriter, r *http.Request) {
	name := mux.Vars(r)["idp"]
	p, ok := s.providers[name]
	if !ok {
		s.fail(w, r, http.StatusNotFound, "error.404")
		return
	}
	ctx := r.Context()
	rid := mw.RequestIDFrom(ctx)
	refuse := func(code auth.ErrorCode, reason error) { s.refuseLogin(w, r, name, code, reason) }

	// A request that is no IdP answer at all (a stray link, an image on
	// another site) must not consume the browser's login in flight.
	if (r.Method == http.MethodGet && r.URL.Query().Get("state") == "" && r.URL.Query().Get("error") == "") ||
		(r.Method == http.MethodPost && r.PostFormValue("SAMLResponse") == "") {
		refuse(auth.ErrState, errors.New("request carries no identity provider answer"))
		return
	}
	ck, err := r.Cookie(s.cookies.Flow)
	if err != nil || ck.Value == "" {
		refuse(auth.ErrState, errors.New("no flow cookie: unsolicited response or a login from another browser"))
		return
	}
	http.SetCookie(w, s.cookies.Expire(s.cookies.Flow))
	pending, err := s.d.Flows.Take(ctx, ck.Value)
	if err != nil {
		if errors.Is(err, session.ErrNotFound) {
			refuse(auth.ErrState, errors.New("unknown, expired or already used login flow"))
			return
		}
		s.log.ErrorContext(ctx, "flow store unavailable", "request_id", rid, "err", err)
		w.Header().Set("Retry-After", "5")
		s.fail(w, r, http.StatusServiceUnavailable, "error.503")
		return
	}
	if pending.IdP != name {
		refuse(auth.ErrState, errors.New("answer arrived at another provider's endpoint than the login started with (mix-up)"))
		return
	}
	id, err := p.Finish(ctx, r, pending)
	if err != nil {
		refuse(auth.CodeOf(err), err)
		return
	}
	if id.Key() == "" {
		refuse(auth.ErrNoIdentity, errors.New("identity has no personnummer, prid or staff subject"))
		return
	}
	if id.LoA < pending.WantLoA {
		refuse(auth.ErrLoATooLow, errors.New("provider returned a lower level than asked for"))
		return
	}
	id.IdP = name
	if r.Method == http.MethodPost {
		done := auth.Pending{ID: session.NewID(), IdP: doneIdP + name, ReturnTo: pending.ReturnTo, WantLoA: pending.WantLoA, Created: s.now(), Identity: &id}
		if err := s.d.Flows.Save(ctx, done, 2*time.Minute); err != nil {
			s.log.ErrorContext(ctx, "flow store unavailable", "request_id", rid, "err", err)
			w.Header().Set("Retry-After", "5")
			s.fail(w, r, http.StatusServiceUnavailable, "error.503")
			return
		}
		http.SetCookie(w, s.cookies.FlowCookie(done.ID, 120, false))
		http.Redirect(w, r, "/login/"+name+"/done", http.StatusSeeOther)
		return
	}
	s.completeLogin(w, r, name, pending, id)
}

// finishParked completes a login the ACS verified and parked.
func (s *Server) finishParked(w http.ResponseWriter, r *http.Request) {
	name := mux.Vars(r)["idp"]
	if _, ok := s.providers[name]; !ok {
		s.fail(w, r, http.StatusNotFound, "error.404")
		return
	}
	ck, err := r.Cookie(s.cookies.Flow)
	if err != nil || ck.Value == "" {
		s.refuseLogin(w, r, name, auth.ErrState, errors.New("no flow cookie at login completion"))
		return
	}
	http.SetCookie(w, s.cookies.Expire(s.cookies.Flow))
	parked, err := s.d.Flows.Take(r.Context(), ck.Value)
	if err != nil {
		if errors.Is(err, session.ErrNotFound) {
			s.refuseLogin(w, r, name, auth.ErrState, errors.New("unknown, expired or already used login completion"))
			return
		}
		w.Header().Set("Retry-After", "5")
		s.fail(w, r, http.StatusServiceUnavailable, "error.503")
		return
	}
	if parked.IdP != doneIdP+name || parked.Identity == nil {
		s.refuseLogin(w, r, name, auth.ErrState, errors.New("login completion for another provider"))
		return
	}
	s.completeLogin(w, r, name, parked, *parked.Identity)
}

// completeLogin starts the session of a verified identity: the old session
// (and any ID an attacker planted) dies, the new one gets a new ID.
func (s *Server) completeLogin(w http.ResponseWriter, r *http.Request, name string, pending auth.Pending, id auth.Identity) {
	ctx := r.Context()
	rid := mw.RequestIDFrom(ctx)
	now := s.now()
	old := mw.SessionFrom(ctx)
	stepUp := old != nil && old.Identity.Key() == id.Key()
	if old != nil {
		// Rotate: the pre-login ID (and any ID an attacker planted) dies here.
		if err := s.d.Sessions.Delete(ctx, old.ID); err != nil {
			s.log.ErrorContext(ctx, "session store unavailable", "request_id", rid, "err", err)
			w.Header().Set("Retry-After", "5")
			s.fail(w, r, http.StatusServiceUnavailable, "error.503")
			return
		}
	}
	expires := now.Add(s.cfg.Sessions.AbsoluteTimeout)
	if stepUp && old.Expires.Before(expires) {
		expires = old.Expires
	}
	if !id.NotOnOrAfter.IsZero() && id.NotOnOrAfter.Before(expires) {
		expires = id.NotOnOrAfter
	}
	sess := &session.Session{
		ID:          session.NewID(),
		Identity:    id,
		CSRF:        session.NewID(), // 256 random bits, like the session ID
		Created:     now,
		Expires:     expires,
		IdleTimeout: s.cfg.Sessions.IdleTimeout,
		LastSeen:    now,
		UserAgent:   shortUserAgent(r.UserAgent()),
	}
	if stepUp {
		sess.Created = old.Created
		sess.ActingFor = old.ActingFor
	}
	if err := s.d.Sessions.Put(ctx, sess); err != nil {
		s.log.ErrorContext(ctx, "session store unavailable", "request_id", rid, "err", err)
		w.Header().Set("Retry-After", "5")
		s.fail(w, r, http.StatusServiceUnavailable, "error.503")
		return
	}
	action := "login"
	if stepUp {
		action = "login.stepup"
	}
	if err := s.d.Audit.Record(ctx, audit.Event{
		RequestID: rid, Actor: id.Key(), ActorRole: string(id.Kind), Subject: subjectOf(id), Action: action,
		Resource: "idp:" + name, Outcome: audit.Success,
		Detail: map[string]string{"loa": id.LoA.String(), "loa_uri": id.LoAURI, "method": id.Method},
	}); err != nil {
		// Fail closed: a login that cannot be audited does not happen.
		_ = s.d.Sessions.Delete(context.WithoutCancel(ctx), sess.ID)
		s.log.ErrorContext(ctx, "audit log unavailable; login undone", "request_id", rid, "err", err)
		w.Header().Set("Retry-After", "5")
		s.fail(w, r, http.StatusServiceUnavailable, "error.503")
		return
	}
	s.metrics.logins.WithLabelValues(name, "success").Inc()
	s.log.InfoContext(ctx, "login", "request_id", rid, "idp", name, "loa", id.LoA.String(), "kind", string(id.Kind), "step_up", stepUp)
	http.SetCookie(w, s.cookies.SessionCookie(sess.ID))
	mw.SetSession(ctx, sess)
	if saved, ok := s.takeSavedForm(w, r); ok {
		// Offer the kept form again, with the new session's CSRF token; the
		// person sees what will be sent and sends it themself.
		rq := web.RequestFrom(ctx)
		rq.CSRF = sess.CSRF
		rq.User = &web.User{Name: id.Name(), Staff: id.Kind == auth.Staff}
		s.web.Render(w, r, http.StatusOK, "resubmit.html", web.Page{Title: "resubmit.title", Data: map[string]any{
			"Action": auth.SafeReturnTo(saved.ReturnTo), "Form": saved.Form, "Back": auth.SafeReturnTo(saved.ReturnTo),
		}})
		return
	}
	ret := auth.SafeReturnTo(pending.ReturnTo)
	if ret == "/" && id.Kind == auth.Staff {
		ret = "/personal"
	}
	http.Redirect(w, r, ret, http.StatusSeeOther)
}

// subjectOf is whose data an identity event concerns: the person themself
// (staff logins concern no citizen).
func subjectOf(id auth.Identity) string {
	if id.Kind == auth.Staff {
		return ""
	}
	return id.Key()
}

// logout ends the session on every replica at once (the store is shared),
// and sends the browser on to the IdP's logout where it offers one.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	sess := mw.SessionFrom(ctx)
	http.SetCookie(w, s.cookies.Expire(s.cookies.Session))
	http.SetCookie(w, s.cookies.Expire(s.cookies.Form))
	if sess == nil {
		http.Redirect(w, r, "/logged-out", http.StatusSeeOther)
		return
	}
	rid := mw.RequestIDFrom(ctx)
	if err := s.d.Sessions.Delete(ctx, sess.ID); err != nil {
		s.log.ErrorContext(ctx, "session store unavailable at logout", "request_id", rid, "err", err)
		w.Header().Set("Retry-After", "5")
		s.fail(w, r, http.StatusServiceUnavailable, "error.503")
		return
	}
	if err := s.d.Audit.Record(ctx, audit.Event{
		RequestID: rid, Actor: sess.Identity.Key(), ActorRole: string(sess.Identity.Kind), Subject: subjectOf(sess.Identity),
		Action: "logout", Resource: "idp:" + sess.Identity.IdP, Outcome: audit.Success,
	}); err != nil {
		s.log.ErrorContext(ctx, "audit log unavailable at logout", "request_id", rid, "err", err)
	}
	target := "/logged-out"
	if p, ok := s.providers[sess.Identity.IdP]; ok {
		if lo, ok := p.(auth.Logouter); ok {
			u, err := lo.LogoutURL(ctx, sess.Identity, s.public.JoinPath("/logged-out").String())
			if err != nil {
				s.log.WarnContext(ctx, "IdP logout unavailable; local session ended", "request_id", rid, "idp", sess.Identity.IdP, "err", err)
			} else if u != "" {
				target = u
			}
		}
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// BackchannelVerifier is implemented by OIDC providers that accept
// back-channel logout tokens: it verifies the token fully and returns its
// issuer, subject, IdP session and token ID.
type BackchannelVerifier interface {
	VerifyLogoutToken(ctx context.Context, raw string) (iss, sub, sid, jti string, err error)
}

// logoutTokenReplayWindow is how long a logout token's jti is remembered;
// tokens are short-lived, so this outlasts any valid one.
const logoutTokenReplayWindow = 10 * time.Minute

// backchannelLogout ends every gateway session of an IdP session when the
// OP tells us, on every replica (the index lives in the shared store).
func (s *Server) backchannelLogout(w http.ResponseWriter, r *http.Request) {
	name := mux.Vars(r)["idp"]
	p, ok := s.providers[name]
	bv, ok2 := p.(BackchannelVerifier)
	if !ok || !ok2 {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	ctx := r.Context()
	raw := r.PostFormValue("logout_token")
	_, _, sid, jti, err := bv.VerifyLogoutToken(ctx, raw)
	if err == nil && sid == "" {
		// Sessions are indexed by IdP session; a token naming only the
		// pairwise subject cannot be mapped, and must not silently succeed.
		err = errors.New("logout token has no sid")
	}
	if err != nil {
		s.log.WarnContext(ctx, "back-channel logout refused", "request_id", mw.RequestIDFrom(ctx), "idp", name, "err", err)
		http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
		return
	}
	// The sessions are ended first: a retry after a store failure must not
	// be taken for a replay. Ending them twice is harmless.
	n, err := s.d.Sessions.DeleteByIdPSession(ctx, name, sid)
	if err != nil {
		http.Error(w, `{"error":"temporarily_unavailable"}`, http.StatusServiceUnavailable)
		return
	}
	if jti != "" {
		first, err := s.d.Replay.FirstUse(ctx, "bcl:"+name+":"+jti, s.now().Add(logoutTokenReplayWindow))
		if err != nil {
			http.Error(w, `{"error":"temporarily_unavailable"}`, http.StatusServiceUnavailable)
			return
		}
		if !first {
			http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
			return
		}
	}
	_ = s.d.Audit.Record(ctx, audit.Event{RequestID: mw.RequestIDFrom(ctx), Actor: "idp:" + name, Action: "logout.backchannel",
		Resource: "idp:" + name, Outcome: audit.Success, Detail: map[string]string{"sessions": itoa(n)}})
	w.WriteHeader(http.StatusOK)
}

// MetadataProvider is implemented by SAML providers: our SP metadata.
type MetadataProvider interface {
	MetadataHandler() http.Handler
}

// SLOProvider is implemented by SAML providers with a SingleLogoutService.
type SLOProvider interface {
	SLOHandler(afterLogout string, fail func(w http.ResponseWriter, r *http.Request, status int, key string)) http.Handler
}

func (s *Server) samlSLO(w http.ResponseWriter, r *http.Request) {
	p, ok := s.providers[mux.Vars(r)["idp"]]
	sp, ok2 := p.(SLOProvider)
	if !ok || !ok2 {
		s.fail(w, r, http.StatusNotFound, "error.404")
		return
	}
	sp.SLOHandler("/logged-out", s.fail).ServeHTTP(w, r)
}

func (s *Server) samlMetadata(w http.ResponseWriter, r *http.Request) {
	p, ok := s.providers[mux.Vars(r)["idp"]]
	mp, ok2 := p.(MetadataProvider)
	if !ok || !ok2 {
		s.fail(w, r, http.StatusNotFound, "error.404")
		return
	}
	mp.MetadataHandler().ServeHTTP(w, r)
}

// shortUserAgent keeps enough of the User-Agent to tell sessions apart on
// "my active sessions" without storing a fingerprint.
func shortUserAgent(ua string) string {
	for _, b := range []string{"Edg/", "Firefox/", "Chrome/", "Safari/"} {
		if strings.Contains(ua, b) {
			name := strings.TrimSuffix(b, "/")
			if name == "Edg" {
				name = "Edge"
			}
			os := ""
			for _, o := range []string{"Android", "iPhone", "iPad", "Windows", "Mac OS", "Linux"} {
				if strings.Contains(ua, o) {
					os = o
					break
				}
			}
			if os != "" {
				return name + " (" + os + ")"
			}
			return name
		}
	}
	if len(ua) > 40 {
		return ua[:40]
	}
	return ua
}

func itoa(n int) string { return strconv.Itoa(n) }
