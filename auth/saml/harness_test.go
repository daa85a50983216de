package saml

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"encoding/xml"
	"html"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"
	crewsaml "github.com/crewjam/saml"
	"github.com/crewjam/saml/xmlenc"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/civicgate/civicgate/auth"
)

// Test personnummer from EID.md (Skatteverket's never-assigned test numbers).
const (
	testPNR      = "198107249289"
	testPNR2     = "195006262546"
	testCoordNr  = "197010632391"
	testBadCheck = "201701272394"

	spEntityID = "https://gw.example.se/saml/sp"
	spACS      = "https://gw.example.se/saml/acs"
	spMetadata = "https://gw.example.se/saml/metadata"
	spSLO      = "https://gw.example.se/saml/slo"
)

// fakeReplay is an in-memory session.ReplayCache.
type fakeReplay struct {
	mu   sync.Mutex
	seen map[string]time.Time
}

func newFakeReplay() *fakeReplay { return &fakeReplay{seen: map[string]time.Time{}} }

func (f *fakeReplay) FirstUse(_ context.Context, key string, expiry time.Time) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.seen[key]; ok {
		return false, nil
	}
	f.seen[key] = expiry
	return true, nil
}

// keyPair is an RSA key with a self-signed certificate, written to PEM files.
type keyPair struct {
	key      *rsa.PrivateKey
	cert     *x509.Certificate
	keyFile  string
	certFile string
}

var (
	keyCacheMu sync.Mutex
	keyCache   = map[string]*rsa.PrivateKey{}
)

// testKey returns the named 2048-bit key, loaded or generated once per test
// binary.
func testKey(t testing.TB, name string) *rsa.PrivateKey {
	keyCacheMu.Lock()
	defer keyCacheMu.Unlock()
	if k, ok := keyCache[name]; ok {
		return k
	}
	// Fixed keys from testdata (testdata/gen.sh) keep the tests fast, the
	// fuzz workers above all; a name without a file gets a fresh key.
	k, err := loadKey(filepath.Join("testdata", name+".key"))
	if err != nil {
		if k, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			t.Fatal(err)
		}
	}
	keyCache[name] = k
	return k
}

