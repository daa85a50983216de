// Command remote is an example remote e-service module, "Felanmälan gata
// och park" (report a street or park fault): a small standalone service that
// runs behind the civicgate gateway, trusts nobody but the gateway's signed
// identity assertion, and shows how little a module needs to do to take part.
//
//	go run ./eservices/example/remote -listen 127.0.0.1:8181 \
//	    -jwks http://127.0.0.1:8080/.well-known/civicgate-jwks.json -module exempel
//
// Every request is verified with remote.Verifier: a request that did not
// come through the gateway (no assertion, a forged one, or one issued for
// another module) gets 401. The module keeps nothing: a report is
// validated and answered with a receipt.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"html/template"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/civicgate/civicgate/gateway/remote"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8181", "address to listen on; keep it reachable only from the gateway")
	jwks := flag.String("jwks", "http://127.0.0.1:8080"+remote.JWKSPath, "the gateway's JWKS URL")
	module := flag.String("module", "exempel", "this module's ID in the gateway (the assertions' audience)")
	issuer := flag.String("issuer", "", "the gateway's public URL (iss); default: the JWKS URL's origin")
	flag.Parse()

	v, err := remote.NewVerifier(*jwks, *module, remote.VerifierOptions{Issuer: *issuer})
	if err != nil {
		slog.Error("cannot start", "err", err)
		os.Exit(2)
	}
	srv := &http.Server{
		Addr:              *listen,
		Handler:           newApp(v),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	slog.Info("felanmälan listening", "addr", *listen, "module", *module, "jwks", *jwks)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		slog.Error("server failed", "err", err)
		os.Exit(1)
	}
}

// newApp returns the module's handler: every route behind the verifier.
func newApp(v *remote.Verifier) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", showForm)
	mux.HandleFunc("POST /{$}", submit)
	return v.Middleware(mux)
}

// category is one kind of fault a citizen can report.
type category struct {
	Value, Sv, En string
}

var categories = []category{
	{"gata", "Gata, trottoar eller cykelbana", "Street, pavement or cycle path"},
	{"belysning", "Gatubelysning", "Street lighting"},
	{"park", "Park eller lekplats", "Park or playground"},
	{"klotter", "Klotter eller skadegörelse", "Graffiti or vandalism"},
	{"annat", "Annat", "Other"},
}

func categoryByValue(v string) (category, bool) {
	for _, c := range categories {
		if c.Value == v {
			return c, true
		}
	}
	return category{}, false
}

// Limits of the form fields, in characters.
const (
	maxLocation    = 200
	maxDescription = 2000
)

// report is the form as submitted.
type report struct {
	Category    string
	Location    string
	Description string
}

// problem is one validation error, in both languages.
type problem struct{ Sv, En string }

func (r report) validate() []problem {
	var ps []problem
	if _, ok := categoryByValue(r.Category); !ok {
		ps = append(ps, problem{"Välj vad felet gäller.", "Choose what the fault concerns."})
	}
	switch n := utf8.RuneCountInString(r.Location); {
	case n == 0:
		ps = append(ps, problem{"Ange var felet finns.", "Say where the fault is."})
	case n > maxLocation:
		ps = append(ps, problem{"Platsen får vara högst 200 tecken.", "The location may be at most 200 characters."})
	}
	switch n := utf8.RuneCountInString(r.Description); {
	case n == 0:
		ps = append(ps, problem{"Beskriv felet.", "Describe the fault."})
	case n > maxDescription:
		ps = append(ps, problem{"Beskrivningen får vara högst 2000 tecken.", "The description may be at most 2000 characters."})
	}
	return ps
}

// page is what the template renders.
type page struct {
	A          *remote.Assertion
	RequestID  string
	CSRF       string
	Categories []category
	Form       report
	Problems   []problem
	Receipt    *receipt
}

type receipt struct {
	Reference string
	Category  category
	Received  string
}

func newPage(r *http.Request) page {
	return page{
		A:          remote.FromContext(r.Context()),
		RequestID:  r.Header.Get(remote.HeaderRequestID),
		CSRF:       r.Header.Get(remote.HeaderCSRFToken),
		Categories: categories,
	}
}

func showForm(w http.ResponseWriter, r *http.Request) {
	render(w, http.StatusOK, newPage(r))
}

