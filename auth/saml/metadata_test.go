package saml

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	crewsaml "github.com/crewjam/saml"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/civicgate/civicgate/auth"
)

func TestSPMetadata(t *testing.T) {
	h := newHarness(t, func(h *harness) {
		h.cfg.AcceptCoordinationNumber = true
		h.cfg.NextEncryptionCertFile = h.spNext.certFile
		h.cfg.PreviousEncryptionKeyFile = h.spPrev.keyFile
	})
	rec := httptest.NewRecorder()
	h.p.MetadataHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, spMetadata, nil))
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/samlmetadata+xml" {
		t.Fatalf("status %d, type %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(rec.Body.Bytes()); err != nil {
		t.Fatal(err)
	}
	root := doc.Root()
	if root.Tag != "EntityDescriptor" || root.NamespaceURI() != nsMetadata || root.SelectAttrValue("entityID", "") != spEntityID {
		t.Fatalf("root = %s entityID=%q", root.Tag, root.SelectAttrValue("entityID", ""))
	}
	vu, err := time.Parse(time.RFC3339Nano, root.SelectAttrValue("validUntil", ""))
	if err != nil || vu.Sub(h.now) < 6*24*time.Hour {
		t.Fatalf("validUntil = %v (%v)", vu, err)
	}

	// Signed by the SP signing key, signature first.
	if kids := root.ChildElements(); kids[0].Tag != "Signature" || kids[1].Tag != "Extensions" {
		t.Fatalf("children start with %s, %s", kids[0].Tag, kids[1].Tag)
	}
	vc := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{h.spSign.cert}})
	vc.IdAttribute = "ID"
	if _, err := vc.Validate(root); err != nil {
		t.Fatalf("metadata signature: %v", err)
	}

	// One entity-category attribute with every category.
	attrs := root.FindElements("./Extensions/EntityAttributes/Attribute")
	if len(attrs) != 1 || attrs[0].SelectAttrValue("Name", "") != entityCategoryAttr {
		t.Fatalf("want one entity-category attribute, got %d", len(attrs))
	}
	var cats []string
	for _, v := range attrs[0].SelectElements("AttributeValue") {
		cats = append(cats, v.Text())
	}
	if !slices.Equal(cats, []string{CategoryLoA3PNR, CategoryPublicSectorSP, CategoryAcceptsCoordinationNumber}) {
		t.Fatalf("categories = %v", cats)
	}
	if ea := root.FindElement("./Extensions/EntityAttributes"); ea.NamespaceURI() != nsMDAttr {
		t.Fatalf("EntityAttributes namespace %q", ea.NamespaceURI())
	}

	spd := root.SelectElement("SPSSODescriptor")
	if spd.SelectAttrValue("AuthnRequestsSigned", "") != "true" || spd.SelectAttrValue("WantAssertionsSigned", "") != "true" {
		t.Fatalf("AuthnRequestsSigned/WantAssertionsSigned not true")
	}
	ui := spd.FindElement("./Extensions/UIInfo")
	if ui == nil || ui.NamespaceURI() != nsMDUI {
		t.Fatal("no mdui:UIInfo")
	}
	lang := func(tag, l string) string {
		for _, e := range ui.SelectElements(tag) {
			if e.SelectAttrValue("xml:lang", "") == l {
				return e.Text()
			}
		}
		return ""
	}
	if lang("DisplayName", "sv") != "Exempels e-tjänster" || lang("DisplayName", "en") != "Exempel e-services" ||
		lang("Description", "sv") != "Kommunens e-tjänster" || lang("Description", "en") != "The municipality's e-services" {
		t.Fatal("UIInfo texts wrong")
	}
	if logo := ui.SelectElement("Logo"); logo == nil || logo.Text() != "https://www.exempel.se/logo.svg" || logo.SelectAttrValue("width", "") != "100" {
		t.Fatal("UIInfo logo wrong")
	}

	// Signing and encryption keys kept apart; the next encryption key
	// published, the previous one not.
	var signing, encryption []*x509.Certificate
	for _, kd := range spd.SelectElements("KeyDescriptor") {
		der, _ := base64.StdEncoding.DecodeString(strings.TrimSpace(kd.FindElement(".//X509Certificate").Text()))
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		switch kd.SelectAttrValue("use", "") {
		case "signing":
			signing = append(signing, c)
		case "encryption":
			encryption = append(encryption, c)
			if len(kd.SelectElements("EncryptionMethod")) == 0 {
				t.Fatal("encryption KeyDescriptor lists no EncryptionMethod")
			}
		default:
			t.Fatalf("KeyDescriptor without use")
		}
	}
	if len(signing) != 1 || !signing[0].Equal(h.spSign.cert) {
		t.Fatal("signing KeyDescriptor wrong")
	}
	if len(encryption) != 2 || !encryption[0].Equal(h.spEnc.cert) || !encryption[1].Equal(h.spNext.cert) {
		t.Fatal("encryption KeyDescriptors must be current then next")
	}

	acs := spd.SelectElements("AssertionConsumerService")
	if len(acs) != 1 || acs[0].SelectAttrValue("Binding", "") != crewsaml.HTTPPostBinding || acs[0].SelectAttrValue("Location", "") != spACS {
		t.Fatal("want exactly one HTTP-POST ACS")
	}
	if slo := spd.SelectElements("SingleLogoutService"); len(slo) == 0 || slo[0].SelectAttrValue("Location", "") != spSLO {
		t.Fatal("SingleLogoutService missing")
	}
	org := root.SelectElement("Organization")
	if org == nil || org.SelectElement("OrganizationName") == nil || org.SelectElement("OrganizationURL") == nil {
		t.Fatal("Organization missing")
	}
	if cp := root.SelectElement("ContactPerson"); cp == nil || cp.SelectElement("EmailAddress").Text() != "mailto:e-tjanster@exempel.se" {
		t.Fatal("ContactPerson missing")
	}

	rec = httptest.NewRecorder()
	h.p.MetadataHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, spMetadata, nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Fatalf("POST to metadata: %d", rec.Code)
	}
}

