package devidp

import (
	"bytes"
	"compress/flate"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/xml"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/crewjam/saml"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/civicgate/civicgate/auth"
)

const spACS = "https://sp.example/saml/acs"

// newTestSP creates a crewjam service provider with its own keys, signing
// its requests, and makes the IdP trust its metadata (with the given entity
// categories added).
func newTestSP(t *testing.T, idp *testIdP, entityID string, categories ...string) *saml.ServiceProvider {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "test sp"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	var idpMD saml.EntityDescriptor
	if err := xml.Unmarshal(idp.SAMLMetadata(), &idpMD); err != nil {
		t.Fatalf("IdP metadata: %v", err)
	}
	mdURL, _ := url.Parse(entityID)
	acsURL, _ := url.Parse(spACS)
	sp := &saml.ServiceProvider{
		EntityID: entityID, Key: key, Certificate: cert, MetadataURL: *mdURL, AcsURL: *acsURL,
		IDPMetadata: &idpMD, SignatureMethod: dsig.RSASHA256SignatureMethod,
		AuthnNameIDFormat: saml.PersistentNameIDFormat,
	}
	md, err := xml.Marshal(sp.Metadata())
	if err != nil {
		t.Fatal(err)
	}
	if len(categories) > 0 {
		ext := `<Extensions xmlns="urn:oasis:names:tc:SAML:2.0:metadata"><mdattr:EntityAttributes xmlns:mdattr="urn:oasis:names:tc:SAML:metadata:attribute">` +
			`<saml:Attribute xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" Name="http://macedir.org/entity-category" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:uri">`
		for _, c := range categories {
			ext += `<saml:AttributeValue>` + c + `</saml:AttributeValue>`
		}
		ext += `</saml:Attribute></mdattr:EntityAttributes></Extensions>`
		end := bytes.IndexByte(md, '>') + 1
		md = append(append(append([]byte{}, md[:end]...), ext...), md[end:]...)
	}
	if err := idp.AddServiceProvider(md); err != nil {
		t.Fatalf("AddServiceProvider: %v", err)
	}
	return sp
}

// authnRequest builds a request from sp asking for the given contexts
// (Comparison exact), with ForceAuthn.
func authnRequest(t *testing.T, sp *saml.ServiceProvider, binding string, contexts ...string) (*saml.AuthnRequest, *etree.Element) {
	t.Helper()
	req, err := sp.MakeAuthenticationRequest(sp.GetSSOBindingLocation(binding), binding, saml.HTTPPostBinding)
	if err != nil {
		t.Fatal(err)
	}
	force := true
	req.ForceAuthn = &force
	req.Signature = nil
	el := req.Element()
	if len(contexts) > 0 {
		rac := el.CreateElement("samlp:RequestedAuthnContext")
		rac.CreateAttr("Comparison", "exact")
		for _, c := range contexts {
			rac.CreateElement("saml:AuthnContextClassRef").SetText(c)
		}
	}
	return req, el
}

// redirectURL encodes el for the HTTP-Redirect binding, signing the query
// when sp has a signature method.
func redirectURL(t *testing.T, sp *saml.ServiceProvider, el *etree.Element, relayState string) string {
	t.Helper()
	doc := etree.NewDocument()
	doc.SetRoot(el)
	raw, err := doc.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	fw, _ := flate.NewWriter(&buf, 9)
	fw.Write(raw)
	fw.Close()
	query := "SAMLRequest=" + url.QueryEscape(base64.StdEncoding.EncodeToString(buf.Bytes()))
	if relayState != "" {
		query += "&RelayState=" + url.QueryEscape(relayState)
	}
	if sp.SignatureMethod != "" {
		query += "&SigAlg=" + url.QueryEscape(sp.SignatureMethod)
		ctx, err := saml.GetSigningContext(sp)
		if err != nil {
			t.Fatal(err)
		}
		sig, err := ctx.SignString(query)
		if err != nil {
			t.Fatal(err)
		}
		query += "&Signature=" + url.QueryEscape(base64.StdEncoding.EncodeToString(sig))
	}
	return el.SelectAttrValue("Destination", "") + "?" + query
}

