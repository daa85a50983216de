package saml

import (
	"bytes"
	"compress/flate"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"io"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	crewsaml "github.com/crewjam/saml"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/civicgate/civicgate/auth"
)

// requireLoginError asserts that Finish failed with code and returned no
// identity.
func requireLoginError(t *testing.T, id auth.Identity, err error, code auth.ErrorCode, contains string) {
	t.Helper()
	if err == nil {
		t.Fatalf("Finish accepted the response (identity for %s), want %s", auth.MaskPersonalNumber(id.PersonalNumber), code)
	}
	if _, ok := err.(*auth.LoginError); !ok {
		t.Fatalf("error is %T, want *auth.LoginError: %v", err, err)
	}
	if got := auth.CodeOf(err); got != code {
		t.Fatalf("code = %s, want %s (%v)", got, code, err)
	}
	if contains != "" && !strings.Contains(err.Error(), contains) {
		t.Fatalf("error %q does not mention %q", err, contains)
	}
	if !reflect.DeepEqual(id, auth.Identity{}) {
		t.Fatalf("an identity was returned with the error")
	}
	for _, secret := range []string{testPNR, testPNR2, testCoordNr, testBadCheck, "Tolvan", "pseudonym-7f3a", "<"} {
		if strings.Contains(err.Error(), secret) {
			t.Fatalf("error text leaks %q: %v", secret, err)
		}
	}
}

func TestLoginRedirectBinding(t *testing.T) {
	h := newHarness(t)
	ch := h.begin(auth.LoASubstantial, true)
	if ch.RedirectURL == "" || ch.PostURL != "" {
		t.Fatalf("redirect binding must give only a RedirectURL: %+v", ch)
	}
	pd := ch.Pending
	if pd.IdP != "bankid" || pd.RequestID == "" || pd.ID == "" || pd.ID == pd.RequestID ||
		!pd.ForceAuthn || pd.WantLoA != auth.LoASubstantial || pd.ReturnTo != "/mina-sidor" || !pd.Created.Equal(h.now) {
		t.Fatalf("pending = %+v", pd)
	}
	if want := auth.URIsAtLeast(auth.LoASubstantial, auth.URIOptions{}); !slices.Equal(pd.AcceptedURIs, want) {
		t.Fatalf("AcceptedURIs = %v, want %v", pd.AcceptedURIs, want)
	}

	// The request as the IdP receives it: signed query, the right contents.
	u, _ := url.Parse(ch.RedirectURL)
	if !strings.HasPrefix(ch.RedirectURL, h.srv.URL+"/sso?") {
		t.Fatalf("redirect goes to %s", u.Host)
	}
	q := u.Query()
	if q.Get("RelayState") == "" || q.Get("RelayState") == pd.ID || strings.Contains(ch.RedirectURL, "mina-sidor") {
		t.Fatalf("RelayState must be opaque and not the flow ID or return URL")
	}
	if q.Get("SigAlg") != dsig.RSASHA256SignatureMethod {
		t.Fatalf("SigAlg = %q", q.Get("SigAlg"))
	}
	signedPart := u.RawQuery[:strings.Index(u.RawQuery, "&Signature=")]
	sig, _ := base64.StdEncoding.DecodeString(q.Get("Signature"))
	digest := sha256.Sum256([]byte(signedPart))
	if err := rsa.VerifyPKCS1v15(h.spSign.cert.PublicKey.(*rsa.PublicKey), crypto.SHA256, digest[:], sig); err != nil {
		t.Fatalf("redirect signature does not verify with the SP signing certificate: %v", err)
	}
	req := inflateRequest(t, q.Get("SAMLRequest"))
	checkAuthnRequest(t, req, pd, h.srv.URL+"/sso", "true")

	action, form := h.browse(ch)
	if action != spACS {
		t.Fatalf("IdP posts to %q", action)
	}
	id, err := h.p.Finish(context.Background(), acsRequest(form), pd)
	if err != nil {
		t.Fatalf("Finish: %v", err)
	}
	if id.Kind != auth.Citizen || id.PersonalNumber != testPNR || id.CoordinationNumber || id.PRID != "" ||
		id.GivenName != "Tolvan" || id.FamilyName != "Tolvansson" || id.DisplayName != "Tolvan Tolvansson" ||
		id.DateOfBirth != "1981-07-24" || id.TransactionID != "txn-0042" ||
		id.LoA != auth.LoASubstantial || id.LoAURI != auth.URILoA3 ||
		id.IdP != "bankid" || id.Method != "saml" ||
		id.Subject != "pseudonym-7f3a" || id.NameIDFormat != string(crewsaml.PersistentNameIDFormat) ||
		id.SessionIndex != "sess-index-1" {
		t.Fatalf("identity = %+v", id)
	}
	if id.AuthTime.IsZero() || id.AuthTime.Sub(h.now) > 5*time.Second || h.now.Sub(id.AuthTime) > 5*time.Second {
		t.Fatalf("AuthTime = %v, want about %v", id.AuthTime, h.now)
	}
	if d := id.NotOnOrAfter.Sub(h.now); d < 7*time.Hour || d > 9*time.Hour {
		t.Fatalf("NotOnOrAfter = %v, want SessionNotOnOrAfter about 8h ahead", id.NotOnOrAfter)
	}
	if id.Key() != testPNR || len(id.Roles) != 0 {
		t.Fatalf("Key/Roles = %q %v", id.Key(), id.Roles)
	}
}

