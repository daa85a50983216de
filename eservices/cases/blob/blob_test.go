package blob_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/civicgate/civicgate/eservices/cases"
	"github.com/civicgate/civicgate/eservices/cases/blob"
)

func TestDir(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "blobs")
	d, err := blob.NewDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("%PDF-1.7 hello")
	key, size, sum, err := d.Put(ctx, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256(data)
	if size != int64(len(data)) || sum != hex.EncodeToString(want[:]) {
		t.Errorf("Put = %d, %s", size, sum)
	}
	key2, _, _, err := d.Put(ctx, bytes.NewReader(data))
	if err != nil || key2 == key {
		t.Errorf("second Put of the same bytes: key %q, %v; keys must be random", key2, err)
	}
	fi, err := os.Stat(filepath.Join(dir, key))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("blob mode %v, want 0600", fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("directory holds %d entries, want 2 (no temporary files left)", len(entries))
	}
	rc, err := d.Open(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, data) {
		t.Errorf("Open read %q", got)
	}
	if err := d.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Open(ctx, key); !errors.Is(err, cases.ErrNotFound) {
		t.Errorf("Open after Delete: %v, want ErrNotFound", err)
	}
	if err := d.Delete(ctx, key); !errors.Is(err, cases.ErrNotFound) {
		t.Errorf("second Delete: %v, want ErrNotFound", err)
	}
}

func TestDirRefusesForeignKeys(t *testing.T) {
	ctx := context.Background()
	parent := t.TempDir()
	secret := filepath.Join(parent, "secret.txt")
	if err := os.WriteFile(secret, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := blob.NewDir(filepath.Join(parent, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"../secret.txt", "..", "", "/etc/passwd", "secret.txt", "0123456789abcdef0123456789ABCDEF", "0123456789abcdef0123456789abcde/"} {
		if _, err := d.Open(ctx, k); !errors.Is(err, cases.ErrNotFound) {
			t.Errorf("Open(%q) = %v, want ErrNotFound", k, err)
		}
		if err := d.Delete(ctx, k); !errors.Is(err, cases.ErrNotFound) {
			t.Errorf("Delete(%q) = %v, want ErrNotFound", k, err)
		}
	}
	if _, err := os.Stat(secret); err != nil {
		t.Errorf("file outside the store was touched: %v", err)
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

func TestDirPutFailureLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	d, err := blob.NewDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := d.Put(context.Background(), io.MultiReader(bytes.NewReader([]byte("abc")), failingReader{})); err == nil {
		t.Fatal("Put of a failing reader succeeded")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("failed Put left %d files", len(entries))
	}
}
