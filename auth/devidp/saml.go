package devidp

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/beevik/etree"
	"github.com/crewjam/saml"
	xrv "github.com/mattermost/xml-roundtrip-validator"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/civicgate/civicgate/auth"
)

// Status and entity category URIs of the Swedish eID Framework.
const (
	StatusCancel = "http://id.elegnamnden.se/status/1.0/cancel"
	// EntityCategoryAcceptsCoordinationNumber, declared in an SP's
	// metadata, lets a samordningsnummer arrive in personalIdentityNumber.
	EntityCategoryAcceptsCoordinationNumber = "http://id.swedenconnect.se/general-ec/1.0/accepts-coordination-number"
)

const (
	attrNameFormatURI    = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"
	nameIDPersistent     = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
	nameIDTransient      = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
	nameIDEntity         = "urn:oasis:names:tc:SAML:2.0:nameid-format:entity"
	entityCategoryAttr   = "http://macedir.org/entity-category"
	assertionLifetime    = 5 * time.Minute
	samlMetadataValidity = 48 * time.Hour
)

// serviceProvider is a trusted SAML SP, from its metadata.
type serviceProvider struct {
	entityID      string
	md            *saml.EntityDescriptor
	sso           *saml.SPSSODescriptor
	signingCerts  []*x509.Certificate
	signsRequests bool
	categories    []string
}

func (sp *serviceProvider) acceptsCoordinationNumber() bool {
	return contains(sp.categories, EntityCategoryAcceptsCoordinationNumber)
}

// samlRequest is a validated AuthnRequest waiting for an answer.
type samlRequest struct {
	req *saml.IdpAuthnRequest
	sp  *serviceProvider
}