func inflateRequest(t *testing.T, b64 string) *etree.Element {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	x, err := io.ReadAll(flate.NewReader(bytes.NewReader(raw)))
	if err != nil {
		t.Fatal(err)
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(x); err != nil {
		t.Fatal(err)
	}
	return doc.Root()
}

func checkAuthnRequest(t *testing.T, req *etree.Element, pd auth.Pending, dest, force string) {
	t.Helper()
	attr := func(n string) string { return req.SelectAttrValue(n, "") }
	if req.Tag != "AuthnRequest" || attr("ID") != pd.RequestID || attr("Destination") != dest ||
		attr("ForceAuthn") != force || attr("IsPassive") != "false" ||
		attr("ProtocolBinding") != crewsaml.HTTPPostBinding || attr("AssertionConsumerServiceURL") != spACS {
		t.Fatalf("AuthnRequest attributes wrong: %v", req.Attr)
	}
	if iss := req.SelectElement("Issuer"); iss == nil || iss.Text() != spEntityID {
		t.Fatalf("Issuer wrong")
	}
	rac := req.SelectElement("RequestedAuthnContext")
	if rac == nil || rac.SelectAttrValue("Comparison", "") != "exact" {
		t.Fatalf("RequestedAuthnContext missing or not exact")
	}
	var got []string
	for _, e := range rac.SelectElements("AuthnContextClassRef") {
		got = append(got, e.Text())
	}
	if !slices.Equal(got, pd.AcceptedURIs) {
		t.Fatalf("requested contexts %v, want %v", got, pd.AcceptedURIs)
	}
}

func TestLoginPostBinding(t *testing.T) {
	h := newHarness(t, withConfig(func(c *Config) { c.Binding = "post"; c.AcceptUncertified = true }))
	h.classRef = auth.URIUncertifiedLoA3
	ch := h.begin(auth.LoASubstantial, false)
	if ch.RedirectURL != "" || ch.PostURL != h.srv.URL+"/sso" || ch.PostForm.Get("RelayState") == "" {
		t.Fatalf("post binding challenge = %+v", ch)
	}
	raw, _ := base64.StdEncoding.DecodeString(ch.PostForm.Get("SAMLRequest"))
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(raw); err != nil {
		t.Fatal(err)
	}
	checkAuthnRequest(t, doc.Root(), ch.Pending, ch.PostURL, "false")
	if !slices.Contains(ch.Pending.AcceptedURIs, auth.URIUncertifiedLoA3) {
		t.Fatalf("uncertified-loa3 not requested although accepted")
	}
	// The enveloped signature verifies with the SP signing certificate and
	// sits right after Issuer.
	if kids := doc.Root().ChildElements(); len(kids) < 2 || kids[1].Tag != "Signature" {
		t.Fatalf("signature is not the second child")
	}
	vc := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{h.spSign.cert}})
	vc.IdAttribute = "ID"
	if _, err := vc.Validate(doc.Root()); err != nil {
		t.Fatalf("AuthnRequest signature: %v", err)
	}
	if err := checkSignatureAlgorithms(doc.Root()); err != nil {
		t.Fatalf("AuthnRequest uses a refused algorithm: %v", err)
	}

	_, form := h.browse(ch)
	id, err := h.p.Finish(context.Background(), acsRequest(form), ch.Pending)
	if err != nil {
		t.Fatalf("Finish: %v", err)
	}
	if id.LoAURI != auth.URIUncertifiedLoA3 || id.LoA != auth.LoASubstantial || id.PersonalNumber != testPNR {
		t.Fatalf("identity = %+v", id)
	}
}

