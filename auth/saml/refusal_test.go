package saml

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	crewsaml "github.com/crewjam/saml"
	"github.com/crewjam/saml/xmlenc"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/civicgate/civicgate/auth"
)

func status(top, sub string) *crewsaml.Status {
	s := &crewsaml.Status{StatusCode: crewsaml.StatusCode{Value: top}}
	if sub != "" {
		s.StatusCode.StatusCode = &crewsaml.StatusCode{Value: sub}
	}
	return s
}

const (
	statusResponder = "urn:oasis:names:tc:SAML:2.0:status:Responder"
	statusRequester = "urn:oasis:names:tc:SAML:2.0:status:Requester"
)

// TestForgedResponses proves each check of Finish on responses built and
// signed in the test, most of them with the IdP's real key so that only the
// one property under test is wrong. The accepted cases show that the forge
// itself produces valid responses, so each refusal is due to its change.
func TestForgedResponses(t *testing.T) {
	type tc struct {
		name     string
		opts     func(h *harness, p auth.Pending) forgeOpts
		form     func(h *harness, p auth.Pending) url.Values // instead of opts
		edit     func(form url.Values)
		pending  func(p *auth.Pending)
		request  func(form url.Values) *http.Request
		shift    time.Duration  // moves the provider's clock (not the library's)
		code     auth.ErrorCode // "" = accepted
		contains string
	}
	signedBy := func(kp keyPair) *keyPair { return &kp }
	mutate := func(f func(a *crewsaml.Assertion)) func(*harness, auth.Pending) forgeOpts {
		return func(*harness, auth.Pending) forgeOpts { return forgeOpts{mutate: f} }
	}
	cases := []tc{
		// Accepted variants.
		{name: "valid: signed response and assertion, encrypted", opts: func(*harness, auth.Pending) forgeOpts { return forgeOpts{} }},
		{name: "valid: only the response signed", opts: func(*harness, auth.Pending) forgeOpts { return forgeOpts{unsignedAssert: true} }},
		{name: "valid: only the assertion signed", opts: func(*harness, auth.Pending) forgeOpts { return forgeOpts{unsignedResp: true} }},
		{name: "valid: plaintext assertion", opts: func(*harness, auth.Pending) forgeOpts { return forgeOpts{plaintext: true} }},
		{name: "valid: AES-GCM", opts: func(*harness, auth.Pending) forgeOpts { return forgeOpts{gcm: true} }},
		{name: "valid: old AuthnInstant without ForceAuthn", opts: mutate(func(a *crewsaml.Assertion) {
			a.AuthnStatements[0].AuthnInstant = a.IssueInstant.Add(-10 * time.Minute)
		}), pending: func(p *auth.Pending) { p.ForceAuthn = false }},

		// Signatures.
		{name: "unsigned response and assertion", opts: func(*harness, auth.Pending) forgeOpts {
			return forgeOpts{unsignedAssert: true, unsignedResp: true}
		}, code: auth.ErrInvalid, contains: "signed"},
		{name: "signed by an unknown key", opts: func(h *harness, _ auth.Pending) forgeOpts {
			return forgeOpts{signer: signedBy(newKeyPair(h.t, h.dir, "attacker"))}
		}, code: auth.ErrInvalid, contains: "signature"},
		{name: "response re-signed by an unknown key", opts: func(h *harness, _ auth.Pending) forgeOpts {
			return forgeOpts{unsignedAssert: true, signer: signedBy(newKeyPair(h.t, h.dir, "attacker"))}
		}, code: auth.ErrInvalid, contains: "signature"},
		{name: "SHA-1 signature", opts: func(*harness, auth.Pending) forgeOpts {
			return forgeOpts{sigMethod: dsig.RSASHA1SignatureMethod}
		}, code: auth.ErrInvalid, contains: "algorithm"},
		{name: "tampered after signing", opts: func(*harness, auth.Pending) forgeOpts {
			return forgeOpts{plaintext: true, unsignedResp: true, extra: func(t testing.TB, root, a *etree.Element) {
				for _, v := range a.FindElements(".//AttributeValue") {
					if v.Text() == testPNR {
						v.SetText(testPNR2)
					}
				}
			}}
		}, code: auth.ErrInvalid, contains: "signature"},

		// Structure and signature wrapping.
		{name: "two assertions in a signed response", opts: func(h *harness, p auth.Pending) forgeOpts {
			second := h.signAssertion(h.assertion(p), h.idpKey, dsig.RSASHA256SignatureMethod)
			return forgeOpts{plaintext: true, beforeSign: func(root *etree.Element) { root.AddChild(second) }}
		}, code: auth.ErrInvalid, contains: "exactly one assertion"},
		{name: "assertion and encrypted assertion", opts: func(h *harness, p auth.Pending) forgeOpts {
			second := h.signAssertion(h.assertion(p), h.idpKey, dsig.RSASHA256SignatureMethod)
			return forgeOpts{beforeSign: func(root *etree.Element) { root.AddChild(second) }}
		}, code: auth.ErrInvalid, contains: "exactly one assertion"},
		{name: "XSW: evil assertion, signed one moved into it", opts: func(*harness, auth.Pending) forgeOpts {
			return forgeOpts{plaintext: true, unsignedResp: true, extra: func(t testing.TB, root, signed *etree.Element) {
				evil := signed.Copy()
				evil.RemoveChild(evil.SelectElement("Signature"))
				evil.CreateAttr("ID", "_evil")
				for _, v := range evil.FindElements(".//AttributeValue") {
					if v.Text() == testPNR {
						v.SetText(testPNR2)
					}
				}
				root.RemoveChild(signed)
				evil.SelectElement("Subject").AddChild(signed)
				root.AddChild(evil)
			}}
		}, code: auth.ErrInvalid},
		{name: "XSW: evil assertion with the signed one's ID, original in Extensions", opts: func(*harness, auth.Pending) forgeOpts {
			return forgeOpts{plaintext: true, unsignedResp: true, extra: func(t testing.TB, root, signed *etree.Element) {
				evil := signed.Copy()
				for _, v := range evil.FindElements(".//AttributeValue") {
					if v.Text() == testPNR {
						v.SetText(testPNR2)
					}
				}
				root.RemoveChild(signed)
				ext := etree.NewElement("samlp:Extensions")
				ext.AddChild(signed)
				root.InsertChildAt(1, ext)
				root.AddChild(evil)
			}}
		}, code: auth.ErrInvalid},
		{name: "XSW: evil assertion prepended to a signed response", opts: func(h *harness, p auth.Pending) forgeOpts {
			return forgeOpts{plaintext: true, extra: func(t testing.TB, root, signed *etree.Element) {
				evil := signed.Copy()
				evil.CreateAttr("ID", "_evil")
				root.InsertChildAt(signed.Index(), evil)
			}}
		}, code: auth.ErrInvalid},

		// Request binding.
		{name: "unknown InResponseTo", opts: func(*harness, auth.Pending) forgeOpts {
			return forgeOpts{
				mutateResp: func(r *crewsaml.Response) { r.InResponseTo = "_someone-elses-request" },
				mutate: func(a *crewsaml.Assertion) {
					a.Subject.SubjectConfirmations[0].SubjectConfirmationData.InResponseTo = "_someone-elses-request"
				}}
		}, code: auth.ErrInvalid, contains: "InResponseTo"},
		{name: "unsolicited response", opts: func(*harness, auth.Pending) forgeOpts {
			return forgeOpts{
				mutateResp: func(r *crewsaml.Response) { r.InResponseTo = "" },
				mutate: func(a *crewsaml.Assertion) {
					a.Subject.SubjectConfirmations[0].SubjectConfirmationData.InResponseTo = ""
				}}
		}, code: auth.ErrInvalid, contains: "InResponseTo"},
		{name: "wrong assertion issuer", opts: mutate(func(a *crewsaml.Assertion) { a.Issuer.Value = "https://other-idp.example.se" }), code: auth.ErrInvalid},
		{name: "response without issuer", opts: func(*harness, auth.Pending) forgeOpts {
			return forgeOpts{mutateResp: func(r *crewsaml.Response) { r.Issuer = nil }}
		}, code: auth.ErrInvalid, contains: "response Issuer"},
		{name: "wrong destination", opts: func(*harness, auth.Pending) forgeOpts {
			return forgeOpts{mutateResp: func(r *crewsaml.Response) { r.Destination = "https://evil.example/acs" }}
		}, code: auth.ErrInvalid, contains: "Destination"},
		{name: "wrong recipient", opts: mutate(func(a *crewsaml.Assertion) {
			a.Subject.SubjectConfirmations[0].SubjectConfirmationData.Recipient = "https://evil.example/acs"
		}), code: auth.ErrInvalid},
		{name: "no subject confirmation", opts: mutate(func(a *crewsaml.Assertion) { a.Subject.SubjectConfirmations = nil }),
			code: auth.ErrInvalid, contains: "bearer"},
		{name: "holder-of-key instead of bearer", opts: mutate(func(a *crewsaml.Assertion) {
			a.Subject.SubjectConfirmations[0].Method = "urn:oasis:names:tc:SAML:2.0:cm:holder-of-key"
		}), code: auth.ErrInvalid, contains: "bearer"},
		{name: "audience restriction not naming us", opts: mutate(func(a *crewsaml.Assertion) {
			a.Conditions.AudienceRestrictions = append(a.Conditions.AudienceRestrictions,
				crewsaml.AudienceRestriction{Audience: crewsaml.Audience{Value: "https://other-sp.example.se"}})
		}), code: auth.ErrInvalid, contains: "Audience"},
		{name: "no audience restriction", opts: mutate(func(a *crewsaml.Assertion) { a.Conditions.AudienceRestrictions = nil }),
			code: auth.ErrInvalid, contains: "AudienceRestriction"},

		// Time. The shifts beyond the library's own skew (180s) prove our
		// stricter checks.
		{name: "Conditions NotOnOrAfter passed", opts: mutate(func(a *crewsaml.Assertion) {
			a.Conditions.NotOnOrAfter = a.IssueInstant.Add(-90 * time.Second)
		}), code: auth.ErrInvalid, contains: "Conditions NotOnOrAfter"},
		{name: "Conditions NotBefore in the future", opts: mutate(func(a *crewsaml.Assertion) {
			a.Conditions.NotBefore = a.IssueInstant.Add(2 * time.Minute)
		}), code: auth.ErrInvalid, contains: "NotBefore"},
		{name: "SubjectConfirmation NotOnOrAfter passed", opts: mutate(func(a *crewsaml.Assertion) {
			a.Subject.SubjectConfirmations[0].SubjectConfirmationData.NotOnOrAfter = a.IssueInstant.Add(-90 * time.Second)
		}), code: auth.ErrInvalid, contains: "bearer"},
		{name: "assertion IssueInstant in the future", opts: mutate(func(a *crewsaml.Assertion) {
			a.IssueInstant = a.IssueInstant.Add(5 * time.Minute)
		}), code: auth.ErrInvalid, contains: "assertion IssueInstant is in the future"},
		{name: "response IssueInstant in the future", opts: func(h *harness, _ auth.Pending) forgeOpts {
			return forgeOpts{mutateResp: func(r *crewsaml.Response) { r.IssueInstant = h.now.Add(5 * time.Minute) }}
		}, code: auth.ErrInvalid, contains: "response IssueInstant is in the future"},
		{name: "assertion IssueInstant too old", shift: 7 * time.Minute, opts: func(h *harness, _ auth.Pending) forgeOpts {
			return forgeOpts{
				mutateResp: func(r *crewsaml.Response) { r.IssueInstant = h.now.Add(7 * time.Minute) },
				mutate: func(a *crewsaml.Assertion) {
					a.Conditions.NotOnOrAfter = h.now.Add(time.Hour)
					a.Subject.SubjectConfirmations[0].SubjectConfirmationData.NotOnOrAfter = h.now.Add(time.Hour)
				}}
		}, code: auth.ErrInvalid, contains: "assertion IssueInstant is too old"},
		{name: "response IssueInstant too old", shift: 7 * time.Minute, opts: func(h *harness, _ auth.Pending) forgeOpts {
			return forgeOpts{mutate: func(a *crewsaml.Assertion) {
				a.IssueInstant = h.now.Add(7 * time.Minute)
				a.Conditions.NotOnOrAfter = h.now.Add(time.Hour)
				a.Subject.SubjectConfirmations[0].SubjectConfirmationData.NotOnOrAfter = h.now.Add(time.Hour)
			}}
		}, code: auth.ErrInvalid, contains: "response IssueInstant is too old"},
		{name: "AuthnInstant before the request with ForceAuthn", opts: mutate(func(a *crewsaml.Assertion) {
			a.AuthnStatements[0].AuthnInstant = a.IssueInstant.Add(-10 * time.Minute)
		}), code: auth.ErrInvalid, contains: "ForceAuthn"},
		{name: "AuthnInstant in the future", opts: mutate(func(a *crewsaml.Assertion) {
			a.AuthnStatements[0].AuthnInstant = a.IssueInstant.Add(10 * time.Minute)
		}), code: auth.ErrInvalid, contains: "AuthnInstant"},
		{name: "SessionNotOnOrAfter passed", opts: mutate(func(a *crewsaml.Assertion) {
			past := a.IssueInstant.Add(-time.Minute)
			a.AuthnStatements[0].SessionNotOnOrAfter = &past
		}), code: auth.ErrInvalid, contains: "SessionNotOnOrAfter"},

		// Statements and attributes.
		{name: "two AuthnStatements", opts: mutate(func(a *crewsaml.Assertion) {
			a.AuthnStatements = append(a.AuthnStatements, a.AuthnStatements[0])
		}), code: auth.ErrInvalid, contains: "AuthnStatement"},
		{name: "no AttributeStatement", opts: mutate(func(a *crewsaml.Assertion) { a.AttributeStatements = nil }),
			code: auth.ErrInvalid, contains: "AttributeStatement"},
		{name: "lower LoA", opts: mutate(func(a *crewsaml.Assertion) {
			a.AuthnStatements[0].AuthnContext.AuthnContextClassRef.Value = auth.URILoA2
		}), code: auth.ErrLoATooLow},
		{name: "no AuthnContextClassRef", opts: mutate(func(a *crewsaml.Assertion) {
			a.AuthnStatements[0].AuthnContext.AuthnContextClassRef = nil
		}), code: auth.ErrLoATooLow},
		{name: "two personnummer values", opts: mutate(func(a *crewsaml.Assertion) {
			attrs := a.AttributeStatements[0].Attributes
			for i := range attrs {
				if attrs[i].Name == auth.AttrPersonalIdentityNumber {
					attrs[i].Values = append(attrs[i].Values, crewsaml.AttributeValue{Value: testPNR2})
				}
			}
		}), code: auth.ErrNoIdentity},
		{name: "invalid personnummer", opts: mutate(func(a *crewsaml.Assertion) {
			a.AttributeStatements[0].Attributes = personAttrs(testBadCheck)
		}), code: auth.ErrNoIdentity, contains: "personalIdentityNumber"},
		{name: "coordination number refused", opts: mutate(func(a *crewsaml.Assertion) {
			a.AttributeStatements[0].Attributes = personAttrs(testCoordNr)
		}), code: auth.ErrNoIdentity, contains: "coordination"},
		{name: "prid without eIDAS context", opts: mutate(func(a *crewsaml.Assertion) {
			a.AttributeStatements[0].Attributes = append(personAttrs(""), crewsaml.Attribute{Name: auth.AttrPRID,
				Values: []crewsaml.AttributeValue{{Value: "DE:123"}}})
		}), code: auth.ErrNoIdentity},

		// Status codes.
		{name: "cancel", opts: func(*harness, auth.Pending) forgeOpts {
			return forgeOpts{unsignedResp: true, status: status(statusResponder, statusCancel)}
		}, code: auth.ErrCancel},
		{name: "fraud", opts: func(*harness, auth.Pending) forgeOpts {
			return forgeOpts{status: status(statusRequester, statusFraud)}
		}, code: auth.ErrFraud},
		{name: "possible fraud", opts: func(*harness, auth.Pending) forgeOpts {
			return forgeOpts{status: status(statusResponder, statusPossibleFraud)}
		}, code: auth.ErrPossibleFraud},
		{name: "authn failed", opts: func(*harness, auth.Pending) forgeOpts {
			return forgeOpts{status: status(statusResponder, statusAuthnFailed)}
		}, code: auth.ErrAuthnFailed},
		{name: "no authn context", opts: func(*harness, auth.Pending) forgeOpts {
			return forgeOpts{status: status(statusRequester, statusNoAuthnContext)}
		}, code: auth.ErrLoATooLow},
		{name: "other status", opts: func(*harness, auth.Pending) forgeOpts {
			return forgeOpts{status: status(statusResponder, "urn:oasis:names:tc:SAML:2.0:status:RequestDenied")}
		}, code: auth.ErrAuthnFailed, contains: "RequestDenied"},
		{name: "cancel for another request", opts: func(*harness, auth.Pending) forgeOpts {
			return forgeOpts{status: status(statusResponder, statusCancel),
				mutateResp: func(r *crewsaml.Response) { r.InResponseTo = "_other" }}
		}, code: auth.ErrInvalid},

		// Encryption.
		{name: "encrypted to an unknown key", opts: func(h *harness, _ auth.Pending) forgeOpts {
			return forgeOpts{encryptTo: h.spNext.cert}
		}, code: auth.ErrInvalid, contains: "decrypt"},
		{name: "RSA PKCS#1 v1.5 key transport", opts: func(*harness, auth.Pending) forgeOpts {
			e := xmlenc.PKCS1v15()
			e.BlockCipher = xmlenc.AES128CBC
			return forgeOpts{encryptor: &e}
		}, code: auth.ErrInvalid, contains: "encryption algorithm"},

		// Flow binding.
		{name: "RelayState of another flow", opts: func(*harness, auth.Pending) forgeOpts { return forgeOpts{} },
			edit: func(f url.Values) { f.Set("RelayState", relayState("another-flow")) }, code: auth.ErrState},
		{name: "pending login of another provider", opts: func(*harness, auth.Pending) forgeOpts { return forgeOpts{} },
			pending: func(p *auth.Pending) { p.IdP = "freja" }, code: auth.ErrState},
		{name: "GET instead of POST", opts: func(*harness, auth.Pending) forgeOpts { return forgeOpts{} },
			request: func(f url.Values) *http.Request {
				return httptest.NewRequest(http.MethodGet, spACS+"?"+f.Encode(), nil)
			}, code: auth.ErrInvalid},

		// Hostile input before any SAML parsing.
		{name: "DTD with external entity (XXE)", form: func(h *harness, p auth.Pending) url.Values {
			return rawForm(p, []byte(`<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>`+
				`<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">&xxe;</samlp:Response>`))
		}, code: auth.ErrInvalid, contains: "DTD"},
		{name: "entity expansion (billion laughs)", form: func(h *harness, p auth.Pending) url.Values {
			return rawForm(p, []byte(`<!DOCTYPE r [<!ENTITY a "aaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]><r>&b;</r>`))
		}, code: auth.ErrInvalid, contains: "DTD"},
		{name: "undeclared entity", form: func(h *harness, p auth.Pending) url.Values {
			return rawForm(p, []byte(`<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">&xxe;</samlp:Response>`))
		}, code: auth.ErrInvalid, contains: "well-formed"},
		{name: "oversized body", form: func(h *harness, p auth.Pending) url.Values {
			return rawForm(p, []byte("<r>"+strings.Repeat("x", 300<<10)+"</r>"))
		}, code: auth.ErrInvalid, contains: "too large"},
		{name: "deeply nested", form: func(h *harness, p auth.Pending) url.Values {
			return rawForm(p, []byte(`<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">`+
				strings.Repeat("<a>", 100)+strings.Repeat("</a>", 100)+`</samlp:Response>`))
		}, code: auth.ErrInvalid, contains: "nesting"},
		{name: "processing instruction", form: func(h *harness, p auth.Pending) url.Values {
			return rawForm(p, []byte(`<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"><?evil x?></samlp:Response>`))
		}, code: auth.ErrInvalid, contains: "processing instruction"},
		{name: "not base64", form: func(h *harness, p auth.Pending) url.Values {
			return url.Values{"SAMLResponse": {"%%%not base64%%%"}, "RelayState": {relayState(p.ID)}}
		}, code: auth.ErrInvalid, contains: "base64"},
		{name: "wrong root element", form: func(h *harness, p auth.Pending) url.Values {
			return rawForm(p, []byte(`<samlp:LogoutResponse xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"/>`))
		}, code: auth.ErrInvalid, contains: "root"},
		{name: "no SAMLResponse", form: func(h *harness, p auth.Pending) url.Values {
			return url.Values{"RelayState": {relayState(p.ID)}}
		}, code: auth.ErrInvalid},
	}

	h := newHarness(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h.t = t
			h.clock.Set(h.now)
			ch := h.begin(auth.LoASubstantial, true)
			pd := ch.Pending
			var form url.Values
			if c.form != nil {
				form = c.form(h, pd)
			} else {
				form = h.forge(pd, c.opts(h, pd))
			}
			if c.edit != nil {
				c.edit(form)
			}
			if c.pending != nil {
				c.pending(&pd)
			}
			req := acsRequest(form)
			if c.request != nil {
				req = c.request(form)
			}
			h.clock.Set(h.now.Add(c.shift))
			id, err := h.p.Finish(context.Background(), req, pd)
			if c.code == "" {
				if err != nil {
					t.Fatalf("refused a valid response: %v", err)
				}
				if id.PersonalNumber != testPNR || id.Subject != "pseudonym-7f3a" {
					t.Fatalf("identity = %+v", id)
				}
				return
			}
			requireLoginError(t, id, err, c.code, c.contains)
		})
	}
}

