package main

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/civicgate/civicgate/auth"
	"github.com/civicgate/civicgate/gateway/remote"
)

// stack is the example module behind a real remote.Proxy, as the gateway
// runs it: the gateway test server publishes the JWKS and mounts the proxy
// at /e/<id>/.
type stack struct {
	gateway *httptest.Server
	module  *httptest.Server
	signer  *remote.Signer
	mux     *http.ServeMux
}

var pseudonymKey = bytes.Repeat([]byte{7}, 32)

func newStack(t *testing.T) *stack {
	t.Helper()
	signer, err := remote.GenerateSigner()
	if err != nil {
		t.Fatal(err)
	}
	s := &stack{signer: signer, mux: http.NewServeMux()}
	s.mux.Handle("GET "+remote.JWKSPath, signer.JWKSHandler())
	s.gateway = httptest.NewServer(s.mux)
	t.Cleanup(s.gateway.Close)
	v, err := remote.NewVerifier(s.gateway.URL+remote.JWKSPath, "exempel", remote.VerifierOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.module = httptest.NewServer(newApp(v))
	t.Cleanup(s.module.Close)
	s.mount(t, "exempel")
	return s
}

// mount adds a proxy to the module under id, with Anna logged in.
func (s *stack) mount(t *testing.T, id string) {
	t.Helper()
	cfg := remote.ModuleConfig{
		ID:       id,
		Upstream: s.module.URL,
		Info: remote.Info{
			TitleSv: "Felanmälan gata och park", TitleEn: "Report a street or park fault",
			Owner:        remote.Owner{Department: "Tekniska förvaltningen", Name: "Gatuchef", Contact: "felanmalan@example.se"},
			HandlerRoles: []string{"street-handler"},
			PersonalData: []string{"name", "location"},
			LegalBasis:   "Allmänt intresse (GDPR art. 6.1 e)",
			Retention:    2 * 365 * 24 * time.Hour,
		},
	}
	p, err := remote.NewProxy(cfg, s.signer, remote.Options{
		PublicURL:    s.gateway.URL,
		PseudonymKey: pseudonymKey,
		Identity: func(*http.Request) (remote.Claims, bool) {
			c := remote.ClaimsFromIdentity(auth.Identity{
				Kind: auth.Citizen, PersonalNumber: "198107249289", GivenName: "Anna", FamilyName: "Andersson",
				LoA: auth.LoASubstantial, LoAURI: auth.URILoA3, IdP: "bankid",
			})
			c.RequestID, c.CSRFToken = "REQ-1", "session-csrf-token"
			return c, true
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	s.mux.Handle("/e/"+id+"/", http.StripPrefix("/e/"+id, p))
}

func body(t *testing.T, res *http.Response) string {
	t.Helper()
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestFormThroughTheGateway(t *testing.T) {
	s := newStack(t)
	res, err := http.Get(s.gateway.URL + "/e/exempel/")
	if err != nil {
		t.Fatal(err)
	}
	page := body(t, res)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", res.StatusCode, page)
	}
	for _, want := range []string{
		"Du är inloggad som Anna Andersson (nivå substantial)",
		`name="csrf" value="session-csrf-token"`,
		`<form method="post">`,
		"Gatubelysning / Street lighting",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(page, "198107249289") {
		t.Error("the page shows the personnummer, which the module was never given")
	}
	// The next request arrives with the same (reused) assertion and is
	// served as well.
	res, err = http.Get(s.gateway.URL + "/e/exempel/")
	if err != nil {
		t.Fatal(err)
	}
	if page := body(t, res); res.StatusCode != http.StatusOK || !strings.Contains(page, "Anna Andersson") {
		t.Errorf("second request: status %d", res.StatusCode)
	}
}

func TestSubmitThroughTheGateway(t *testing.T) {
	s := newStack(t)
	var logged bytes.Buffer
	defer slog.SetDefault(slog.Default())
	slog.SetDefault(slog.New(slog.NewTextHandler(&logged, nil)))
	post := func(form url.Values) (int, string) {
		res, err := http.PostForm(s.gateway.URL+"/e/exempel/", form)
		if err != nil {
			t.Fatal(err)
		}
		return res.StatusCode, body(t, res)
	}
	status, page := post(url.Values{
		"kategori": {"belysning"}, "plats": {"Storgatan 12 <vid busshållplatsen>"},
		"beskrivning": {"Lampan är trasig."}, "csrf": {"session-csrf-token"},
	})
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, page)
	}
	for _, want := range []string{"Din felanmälan är mottagen", "FEL-", "Gatubelysning", "Storgatan 12 &lt;vid busshållplatsen&gt;", "Lampan är trasig."} {
		if !strings.Contains(page, want) {
			t.Errorf("receipt lacks %q", want)
		}
	}
	// The request ID reaches the module's log from the header.
	if !strings.Contains(logged.String(), "request_id=REQ-1") {
		t.Errorf("log lacks the gateway's request ID: %s", logged.String())
	}

	status, page = post(url.Values{"kategori": {"raket"}, "plats": {""}, "beskrivning": {strings.Repeat("x", 2001)}})
	if status != http.StatusUnprocessableEntity {
		t.Fatalf("invalid form: status %d, want 422", status)
	}
	for _, want := range []string{"Välj vad felet gäller.", "Ange var felet finns.", "högst 2000 tecken", "Please correct the following"} {
		if !strings.Contains(page, want) {
			t.Errorf("error page lacks %q", want)
		}
	}
	if strings.Contains(page, "FEL-") {
		t.Error("an invalid report got a receipt")
	}
}

func TestModuleRefusesRequestsNotFromTheGateway(t *testing.T) {
	s := newStack(t)
	get := func(header string) int {
		req, _ := http.NewRequest(http.MethodGet, s.module.URL+"/", nil)
		if header != "" {
			req.Header.Set(remote.HeaderAssertion, header)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		page := body(t, res)
		if strings.Contains(page, "Du är inloggad") {
			t.Errorf("module served its page without a valid assertion")
		}
		return res.StatusCode
	}
	if got := get(""); got != http.StatusUnauthorized {
		t.Errorf("no assertion: status %d, want 401", got)
	}

	// Well-formed assertions, bound and unbound, from a signer the gateway
	// never published.
	rogue, _ := remote.GenerateSigner()
	now := time.Now().Unix()
	for _, bound := range []bool{true, false} {
		a := &remote.Assertion{
			Issuer: s.gateway.URL, Audience: "exempel", IssuedAt: now, NotBefore: now, Expiry: now + 60, ID: "x",
			Subject: "s", Actor: remote.Actor{Kind: "citizen", Key: "s", Name: "Mallory"},
			LoA: "high", Channel: remote.ChannelEService,
		}
		if bound {
			a.Method, a.Target = http.MethodGet, "/"
		}
		forged, err := rogue.Sign(a)
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if got := get(forged); got != http.StatusUnauthorized {
				t.Errorf("forged assertion (bound %v): status %d, want 401", bound, got)
			}
		}
	}
	if got := get("not-a-jwt"); got != http.StatusUnauthorized {
		t.Errorf("garbage assertion: status %d, want 401", got)
	}
}

func TestModuleRefusesAssertionForAnotherModule(t *testing.T) {
	s := newStack(t)
	// The gateway also routes /e/annan/ to this module: its assertions are
	// for "annan", and the module, which is "exempel", must refuse them.
	s.mount(t, "annan")
	res, err := http.Get(s.gateway.URL + "/e/annan/")
	if err != nil {
		t.Fatal(err)
	}
	page := body(t, res)
	if res.StatusCode != http.StatusUnauthorized || strings.Contains(page, "Du är inloggad") {
		t.Errorf("assertion for another module: status %d, want 401", res.StatusCode)
	}
}
