package audit

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"unicode"
)

// Config configures the audit log. The database is the gateway's (see
// sqldb.Config).
type Config struct {
	// HMACKeyFile is the path of a file holding the secret, at least 32
	// bytes, that pseudonymises personal identity numbers in the log
	// (e.g. made with "head -c 32 /dev/urandom > audit.key"). Required. A
	// file of printable text has surrounding white space removed; any other
	// file is used byte for byte. Losing the key makes citizens' entries
	// unfindable; leaking it makes them re-identifiable.
	HMACKeyFile string `yaml:"hmac_key_file"`
}

// Validate reports every problem with c at once.
func (c Config) Validate() error {
	var errs []error
	if c.HMACKeyFile == "" {
		errs = append(errs, errors.New("hmac_key_file: required"))
	} else if _, err := LoadKey(c.HMACKeyFile); err != nil {
		errs = append(errs, fmt.Errorf("hmac_key_file: %w", err))
	}
	return errors.Join(errs...)
}

// Key reads the configured HMAC key as LoadKey does.
func (c Config) Key() ([]byte, error) { return LoadKey(c.HMACKeyFile) }

// LoadKey reads an HMAC key from path. A file of printable text (a key
// written in hex or base64, perhaps with a trailing newline) has
// surrounding white space removed and its text is the key; any other file
// is the key byte for byte. The key must have at least MinKeySize bytes.
// Errors never contain key material.
func LoadKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("audit: read key: %w", err)
	}
	if isPrintable(b) {
		b = bytes.TrimSpace(b)
	}
	if len(b) < MinKeySize {
		return nil, fmt.Errorf("audit: key in %s has %d bytes, need at least %d", path, len(b), MinKeySize)
	}
	return b, nil
}

func isPrintable(b []byte) bool {
	for _, r := range string(b) {
		if r == unicode.ReplacementChar || (!unicode.IsPrint(r) && !unicode.IsSpace(r)) {
			return false
		}
	}
	return true
}
