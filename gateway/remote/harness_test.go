package remote

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/civicgate/civicgate/auth"
)

const (
	pnrAnna  = "198107249289"
	pnrChild = "201701102384"
	pnrOther = "195006262546"
)

var testPseudonymKey = bytes.Repeat([]byte("k"), 32)

// seen is what the test upstream recorded of the last request.
type seen struct {
	mu     sync.Mutex
	header http.Header
	body   []byte
	uri    string
	method string
	hits   int
}

func (s *seen) last() (http.Header, []byte, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.header, s.body, s.uri
}

// recordingUpstream returns a module that records each request and answers
// through respond (or 200 "ok").
func recordingUpstream(t *testing.T, respond func(w http.ResponseWriter, r *http.Request)) (*httptest.Server, *seen) {
	t.Helper()
	s := &seen{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.header, s.body, s.uri, s.method = r.Header.Clone(), body, r.RequestURI, r.Method
		s.hits++
		s.mu.Unlock()
		if respond != nil {
			respond(w, r)
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return srv, s
}

func testModule(id, upstream string) ModuleConfig {
	return ModuleConfig{
		ID:       id,
		Upstream: upstream,
		Info: Info{
			TitleSv:      "Testtjänst",
			TitleEn:      "Test service",
			Owner:        Owner{Department: "Tekniska förvaltningen", Name: "Gatuchefen", Contact: "tekniska@example.se"},
			Actors:       []string{ActorSelf, ActorContactCentre},
			HandlerRoles: []string{"street-handler:*"},
			PersonalData: []string{"name", "location"},
			LegalBasis:   "public task",
			Retention:    2 * 365 * 24 * time.Hour,
		},
	}
}

func citizenClaims() Claims {
	c := ClaimsFromIdentity(auth.Identity{
		Kind: auth.Citizen, PersonalNumber: pnrAnna, GivenName: "Anna", FamilyName: "Andersson",
		LoA: auth.LoASubstantial, LoAURI: auth.URILoA3, IdP: "bankid", Method: "saml",
	})
	c.RequestID = "REQ1"
	c.CSRFToken = "csrf-token-value"
	return c
}

func agentClaims() Claims {
	c := ClaimsFromIdentity(auth.Identity{
		Kind: auth.Staff, Subject: "agent-7", GivenName: "Karin", FamilyName: "Kontakt",
		LoA: auth.LoASubstantial, LoAURI: auth.URILoA3, IdP: "workforce", Roles: []string{"contact-centre"},
	})
	c.SubjectKey = pnrOther
	c.SubjectPersonalNumber = pnrOther
	c.SubjectName = "Olle Olsson"
	c.OnBehalf = true
	c.RequestID = "REQ2"
	return c
}

// gateway is a test gateway: the JWKS and one or more proxies mounted at
// /e/<id>/, with the identity chosen per test.
type gateway struct {
	srv      *httptest.Server
	signer   *Signer
	identity atomic.Pointer[Claims] // nil = anonymous
	statuses chan int               // ErrorPage calls
	mux      *http.ServeMux
}

func newGateway(t *testing.T, signer *Signer) *gateway {
	t.Helper()
	g := &gateway{signer: signer, statuses: make(chan int, 16), mux: http.NewServeMux()}
	g.mux.Handle("GET "+JWKSPath, signer.JWKSHandler())
	g.srv = httptest.NewServer(g.mux)
	t.Cleanup(g.srv.Close)
	c := citizenClaims()
	g.identity.Store(&c)
	return g
}

func (g *gateway) mount(t *testing.T, cfg ModuleConfig, mod func(*Options)) *Proxy {
	t.Helper()
	opts := Options{
		PublicURL:    g.srv.URL,
		PseudonymKey: testPseudonymKey,
		Identity: func(*http.Request) (Claims, bool) {
			c := g.identity.Load()
			if c == nil {
				return Claims{}, false
			}
			return *c, true
		},
		ErrorPage: func(w http.ResponseWriter, _ *http.Request, status int) {
			g.statuses <- status
			http.Error(w, "error page", status)
		},
	}
	if mod != nil {
		mod(&opts)
	}
	p, err := NewProxy(cfg, g.signer, opts)
	if err != nil {
		t.Fatal(err)
	}
	g.mux.Handle("/e/"+cfg.ID+"/", http.StripPrefix("/e/"+cfg.ID, p))
	return p
}

func (g *gateway) as(c *Claims) { g.identity.Store(c) }

// errorStatus returns the status ErrorPage was called with, or 0.
func (g *gateway) errorStatus() int {
	select {
	case s := <-g.statuses:
		return s
	default:
		return 0
	}
}

func (g *gateway) verifier(t *testing.T, moduleID string, opts VerifierOptions) *Verifier {
	t.Helper()
	v, err := NewVerifier(g.srv.URL+JWKSPath, moduleID, opts)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func mustSigner(t testing.TB) *Signer {
	t.Helper()
	s, err := GenerateSigner()
	if err != nil {
		t.Fatal(err)
	}
	return s
}
