package remote

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/civicgate/civicgate/auth"
)

// fakeClock is a settable clock shared by gateway and module in a test.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock(t time.Time) *fakeClock {
	c := &fakeClock{}
	c.set(t)
	return c
}

func (c *fakeClock) now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) set(t time.Time)     { c.ns.Store(t.UnixNano()) }
func (c *fakeClock) add(d time.Duration) { c.ns.Add(int64(d)) }

// delivery is what the module received with one request.
type delivery struct {
	token, requestID, csrf string
	claims                 *Assertion
	err                    error
}

// verifyingUpstream is a module that verifies every assertion with the
// clock and records what each request carried.
func verifyingUpstream(t *testing.T, g *gateway, moduleID string, clock *fakeClock) (*httptest.Server, func() []delivery) {
	t.Helper()
	v := g.verifier(t, moduleID, VerifierOptions{Now: clock.now})
	var mu sync.Mutex
	var got []delivery
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, err := v.Verify(r)
		mu.Lock()
		got = append(got, delivery{r.Header.Get(HeaderAssertion), r.Header.Get(HeaderRequestID), r.Header.Get(HeaderCSRFToken), a, err})
		mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	return srv, func() []delivery {
		mu.Lock()
		defer mu.Unlock()
		return append([]delivery(nil), got...)
	}
}

func mustGet(t *testing.T, url string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d", url, res.StatusCode)
	}
}

func TestProxyReusesAssertionForThirtySeconds(t *testing.T) {
	g := newGateway(t, mustSigner(t))
	// Half a second past a whole second: iat is truncated, and the reuse
	// window counts from iat, not from the moment of signing.
	start := time.Unix(1_800_000_000, 500_000_000)
	clock := newFakeClock(start)
	up, deliveries := verifyingUpstream(t, g, "aterbruk", clock)
	g.mount(t, testModule("aterbruk", up.URL), func(o *Options) { o.Now = clock.now })

	request := func(at time.Duration, reqID, csrf string) delivery {
		t.Helper()
		clock.set(start.Add(at))
		c := citizenClaims()
		c.RequestID, c.CSRFToken = reqID, csrf
		g.as(&c)
		mustGet(t, g.srv.URL+"/e/aterbruk/sida?n="+reqID)
		ds := deliveries()
		d := ds[len(ds)-1]
		if d.err != nil {
			t.Fatalf("%s: module refused the assertion: %v", reqID, d.err)
		}
		if d.requestID != reqID || d.csrf != csrf {
			t.Errorf("%s: headers Civicgate-Request-Id %q, Civicgate-Csrf-Token %q; want this request's", reqID, d.requestID, d.csrf)
		}
		if left := time.Unix(d.claims.Expiry, 0).Sub(clock.now()); left < ReuseWindow {
			t.Errorf("%s: the module received an assertion with %s left, want at least %s", reqID, left, ReuseWindow)
		}
		payload := string(mustJSON(t, decodeSegment(t, d.token, 1)))
		for _, secret := range []string{reqID, csrf, `"htm"`, `"htu"`, `"request_id"`} {
			if strings.Contains(payload, secret) {
				t.Errorf("%s: reused assertion contains %s", reqID, secret)
			}
		}
		return d
	}

	first := request(0, "R1", "csrf-a")
	if got := request(10*time.Second, "R2", "csrf-b"); got.token != first.token {
		t.Errorf("a second request 10 s later got a new assertion; want the first one reused")
	}
	// iat is start-0.5 s, so the window ends at start+29.5 s.
	if got := request(29*time.Second+400*time.Millisecond, "R3", "csrf-c"); got.token != first.token {
		t.Errorf("a request 29.9 s after iat got a new assertion; want the first one reused")
	}
	later := request(29*time.Second+500*time.Millisecond, "R4", "csrf-d")
	if later.token == first.token {
		t.Fatalf("the assertion was reused 30 s after its iat")
	}
	if later.claims.IssuedAt != start.Add(29*time.Second+500*time.Millisecond).Unix() || later.claims.ID == first.claims.ID {
		t.Errorf("the new assertion: iat %d jti %q; want a fresh one", later.claims.IssuedAt, later.claims.ID)
	}
	if got := request(40*time.Second, "R5", "csrf-e"); got.token != later.token {
		t.Errorf("the new assertion was not reused in its own window")
	}
	// A clock that jumps back before the assertion's iat gets a new one
	// rather than one the module would see as issued in the future.
	if got := request(20*time.Second, "R6", "csrf-f"); got.token == later.token {
		t.Errorf("the assertion was reused before its iat")
	}
}

