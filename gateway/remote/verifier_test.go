package remote

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// captureAssertion mounts module cfg behind g and returns the assertion a
// GET of path carried, verified by a verifier for verifyAs.
func captureAssertion(t *testing.T, g *gateway, cfg ModuleConfig, path string) (string, *Assertion, error) {
	t.Helper()
	v := g.verifier(t, cfg.ID, VerifierOptions{})
	var tok string
	var got *Assertion
	var verr error
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok = r.Header.Get(HeaderAssertion)
		got, verr = v.Verify(r)
	}))
	t.Cleanup(up.Close)
	cfg.Upstream = up.URL
	g.mount(t, cfg, nil)
	res, err := http.Get(g.srv.URL + "/e/" + cfg.ID + path)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return tok, got, verr
}

func TestAssertionClaimsForCitizen(t *testing.T) {
	g := newGateway(t, mustSigner(t))
	before := time.Now().Unix()
	tok, a, err := captureAssertion(t, g, testModule("felanmalan", ""), "/x?q=1")
	if err != nil {
		t.Fatalf("assertion did not verify: %v", err)
	}
	hdr := decodeSegment(t, tok, 0)
	if hdr["alg"] != "ES256" || hdr["typ"] != TokenType || hdr["kid"] != g.signer.KeyID() {
		t.Errorf("header = %v", hdr)
	}
	if a.Issuer != g.srv.URL || a.Audience != "felanmalan" {
		t.Errorf("iss %q aud %q", a.Issuer, a.Audience)
	}
	if a.IssuedAt < before || a.NotBefore != a.IssuedAt || a.Expiry != a.IssuedAt+60 {
		t.Errorf("iat %d nbf %d exp %d, want nbf=iat, exp=iat+60", a.IssuedAt, a.NotBefore, a.Expiry)
	}
	if len(a.ID) < 20 {
		t.Errorf("jti %q too short", a.ID)
	}
	if a.Actor.Kind != "citizen" || a.Actor.Name != "Anna Andersson" || a.Actor.Roles != nil {
		t.Errorf("act = %+v", a.Actor)
	}
	if a.Subject != a.Actor.Key || a.SubjectName != "Anna Andersson" || a.OnBehalf {
		t.Errorf("a citizen for themself: sub %q act.key %q subject_name %q on_behalf %v", a.Subject, a.Actor.Key, a.SubjectName, a.OnBehalf)
	}
	if a.LoA != "substantial" || a.Level().String() != "substantial" || a.ACR != "http://id.elegnamnden.se/loa/1.0/loa3" || a.IdP != "bankid" {
		t.Errorf("loa %q acr %q idp %q", a.LoA, a.ACR, a.IdP)
	}
	if a.Channel != ChannelEService {
		t.Errorf("channel %q", a.Channel)
	}
	if a.SubjectPNR != "" || a.ActorPNR != "" {
		t.Errorf("personal numbers sent to a module that may not have them")
	}
	raw := decodeSegment(t, tok, 1)
	for k := range raw {
		if strings.Contains(k, "pnr") {
			t.Errorf("claim %s present", k)
		}
	}
	// Without bind_request the assertion may serve several requests and
	// sessions: nothing of one request or session is in it.
	for _, k := range []string{"htm", "htu", "request_id"} {
		if v, ok := raw[k]; ok {
			t.Errorf("claim %s = %v in an assertion without bind_request", k, v)
		}
	}
	payload := string(mustJSON(t, raw))
	for what, v := range map[string]string{"personnummer": pnrAnna, "request ID": "REQ1", "CSRF token": "csrf-token-value"} {
		if strings.Contains(payload, v) {
			t.Errorf("the %s appears in the assertion", what)
		}
	}
}

func TestAssertionBoundToRequest(t *testing.T) {
	g := newGateway(t, mustSigner(t))
	cfg := testModule("bunden", "")
	cfg.BindRequest = true
	tok, a, err := captureAssertion(t, g, cfg, "/x?q=1")
	if err != nil {
		t.Fatalf("assertion did not verify: %v", err)
	}
	if a.Method != http.MethodGet || a.Target != "/x?q=1" || a.RequestID != "REQ1" || len(a.ID) < 20 {
		t.Errorf("htm %q htu %q request_id %q jti %q, want GET, /x?q=1, REQ1 and a jti", a.Method, a.Target, a.RequestID, a.ID)
	}
	if strings.Contains(string(mustJSON(t, decodeSegment(t, tok, 1))), "csrf-token-value") {
		t.Errorf("the CSRF token appears in the assertion")
	}
}

