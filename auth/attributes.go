package auth

// SAML attribute names of the Swedish eID framework (Attribute
// Specification; NameFormat urn:oasis:names:tc:SAML:2.0:attrname-format:uri),
// shared by the service provider and the test IdP.
const (
	AttrPersonalIdentityNumber = "urn:oid:1.2.752.29.4.13"
	AttrGivenName              = "urn:oid:2.5.4.42"
	AttrSurname                = "urn:oid:2.5.4.4"
	AttrDisplayName            = "urn:oid:2.16.840.1.113730.3.1.241"
	AttrDateOfBirth            = "urn:oid:1.3.6.1.5.5.7.9.1"
	AttrTransactionIdentifier  = "urn:oid:1.2.752.201.3.2"
	AttrPRID                   = "urn:oid:1.2.752.201.3.4"
	AttrPRIDPersistence        = "urn:oid:1.2.752.201.3.5"
	AttrCountry                = "urn:oid:2.5.4.6"
	AttrMail                   = "urn:oid:0.9.2342.19200300.100.1.3"
	AttrIsMemberOf             = "urn:oid:1.3.6.1.4.1.5923.1.5.1.1"
)