func TestProxyNeverSharesAssertionBetweenPeopleOrModules(t *testing.T) {
	g := newGateway(t, mustSigner(t))
	clock := newFakeClock(time.Now())
	upA, deliveriesA := verifyingUpstream(t, g, "modul-a", clock)
	upB, deliveriesB := verifyingUpstream(t, g, "modul-b", clock)
	g.mount(t, testModule("modul-a", upA.URL), func(o *Options) { o.Now = clock.now })
	g.mount(t, testModule("modul-b", upB.URL), func(o *Options) { o.Now = clock.now })

	anna := citizenClaims()
	olle := ClaimsFromIdentity(auth.Identity{
		Kind: auth.Citizen, PersonalNumber: pnrOther, GivenName: "Olle", FamilyName: "Olsson",
		LoA: auth.LoASubstantial, LoAURI: auth.URILoA3, IdP: "bankid",
	})
	annaHigh := anna
	annaHigh.LoA, annaHigh.ACR = auth.LoAHigh, auth.URILoA4
	annaFreja := anna
	annaFreja.IdP = "freja"
	agent := agentClaims() // for Olle
	agentForChild := agent
	agentForChild.SubjectKey, agentForChild.SubjectPersonalNumber, agentForChild.SubjectName = pnrChild, pnrChild, "Barn Barnsson"
	// Two eIDAS users of one name: only the key tells them apart.
	agentForForeigner := agent
	agentForForeigner.SubjectKey, agentForForeigner.SubjectPersonalNumber, agentForForeigner.SubjectName = "prid:SE/DE/1", "", "Hans Meyer"
	agentForOtherForeigner := agentForForeigner
	agentForOtherForeigner.SubjectKey = "prid:SE/DE/2"
	agentByPhone := agent
	agentByPhone.Channel = "phone"
	otherAgent := agent
	otherAgent.ActorKey = "staff:agent-8" // a namesake: only the key differs
	namesake := anna
	namesake.ActorKey, namesake.ActorPersonalNumber = pnrChild, pnrChild
	handler := ClaimsFromIdentity(auth.Identity{Kind: auth.Staff, Subject: "h-1", IdP: "workforce", LoA: auth.LoASubstantial, Roles: []string{"street-handler:norr"}})
	handlerSouth := handler
	handlerSouth.ActorRoles = []string{"street-handler:syd"}
	people := map[string]Claims{
		"anna": anna, "olle": olle, "anna at high": annaHigh, "anna with freja": annaFreja,
		"agent for olle": agent, "agent for a child": agentForChild,
		"agent for a foreigner": agentForForeigner, "agent for another foreigner": agentForOtherForeigner, "agent by phone": agentByPhone,
		"another agent of the same name": otherAgent, "anna's namesake": namesake, "handler": handler, "handler with another scope": handlerSouth,
	}

	owner := map[string]string{} // token → who and where
	for round := range 2 {
		for name, c := range people {
			for _, mod := range []string{"modul-a", "modul-b"} {
				g.as(&c)
				mustGet(t, g.srv.URL+"/e/"+mod+"/")
				ds := deliveriesA()
				if mod == "modul-b" {
					ds = deliveriesB()
				}
				d := ds[len(ds)-1]
				if d.err != nil {
					t.Fatalf("%s in %s: module refused the assertion: %v", name, mod, d.err)
				}
				who := name + " in " + mod
				prev, seen := owner[d.token]
				switch {
				case round == 0 && seen:
					t.Errorf("%s received the assertion of %s", who, prev)
				case round == 1 && prev != who:
					t.Errorf("%s: second request got %q's assertion, want its own reused", who, prev)
				}
				owner[d.token] = who
			}
		}
		clock.add(time.Second)
	}
	if len(owner) != 2*len(people) {
		t.Errorf("%d distinct assertions for %d people in 2 modules", len(owner), len(people))
	}
}

