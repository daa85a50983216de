package population

import (
	"errors"
	"fmt"
)

// Config chooses and configures the population register. The zero value is
// the built-in test population, fit only for `civicgate dev` and tests.
type Config struct {
	// File is the path of a population YAML file (see [File] for its
	// format). Default: none; with neither file nor http.url set, the
	// built-in test population is used.
	File string `yaml:"file"`
	// HTTP configures the municipality's register service; setting
	// http.url selects it. It cannot be combined with file.
	HTTP HTTPConfig `yaml:"http"`
}

// Validate reports every problem of c at once, each starting with its key
// path (e.g. "http.url: required").
func (c Config) Validate() error {
	if c.HTTP == (HTTPConfig{}) {
		return nil
	}
	var errs []error
	if c.File != "" {
		errs = append(errs, errors.New("file: cannot be combined with http"))
	}
	if err := c.HTTP.Validate(); err != nil {
		for _, e := range unjoin(err) {
			errs = append(errs, fmt.Errorf("http.%w", e))
		}
	}
	return errors.Join(errs...)
}

// BuiltIn reports whether c selects the built-in test population, so the
// gateway can refuse it outside dev mode.
func (c Config) BuiltIn() bool { return c.File == "" && c.HTTP == (HTTPConfig{}) }

// Open returns the Register that c selects: the register service client,
// the file, or the built-in test population.
func Open(c Config) (Register, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("population: %w", err)
	}
	switch {
	case c.HTTP != (HTTPConfig{}):
		return NewHTTP(c.HTTP, HTTPOptions{})
	case c.File != "":
		return LoadFile(c.File)
	}
	return Default(), nil
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