var reAutopost = regexp.MustCompile(`<form method="post" action="([^"]+)" id="autopost">`)

// samlPost is the response form the IdP sends to the SP.
type samlPost struct {
	action, response, relayState string
	xml                          []byte
}

func parsePost(t *testing.T, resp *http.Response) samlPost {
	t.Helper()
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	checkBanner(t, body)
	m := reAutopost.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no response form: %s", body)
	}
	sp := samlPost{action: unescapeHTML(m[1])}
	for _, h := range reHidden.FindAllStringSubmatch(body, -1) {
		switch h[1] {
		case "SAMLResponse":
			sp.response = unescapeHTML(h[2])
		case "RelayState":
			sp.relayState = unescapeHTML(h[2])
		}
	}
	var err error
	if sp.xml, err = base64.StdEncoding.DecodeString(sp.response); err != nil {
		t.Fatalf("SAMLResponse is not base64: %v", err)
	}
	return sp
}

// deliver posts the response to the SP as its ACS would receive it.
func (sp samlPost) deliver(t *testing.T, s *saml.ServiceProvider, requestID string) (*saml.Assertion, error) {
	t.Helper()
	form := url.Values{"SAMLResponse": {sp.response}, "RelayState": {sp.relayState}}
	r := httptest.NewRequest(http.MethodPost, sp.action, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if err := r.ParseForm(); err != nil {
		t.Fatal(err)
	}
	return s.ParseResponse(r, []string{requestID})
}

func attributes(a *saml.Assertion) map[string][]string {
	out := map[string][]string{}
	for _, st := range a.AttributeStatements {
		for _, at := range st.Attributes {
			if at.NameFormat != attrNameFormatURI {
				continue
			}
			for _, v := range at.Values {
				out[at.Name] = append(out[at.Name], v.Value)
			}
		}
	}
	return out
}

func TestSAMLLoginRedirectBinding(t *testing.T) {
	idp := startIdP(t, Options{})
	sp := newTestSP(t, idp, "https://sp.example/saml/metadata", EntityCategoryAcceptsCoordinationNumber)
	c := browser(t)

	req, el := authnRequest(t, sp, saml.HTTPRedirectBinding, auth.URILoA3, auth.URILoA4, "urn:unknown:context")
	pk := parsePicker(t, get(t, c, redirectURL(t, sp, el, "relay-123")))
	if want := []string{auth.URILoA3, auth.URILoA4}; !slices.Equal(pk.acrs, want) {
		t.Errorf("offered %v, want %v", pk.acrs, want)
	}
	post := parsePost(t, pk.submit(t, c, "login", "198107249289", auth.URILoA4))
	if post.action != spACS || post.relayState != "relay-123" {
		t.Errorf("form to %q relay %q", post.action, post.relayState)
	}
	raw := string(post.xml)
	if !strings.Contains(raw, "EncryptedAssertion") || strings.Contains(raw, "<saml:Assertion") {
		t.Error("assertion is not encrypted")
	}
	if !strings.Contains(raw, dsig.RSASHA256SignatureMethod) {
		t.Error("response not signed with RSA-SHA256")
	}
	a, err := post.deliver(t, sp, req.ID)
	if err != nil {
		t.Fatalf("ParseResponse: %v", describe(err))
	}
	at := attributes(a)
	for name, want := range map[string]string{
		auth.AttrPersonalIdentityNumber: "198107249289", auth.AttrGivenName: "Tolvan", auth.AttrSurname: "Tolvansson",
		auth.AttrDisplayName: "Tolvan Tolvansson", auth.AttrDateOfBirth: "1981-07-24",
	} {
		if got := at[name]; len(got) != 1 || got[0] != want {
			t.Errorf("%s = %v, want %q", name, got, want)
		}
	}
	if len(at[auth.AttrTransactionIdentifier]) != 1 || at[auth.AttrTransactionIdentifier][0] == "" {
		t.Error("transactionIdentifier missing")
	}
	stmt := a.AuthnStatements[0]
	if stmt.AuthnContext.AuthnContextClassRef == nil || stmt.AuthnContext.AuthnContextClassRef.Value != auth.URILoA4 {
		t.Errorf("AuthnContextClassRef = %+v", stmt.AuthnContext.AuthnContextClassRef)
	}
	if stmt.SessionIndex == "" || stmt.SessionNotOnOrAfter == nil || stmt.SessionNotOnOrAfter.Sub(stmt.AuthnInstant) != sessionLifetime {
		t.Errorf("SessionIndex %q SessionNotOnOrAfter %v", stmt.SessionIndex, stmt.SessionNotOnOrAfter)
	}
	nameID := a.Subject.NameID
	if nameID.Format != nameIDPersistent || nameID.Value == "" || strings.Contains(nameID.Value, "198107249289") {
		t.Errorf("NameID %+v is not a pseudonym", nameID)
	}

	// The coordination number holder: this SP accepts it in
	// personalIdentityNumber; an SP without the entity category does not
	// get it.
	for _, tc := range []struct {
		sp   *saml.ServiceProvider
		want []string
	}{
		{sp, []string{"197010632391"}},
		{newTestSP(t, idp, "https://other-sp.example/saml/metadata"), nil},
	} {
		req, el := authnRequest(t, tc.sp, saml.HTTPRedirectBinding, auth.URILoA3)
		c := browser(t)
		pk := parsePicker(t, get(t, c, redirectURL(t, tc.sp, el, "")))
		a, err := parsePost(t, pk.submit(t, c, "login", "197010632391", auth.URILoA3)).deliver(t, tc.sp, req.ID)
		if err != nil {
			t.Fatalf("%s: %v", tc.sp.EntityID, describe(err))
		}
		if got := attributes(a)[auth.AttrPersonalIdentityNumber]; !slices.Equal(got, tc.want) {
			t.Errorf("%s: personalIdentityNumber = %v, want %v", tc.sp.EntityID, got, tc.want)
		}
	}
}

func TestSAMLLoginPostBindingEIDAS(t *testing.T) {
	idp := startIdP(t, Options{})
	sp := newTestSP(t, idp, "https://sp.example/saml/metadata")
	sp.RequestedAuthnContext = &saml.RequestedAuthnContext{Comparison: "exact", AuthnContextClassRef: auth.URILoA3NonResident}
	req, err := sp.MakeAuthenticationRequest(sp.GetSSOBindingLocation(saml.HTTPPostBinding), saml.HTTPPostBinding, saml.HTTPPostBinding)
	if err != nil {
		t.Fatal(err)
	}
	doc := etree.NewDocument()
	doc.SetRoot(req.Element())
	raw, _ := doc.WriteToBytes()
	c := browser(t)
	resp, err := c.PostForm(idp.Issuer()+"/saml/sso", url.Values{"SAMLRequest": {base64.StdEncoding.EncodeToString(raw)}})
	if err != nil {
		t.Fatal(err)
	}
	pk := parsePicker(t, resp)
	if !slices.Equal(pk.acrs, []string{auth.URILoA3NonResident}) {
		t.Errorf("offered %v", pk.acrs)
	}
	a, err := parsePost(t, pk.submit(t, c, "login", "prid:NO:05068907693", auth.URILoA3NonResident)).deliver(t, sp, req.ID)
	if err != nil {
		t.Fatalf("ParseResponse: %v", describe(err))
	}
	at := attributes(a)
	if !slices.Equal(at[auth.AttrPRID], []string{"NO:05068907693"}) || at[auth.AttrPersonalIdentityNumber] != nil {
		t.Errorf("prid %v pnr %v", at[auth.AttrPRID], at[auth.AttrPersonalIdentityNumber])
	}

	// Without ForceAuthn the IdP session answers at once, with the same
	// pseudonym and session.
	req2, err := sp.MakeAuthenticationRequest(sp.GetSSOBindingLocation(saml.HTTPPostBinding), saml.HTTPPostBinding, saml.HTTPPostBinding)
	if err != nil {
		t.Fatal(err)
	}
	doc = etree.NewDocument()
	doc.SetRoot(req2.Element())
	raw, _ = doc.WriteToBytes()
	resp, err = c.PostForm(idp.Issuer()+"/saml/sso", url.Values{"SAMLRequest": {base64.StdEncoding.EncodeToString(raw)}})
	if err != nil {
		t.Fatal(err)
	}
	a2, err := parsePost(t, resp).deliver(t, sp, req2.ID)
	if err != nil {
		t.Fatalf("ParseResponse (session reuse): %v", describe(err))
	}
	if a2.Subject.NameID.Value != a.Subject.NameID.Value || a2.AuthnStatements[0].SessionIndex != a.AuthnStatements[0].SessionIndex {
		t.Error("session reuse gave another NameID or SessionIndex")
	}
}

func TestSAMLCancel(t *testing.T) {
	idp := startIdP(t, Options{})
	sp := newTestSP(t, idp, "https://sp.example/saml/metadata")
	req, el := authnRequest(t, sp, saml.HTTPRedirectBinding, auth.URILoA3)
	c := browser(t)
	pk := parsePicker(t, get(t, c, redirectURL(t, sp, el, "rs")))
	post := parsePost(t, pk.submit(t, c, "cancel", "", ""))
	checkStatus(t, idp, post, req.ID, StatusCancel)
	if _, err := post.deliver(t, sp, req.ID); err == nil {
		t.Error("SP accepted a cancel response")
	}
}

// checkStatus verifies an error response: signed by the IdP, in response to
// the request, status Responder with the given sub-status.
func checkStatus(t *testing.T, idp *testIdP, post samlPost, requestID, sub string) {
	t.Helper()
	var resp saml.Response
	if err := xml.Unmarshal(post.xml, &resp); err != nil {
		t.Fatal(err)
	}
	if resp.InResponseTo != requestID || resp.Destination != spACS {
		t.Errorf("InResponseTo %q Destination %q", resp.InResponseTo, resp.Destination)
	}
	sc := resp.Status.StatusCode
	if sc.Value != saml.StatusResponder || sc.StatusCode == nil || sc.StatusCode.Value != sub {
		t.Errorf("status %+v, want Responder/%s", sc, sub)
	}
	if resp.Assertion != nil || resp.EncryptedAssertion != nil {
		t.Error("error response carries an assertion")
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(post.xml); err != nil {
		t.Fatal(err)
	}
	ctx := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{idp.samlIdP.Certificate}})
	if _, err := ctx.Validate(doc.Root()); err != nil {
		t.Errorf("error response signature: %v", err)
	}
}

