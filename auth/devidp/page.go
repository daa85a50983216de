package devidp

import (
	"bytes"
	"crypto/subtle"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"

	"github.com/civicgate/civicgate/auth"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticDir embed.FS

func staticFS() fs.FS {
	sub, err := fs.Sub(staticDir, "static")
	if err != nil {
		panic(err) // the directory is embedded at build time
	}
	return sub
}

func parseTemplates() (*template.Template, error) {
	t, err := template.ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("devidp: templates: %w", err)
	}
	return t, nil
}

// pageBase is what every page needs: the layout draws the test-mode banner
// from it.
type pageBase struct {
	Title string
	Base  string
}

type pickerPerson struct {
	Key, Name, Number, PRID, Email string
	Staff                          bool
	DescriptionSv, DescriptionEn   string
}

type pickerACR struct{ URI, Short string }

type pickerPage struct {
	pageBase
	RP, Protocol string
	FlowID, CSRF string
	People       []pickerPerson
	ACRs         []pickerACR
}

type messagePage struct {
	pageBase
	Sv, En string
}

func (p *Provider) render(w http.ResponseWriter, status int, name string, data any) {
	var buf bytes.Buffer
	if err := p.tmpl.ExecuteTemplate(&buf, name, data); err != nil {
		p.log.Error("devidp: render page", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// renderMessage shows an error or information page. It never redirects, so
// it is what a request with an unknown client or redirect URI gets.
func (p *Provider) renderMessage(w http.ResponseWriter, status int, sv, en string) {
	title := "Testinloggning"
	if status >= 400 {
		title = "Fel / Error"
	}
	p.render(w, status, "message", messagePage{pageBase: pageBase{Title: title, Base: p.issuer}, Sv: sv, En: en})
}

// renderPicker shows the person and level-of-assurance picker for a flow.
func (p *Provider) renderPicker(w http.ResponseWriter, f *flow, rp, protocol string) {
	page := pickerPage{
		pageBase: pageBase{Title: "Välj testperson", Base: p.issuer},
		RP:       rp, Protocol: protocol, FlowID: f.id, CSRF: f.csrf,
	}
	for _, person := range p.people {
		pp := pickerPerson{
			Key: person.Key(), Name: person.Name(), PRID: person.PRID, Email: person.Email,
			Staff: person.Kind == auth.Staff, DescriptionSv: person.DescriptionSv, DescriptionEn: person.DescriptionEn,
		}
		if person.PersonalNumber != "" {
			// Published test numbers only: showing them whole is what lets
			// a tester pick the right one.
			pp.Number = person.PersonalNumber[:8] + "-" + person.PersonalNumber[8:]
		}
		page.People = append(page.People, pp)
	}
	for _, uri := range f.offered {
		page.ACRs = append(page.ACRs, pickerACR{URI: uri, Short: acrShort(uri)})
	}
	p.render(w, http.StatusOK, "picker", page)
}

// servePicked handles the picker form: it checks that the form belongs to a
// live flow started in this browser (hidden per-flow token and browser
// cookie, compared in constant time), then finishes the flow.
func (p *Provider) servePicked(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		p.renderMessage(w, http.StatusBadRequest, "Felaktigt formulär.", "Malformed form.")
		return
	}
	browser := ""
	if c, err := r.Cookie(cookieBrowser); err == nil {
		browser = c.Value
	}
	p.mu.Lock()
	f := p.flows[r.PostForm.Get("flow")]
	valid := f != nil && p.now().Before(f.expires) &&
		subtle.ConstantTimeCompare([]byte(f.csrf), []byte(r.PostForm.Get("csrf"))) == 1 &&
		subtle.ConstantTimeCompare([]byte(f.browser), []byte(browser)) == 1
	if valid {
		delete(p.flows, f.id) // a flow is finished once
	}
	p.mu.Unlock()
	if !valid {
		p.renderMessage(w, http.StatusBadRequest,
			"Inloggningen har gått ut eller startades i en annan webbläsare. Börja om från tjänsten.",
			"The login has expired or was started in another browser. Start again from the service.")
		return
	}
	if r.PostForm.Get("action") == "cancel" {
		if f.oidc != nil {
			p.finishOIDCError(w, r, f.oidc, "access_denied", "the user cancelled")
		} else {
			p.finishSAMLError(w, r, f.saml, StatusCancel)
		}
		return
	}
	person := p.byKey[r.PostForm.Get("person")]
	acr := r.PostForm.Get("acr")
	if person == nil || !contains(f.offered, acr) {
		p.renderMessage(w, http.StatusBadRequest, "Välj en person och en tillitsnivå som erbjöds.", "Choose one of the offered people and levels.")
		return
	}
	s := p.startSession(w, r, person, acr)
	if f.oidc != nil {
		p.finishOIDC(w, f.oidc, s)
	} else {
		p.finishSAML(w, r, f.saml, s)
	}
}
