package saml

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/beevik/etree"
	crewsaml "github.com/crewjam/saml"
	"github.com/crewjam/saml/xmlenc"

	"github.com/civicgate/civicgate/auth"
)

const (
	nsProtocol = "urn:oasis:names:tc:SAML:2.0:protocol"
	nsXMLEnc   = "http://www.w3.org/2001/04/xmlenc#"

	statusSuccess        = "urn:oasis:names:tc:SAML:2.0:status:Success"
	statusAuthnFailed    = "urn:oasis:names:tc:SAML:2.0:status:AuthnFailed"
	statusNoAuthnContext = "urn:oasis:names:tc:SAML:2.0:status:NoAuthnContext"
	statusCancel         = "http://id.elegnamnden.se/status/1.0/cancel"
	statusFraud          = "http://id.elegnamnden.se/status/1.0/fraud"
	statusPossibleFraud  = "http://id.elegnamnden.se/status/1.0/possibleFraud"

	cmBearer = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
)

// Finish validates the IdP's Response POSTed to the ACS against the
// browser's pending login and returns the identity it proves. Every failure
// is an *auth.LoginError whose reason names the failed check but never
// quotes the response; no Identity is returned with an error.
//
// The order matters: size, depth and DTD limits come before any parser,
// the status before the signature (IdPs' error answers are not always
// signed, and they can only make the login fail), the library's
// validation before our own stricter checks, and the replay cache last, so
// that an invalid response does not burn a valid assertion's ID.
func (p *Provider) Finish(ctx context.Context, r *http.Request, pending auth.Pending) (id auth.Identity, err error) {
	defer func() {
		if v := recover(); v != nil {
			id, err = auth.Identity{}, auth.Fail(auth.ErrInvalid, "saml: %s: response validation failed unexpectedly", p.name)
		}
	}()
	id, err = p.finish(ctx, r, pending)
	if err != nil {
		var le *auth.LoginError
		if !errors.As(err, &le) {
			err = auth.Fail(auth.ErrInvalid, "saml: %s: %v", p.name, err)
		}
		return auth.Identity{}, err
	}
	return id, nil
}

func (p *Provider) fail(code auth.ErrorCode, reason string) error {
	return auth.Fail(code, "saml: %s: %s", p.name, reason)
}

