package remote

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/civicgate/civicgate/auth"
)

// Options are what the gateway gives a Proxy.
type Options struct {
	// PublicURL is the gateway's public URL: the assertions' issuer and the
	// X-Forwarded-Proto/Host the module sees. Required.
	PublicURL string
	// PseudonymKey is the gateway-wide pseudonym secret
	// (LoadPseudonymKeyFile), at least MinPseudonymKeyBytes. Required.
	PseudonymKey []byte
	// Identity returns who is asking; false for an anonymous request, which
	// is refused with 401 (the gateway normally sends it to log in first).
	// Required.
	Identity func(r *http.Request) (Claims, bool)
	// ErrorPage renders a failure: 401 not logged in, 403 not allowed here,
	// 413 body too large, 500 internal, 502 the module refused the
	// connection or answered badly, 504 the module did not answer in time.
	// Default: a short bilingual plain-text page.
	ErrorPage func(w http.ResponseWriter, r *http.Request, status int)
	// ClientIP returns the client's address for X-Forwarded-For. Default:
	// the connection's peer.
	ClientIP func(r *http.Request) string
	// Transport carries requests to the module. Default NewTransport with
	// the module's ca_file.
	Transport http.RoundTripper
	// Logger receives upstream failures (never personal data). Default
	// slog.Default().
	Logger *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Proxy forwards requests to one remote module with an identity
// assertion. It is safe for concurrent use.
type Proxy struct {
	cfg     ModuleConfig
	signer  *Signer
	opts    Options
	issuer  string
	pubHost string
	pubTLS  bool
	prefix  string
	target  *url.URL
	pseudo  *Pseudonymizer
	minLoA  auth.LoA
	actors  []string
	timeout time.Duration
	maxBody int64
	rp      *httputil.ReverseProxy
	// tokens are the signed assertions sent again within ReuseWindow
	// (modules without bind_request), under reuseKey.
	tokens *ttlCache[reusable]
	// salt makes reuseKey a secret of this process, so a key reveals
	// nothing about the person it stands for.
	salt [32]byte
}

// reusable is a signed assertion and when it was issued (its iat).
type reusable struct {
	token  string
	issued time.Time
}

// maxReusedAssertions bounds the assertions one proxy keeps for reuse:
// about one per person active in the module within ReuseWindow.
const maxReusedAssertions = 100_000

// NewProxy returns the proxy of the module cfg, signing with signer.
func NewProxy(cfg ModuleConfig, signer *Signer, opts Options) (*Proxy, error) {
	var errs []error
	if err := cfg.Validate(); err != nil {
		errs = append(errs, err)
	}
	if signer == nil {
		errs = append(errs, errors.New("no signer"))
	}
	pub, err := url.Parse(opts.PublicURL)
	if err != nil || (pub.Scheme != "http" && pub.Scheme != "https") || pub.Host == "" {
		errs = append(errs, fmt.Errorf("public URL %q is not an http(s) URL", opts.PublicURL))
	}
	if opts.Identity == nil {
		errs = append(errs, errors.New("no Identity function"))
	}
	if len(opts.PseudonymKey) < MinPseudonymKeyBytes {
		errs = append(errs, fmt.Errorf("pseudonym key shorter than %d bytes", MinPseudonymKeyBytes))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("remote: module %q: %w", cfg.ID, errors.Join(errs...))
	}
	pseudo, err := NewPseudonymizer(opts.PseudonymKey, cfg.ID)
	if err != nil {
		return nil, err
	}
	target, _ := url.Parse(cfg.Upstream)
	p := &Proxy{
		cfg:     cfg,
		signer:  signer,
		opts:    opts,
		issuer:  strings.TrimSuffix(opts.PublicURL, "/"),
		pubHost: pub.Host,
		pubTLS:  pub.Scheme == "https",
		prefix:  "/e/" + cfg.ID,
		target:  target,
		pseudo:  pseudo,
		minLoA:  cfg.Info.Level(),
		actors:  cfg.Info.AllowedActors(),
		timeout: cfg.Timeout,
		maxBody: cfg.MaxBodyBytes,
	}
	if !cfg.BindRequest {
		p.tokens = newTTLCache[reusable](maxReusedAssertions)
		_, _ = rand.Read(p.salt[:])
	}
	if p.timeout == 0 {
		p.timeout = DefaultTimeout
	}
	if p.maxBody == 0 {
		p.maxBody = DefaultMaxBodyBytes
	}
	if p.opts.ErrorPage == nil {
		p.opts.ErrorPage = plainErrorPage
	}
	if p.opts.Logger == nil {
		p.opts.Logger = slog.Default()
	}
	if p.opts.Now == nil {
		p.opts.Now = time.Now
	}
	if p.opts.Transport == nil {
		var roots *x509.CertPool
		if cfg.CAFile != "" {
			pemBytes, err := os.ReadFile(cfg.CAFile)
			if err != nil {
				return nil, fmt.Errorf("remote: module %q: ca_file: %w", cfg.ID, err)
			}
			roots = x509.NewCertPool()
			if !roots.AppendCertsFromPEM(pemBytes) {
				return nil, fmt.Errorf("remote: module %q: ca_file: no certificates", cfg.ID)
			}
		}
		p.opts.Transport = NewTransport(roots)
	}
	p.rp = &httputil.ReverseProxy{
		Rewrite:        p.rewrite,
		Transport:      p.opts.Transport,
		ModifyResponse: p.modifyResponse,
		ErrorHandler:   p.errorHandler,
		BufferPool:     copyBuffers,
	}
	return p, nil
}

// copyBuffers lends the proxies their 32 KB copy buffers: without it every
// proxied response allocates one, which was half of the bytes the gateway
// allocated per request.
var copyBuffers = &bufferPool{sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}}

