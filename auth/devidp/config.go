package devidp

import (
	"errors"
	"strings"
)

// Config is the test provider's part of the configuration file. It is only
// read by `civicgate dev` and test set-ups; production configuration has no
// test provider.
type Config struct {
	// Path is where the gateway mounts the test provider on its own listener,
	// e.g. "/devidp". It starts with "/" and has no trailing slash. Default
	// "/devidp".
	Path string `yaml:"path"`
	// People are the test identities offered on the picker page. Default: the
	// built-in list (DefaultPeople), which uses only Skatteverket's test
	// personnummer.
	People []Person `yaml:"people"`
}

// MountPath returns Path or its default.
func (c Config) MountPath() string {
	if c.Path == "" {
		return "/devidp"
	}
	return c.Path
}

// Validate reports every problem in c at once.
func (c Config) Validate() error {
	var errs []error
	if c.Path != "" && (!strings.HasPrefix(c.Path, "/") || strings.HasSuffix(c.Path, "/") || strings.ContainsAny(c.Path, "?#")) {
		errs = append(errs, errors.New(`path: must start with "/" and have no trailing slash, query or fragment`))
	}
	if len(c.People) > 0 {
		errs = append(errs, validatePeople(c.People, "people"))
	}
	return errors.Join(errs...)
}
