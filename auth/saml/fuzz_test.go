package saml

import (
	"context"
	"encoding/base64"
	"errors"
	"reflect"
	"testing"

	"github.com/civicgate/civicgate/auth"
)

// FuzzACS feeds arbitrary bytes as the decoded SAMLResponse into Finish:
// it must never panic and every failure must be a *auth.LoginError with no
// identity.
func FuzzACS(f *testing.F) {
	h := newHarness(f)
	ch, err := h.p.Begin(context.Background(), auth.LoASubstantial, "/", true)
	if err != nil {
		f.Fatal(err)
	}
	pd := ch.Pending
	for _, o := range []forgeOpts{{}, {plaintext: true}, {plaintext: true, unsignedResp: true}, {status: status(statusResponder, statusCancel)}} {
		form := h.forge(pd, o)
		b, _ := base64.StdEncoding.DecodeString(form.Get("SAMLResponse"))
		f.Add(b)
	}
	f.Add([]byte(`<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"/>`))
	f.Add([]byte(`<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>`))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		id, err := h.p.Finish(context.Background(), acsRequest(rawForm(pd, data)), pd)
		if err == nil {
			// Only an untouched seed can pass, and only once.
			if !auth.ValidPersonalNumber(id.PersonalNumber) || id.IdP != "bankid" {
				t.Fatalf("accepted an identity without a valid personnummer")
			}
			return
		}
		var le *auth.LoginError
		if !errors.As(err, &le) {
			t.Fatalf("error is not a LoginError: %T", err)
		}
		if !reflect.DeepEqual(id, auth.Identity{}) {
			t.Fatal("identity returned with an error")
		}
	})
}