func (p *Provider) finish(ctx context.Context, r *http.Request, pending auth.Pending) (auth.Identity, error) {
	if pending.IdP != p.name || pending.RequestID == "" || pending.ID == "" {
		return auth.Identity{}, p.fail(auth.ErrState, "pending login belongs to another provider or is incomplete")
	}
	st := p.state.Load()
	if st == nil {
		return auth.Identity{}, p.fail(auth.ErrUnavailable, "idp metadata not loaded")
	}
	if r.Method != http.MethodPost {
		return auth.Identity{}, p.fail(auth.ErrInvalid, "the ACS only accepts HTTP-POST")
	}
	form, err := readForm(r)
	if err != nil {
		return auth.Identity{}, p.fail(auth.ErrInvalid, err.Error())
	}
	if len(form["SAMLResponse"]) != 1 || len(form["RelayState"]) > 1 {
		return auth.Identity{}, p.fail(auth.ErrInvalid, "expected exactly one SAMLResponse")
	}
	if form.Get("RelayState") != relayState(pending.ID) {
		return auth.Identity{}, p.fail(auth.ErrState, "RelayState does not belong to this login")
	}
	raw, err := decodeBase64(form.Get("SAMLResponse"))
	if err != nil {
		return auth.Identity{}, p.fail(auth.ErrInvalid, "SAMLResponse is not base64")
	}
	if err := scanXML(raw, maxResponseDepth); err != nil {
		return auth.Identity{}, p.fail(auth.ErrInvalid, err.Error())
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(raw); err != nil || doc.Root() == nil {
		return auth.Identity{}, p.fail(auth.ErrInvalid, "response is not well-formed XML")
	}
	root := doc.Root()
	if root.Tag != "Response" || root.NamespaceURI() != nsProtocol {
		return auth.Identity{}, p.fail(auth.ErrInvalid, "root element is not samlp:Response")
	}
	if err := p.checkStatus(root, st, pending); err != nil {
		return auth.Identity{}, err
	}

	// Exactly one assertion in the whole document: the library accepts the
	// first valid one of several and looks only at direct children, which
	// is the room signature-wrapping attacks need.
	plain := findAllNS(root, nsSAML, "Assertion")
	enc := findAllNS(root, nsSAML, "EncryptedAssertion")
	if len(plain)+len(enc) != 1 {
		return auth.Identity{}, p.fail(auth.ErrInvalid, "response must hold exactly one assertion")
	}
	var assertionEl *etree.Element
	parser := st.parsers[0]
	if len(enc) == 1 {
		if enc[0].Parent() != root {
			return auth.Identity{}, p.fail(auth.ErrInvalid, "encrypted assertion is not a child of the response")
		}
		el, idx, err := p.decryptAssertion(enc[0])
		if err != nil {
			return auth.Identity{}, p.fail(auth.ErrInvalid, err.Error())
		}
		assertionEl, parser = el, st.parsers[idx]
	} else {
		if plain[0].Parent() != root {
			return auth.Identity{}, p.fail(auth.ErrInvalid, "assertion is not a child of the response")
		}
		assertionEl = plain[0]
	}
	if err := checkSignatureAlgorithms(root); err != nil {
		return auth.Identity{}, p.fail(auth.ErrInvalid, err.Error())
	}
	if err := checkSignatureAlgorithms(assertionEl); err != nil {
		return auth.Identity{}, p.fail(auth.ErrInvalid, err.Error())
	}
	if childNS(root, nsDSig, "Signature") == nil && childNS(assertionEl, nsDSig, "Signature") == nil {
		return auth.Identity{}, p.fail(auth.ErrInvalid, "neither the response nor the assertion is signed")
	}
	if childNS(assertionEl, nsSAML, "Subject") == nil || childNS(assertionEl, nsSAML, "Conditions") == nil {
		return auth.Identity{}, p.fail(auth.ErrInvalid, "assertion lacks Subject or Conditions")
	}

	// The library verifies the signatures against the IdP's metadata
	// certificates, decrypts, and checks Destination, InResponseTo,
	// Recipient, Issuer and the times against the system clock with its
	// own (looser) skew. Unsolicited responses are refused because
	// AllowIDPInitiated stays false and only this login's request ID is
	// possible.
	a, err := parser.ParseXMLResponse(raw, []string{pending.RequestID}, *p.acsURL)
	if err != nil {
		return auth.Identity{}, p.fail(auth.ErrInvalid, libraryReason(err))
	}
	now := p.now()
	if err := p.checkResponse(root, st, now); err != nil {
		return auth.Identity{}, err
	}
	notOnOrAfter, err := p.checkAssertion(a, assertionEl, st, pending, now)
	if err != nil {
		return auth.Identity{}, err
	}
	id, err := p.identity(a)
	if err != nil {
		return auth.Identity{}, err
	}
	first, err := p.opts.Replay.FirstUse(ctx, "saml:"+a.ID, notOnOrAfter)
	if err != nil {
		return auth.Identity{}, p.fail(auth.ErrUnavailable, "replay cache unavailable")
	}
	if !first {
		return auth.Identity{}, p.fail(auth.ErrReplay, "assertion ID already used")
	}
	return id, nil
}

// readForm reads the url-encoded POST body, at most maxBodyBytes. A form
// the gateway has already parsed is used as is.
func readForm(r *http.Request) (url.Values, error) {
	if r.PostForm != nil {
		n := 0
		for k, vs := range r.PostForm {
			n += len(k)
			for _, v := range vs {
				n += len(v)
			}
		}
		if n > maxBodyBytes {
			return nil, errors.New("request body too large")
		}
		return r.PostForm, nil
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, errors.New("request is not a url-encoded form")
	}
	if r.Body == nil {
		return nil, errors.New("empty request body")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		return nil, errors.New("cannot read request body")
	}
	if len(body) > maxBodyBytes {
		return nil, errors.New("request body too large")
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, errors.New("request body is not a valid form")
	}
	return form, nil
}

// decodeBase64 accepts the standard alphabet with the line breaks some IdPs
// insert.
func decodeBase64(s string) ([]byte, error) {
	s = strings.Map(func(r rune) rune {
		switch r {
		case '\r', '\n', '\t', ' ':
			return -1
		}
		return r
	}, s)
	if s == "" {
		return nil, errors.New("empty")
	}
	return base64.StdEncoding.DecodeString(s)
}

// checkStatus turns a non-success status into the matching login error.
// The status is read before signature validation because an error answer
// can only make the login fail; it must still answer our request.
func (p *Provider) checkStatus(root *etree.Element, st *idpState, pending auth.Pending) error {
	status := childNS(root, nsProtocol, "Status")
	if status == nil {
		return p.fail(auth.ErrInvalid, "response has no Status")
	}
	code := childNS(status, nsProtocol, "StatusCode")
	if code == nil {
		return p.fail(auth.ErrInvalid, "response has no StatusCode")
	}
	top := code.SelectAttrValue("Value", "")
	if top == statusSuccess {
		return nil
	}
	sub := ""
	if s := childNS(code, nsProtocol, "StatusCode"); s != nil {
		sub = s.SelectAttrValue("Value", "")
	}
	if root.SelectAttrValue("InResponseTo", "") != pending.RequestID {
		return p.fail(auth.ErrInvalid, "error response does not answer this login's request")
	}
	if iss := childNS(root, nsSAML, "Issuer"); iss != nil && strings.TrimSpace(iss.Text()) != st.entity.EntityID {
		return p.fail(auth.ErrInvalid, "error response from another issuer")
	}
	switch {
	case sub == statusCancel:
		return p.fail(auth.ErrCancel, "the person cancelled at the IdP")
	case sub == statusFraud:
		return p.fail(auth.ErrFraud, "the IdP reported fraud")
	case sub == statusPossibleFraud:
		return p.fail(auth.ErrPossibleFraud, "the IdP reported possible fraud")
	case sub == statusNoAuthnContext:
		return p.fail(auth.ErrLoATooLow, "the IdP cannot give any requested authentication context")
	case top == statusAuthnFailed || sub == statusAuthnFailed:
		return p.fail(auth.ErrAuthnFailed, "the IdP reports that authentication failed")
	}
	return p.fail(auth.ErrAuthnFailed, "the IdP answered status "+safeStatus(top)+" / "+safeStatus(sub))
}

// safeStatus passes on only status codes of the known namespaces, so an
// error message never carries arbitrary text from the response.
func safeStatus(s string) string {
	if len(s) > 100 {
		return "(other)"
	}
	for _, pfx := range []string{"urn:oasis:names:tc:SAML:2.0:status:", "http://id.elegnamnden.se/status/1.0/"} {
		if rest, ok := strings.CutPrefix(s, pfx); ok {
			for _, c := range rest {
				if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
					return "(other)"
				}
			}
			return s
		}
	}
	if s == "" {
		return "(none)"
	}
	return "(other)"
}

