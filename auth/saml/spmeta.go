package saml

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/beevik/etree"
	crewsaml "github.com/crewjam/saml"
	dsig "github.com/russellhaering/goxmldsig"
)

const (
	nsMDUI   = "urn:oasis:names:tc:SAML:metadata:ui"
	nsMDAttr = "urn:oasis:names:tc:SAML:metadata:attribute"
	nsSAML   = "urn:oasis:names:tc:SAML:2.0:assertion"

	entityCategoryAttr = "http://macedir.org/entity-category"
	attrNameFormatURI  = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"

	// spMetadataValidity is the validUntil the SP metadata promises; the
	// document is rebuilt well before that (spMetadataRebuild).
	spMetadataValidity = 7 * 24 * time.Hour
	spMetadataRebuild  = time.Hour
)

// encryptionMethods are the algorithms the SP can decrypt (those the
// underlying xmlenc package implements), strongest first.
var encryptionMethods = []crewsaml.EncryptionMethod{
	{Algorithm: "http://www.w3.org/2009/xmlenc11#aes128-gcm"},
	{Algorithm: "http://www.w3.org/2001/04/xmlenc#aes256-cbc"},
	{Algorithm: "http://www.w3.org/2001/04/xmlenc#aes192-cbc"},
	{Algorithm: "http://www.w3.org/2001/04/xmlenc#aes128-cbc"},
	{Algorithm: "http://www.w3.org/2009/xmlenc11#rsa-oaep"},
	{Algorithm: "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"},
}

// allowedEncryptionMethods is what an EncryptedAssertion may use. RSA
// PKCS#1 v1.5 key transport and 3DES are refused although the library could
// decrypt them: the first is open to padding-oracle attacks.
var allowedEncryptionMethods = func() map[string]bool {
	m := map[string]bool{}
	for _, e := range encryptionMethods {
		m[e.Algorithm] = true
	}
	return m
}()

func keyDescriptor(use string, cert *x509.Certificate, methods []crewsaml.EncryptionMethod) crewsaml.KeyDescriptor {
	return crewsaml.KeyDescriptor{
		Use: use,
		KeyInfo: crewsaml.KeyInfo{X509Data: crewsaml.X509Data{
			X509Certificates: []crewsaml.X509Certificate{{Data: base64.StdEncoding.EncodeToString(cert.Raw)}},
		}},
		EncryptionMethods: methods,
	}
}

func localized(l Localized) []crewsaml.LocalizedName {
	var out []crewsaml.LocalizedName
	if l.Sv != "" {
		out = append(out, crewsaml.LocalizedName{Lang: "sv", Value: l.Sv})
	}
	if l.En != "" {
		out = append(out, crewsaml.LocalizedName{Lang: "en", Value: l.En})
	}
	return out
}

