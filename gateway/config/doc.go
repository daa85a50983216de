// Package config is civicgate's configuration: one YAML file, overridable by
// CIVICGATE_* environment variables, decoded strictly (an unknown key is an
// error naming its path) and validated all at once (every problem is reported
// with its key path, not only the first).
//
// The structs are the documentation: each field's comment says what it is and
// its default. A zero value means "use the default".
package config
