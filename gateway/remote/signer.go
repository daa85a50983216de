package remote

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
)

// DefaultJWKSMaxAge is how long clients may cache the JWKS. It bounds how
// long a rotation step must wait before the next one.
const DefaultJWKSMaxAge = 5 * time.Minute

// SignerOptions tune a Signer.
type SignerOptions struct {
	// JWKSMaxAge is the Cache-Control max-age of the JWKS. Default
	// DefaultJWKSMaxAge.
	JWKSMaxAge time.Duration
}

// Signer signs identity assertions with the first of its keys and
// publishes all of them. It is safe for concurrent use.
type Signer struct {
	key    *ecdsa.PrivateKey
	kid    string
	jwks   []byte
	maxAge string
}

// NewSigner returns a signer for keys: keys[0] signs, every key is
// published. Keys must be distinct ECDSA P-256 keys.
func NewSigner(keys []*ecdsa.PrivateKey, opts SignerOptions) (*Signer, error) {
	if len(keys) == 0 {
		return nil, errors.New("remote: signer needs at least one key")
	}
	var set jose.JSONWebKeySet
	seen := map[string]bool{}
	var firstKid string
	for i, k := range keys {
		if k == nil || k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("remote: signing key %d is not an ECDSA P-256 key", i)
		}
		kid, err := Thumbprint(&k.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("remote: signing key %d: %w", i, err)
		}
		if seen[kid] {
			return nil, fmt.Errorf("remote: signing key %d is listed twice", i)
		}
		seen[kid] = true
		if i == 0 {
			firstKid = kid
		}
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: &k.PublicKey, KeyID: kid, Algorithm: "ES256", Use: "sig"})
	}
	doc, err := json.Marshal(set)
	if err != nil {
		return nil, fmt.Errorf("remote: encoding JWKS: %w", err)
	}
	age := opts.JWKSMaxAge
	if age <= 0 {
		age = DefaultJWKSMaxAge
	}
	return &Signer{
		key:    keys[0],
		kid:    firstKid,
		jwks:   doc,
		maxAge: "public, max-age=" + strconv.Itoa(int(age/time.Second)),
	}, nil
}

// Thumbprint returns the RFC 7638 SHA-256 thumbprint of pub, base64url: the
// kid the signer gives the key.
func Thumbprint(pub *ecdsa.PublicKey) (string, error) {
	tp, err := (&jose.JSONWebKey{Key: pub}).Thumbprint(crypto.SHA256)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(tp), nil
}

// LoadSignerFiles reads PEM ECDSA P-256 private keys (PKCS#8 "PRIVATE KEY"
// or SEC 1 "EC PRIVATE KEY") from paths, the signing key first.
func LoadSignerFiles(paths []string) (*Signer, error) {
	if len(paths) == 0 {
		return nil, errors.New("remote: no signing key files")
	}
	keys := make([]*ecdsa.PrivateKey, 0, len(paths))
	for _, p := range paths {
		k, err := loadKeyFile(p)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return NewSigner(keys, SignerOptions{})
}

func loadKeyFile(path string) (*ecdsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("remote: signing key: %w", err)
	}
	k, err := ParseKey(b)
	if err != nil {
		return nil, fmt.Errorf("remote: signing key %s: %w", path, err)
	}
	return k, nil
}

// ParseKey reads one PEM ECDSA P-256 private key.
func ParseKey(pemBytes []byte) (*ecdsa.PrivateKey, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	var key any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("PEM block %q is not a private key", block.Type)
	}
	if err != nil {
		return nil, err
	}
	k, ok := key.(*ecdsa.PrivateKey)
	if !ok || k.Curve != elliptic.P256() {
		return nil, errors.New("not an ECDSA P-256 key")
	}
	return k, nil
}

// GenerateKeyFile writes a new ECDSA P-256 private key to path (PKCS#8 PEM,
// mode 0600). It refuses to overwrite an existing file, so a key that
// modules trust is never lost by accident.
func GenerateKeyFile(path string) error {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("remote: generating key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return fmt.Errorf("remote: encoding key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("remote: %w", err)
	}
	if err := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		f.Close()
		return fmt.Errorf("remote: writing %s: %w", path, err)
	}
	return f.Close()
}

// GenerateSigner returns a signer with a new random key, for dev mode and
// tests: modules must refetch the JWKS after every restart.
func GenerateSigner() (*Signer, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("remote: generating key: %w", err)
	}
	return NewSigner([]*ecdsa.PrivateKey{k}, SignerOptions{})
}

// KeyID returns the kid of the signing key.
func (s *Signer) KeyID() string { return s.kid }

// JWKS returns the published key set as JSON.
func (s *Signer) JWKS() []byte { return append([]byte(nil), s.jwks...) }

// Sign returns a compact JWS of a with the signing key, typ TokenType.
// It signs a as given: the caller fills every claim.
func (s *Signer) Sign(a *Assertion) (string, error) {
	t := jwt.NewWithClaims(jwt.SigningMethodES256, a)
	t.Header["kid"] = s.kid
	t.Header["typ"] = TokenType
	tok, err := t.SignedString(s.key)
	if err != nil {
		return "", fmt.Errorf("remote: signing assertion: %w", err)
	}
	return tok, nil
}

// JWKSHandler serves the public keys as a JWKS (RFC 7517) for GET and HEAD.
// The short max-age lets a rotation proceed within minutes.
func (s *Signer) JWKSHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", s.maxAge)
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Content-Length", strconv.Itoa(len(s.jwks)))
		if r.Method == http.MethodHead {
			return
		}
		_, _ = w.Write(s.jwks)
	})
}
