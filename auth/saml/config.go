package saml

import (
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"strings"
	"time"

	"github.com/civicgate/civicgate/auth"
)

// Entity categories of the Swedish eID framework that the SP declares in its
// metadata.
const (
	CategoryLoA3PNR                   = "http://id.elegnamnden.se/ec/1.0/loa3-pnr"
	CategoryPublicSectorSP            = "http://id.elegnamnden.se/st/1.0/public-sector-sp"
	CategoryAcceptsCoordinationNumber = "http://id.swedenconnect.se/general-ec/1.0/accepts-coordination-number"
)

// Defaults for the zero values of Config.
const (
	DefaultMetadataRefresh = time.Hour
	DefaultClockSkew       = 60 * time.Second
	DefaultMaxIssueAge     = 5 * time.Minute
)

// Config configures one SAML identity provider (one IdP entity, usually
// taken from the Sweden Connect aggregate). The zero value of every optional
// field is its documented default.
type Config struct {
	// EntityID is the SP's own entityID as registered in the federation,
	// e.g. "https://gw.example.se/saml/sp". Required.
	EntityID string `yaml:"entity_id"`
	// ACSURL is the absolute HTTPS URL of the gateway's assertion consumer
	// service (HTTP-POST), e.g. "https://gw.example.se/saml/acs". Required;
	// Recipient and Destination in responses must equal it exactly.
	ACSURL string `yaml:"acs_url"`
	// MetadataURL is the absolute URL where the gateway serves the SP
	// metadata, e.g. "https://gw.example.se/saml/metadata". Required.
	MetadataURL string `yaml:"metadata_url"`
	// SLOURL is the absolute URL of the gateway's single logout endpoint.
	// Optional: without it no SingleLogoutService is published and
	// LogoutURL never starts a SAML logout.
	SLOURL string `yaml:"slo_url"`

	// SigningKeyFile and SigningCertFile are PEM files with the RSA key
	// (at least 2048 bits, 3072 recommended) that signs AuthnRequests,
	// LogoutRequests and the metadata, and its certificate. Required.
	SigningKeyFile  string `yaml:"signing_key_file"`
	SigningCertFile string `yaml:"signing_cert_file"`
	// EncryptionKeyFile and EncryptionCertFile are the PEM RSA key (at least
	// 2048 bits) that IdPs encrypt assertions to, and its certificate,
	// published with use="encryption". Required.
	EncryptionKeyFile  string `yaml:"encryption_key_file"`
	EncryptionCertFile string `yaml:"encryption_cert_file"`
	// PreviousEncryptionKeyFile is the encryption key that was current
	// before the last rollover. Optional: while set, assertions encrypted to
	// it are still decrypted (IdPs cache metadata), but it is no longer
	// published.
	PreviousEncryptionKeyFile string `yaml:"previous_encryption_key_file"`
	// NextEncryptionCertFile is the certificate of the key that will become
	// current at the next rollover. Optional: while set it is published as a
	// second encryption KeyDescriptor so IdPs learn it in advance.
	NextEncryptionCertFile string `yaml:"next_encryption_cert_file"`

	// IdPMetadataFile is a local file with the IdP's metadata (an
	// EntityDescriptor or an EntitiesDescriptor aggregate). Exactly one of
	// IdPMetadataFile and IdPMetadataURL is required. A file is read once at
	// start-up; its signature is checked when IdPMetadataCertFiles is set.
	IdPMetadataFile string `yaml:"idp_metadata_file"`
	// IdPMetadataURL is an HTTPS URL of the IdP's or the federation's
	// metadata, e.g. "https://md.swedenconnect.se/role/idp.xml". It is
	// fetched at start-up and every MetadataRefresh; a failed refresh keeps
	// the last good metadata. Requires IdPMetadataCertFiles.
	IdPMetadataURL string `yaml:"idp_metadata_url"`
	// IdPMetadataCertFiles are PEM certificates of the metadata signer
	// (the federation operator). Fetched metadata must carry a valid XML
	// signature by one of them; list two during the signer's key rollover.
	IdPMetadataCertFiles []string `yaml:"idp_metadata_cert_files"`
	// IdPEntityID selects the IdP's EntityDescriptor in an aggregate.
	// Required when the metadata is an EntitiesDescriptor.
	IdPEntityID string `yaml:"idp_entity_id"`
	// MetadataRefresh is how often IdPMetadataURL is fetched again.
	// Default 1h; a failed fetch is retried after at most one minute.
	MetadataRefresh time.Duration `yaml:"metadata_refresh"`

	// Binding is how the AuthnRequest reaches the IdP: "redirect"
	// (HTTP-Redirect, the default) or "post" (HTTP-POST). The request is
	// signed either way; the response always arrives by HTTP-POST.
	Binding string `yaml:"binding"`
	// AcceptUncertified lets uncertified-loa3 (e.g. third-party BankID IdPs)
	// satisfy "substantial". Default false.
	AcceptUncertified bool `yaml:"accept_uncertified"`
	// AcceptCoordinationNumber accepts a samordningsnummer in
	// personalIdentityNumber and declares the accepts-coordination-number
	// entity category. Default false: such logins are refused.
	AcceptCoordinationNumber bool `yaml:"accept_coordination_number"`
	// NonResident lets loa3-nonresident (people without a Swedish
	// personnummer, keyed on prid) satisfy "substantial". Default false.
	NonResident bool `yaml:"non_resident"`

	// Organization is published in the metadata's md:Organization.
	Organization Organization `yaml:"organization"`
	// UIInfo is published in the metadata's mdui:UIInfo; the IdP shows it
	// to the citizen.
	UIInfo UIInfo `yaml:"ui_info"`
	// ContactEmail is published as the technical and support contact.
	// Optional.
	ContactEmail string `yaml:"contact_email"`
	// EntityCategories are the entity category URIs declared in the
	// metadata. Default for citizens: loa3-pnr and public-sector-sp; for
	// staff none. accepts-coordination-number is added when
	// AcceptCoordinationNumber is set.
	EntityCategories []string `yaml:"entity_categories"`

	// MaxLoA is the highest level this IdP can give: "low", "substantial"
	// or "high". Default "substantial".
	MaxLoA string `yaml:"max_loa"`
	// DisplaySv and DisplayEn name the provider on the chooser page.
	// Required.
	DisplaySv string `yaml:"display_sv"`
	DisplayEn string `yaml:"display_en"`
	// Logo is an optional URL path of the provider's logo on the chooser.
	Logo string `yaml:"logo"`
	// Kind is who logs in here: "citizen" (the default) or "staff".
	Kind string `yaml:"kind"`
	// RoleAttribute is the SAML attribute name whose values are the staff
	// member's groups. Staff only; required for staff.
	RoleAttribute string `yaml:"role_attribute"`
	// RoleMap maps a group value of RoleAttribute to a gateway role; values
	// not listed give no role. Staff only.
	RoleMap map[string]string `yaml:"role_map"`

	// ClockSkew is the tolerance for the IdP's clock in every time check.
	// Default 60s.
	ClockSkew time.Duration `yaml:"clock_skew"`
	// MaxIssueAge is how old a Response or Assertion IssueInstant may be.
	// Default 5m (the underlying SAML library also refuses responses issued
	// more than 90s ago by the system clock).
	MaxIssueAge time.Duration `yaml:"max_issue_age"`
}

