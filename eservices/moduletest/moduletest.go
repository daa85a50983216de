// Package moduletest runs an e-service module in a test the way the gateway
// runs it: with a real case store and audit log (SQLite in a temporary
// directory, or PostgreSQL), the built-in test population, the site layout,
// and requests that carry an actor and subject as the gateway's guard sets
// them. It does not check levels of assurance or actor rules: that is the
// gateway's job, tested there.
package moduletest

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/civicgate/civicgate/auth"
	"github.com/civicgate/civicgate/eservices"
	"github.com/civicgate/civicgate/eservices/cases"
	"github.com/civicgate/civicgate/eservices/cases/blob"
	"github.com/civicgate/civicgate/eservices/population"
	"github.com/civicgate/civicgate/gateway/audit"
	"github.com/civicgate/civicgate/gateway/sqldb"
	"github.com/civicgate/civicgate/web"
)

// CSRF is the token pages render in tests.
const CSRF = "test-csrf-token"

// Harness is one module with its services.
type Harness struct {
	t      *testing.T
	Module eservices.Module
	Env    *eservices.Env
	Audit  *audit.SQL
	Cases  *cases.SQL
	Now    time.Time
}

// Options change the harness.
type Options struct {
	// DSN picks the database; default a SQLite file in t.TempDir().
	DSN string
	// Now pins the clock; default the real time.
	Now func() time.Time
	// Population replaces the built-in test population.
	Population population.Register
}

// New provisions m against fresh services.
func New(t *testing.T, m eservices.Module, o Options) *Harness {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	dsn := o.DSN
	if dsn == "" {
		dsn = "file:" + filepath.ToSlash(filepath.Join(dir, "test.db"))
	}
	db, d, err := sqldb.Open(ctx, dsn)
	if err != nil {
		t.Fatalf("moduletest: open %s: %v", dsn, err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if err := audit.Migrate(ctx, db, d); err != nil {
		t.Fatal(err)
	}
	if err := cases.Migrate(ctx, db, d); err != nil {
		t.Fatal(err)
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	al, err := audit.NewSQL(db, d, bytes.Repeat([]byte("k"), 32), audit.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := blob.NewDir(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	cs, err := cases.NewSQL(db, d, cases.Options{Auditor: al, Blobs: blobs, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	info := m.Info()
	if err := info.Validate(); err != nil {
		t.Fatalf("moduletest: %v", err)
	}
	assets := web.ModuleAssets{ID: info.ID}
	if a, ok := m.(eservices.Assets); ok {
		assets.Templates, assets.Messages = a.Templates(), a.Messages()
	}
	pages, err := web.New(web.Options{MunicipalitySv: "Exempelkommun", MunicipalityEn: "Example Municipality", Modules: []web.ModuleAssets{assets}})
	if err != nil {
		t.Fatalf("moduletest: templates: %v", err)
	}
	reg := o.Population
	if reg == nil {
		reg = population.Default()
	}
	env := &eservices.Env{
		Cases: cs, Blobs: blobs, Audit: al, Population: reg, Pages: pages,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: now, ModuleID: info.ID, MaxUploadBytes: cases.DefaultMaxUploadBytes,
	}
	if p, ok := m.(eservices.Provisioner); ok {
		if err := p.Provision(env); err != nil {
			t.Fatalf("moduletest: provision: %v", err)
		}
	}
	return &Harness{t: t, Module: m, Env: env, Audit: al, Cases: cs}
}

// As is who sends a request.
type As struct {
	Actor   eservices.Actor
	Subject *eservices.Subject
	Lang    string
}

// Citizen is a citizen logged in with e-ID at LoA substantial, acting for
// themself.
func Citizen(pnr, given, family string) As {
	id := auth.Identity{Kind: auth.Citizen, PersonalNumber: pnr, GivenName: given, FamilyName: family, LoA: auth.LoASubstantial, IdP: "test-oidc", Method: "oidc"}
	return As{Actor: eservices.Actor{Identity: id, Kind: eservices.Self, Channel: "e-service"}, Subject: &eservices.Subject{PersonalNumber: pnr, Name: id.Name()}}
}

// Staff is a staff member with roles handling cases.
func Staff(subject string, roles ...string) As {
	id := auth.Identity{Kind: auth.Staff, Subject: subject, GivenName: "Test", FamilyName: "Handläggare", LoA: auth.LoASubstantial, IdP: "test-staff", Method: "oidc", Roles: roles}
	return As{Actor: eservices.Actor{Identity: id, Channel: "staff"}}
}

// ContactCentre is a contact-centre agent acting for the citizen pnr.
func ContactCentre(subject, pnr, name, channel, reason string) As {
	id := auth.Identity{Kind: auth.Staff, Subject: subject, GivenName: "Kim", FamilyName: "Kontaktsson", LoA: auth.LoASubstantial, IdP: "test-staff", Method: "oidc", Roles: []string{"contact-centre"}}
	return As{Actor: eservices.Actor{Identity: id, Kind: eservices.ContactCentre, Channel: channel, Reason: reason}, Subject: &eservices.Subject{PersonalNumber: pnr, Name: name}}
}

// Response is a module's answer.
type Response struct {
	Code   int
	Body   string
	Header http.Header
}

// Get sends a GET.
func (h *Harness) Get(as As, target string) Response {
	return h.do(as, httptest.NewRequest(http.MethodGet, target, nil))
}

// Post sends a form.
func (h *Harness) Post(as As, target string, form url.Values) Response {
	if form == nil {
		form = url.Values{}
	}
	form.Set("csrf", CSRF)
	req := httptest.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return h.do(as, req)
}

// File is an uploaded file.
type File struct {
	Field, Name string
	Data        []byte
}

// PostMultipart sends a form with files.
func (h *Harness) PostMultipart(as As, target string, form url.Values, files ...File) Response {
	var body bytes.Buffer
	mp := multipart.NewWriter(&body)
	_ = mp.WriteField("csrf", CSRF)
	for k, vs := range form {
		for _, v := range vs {
			_ = mp.WriteField(k, v)
		}
	}
	for _, f := range files {
		w, _ := mp.CreateFormFile(f.Field, f.Name)
		_, _ = w.Write(f.Data)
	}
	_ = mp.Close()
	req := httptest.NewRequest(http.MethodPost, target, &body)
	req.Header.Set("Content-Type", mp.FormDataContentType())
	return h.do(as, req)
}

func (h *Harness) do(as As, req *http.Request) Response {
	lang := as.Lang
	if lang == "" {
		lang = "sv"
	}
	ctx := eservices.WithActor(req.Context(), as.Actor, as.Subject)
	ctx = eservices.WithRequestID(ctx, "TESTREQ")
	ctx = web.WithRequest(ctx, &web.Request{Lang: lang, CSRF: CSRF, RequestID: "TESTREQ", User: &web.User{Name: as.Actor.Identity.Name(), Staff: as.Actor.IsStaff()}})
	rec := httptest.NewRecorder()
	h.Module.ServeHTTP(rec, req.WithContext(ctx))
	return Response{Code: rec.Code, Body: rec.Body.String(), Header: rec.Header()}
}

// AuditActions returns every audited action, oldest first.
func (h *Harness) AuditActions() []audit.Entry {
	h.t.Helper()
	es, err := h.Audit.Since(context.Background(), 0, 10000)
	if err != nil {
		h.t.Fatal(err)
	}
	return es
}