func TestReplayRefused(t *testing.T) {
	h := newHarness(t)
	ch := h.begin(auth.LoASubstantial, true)
	_, form := h.browse(ch)
	if _, err := h.p.Finish(context.Background(), acsRequest(form), ch.Pending); err != nil {
		t.Fatalf("first Finish: %v", err)
	}
	id, err := h.p.Finish(context.Background(), acsRequest(form), ch.Pending)
	requireLoginError(t, id, err, auth.ErrReplay, "")

	// Another replica sharing the cache refuses it too...
	p2 := h.newProvider(h.replay)
	id, err = p2.Finish(context.Background(), acsRequest(form), ch.Pending)
	requireLoginError(t, id, err, auth.ErrReplay, "")
	// ...and it is the shared cache that does it: with an empty cache the
	// same response passes every other check.
	p3 := h.newProvider(newFakeReplay())
	if _, err := p3.Finish(context.Background(), acsRequest(form), ch.Pending); err != nil {
		t.Fatalf("fresh cache: %v", err)
	}
	h.replay.mu.Lock()
	defer h.replay.mu.Unlock()
	for k, exp := range h.replay.seen {
		if !strings.HasPrefix(k, "saml:") || !exp.After(h.now) {
			t.Fatalf("replay entry %q until %v", k, exp)
		}
	}
}

func TestLoginThroughIdPRefusals(t *testing.T) {
	// Cases produced by the real IdP, changed only where a misbehaving or
	// misconfigured IdP would differ.
	cases := []struct {
		name     string
		classRef string
		attrs    []crewsaml.Attribute
		tweak    func(*crewsaml.Assertion)
		cfg      func(*Config)
		code     auth.ErrorCode
		contains string
	}{
		{name: "lower LoA than requested", classRef: auth.URILoA2, code: auth.ErrLoATooLow},
		{name: "uncertified not accepted", classRef: auth.URIUncertifiedLoA3, code: auth.ErrLoATooLow},
		{name: "unknown context", classRef: "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport", code: auth.ErrLoATooLow},
		{name: "no audience restriction", tweak: func(a *crewsaml.Assertion) { a.Conditions.AudienceRestrictions = nil },
			code: auth.ErrInvalid, contains: "no AudienceRestriction"},
		{name: "wrong audience", tweak: func(a *crewsaml.Assertion) {
			a.Conditions.AudienceRestrictions[0].Audience.Value = "https://other-sp.example.se"
		}, code: auth.ErrInvalid},
		{name: "invalid personnummer", attrs: personAttrs(testBadCheck), code: auth.ErrNoIdentity},
		{name: "coordination number not accepted", attrs: personAttrs(testCoordNr), code: auth.ErrNoIdentity, contains: "coordination"},
		{name: "no personnummer", attrs: personAttrs(""), code: auth.ErrNoIdentity},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			if tc.classRef != "" {
				h.classRef = tc.classRef
			}
			if tc.attrs != nil {
				h.attrs = tc.attrs
			}
			h.tweak = tc.tweak
			ch := h.begin(auth.LoASubstantial, true)
			_, form := h.browse(ch)
			id, err := h.p.Finish(context.Background(), acsRequest(form), ch.Pending)
			requireLoginError(t, id, err, tc.code, tc.contains)
		})
	}
}

