package gateway

import (
	"net/http"
	"net/http/httptest"
	"testing"

	mw "github.com/civicgate/civicgate/gateway/middleware"
)

// TestModuleRoutes pins down the short cut past the router: only clean
// paths of a known module take it, with the route label the router would
// give; everything else reaches the router unchanged.
func TestModuleRoutes(t *testing.T) {
	var got string
	module := routeAs("/e/bygglov/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = "module" }))
	router := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = "router" })
	h := moduleRoutes(map[string]http.Handler{"bygglov": module}, router)
	for path, want := range map[string]string{
		"/e/bygglov/":                     "module",
		"/e/bygglov/ansokan/1?x=1":        "module",
		"/e/bygglov":                      "router", // the redirect to /e/bygglov/
		"/e/okand/":                       "router", // 404 from the router
		"/e//bygglov/":                    "router",
		"/e/bygglov/../../mina-sidor":     "router", // cleaned by the router first
		"/e/bygglov/./a":                  "router",
		"/e/bygglov//a":                   "router",
		"/mina-sidor":                     "router",
		"/e/bygglov/%2e%2e/%2e%2e/static": "router",
	} {
		got = ""
		req := httptest.NewRequest(http.MethodGet, "http://gw.example"+path, nil)
		var route string
		mw.RequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.ServeHTTP(w, r)
			route = mw.RouteFrom(r.Context())
		})).ServeHTTP(httptest.NewRecorder(), req)
		if got != want {
			t.Errorf("%s went to the %s, want the %s", path, got, want)
		}
		if want == "module" && route != "/e/bygglov/" {
			t.Errorf("%s: route label %q, want /e/bygglov/", path, route)
		}
	}
}