// Localized is a text in Swedish and English.
type Localized struct {
	// Sv is the Swedish text.
	Sv string `yaml:"sv"`
	// En is the English text.
	En string `yaml:"en"`
}

// Organization is the md:Organization element of the SP metadata.
type Organization struct {
	// Name is the legal name, e.g. "Exempels kommun". Required.
	Name Localized `yaml:"name"`
	// DisplayName is the name shown to people. Default: Name.
	DisplayName Localized `yaml:"display_name"`
	// URL is the organisation's web site. Required.
	URL Localized `yaml:"url"`
}

// UIInfo is the mdui:UIInfo element of the SP metadata.
type UIInfo struct {
	// DisplayName is the service's name as the IdP shows it. Required.
	DisplayName Localized `yaml:"display_name"`
	// Description is a one-sentence description of the service. Required.
	Description Localized `yaml:"description"`
	// Logo is the service's logo. Optional.
	Logo Logo `yaml:"logo"`
}

// Logo is an mdui:Logo: an absolute HTTPS URL and the image's size in
// pixels.
type Logo struct {
	// URL is the absolute HTTPS URL of the image.
	URL string `yaml:"url"`
	// Width and Height are the image's size in pixels; required with URL.
	Width  int `yaml:"width"`
	Height int `yaml:"height"`
}

