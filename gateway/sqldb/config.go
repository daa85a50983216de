package sqldb

import (
	"context"
	"database/sql"
	"errors"
)

// Config names the database.
type Config struct {
	// DSN is the database to use: "postgres://user@host:5432/db?sslmode=verify-full"
	// (or "postgresql://…") for PostgreSQL, or "file:PATH" (or a path ending in
	// .db) for an embedded SQLite database. Default "file:civicgate.db" in the
	// working directory.
	DSN string `yaml:"dsn"`
}

// DefaultDSN is the DSN used when Config.DSN is empty.
const DefaultDSN = "file:civicgate.db"

// Validate reports every problem with c at once.
func (c Config) Validate() error {
	if c.DSN == "" {
		return nil
	}
	if _, _, err := ParseDSN(c.DSN); err != nil {
		return errors.New("dsn: must start with postgres://, postgresql:// or file:, or be a path ending in .db")
	}
	return nil
}

// Open opens the configured database as the package-level Open does.
func (c Config) Open(ctx context.Context) (*sql.DB, Dialect, error) {
	dsn := c.DSN
	if dsn == "" {
		dsn = DefaultDSN
	}
	return Open(ctx, dsn)
}