func (p *Provider) initSAML() error {
	key, err := rsa.GenerateKey(rand.Reader, 3072)
	if err != nil {
		return fmt.Errorf("devidp: generate SAML key: %w", err)
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	// The validity covers both the real and the injected clock, so that a
	// relying party checking the certificate at either time accepts it.
	from := p.now()
	if t := time.Now(); t.Before(from) {
		from = t
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "civicgate devidp TEST ONLY", Organization: []string{"civicgate test"}},
		NotBefore:    from.Add(-24 * time.Hour),
		NotAfter:     from.Add(20 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return fmt.Errorf("devidp: SAML certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return fmt.Errorf("devidp: SAML certificate: %w", err)
	}
	metadataURL, _ := url.Parse(p.url("/saml/metadata"))
	ssoURL, _ := url.Parse(p.url("/saml/sso"))
	p.samlIdP = &saml.IdentityProvider{
		Key:             key,
		Certificate:     cert,
		MetadataURL:     *metadataURL,
		SSOURL:          *ssoURL,
		SignatureMethod: dsig.RSASHA256SignatureMethod,
	}
	return nil
}

// SAMLMetadataURL returns the URL of the IdP metadata, which is also the
// IdP's entityID.
func (p *Provider) SAMLMetadataURL() string { return p.samlIdP.MetadataURL.String() }

// SAMLMetadata returns the IdP metadata (XML): the SSO service for the
// HTTP-Redirect and HTTP-POST bindings and the signing and encryption
// certificate.
func (p *Provider) SAMLMetadata() []byte {
	ed := p.samlIdP.Metadata()
	ed.ValidUntil = p.now().Add(samlMetadataValidity)
	ed.IDPSSODescriptors[0].NameIDFormats = []saml.NameIDFormat{nameIDPersistent, nameIDTransient}
	buf, err := xml.MarshalIndent(ed, "", "  ")
	if err != nil {
		// The structure is built here from fixed types; failing is a bug.
		panic("devidp: marshal IdP metadata: " + err.Error())
	}
	return buf
}

func (p *Provider) serveSAMLMetadata(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/samlmetadata+xml")
	_, _ = w.Write(p.SAMLMetadata())
}

// AddServiceProvider trusts a SAML SP described by its metadata (XML),
// replacing an earlier SP with the same entityID. The SP needs an HTTP-POST
// assertion consumer service and an encryption certificate: assertions are
// always encrypted, as in the Swedish eID Framework.
func (p *Provider) AddServiceProvider(metadata []byte) error {
	if err := xrv.Validate(bytes.NewReader(metadata)); err != nil {
		return fmt.Errorf("devidp: SP metadata: %w", err)
	}
	var ed saml.EntityDescriptor
	if err := xml.Unmarshal(metadata, &ed); err != nil {
		return fmt.Errorf("devidp: SP metadata: %w", err)
	}
	if ed.EntityID == "" || len(ed.SPSSODescriptors) == 0 {
		return errors.New("devidp: SP metadata: no entityID or no SPSSODescriptor")
	}
	sp := &serviceProvider{entityID: ed.EntityID, md: &ed, sso: &ed.SPSSODescriptors[0]}
	hasPost, hasEnc := false, false
	for _, acs := range sp.sso.AssertionConsumerServices {
		hasPost = hasPost || acs.Binding == saml.HTTPPostBinding
	}
	for _, kd := range sp.sso.KeyDescriptors {
		for _, c := range kd.KeyInfo.X509Data.X509Certificates {
			cert, err := parseCert(c.Data)
			if err != nil {
				return fmt.Errorf("devidp: SP metadata: %w", err)
			}
			if kd.Use == "encryption" || kd.Use == "" {
				hasEnc = true
			}
			if kd.Use == "signing" || kd.Use == "" {
				sp.signingCerts = append(sp.signingCerts, cert)
			}
		}
	}
	if !hasPost {
		return errors.New("devidp: SP metadata: no HTTP-POST AssertionConsumerService")
	}
	if !hasEnc {
		return errors.New("devidp: SP metadata: no encryption certificate")
	}
	sp.signsRequests = sp.sso.AuthnRequestsSigned != nil && *sp.sso.AuthnRequestsSigned
	var ext struct {
		Attrs []struct {
			Name   string   `xml:"Name,attr"`
			Values []string `xml:"AttributeValue"`
		} `xml:"Extensions>EntityAttributes>Attribute"`
	}
	if err := xml.Unmarshal(metadata, &ext); err == nil {
		for _, a := range ext.Attrs {
			if a.Name == entityCategoryAttr {
				for _, v := range a.Values {
					sp.categories = append(sp.categories, strings.TrimSpace(v))
				}
			}
		}
	}
	p.mu.Lock()
	p.sps[sp.entityID] = sp
	p.mu.Unlock()
	return nil
}

var whitespace = regexp.MustCompile(`\s+`)

func parseCert(b64 string) (*x509.Certificate, error) {
	der, err := base64.StdEncoding.DecodeString(whitespace.ReplaceAllString(b64, ""))
	if err != nil {
		return nil, fmt.Errorf("certificate is not base64: %w", err)
	}
	return x509.ParseCertificate(der)
}

// serveSSO receives an AuthnRequest (HTTP-Redirect or HTTP-POST binding),
// validates it against the SP's metadata and shows the picker, limited to
// the requested authentication contexts.
func (p *Provider) serveSSO(w http.ResponseWriter, r *http.Request) {
	req, err := saml.NewIdpAuthnRequest(p.samlIdP, r)
	if err != nil {
		p.renderMessage(w, http.StatusBadRequest, "Felaktig SAML-begäran.", "Malformed SAML request.")
		return
	}
	req.Now = p.now()
	sp, err := p.validateAuthnRequest(req, r)
	if err != nil {
		p.log.Info("devidp: AuthnRequest refused", "err", err)
		p.renderMessage(w, http.StatusBadRequest, "SAML-begäran avvisades: "+err.Error(), "The SAML request was refused: "+err.Error())
		return
	}
	sreq := &samlRequest{req: req, sp: sp}
	requested, comparison := requestedContexts(req.RequestBuffer)
	offered, ok := samlOffered(requested, comparison)
	if !ok {
		p.finishSAMLError(w, r, sreq, saml.StatusNoAuthnContext)
		return
	}
	force := req.Request.ForceAuthn != nil && *req.Request.ForceAuthn
	if s := p.currentSession(r); s != nil && !force && contains(offered, s.acr) {
		p.finishSAML(w, r, sreq, s)
		return
	}
	if req.Request.IsPassive != nil && *req.Request.IsPassive {
		p.finishSAMLError(w, r, sreq, saml.StatusNoPassive)
		return
	}
	f := p.newFlow(p.browserID(w, r), offered)
	f.saml = sreq
	p.renderPicker(w, f, sp.entityID, "SAML")
}

// validateAuthnRequest checks the request's form, Destination, age, issuer,
// signature and assertion consumer service. Its errors name no personal
// data and quote no XML.
func (p *Provider) validateAuthnRequest(req *saml.IdpAuthnRequest, r *http.Request) (*serviceProvider, error) {
	if err := xrv.Validate(bytes.NewReader(req.RequestBuffer)); err != nil {
		return nil, errors.New("XML does not round-trip")
	}
	if err := xml.Unmarshal(req.RequestBuffer, &req.Request); err != nil {
		return nil, errors.New("not an AuthnRequest")
	}
	ar := &req.Request
	switch {
	case ar.Version != "2.0":
		return nil, errors.New("version must be 2.0")
	case ar.ID == "":
		return nil, errors.New("request ID missing")
	case ar.Destination != p.samlIdP.SSOURL.String():
		return nil, errors.New("request Destination is not this IdP's SSO URL")
	case ar.IssueInstant.Add(saml.MaxIssueDelay).Before(req.Now):
		return nil, errors.New("request expired")
	case ar.IssueInstant.After(req.Now.Add(saml.MaxClockSkew)):
		return nil, errors.New("request IssueInstant is in the future")
	case ar.Issuer == nil || ar.Issuer.Value == "":
		return nil, errors.New("request Issuer missing")
	case ar.ProtocolBinding != "" && ar.ProtocolBinding != saml.HTTPPostBinding:
		return nil, errors.New("only the HTTP-POST response binding is supported")
	}
	p.mu.Lock()
	sp := p.sps[ar.Issuer.Value]
	p.mu.Unlock()
	if sp == nil {
		return nil, errors.New("unknown service provider")
	}
	signed, err := p.verifyRequestSignature(req, r, sp)
	if err != nil {
		return nil, err
	}
	if sp.signsRequests && !signed {
		return nil, errors.New("the SP's metadata says its requests are signed, but this one is not")
	}
	acs := findACS(sp.sso, ar)
	if acs == nil {
		return nil, errors.New("the requested AssertionConsumerService is not in the SP's metadata or not HTTP-POST")
	}
	req.ServiceProviderMetadata = sp.md
	req.SPSSODescriptor = sp.sso
	req.ACSEndpoint = acs
	return sp, nil
}

func findACS(sso *saml.SPSSODescriptor, ar *saml.AuthnRequest) *saml.IndexedEndpoint {
	var found *saml.IndexedEndpoint
	for i := range sso.AssertionConsumerServices {
		acs := &sso.AssertionConsumerServices[i]
		switch {
		case ar.AssertionConsumerServiceIndex != "":
			if strconv.Itoa(acs.Index) == ar.AssertionConsumerServiceIndex {
				found = acs
			}
		case ar.AssertionConsumerServiceURL != "":
			if acs.Location == ar.AssertionConsumerServiceURL && acs.Binding == saml.HTTPPostBinding {
				found = acs
			}
		default:
			if acs.Binding == saml.HTTPPostBinding && (found == nil || (acs.IsDefault != nil && *acs.IsDefault)) {
				found = acs
			}
		}
	}
	if found == nil || found.Binding != saml.HTTPPostBinding {
		return nil
	}
	cp := *found
	return &cp
}

// verifyRequestSignature verifies the request's signature, if it has one,
// with the SP's signing certificates: the query signature of the
// HTTP-Redirect binding or the enveloped XML signature of HTTP-POST.
func (p *Provider) verifyRequestSignature(req *saml.IdpAuthnRequest, r *http.Request, sp *serviceProvider) (bool, error) {
	if r.Method == http.MethodGet {
		raw := map[string]string{}
		for _, part := range strings.Split(r.URL.RawQuery, "&") {
			k, v, _ := strings.Cut(part, "=")
			if _, dup := raw[k]; !dup {
				raw[k] = v
			}
		}
		sigB64, hasSig := raw["Signature"]
		if !hasSig {
			if req.Request.Signature != nil {
				return false, errors.New("HTTP-Redirect requests are signed in the query, not in the XML")
			}
			return false, nil
		}
		// The signed octets are the parameters exactly as received (SAML
		// bindings, section 3.4.4.1).
		signedText := "SAMLRequest=" + raw["SAMLRequest"]
		if rs, ok := raw["RelayState"]; ok {
			signedText += "&RelayState=" + rs
		}
		signedText += "&SigAlg=" + raw["SigAlg"]
		alg, err1 := url.QueryUnescape(raw["SigAlg"])
		sigText, err2 := url.QueryUnescape(sigB64)
		sig, err3 := base64.StdEncoding.DecodeString(sigText)
		if err1 != nil || err2 != nil || err3 != nil {
			return false, errors.New("malformed query signature")
		}
		var h crypto.Hash
		var sum []byte
		switch alg {
		case dsig.RSASHA256SignatureMethod:
			s := sha256.Sum256([]byte(signedText))
			h, sum = crypto.SHA256, s[:]
		case dsig.RSASHA512SignatureMethod:
			s := sha512.Sum512([]byte(signedText))
			h, sum = crypto.SHA512, s[:]
		default:
			return false, errors.New("unsupported SigAlg (want RSA-SHA256 or RSA-SHA512)")
		}
		for _, cert := range sp.signingCerts {
			if pub, ok := cert.PublicKey.(*rsa.PublicKey); ok && rsa.VerifyPKCS1v15(pub, h, sum, sig) == nil {
				return true, nil
			}
		}
		return false, errors.New("query signature does not verify with the SP's certificates")
	}
	if req.Request.Signature == nil {
		return false, nil
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(req.RequestBuffer); err != nil || doc.Root() == nil {
		return false, errors.New("malformed XML")
	}
	ctx := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: sp.signingCerts})
	ctx.Clock = dsig.NewFakeClockAt(p.now())
	if _, err := ctx.Validate(doc.Root()); err != nil {
		return false, errors.New("XML signature does not verify with the SP's certificates")
	}
	return true, nil
}

// requestedContexts returns the AuthnContextClassRefs of the request's
// RequestedAuthnContext and its Comparison. The crewjam type keeps only
// one class reference, so the request is read again here.
func requestedContexts(request []byte) (refs []string, comparison string) {
	var ar struct {
		RAC *struct {
			Comparison string   `xml:"Comparison,attr"`
			Refs       []string `xml:"urn:oasis:names:tc:SAML:2.0:assertion AuthnContextClassRef"`
		} `xml:"urn:oasis:names:tc:SAML:2.0:protocol RequestedAuthnContext"`
	}
	if xml.Unmarshal(request, &ar) != nil || ar.RAC == nil {
		return nil, ""
	}
	for _, r := range ar.RAC.Refs {
		refs = append(refs, strings.TrimSpace(r))
	}
	return refs, ar.RAC.Comparison
}

// samlOffered applies the comparison: exact (the Swedish profile's only
// one) offers the listed known contexts; minimum offers every known context
// at least as strong as the weakest one listed.
func samlOffered(requested []string, comparison string) ([]string, bool) {
	if comparison != "minimum" || len(requested) == 0 {
		if comparison != "" && comparison != "exact" && comparison != "minimum" {
			return nil, false
		}
		return offeredACRs(requested)
	}
	lowest := auth.LoAHigh + 1
	for _, r := range requested {
		if l, ok := auth.LoAFromURI(r); ok && l < lowest {
			lowest = l
		}
	}
	var out []string
	for _, o := range acrCatalogue {
		if l, _ := auth.LoAFromURI(o.URI); l >= lowest {
			out = append(out, o.URI)
		}
	}
	return out, len(out) > 0
}

// samlAttributes are the person's attributes for an SP.
func (p *Provider) samlAttributes(person *Person, txn string, sp *serviceProvider) []saml.Attribute {
	var attrs []saml.Attribute
	add := func(name, friendly string, values ...string) {
		a := saml.Attribute{Name: name, FriendlyName: friendly, NameFormat: attrNameFormatURI}
		for _, v := range values {
			a.Values = append(a.Values, saml.AttributeValue{Type: "xs:string", Value: v})
		}
		attrs = append(attrs, a)
	}
	if person.PersonalNumber != "" && (!person.IsCoordinationNumber() || sp.acceptsCoordinationNumber()) {
		add(auth.AttrPersonalIdentityNumber, "personalIdentityNumber", person.PersonalNumber)
	}
	add(auth.AttrGivenName, "givenName", person.GivenName)
	add(auth.AttrSurname, "sn", person.FamilyName)
	add(auth.AttrDisplayName, "displayName", person.Name())
	if bd := person.BirthDate(); bd != "" {
		add(auth.AttrDateOfBirth, "dateOfBirth", bd)
	}
	if person.PRID != "" {
		add(auth.AttrPRID, "prid", person.PRID)
		add(auth.AttrPRIDPersistence, "pridPersistence", "A")
		if person.Country != "" {
			add(auth.AttrCountry, "c", person.Country)
		}
	}
	if person.Kind == auth.Staff {
		if person.Email != "" {
			add(auth.AttrMail, "mail", person.Email)
		}
		if len(person.Groups) > 0 {
			add(auth.AttrIsMemberOf, "isMemberOf", person.Groups...)
		}
	}
	add(auth.AttrTransactionIdentifier, "transactionIdentifier", txn)
	return attrs
}

// finishSAML answers the request with a signed Response carrying an
// encrypted, signed assertion for the session's person.
func (p *Provider) finishSAML(w http.ResponseWriter, r *http.Request, sreq *samlRequest, s *idpSession) {
	req, sp := sreq.req, sreq.sp
	now := p.now()
	req.Now = now
	req.HTTPRequest = r
	sessionEnd := s.authTime.Add(sessionLifetime)
	entityID := p.SAMLMetadataURL()
	req.Assertion = &saml.Assertion{
		ID:           samlID(),
		IssueInstant: now,
		Version:      "2.0",
		Issuer:       saml.Issuer{Format: nameIDEntity, Value: entityID},
		Subject: &saml.Subject{
			NameID: &saml.NameID{
				Format: nameIDPersistent, NameQualifier: entityID, SPNameQualifier: sp.entityID,
				Value: p.pseudonym(s.person, sp.entityID),
			},
			SubjectConfirmations: []saml.SubjectConfirmation{{
				Method: "urn:oasis:names:tc:SAML:2.0:cm:bearer",
				SubjectConfirmationData: &saml.SubjectConfirmationData{
					InResponseTo: req.Request.ID,
					NotOnOrAfter: now.Add(assertionLifetime),
					Recipient:    req.ACSEndpoint.Location,
				},
			}},
		},
		Conditions: &saml.Conditions{
			NotBefore:            now.Add(-time.Minute),
			NotOnOrAfter:         now.Add(assertionLifetime),
			AudienceRestrictions: []saml.AudienceRestriction{{Audience: saml.Audience{Value: sp.entityID}}},
		},
		AuthnStatements: []saml.AuthnStatement{{
			AuthnInstant:        s.authTime,
			SessionIndex:        s.sid,
			SessionNotOnOrAfter: &sessionEnd,
			AuthnContext:        saml.AuthnContext{AuthnContextClassRef: &saml.AuthnContextClassRef{Value: s.acr}},
		}},
		AttributeStatements: []saml.AttributeStatement{{Attributes: p.samlAttributes(s.person, s.txn, sp)}},
	}
	if err := req.MakeResponse(); err != nil {
		p.log.Error("devidp: make SAML response", "err", err)
		p.renderMessage(w, http.StatusInternalServerError, "Kunde inte skapa SAML-svaret.", "Could not create the SAML response.")
		return
	}
	form, err := req.PostBinding()
	if err != nil {
		p.log.Error("devidp: SAML response form", "err", err)
		p.renderMessage(w, http.StatusInternalServerError, "Kunde inte skapa SAML-svaret.", "Could not create the SAML response.")
		return
	}
	p.renderPost(w, form.URL, form.SAMLResponse, form.RelayState)
}

// finishSAMLError answers the request with a signed Response with status
// Responder and the sub-status sub (e.g. StatusCancel) and no assertion.
func (p *Provider) finishSAMLError(w http.ResponseWriter, _ *http.Request, sreq *samlRequest, sub string) {
	req := sreq.req
	resp := &saml.Response{
		ID:           samlID(),
		InResponseTo: req.Request.ID,
		Version:      "2.0",
		IssueInstant: p.now(),
		Destination:  req.ACSEndpoint.Location,
		Issuer:       &saml.Issuer{Format: nameIDEntity, Value: p.SAMLMetadataURL()},
		Status: saml.Status{
			StatusCode:    saml.StatusCode{Value: saml.StatusResponder, StatusCode: &saml.StatusCode{Value: sub}},
			StatusMessage: &saml.StatusMessage{Value: statusMessage(sub)},
		},
	}
	ctx, err := p.samlSigningContext()
	if err == nil {
		var signed *etree.Element
		if signed, err = ctx.SignEnveloped(resp.Element()); err == nil {
			children := signed.ChildElements()
			resp.Signature = children[len(children)-1]
		}
	}
	if err != nil {
		p.log.Error("devidp: sign SAML error response", "err", err)
		p.renderMessage(w, http.StatusInternalServerError, "Kunde inte skapa SAML-svaret.", "Could not create the SAML response.")
		return
	}
	doc := etree.NewDocument()
	doc.SetRoot(resp.Element())
	buf, err := doc.WriteToBytes()
	if err != nil {
		p.renderMessage(w, http.StatusInternalServerError, "Kunde inte skapa SAML-svaret.", "Could not create the SAML response.")
		return
	}
	p.renderPost(w, req.ACSEndpoint.Location, base64.StdEncoding.EncodeToString(buf), req.RelayState)
}

func statusMessage(sub string) string {
	switch sub {
	case StatusCancel:
		return "The user cancelled the authentication"
	case saml.StatusNoAuthnContext:
		return "None of the requested authentication contexts is supported"
	case saml.StatusNoPassive:
		return "Passive authentication is not possible"
	}
	return "Authentication failed"
}

func (p *Provider) samlSigningContext() (*dsig.SigningContext, error) {
	ctx := dsig.NewDefaultSigningContext(dsig.TLSCertKeyStore(tls.Certificate{
		Certificate: [][]byte{p.samlIdP.Certificate.Raw},
		PrivateKey:  p.samlIdP.Key,
		Leaf:        p.samlIdP.Certificate,
	}))
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	if err := ctx.SetSignatureMethod(dsig.RSASHA256SignatureMethod); err != nil {
		return nil, err
	}
	return ctx, nil
}

type postPage struct {
	pageBase
	URL, SAMLResponse, RelayState string
}

func (p *Provider) renderPost(w http.ResponseWriter, acs, response, relayState string) {
	p.render(w, http.StatusOK, "post", postPage{
		pageBase: pageBase{Title: "SAML", Base: p.issuer},
		URL:      acs, SAMLResponse: response, RelayState: relayState,
	})
}

// samlID returns an XML ID: it must not start with a digit.
func samlID() string {
	b := make([]byte, 20)
	rand.Read(b)
	return "_" + hex.EncodeToString(b)
}
