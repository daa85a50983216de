package oidc

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// ClientAssertionType is the client_assertion_type of private_key_jwt
// (RFC 7523).
const ClientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// clientAssertionLifetime is how long a client assertion is valid: just long
// enough for one token request.
const clientAssertionLifetime = 60 * time.Second

// parsePrivateKey reads a PEM RSA (≥ 2048 bits) or EC P-256 private key in
// PKCS#8, PKCS#1 or SEC 1 form and returns it with its JWS algorithm.
func parsePrivateKey(data []byte) (crypto.Signer, jose.SignatureAlgorithm, error) {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, "", errors.New("no PEM private key found")
		}
		var key any
		var err error
		switch block.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(block.Bytes)
		default:
			continue // e.g. EC PARAMETERS or a certificate before the key
		}
		if err != nil {
			return nil, "", fmt.Errorf("parsing %s: %w", block.Type, err)
		}
		switch k := key.(type) {
		case *rsa.PrivateKey:
			if k.N.BitLen() < 2048 {
				return nil, "", errors.New("RSA key shorter than 2048 bits")
			}
			return k, jose.RS256, nil
		case *ecdsa.PrivateKey:
			if k.Curve != elliptic.P256() {
				return nil, "", errors.New("EC key must use curve P-256")
			}
			return k, jose.ES256, nil
		default:
			return nil, "", fmt.Errorf("unsupported private key type %T", key)
		}
	}
}

// clientAssertion returns a signed private_key_jwt assertion for one token
// request: iss = sub = client_id, aud = the token endpoint, a fresh jti and
// a lifetime of at most 60 seconds.
func (p *Provider) clientAssertion(tokenURL string) (string, error) {
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if p.cfg.KeyID != "" {
		opts = opts.WithHeader(jose.HeaderKey("kid"), p.cfg.KeyID)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: p.assertionAlg, Key: p.assertionKey}, opts)
	if err != nil {
		return "", fmt.Errorf("oidc: client assertion signer: %w", err)
	}
	now := p.now()
	claims := jwt.Claims{
		Issuer:    p.cfg.ClientID,
		Subject:   p.cfg.ClientID,
		Audience:  jwt.Audience{tokenURL},
		ID:        randomString(),
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now),
		Expiry:    jwt.NewNumericDate(now.Add(clientAssertionLifetime)),
	}
	s, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		return "", fmt.Errorf("oidc: signing client assertion: %w", err)
	}
	return s, nil
}
