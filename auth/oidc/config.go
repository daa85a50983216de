package oidc

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/civicgate/civicgate/auth"
)

// Client authentication methods at the token endpoint.
const (
	ClientSecretBasic = "client_secret_basic"
	ClientSecretPost  = "client_secret_post"
	PrivateKeyJWT     = "private_key_jwt"
)

// Ways to ask the provider for a level of assurance.
const (
	// LoARequestClaims sends claims={"id_token":{"acr":{"essential":true,"values":[...]}}}.
	LoARequestClaims = "claims"
	// LoARequestAcrValues sends acr_values="uri1 uri2 ...".
	LoARequestAcrValues = "acr_values"
	// LoARequestNone sends no acr request at all; only for staff providers
	// with require_mfa, which prove their level by amr instead.
	LoARequestNone = "none"
)

// Scopes and claims of the Swedish OIDC profile (oidc-sweden).
const (
	ScopeNaturalPersonNumber = "https://id.oidc.se/scope/naturalPersonNumber"
	ClaimPersonalIdentityNum = "https://id.oidc.se/claim/personalIdentityNumber"
	ClaimCoordinationNumber  = "https://id.oidc.se/claim/coordinationNumber"
	// ClaimPRID is the eIDAS provisional identifier of the Sweden Connect
	// claims specification.
	ClaimPRID = "https://id.swedenconnect.se/claim/prid"
)

// Defaults used when the corresponding Config field is zero.
const (
	DefaultHTTPTimeout = 10 * time.Second
	DefaultClockSkew   = 60 * time.Second
	maxClockSkew       = 5 * time.Minute
)

// DefaultScopes are requested when Config.Scopes is empty.
var DefaultScopes = []string{"openid", ScopeNaturalPersonNumber, "profile"}

// Config configures one OIDC provider. The zero value of every optional field
// is its documented default; Validate reports every problem at once.
type Config struct {
	// Issuer is the OpenID Provider's issuer URL exactly as its discovery
	// document states it (https; http only for localhost). Required.
	Issuer string `yaml:"issuer"`
	// ClientID is the client identifier registered at the provider. Required.
	ClientID string `yaml:"client_id"`
	// ClientSecretFile is the path of a file holding the client secret
	// (surrounding whitespace is ignored). Required for client_secret_basic
	// and client_secret_post.
	ClientSecretFile string `yaml:"client_secret_file"`
	// ClientAuth is how the gateway authenticates at the token endpoint:
	// "client_secret_basic" (default), "client_secret_post" or
	// "private_key_jwt" (Sweden Connect).
	ClientAuth string `yaml:"client_auth"`
	// PrivateKeyFile is the path of a PEM private key (RSA ≥ 2048 bits or
	// EC P-256) that signs client assertions. Required for private_key_jwt.
	PrivateKeyFile string `yaml:"private_key_file"`
	// KeyID is the "kid" put in client assertions so the provider finds the
	// key in the gateway's registered JWKS. Optional.
	KeyID string `yaml:"key_id"`
	// RedirectURL is the callback URL registered at the provider, sent and
	// compared exactly, e.g. https://gw.example.se/login/freja/callback.
	// Required.
	RedirectURL string `yaml:"redirect_url"`
	// Scopes are the scopes requested. Default: openid,
	// https://id.oidc.se/scope/naturalPersonNumber and profile. When set it
	// must include openid.
	Scopes []string `yaml:"scopes"`
	// LoARequest is how the level of assurance is requested: "claims"
	// (default, an essential acr claim request), "acr_values", or "none"
	// (staff providers with require_mfa only).
	LoARequest string `yaml:"loa_request"`
	// AcrMap maps a provider's own acr values to Swedish LoA URIs, for
	// brokers that do not speak the Swedish URIs. When set, only its keys are
	// requested and accepted. Default: acr values are the Swedish URIs
	// themselves.
	AcrMap map[string]string `yaml:"acr_map"`
	// AcceptUncertified lets http://id.swedenconnect.se/loa/1.0/uncertified-loa3
	// satisfy "substantial". Default false.
	AcceptUncertified bool `yaml:"accept_uncertified"`
	// NonResident lets http://id.swedenconnect.se/loa/1.0/loa3-nonresident
	// (people without a Swedish personnummer, keyed by prid) satisfy
	// "substantial". Default false.
	NonResident bool `yaml:"non_resident"`
	// Claims names the claims identities are read from. Defaults follow the
	// Swedish OIDC profile.
	Claims ClaimMapping `yaml:"claims"`
	// UseUserinfo fetches the userinfo endpoint after the token exchange and
	// fills identity claims the ID token lacks (its sub must equal the ID
	// token's). Default false.
	UseUserinfo bool `yaml:"use_userinfo"`
	// Kind is "citizen" (default; e-ID, keyed by personnummer or prid) or
	// "staff" (workforce provider, keyed by sub, roles from role_map).
	Kind string `yaml:"kind"`
	// RoleMap maps a value of the groups claim to gateway roles. Required
	// for staff; a staff login that maps to no role is refused.
	RoleMap map[string][]string `yaml:"role_map"`
	// RequireMFA (staff only) requires amr to contain "mfa"; such a login
	// counts as "substantial" when the provider sends no accepted acr.
	// Default false.
	RequireMFA bool `yaml:"require_mfa"`
	// MaxLoA is the best level this provider can give: "low",
	// "substantial" (default) or "high". Logins asking for more are refused
	// at Begin and the chooser hides the provider for them.
	MaxLoA string `yaml:"max_loa"`
	// LogoutHint is what RP-initiated logout sends as logout_hint (the
	// gateway keeps no id_token_hint): "sub" (default), "sid" or "none".
	LogoutHint string `yaml:"logout_hint"`
	// DisplaySv is the provider's name on the Swedish chooser page.
	// Default: the configured provider name.
	DisplaySv string `yaml:"display_sv"`
	// DisplayEn is the provider's name on the English chooser page.
	// Default: display_sv.
	DisplayEn string `yaml:"display_en"`
	// Logo is an optional URL path of a logo served by the gateway.
	Logo string `yaml:"logo"`
	// HTTPTimeout bounds every request to the provider (discovery, JWKS,
	// token, userinfo). Default 10s.
	HTTPTimeout time.Duration `yaml:"http_timeout"`
	// ClockSkew is the tolerated difference between the provider's clock and
	// ours for iat, exp and auth_time. Default 60s, at most 5m.
	ClockSkew time.Duration `yaml:"clock_skew"`
}

