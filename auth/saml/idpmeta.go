package saml

import (
	"context"
	"crypto/x509"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/beevik/etree"
	crewsaml "github.com/crewjam/saml"
	dsig "github.com/russellhaering/goxmldsig"
)

const (
	nsMetadata = "urn:oasis:names:tc:SAML:2.0:metadata"
	nsDSig     = "http://www.w3.org/2000/09/xmldsig#"
)

// Signature and digest algorithms accepted on anything the IdP or the
// federation signs. SHA-1 is refused (Swedish eID framework: SHA-256 or
// better).
var (
	allowedSignatureMethods = map[string]bool{
		dsig.RSASHA256SignatureMethod:   true,
		dsig.RSASHA384SignatureMethod:   true,
		dsig.RSASHA512SignatureMethod:   true,
		dsig.ECDSASHA256SignatureMethod: true,
		dsig.ECDSASHA384SignatureMethod: true,
		dsig.ECDSASHA512SignatureMethod: true,
	}
	allowedDigestMethods = map[string]bool{
		"http://www.w3.org/2001/04/xmlenc#sha256":       true,
		"http://www.w3.org/2001/04/xmldsig-more#sha384": true,
		"http://www.w3.org/2001/04/xmlenc#sha512":       true,
	}
)

// checkSignatureAlgorithms refuses el if any XML signature inside it (el
// itself included) names a signature or digest algorithm outside the
// allowed sets. Encryption elements are not looked at: RSA-OAEP legitimately
// names SHA-1 as its mask digest.
func checkSignatureAlgorithms(el *etree.Element) error {
	var walk func(e *etree.Element) error
	walk = func(e *etree.Element) error {
		if e.Tag == "Signature" && e.NamespaceURI() == nsDSig {
			n := 0
			for _, sm := range e.FindElements(".//SignatureMethod") {
				n++
				if !allowedSignatureMethods[sm.SelectAttrValue("Algorithm", "")] {
					return errors.New("signature algorithm refused (SHA-256 or better required)")
				}
			}
			if n == 0 {
				return errors.New("signature without SignatureMethod")
			}
			for _, dm := range e.FindElements(".//DigestMethod") {
				if !allowedDigestMethods[dm.SelectAttrValue("Algorithm", "")] {
					return errors.New("digest algorithm refused (SHA-256 or better required)")
				}
			}
			return nil
		}
		for _, c := range e.ChildElements() {
			if err := walk(c); err != nil {
				return err
			}
		}
		return nil
	}
	return walk(el)
}