func TestCoordinationNumberAccepted(t *testing.T) {
	h := newHarness(t, withConfig(func(c *Config) { c.AcceptCoordinationNumber = true }))
	h.attrs = personAttrs(testCoordNr)
	ch := h.begin(auth.LoASubstantial, true)
	_, form := h.browse(ch)
	id, err := h.p.Finish(context.Background(), acsRequest(form), ch.Pending)
	if err != nil {
		t.Fatalf("Finish: %v", err)
	}
	if id.PersonalNumber != testCoordNr || !id.CoordinationNumber {
		t.Fatalf("coordination number not mapped: coord=%v", id.CoordinationNumber)
	}
}

func TestNonResidentPRID(t *testing.T) {
	h := newHarness(t, withConfig(func(c *Config) { c.NonResident = true }))
	h.classRef = auth.URILoA3NonResident
	h.attrs = append(personAttrs(""), crewsaml.Attribute{Name: auth.AttrPRID, NameFormat: attrNameFormatURI,
		Values: []crewsaml.AttributeValue{{Type: "xs:string", Value: "DE:aa0b1c2d3e"}}})
	ch := h.begin(auth.LoASubstantial, true)
	_, form := h.browse(ch)
	id, err := h.p.Finish(context.Background(), acsRequest(form), ch.Pending)
	if err != nil {
		t.Fatalf("Finish: %v", err)
	}
	if id.PersonalNumber != "" || id.PRID != "DE:aa0b1c2d3e" || id.Key() != "prid:DE:aa0b1c2d3e" {
		t.Fatalf("identity = %+v", id)
	}
}

func TestStaffRoles(t *testing.T) {
	h := newHarness(t, withConfig(func(c *Config) {
		c.Kind = "staff"
		c.RoleAttribute = "urn:oid:1.3.6.1.4.1.5923.1.1.1.7"
		c.RoleMap = map[string]string{"kc-agents": "contact_centre"}
	}))
	h.attrs = append(personAttrs(""), crewsaml.Attribute{Name: "urn:oid:1.3.6.1.4.1.5923.1.1.1.7", NameFormat: attrNameFormatURI,
		Values: []crewsaml.AttributeValue{{Value: "kc-agents"}, {Value: "unmapped-group"}}})
	ch := h.begin(auth.LoASubstantial, true)
	_, form := h.browse(ch)
	id, err := h.p.Finish(context.Background(), acsRequest(form), ch.Pending)
	if err != nil {
		t.Fatalf("Finish: %v", err)
	}
	if id.Kind != auth.Staff || !slices.Equal(id.Roles, []string{"contact_centre"}) || id.Key() != "staff:bankid:pseudonym-7f3a" {
		t.Fatalf("identity = %+v", id)
	}
	if h.p.Info().Kind != auth.Staff {
		t.Fatalf("Info().Kind = %v", h.p.Info().Kind)
	}
}

func TestBeginRefusesAboveMaxLoA(t *testing.T) {
	h := newHarness(t, withConfig(func(c *Config) { c.MaxLoA = "substantial" }))
	if _, err := h.p.Begin(context.Background(), auth.LoAHigh, "/", true); err == nil {
		t.Fatal("Begin asked for high from a substantial provider")
	}
	ch := h.begin(auth.LoALow, true)
	for _, u := range ch.Pending.AcceptedURIs {
		if l, _ := auth.LoAFromURI(u); l > auth.LoASubstantial {
			t.Fatalf("requested %s beyond max_loa", u)
		}
	}
	info := h.p.Info()
	if info.Name != "bankid" || info.Protocol != "saml" || info.MaxLoA != auth.LoASubstantial || info.Kind != auth.Citizen || info.DisplaySv != "BankID" {
		t.Fatalf("Info = %+v", info)
	}
}
