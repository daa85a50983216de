package saml

import (
	"bytes"
	"compress/flate"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/beevik/etree"
	crewsaml "github.com/crewjam/saml"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/civicgate/civicgate/auth"
	"github.com/civicgate/civicgate/auth/session"
)

// Options are the provider's run-time dependencies.
type Options struct {
	// HTTPClient fetches IdP metadata. Default: a client with a 30s timeout.
	HTTPClient *http.Client
	// Now is the clock every time check uses. Default time.Now.
	Now func() time.Time
	// Replay remembers assertion IDs across replicas. Required.
	Replay session.ReplayCache
	// Logger receives metadata refresh failures (never XML or personal
	// data). Default slog.Default().
	Logger *slog.Logger
}

// Provider is one SAML IdP as an auth.Authenticator and auth.Logouter. It is
// safe for concurrent use; Close stops its metadata refresh.
type Provider struct {
	name string
	cfg  Config
	opts Options
	log  *slog.Logger
	now  func() time.Time

	maxLoA auth.LoA
	kind   auth.Kind

	acsURL, metadataURL, sloURL *url.URL

	signKey     *rsa.PrivateKey
	signCert    *x509.Certificate
	encKey      *rsa.PrivateKey
	encCert     *x509.Certificate
	prevEncKey  *rsa.PrivateKey
	nextEncCert *x509.Certificate
	mdCerts     []*x509.Certificate

	state   atomic.Pointer[idpState]
	lastErr atomic.Pointer[error]

	mdMu    sync.Mutex
	mdBytes []byte
	mdBuilt time.Time

	cancel context.CancelFunc
	done   chan struct{}
}

// idpState is the IdP metadata in force and the library objects built from
// it; it is replaced whole on every refresh.
type idpState struct {
	entity *crewsaml.EntityDescriptor
	// parsers validate responses; one per decryption key (current first,
	// then previous), because the library decrypts with its single Key.
	parsers []*crewsaml.ServiceProvider
	// signer signs requests.
	signer *crewsaml.ServiceProvider
}

var (
	_ auth.Authenticator = (*Provider)(nil)
	_ auth.Logouter      = (*Provider)(nil)
)

// New validates cfg, loads the keys and the IdP metadata and, for metadata
// from a URL, starts its background refresh. A metadata URL that cannot be
// fetched at start-up is not an error: the provider reports not ready
// (Ready) and keeps retrying. name is the configured provider key.
func New(ctx context.Context, name string, cfg Config, opts Options) (*Provider, error) {
	if name == "" {
		return nil, errors.New("saml: provider name is required")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("saml: %s: invalid configuration: %w", name, err)
	}
	if opts.Replay == nil {
		return nil, fmt.Errorf("saml: %s: Options.Replay is required", name)
	}
	cfg = cfg.withDefaults()
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	p := &Provider{name: name, cfg: cfg, opts: opts, log: opts.Logger, now: opts.Now}
	p.kind = auth.Kind(cfg.Kind)
	p.maxLoA, _ = auth.ParseLoA(cfg.MaxLoA)
	p.acsURL, _ = url.Parse(cfg.ACSURL)
	p.metadataURL, _ = url.Parse(cfg.MetadataURL)
	if cfg.SLOURL != "" {
		p.sloURL, _ = url.Parse(cfg.SLOURL)
	}

	var errs []error
	var err error
	if p.signKey, p.signCert, err = loadPair(cfg.SigningKeyFile, cfg.SigningCertFile); err != nil {
		errs = append(errs, fmt.Errorf("signing_key_file: %w", err))
	}
	if p.encKey, p.encCert, err = loadPair(cfg.EncryptionKeyFile, cfg.EncryptionCertFile); err != nil {
		errs = append(errs, fmt.Errorf("encryption_key_file: %w", err))
	}
	if cfg.PreviousEncryptionKeyFile != "" {
		if p.prevEncKey, err = loadKey(cfg.PreviousEncryptionKeyFile); err != nil {
			errs = append(errs, fmt.Errorf("previous_encryption_key_file: %w", err))
		}
	}
	if cfg.NextEncryptionCertFile != "" {
		if p.nextEncCert, err = loadCert(cfg.NextEncryptionCertFile); err != nil {
			errs = append(errs, fmt.Errorf("next_encryption_cert_file: %w", err))
		}
	}
	for i, f := range cfg.IdPMetadataCertFiles {
		c, err := loadCert(f)
		if err != nil {
			errs = append(errs, fmt.Errorf("idp_metadata_cert_files[%d]: %w", i, err))
			continue
		}
		p.mdCerts = append(p.mdCerts, c)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("saml: %s: %w", name, errors.Join(errs...))
	}

	if cfg.IdPMetadataFile != "" {
		b, err := os.ReadFile(cfg.IdPMetadataFile)
		if err != nil {
			return nil, fmt.Errorf("saml: %s: idp_metadata_file: %w", name, err)
		}
		if err := p.install(b, false); err != nil {
			return nil, fmt.Errorf("saml: %s: idp_metadata_file: %w", name, err)
		}
		return p, nil
	}

	if err := p.refresh(ctx); err != nil {
		p.log.Warn("saml: idp metadata not loaded; retrying in the background", "idp", name, "err", err)
	}
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p.cancel = cancel
	p.done = make(chan struct{})
	go p.refreshLoop(rctx)
	return p, nil
}