// parseIdPMetadata reads IdP metadata (an EntityDescriptor or an
// EntitiesDescriptor aggregate), verifies its signature against certs when
// any are given (and refuses unsigned metadata when requireSig is set), and
// returns the IdP entity entityID names. An empty entityID is allowed only
// for a single EntityDescriptor.
func parseIdPMetadata(b []byte, certs []*x509.Certificate, requireSig bool, entityID string, now time.Time) (*crewsaml.EntityDescriptor, error) {
	if err := scanXML(b, maxMetadataDepth); err != nil {
		return nil, fmt.Errorf("idp metadata: %w", err)
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(b); err != nil || doc.Root() == nil {
		return nil, errors.New("idp metadata: not well-formed XML")
	}
	root := doc.Root()
	if root.NamespaceURI() != nsMetadata || (root.Tag != "EntitiesDescriptor" && root.Tag != "EntityDescriptor") {
		return nil, errors.New("idp metadata: root is not an EntitiesDescriptor or EntityDescriptor")
	}
	if len(certs) > 0 {
		// Parsing continues on the element the signature covers (as
		// returned by the validator), never on the original tree, so that
		// nothing outside the signed content can be smuggled in.
		signed, err := verifyMetadataSignature(root, certs, now)
		if err != nil {
			return nil, err
		}
		root = signed
	} else if requireSig {
		return nil, errors.New("idp metadata: signature required but no certificates configured")
	}
	out := etree.NewDocument()
	out.SetRoot(root.Copy())
	signedBytes, err := out.WriteToBytes()
	if err != nil {
		return nil, fmt.Errorf("idp metadata: %w", err)
	}

	var ed *crewsaml.EntityDescriptor
	if root.Tag == "EntitiesDescriptor" {
		var agg crewsaml.EntitiesDescriptor
		if err := xml.Unmarshal(signedBytes, &agg); err != nil {
			return nil, errors.New("idp metadata: cannot decode EntitiesDescriptor")
		}
		if agg.ValidUntil != nil && !agg.ValidUntil.IsZero() && !now.Before(*agg.ValidUntil) {
			return nil, errors.New("idp metadata: aggregate validUntil has passed")
		}
		if entityID == "" {
			return nil, errors.New("idp metadata: idp_entity_id is required to pick an entity from an aggregate")
		}
		ed = findEntity(&agg, entityID)
		if ed == nil {
			return nil, fmt.Errorf("idp metadata: entity %q not found in the aggregate", entityID)
		}
	} else {
		var one crewsaml.EntityDescriptor
		if err := xml.Unmarshal(signedBytes, &one); err != nil {
			return nil, errors.New("idp metadata: cannot decode EntityDescriptor")
		}
		if entityID != "" && one.EntityID != entityID {
			return nil, fmt.Errorf("idp metadata: entityID is not %q", entityID)
		}
		ed = &one
	}
	if !ed.ValidUntil.IsZero() && !now.Before(ed.ValidUntil) {
		return nil, errors.New("idp metadata: entity validUntil has passed")
	}
	if ed.EntityID == "" || len(ed.IDPSSODescriptors) == 0 {
		return nil, errors.New("idp metadata: entity has no IDPSSODescriptor")
	}
	if !hasSigningCert(ed) {
		return nil, errors.New("idp metadata: IdP publishes no signing certificate")
	}
	return ed, nil
}

func verifyMetadataSignature(root *etree.Element, certs []*x509.Certificate, now time.Time) (*etree.Element, error) {
	if root.SelectElement("Signature") == nil {
		return nil, errors.New("idp metadata: not signed")
	}
	if err := checkSignatureAlgorithms(root.SelectElement("Signature")); err != nil {
		return nil, fmt.Errorf("idp metadata: %w", err)
	}
	vc := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: certs})
	vc.IdAttribute = "ID"
	vc.Clock = dsig.NewFakeClockAt(now)
	signed, err := vc.Validate(root)
	if err != nil {
		return nil, fmt.Errorf("idp metadata: signature does not verify with the configured certificates: %v", err)
	}
	return signed, nil
}

func findEntity(agg *crewsaml.EntitiesDescriptor, entityID string) *crewsaml.EntityDescriptor {
	for i := range agg.EntityDescriptors {
		if agg.EntityDescriptors[i].EntityID == entityID {
			return &agg.EntityDescriptors[i]
		}
	}
	for i := range agg.EntitiesDescriptors {
		if ed := findEntity(&agg.EntitiesDescriptors[i], entityID); ed != nil {
			return ed
		}
	}
	return nil
}

func hasSigningCert(ed *crewsaml.EntityDescriptor) bool {
	for _, d := range ed.IDPSSODescriptors {
		for _, kd := range d.KeyDescriptors {
			if (kd.Use == "" || kd.Use == "signing") && len(kd.KeyInfo.X509Data.X509Certificates) > 0 {
				return true
			}
		}
	}
	return false
}

// fetchMetadata downloads the IdP metadata, at most maxMetadataBytes.
func fetchMetadata(ctx context.Context, client *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/samlmetadata+xml, application/xml;q=0.9, */*;q=0.1")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("idp metadata: fetch: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("idp metadata: fetch: HTTP status %d", resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxMetadataBytes+1))
	if err != nil {
		return nil, fmt.Errorf("idp metadata: fetch: %w", err)
	}
	if len(b) > maxMetadataBytes {
		return nil, fmt.Errorf("idp metadata: larger than %d bytes", maxMetadataBytes)
	}
	return b, nil
}