type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte  { return *b.p.Get().(*[]byte) }
func (b *bufferPool) Put(s []byte) { b.p.Put(&s) }

// NewTransport returns a transport tuned for many requests to few hosts:
// long-lived keep-alive connections, up to 100 idle per module. roots, when
// not nil, replaces the system's certificate authorities.
func NewTransport(roots *x509.CertPool) *http.Transport {
	return &http.Transport{
		Proxy: nil, // a module is a direct neighbour; never an environment proxy
		DialContext: (&net.Dialer{
			Timeout:   5 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          1000,
		MaxIdleConnsPerHost:   100,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: time.Second,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots},
	}
}

// Config returns the module's configuration.
func (p *Proxy) Config() ModuleConfig { return p.cfg }

// reqState carries one request's decisions from ServeHTTP to the
// ReverseProxy callbacks.
type reqState struct {
	claims Claims
	timer  *time.Timer
	cancel context.CancelCauseFunc
}

type stateKey struct{}

var errTimeout = errors.New("remote: module did not answer in time")

// ServeHTTP forwards r, whose path has the /e/<id> prefix removed.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	claims, ok := p.opts.Identity(r)
	if !ok {
		p.opts.ErrorPage(w, r, http.StatusUnauthorized)
		return
	}
	if status := p.admit(claims); status != 0 {
		p.opts.ErrorPage(w, r, status)
		return
	}
	st := &reqState{claims: claims}
	if r.ContentLength > p.maxBody {
		p.opts.ErrorPage(w, r, http.StatusRequestEntityTooLarge)
		return
	}
	ctx, cancel := context.WithCancelCause(context.WithValue(r.Context(), stateKey{}, st))
	defer cancel(nil)
	st.cancel = cancel
	// The timer, unlike a context deadline, stops once the response headers
	// are in (modifyResponse): the timeout bounds the module's answer, not
	// how long a large download takes to reach a slow citizen.
	st.timer = time.AfterFunc(p.timeout, func() { cancel(errTimeout) })
	defer st.timer.Stop()
	out := r.WithContext(ctx)
	if err := p.restoreForm(out); err != nil {
		p.opts.Logger.Error("remote: cannot forward parsed form", "module", p.cfg.ID, "err", err)
		p.opts.ErrorPage(w, r, http.StatusInternalServerError)
		return
	}
	if out.Body != nil && out.Body != http.NoBody {
		out.Body = http.MaxBytesReader(w, out.Body, p.maxBody)
	}
	if out.URL.Path == "" {
		u := *out.URL
		u.Path, u.RawPath = "/", ""
		out.URL = &u
	}
	p.rp.ServeHTTP(w, out)
}