func TestIdPMetadataSignature(t *testing.T) {
	h := newHarness(t)
	good := h.aggregate(h.fedKey, nil)
	now := time.Now()
	certs := []*x509.Certificate{h.fedKey.cert}

	ed, err := parseIdPMetadata(good, certs, true, h.entityID, now)
	if err != nil {
		t.Fatalf("signed aggregate refused: %v", err)
	}
	if ed.EntityID != h.entityID || len(ed.IDPSSODescriptors) != 1 {
		t.Fatalf("picked entity %q", ed.EntityID)
	}
	// Rollover: several trusted signers, any one of them will do.
	other := newKeyPair(t, h.dir, "federation-next")
	if _, err := parseIdPMetadata(good, []*x509.Certificate{other.cert, h.fedKey.cert}, true, h.entityID, now); err != nil {
		t.Fatalf("signer among several certs refused: %v", err)
	}

	tampered := []byte(strings.Replace(string(good), h.srv.URL+"/sso", "https://evil.example/sso", 1))
	if string(tampered) == string(good) {
		t.Fatal("tampering did not change the document")
	}
	unsigned := func() []byte {
		doc := etree.NewDocument()
		_ = doc.ReadFromBytes(good)
		doc.Root().RemoveChildAt(doc.Root().SelectElement("Signature").Index())
		b, _ := doc.WriteToBytes()
		return b
	}()
	for _, c := range []struct {
		name     string
		b        []byte
		certs    []*x509.Certificate
		entityID string
		now      time.Time
		contains string
	}{
		{"wrong certificate", good, []*x509.Certificate{other.cert}, h.entityID, now, "signature"},
		{"tampered", tampered, certs, h.entityID, now, "signature"},
		{"unsigned", unsigned, certs, h.entityID, now, "not signed"},
		{"SHA-1 signed", h.aggregateSigned(dsig.RSASHA1SignatureMethod), certs, h.entityID, now, "algorithm"},
		{"entity not in aggregate", good, certs, "https://nobody.example.se", now, "not found"},
		{"aggregate without entity ID", good, certs, "", now, "idp_entity_id"},
		{"expired", good, certs, h.entityID, now.Add(72 * time.Hour), ""},
		{"DTD", []byte(`<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><EntitiesDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata">&e;</EntitiesDescriptor>`), certs, h.entityID, now, "DTD"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := parseIdPMetadata(c.b, c.certs, true, c.entityID, c.now)
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), c.contains) {
				t.Fatalf("error %q does not mention %q", err, c.contains)
			}
		})
	}
}