func newKeyPair(t testing.TB, dir, name string) keyPair {
	t.Helper()
	key := testKey(t, name)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	kp := keyPair{key: key, cert: cert,
		keyFile:  filepath.Join(dir, name+".key"),
		certFile: filepath.Join(dir, name+".crt"),
	}
	writePEM(t, kp.keyFile, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(key))
	writePEM(t, kp.certFile, "CERTIFICATE", der)
	return kp
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func signingContext(t testing.TB, kp keyPair, method string) *dsig.SigningContext {
	t.Helper()
	sc := dsig.NewDefaultSigningContext(dsig.TLSCertKeyStore(tls.Certificate{
		Certificate: [][]byte{kp.cert.Raw}, PrivateKey: kp.key, Leaf: kp.cert,
	}))
	sc.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	if err := sc.SetSignatureMethod(method); err != nil {
		t.Fatal(err)
	}
	return sc
}

// signFirst signs el (which must have an ID) and moves the signature to
// position pos among its children.
func signAt(t testing.TB, sc *dsig.SigningContext, el *etree.Element, pos int) *etree.Element {
	t.Helper()
	signed, err := sc.SignEnveloped(el)
	if err != nil {
		t.Fatal(err)
	}
	moveSignature(signed, pos)
	return signed
}

func docBytes(t testing.TB, el *etree.Element) []byte {
	t.Helper()
	doc := etree.NewDocument()
	doc.SetRoot(el)
	b, err := doc.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// testClock is the provider's pinned clock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

// harness is a real SAML IdP (crewjam's IdentityProvider on httptest) and
// a Provider trusting it through signed aggregate metadata.
type harness struct {
	t     testing.TB
	dir   string
	now   time.Time // the clock the IdP and forged responses use
	clock *testClock

	idpKey, fedKey                keyPair
	spSign, spEnc, spPrev, spNext keyPair

	srv      *httptest.Server
	idp      *crewsaml.IdentityProvider
	entityID string

	// What the IdP's session provider and assertion maker produce.
	mu       sync.Mutex
	classRef string
	attrs    []crewsaml.Attribute
	tweak    func(*crewsaml.Assertion)
	serveMD  func() []byte

	replay *fakeReplay
	cfg    Config
	p      *Provider
}

func personAttrs(pnr string) []crewsaml.Attribute {
	a := func(name, friendly, v string) crewsaml.Attribute {
		return crewsaml.Attribute{Name: name, FriendlyName: friendly, NameFormat: attrNameFormatURI,
			Values: []crewsaml.AttributeValue{{Type: "xs:string", Value: v}}}
	}
	out := []crewsaml.Attribute{
		a(auth.AttrGivenName, "givenName", "Tolvan"),
		a(auth.AttrSurname, "sn", "Tolvansson"),
		a(auth.AttrDisplayName, "displayName", "Tolvan Tolvansson"),
		a(auth.AttrDateOfBirth, "dateOfBirth", "1981-07-24"),
		a(auth.AttrTransactionIdentifier, "transactionIdentifier", "txn-0042"),
	}
	if pnr != "" {
		out = append(out, a(auth.AttrPersonalIdentityNumber, "personalIdentityNumber", pnr))
	}
	return out
}

type harnessOpt func(*harness)

func withConfig(f func(*Config)) harnessOpt {
	return func(h *harness) { f(&h.cfg) }
}

func newHarness(t testing.TB, opts ...harnessOpt) *harness {
	t.Helper()
	dir := t.TempDir()
	h := &harness{
		t: t, dir: dir,
		now:      time.Now().UTC().Truncate(time.Second),
		idpKey:   newKeyPair(t, dir, "idp"),
		fedKey:   newKeyPair(t, dir, "federation"),
		spSign:   newKeyPair(t, dir, "sp-sign"),
		spEnc:    newKeyPair(t, dir, "sp-enc"),
		spPrev:   newKeyPair(t, dir, "sp-enc-prev"),
		spNext:   newKeyPair(t, dir, "sp-enc-next"),
		classRef: auth.URILoA3,
		attrs:    personAttrs(testPNR),
		replay:   newFakeReplay(),
	}
	h.clock = &testClock{t: h.now}

	mux := http.NewServeMux()
	h.srv = httptest.NewServer(mux)
	t.Cleanup(h.srv.Close)
	base, _ := url.Parse(h.srv.URL)
	h.entityID = h.srv.URL + "/idp"
	h.idp = &crewsaml.IdentityProvider{
		Key:             h.idpKey.key,
		Certificate:     h.idpKey.cert,
		MetadataURL:     *base.JoinPath("/idp"),
		SSOURL:          *base.JoinPath("/sso"),
		LogoutURL:       *base.JoinPath("/slo"),
		SignatureMethod: dsig.RSASHA256SignatureMethod,
		SessionProvider: h,
		AssertionMaker:  h,
		Logger:          testLogger{t},
	}
	h.idp.ServiceProviderProvider = h
	mux.HandleFunc("/sso", h.idp.ServeSSO)
	mux.HandleFunc("/aggregate.xml", func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		f := h.serveMD
		h.mu.Unlock()
		var b []byte
		if f != nil {
			b = f()
		} else {
			b = h.aggregate(h.fedKey, nil)
		}
		w.Header().Set("Content-Type", "application/samlmetadata+xml")
		_, _ = w.Write(b)
	})

	h.cfg = Config{
		EntityID: spEntityID, ACSURL: spACS, MetadataURL: spMetadata, SLOURL: spSLO,
		SigningKeyFile: h.spSign.keyFile, SigningCertFile: h.spSign.certFile,
		EncryptionKeyFile: h.spEnc.keyFile, EncryptionCertFile: h.spEnc.certFile,
		IdPMetadataURL:       h.srv.URL + "/aggregate.xml",
		IdPMetadataCertFiles: []string{h.fedKey.certFile},
		IdPEntityID:          h.entityID,
		Organization: Organization{
			Name: Localized{Sv: "Exempels kommun", En: "Municipality of Exempel"},
			URL:  Localized{Sv: "https://www.exempel.se", En: "https://www.exempel.se/en"},
		},
		UIInfo: UIInfo{
			DisplayName: Localized{Sv: "Exempels e-tjänster", En: "Exempel e-services"},
			Description: Localized{Sv: "Kommunens e-tjänster", En: "The municipality's e-services"},
			Logo:        Logo{URL: "https://www.exempel.se/logo.svg", Width: 100, Height: 50},
		},
		ContactEmail: "e-tjanster@exempel.se",
		MaxLoA:       "high",
		DisplaySv:    "BankID", DisplayEn: "BankID",
	}
	for _, o := range opts {
		o(h)
	}
	h.p = h.newProvider(h.replay)
	return h
}

func (h *harness) newProvider(replay *fakeReplay) *Provider {
	h.t.Helper()
	p, err := New(context.Background(), "bankid", h.cfg, Options{
		HTTPClient: h.srv.Client(), Now: h.clock.Now, Replay: replay,
	})
	if err != nil {
		h.t.Fatalf("New: %v", err)
	}
	h.t.Cleanup(p.Close)
	if err := p.Ready(context.Background()); err != nil {
		h.t.Fatalf("Ready: %v", err)
	}
	return p
}

type testLogger struct{ t testing.TB }

func (l testLogger) Printf(format string, v ...any) { l.t.Logf(format, v...) }
func (l testLogger) Print(v ...any)                 { l.t.Log(v...) }
func (l testLogger) Println(v ...any)               { l.t.Log(v...) }
func (l testLogger) Fatal(v ...any)                 { l.t.Fatal(v...) }
func (l testLogger) Fatalf(format string, v ...any) { l.t.Fatalf(format, v...) }
func (l testLogger) Fatalln(v ...any)               { l.t.Fatal(v...) }
func (l testLogger) Panic(v ...any)                 { panic(v) }
func (l testLogger) Panicf(format string, v ...any) { panic(format) }
func (l testLogger) Panicln(v ...any)               { panic(v) }

// aggregate is a federation metadata aggregate holding an unrelated IdP and
// ours, signed by signer. edit, if set, changes the IdP entity first.
func (h *harness) aggregate(signer keyPair, edit func(*crewsaml.EntityDescriptor)) []byte {
	h.t.Helper()
	ed := h.idp.Metadata()
	if edit != nil {
		edit(ed)
	}
	other := crewsaml.EntityDescriptor{EntityID: "https://other-idp.example.se", ValidUntil: ed.ValidUntil, IDPSSODescriptors: ed.IDPSSODescriptors}
	id := "_aggregate1"
	name := "urn:test:federation"
	valid := time.Now().Add(24 * time.Hour)
	agg := crewsaml.EntitiesDescriptor{ID: &id, Name: &name, ValidUntil: &valid,
		EntityDescriptors: []crewsaml.EntityDescriptor{other, *ed}}
	raw, err := xml.Marshal(agg)
	if err != nil {
		h.t.Fatal(err)
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(raw); err != nil {
		h.t.Fatal(err)
	}
	signed := signAt(h.t, signingContext(h.t, signer, dsig.RSASHA256SignatureMethod), doc.Root(), 0)
	return docBytes(h.t, signed)
}

// GetSession implements crewsaml.SessionProvider: the person is always
// logged in, just now.
func (h *harness) GetSession(w http.ResponseWriter, r *http.Request, req *crewsaml.IdpAuthnRequest) *crewsaml.Session {
	h.mu.Lock()
	defer h.mu.Unlock()
	return &crewsaml.Session{
		ID: "idp-session", CreateTime: time.Now().UTC(), ExpireTime: time.Now().Add(time.Hour),
		Index: "sess-index-1", NameID: "pseudonym-7f3a", NameIDFormat: string(crewsaml.PersistentNameIDFormat),
		CustomAttributes: append([]crewsaml.Attribute(nil), h.attrs...),
	}
}

// MakeAssertion implements crewsaml.AssertionMaker: the library's default
// with the Swedish authentication context and optional test changes.
func (h *harness) MakeAssertion(req *crewsaml.IdpAuthnRequest, s *crewsaml.Session) error {
	if err := (crewsaml.DefaultAssertionMaker{}).MakeAssertion(req, s); err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	st := &req.Assertion.AuthnStatements[0]
	st.AuthnContext.AuthnContextClassRef.Value = h.classRef
	st.SubjectLocality = nil
	sno := time.Now().Add(8 * time.Hour).UTC().Truncate(time.Second)
	st.SessionNotOnOrAfter = &sno
	if h.tweak != nil {
		h.tweak(req.Assertion)
	}
	return nil
}

// GetServiceProvider implements crewsaml.ServiceProviderProvider with our
// own SP metadata, read from the provider's handler as the federation
// would.
func (h *harness) GetServiceProvider(r *http.Request, id string) (*crewsaml.EntityDescriptor, error) {
	if id != spEntityID {
		return nil, os.ErrNotExist
	}
	rec := httptest.NewRecorder()
	h.p.MetadataHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, spMetadata, nil))
	var ed crewsaml.EntityDescriptor
	if err := xml.Unmarshal(rec.Body.Bytes(), &ed); err != nil {
		return nil, err
	}
	return &ed, nil
}

