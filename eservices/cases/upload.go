package cases

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
	"unicode"
)

// BlobStore keeps attachment bytes. Keys are chosen by the store, never
// derived from file names. Open and Delete return an error matching
// ErrNotFound for an unknown or malformed key.
type BlobStore interface {
	// Put stores everything r yields and returns its key, size and SHA-256
	// (hex). Nothing is kept when it fails.
	Put(ctx context.Context, r io.Reader) (key string, size int64, sha string, err error)
	Open(ctx context.Context, key string) (io.ReadCloser, error)
	Delete(ctx context.Context, key string) error
}

// The content types accepted for attachments.
const (
	TypePDF  = "application/pdf"
	TypePNG  = "image/png"
	TypeJPEG = "image/jpeg"
)

func allowedType(t string) bool { return t == TypePDF || t == TypePNG || t == TypeJPEG }

// MaxNameLen is the most characters SanitizeName keeps.
const MaxNameLen = 100

// Upload is a file that passed CheckUpload, held in memory.
type Upload struct {
	// Name is the sanitised original name, for display.
	Name string
	// ContentType is detected from the bytes: TypePDF, TypePNG or TypeJPEG.
	ContentType string
	Size        int64
	SHA256      string // hex
	data        []byte
}

// Reader returns the file's bytes.
func (u Upload) Reader() io.Reader { return bytes.NewReader(u.data) }

// DetectType returns the content type of a file from its first bytes —
// TypePDF, TypePNG or TypeJPEG — or "" for anything else. Names and
// claimed types are never trusted.
func DetectType(head []byte) string {
	switch {
	case bytes.HasPrefix(head, []byte("%PDF-")):
		return TypePDF
	case bytes.HasPrefix(head, []byte("\x89PNG\r\n\x1a\n")):
		return TypePNG
	case bytes.HasPrefix(head, []byte{0xFF, 0xD8, 0xFF}):
		return TypeJPEG
	}
	return ""
}

// CheckUpload reads a file of at most max bytes from r and accepts it only
// when its bytes are a PDF, PNG or JPEG file, whatever its name says. The
// returned error matches ErrInvalid and names the field "file" when the
// file is empty, too large or of another type.
func CheckUpload(name string, r io.Reader, max int64) (Upload, error) {
	if max <= 0 {
		return Upload{}, errors.New("cases: CheckUpload: max must be positive")
	}
	data, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return Upload{}, fmt.Errorf("cases: read upload: %w", err)
	}
	invalid := func(problem string) error {
		return &ValidationError{Fields: []FieldError{{"file", problem}}}
	}
	switch {
	case len(data) == 0:
		return Upload{}, invalid("empty")
	case int64(len(data)) > max:
		return Upload{}, invalid("larger than " + strconv.FormatInt(max, 10) + " bytes")
	}
	ct := DetectType(data)
	if ct == "" {
		return Upload{}, invalid("not a PDF, PNG or JPEG file")
	}
	sum := sha256.Sum256(data)
	return Upload{
		Name: SanitizeName(name), ContentType: ct, Size: int64(len(data)),
		SHA256: hex.EncodeToString(sum[:]), data: data,
	}, nil
}

// SanitizeName makes an uploaded file's name safe to display: it keeps
// the last element of any path (either slash), drops control and
// formatting characters (including bidirectional overrides that disguise
// extensions), trims spaces and dots, and cuts it to MaxNameLen
// characters. An empty result becomes "file".
func SanitizeName(name string) string {
	name = strings.ReplaceAll(name, "\\", "/")
	name = path.Base(name)
	var b strings.Builder
	for _, r := range name {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == unicode.ReplacementChar {
			continue
		}
		b.WriteRune(r)
	}
	out := strings.Trim(b.String(), " .")
	if rs := []rune(out); len(rs) > MaxNameLen {
		out = string(rs[:MaxNameLen])
	}
	if out == "" || out == "/" {
		return "file"
	}
	return out
}

// Attach puts an upload in blobs and records it on a case. When recording
// fails (the case is closed or full, the audit log is down), the blob is
// deleted again.
func Attach(ctx context.Context, s Store, blobs BlobStore, caseID string, u Upload, supplement bool, by Actor) (*Attachment, error) {
	if u.data == nil {
		return nil, errors.New("cases: Attach: the upload did not come from CheckUpload")
	}
	key, size, sum, err := blobs.Put(ctx, u.Reader())
	if err != nil {
		return nil, fmt.Errorf("cases: store attachment: %w", err)
	}
	if size != u.Size || sum != u.SHA256 {
		_ = blobs.Delete(ctx, key)
		return nil, errors.New("cases: store attachment: the blob store kept different bytes")
	}
	a, err := s.AddAttachment(ctx, caseID, NewAttachment{
		Name: u.Name, ContentType: u.ContentType, Size: size, SHA256: sum, BlobKey: key, Supplement: supplement,
	}, by)
	if err != nil {
		_ = blobs.Delete(context.WithoutCancel(ctx), key)
		return nil, err
	}
	return a, nil
}