// ClaimMapping names the claims an identity is built from. Every field is a
// claim name; an empty field means the default given with it.
type ClaimMapping struct {
	// PersonalNumber is the personnummer claim. Default
	// https://id.oidc.se/claim/personalIdentityNumber; brokers use e.g. "ssn".
	PersonalNumber string `yaml:"personal_number"`
	// CoordinationNumber is the samordningsnummer claim. Default
	// https://id.oidc.se/claim/coordinationNumber.
	CoordinationNumber string `yaml:"coordination_number"`
	// GivenName, FamilyName and Name default to given_name, family_name and
	// name.
	GivenName  string `yaml:"given_name"`
	FamilyName string `yaml:"family_name"`
	Name       string `yaml:"name"`
	// Birthdate defaults to birthdate.
	Birthdate string `yaml:"birthdate"`
	// TransactionID defaults to txn (the transaction identifier of the
	// Swedish profile).
	TransactionID string `yaml:"txn"`
	// PRID is the eIDAS provisional identifier. Default
	// https://id.swedenconnect.se/claim/prid.
	PRID string `yaml:"prid"`
	// Email defaults to email.
	Email string `yaml:"email"`
	// Groups is the staff group claim that role_map reads. Default groups.
	Groups string `yaml:"groups"`
}

// withDefaults fills the empty claim names.
func (m ClaimMapping) withDefaults() ClaimMapping {
	def := func(v *string, d string) {
		if *v == "" {
			*v = d
		}
	}
	def(&m.PersonalNumber, ClaimPersonalIdentityNum)
	def(&m.CoordinationNumber, ClaimCoordinationNumber)
	def(&m.GivenName, "given_name")
	def(&m.FamilyName, "family_name")
	def(&m.Name, "name")
	def(&m.Birthdate, "birthdate")
	def(&m.TransactionID, "txn")
	def(&m.PRID, ClaimPRID)
	def(&m.Email, "email")
	def(&m.Groups, "groups")
	return m
}

// withDefaults returns c with every zero optional field set to its default.
func (c Config) withDefaults(name string) Config {
	if c.ClientAuth == "" {
		c.ClientAuth = ClientSecretBasic
	}
	if len(c.Scopes) == 0 {
		c.Scopes = slices.Clone(DefaultScopes)
	}
	if c.LoARequest == "" {
		c.LoARequest = LoARequestClaims
	}
	if c.Kind == "" {
		c.Kind = string(auth.Citizen)
	}
	if c.MaxLoA == "" {
		c.MaxLoA = auth.LoASubstantial.String()
	}
	if c.LogoutHint == "" {
		c.LogoutHint = "sub"
	}
	if c.DisplaySv == "" {
		c.DisplaySv = name
	}
	if c.DisplayEn == "" {
		c.DisplayEn = c.DisplaySv
	}
	if c.HTTPTimeout == 0 {
		c.HTTPTimeout = DefaultHTTPTimeout
	}
	if c.ClockSkew == 0 {
		c.ClockSkew = DefaultClockSkew
	}
	c.Claims = c.Claims.withDefaults()
	return c
}

