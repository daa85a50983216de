package saml

import (
	"strings"
	"unicode/utf8"

	crewsaml "github.com/crewjam/saml"

	"github.com/civicgate/civicgate/auth"
)

// maxAttrLen bounds every attribute value kept in the identity (names, IDs);
// longer values are refused rather than cut.
const maxAttrLen = 256

// attrs indexes an AttributeStatement by attribute Name.
type attrs map[string][]string

func newAttrs(a *crewsaml.Assertion) attrs {
	m := attrs{}
	for _, st := range a.AttributeStatements {
		for _, at := range st.Attributes {
			for _, v := range at.Values {
				m[at.Name] = append(m[at.Name], strings.TrimSpace(v.Value))
			}
		}
	}
	return m
}

// single returns the attribute's only value, "" when absent, and false
// when it has several values or an unusable one.
func (m attrs) single(name string) (string, bool) {
	vs := m[name]
	switch {
	case len(vs) == 0:
		return "", true
	case len(vs) > 1:
		return "", false
	}
	v := vs[0]
	if len(v) > maxAttrLen || !utf8.ValidString(v) {
		return "", false
	}
	return v, true
}

// identity maps the verified assertion to an Identity. Error texts name
// the attribute (its OID), never its value.
func (p *Provider) identity(a *crewsaml.Assertion) (auth.Identity, error) {
	as := a.AuthnStatements[0]
	uri := strings.TrimSpace(as.AuthnContext.AuthnContextClassRef.Value)
	loa, _ := auth.LoAFromURI(uri)
	nameID := strings.TrimSpace(a.Subject.NameID.Value)
	if len(nameID) > maxAttrLen {
		return auth.Identity{}, p.fail(auth.ErrInvalid, "NameID too long")
	}
	id := auth.Identity{
		Kind:         p.kind,
		Subject:      nameID,
		NameIDFormat: a.Subject.NameID.Format,
		LoA:          loa,
		LoAURI:       uri,
		IdP:          p.name,
		Method:       "saml",
		AuthTime:     as.AuthnInstant.UTC(),
		SessionIndex: as.SessionIndex,
	}
	if as.SessionNotOnOrAfter != nil && !as.SessionNotOnOrAfter.IsZero() {
		id.NotOnOrAfter = as.SessionNotOnOrAfter.UTC()
	}
	m := newAttrs(a)
	for _, f := range []struct {
		name string
		dst  *string
	}{
		{auth.AttrGivenName, &id.GivenName},
		{auth.AttrSurname, &id.FamilyName},
		{auth.AttrDisplayName, &id.DisplayName},
		{auth.AttrDateOfBirth, &id.DateOfBirth},
		{auth.AttrTransactionIdentifier, &id.TransactionID},
	} {
		v, ok := m.single(f.name)
		if !ok {
			return auth.Identity{}, p.fail(auth.ErrInvalid, "attribute "+f.name+" is multi-valued or too long")
		}
		*f.dst = v
	}

	if p.kind == auth.Staff {
		for _, g := range m[p.cfg.RoleAttribute] {
			if role, ok := p.cfg.RoleMap[g]; ok && !contains(id.Roles, role) {
				id.Roles = append(id.Roles, role)
			}
		}
		return id, nil
	}

	pnr, ok := m.single(auth.AttrPersonalIdentityNumber)
	if !ok {
		return auth.Identity{}, p.fail(auth.ErrNoIdentity, "personalIdentityNumber is multi-valued or too long")
	}
	if pnr != "" {
		if !auth.ValidPersonalNumber(pnr) {
			return auth.Identity{}, p.fail(auth.ErrNoIdentity, "personalIdentityNumber is not a valid personal identity number")
		}
		coord := pnr[6] >= '6'
		if coord && !p.cfg.AcceptCoordinationNumber {
			return auth.Identity{}, p.fail(auth.ErrNoIdentity, "coordination numbers are not accepted by this provider")
		}
		id.PersonalNumber, id.CoordinationNumber = pnr, coord
		return id, nil
	}
	// People without a Swedish number (eIDAS, loa3-nonresident) are keyed on
	// prid; for anyone else a missing personnummer is a refusal.
	if auth.IsNonResidentURI(uri) || strings.Contains(uri, "/loa/1.0/eidas-") {
		prid, ok := m.single(auth.AttrPRID)
		if !ok {
			return auth.Identity{}, p.fail(auth.ErrNoIdentity, "prid is multi-valued or too long")
		}
		if prid != "" {
			id.PRID = prid
			return id, nil
		}
	}
	return auth.Identity{}, p.fail(auth.ErrNoIdentity, "assertion carries no personalIdentityNumber (or prid for foreign e-ID)")
}