// libraryReason keeps the crewjam error's fixed leading phrase only: its
// messages can quote values from the response, and the full error value
// carries the response XML itself.
func libraryReason(err error) string {
	var ire *crewsaml.InvalidResponseError
	msg := ""
	if errors.As(err, &ire) && ire.PrivateErr != nil {
		msg = ire.PrivateErr.Error()
	}
	for _, pfx := range []string{
		"cannot validate signature",
		"signature element not present",
		"`Destination` does not match",
		"`InResponseTo` does not match",
		"response IssueInstant expired",
		"response Issuer does not match",
		"expired on",
		"issuer is not",
		"assertion SubjectConfirmation",
		"assertion Conditions is not yet valid",
		"assertion Conditions is expired",
		"assertion Conditions AudienceRestriction",
		"failed to decrypt",
		"expected at least one valid Assertion",
		"cannot unmarshal response",
		"invalid xml",
	} {
		if strings.HasPrefix(msg, pfx) {
			return "refused by SAML validation: " + strings.ReplaceAll(pfx, "`", "")
		}
	}
	return "refused by SAML validation"
}

// decryptAssertion decrypts with the current encryption key, then the
// previous one (rollover), and reports which one worked. It mirrors the
// library's own decryption so the response is then validated with the
// parser holding that key.
func (p *Provider) decryptAssertion(encEl *etree.Element) (*etree.Element, int, error) {
	for _, em := range encEl.FindElements(".//EncryptionMethod") {
		if !allowedEncryptionMethods[em.SelectAttrValue("Algorithm", "")] {
			return nil, 0, errors.New("encryption algorithm refused")
		}
	}
	keys := []*rsa.PrivateKey{p.encKey}
	if p.prevEncKey != nil {
		keys = append(keys, p.prevEncKey)
	}
	for i, k := range keys {
		plain, err := decryptWith(encEl.Copy(), k)
		if err != nil {
			continue
		}
		if err := scanXML(plain, maxResponseDepth); err != nil {
			return nil, 0, errors.New("decrypted assertion: " + err.Error())
		}
		doc := etree.NewDocument()
		if err := doc.ReadFromBytes(plain); err != nil || doc.Root() == nil {
			return nil, 0, errors.New("decrypted assertion is not well-formed XML")
		}
		el := doc.Root()
		if el.Tag != "Assertion" || el.NamespaceURI() != nsSAML {
			return nil, 0, errors.New("encrypted element is not an assertion")
		}
		if len(findAllNS(el, nsSAML, "Assertion")) != 1 || len(findAllNS(el, nsSAML, "EncryptedAssertion")) != 0 {
			return nil, 0, errors.New("response must hold exactly one assertion")
		}
		return el, i, nil
	}
	return nil, 0, errors.New("cannot decrypt the assertion with the current or previous encryption key")
}