// buildSPMetadata renders the SP's EntityDescriptor, signed with the
// signing key.
func (p *Provider) buildSPMetadata(now time.Time) ([]byte, error) {
	base := crewsaml.ServiceProvider{
		EntityID:        p.cfg.EntityID,
		Key:             p.signKey,
		Certificate:     p.signCert,
		MetadataURL:     *p.metadataURL,
		AcsURL:          *p.acsURL,
		SignatureMethod: dsig.RSASHA256SignatureMethod,
	}
	if p.sloURL != nil {
		base.SloURL = *p.sloURL
		base.LogoutBindings = []string{crewsaml.HTTPRedirectBinding, crewsaml.HTTPPostBinding}
	}
	ed := base.Metadata()
	validUntil := now.Add(spMetadataValidity).UTC()
	ed.ValidUntil = validUntil
	ed.ID = "_" + randomHex(16)
	yes := true
	spd := &ed.SPSSODescriptors[0]
	spd.ValidUntil = nil
	spd.NameIDFormats = nil
	kds := []crewsaml.KeyDescriptor{
		keyDescriptor("signing", p.signCert, nil),
		keyDescriptor("encryption", p.encCert, encryptionMethods),
	}
	if p.nextEncCert != nil {
		kds = append(kds, keyDescriptor("encryption", p.nextEncCert, encryptionMethods))
	}
	spd.KeyDescriptors = kds
	// Only HTTP-POST: the Swedish profile has no artifact binding.
	spd.AssertionConsumerServices = []crewsaml.IndexedEndpoint{{
		Binding: crewsaml.HTTPPostBinding, Location: p.acsURL.String(), Index: 0, IsDefault: &yes,
	}}
	org := p.cfg.Organization
	ed.Organization = &crewsaml.Organization{
		OrganizationNames:        localized(org.Name),
		OrganizationDisplayNames: localized(org.DisplayName),
	}
	for _, u := range localized(org.URL) {
		ed.Organization.OrganizationURLs = append(ed.Organization.OrganizationURLs, crewsaml.LocalizedURI(u))
	}
	if p.cfg.ContactEmail != "" {
		ed.ContactPerson = &crewsaml.ContactPerson{
			ContactType:    "technical",
			EmailAddresses: []string{"mailto:" + p.cfg.ContactEmail},
		}
	}

	raw, err := xml.Marshal(ed)
	if err != nil {
		return nil, err
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(raw); err != nil {
		return nil, err
	}
	root := doc.Root()
	root.InsertChildAt(0, p.entityExtensions())
	for _, c := range root.ChildElements() {
		if c.Tag == "SPSSODescriptor" {
			c.InsertChildAt(0, p.uiExtensions())
		}
	}

	sc, err := dsig.NewSigningContext(p.signKey, [][]byte{p.signCert.Raw})
	if err != nil {
		return nil, err
	}
	sc.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	if err := sc.SetSignatureMethod(dsig.RSASHA256SignatureMethod); err != nil {
		return nil, err
	}
	signed, err := sc.SignEnveloped(root)
	if err != nil {
		return nil, fmt.Errorf("saml: sign metadata: %w", err)
	}
	// The schema wants ds:Signature first; the enveloped transform removes
	// it before digesting, so moving it does not touch the signed content.
	moveSignature(signed, 0)
	out := etree.NewDocument()
	out.CreateProcInst("xml", `version="1.0" encoding="UTF-8"`)
	out.SetRoot(signed)
	var buf bytes.Buffer
	if _, err := out.WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// entityExtensions is md:Extensions with the entity categories as one
// multi-valued attribute, as the Swedish eID framework requires.
func (p *Provider) entityExtensions() *etree.Element {
	ext := etree.NewElement("Extensions") // default namespace: md
	ea := ext.CreateElement("mdattr:EntityAttributes")
	ea.CreateAttr("xmlns:mdattr", nsMDAttr)
	attr := ea.CreateElement("saml:Attribute")
	attr.CreateAttr("xmlns:saml", nsSAML)
	attr.CreateAttr("Name", entityCategoryAttr)
	attr.CreateAttr("NameFormat", attrNameFormatURI)
	for _, c := range p.cfg.EntityCategories {
		attr.CreateElement("saml:AttributeValue").SetText(c)
	}
	return ext
}

// uiExtensions is the SPSSODescriptor's md:Extensions with mdui:UIInfo.
func (p *Provider) uiExtensions() *etree.Element {
	ext := etree.NewElement("Extensions")
	ui := ext.CreateElement("mdui:UIInfo")
	ui.CreateAttr("xmlns:mdui", nsMDUI)
	add := func(tag string, l Localized) {
		for _, n := range localized(l) {
			e := ui.CreateElement("mdui:" + tag)
			e.CreateAttr("xml:lang", n.Lang)
			e.SetText(n.Value)
		}
	}
	add("DisplayName", p.cfg.UIInfo.DisplayName)
	add("Description", p.cfg.UIInfo.Description)
	if l := p.cfg.UIInfo.Logo; l.URL != "" {
		e := ui.CreateElement("mdui:Logo")
		e.CreateAttr("height", strconv.Itoa(l.Height))
		e.CreateAttr("width", strconv.Itoa(l.Width))
		e.SetText(l.URL)
	}
	return ext
}

// MetadataHandler serves the SP's signed metadata
// (application/samlmetadata+xml). The document is cached and rebuilt every
// hour so that validUntil always lies about a week ahead.
func (p *Provider) MetadataHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
			return
		}
		b, err := p.spMetadata()
		if err != nil {
			p.log.Error("saml: cannot build SP metadata", "idp", p.name, "err", err)
			http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/samlmetadata+xml")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		_, _ = w.Write(b)
	})
}

func (p *Provider) spMetadata() ([]byte, error) {
	p.mdMu.Lock()
	defer p.mdMu.Unlock()
	now := p.now()
	if p.mdBytes != nil && now.Sub(p.mdBuilt) < spMetadataRebuild && !now.Before(p.mdBuilt) {
		return p.mdBytes, nil
	}
	b, err := p.buildSPMetadata(now)
	if err != nil {
		return nil, err
	}
	p.mdBytes, p.mdBuilt = b, now
	return b, nil
}

// moveSignature moves the signature that goxmldsig appended as the last
// child of signed to position pos. The appended element does not have its
// parent set, so it is detached by slicing rather than RemoveChild.
func moveSignature(signed *etree.Element, pos int) {
	last := len(signed.Child) - 1
	sig, ok := signed.Child[last].(*etree.Element)
	if !ok {
		return
	}
	signed.Child = signed.Child[:last]
	signed.InsertChildAt(pos, sig.Copy())
}
