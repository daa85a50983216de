package web

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
)

func TestCataloguesHaveTheSameKeys(t *testing.T) {
	sv, err := Catalogue("sv")
	if err != nil {
		t.Fatal(err)
	}
	en, err := Catalogue("en")
	if err != nil {
		t.Fatal(err)
	}
	for k := range sv {
		if _, ok := en[k]; !ok {
			t.Errorf("key %q is in sv.yaml but not en.yaml", k)
		}
	}
	for k := range en {
		if _, ok := sv[k]; !ok {
			t.Errorf("key %q is in en.yaml but not sv.yaml", k)
		}
	}
}

var keyUse = regexp.MustCompile(`\.T\.T "([a-z0-9_.]+)"`)

func TestEveryTemplateKeyExists(t *testing.T) {
	sv, _ := Catalogue("sv")
	files, _ := fs.Glob(templateFS, "templates/*.html")
	for _, f := range files {
		b, _ := templateFS.ReadFile(f)
		for _, m := range keyUse.FindAllStringSubmatch(string(b), -1) {
			if _, ok := sv[m[1]]; !ok {
				t.Errorf("%s uses missing key %q", f, m[1])
			}
		}
	}
}

func TestRenderLayout(t *testing.T) {
	r, err := New(Options{Dev: true, MunicipalitySv: "Exempelkommun", MunicipalityEn: "Example Municipality"})
	if err != nil {
		t.Fatal(err)
	}
	for _, lang := range []string{"sv", "en"} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req = req.WithContext(WithRequest(req.Context(), &Request{Lang: lang, RequestID: "abc"}))
		w := httptest.NewRecorder()
		r.Render(w, req, http.StatusOK, "start.html", Page{Title: "start.title", Data: map[string]any{"Services": nil}})
		body := w.Body.String()
		banner := map[string]string{"sv": "TESTLÄGE – inte riktig e-legitimation", "en": "TEST MODE – not a real e-ID"}[lang]
		for _, want := range []string{`<html lang="` + lang + `">`, banner, `href="#main"`, `<main id="main"`, `/lang/`} {
			if !strings.Contains(body, want) {
				t.Errorf("%s page lacks %q", lang, want)
			}
		}
		if strings.Contains(body, "style=") || strings.Contains(body, "<script>") {
			t.Errorf("%s page has inline style or script (breaks the CSP)", lang)
		}
	}
	// Without dev mode there is no banner.
	r2, _ := New(Options{})
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	w := httptest.NewRecorder()
	r2.Render(w, req, http.StatusOK, "start.html", Page{Title: "start.title", Data: map[string]any{"Services": nil}})
	if strings.Contains(w.Body.String(), "TESTLÄGE") {
		t.Error("banner shown outside dev mode")
	}
}

func TestTranslatorArgs(t *testing.T) {
	r, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Translator("en").T("site.loggedin", "Name", "Tolvan"); got != "Logged in as Tolvan" {
		t.Fatalf("got %q", got)
	}
	if got := r.Translator("xx").T("site.start"); got != "Start" {
		t.Fatalf("unknown language should fall back to Swedish, got %q", got)
	}
}

// TestModulePartials: a module's _*.html templates are available to every
// one of its pages, and are not pages themselves.
func TestModulePartials(t *testing.T) {
	mod := fstest.MapFS{
		"a.html":       {Data: []byte(`{{define "content"}}<p id="a">{{template "shared" .}}</p>{{end}}`)},
		"b.html":       {Data: []byte(`{{define "content"}}<p id="b">{{template "shared" .}}</p>{{end}}`)},
		"_shared.html": {Data: []byte(`{{define "shared"}}shared-part{{end}}`)},
	}
	r, err := New(Options{Modules: []ModuleAssets{{ID: "m", Templates: mod}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, page := range []string{"m/a.html", "m/b.html"} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		w := httptest.NewRecorder()
		r.Render(w, req, http.StatusOK, page, Page{Title: "start.title"})
		if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "shared-part") {
			t.Errorf("%s: %d, partial not rendered:\n%s", page, w.Code, w.Body.String())
		}
	}
	if _, ok := r.pages["m/_shared.html"]; ok {
		t.Error("a partial was prepared as a page")
	}
}