// Validate reports every configuration problem at once, each prefixed with
// its yaml key. It does not read the secret files; New does.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if c.Issuer == "" {
		add("issuer: required")
	} else if err := checkURL(c.Issuer); err != nil {
		add("issuer: %v", err)
	}
	if c.ClientID == "" {
		add("client_id: required")
	}
	switch c.ClientAuth {
	case "", ClientSecretBasic, ClientSecretPost:
		if c.ClientSecretFile == "" {
			add("client_secret_file: required with client_auth %s", orDefault(c.ClientAuth, ClientSecretBasic))
		}
		if c.PrivateKeyFile != "" {
			add("private_key_file: only used with client_auth private_key_jwt")
		}
	case PrivateKeyJWT:
		if c.PrivateKeyFile == "" {
			add("private_key_file: required with client_auth private_key_jwt")
		}
		if c.ClientSecretFile != "" {
			add("client_secret_file: not used with client_auth private_key_jwt")
		}
	default:
		add("client_auth: %q is not one of client_secret_basic, client_secret_post, private_key_jwt", c.ClientAuth)
	}
	if c.RedirectURL == "" {
		add("redirect_url: required")
	} else if err := checkURL(c.RedirectURL); err != nil {
		add("redirect_url: %v", err)
	}
	if len(c.Scopes) > 0 && !slices.Contains(c.Scopes, "openid") {
		add("scopes: must include openid")
	}
	kind := orDefault(c.Kind, string(auth.Citizen))
	switch c.LoARequest {
	case "", LoARequestClaims, LoARequestAcrValues:
	case LoARequestNone:
		if kind != string(auth.Staff) || !c.RequireMFA {
			add("loa_request: none is only allowed for kind staff with require_mfa")
		}
	default:
		add("loa_request: %q is not one of claims, acr_values, none", c.LoARequest)
	}
	for _, k := range sortedKeys(c.AcrMap) {
		if k == "" {
			add("acr_map: empty provider acr value")
		}
		if _, ok := auth.LoAFromURI(c.AcrMap[k]); !ok {
			add("acr_map.%s: %q is not a known level of assurance URI", k, c.AcrMap[k])
		}
	}
	switch kind {
	case string(auth.Citizen):
		if len(c.RoleMap) > 0 {
			add("role_map: only used with kind staff")
		}
		if c.RequireMFA {
			add("require_mfa: only used with kind staff")
		}
	case string(auth.Staff):
		if len(c.RoleMap) == 0 {
			add("role_map: required with kind staff")
		}
		for _, g := range sortedKeys(c.RoleMap) {
			if len(c.RoleMap[g]) == 0 {
				add("role_map.%s: no roles", g)
			}
		}
	default:
		add("kind: %q is not one of citizen, staff", c.Kind)
	}
	if c.MaxLoA != "" {
		if l, err := auth.ParseLoA(c.MaxLoA); err != nil || l == auth.LoANone {
			add("max_loa: %q is not one of low, substantial, high", c.MaxLoA)
		}
	}
	switch c.LogoutHint {
	case "", "sub", "sid", "none":
	default:
		add("logout_hint: %q is not one of sub, sid, none", c.LogoutHint)
	}
	if c.HTTPTimeout < 0 {
		add("http_timeout: must not be negative")
	}
	if c.ClockSkew < 0 || c.ClockSkew > maxClockSkew {
		add("clock_skew: must be between 0 and %s", maxClockSkew)
	}
	return errors.Join(errs...)
}

// checkURL accepts absolute https URLs, and http ones only for loopback
// hosts (dev mode and tests), without fragment or user info.
func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("not a valid URL")
	}
	if u.Host == "" || u.User != nil || u.Fragment != "" {
		return errors.New("must be an absolute URL without user info or fragment")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if isLoopback(u.Hostname()) {
			return nil
		}
		return errors.New("must use https (http only for localhost)")
	}
	return errors.New("must use https")
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func orDefault(v, d string) string {
	if v == "" {
		return d
	}
	return v
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// trimSecret reads a secret file's content without surrounding whitespace.
func trimSecret(b []byte) string { return strings.TrimSpace(string(b)) }