// install parses metadata and puts it in force.
func (p *Provider) install(b []byte, requireSig bool) error {
	ed, err := parseIdPMetadata(b, p.mdCerts, requireSig, p.cfg.IdPEntityID, p.now())
	if err != nil {
		return err
	}
	st := &idpState{entity: ed}
	keys := []*rsa.PrivateKey{p.encKey}
	if p.prevEncKey != nil {
		keys = append(keys, p.prevEncKey)
	}
	for _, k := range keys {
		st.parsers = append(st.parsers, &crewsaml.ServiceProvider{
			EntityID:    p.cfg.EntityID,
			Key:         k,
			Certificate: p.encCert,
			AcsURL:      *p.acsURL,
			MetadataURL: *p.metadataURL,
			IDPMetadata: ed,
			HTTPClient:  p.opts.HTTPClient,
		})
	}
	st.signer = &crewsaml.ServiceProvider{
		EntityID:        p.cfg.EntityID,
		Key:             p.signKey,
		Certificate:     p.signCert,
		AcsURL:          *p.acsURL,
		MetadataURL:     *p.metadataURL,
		IDPMetadata:     ed,
		SignatureMethod: dsig.RSASHA256SignatureMethod,
	}
	if p.sloURL != nil {
		st.signer.SloURL = *p.sloURL
	}
	p.state.Store(st)
	return nil
}

// refresh fetches the metadata URL once. On failure the metadata in force
// stays.
func (p *Provider) refresh(ctx context.Context) error {
	b, err := fetchMetadata(ctx, p.opts.HTTPClient, p.cfg.IdPMetadataURL)
	if err == nil {
		err = p.install(b, true)
	}
	if err != nil {
		p.lastErr.Store(&err)
		return err
	}
	p.lastErr.Store(nil)
	return nil
}

