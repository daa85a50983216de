// Package web renders civicgate's pages: html/template layouts and pages,
// static assets and the Swedish and English message catalogues, all embedded
// in the binary. Pages work without JavaScript and load nothing from other
// origins.
package web

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

//go:embed i18n/*.yaml
var catalogueFS embed.FS

// Languages the site speaks; the first is the default.
var Languages = []string{"sv", "en"}

// Options configures a Renderer.
type Options struct {
	// Dev shows the test-mode banner on every page.
	Dev bool
	// MunicipalitySv and MunicipalityEn name the organisation in the header.
	MunicipalitySv, MunicipalityEn string
	// Modules are the page templates and message catalogues of e-service
	// modules. A module page is rendered by the name "<id>/<file>".
	Modules []ModuleAssets
	// Logger reports rendering failures.
	Logger *slog.Logger
}

// ModuleAssets are one module's templates (*.html, each defining
// "content"; files named _*.html are partials, parsed with every page of
// the module and never pages themselves) and messages (sv.yaml and
// en.yaml, keys starting with the module ID). Either may be nil.
type ModuleAssets struct {
	ID        string
	Templates fs.FS
	Messages  fs.FS
}

// Renderer renders pages inside the site layout.
type Renderer struct {
	opts   Options
	bundle *i18n.Bundle
	locs   map[string]*i18n.Localizer
	base   *template.Template
	mu     sync.Mutex
	pages  map[string]*template.Template
	log    *slog.Logger
}

// New parses the embedded templates and catalogues.
func New(o Options) (*Renderer, error) {
	b := i18n.NewBundle(language.Swedish)
	b.RegisterUnmarshalFunc("yaml", yaml.Unmarshal)
	for _, lang := range Languages {
		if _, err := b.LoadMessageFileFS(catalogueFS, "i18n/"+lang+".yaml"); err != nil {
			return nil, fmt.Errorf("web: message catalogue %s: %w", lang, err)
		}
		for _, m := range o.Modules {
			if m.Messages == nil {
				continue
			}
			if _, err := b.LoadMessageFileFS(m.Messages, lang+".yaml"); err != nil {
				return nil, fmt.Errorf("web: module %s message catalogue %s: %w", m.ID, lang, err)
			}
		}
	}
	r := &Renderer{opts: o, bundle: b, locs: map[string]*i18n.Localizer{}, pages: map[string]*template.Template{}, log: o.Logger}
	if r.log == nil {
		r.log = slog.Default()
	}
	for _, lang := range Languages {
		r.locs[lang] = i18n.NewLocalizer(b, lang)
	}
	base, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("web: layout: %w", err)
	}
	r.base = base
	// Parse every page now so a broken template stops start-up, not a request.
	entries, _ := fs.Glob(templateFS, "templates/*.html")
	for _, e := range entries {
		name := strings.TrimPrefix(e, "templates/")
		if name == "layout.html" {
			continue
		}
		if _, err := r.page(name); err != nil {
			return nil, err
		}
	}
	for _, m := range o.Modules {
		if m.Templates == nil {
			continue
		}
		files, _ := fs.Glob(m.Templates, "*.html")
		for _, f := range files {
			if strings.HasPrefix(f, "_") {
				continue // a partial, parsed with every page
			}
			if _, err := r.page(m.ID + "/" + f); err != nil {
				return nil, err
			}
		}
	}
	return r, nil
}

var funcs = template.FuncMap{
	"fmtDate": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.In(stockholm).Format("2006-01-02")
	},
	"maskPNR": func(s string) string {
		if len(s) != 12 {
			return s
		}
		return s[:8] + "-XXXX"
	},
	"contains": func(list []string, s string) bool {
		for _, x := range list {
			if x == s {
				return true
			}
		}
		return false
	},
	"fmtTime": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.In(stockholm).Format("2006-01-02 15:04")
	},
}

var stockholm = func() *time.Location {
	l, err := time.LoadLocation("Europe/Stockholm")
	if err != nil {
		return time.FixedZone("CET", 3600)
	}
	return l
}()

// page returns the layout combined with one page template, parsed once.
func (r *Renderer) page(name string) (*template.Template, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if t, ok := r.pages[name]; ok {
		return t, nil
	}
	t, err := r.base.Clone()
	if err != nil {
		return nil, err
	}
	if id, file, ok := strings.Cut(name, "/"); ok {
		var src fs.FS
		for _, m := range r.opts.Modules {
			if m.ID == id {
				src = m.Templates
			}
		}
		if src == nil {
			return nil, fmt.Errorf("web: page %s: module %q has no templates", name, id)
		}
		// A module's partials (_*.html) are parsed with each of its pages,
		// so templates several pages share are written once.
		files := []string{file}
		partials, err := fs.Glob(src, "_*.html")
		if err != nil {
			return nil, fmt.Errorf("web: page %s: %w", name, err)
		}
		files = append(files, partials...)
		if _, err := t.ParseFS(src, files...); err != nil {
			return nil, fmt.Errorf("web: page %s: %w", name, err)
		}
	} else if _, err := t.ParseFS(templateFS, "templates/"+name); err != nil {
		return nil, fmt.Errorf("web: page %s: %w", name, err)
	}
	r.pages[name] = t
	return t, nil
}