// admit checks the gateway's guarantees once more, so a routing mistake in
// the gateway cannot send a module someone it did not agree to serve.
func (p *Proxy) admit(c Claims) int {
	if c.ActorKey == "" || (c.OnBehalf && c.SubjectKey == "") {
		p.opts.Logger.Error("remote: identity without actor or subject key", "module", p.cfg.ID)
		return http.StatusInternalServerError
	}
	if c.LoA < p.minLoA {
		return http.StatusForbidden
	}
	allowed := false
	switch {
	case c.ActorKind == auth.Citizen && !c.OnBehalf:
		allowed = slices.Contains(p.actors, ActorSelf) || slices.Contains(p.actors, ActorGuardian)
	case c.ActorKind == auth.Staff && c.OnBehalf:
		allowed = slices.Contains(p.actors, ActorContactCentre)
	case c.ActorKind == auth.Staff:
		allowed = p.cfg.Info.Handles(c.ActorRoles)
	}
	if !allowed {
		return http.StatusForbidden
	}
	return 0
}

// restoreForm re-encodes a URL-encoded form that the gateway already read
// (its CSRF check parses POST forms), since the body itself is gone.
func (p *Proxy) restoreForm(r *http.Request) error {
	if r.PostForm == nil || r.MultipartForm != nil {
		if r.MultipartForm != nil {
			return errors.New("multipart body already consumed")
		}
		return nil
	}
	switch r.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch:
	default:
		return nil
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "application/x-www-form-urlencoded" {
		return nil
	}
	body := r.PostForm.Encode()
	r.Body = io.NopCloser(strings.NewReader(body))
	r.ContentLength = int64(len(body))
	r.PostForm, r.Form = nil, nil
	return nil
}

// stripRequestHeaders are the gateway's own and the browser's credentials.
var stripRequestHeaders = []string{
	"Cookie", "Authorization", "Proxy-Authorization", "X-Csrf-Token",
	"X-Forwarded-Prefix", "X-Real-Ip", "X-Request-Id",
}

func (p *Proxy) rewrite(pr *httputil.ProxyRequest) {
	st := pr.In.Context().Value(stateKey{}).(*reqState)
	h := pr.Out.Header
	for _, k := range stripRequestHeaders {
		h.Del(k)
	}
	for k := range h {
		if strings.HasPrefix(k, "Civicgate-") {
			delete(h, k)
		}
	}
	pr.SetURL(p.target)
	if p.opts.ClientIP != nil {
		if ip := p.opts.ClientIP(pr.In); ip != "" {
			h.Set("X-Forwarded-For", ip)
		}
	} else if ip, _, err := net.SplitHostPort(pr.In.RemoteAddr); err == nil {
		h.Set("X-Forwarded-For", ip)
	}
	h.Set("X-Forwarded-Host", p.pubHost)
	if p.pubTLS {
		h.Set("X-Forwarded-Proto", "https")
	} else {
		h.Set("X-Forwarded-Proto", "http")
	}
	h.Set("X-Forwarded-Prefix", p.prefix)
	c := st.claims
	if c.RequestID != "" {
		h.Set(HeaderRequestID, c.RequestID)
	}
	if c.CSRFToken != "" {
		h.Set(HeaderCSRFToken, c.CSRFToken)
	}
	tok, err := p.token(c, pr.Out)
	if err != nil {
		// Cancelling makes the transport fail at once; errorHandler reports it.
		st.cancel(err)
		return
	}
	h.Set(HeaderAssertion, tok)
}