func submit(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "Formuläret kunde inte läsas. / The form could not be read.", http.StatusBadRequest)
		return
	}
	p := newPage(r)
	p.Form = report{
		Category:    r.PostForm.Get("kategori"),
		Location:    strings.TrimSpace(r.PostForm.Get("plats")),
		Description: strings.TrimSpace(r.PostForm.Get("beskrivning")),
	}
	if p.Problems = p.Form.validate(); len(p.Problems) > 0 {
		render(w, http.StatusUnprocessableEntity, p)
		return
	}
	c, _ := categoryByValue(p.Form.Category)
	p.Receipt = &receipt{
		Reference: newReference(time.Now()),
		Category:  c,
		Received:  time.Now().Format("2006-01-02 15:04"),
	}
	// A real module would store the report here, keyed by the subject's
	// pseudonym (p.A.Subject) so "my reports" works, and quote the
	// gateway's request ID in its log. The ID comes from the header: the
	// assertion carries it only for modules configured with bind_request.
	slog.Info("report received", "reference", p.Receipt.Reference, "category", c.Value, "request_id", p.RequestID, "on_behalf", p.A.OnBehalf)
	render(w, http.StatusOK, p)
}

// newReference returns a reference the citizen can quote, e.g.
// FEL-20260501-3FA29C.
func newReference(now time.Time) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return "FEL-" + now.Format("20060102") + "-" + strings.ToUpper(hex.EncodeToString(b[:]))
}

func render(w http.ResponseWriter, status int, p page) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := pageTemplate.Execute(w, p); err != nil {
		slog.Error("rendering page", "err", err)
	}
}

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="sv">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Felanmälan gata och park – Report a street or park fault</title>
</head>
<body>
<main>
<h1>Felanmälan gata och park <span lang="en">/ Report a street or park fault</span></h1>
<p class="who">Du är inloggad som {{.A.Actor.Name}} (nivå {{.A.LoA}})
<span lang="en">/ You are logged in as {{.A.Actor.Name}} (level {{.A.LoA}})</span></p>
{{if .A.OnBehalf}}<p class="on-behalf">Du gör anmälan för {{.A.SubjectName}}.
<span lang="en">/ You are reporting on behalf of {{.A.SubjectName}}.</span></p>{{end}}
{{with .Receipt}}
<section class="receipt" aria-live="polite">
<h2>Tack! Din felanmälan är mottagen. <span lang="en">/ Thank you! Your report has been received.</span></h2>
<dl>
<dt>Referens <span lang="en">/ Reference</span></dt><dd>{{.Reference}}</dd>
<dt>Mottagen <span lang="en">/ Received</span></dt><dd>{{.Received}}</dd>
<dt>Gäller <span lang="en">/ Concerns</span></dt><dd>{{.Category.Sv}} <span lang="en">/ {{.Category.En}}</span></dd>
<dt>Plats <span lang="en">/ Location</span></dt><dd>{{$.Form.Location}}</dd>
<dt>Beskrivning <span lang="en">/ Description</span></dt><dd>{{$.Form.Description}}</dd>
</dl>
<p><a href="./">Gör en ny anmälan <span lang="en">/ Make another report</span></a></p>
</section>
{{else}}
{{if .Problems}}
<div class="problems" role="alert">
<h2>Rätta följande <span lang="en">/ Please correct the following</span></h2>
<ul>{{range .Problems}}<li>{{.Sv}} <span lang="en">/ {{.En}}</span></li>{{end}}</ul>
</div>
{{end}}
<form method="post">
<input type="hidden" name="csrf" value="{{.CSRF}}">
<p><label for="kategori">Vad gäller felet? <span lang="en">/ What does the fault concern?</span></label><br>
<select id="kategori" name="kategori" required>
<option value="">Välj / Choose</option>
{{range .Categories}}<option value="{{.Value}}"{{if eq .Value $.Form.Category}} selected{{end}}>{{.Sv}} / {{.En}}</option>
{{end}}</select></p>
<p><label for="plats">Var finns felet? <span lang="en">/ Where is the fault?</span></label><br>
<input id="plats" name="plats" maxlength="200" required value="{{.Form.Location}}"
 placeholder="Storgatan 12, vid busshållplatsen"></p>
<p><label for="beskrivning">Beskriv felet <span lang="en">/ Describe the fault</span></label><br>
<textarea id="beskrivning" name="beskrivning" rows="6" maxlength="2000" required>{{.Form.Description}}</textarea></p>
<p><button type="submit">Skicka felanmälan <span lang="en">/ Send report</span></button></p>
</form>
{{end}}
</main>
</body>
</html>
`))