var formValue = regexp.MustCompile(`name="(SAMLResponse|RelayState)" value="([^"]*)"`)
var formAction = regexp.MustCompile(`action="([^"]*)"`)

// browse follows a Challenge like a browser: to the IdP by redirect or
// auto-POST, and returns the IdP's auto-POST form for the ACS.
func (h *harness) browse(ch auth.Challenge) (string, url.Values) {
	h.t.Helper()
	client := h.srv.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	var resp *http.Response
	var err error
	if ch.RedirectURL != "" {
		resp, err = client.Get(ch.RedirectURL)
	} else {
		resp, err = client.PostForm(ch.PostURL, ch.PostForm)
	}
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		h.t.Fatalf("IdP answered %d: %s", resp.StatusCode, body)
	}
	form := url.Values{}
	for _, m := range formValue.FindAllStringSubmatch(string(body), -1) {
		form.Set(m[1], html.UnescapeString(m[2]))
	}
	am := formAction.FindStringSubmatch(string(body))
	if am == nil || form.Get("SAMLResponse") == "" {
		h.t.Fatalf("IdP page has no response form")
	}
	return html.UnescapeString(am[1]), form
}

// acsRequest is the browser's POST of form to the ACS.
func acsRequest(form url.Values) *http.Request {
	r := httptest.NewRequest(http.MethodPost, spACS, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return r
}

func (h *harness) begin(want auth.LoA, force bool) auth.Challenge {
	h.t.Helper()
	ch, err := h.p.Begin(context.Background(), want, "/mina-sidor", force)
	if err != nil {
		h.t.Fatalf("Begin: %v", err)
	}
	return ch
}

// forgeOpts describe a response built and signed in the test, for the
// cases the IdP would never produce.
type forgeOpts struct {
	mutate         func(a *crewsaml.Assertion)
	mutateResp     func(r *crewsaml.Response)
	unsignedAssert bool
	unsignedResp   bool
	plaintext      bool              // do not encrypt
	encryptTo      *x509.Certificate // default: SP's current encryption cert
	encryptor      *xmlenc.RSA
	signer         *keyPair // default: the IdP's key
	sigMethod      string
	status         *crewsaml.Status
	gcm            bool                                                              // AES-128-GCM content encryption (built here: the library's GCM encryptor is broken)
	beforeSign     func(root *etree.Element)                                         // edit the tree before the response is signed
	extra          func(t testing.TB, root *etree.Element, assertion *etree.Element) // edit the tree after signing
}

func (h *harness) assertion(p auth.Pending) *crewsaml.Assertion {
	now := h.now
	nb, noa := now.Add(-30*time.Second), now.Add(5*time.Minute)
	sno := now.Add(8 * time.Hour)
	return &crewsaml.Assertion{
		ID: "_a" + randomHex(16), IssueInstant: now, Version: "2.0",
		Issuer: crewsaml.Issuer{Format: "urn:oasis:names:tc:SAML:2.0:nameid-format:entity", Value: h.entityID},
		Subject: &crewsaml.Subject{
			NameID: &crewsaml.NameID{Format: string(crewsaml.PersistentNameIDFormat), NameQualifier: h.entityID,
				SPNameQualifier: spEntityID, Value: "pseudonym-7f3a"},
			SubjectConfirmations: []crewsaml.SubjectConfirmation{{
				Method: cmBearer,
				SubjectConfirmationData: &crewsaml.SubjectConfirmationData{
					InResponseTo: p.RequestID, NotOnOrAfter: noa, Recipient: spACS},
			}},
		},
		Conditions: &crewsaml.Conditions{NotBefore: nb, NotOnOrAfter: noa,
			AudienceRestrictions: []crewsaml.AudienceRestriction{{Audience: crewsaml.Audience{Value: spEntityID}}}},
		AuthnStatements: []crewsaml.AuthnStatement{{
			AuthnInstant: now, SessionIndex: "sess-index-1", SessionNotOnOrAfter: &sno,
			AuthnContext: crewsaml.AuthnContext{AuthnContextClassRef: &crewsaml.AuthnContextClassRef{Value: auth.URILoA3}},
		}},
		AttributeStatements: []crewsaml.AttributeStatement{{Attributes: personAttrs(testPNR)}},
	}
}

func (h *harness) signAssertion(a *crewsaml.Assertion, signer keyPair, method string) *etree.Element {
	h.t.Helper()
	signed, err := signingContext(h.t, signer, method).SignEnveloped(a.Element())
	if err != nil {
		h.t.Fatal(err)
	}
	a.Signature = signed.ChildElements()[len(signed.ChildElements())-1]
	return a.Element()
}

func (h *harness) encrypt(el *etree.Element, cert *x509.Certificate, enc *xmlenc.RSA) *etree.Element {
	h.t.Helper()
	e := xmlenc.OAEP()
	e.BlockCipher = xmlenc.AES128CBC
	e.DigestMethod = &xmlenc.SHA1
	if enc != nil {
		e = *enc
	}
	nonce := make([]byte, 12) // used by GCM only
	_, _ = rand.Read(nonce)
	data, err := e.Encrypt(cert, docBytes(h.t, el), nonce)
	if err != nil {
		h.t.Fatal(err)
	}
	data.CreateAttr("Type", "http://www.w3.org/2001/04/xmlenc#Element")
	ea := etree.NewElement("saml:EncryptedAssertion")
	ea.AddChild(data)
	return ea
}

// forge builds a response to pending as the IdP would, changed by o, and
// returns the ACS form.
func (h *harness) forge(p auth.Pending, o forgeOpts) url.Values {
	h.t.Helper()
	signer := h.idpKey
	if o.signer != nil {
		signer = *o.signer
	}
	method := dsig.RSASHA256SignatureMethod
	if o.sigMethod != "" {
		method = o.sigMethod
	}
	var assertionEl *etree.Element
	if o.status == nil {
		a := h.assertion(p)
		if o.mutate != nil {
			o.mutate(a)
		}
		if o.unsignedAssert {
			assertionEl = a.Element()
		} else {
			assertionEl = h.signAssertion(a, signer, method)
		}
		if !o.plaintext {
			cert := h.spEnc.cert
			if o.encryptTo != nil {
				cert = o.encryptTo
			}
			if o.gcm {
				assertionEl = h.encryptGCM(assertionEl, cert)
			} else {
				assertionEl = h.encrypt(assertionEl, cert, o.encryptor)
			}
		}
	}
	resp := &crewsaml.Response{
		ID: "_r" + randomHex(16), InResponseTo: p.RequestID, Version: "2.0", IssueInstant: h.now,
		Destination: spACS,
		Issuer:      &crewsaml.Issuer{Format: "urn:oasis:names:tc:SAML:2.0:nameid-format:entity", Value: h.entityID},
		Status:      crewsaml.Status{StatusCode: crewsaml.StatusCode{Value: crewsaml.StatusSuccess}},
	}
	if o.status != nil {
		resp.Status = *o.status
	}
	if o.mutateResp != nil {
		o.mutateResp(resp)
	}
	root := resp.Element()
	if assertionEl != nil {
		root.AddChild(assertionEl)
	}
	if o.beforeSign != nil {
		o.beforeSign(root)
	}
	if !o.unsignedResp {
		signed, err := signingContext(h.t, signer, method).SignEnveloped(root)
		if err != nil {
			h.t.Fatal(err)
		}
		resp.Signature = signed.ChildElements()[len(signed.ChildElements())-1]
		kids := root.ChildElements()
		root = resp.Element()
		for _, k := range kids {
			if k.Tag != "Issuer" && k.Tag != "Status" {
				root.AddChild(k)
			}
		}
	}
	if o.extra != nil {
		o.extra(h.t, root, assertionEl)
	}
	return url.Values{
		"SAMLResponse": {base64.StdEncoding.EncodeToString(docBytes(h.t, root))},
		"RelayState":   {relayState(p.ID)},
	}
}

// rawForm wraps arbitrary response bytes in an ACS form for pending.
func rawForm(p auth.Pending, xmlBytes []byte) url.Values {
	return url.Values{
		"SAMLResponse": {base64.StdEncoding.EncodeToString(xmlBytes)},
		"RelayState":   {relayState(p.ID)},
	}
}

// encryptGCM encrypts el with AES-128-GCM (nonce || ciphertext || tag, as
// XML Encryption 1.1 specifies) under an RSA-OAEP wrapped key.
func (h *harness) encryptGCM(el *etree.Element, cert *x509.Certificate) *etree.Element {
	h.t.Helper()
	key := make([]byte, 16)
	nonce := make([]byte, 12)
	_, _ = rand.Read(key)
	_, _ = rand.Read(nonce)
	block, _ := aes.NewCipher(key)
	g, _ := cipher.NewGCM(block)
	ct := g.Seal(append([]byte(nil), nonce...), nonce, docBytes(h.t, el), nil)
	wrapped, err := rsa.EncryptOAEP(sha1.New(), rand.Reader, cert.PublicKey.(*rsa.PublicKey), key, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	ed := etree.NewElement("xenc:EncryptedData")
	ed.CreateAttr("xmlns:xenc", nsXMLEnc)
	ed.CreateAttr("Type", "http://www.w3.org/2001/04/xmlenc#Element")
	ed.CreateElement("xenc:EncryptionMethod").CreateAttr("Algorithm", "http://www.w3.org/2009/xmlenc11#aes128-gcm")
	ki := ed.CreateElement("ds:KeyInfo")
	ki.CreateAttr("xmlns:ds", nsDSig)
	ek := ki.CreateElement("xenc:EncryptedKey")
	em := ek.CreateElement("xenc:EncryptionMethod")
	em.CreateAttr("Algorithm", "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p")
	em.CreateElement("ds:DigestMethod").CreateAttr("Algorithm", "http://www.w3.org/2000/09/xmldsig#sha1")
	ek.CreateElement("xenc:CipherData").CreateElement("xenc:CipherValue").SetText(base64.StdEncoding.EncodeToString(wrapped))
	ed.CreateElement("xenc:CipherData").CreateElement("xenc:CipherValue").SetText(base64.StdEncoding.EncodeToString(ct))
	ea := etree.NewElement("saml:EncryptedAssertion")
	ea.AddChild(ed)
	return ea
}

func writeFile(path string, b []byte) error { return os.WriteFile(path, b, 0o600) }

func parseURL(s string) (*url.URL, error) { return url.Parse(s) }

func urlZero() url.URL { return url.URL{} }