// token returns the signed assertion for the request out: with
// bind_request a new one bound to out; otherwise one signed for the same
// claims within ReuseWindow, or a new one. Signing is most of the proxy's
// own cost, and a person's requests come in bursts.
func (p *Proxy) token(c Claims, out *http.Request) (string, error) {
	now := p.opts.Now()
	if p.cfg.BindRequest {
		return p.signer.Sign(p.assertion(c, now, out.Method, out.URL.RequestURI()))
	}
	k := p.reuseKey(c)
	if e, ok := p.tokens.get(k); ok && !now.Before(e.issued) && now.Before(e.issued.Add(ReuseWindow)) {
		return e.token, nil
	}
	a := p.assertion(c, now, "", "")
	tok, err := p.signer.Sign(a)
	if err != nil {
		return "", err
	}
	issued := time.Unix(a.IssuedAt, 0)
	p.tokens.put(k, reusable{token: tok, issued: issued}, issued.Add(ReuseWindow), now)
	return tok, nil
}

// reuseKey is a digest of everything an unbound assertion is made from:
// every field of c but RequestID and CSRFToken, which never enter one,
// and the module's settings that shape it. Two requests with the same key
// get the same claims, so they may share the signed assertion.
func (p *Proxy) reuseKey(c Claims) digest {
	var stack [512]byte
	b := append(stack[:0], p.salt[:]...)
	str := func(s string) {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	str(p.cfg.ID)
	str(strconv.FormatBool(p.cfg.AllowPersonalNumber))
	str(string(c.ActorKind))
	str(c.ActorKey)
	str(c.ActorName)
	str(c.ActorPersonalNumber)
	b = binary.AppendUvarint(b, uint64(len(c.ActorRoles)))
	for _, r := range c.ActorRoles {
		str(r)
	}
	str(c.SubjectKey)
	str(c.SubjectPersonalNumber)
	str(c.SubjectName)
	b = binary.AppendVarint(b, int64(c.LoA))
	str(c.ACR)
	str(c.IdP)
	str(strconv.FormatBool(c.OnBehalf))
	str(c.Channel)
	return sha256.Sum256(b)
}

// assertion builds the claims for a request at now; method and target,
// with the request ID, only with bind_request.
func (p *Proxy) assertion(c Claims, now time.Time, method, target string) *Assertion {
	iat := now.Unix()
	actor := p.pseudo.Pseudonym(c.ActorKey)
	a := &Assertion{
		Issuer:    p.issuer,
		Audience:  p.cfg.ID,
		IssuedAt:  iat,
		NotBefore: iat,
		Expiry:    iat + int64(Lifetime/time.Second),
		ID:        newJTI(),
		Actor: Actor{
			Kind: string(c.ActorKind),
			Key:  actor,
			Name: c.ActorName,
		},
		OnBehalf: c.OnBehalf,
		LoA:      c.LoA.String(),
		ACR:      c.ACR,
		IdP:      c.IdP,
		Channel:  c.Channel,
	}
	if p.cfg.BindRequest {
		a.Method, a.Target, a.RequestID = method, target, c.RequestID
	}
	if c.ActorKind == auth.Staff {
		a.Actor.Roles = c.ActorRoles
	}
	if a.Channel == "" {
		a.Channel = ChannelEService
		switch {
		case c.OnBehalf:
			a.Channel = ChannelContactCentre
		case c.ActorKind == auth.Staff:
			a.Channel = ChannelStaff
		}
	}
	subjectPNR := c.SubjectPersonalNumber
	if c.SubjectKey == "" && !c.OnBehalf {
		a.Subject, a.SubjectName = actor, c.ActorName
		subjectPNR = c.ActorPersonalNumber
	} else {
		a.Subject, a.SubjectName = p.pseudo.Pseudonym(c.SubjectKey), c.SubjectName
	}
	if p.cfg.AllowPersonalNumber {
		a.SubjectPNR = subjectPNR
		if c.ActorKind == auth.Citizen {
			a.ActorPNR = c.ActorPersonalNumber
		}
	}
	return a
}

func newJTI() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// stripResponseHeaders are what a module must not set on the gateway's
// origin; see the package documentation.
var stripResponseHeaders = []string{
	"Set-Cookie", "Set-Cookie2", "Clear-Site-Data", "Strict-Transport-Security", "Alt-Svc",
}

func (p *Proxy) modifyResponse(res *http.Response) error {
	st := res.Request.Context().Value(stateKey{}).(*reqState)
	if !st.timer.Stop() {
		return errTimeout
	}
	h := res.Header
	for _, k := range stripResponseHeaders {
		h.Del(k)
	}
	for k := range h {
		if strings.HasPrefix(k, "Civicgate-") || strings.HasPrefix(k, "Access-Control-") {
			delete(h, k)
		}
	}
	if loc := h.Get("Location"); loc != "" {
		h.Set("Location", p.publicLocation(loc))
	}
	return nil
}

// publicLocation maps an absolute URL under the upstream to the module's
// public address; any other location is left alone.
func (p *Proxy) publicLocation(loc string) string {
	u, err := url.Parse(loc)
	if err != nil || u.Host == "" || !strings.EqualFold(u.Host, p.target.Host) || u.Scheme != p.target.Scheme {
		return loc
	}
	base := strings.TrimSuffix(p.target.Path, "/")
	if u.Path != base && !strings.HasPrefix(u.Path, base+"/") {
		return loc
	}
	rest := strings.TrimPrefix(u.Path, base)
	if rest == "" {
		rest = "/"
	}
	out := p.issuer + p.prefix + rest
	if u.RawQuery != "" {
		out += "?" + u.RawQuery
	}
	if u.Fragment != "" {
		out += "#" + u.EscapedFragment()
	}
	return out
}

func (p *Proxy) errorHandler(w http.ResponseWriter, r *http.Request, err error) {
	cause := context.Cause(r.Context())
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		p.opts.ErrorPage(w, r, http.StatusRequestEntityTooLarge)
	case errors.Is(err, errTimeout) || errors.Is(cause, errTimeout):
		p.opts.Logger.Warn("remote: module timed out", "module", p.cfg.ID, "timeout", p.timeout)
		p.opts.ErrorPage(w, r, http.StatusGatewayTimeout)
	case cause != nil && !errors.Is(cause, context.Canceled):
		// Signing failed in rewrite.
		p.opts.Logger.Error("remote: cannot sign assertion", "module", p.cfg.ID, "err", cause)
		p.opts.ErrorPage(w, r, http.StatusInternalServerError)
	case r.Context().Err() != nil:
		// The citizen went away; nobody reads an answer.
	default:
		p.opts.Logger.Warn("remote: module unreachable", "module", p.cfg.ID, "err", err)
		p.opts.ErrorPage(w, r, http.StatusBadGateway)
	}
}

func plainErrorPage(w http.ResponseWriter, _ *http.Request, status int) {
	var msg string
	switch status {
	case http.StatusUnauthorized:
		msg = "Du behöver logga in. / Please log in."
	case http.StatusForbidden:
		msg = "Du har inte tillgång till tjänsten. / You do not have access to this service."
	case http.StatusRequestEntityTooLarge:
		msg = "Det du skickade är för stort. / What you sent is too large."
	case http.StatusBadGateway:
		msg = "Tjänsten svarar inte just nu. Försök igen senare. / The service is not answering right now. Please try again later."
	case http.StatusGatewayTimeout:
		msg = "Tjänsten svarade inte i tid. Försök igen senare. / The service did not answer in time. Please try again later."
	default:
		msg = "Något gick fel. / Something went wrong."
	}
	http.Error(w, msg, status)
}
