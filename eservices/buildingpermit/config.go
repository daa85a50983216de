package buildingpermit

import (
	"errors"

	"github.com/civicgate/civicgate/eservices/cases"
)

// Config tunes the building permit module. The zero value is the default.
type Config struct {
	// MaxUploadBytes is the largest attachment (site plan, drawing) accepted,
	// in bytes. Default: the gateway's attachment limit when it gives one,
	// otherwise 10485760 (10 MiB).
	MaxUploadBytes int64 `yaml:"max_upload_bytes"`
	// MaxFilesPerUpload is the most files one form submission may carry.
	// Default 10.
	MaxFilesPerUpload int `yaml:"max_files_per_upload"`
}

// DefaultMaxFilesPerUpload is the number of files one submission may carry
// when Config.MaxFilesPerUpload is zero.
const DefaultMaxFilesPerUpload = 10

// Validate reports every problem with c at once.
func (c Config) Validate() error {
	var errs []error
	if c.MaxUploadBytes < 0 {
		errs = append(errs, errors.New("max_upload_bytes: must not be negative"))
	}
	if c.MaxFilesPerUpload < 0 {
		errs = append(errs, errors.New("max_files_per_upload: must not be negative"))
	}
	return errors.Join(errs...)
}

// uploadLimit returns the configured limit, or the gateway's, or the
// default.
func (c Config) uploadLimit(gateway int64) int64 {
	switch {
	case c.MaxUploadBytes > 0:
		return c.MaxUploadBytes
	case gateway > 0:
		return gateway
	}
	return cases.DefaultMaxUploadBytes
}

func (c Config) filesPerUpload() int {
	if c.MaxFilesPerUpload > 0 {
		return c.MaxFilesPerUpload
	}
	return DefaultMaxFilesPerUpload
}