// Validate reports every problem in c at once.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf(key+": "+format, args...))
	}
	if strings.TrimSpace(c.EntityID) == "" {
		bad("entity_id", "required")
	}
	for _, u := range []struct {
		key, val string
		required bool
	}{
		{"acs_url", c.ACSURL, true},
		{"metadata_url", c.MetadataURL, true},
		{"slo_url", c.SLOURL, false},
		{"idp_metadata_url", c.IdPMetadataURL, false},
		{"ui_info.logo.url", c.UIInfo.Logo.URL, false},
	} {
		if u.val == "" {
			if u.required {
				bad(u.key, "required")
			}
			continue
		}
		if err := absoluteURL(u.val); err != nil {
			bad(u.key, "%v", err)
		}
	}
	for _, f := range []struct{ key, val string }{
		{"signing_key_file", c.SigningKeyFile},
		{"signing_cert_file", c.SigningCertFile},
		{"encryption_key_file", c.EncryptionKeyFile},
		{"encryption_cert_file", c.EncryptionCertFile},
	} {
		if f.val == "" {
			bad(f.key, "required")
		}
	}
	switch {
	case c.IdPMetadataFile == "" && c.IdPMetadataURL == "":
		bad("idp_metadata_file", "one of idp_metadata_file and idp_metadata_url is required")
	case c.IdPMetadataFile != "" && c.IdPMetadataURL != "":
		bad("idp_metadata_file", "set only one of idp_metadata_file and idp_metadata_url")
	}
	if c.IdPMetadataURL != "" && len(c.IdPMetadataCertFiles) == 0 {
		bad("idp_metadata_cert_files", "required with idp_metadata_url: fetched metadata must be signed")
	}
	for i, f := range c.IdPMetadataCertFiles {
		if strings.TrimSpace(f) == "" {
			bad(fmt.Sprintf("idp_metadata_cert_files[%d]", i), "empty path")
		}
	}
	if c.MetadataRefresh < 0 || (c.MetadataRefresh > 0 && c.MetadataRefresh < time.Minute) {
		bad("metadata_refresh", "must be at least 1m (default 1h)")
	}
	switch c.Binding {
	case "", "redirect", "post":
	default:
		bad("binding", "must be redirect or post, not %q", c.Binding)
	}
	if c.Organization.Name.Sv == "" && c.Organization.Name.En == "" {
		bad("organization.name", "required (sv and/or en)")
	}
	if c.Organization.URL.Sv == "" && c.Organization.URL.En == "" {
		bad("organization.url", "required (sv and/or en)")
	}
	for _, u := range []struct{ key, val string }{
		{"organization.url.sv", c.Organization.URL.Sv},
		{"organization.url.en", c.Organization.URL.En},
	} {
		if u.val != "" {
			if err := absoluteURL(u.val); err != nil {
				bad(u.key, "%v", err)
			}
		}
	}
	if c.UIInfo.DisplayName.Sv == "" || c.UIInfo.DisplayName.En == "" {
		bad("ui_info.display_name", "required in sv and en")
	}
	if c.UIInfo.Description.Sv == "" || c.UIInfo.Description.En == "" {
		bad("ui_info.description", "required in sv and en")
	}
	if c.UIInfo.Logo.URL != "" && (c.UIInfo.Logo.Width <= 0 || c.UIInfo.Logo.Height <= 0) {
		bad("ui_info.logo", "width and height are required with url")
	}
	if c.ContactEmail != "" {
		if _, err := mail.ParseAddress(c.ContactEmail); err != nil {
			bad("contact_email", "not an e-mail address")
		}
	}
	for i, ec := range c.EntityCategories {
		if err := absoluteURI(ec); err != nil {
			bad(fmt.Sprintf("entity_categories[%d]", i), "%v", err)
		}
	}
	if c.MaxLoA != "" {
		if l, err := auth.ParseLoA(c.MaxLoA); err != nil || l == auth.LoANone {
			bad("max_loa", "must be low, substantial or high, not %q", c.MaxLoA)
		}
	}
	if c.DisplaySv == "" {
		bad("display_sv", "required")
	}
	if c.DisplayEn == "" {
		bad("display_en", "required")
	}
	switch c.Kind {
	case "", string(auth.Citizen):
		if c.RoleAttribute != "" || len(c.RoleMap) > 0 {
			bad("role_attribute", "only for kind staff")
		}
	case string(auth.Staff):
		if c.RoleAttribute == "" {
			bad("role_attribute", "required for kind staff")
		}
		if c.AcceptCoordinationNumber || c.NonResident {
			bad("kind", "accept_coordination_number and non_resident are for citizens only")
		}
	default:
		bad("kind", "must be citizen or staff, not %q", c.Kind)
	}
	if c.ClockSkew < 0 || c.ClockSkew > 5*time.Minute {
		bad("clock_skew", "must be between 0 and 5m (default 60s)")
	}
	if c.MaxIssueAge < 0 || c.MaxIssueAge > time.Hour {
		bad("max_issue_age", "must be between 0 and 1h (default 5m)")
	}
	return errors.Join(errs...)
}

func absoluteURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Errorf("must be an absolute http(s) URL")
	}
	if u.Fragment != "" {
		return fmt.Errorf("must not have a fragment")
	}
	return nil
}

func absoluteURI(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" {
		return fmt.Errorf("must be an absolute URI")
	}
	return nil
}

// withDefaults returns c with every zero value replaced by its default.
func (c Config) withDefaults() Config {
	if c.MetadataRefresh == 0 {
		c.MetadataRefresh = DefaultMetadataRefresh
	}
	if c.ClockSkew == 0 {
		c.ClockSkew = DefaultClockSkew
	}
	if c.MaxIssueAge == 0 {
		c.MaxIssueAge = DefaultMaxIssueAge
	}
	if c.Binding == "" {
		c.Binding = "redirect"
	}
	if c.Kind == "" {
		c.Kind = string(auth.Citizen)
	}
	if c.MaxLoA == "" {
		c.MaxLoA = "substantial"
	}
	if c.Organization.DisplayName == (Localized{}) {
		c.Organization.DisplayName = c.Organization.Name
	}
	cats := c.EntityCategories
	if len(cats) == 0 && c.Kind == string(auth.Citizen) {
		cats = []string{CategoryLoA3PNR, CategoryPublicSectorSP}
	}
	cats = append([]string(nil), cats...)
	if c.AcceptCoordinationNumber && !contains(cats, CategoryAcceptsCoordinationNumber) {
		cats = append(cats, CategoryAcceptsCoordinationNumber)
	}
	c.EntityCategories = cats
	return c
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
