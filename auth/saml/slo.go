package saml

import (
	"net/http"

	"github.com/civicgate/civicgate/auth"
)

// SLOHandler serves our SingleLogoutService (Config.SLOURL): it accepts the
// IdP's LogoutResponse to a LogoutRequest that LogoutURL sent — checked
// (signature, issuer, destination, status) by crewjam/saml — and sends the
// browser on to the RelayState when it is a same-origin path, else to
// afterLogout. The local session was already ended before the browser went
// to the IdP, so a failed check only changes the page shown. IdP-initiated
// LogoutRequests are not part of the Swedish profile and are refused.
func (p *Provider) SLOHandler(afterLogout string, fail func(w http.ResponseWriter, r *http.Request, status int, key string)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
		if err := r.ParseForm(); err != nil {
			fail(w, r, http.StatusBadRequest, "error.400")
			return
		}
		if r.Form.Get("SAMLRequest") != "" {
			p.log.WarnContext(r.Context(), "saml: IdP-initiated logout request refused", "idp", p.name)
			fail(w, r, http.StatusBadRequest, "error.400")
			return
		}
		st := p.state.Load()
		if st == nil || r.Form.Get("SAMLResponse") == "" {
			fail(w, r, http.StatusBadRequest, "error.400")
			return
		}
		if err := st.signer.ValidateLogoutResponseRequest(r); err != nil {
			p.log.WarnContext(r.Context(), "saml: logout response refused", "idp", p.name, "err", err)
		}
		target := afterLogout
		if relay := r.Form.Get("RelayState"); relay != "" && auth.SafeReturnTo(relay) == relay {
			target = relay
		}
		http.Redirect(w, r, target, http.StatusSeeOther)
	})
}