// Page is what a handler hands to Render.
type Page struct {
	// Title is a message key for the <title> and the heading.
	Title string
	// Data is the page's own data.
	Data any
}

// Layout is what every template sees as ".".
type Layout struct {
	Lang      string
	OtherLang string
	T         Translator
	Dev       bool
	Site      string
	Title     string
	Path      string
	SwitchURL string
	User      *User
	CSRF      string
	RequestID string
	Idle      int
	Warn      int
	Data      any
}

// User is the logged-in person as the layout shows them.
type User struct {
	Name      string
	Staff     bool
	ActingFor string
}

// Request is what Render needs to know about the request; the gateway's
// middleware fills it in the context with WithRequest.
type Request struct {
	Lang      string
	User      *User
	CSRF      string
	RequestID string
	// IdleSeconds and WarnSeconds drive the idle-timeout warning of
	// logged-in pages (zero: no warning).
	IdleSeconds, WarnSeconds int
}

type requestKey struct{}

// WithRequest stores the layout facts of a request in its context.
func WithRequest(ctx context.Context, rq *Request) context.Context {
	return context.WithValue(ctx, requestKey{}, rq)
}

// RequestFrom returns the layout facts, never nil.
func RequestFrom(ctx context.Context) *Request {
	if rq, ok := ctx.Value(requestKey{}).(*Request); ok && rq != nil {
		return rq
	}
	return &Request{Lang: Languages[0]}
}

// Render writes page name with status inside the layout. Rendering is done
// into a buffer first so a template error becomes a clean 500, never half a
// page.
func (r *Renderer) Render(w http.ResponseWriter, req *http.Request, status int, name string, p Page) {
	rq := RequestFrom(req.Context())
	t, err := r.page(name)
	if err != nil {
		r.log.ErrorContext(req.Context(), "template missing", "page", name, "err", err)
		http.Error(w, "Internal Server Error", http.StatusInternalServerError)
		return
	}
	lay := r.layout(req, rq, p)
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout.html", lay); err != nil {
		r.log.ErrorContext(req.Context(), "template failed", "page", name, "err", err)
		http.Error(w, "Internal Server Error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Language", rq.Lang)
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func (r *Renderer) layout(req *http.Request, rq *Request, p Page) Layout {
	lang := rq.Lang
	if _, ok := r.locs[lang]; !ok {
		lang = Languages[0]
	}
	other := "en"
	if lang == "en" {
		other = "sv"
	}
	tr := r.Translator(lang)
	site := r.opts.MunicipalitySv
	if lang == "en" {
		site = r.opts.MunicipalityEn
	}
	return Layout{
		Lang:      lang,
		OtherLang: other,
		T:         tr,
		Dev:       r.opts.Dev,
		Site:      site,
		Title:     tr.T(p.Title),
		Path:      req.URL.Path,
		SwitchURL: "/lang/" + other + "?return=" + urlQueryEscape(req.URL.RequestURI()),
		User:      rq.User,
		CSRF:      rq.CSRF,
		RequestID: rq.RequestID,
		Idle:      rq.IdleSeconds,
		Warn:      rq.WarnSeconds,
		Data:      p.Data,
	}
}

// Translator looks up messages in one language.
type Translator struct {
	lang string
	loc  *i18n.Localizer
	log  *slog.Logger
}

// Translator returns the messages of lang (the default language when lang is
// not spoken).
func (r *Renderer) Translator(lang string) Translator {
	loc, ok := r.locs[lang]
	if !ok {
		lang = Languages[0]
		loc = r.locs[lang]
	}
	return Translator{lang: lang, loc: loc, log: r.log}
}

// Lang returns the language code.
func (t Translator) Lang() string { return t.lang }

// T returns the message for key. Arguments come in name/value pairs for
// templates like "{{.Name}}". A missing key shows the key itself (and is
// caught by the catalogue test).
func (t Translator) T(key string, args ...any) string {
	if t.loc == nil {
		return key
	}
	var data map[string]any
	if len(args) > 0 {
		data = make(map[string]any, len(args)/2)
		for i := 0; i+1 < len(args); i += 2 {
			k, _ := args[i].(string)
			data[k] = args[i+1]
		}
	}
	s, err := t.loc.Localize(&i18n.LocalizeConfig{MessageID: key, TemplateData: data})
	if err != nil {
		t.log.Warn("missing message", "key", key, "lang", t.lang)
		return key
	}
	return s
}

// Has reports whether key exists in this language.
func (t Translator) Has(key string) bool {
	if t.loc == nil {
		return false
	}
	_, err := t.loc.Localize(&i18n.LocalizeConfig{MessageID: key})
	return err == nil
}

// Static serves the embedded CSS, images and the optional auto-submit script
// under /static/, with long caching (file names change with content only
// when edited, so the cache is kept short enough for deploys).
func Static() http.Handler {
	sub, _ := fs.Sub(staticFS, "static")
	fsrv := http.FileServer(http.FS(sub))
	return http.StripPrefix("/static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		fsrv.ServeHTTP(w, r)
	}))
}

// Catalogue returns the raw message keys of lang, for tests.
func Catalogue(lang string) (map[string]string, error) {
	data, err := catalogueFS.ReadFile("i18n/" + lang + ".yaml")
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	if err := yaml.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	return m, nil
}