func (h *harness) aggregateSigned(method string) []byte {
	b := h.aggregate(h.fedKey, nil)
	doc := etree.NewDocument()
	_ = doc.ReadFromBytes(b)
	root := doc.Root()
	root.RemoveChildAt(root.SelectElement("Signature").Index())
	return docBytes(h.t, signAt(h.t, signingContext(h.t, h.fedKey, method), root, 0))
}

func TestIdPMetadataRefreshKeepsLastGood(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	before := h.p.state.Load()

	// A refresh signed by an unknown key fails and the old metadata stays.
	rogue := newKeyPair(t, h.dir, "rogue")
	h.mu.Lock()
	h.serveMD = func() []byte {
		return h.aggregate(rogue, func(ed *crewsaml.EntityDescriptor) {
			ed.IDPSSODescriptors[0].SingleSignOnServices[0].Location = "https://evil.example/sso"
		})
	}
	h.mu.Unlock()
	if err := h.p.refresh(ctx); err == nil {
		t.Fatal("refresh accepted metadata signed by an unknown key")
	}
	if h.p.state.Load() != before || h.p.Ready(ctx) != nil {
		t.Fatal("failed refresh replaced or dropped the good metadata")
	}
	ch := h.begin(auth.LoASubstantial, true)
	if !strings.HasPrefix(ch.RedirectURL, h.srv.URL+"/sso") {
		t.Fatal("login goes to the rogue SSO URL")
	}

	// A good refresh replaces it.
	h.mu.Lock()
	h.serveMD = func() []byte {
		return h.aggregate(h.fedKey, func(ed *crewsaml.EntityDescriptor) {
			ed.IDPSSODescriptors[0].SingleSignOnServices[0].Location = h.srv.URL + "/sso2"
		})
	}
	h.mu.Unlock()
	if err := h.p.refresh(ctx); err != nil {
		t.Fatalf("good refresh: %v", err)
	}
	if ch := h.begin(auth.LoASubstantial, true); !strings.HasPrefix(ch.RedirectURL, h.srv.URL+"/sso2?") {
		t.Fatal("refreshed metadata not in force")
	}
}

func TestNotReadyUntilMetadataLoads(t *testing.T) {
	h := newHarness(t)
	h.mu.Lock()
	h.serveMD = func() []byte { return []byte("not metadata") }
	h.mu.Unlock()
	p, err := New(context.Background(), "bankid", h.cfg, Options{HTTPClient: h.srv.Client(), Replay: newFakeReplay()})
	if err != nil {
		t.Fatalf("New must not fail on unavailable metadata: %v", err)
	}
	defer p.Close()
	if p.Ready(context.Background()) == nil {
		t.Fatal("ready without metadata")
	}
	h.mu.Lock()
	h.serveMD = nil
	h.mu.Unlock()
	if err := p.refresh(context.Background()); err != nil || p.Ready(context.Background()) != nil {
		t.Fatalf("not ready after a good refresh: %v", err)
	}
	p.Close()
	p.Close() // idempotent
}

func TestIdPMetadataFromFile(t *testing.T) {
	h := newHarness(t)
	path := h.dir + "/idp.xml"
	if err := writeFile(path, h.aggregate(h.fedKey, nil)); err != nil {
		t.Fatal(err)
	}
	cfg := h.cfg
	cfg.IdPMetadataURL, cfg.IdPMetadataFile = "", path
	p, err := New(context.Background(), "bankid", cfg, Options{Replay: newFakeReplay()})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer p.Close()
	if p.Ready(context.Background()) != nil {
		t.Fatal("not ready")
	}
	cfg.IdPMetadataCertFiles = []string{newKeyPair(t, h.dir, "rogue").certFile}
	if _, err := New(context.Background(), "bankid", cfg, Options{Replay: newFakeReplay()}); err == nil {
		t.Fatal("file metadata signed by an untrusted key accepted")
	}
}

