// Package blob keeps attachment bytes in a local directory, one file per
// blob under a random key.
package blob

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/civicgate/civicgate/eservices/cases"
)

// Dir is a cases.BlobStore in a local directory. Keys are 32 random hex
// digits and are the file names; any other key is refused before the file
// system is touched, so no key can reach outside the directory. Files are
// written to a temporary file, synced and renamed into place, so a blob is
// either whole or absent, and are readable by the owner only (0600).
type Dir struct {
	root string
}

var _ cases.BlobStore = (*Dir)(nil)

// NewDir returns the store in dir, creating it with mode 0700 when missing.
func NewDir(dir string) (*Dir, error) {
	if dir == "" {
		return nil, errors.New("blob: no directory")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("blob: %w", err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("blob: %w", err)
	}
	return &Dir{root: abs}, nil
}

// validKey reports whether k has the form Put makes.
func validKey(k string) bool {
	if len(k) != 32 {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func (d *Dir) path(key string) string { return filepath.Join(d.root, key) }

// Put implements cases.BlobStore.
func (d *Dir) Put(ctx context.Context, r io.Reader) (key string, size int64, sha string, err error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", 0, "", fmt.Errorf("blob: %w", err)
	}
	key = hex.EncodeToString(b[:])
	tmp, err := os.CreateTemp(d.root, ".put-*")
	if err != nil {
		return "", 0, "", fmt.Errorf("blob: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	// CreateTemp already uses 0600; Chmod states it against any umask
	// surprise.
	if err = tmp.Chmod(0o600); err != nil {
		return "", 0, "", fmt.Errorf("blob: %w", err)
	}
	h := sha256.New()
	size, err = io.Copy(io.MultiWriter(tmp, h), ctxReader{ctx, r})
	if err != nil {
		return "", 0, "", fmt.Errorf("blob: write: %w", err)
	}
	if err = tmp.Sync(); err != nil {
		return "", 0, "", fmt.Errorf("blob: %w", err)
	}
	if err = tmp.Close(); err != nil {
		return "", 0, "", fmt.Errorf("blob: %w", err)
	}
	if err = os.Rename(tmp.Name(), d.path(key)); err != nil {
		return "", 0, "", fmt.Errorf("blob: %w", err)
	}
	return key, size, hex.EncodeToString(h.Sum(nil)), nil
}

// Open implements cases.BlobStore.
func (d *Dir) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	if !validKey(key) {
		return nil, fmt.Errorf("blob: malformed key: %w", cases.ErrNotFound)
	}
	f, err := os.Open(d.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("blob: %w", cases.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("blob: %w", err)
	}
	return f, nil
}

// Delete implements cases.BlobStore; deleting an absent blob returns an
// error matching cases.ErrNotFound.
func (d *Dir) Delete(ctx context.Context, key string) error {
	if !validKey(key) {
		return fmt.Errorf("blob: malformed key: %w", cases.ErrNotFound)
	}
	err := os.Remove(d.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("blob: %w", cases.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("blob: %w", err)
	}
	return nil
}

// ctxReader stops a long copy when ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