// TestReuseKeyCoversEveryClaim changes each field of Claims in turn: every
// one that can enter an assertion must change the reuse key, and the
// per-request ones must not. A field added to Claims without a thought
// for the key fails here.
func TestReuseKeyCoversEveryClaim(t *testing.T) {
	p, err := NewProxy(testModule("nyckel", "http://127.0.0.1:1"), mustSigner(t), Options{
		PublicURL: "https://gw.example.se", PseudonymKey: testPseudonymKey,
		Identity: func(*http.Request) (Claims, bool) { return Claims{}, false },
	})
	if err != nil {
		t.Fatal(err)
	}
	base := agentClaims()
	base.ACR, base.IdP, base.Channel, base.CSRFToken = "acr", "idp", "phone", "csrf"
	k0 := p.reuseKey(base)
	perRequest := map[string]bool{"RequestID": true, "CSRFToken": true}
	typ := reflect.TypeFor[Claims]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		c := base
		fv := reflect.ValueOf(&c).Elem().Field(i)
		switch fv.Kind() {
		case reflect.String:
			fv.SetString(fv.String() + "x")
		case reflect.Bool:
			fv.SetBool(!fv.Bool())
		case reflect.Int:
			fv.SetInt(fv.Int() + 1)
		case reflect.Slice:
			fv.Set(reflect.Append(fv, reflect.ValueOf("x")))
		default:
			t.Fatalf("field %s of kind %s: teach this test to change it", f.Name, fv.Kind())
		}
		if changed := p.reuseKey(c) != k0; changed == perRequest[f.Name] {
			t.Errorf("changing Claims.%s changes the reuse key: %v, want %v", f.Name, changed, !perRequest[f.Name])
		}
	}
	// Fields must not run into each other: ("ab","c") is not ("a","bc").
	a, b := base, base
	a.ActorName, a.ActorPersonalNumber = "ab", "c"
	b.ActorName, b.ActorPersonalNumber = "a", "bc"
	if p.reuseKey(a) == p.reuseKey(b) {
		t.Errorf("reuse key is ambiguous")
	}
	a.ActorRoles, b.ActorRoles = []string{"r1", "r2"}, []string{"r1r2"}
	if p.reuseKey(a) == p.reuseKey(b) {
		t.Errorf("reuse key is ambiguous over roles")
	}
	// Another proxy (another process) has another salt.
	q, _ := NewProxy(testModule("nyckel", "http://127.0.0.1:1"), p.signer, p.opts)
	if q.reuseKey(base) == k0 {
		t.Errorf("two proxies derive the same key")
	}
	// The module's own settings enter the key.
	allow := testModule("nyckel", "http://127.0.0.1:1")
	allow.AllowPersonalNumber = true
	r, _ := NewProxy(allow, p.signer, p.opts)
	r.salt = p.salt
	if r.reuseKey(base) == k0 {
		t.Errorf("allow_personal_number does not enter the key")
	}
}

func TestProxyBindRequestSignsEveryRequest(t *testing.T) {
	g := newGateway(t, mustSigner(t))
	clock := newFakeClock(time.Now())
	up, deliveries := verifyingUpstream(t, g, "bunden", clock)
	cfg := testModule("bunden", up.URL)
	cfg.BindRequest = true
	p := g.mount(t, cfg, func(o *Options) { o.Now = clock.now })
	if p.tokens != nil {
		t.Errorf("a bound proxy keeps assertions for reuse")
	}
	mustGet(t, g.srv.URL+"/e/bunden/a")
	mustGet(t, g.srv.URL+"/e/bunden/a")
	mustGet(t, g.srv.URL+"/e/bunden/b?x=1")
	ds := deliveries()
	seen := map[string]bool{}
	for i, d := range ds {
		if d.err != nil {
			t.Fatalf("request %d refused: %v", i, d.err)
		}
		if seen[d.token] || seen[d.claims.ID] {
			t.Errorf("request %d: assertion or jti sent before", i)
		}
		seen[d.token], seen[d.claims.ID] = true, true
		if d.claims.Method != http.MethodGet || d.claims.RequestID != "REQ1" {
			t.Errorf("request %d: htm %q request_id %q", i, d.claims.Method, d.claims.RequestID)
		}
	}
	if ds[0].claims.Target != "/a" || ds[2].claims.Target != "/b?x=1" {
		t.Errorf("htu %q and %q, want /a and /b?x=1", ds[0].claims.Target, ds[2].claims.Target)
	}
}