func TestAssertionPersonalNumberOnlyWhenAllowed(t *testing.T) {
	g := newGateway(t, mustSigner(t))
	cfg := testModule("bistand", "")
	cfg.AllowPersonalNumber = true
	_, a, err := captureAssertion(t, g, cfg, "/")
	if err != nil {
		t.Fatal(err)
	}
	if a.SubjectPNR != pnrAnna || a.ActorPNR != pnrAnna {
		t.Errorf("subject_pnr %q actor_pnr %q, want the citizen's", a.SubjectPNR, a.ActorPNR)
	}

	agent := agentClaims()
	g.as(&agent)
	cfg2 := cfg
	cfg2.ID = "bistand2"
	_, a, err = captureAssertion(t, g, cfg2, "/")
	if err != nil {
		t.Fatal(err)
	}
	if a.SubjectPNR != pnrOther || a.ActorPNR != "" {
		t.Errorf("agent on behalf: subject_pnr %q actor_pnr %q, want the citizen's and none", a.SubjectPNR, a.ActorPNR)
	}
	if !a.OnBehalf || a.Channel != ChannelContactCentre || a.Actor.Kind != "staff" ||
		len(a.Actor.Roles) != 1 || a.Actor.Roles[0] != "contact-centre" || a.SubjectName != "Olle Olsson" || a.Actor.Name != "Karin Kontakt" {
		t.Errorf("agent assertion = %+v", a)
	}
	if a.Subject == a.Actor.Key {
		t.Errorf("subject and actor share a pseudonym")
	}
}

func TestPseudonymsStablePerModuleUnlinkableAcross(t *testing.T) {
	g := newGateway(t, mustSigner(t))
	_, a1, err := captureAssertion(t, g, testModule("modul-a", ""), "/")
	if err != nil {
		t.Fatal(err)
	}
	_, a2, err := captureAssertion(t, g, testModule("modul-b", ""), "/")
	if err != nil {
		t.Fatal(err)
	}
	if a1.Subject == a2.Subject {
		t.Errorf("two modules got the same pseudonym %q", a1.Subject)
	}
	p, _ := NewPseudonymizer(testPseudonymKey, "modul-a")
	if p.Pseudonym(pnrAnna) != a1.Subject {
		t.Errorf("pseudonym not stable")
	}
	if p.Pseudonym(pnrChild) == a1.Subject {
		t.Errorf("two people share a pseudonym")
	}
	other, _ := NewPseudonymizer(append([]byte("x"), testPseudonymKey...), "modul-a")
	if other.Pseudonym(pnrAnna) == a1.Subject {
		t.Errorf("pseudonym does not depend on the gateway's key")
	}
}

func TestVerifierRefusesOtherModulesAssertion(t *testing.T) {
	g := newGateway(t, mustSigner(t))
	tok, _, err := captureAssertion(t, g, testModule("modul-a", ""), "/")
	if err != nil {
		t.Fatal(err)
	}
	vb := g.verifier(t, "modul-b", VerifierOptions{})
	if _, err := vb.VerifyToken(context.Background(), tok); !errors.Is(err, ErrInvalid) {
		t.Errorf("module B accepted module A's assertion: %v", err)
	}
}

func TestVerifierRequestBinding(t *testing.T) {
	g := newGateway(t, mustSigner(t))
	cfg := testModule("bind", "")
	cfg.BindRequest = true
	tok, _, err := captureAssertion(t, g, cfg, "/las")
	if err != nil {
		t.Fatal(err)
	}
	v := g.verifier(t, "bind", VerifierOptions{})
	replay := httptest.NewRequest(http.MethodPost, "/radera", nil)
	replay.Header.Set(HeaderAssertion, tok)
	if _, err := v.Verify(replay); !errors.Is(err, ErrInvalid) {
		t.Errorf("assertion for GET /las accepted on POST /radera: %v", err)
	}
	same := httptest.NewRequest(http.MethodGet, "/las", nil)
	same.Header.Set(HeaderAssertion, tok)
	if _, err := v.Verify(same); err != nil {
		t.Errorf("assertion refused on its own request: %v", err)
	}
	if _, err := v.Verify(httptest.NewRequest(http.MethodGet, "/", nil)); !errors.Is(err, ErrMissing) {
		t.Errorf("no header: %v, want ErrMissing", err)
	}
	// The replay stays refused once the genuine request was verified (and
	// a bound assertion is never remembered anyway).
	if _, err := v.Verify(replay); !errors.Is(err, ErrInvalid) {
		t.Errorf("replay accepted after the genuine request: %v", err)
	}

	// An unbound assertion passes on any request, unless the module
	// requires binding.
	unbound, _, err := captureAssertion(t, g, testModule("fri", ""), "/las")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []VerifierOptions{{}, {RequireRequestBinding: true}} {
		req := httptest.NewRequest(http.MethodPost, "/radera", nil)
		req.Header.Set(HeaderAssertion, unbound)
		_, err := g.verifier(t, "fri", o).Verify(req)
		if o.RequireRequestBinding != errors.Is(err, ErrInvalid) || (err != nil && !o.RequireRequestBinding) {
			t.Errorf("unbound assertion, RequireRequestBinding %v: err %v", o.RequireRequestBinding, err)
		}
	}
	req := httptest.NewRequest(http.MethodGet, "/las", nil)
	req.Header.Set(HeaderAssertion, tok)
	if _, err := g.verifier(t, "bind", VerifierOptions{RequireRequestBinding: true}).Verify(req); err != nil {
		t.Errorf("bound assertion refused with RequireRequestBinding: %v", err)
	}
}