func decryptWith(encEl *etree.Element, key *rsa.PrivateKey) ([]byte, error) {
	data := childNS(encEl, nsXMLEnc, "EncryptedData")
	if data == nil {
		return nil, errors.New("no EncryptedData")
	}
	var k any = key
	if keyEl := encEl.FindElement("./EncryptedKey"); keyEl != nil {
		var err error
		if k, err = xmlenc.Decrypt(key, keyEl); err != nil {
			return nil, err
		}
	}
	return xmlenc.Decrypt(k, data)
}

// checkResponse makes the Response-level checks the library leaves out or
// makes with the system clock.
func (p *Provider) checkResponse(root *etree.Element, st *idpState, now time.Time) error {
	iss := childNS(root, nsSAML, "Issuer")
	if iss == nil || strings.TrimSpace(iss.Text()) != st.entity.EntityID {
		return p.fail(auth.ErrInvalid, "response Issuer is not the IdP")
	}
	if d := root.SelectAttrValue("Destination", ""); d != p.acsURL.String() {
		return p.fail(auth.ErrInvalid, "response Destination is not our ACS URL")
	}
	ii, err := time.Parse(time.RFC3339Nano, root.SelectAttrValue("IssueInstant", ""))
	if err != nil {
		return p.fail(auth.ErrInvalid, "response IssueInstant missing or malformed")
	}
	return p.checkIssueInstant("response", ii, now)
}

func (p *Provider) checkIssueInstant(what string, ii, now time.Time) error {
	if ii.IsZero() {
		return p.fail(auth.ErrInvalid, what+" IssueInstant missing")
	}
	if ii.After(now.Add(p.cfg.ClockSkew)) {
		return p.fail(auth.ErrInvalid, what+" IssueInstant is in the future")
	}
	if now.Sub(ii) > p.cfg.MaxIssueAge+p.cfg.ClockSkew {
		return p.fail(auth.ErrInvalid, what+" IssueInstant is too old")
	}
	return nil
}

