package app

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

// devStaffRoles maps the test provider's staff groups to civicgate roles, as
// a municipality maps its workforce IdP's groups in production.
var devStaffRoles = map[string][]string{
	"cg-contact-centre":       {"contact-centre"},
	"cg-school-admin:skola-1": {"school-admin:skola-1"},
	"cg-building-handler":     {"building-handler"},
	"cg-social-handler":       {"social-handler"},
	"cg-system-owner":         {"system-owner"},
}

// devSAMLKeys returns (creating them on first use) separate signing and
// encryption keys with self-signed certificates for the dev SAML SP:
// signing key, signing cert, encryption key, encryption cert.
func devSAMLKeys(dir, name string) ([4]string, error) {
	var files [4]string
	for i, use := range []string{"signing", "encryption"} {
		keyFile := filepath.Join(dir, fmt.Sprintf("%s-sp-%s.key", name, use))
		certFile := filepath.Join(dir, fmt.Sprintf("%s-sp-%s.crt", name, use))
		files[2*i], files[2*i+1] = keyFile, certFile
		if _, err := os.Stat(certFile); err == nil {
			if _, err := os.Stat(keyFile); err == nil {
				continue
			}
		}
		key, err := rsa.GenerateKey(rand.Reader, 3072)
		if err != nil {
			return files, err
		}
		serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
		tmpl := &x509.Certificate{
			SerialNumber: serial,
			Subject:      pkix.Name{CommonName: "civicgate dev SP " + use, Organization: []string{"civicgate TEST"}},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().AddDate(5, 0, 0),
			KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			return files, err
		}
		keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
		certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
		if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
			return files, fmt.Errorf("cannot write %s: %v", keyFile, err)
		}
		if err := os.WriteFile(certFile, certPEM, 0o644); err != nil {
			return files, fmt.Errorf("cannot write %s: %v", certFile, err)
		}
	}
	return files, nil
}