func (p *Provider) refreshLoop(ctx context.Context) {
	defer close(p.done)
	for {
		wait := p.cfg.MetadataRefresh
		if p.lastErr.Load() != nil && wait > time.Minute {
			wait = time.Minute
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if err := p.refresh(ctx); err != nil && ctx.Err() == nil {
			p.log.Warn("saml: idp metadata refresh failed; keeping the last good metadata", "idp", p.name, "err", err)
		}
	}
}

// Close stops the metadata refresh. It is safe to call more than once.
func (p *Provider) Close() {
	if p.cancel != nil {
		p.cancel()
		<-p.done
	}
}

// Ready reports whether IdP metadata is loaded; the error says why not.
func (p *Provider) Ready(ctx context.Context) error {
	if p.state.Load() != nil {
		return nil
	}
	if e := p.lastErr.Load(); e != nil {
		return fmt.Errorf("saml: %s: idp metadata not loaded: %w", p.name, *e)
	}
	return fmt.Errorf("saml: %s: idp metadata not loaded", p.name)
}

// Info describes the provider for the chooser page.
func (p *Provider) Info() auth.ProviderInfo {
	return auth.ProviderInfo{
		Name:      p.name,
		Protocol:  "saml",
		DisplaySv: p.cfg.DisplaySv,
		DisplayEn: p.cfg.DisplayEn,
		Logo:      p.cfg.Logo,
		MaxLoA:    p.maxLoA,
		Kind:      p.kind,
	}
}

func (p *Provider) uriOptions() auth.URIOptions {
	return auth.URIOptions{AcceptUncertified: p.cfg.AcceptUncertified, NonResident: p.cfg.NonResident}
}

// acceptedURIs lists the contexts to ask for: every one proving at least
// want that this IdP can give.
func (p *Provider) acceptedURIs(want auth.LoA) []string {
	var out []string
	for _, u := range auth.URIsAtLeast(want, p.uriOptions()) {
		if l, _ := auth.LoAFromURI(u); l <= p.maxLoA {
			out = append(out, u)
		}
	}
	return out
}

// Begin builds a signed AuthnRequest asking for at least want. force sets
// ForceAuthn (always rendered, true or false). The RelayState is derived
// from the flow ID and never carries returnTo.
func (p *Provider) Begin(ctx context.Context, want auth.LoA, returnTo string, force bool) (auth.Challenge, error) {
	st := p.state.Load()
	if st == nil {
		return auth.Challenge{}, auth.Fail(auth.ErrUnavailable, "saml: %s: idp metadata not loaded", p.name)
	}
	if want > p.maxLoA {
		return auth.Challenge{}, fmt.Errorf("saml: %s: cannot give level %s (max %s)", p.name, want, p.maxLoA)
	}
	uris := p.acceptedURIs(want)
	if len(uris) == 0 {
		return auth.Challenge{}, fmt.Errorf("saml: %s: no authentication context proves level %s", p.name, want)
	}
	binding := crewsaml.HTTPRedirectBinding
	if p.cfg.Binding == "post" {
		binding = crewsaml.HTTPPostBinding
	}
	dest := st.signer.GetSSOBindingLocation(binding)
	if dest == "" {
		return auth.Challenge{}, auth.Fail(auth.ErrUnavailable, "saml: %s: the IdP has no SingleSignOnService for %s", p.name, binding)
	}
	now := p.now().UTC()
	pending := auth.Pending{
		ID:           session.NewID(),
		IdP:          p.name,
		RequestID:    "_" + randomHex(20),
		WantLoA:      want,
		AcceptedURIs: uris,
		ForceAuthn:   force,
		ReturnTo:     returnTo,
		Created:      now,
	}
	el := p.authnRequest(pending, dest, now)
	relay := relayState(pending.ID)

	ch := auth.Challenge{Pending: pending}
	if binding == crewsaml.HTTPRedirectBinding {
		u, err := p.redirectURL(dest, "SAMLRequest", el, relay)
		if err != nil {
			return auth.Challenge{}, fmt.Errorf("saml: %s: %w", p.name, err)
		}
		ch.RedirectURL = u
		return ch, nil
	}
	signed, err := p.signEnveloped(st.signer, el)
	if err != nil {
		return auth.Challenge{}, fmt.Errorf("saml: %s: %w", p.name, err)
	}
	doc := etree.NewDocument()
	doc.SetRoot(signed)
	b, err := doc.WriteToBytes()
	if err != nil {
		return auth.Challenge{}, fmt.Errorf("saml: %s: %w", p.name, err)
	}
	ch.PostURL = dest
	ch.PostForm = url.Values{
		"SAMLRequest": {base64.StdEncoding.EncodeToString(b)},
		"RelayState":  {relay},
	}
	return ch, nil
}

// authnRequest renders the AuthnRequest. The library's struct holds a
// single AuthnContextClassRef, so RequestedAuthnContext is built here to
// list every acceptable context.
func (p *Provider) authnRequest(pd auth.Pending, dest string, now time.Time) *etree.Element {
	force, passive := pd.ForceAuthn, false
	req := crewsaml.AuthnRequest{
		ID:                          pd.RequestID,
		Version:                     "2.0",
		IssueInstant:                now,
		Destination:                 dest,
		AssertionConsumerServiceURL: p.acsURL.String(),
		ProtocolBinding:             crewsaml.HTTPPostBinding,
		ForceAuthn:                  &force,
		IsPassive:                   &passive,
		Issuer: &crewsaml.Issuer{
			Format: "urn:oasis:names:tc:SAML:2.0:nameid-format:entity",
			Value:  p.cfg.EntityID,
		},
	}
	el := req.Element()
	rac := el.CreateElement("samlp:RequestedAuthnContext")
	rac.CreateAttr("Comparison", "exact")
	for _, u := range pd.AcceptedURIs {
		rac.CreateElement("saml:AuthnContextClassRef").SetText(u)
	}
	return el
}

// signEnveloped signs el and places the signature right after saml:Issuer,
// where the schema wants it.
func (p *Provider) signEnveloped(signer *crewsaml.ServiceProvider, el *etree.Element) (*etree.Element, error) {
	sc, err := crewsaml.GetSigningContext(signer)
	if err != nil {
		return nil, err
	}
	signed, err := sc.SignEnveloped(el)
	if err != nil {
		return nil, err
	}
	pos := 0
	if iss := childNS(signed, nsSAML, "Issuer"); iss != nil {
		pos = iss.Index() + 1
	}
	moveSignature(signed, pos)
	return signed, nil
}

// redirectURL encodes el for the HTTP-Redirect binding (DEFLATE, base64)
// and signs the query as the binding specifies: the signature covers
// param=...&RelayState=...&SigAlg=... exactly as sent.
func (p *Provider) redirectURL(dest, param string, el *etree.Element, relay string) (string, error) {
	doc := etree.NewDocument()
	doc.SetRoot(el)
	var buf bytes.Buffer
	fw, _ := flate.NewWriter(&buf, flate.BestCompression)
	if _, err := doc.WriteTo(fw); err != nil {
		return "", err
	}
	if err := fw.Close(); err != nil {
		return "", err
	}
	q := param + "=" + url.QueryEscape(base64.StdEncoding.EncodeToString(buf.Bytes()))
	if relay != "" {
		q += "&RelayState=" + url.QueryEscape(relay)
	}
	q += "&SigAlg=" + url.QueryEscape(dsig.RSASHA256SignatureMethod)
	h := sha256.Sum256([]byte(q))
	sig, err := rsa.SignPKCS1v15(rand.Reader, p.signKey, crypto.SHA256, h[:])
	if err != nil {
		return "", err
	}
	q += "&Signature=" + url.QueryEscape(base64.StdEncoding.EncodeToString(sig))
	sep := "?"
	if strings.Contains(dest, "?") {
		sep = "&"
	}
	return dest + sep + q, nil
}

// LogoutURL returns a signed HTTP-Redirect LogoutRequest for id's IdP
// session, or "" when the IdP advertises no HTTP-Redirect
// SingleLogoutService, no SLO URL is configured for the answer, or id has
// no NameID. postLogoutRedirect travels as RelayState only when it is a
// same-origin relative path.
func (p *Provider) LogoutURL(ctx context.Context, id auth.Identity, postLogoutRedirect string) (string, error) {
	st := p.state.Load()
	if st == nil || p.sloURL == nil || id.Subject == "" || id.IdP != p.name {
		return "", nil
	}
	dest := st.signer.GetSLOBindingLocation(crewsaml.HTTPRedirectBinding)
	if dest == "" {
		return "", nil
	}
	req := crewsaml.LogoutRequest{
		ID:           "_" + randomHex(20),
		Version:      "2.0",
		IssueInstant: p.now().UTC(),
		Destination:  dest,
		Issuer: &crewsaml.Issuer{
			Format: "urn:oasis:names:tc:SAML:2.0:nameid-format:entity",
			Value:  p.cfg.EntityID,
		},
		NameID: &crewsaml.NameID{
			Format:          id.NameIDFormat,
			Value:           id.Subject,
			NameQualifier:   st.entity.EntityID,
			SPNameQualifier: p.cfg.EntityID,
		},
	}
	if id.SessionIndex != "" {
		req.SessionIndex = &crewsaml.SessionIndex{Value: id.SessionIndex}
	}
	relay := ""
	if postLogoutRedirect != "" && auth.SafeReturnTo(postLogoutRedirect) == postLogoutRedirect {
		relay = postLogoutRedirect
	}
	u, err := p.redirectURL(dest, "SAMLRequest", req.Element(), relay)
	if err != nil {
		return "", fmt.Errorf("saml: %s: logout request: %w", p.name, err)
	}
	return u, nil
}

// relayState binds the IdP round trip to the flow without revealing the
// flow ID: the IdP only ever sees a hash of it.
func relayState(flowID string) string {
	h := sha256.Sum256([]byte("civicgate/saml/relay-state\x00" + flowID))
	return base64.RawURLEncoding.EncodeToString(h[:16])
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("saml: no randomness: " + err.Error())
	}
	return hex.EncodeToString(b)
}