func TestSAMLRejects(t *testing.T) {
	idp := startIdP(t, Options{})
	sp := newTestSP(t, idp, "https://sp.example/saml/metadata")

	unsigned := *sp
	unsigned.SignatureMethod = ""
	_, el := authnRequest(t, sp, saml.HTTPRedirectBinding, auth.URILoA3)
	tampered := strings.Replace(redirectURL(t, sp, el, "relay-a"), "RelayState=relay-a", "RelayState=relay-b", 1)

	_, elDest := authnRequest(t, sp, saml.HTTPRedirectBinding, auth.URILoA3)
	elDest.RemoveAttr("Destination")
	elDest.CreateAttr("Destination", "https://elsewhere.example/sso")
	wrongDest := redirectURL(t, sp, elDest, "")
	wrongDest = idp.Issuer() + "/saml/sso" + wrongDest[strings.Index(wrongDest, "?"):]

	stranger := *sp
	stranger.EntityID = "https://stranger.example/saml/metadata"
	_, elStranger := authnRequest(t, &stranger, saml.HTTPRedirectBinding, auth.URILoA3)

	_, elACS := authnRequest(t, sp, saml.HTTPRedirectBinding, auth.URILoA3)
	elACS.RemoveAttr("AssertionConsumerServiceURL")
	elACS.CreateAttr("AssertionConsumerServiceURL", "https://evil.example/acs")

	_, elUnsigned := authnRequest(t, &unsigned, saml.HTTPRedirectBinding, auth.URILoA3)

	for name, u := range map[string]string{
		"unsigned, metadata says signed": redirectURL(t, &unsigned, elUnsigned, ""),
		"tampered query":                 tampered,
		"wrong Destination":              wrongDest,
		"unknown SP":                     redirectURL(t, &stranger, elStranger, ""),
		"ACS not in metadata":            redirectURL(t, sp, elACS, ""),
	} {
		resp := get(t, browser(t), u)
		body := readBody(t, resp)
		if resp.StatusCode != http.StatusBadRequest || strings.Contains(body, "SAMLResponse") {
			t.Errorf("%s: status %d", name, resp.StatusCode)
		}
	}

	// HTTP-POST: a signed request altered after signing is refused, the
	// untouched one accepted.
	postReq, err := sp.MakeAuthenticationRequest(sp.GetSSOBindingLocation(saml.HTTPPostBinding), saml.HTTPPostBinding, saml.HTTPPostBinding)
	if err != nil {
		t.Fatal(err)
	}
	doc := etree.NewDocument()
	doc.SetRoot(postReq.Element())
	signedXML, _ := doc.WriteToString()
	for name, tc := range map[string]struct {
		xml  string
		want int
	}{
		"signed":  {signedXML, http.StatusOK},
		"altered": {strings.Replace(signedXML, "<samlp:AuthnRequest ", `<samlp:AuthnRequest ProviderName="x" `, 1), http.StatusBadRequest},
	} {
		resp, err := browser(t).PostForm(idp.Issuer()+"/saml/sso", url.Values{"SAMLRequest": {base64.StdEncoding.EncodeToString([]byte(tc.xml))}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("POST %s: status %d, want %d", name, resp.StatusCode, tc.want)
		}
	}

	// Only unknown contexts: a NoAuthnContext error response, no picker.
	req, el := authnRequest(t, sp, saml.HTTPRedirectBinding, "urn:unknown:context")
	checkStatus(t, idp, parsePost(t, get(t, browser(t), redirectURL(t, sp, el, ""))), req.ID, saml.StatusNoAuthnContext)
}

func TestSAMLMetadata(t *testing.T) {
	idp := startIdP(t, Options{})
	resp := get(t, http.DefaultClient, idp.SAMLMetadataURL())
	body := readBody(t, resp)
	var ed saml.EntityDescriptor
	if err := xml.Unmarshal([]byte(body), &ed); err != nil {
		t.Fatal(err)
	}
	if ed.EntityID != idp.SAMLMetadataURL() || len(ed.IDPSSODescriptors) != 1 {
		t.Fatalf("entityID %q", ed.EntityID)
	}
	d := ed.IDPSSODescriptors[0]
	bindings := map[string]string{}
	for _, s := range d.SingleSignOnServices {
		bindings[s.Binding] = s.Location
	}
	if bindings[saml.HTTPRedirectBinding] != idp.Issuer()+"/saml/sso" || bindings[saml.HTTPPostBinding] != idp.Issuer()+"/saml/sso" {
		t.Errorf("SSO services %v", bindings)
	}
	uses := map[string]bool{}
	for _, kd := range d.KeyDescriptors {
		uses[kd.Use] = true
		cert, err := parseCert(kd.KeyInfo.X509Data.X509Certificates[0].Data)
		if err != nil {
			t.Fatal(err)
		}
		if pub, ok := cert.PublicKey.(*rsa.PublicKey); !ok || pub.N.BitLen() != 3072 {
			t.Errorf("%s key is not RSA 3072", kd.Use)
		}
	}
	if !uses["signing"] || !uses["encryption"] {
		t.Errorf("key uses %v", uses)
	}
}

// describe unwraps crewjam's InvalidResponseError, whose Error() hides the
// reason.
func describe(err error) error {
	if ire, ok := err.(*saml.InvalidResponseError); ok {
		return ire.PrivateErr
	}
	return err
}