// signed returns an assertion for module "tid" valid at t0.
func signedAt(t testing.TB, s *Signer, iss string, iat time.Time, life time.Duration) string {
	t.Helper()
	a := &Assertion{
		Issuer: iss, Audience: "tid", IssuedAt: iat.Unix(), NotBefore: iat.Unix(), Expiry: iat.Add(life).Unix(),
		ID: "jti-1", Subject: "s", Actor: Actor{Kind: "citizen", Key: "s"}, LoA: "substantial", Channel: ChannelEService,
	}
	tok, err := s.Sign(a)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestVerifierTime(t *testing.T) {
	g := newGateway(t, mustSigner(t))
	now := time.Now()
	v := g.verifier(t, "tid", VerifierOptions{Now: func() time.Time { return now }})
	cases := []struct {
		name string
		iat  time.Time
		life time.Duration
		ok   bool
	}{
		{"fresh", now, Lifetime, true},
		{"expired within skew", now.Add(-80 * time.Second), Lifetime, true},
		{"expired", now.Add(-2 * time.Minute), Lifetime, false},
		{"issued in the future within skew", now.Add(20 * time.Second), Lifetime, true},
		{"issued in the future", now.Add(2 * time.Minute), Lifetime, false},
		{"lifetime too long", now, time.Hour, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := v.VerifyToken(context.Background(), signedAt(t, g.signer, g.srv.URL, c.iat, c.life))
			if (err == nil) != c.ok {
				t.Errorf("err = %v, want ok=%v", err, c.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalid) {
				t.Errorf("err = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestVerifierRefusesForgedTokens(t *testing.T) {
	g := newGateway(t, mustSigner(t))
	v := g.verifier(t, "tid", VerifierOptions{})
	good := signedAt(t, g.signer, g.srv.URL, time.Now(), Lifetime)
	if _, err := v.VerifyToken(context.Background(), good); err != nil {
		t.Fatalf("genuine token refused: %v", err)
	}
	parts := strings.Split(good, ".")
	enc := func(m map[string]any) string {
		return base64.RawURLEncoding.EncodeToString(mustJSON(t, m))
	}
	hdr := decodeSegment(t, good, 0)

	noneHdr := map[string]any{"alg": "none", "typ": TokenType, "kid": hdr["kid"]}
	algNone := enc(noneHdr) + "." + parts[1] + "."

	// HS256 keyed with the published JWKS: the classic key-confusion attack.
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims(decodeSegment(t, good, 1)))
	hs.Header["kid"], hs.Header["typ"] = hdr["kid"], TokenType
	hsTok, err := hs.SignedString(g.signer.JWKS())
	if err != nil {
		t.Fatal(err)
	}

	// A genuine ES256 signature by a key the gateway never published,
	// claiming the gateway's kid.
	rogueKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rogue := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims(decodeSegment(t, good, 1)))
	rogue.Header["kid"], rogue.Header["typ"] = hdr["kid"], TokenType
	rogueTok, _ := rogue.SignedString(rogueKey)

	// The gateway's own signature, but a plain JWT type.
	plain := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims(decodeSegment(t, good, 1)))
	plain.Header["kid"] = hdr["kid"]
	plainTok, _ := plain.SignedString(g.signer.key)

	otherIss := signedAt(t, g.signer, "https://evil.example", time.Now(), Lifetime)

	tampered := parts[0] + "." + enc(map[string]any{"iss": g.srv.URL, "aud": "tid", "sub": "other"}) + "." + parts[2]

	for name, tok := range map[string]string{
		"alg none": algNone, "HS256": hsTok, "unpublished key": rogueTok, "wrong typ": plainTok,
		"wrong issuer": otherIss, "tampered claims": tampered, "garbage": "a.b.c",
	} {
		if _, err := v.VerifyToken(context.Background(), tok); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
}

// switchableJWKS serves whichever signer's JWKS is current and counts
// fetches.
type switchableJWKS struct {
	cur     atomic.Pointer[Signer]
	fetches atomic.Int32
}

func (s *switchableJWKS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.fetches.Add(1)
	s.cur.Load().JWKSHandler().ServeHTTP(w, r)
}

func TestVerifierKeyRotation(t *testing.T) {
	oldKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	newKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	signerOld, _ := NewSigner([]*ecdsa.PrivateKey{oldKey}, SignerOptions{})
	publishBoth, _ := NewSigner([]*ecdsa.PrivateKey{oldKey, newKey}, SignerOptions{}) // step 1: new key published
	signerNew, _ := NewSigner([]*ecdsa.PrivateKey{newKey, oldKey}, SignerOptions{})   // step 2: new key signs
	onlyNew, _ := NewSigner([]*ecdsa.PrivateKey{newKey}, SignerOptions{})             // step 3: old key removed
	if publishBoth.KeyID() != signerOld.KeyID() || signerNew.KeyID() == signerOld.KeyID() {
		t.Fatal("the first key must sign")
	}

	jwks := &switchableJWKS{}
	jwks.cur.Store(signerOld)
	srv := httptest.NewServer(jwks)
	defer srv.Close()
	now := time.Now()
	clock := func() time.Time { return now }
	v, err := NewVerifier(srv.URL+JWKSPath, "tid", VerifierOptions{Issuer: "https://gw", Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	verify := func(s *Signer) error {
		_, err := v.VerifyToken(context.Background(), signedAt(t, s, "https://gw", now, Lifetime))
		return err
	}
	if err := verify(signerOld); err != nil {
		t.Fatalf("old key before rotation: %v", err)
	}
	jwks.cur.Store(publishBoth)
	now = now.Add(time.Minute)
	if err := verify(signerOld); err != nil {
		t.Errorf("old key while both are published: %v", err)
	}
	jwks.cur.Store(signerNew)
	// An unknown kid makes the verifier refetch at once (beyond the
	// minimum interval), without waiting for the cache to expire.
	if err := verify(signerNew); err != nil {
		t.Errorf("new key after the switch: %v", err)
	}
	if err := verify(signerOld); err != nil {
		t.Errorf("old key's last assertions after the switch: %v", err)
	}
	jwks.cur.Store(onlyNew)
	now = now.Add(6 * time.Minute) // past RefreshInterval
	if err := verify(signerOld); !errors.Is(err, ErrInvalid) {
		t.Errorf("old key after removal: %v, want ErrInvalid", err)
	}
	if err := verify(signerNew); err != nil {
		t.Errorf("new key after removal of the old: %v", err)
	}

	// Unknown kids (forgeries) do not make the verifier hammer the gateway.
	before := jwks.fetches.Load()
	rogue, _ := GenerateSigner()
	for range 20 {
		if err := verify(rogue); !errors.Is(err, ErrInvalid) {
			t.Fatalf("rogue key: %v", err)
		}
	}
	if n := jwks.fetches.Load() - before; n > 1 {
		t.Errorf("%d JWKS fetches for 20 unknown kids, want at most 1", n)
	}
}

func TestVerifierKeysUnavailable(t *testing.T) {
	s := mustSigner(t)
	dead := httptest.NewServer(http.NotFoundHandler())
	url := dead.URL
	dead.Close()
	v, err := NewVerifier(url+JWKSPath, "tid", VerifierOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tok := signedAt(t, s, url, time.Now(), Lifetime)
	if _, err := v.VerifyToken(context.Background(), tok); !errors.Is(err, ErrKeysUnavailable) {
		t.Errorf("err = %v, want ErrKeysUnavailable", err)
	}
	h := v.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { t.Error("next reached") }))
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set(HeaderAssertion, tok)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != http.StatusServiceUnavailable {
		t.Errorf("middleware status %d, want 503", w.Code)
	}
}

func TestMiddleware(t *testing.T) {
	g := newGateway(t, mustSigner(t))
	v := g.verifier(t, "mw", VerifierOptions{})
	var got *Assertion
	up := httptest.NewServer(v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = FromContext(r.Context())
	})))
	defer up.Close()
	g.mount(t, testModule("mw", up.URL), nil)
	res, err := http.Get(g.srv.URL + "/e/mw/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK || got == nil || got.Actor.Name != "Anna Andersson" {
		t.Errorf("through the gateway: status %d, assertion %+v", res.StatusCode, got)
	}
	got = nil
	res, err = http.Get(up.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized || got != nil {
		t.Errorf("direct: status %d, want 401 and next not reached", res.StatusCode)
	}
}

func decodeSegment(t *testing.T, tok string, i int) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[i])
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]any{}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