func TestVerifierCacheSkipsSignatureNotClock(t *testing.T) {
	g := newGateway(t, mustSigner(t))
	start := time.Now()
	clock := newFakeClock(start)
	v := g.verifier(t, "tid", VerifierOptions{Now: clock.now})
	tok := signedAt(t, g.signer, g.srv.URL, start, Lifetime)
	ctx := context.Background()

	a1, err := v.VerifyToken(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	a1.Actor.Name = "changed by the handler"
	a2, err := v.VerifyToken(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if n := v.fullChecks.Load(); n != 1 {
		t.Errorf("%d full verifications of one token verified twice, want 1", n)
	}
	if a2.Actor.Name == a1.Actor.Name || a2.Subject != "s" {
		t.Errorf("a remembered assertion was changed through an earlier result: %+v", a2)
	}

	// Within the leeway after exp the token still passes, remembered.
	clock.set(time.Unix(a2.Expiry, 0).Add(29 * time.Second))
	if _, err := v.VerifyToken(ctx, tok); err != nil {
		t.Errorf("within leeway after exp: %v", err)
	}
	// Past it the remembered token is refused, without a new signature
	// check: the cache decided, and decided no.
	clock.set(time.Unix(a2.Expiry, 0).Add(30 * time.Second))
	if _, err := v.VerifyToken(ctx, tok); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "expired") {
		t.Errorf("expired remembered token: %v, want ErrInvalid (expired)", err)
	}
	if n := v.fullChecks.Load(); n != 1 {
		t.Errorf("%d full verifications; the expired token should have been refused from the cache", n)
	}
	if _, err := v.VerifyToken(ctx, tok); !errors.Is(err, ErrInvalid) {
		t.Errorf("expired token, asked again: %v, want ErrInvalid", err)
	}

	// A clock set back before nbf (less the leeway) refuses a remembered
	// token too.
	fresh := signedAt(t, g.signer, g.srv.URL, start, Lifetime)
	clock.set(start)
	if _, err := v.VerifyToken(ctx, fresh); err != nil {
		t.Fatal(err)
	}
	before := v.fullChecks.Load()
	clock.set(start.Add(-31 * time.Second))
	if _, err := v.VerifyToken(ctx, fresh); !errors.Is(err, ErrInvalid) {
		t.Errorf("remembered token before its nbf: %v, want ErrInvalid", err)
	}
	if v.fullChecks.Load() != before {
		t.Errorf("the not-yet-valid token was checked in full; want it refused from the cache")
	}
}

func TestVerifierCacheNeverAdmitsForgeries(t *testing.T) {
	g := newGateway(t, mustSigner(t))
	v := g.verifier(t, "tid", VerifierOptions{})
	ctx := context.Background()
	good := signedAt(t, g.signer, g.srv.URL, time.Now(), Lifetime)
	if _, err := v.VerifyToken(ctx, good); err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, ".")
	other := strings.Split(signedAt(t, g.signer, g.srv.URL, time.Now().Add(time.Second), Lifetime), ".")
	claims := decodeSegment(t, good, 1)
	claims["sub"] = "someone-else"
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString(mustJSON(t, claims)) + "." + parts[2]
	rogueKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rogue := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims(decodeSegment(t, good, 1)))
	rogue.Header["kid"], rogue.Header["typ"] = g.signer.KeyID(), TokenType
	rogueTok, _ := rogue.SignedString(rogueKey)
	forgeries := map[string]string{
		"claims changed under the remembered signature": tampered,
		"another token's signature":                     parts[0] + "." + parts[1] + "." + other[2],
		"same claims, unpublished key":                  rogueTok,
		"signature truncated":                           good[:len(good)-4],
		"trailing garbage":                              good + "AA",
	}
	for round := range 2 {
		for name, tok := range forgeries {
			before := v.fullChecks.Load()
			if _, err := v.VerifyToken(ctx, tok); !errors.Is(err, ErrInvalid) {
				t.Errorf("round %d, %s: %v, want ErrInvalid", round, name, err)
			}
			if v.fullChecks.Load() != before+1 {
				t.Errorf("round %d, %s: answered from the cache", round, name)
			}
		}
	}
	if n := v.verified.len(); n != 1 {
		t.Errorf("%d remembered tokens, want only the genuine one", n)
	}

	// Bound assertions are never remembered; with the cache off nothing is.
	bound := &Assertion{
		Issuer: g.srv.URL, Audience: "tid", IssuedAt: time.Now().Unix(), NotBefore: time.Now().Unix(),
		Expiry: time.Now().Add(Lifetime).Unix(), ID: "j", Method: "GET", Target: "/", Subject: "s",
		Actor: Actor{Kind: "citizen", Key: "s"}, LoA: "substantial", Channel: ChannelEService,
	}
	boundTok, err := g.signer.Sign(bound)
	if err != nil {
		t.Fatal(err)
	}
	off := g.verifier(t, "tid", VerifierOptions{CacheSize: -1})
	for _, c := range []struct {
		v   *Verifier
		tok string
	}{{v, boundTok}, {off, good}} {
		before := c.v.fullChecks.Load()
		for range 2 {
			if _, err := c.v.VerifyToken(ctx, c.tok); err != nil {
				t.Fatal(err)
			}
		}
		if n := c.v.fullChecks.Load() - before; n != 2 {
			t.Errorf("%d full verifications of 2, want 2 (not remembered)", n)
		}
	}
}

func TestTTLCacheIsBounded(t *testing.T) {
	c := newTTLCache[int](64)
	now := time.Now()
	var k digest
	for i := range 10_000 {
		k[0], k[1], k[2] = byte(i), byte(i>>8), byte(i>>16)
		c.put(k, i, now.Add(time.Minute), now)
	}
	if n := c.len(); n > 64 {
		t.Errorf("%d entries in a cache of 64", n)
	}
	if v, ok := c.get(k); !ok || v != 9999 {
		t.Errorf("the latest entry is gone: %v %v", v, ok)
	}
	// Dead entries are swept on a later insert.
	later := now.Add(2 * time.Minute)
	for i := range cacheShards {
		var k digest
		k[0], k[5] = byte(i), 1
		c.put(k, i, later.Add(time.Minute), later)
	}
	if n := c.len(); n != cacheShards {
		t.Errorf("%d entries after the sweep, want the %d live ones", n, cacheShards)
	}
}
