package cases

import (
	"errors"
	"path/filepath"
	"time"
)

// Config configures the case store and its confirmation-mail worker. The
// database is the gateway's (see sqldb.Config); the mail server is
// configured in the mail package.
type Config struct {
	// BlobDir is the directory attachments are kept in, created with mode
	// 0700 when missing. Default "attachments" beside the working directory.
	BlobDir string `yaml:"blob_dir"`
	// MaxUploadBytes is the largest attachment accepted, in bytes. Default
	// 10485760 (10 MiB).
	MaxUploadBytes int64 `yaml:"max_upload_bytes"`
	// MaxAttachments is the most attachments one case may have. Default 20.
	MaxAttachments int `yaml:"max_attachments"`
	// MailInterval is how often each replica looks for confirmation mail to
	// send, e.g. "10s". Default 5s.
	MailInterval time.Duration `yaml:"mail_interval"`
	// MailMaxAttempts is how many times a confirmation mail is tried before
	// it is given up (with exponential backoff from 30 s up to 1 h between
	// tries). Default 8.
	MailMaxAttempts int `yaml:"mail_max_attempts"`
}

// DefaultMaxUploadBytes is the upload limit when Config.MaxUploadBytes is
// zero.
const DefaultMaxUploadBytes = 10 << 20

// Validate reports every problem with c at once.
func (c Config) Validate() error {
	var errs []error
	if c.BlobDir != "" && filepath.Clean(c.BlobDir) == "/" {
		errs = append(errs, errors.New("blob_dir: must not be the root directory"))
	}
	if c.MaxUploadBytes < 0 {
		errs = append(errs, errors.New("max_upload_bytes: must not be negative"))
	}
	if c.MaxAttachments < 0 {
		errs = append(errs, errors.New("max_attachments: must not be negative"))
	}
	if c.MailInterval < 0 {
		errs = append(errs, errors.New("mail_interval: must not be negative"))
	} else if c.MailInterval > 0 && c.MailInterval < 100*time.Millisecond {
		errs = append(errs, errors.New("mail_interval: must be at least 100ms"))
	}
	if c.MailMaxAttempts < 0 {
		errs = append(errs, errors.New("mail_max_attempts: must not be negative"))
	}
	return errors.Join(errs...)
}

// Dir returns the configured blob directory or its default.
func (c Config) Dir() string {
	if c.BlobDir == "" {
		return "attachments"
	}
	return c.BlobDir
}

// UploadLimit returns the configured upload limit or its default.
func (c Config) UploadLimit() int64 {
	if c.MaxUploadBytes == 0 {
		return DefaultMaxUploadBytes
	}
	return c.MaxUploadBytes
}

// MailerOptions returns the Mailer options c sets; the rest are defaults.
func (c Config) MailerOptions() MailerOptions {
	return MailerOptions{Interval: c.MailInterval, MaxAttempts: c.MailMaxAttempts}
}