func TestLogoutURL(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	id := auth.Identity{IdP: "bankid", Subject: "pseudonym-7f3a", NameIDFormat: string(crewsaml.PersistentNameIDFormat), SessionIndex: "sess-index-1"}
	u, err := h.p.LogoutURL(ctx, id, "/utloggad")
	if err != nil || !strings.HasPrefix(u, h.srv.URL+"/slo?SAMLRequest=") {
		t.Fatalf("LogoutURL = %q, %v", u, err)
	}
	pu, _ := parseURL(u)
	q := pu.Query()
	if q.Get("RelayState") != "/utloggad" || q.Get("Signature") == "" || q.Get("SigAlg") != dsig.RSASHA256SignatureMethod {
		t.Fatalf("query = %v", q)
	}
	req := inflateRequest(t, q.Get("SAMLRequest"))
	if req.Tag != "LogoutRequest" || req.SelectElement("NameID").Text() != "pseudonym-7f3a" ||
		req.SelectElement("SessionIndex").Text() != "sess-index-1" || req.SelectAttrValue("Destination", "") != h.srv.URL+"/slo" {
		t.Fatal("LogoutRequest contents wrong")
	}
	// An absolute post-logout URL never travels.
	u, _ = h.p.LogoutURL(ctx, id, "https://evil.example/")
	if pu, _ := parseURL(u); pu.Query().Get("RelayState") != "" {
		t.Fatal("absolute RelayState sent")
	}
	// Another provider's identity, or an IdP without SLO: no URL.
	if u, _ := h.p.LogoutURL(ctx, auth.Identity{IdP: "freja", Subject: "x"}, "/"); u != "" {
		t.Fatal("logout URL for another provider's identity")
	}
	h2 := newHarness(t)
	h2.idp.LogoutURL = urlZero()
	if err := h2.p.refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if u, _ := h2.p.LogoutURL(ctx, id, "/"); u != "" {
		t.Fatalf("logout URL without IdP SLO: %q", u)
	}
}

func TestConfigValidate(t *testing.T) {
	err := Config{Binding: "artifact", Kind: "robot", MaxLoA: "ultra", ClockSkew: time.Hour}.Validate()
	if err == nil {
		t.Fatal("empty config accepted")
	}
	for _, key := range []string{"entity_id:", "acs_url:", "metadata_url:", "signing_key_file:", "encryption_cert_file:",
		"idp_metadata_file:", "binding:", "organization.name:", "ui_info.display_name:", "max_loa:", "display_sv:",
		"kind:", "clock_skew:"} {
		if !strings.Contains(err.Error(), "\n"+key) && !strings.HasPrefix(err.Error(), key) {
			t.Errorf("missing error for %s in:\n%v", key, err)
		}
	}
	h := newHarness(t)
	if err := h.cfg.Validate(); err != nil {
		t.Fatalf("valid config refused: %v", err)
	}
	c := h.cfg
	c.IdPMetadataCertFiles = nil
	if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), "idp_metadata_cert_files:") {
		t.Fatalf("metadata URL without signer certs: %v", err)
	}
	c = h.cfg
	c.Kind = "staff"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "role_attribute:") {
		t.Fatalf("staff without role attribute: %v", err)
	}
	if _, err := New(context.Background(), "x", h.cfg, Options{}); err == nil {
		t.Fatal("New without a replay cache")
	}
	weak, _ := rsa.GenerateKey(rand.Reader, 1024)
	writePEM(t, h.dir+"/weak.key", "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(weak))
	c = h.cfg
	c.EncryptionKeyFile = h.dir + "/weak.key"
	if _, err := New(context.Background(), "x", c, Options{Replay: newFakeReplay()}); err == nil || !strings.Contains(err.Error(), "2048") {
		t.Fatalf("1024-bit key accepted: %v", err)
	}
	c = h.cfg
	c.SigningCertFile = h.spEnc.certFile // does not match the signing key
	if _, err := New(context.Background(), "x", c, Options{Replay: newFakeReplay()}); err == nil || !strings.Contains(err.Error(), "signing_key_file") {
		t.Fatalf("mismatched key and certificate: %v", err)
	}
}