func TestEncryptionKeyRollover(t *testing.T) {
	// spPrev was the encryption key before the rollover, spNext the next one.
	h := newHarness(t, func(h *harness) {
		h.cfg.PreviousEncryptionKeyFile = h.spPrev.keyFile
		h.cfg.NextEncryptionCertFile = h.spNext.certFile
	})
	for _, c := range []struct {
		name string
		kp   keyPair
		ok   bool
	}{
		{"current key", h.spEnc, true},
		{"previous key", h.spPrev, true},
		{"next key is only published", h.spNext, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			ch := h.begin(auth.LoASubstantial, true)
			form := h.forge(ch.Pending, forgeOpts{encryptTo: c.kp.cert})
			id, err := h.p.Finish(context.Background(), acsRequest(form), ch.Pending)
			if c.ok {
				if err != nil || id.PersonalNumber != testPNR {
					t.Fatalf("Finish: %v", err)
				}
				return
			}
			requireLoginError(t, id, err, auth.ErrInvalid, "decrypt")
		})
	}
}

func TestFinishBeforeMetadata(t *testing.T) {
	h := newHarness(t)
	ch := h.begin(auth.LoASubstantial, true)
	form := h.forge(ch.Pending, forgeOpts{})
	h.p.state.Store(nil)
	id, err := h.p.Finish(context.Background(), acsRequest(form), ch.Pending)
	requireLoginError(t, id, err, auth.ErrUnavailable, "")
	if _, err := h.p.Begin(context.Background(), auth.LoASubstantial, "/", true); auth.CodeOf(err) != auth.ErrUnavailable {
		t.Fatalf("Begin without metadata: %v", err)
	}
}

func TestFormAlreadyParsed(t *testing.T) {
	h := newHarness(t)
	ch := h.begin(auth.LoASubstantial, true)
	form := h.forge(ch.Pending, forgeOpts{})
	req := acsRequest(form)
	if err := req.ParseForm(); err != nil {
		t.Fatal(err)
	}
	if _, err := h.p.Finish(context.Background(), req, ch.Pending); err != nil {
		t.Fatalf("Finish with a parsed form: %v", err)
	}
	// A huge form parsed by someone else is still refused.
	ch = h.begin(auth.LoASubstantial, true)
	req = acsRequest(url.Values{"SAMLResponse": {base64.StdEncoding.EncodeToString(make([]byte, 300<<10))}, "RelayState": {relayState(ch.Pending.ID)}})
	_ = req.ParseForm()
	id, err := h.p.Finish(context.Background(), req, ch.Pending)
	requireLoginError(t, id, err, auth.ErrInvalid, "too large")
}
