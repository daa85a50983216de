package gateway_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/civicgate/civicgate/auth"
	"github.com/civicgate/civicgate/gateway/config"
	"github.com/civicgate/civicgate/gateway/remote"
)

// TestRemoteModuleBehindTheGateway configures a separate service as a
// remote module: the gateway's guard applies, the service receives a signed
// assertion it verifies with the gateway's JWKS, and it never sees the
// browser's cookies.
func TestRemoteModuleBehindTheGateway(t *testing.T) {
	var mu sync.Mutex
	var seen []*remote.Assertion
	var leaked []string
	var verifier *remote.Verifier
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if len(r.Cookies()) > 0 || r.Header.Get("Authorization") != "" {
			leaked = append(leaked, r.Header.Get("Cookie")+r.Header.Get("Authorization"))
		}
		a, err := verifier.Verify(r)
		if err != nil {
			http.Error(w, "unauthorised: "+err.Error(), http.StatusUnauthorized)
			return
		}
		seen = append(seen, a)
		http.SetCookie(w, &http.Cookie{Name: "stolen", Value: "x"})
		fmt.Fprintf(w, "<p id=\"who\">Du är inloggad som %s (nivå %s)</p>", a.Actor.Name, a.LoA)
	}))
	defer upstream.Close()

	g := newGateway(t, gwOptions{edit: func(c *config.Config) {
		c.RemoteModules = []remote.ModuleConfig{{
			ID: "felanmalan", Upstream: upstream.URL, Timeout: 5 * time.Second,
			Info: remote.Info{
				TitleSv: "Felanmälan", TitleEn: "Report a fault",
				Owner:  remote.Owner{Department: "Tekniska förvaltningen", Name: "Systemägare", Contact: "gata@example.se"},
				MinLoA: "substantial", Actors: []string{"self"}, HandlerRoles: []string{"street-handler"},
				PersonalData: []string{"namn"}, LegalBasis: "Allmänt intresse", Retention: 24 * time.Hour,
			},
		}}
	}})
	var err error
	verifier, err = remote.NewVerifier(g.URL+remote.JWKSPath, "felanmalan", remote.VerifierOptions{HTTPClient: g.srv.Client()})
	if err != nil {
		t.Fatal(err)
	}

	b := newBrowser(t, g)
	// The guard: not logged in means the login chooser, not the module.
	if res := b.get("/e/felanmalan/"); res.URL.Path != "/login" {
		t.Fatalf("anonymous request reached %s", res.URL)
	}
	res := b.login("test-oidc", tolvan, auth.URILoA3, "/e/felanmalan/")
	if res.Status != http.StatusOK || !strings.Contains(res.Body, "Du är inloggad som Tolvan Tolvansson (nivå substantial)") {
		t.Fatalf("module page: %d\n%s\n%s", res.Status, res.Body, g.log.String())
	}
	for _, c := range res.Header.Values("Set-Cookie") {
		if strings.HasPrefix(c, "stolen=") {
			t.Error("the module set a cookie on the gateway's origin")
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(leaked) > 0 {
		t.Errorf("cookies or credentials reached the module: %q", leaked)
	}
	if len(seen) == 0 {
		t.Fatal("no assertion verified")
	}
	a := seen[len(seen)-1]
	if a.Audience != "felanmalan" || a.SubjectPNR != "" || a.ActorPNR != "" || a.Actor.Key == tolvan || a.Actor.Key == "" {
		t.Errorf("assertion: %+v (the personnummer must not be sent unless allowed)", a)
	}
	// The start page lists the remote e-service.
	if home := b.get("/"); !strings.Contains(home.Body, "Felanmälan") {
		t.Error("start page does not list the remote module")
	}
}