// checkAssertion makes the assertion checks of the Swedish deployment
// profile on the assertion the library verified, with our clock and skew.
// It returns until when the assertion ID must be remembered.
func (p *Provider) checkAssertion(a *crewsaml.Assertion, el *etree.Element, st *idpState, pending auth.Pending, now time.Time) (time.Time, error) {
	skew := p.cfg.ClockSkew
	if a.ID == "" {
		return time.Time{}, p.fail(auth.ErrInvalid, "assertion has no ID")
	}
	if a.Issuer.Value != st.entity.EntityID {
		return time.Time{}, p.fail(auth.ErrInvalid, "assertion Issuer is not the IdP")
	}
	if err := p.checkIssueInstant("assertion", a.IssueInstant, now); err != nil {
		return time.Time{}, err
	}
	if a.Subject == nil || a.Subject.NameID == nil || strings.TrimSpace(a.Subject.NameID.Value) == "" {
		return time.Time{}, p.fail(auth.ErrInvalid, "assertion has no NameID")
	}

	// A bearer confirmation that answers this very request at our ACS.
	var scNotOnOrAfter time.Time
	found := false
	for _, sc := range a.Subject.SubjectConfirmations {
		d := sc.SubjectConfirmationData
		if sc.Method != cmBearer || d == nil {
			continue
		}
		if d.Recipient != p.acsURL.String() || d.InResponseTo != pending.RequestID || d.NotOnOrAfter.IsZero() {
			continue
		}
		if !now.Before(d.NotOnOrAfter.Add(skew)) {
			continue
		}
		if !d.NotBefore.IsZero() && now.Before(d.NotBefore.Add(-skew)) {
			continue
		}
		found = true
		if d.NotOnOrAfter.After(scNotOnOrAfter) {
			scNotOnOrAfter = d.NotOnOrAfter
		}
	}
	if !found {
		return time.Time{}, p.fail(auth.ErrInvalid, "no valid bearer SubjectConfirmation for our ACS and request (recipient, InResponseTo or NotOnOrAfter)")
	}

	c := a.Conditions
	if c == nil {
		return time.Time{}, p.fail(auth.ErrInvalid, "assertion has no Conditions")
	}
	if !c.NotBefore.IsZero() && now.Before(c.NotBefore.Add(-skew)) {
		return time.Time{}, p.fail(auth.ErrInvalid, "assertion Conditions NotBefore is in the future")
	}
	if c.NotOnOrAfter.IsZero() {
		return time.Time{}, p.fail(auth.ErrInvalid, "assertion Conditions has no NotOnOrAfter")
	}
	if !now.Before(c.NotOnOrAfter.Add(skew)) {
		return time.Time{}, p.fail(auth.ErrInvalid, "assertion Conditions NotOnOrAfter has passed")
	}
	if err := p.checkAudience(el); err != nil {
		return time.Time{}, err
	}

	if len(a.AuthnStatements) != 1 {
		return time.Time{}, p.fail(auth.ErrInvalid, "assertion must hold exactly one AuthnStatement")
	}
	if len(a.AttributeStatements) != 1 {
		return time.Time{}, p.fail(auth.ErrInvalid, "assertion must hold exactly one AttributeStatement")
	}
	as := a.AuthnStatements[0]
	if as.AuthnContext.AuthnContextClassRef == nil {
		return time.Time{}, p.fail(auth.ErrLoATooLow, "assertion names no AuthnContextClassRef")
	}
	uri := strings.TrimSpace(as.AuthnContext.AuthnContextClassRef.Value)
	loa, known := auth.LoAFromURI(uri)
	if !known || !contains(pending.AcceptedURIs, uri) || loa < pending.WantLoA {
		return time.Time{}, p.fail(auth.ErrLoATooLow, "authentication context is not one that was requested")
	}
	if as.AuthnInstant.IsZero() || as.AuthnInstant.After(now.Add(skew)) {
		return time.Time{}, p.fail(auth.ErrInvalid, "AuthnInstant missing or in the future")
	}
	if pending.ForceAuthn && as.AuthnInstant.Before(pending.Created.Add(-skew)) {
		return time.Time{}, p.fail(auth.ErrInvalid, "AuthnInstant precedes the request although ForceAuthn was set")
	}
	if as.SessionNotOnOrAfter != nil && !as.SessionNotOnOrAfter.IsZero() && !now.Before(*as.SessionNotOnOrAfter) {
		return time.Time{}, p.fail(auth.ErrInvalid, "SessionNotOnOrAfter has passed")
	}

	until := c.NotOnOrAfter
	if scNotOnOrAfter.After(until) {
		until = scNotOnOrAfter
	}
	return until.Add(skew), nil
}

// checkAudience requires at least one AudienceRestriction and that every
// one of them names our entityID (each restriction must be satisfied). The
// library passes an assertion without any.
func (p *Provider) checkAudience(el *etree.Element) error {
	cond := childNS(el, nsSAML, "Conditions")
	if cond == nil {
		return p.fail(auth.ErrInvalid, "assertion has no Conditions")
	}
	ars := childrenNS(cond, nsSAML, "AudienceRestriction")
	if len(ars) == 0 {
		return p.fail(auth.ErrInvalid, "assertion has no AudienceRestriction")
	}
	for _, ar := range ars {
		ok := false
		for _, aud := range childrenNS(ar, nsSAML, "Audience") {
			if strings.TrimSpace(aud.Text()) == p.cfg.EntityID {
				ok = true
			}
		}
		if !ok {
			return p.fail(auth.ErrInvalid, "AudienceRestriction does not name our entityID")
		}
	}
	return nil
}

func childNS(el *etree.Element, ns, tag string) *etree.Element {
	for _, c := range el.ChildElements() {
		if c.Tag == tag && c.NamespaceURI() == ns {
			return c
		}
	}
	return nil
}

func childrenNS(el *etree.Element, ns, tag string) []*etree.Element {
	var out []*etree.Element
	for _, c := range el.ChildElements() {
		if c.Tag == tag && c.NamespaceURI() == ns {
			out = append(out, c)
		}
	}
	return out
}

// findAllNS returns every element named ns:tag at or below el.
func findAllNS(el *etree.Element, ns, tag string) []*etree.Element {
	var out []*etree.Element
	var walk func(e *etree.Element)
	walk = func(e *etree.Element) {
		if e.Tag == tag && e.NamespaceURI() == ns {
			out = append(out, e)
		}
		for _, c := range e.ChildElements() {
			walk(c)
		}
	}
	walk(el)
	return out
}
