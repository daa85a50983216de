// Package sqldbtest gives tests a fresh, private database on each backend:
// a SQLite file in a temporary directory, or a new schema in the PostgreSQL
// test server that is dropped when the test ends.
//
// PostgreSQL is found at the DSN in CIVICGATE_TEST_POSTGRES, default
// "postgres://postgres@127.0.0.1:5432/test?sslmode=disable". When it cannot
// be reached the test fails with a message saying so, unless
// CIVICGATE_NO_POSTGRES=1, in which case it is skipped.
package sqldbtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/civicgate/civicgate/gateway/sqldb"
)

// DefaultPostgresDSN is the test server used when CIVICGATE_TEST_POSTGRES is
// not set.
const DefaultPostgresDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// SQLiteDSN returns the DSN of a new SQLite database file in t's temporary
// directory.
func SQLiteDSN(t testing.TB) string {
	t.Helper()
	return "file:" + filepath.ToSlash(filepath.Join(t.TempDir(), "test.db"))
}

var prefixPattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,30}$`)

// PostgresDSN creates a schema named prefix followed by random characters
// (prefix such as "cg_audit_": lower-case letters, digits and underscores),
// returns a DSN whose connections use it as their search_path, and drops the
// schema with everything in it when t ends.
func PostgresDSN(t testing.TB, prefix string) string {
	t.Helper()
	if !prefixPattern.MatchString(prefix) {
		t.Fatalf("sqldbtest: schema prefix %q must match %s", prefix, prefixPattern)
	}
	if os.Getenv("CIVICGATE_NO_POSTGRES") == "1" {
		t.Skip("CIVICGATE_NO_POSTGRES=1: skipping the PostgreSQL backend")
	}
	base := os.Getenv("CIVICGATE_TEST_POSTGRES")
	if base == "" {
		base = DefaultPostgresDSN
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	admin, _, err := sqldb.Open(ctx, base)
	if err != nil {
		t.Fatalf("sqldbtest: PostgreSQL is not reachable (%v); start it or set CIVICGATE_TEST_POSTGRES, or set CIVICGATE_NO_POSTGRES=1 to skip the PostgreSQL tests", err)
	}
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	schema := prefix + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		_ = admin.Close()
		t.Fatalf("sqldbtest: create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("sqldbtest: drop schema %s: %v", schema, err)
		}
		_ = admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("sqldbtest: CIVICGATE_TEST_POSTGRES: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Open opens dsn with sqldb.Open and closes it when t ends.
func Open(t testing.TB, dsn string) (*sql.DB, sqldb.Dialect) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	db, d, err := sqldb.Open(ctx, dsn)
	if err != nil {
		t.Fatalf("sqldbtest: open: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db, d
}
