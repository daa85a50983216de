package saml

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// minRSABits is the smallest RSA key the Swedish eID framework allows.
const minRSABits = 2048

// loadKey reads an RSA private key from a PEM file (PKCS#1 or PKCS#8).
func loadKey(path string) (*rsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return nil, errors.New("no PEM private key found")
		}
		var key any
		switch blk.Type {
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("cannot parse private key: %w", err)
		}
		rk, ok := key.(*rsa.PrivateKey)
		if !ok {
			return nil, errors.New("key is not RSA")
		}
		if rk.N.BitLen() < minRSABits {
			return nil, fmt.Errorf("RSA key has %d bits, at least %d are required", rk.N.BitLen(), minRSABits)
		}
		return rk, nil
	}
}

// loadCert reads the first certificate of a PEM file.
func loadCert(path string) (*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return nil, errors.New("no PEM certificate found")
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("cannot parse certificate: %w", err)
		}
		if pk, ok := c.PublicKey.(*rsa.PublicKey); ok && pk.N.BitLen() < minRSABits {
			return nil, fmt.Errorf("certificate key has %d bits, at least %d are required", pk.N.BitLen(), minRSABits)
		}
		return c, nil
	}
}

// loadPair reads a key and its certificate and checks that they belong
// together.
func loadPair(keyFile, certFile string) (*rsa.PrivateKey, *x509.Certificate, error) {
	key, err := loadKey(keyFile)
	if err != nil {
		return nil, nil, err
	}
	cert, err := loadCert(certFile)
	if err != nil {
		return nil, nil, err
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok || !pub.Equal(&key.PublicKey) {
		return nil, nil, errors.New("certificate does not match the private key")
	}
	return key, cert, nil
}
