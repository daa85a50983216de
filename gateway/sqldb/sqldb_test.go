package sqldb_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/civicgate/civicgate/gateway/sqldb"
	"github.com/civicgate/civicgate/gateway/sqldb/sqldbtest"
)

func TestRebind(t *testing.T) {
	for in, want := range map[string]string{
		"SELECT a FROM t WHERE b = ? AND c = ?":               "SELECT a FROM t WHERE b = $1 AND c = $2",
		"SELECT '?', \"a?\" FROM t WHERE x = ?":               "SELECT '?', \"a?\" FROM t WHERE x = $1",
		"SELECT 'it''s ?' WHERE x = ?":                        "SELECT 'it''s ?' WHERE x = $1",
		"SELECT 1 -- why?\nWHERE x = ?":                       "SELECT 1 -- why?\nWHERE x = $1",
		"SELECT 1":                                            "SELECT 1",
		"INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)": "INSERT INTO t VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
	} {
		if got := sqldb.Postgres.Rebind(in); got != want {
			t.Errorf("Rebind(%q) = %q, want %q", in, got, want)
		}
		if got := sqldb.SQLite.Rebind(in); got != in {
			t.Errorf("SQLite Rebind changed %q to %q", in, got)
		}
	}
}

func TestParseDSN(t *testing.T) {
	for _, tc := range []struct {
		dsn  string
		want sqldb.Dialect
	}{
		{"postgres://u@h/db?sslmode=disable", sqldb.Postgres},
		{"postgresql://u@h/db", sqldb.Postgres},
		{"file:/var/lib/civicgate/civicgate.db", sqldb.SQLite},
		{"data/civicgate.db", sqldb.SQLite},
		{"/tmp/x.sqlite3?_pragma=busy_timeout(1)", sqldb.SQLite},
		{":memory:", sqldb.SQLite},
		{"mysql://u@h/db", 0},
		{"", 0},
		{"civicgate", 0},
	} {
		d, driverDSN, err := sqldb.ParseDSN(tc.dsn)
		if d != tc.want || (err == nil) != (tc.want != 0) {
			t.Errorf("ParseDSN(%q) = %v, %v; want %v", tc.dsn, d, err, tc.want)
			continue
		}
		switch d {
		case sqldb.Postgres:
			if driverDSN != tc.dsn {
				t.Errorf("PostgreSQL DSN changed to %q", driverDSN)
			}
		case sqldb.SQLite:
			for _, p := range []string{"_txlock=immediate", "busy_timeout", "foreign_keys"} {
				if !strings.Contains(driverDSN, p) {
					t.Errorf("ParseDSN(%q) = %q lacks %s", tc.dsn, driverDSN, p)
				}
			}
			if strings.Count(driverDSN, "busy_timeout") != 1 {
				t.Errorf("ParseDSN(%q) = %q overrides the caller's busy_timeout", tc.dsn, driverDSN)
			}
		}
	}
}

func TestOpenSQLitePragmas(t *testing.T) {
	db, d := sqldbtest.Open(t, sqldbtest.SQLiteDSN(t))
	if d != sqldb.SQLite {
		t.Fatalf("dialect %v", d)
	}
	var mode string
	var fk, busy int
	ctx := context.Background()
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v", mode, err)
	}
	if err := db.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil || fk != 1 {
		t.Errorf("foreign_keys = %d, %v", fk, err)
	}
	if err := db.QueryRowContext(ctx, "PRAGMA busy_timeout").Scan(&busy); err != nil || busy < 1000 {
		t.Errorf("busy_timeout = %d, %v", busy, err)
	}
}

// TestOpenSQLiteConcurrentWriters checks that read-then-write transactions
// from many goroutines neither fail nor lose updates, which needs the
// IMMEDIATE transactions Open sets up.
func TestOpenSQLiteConcurrentWriters(t *testing.T) {
	db, _ := sqldbtest.Open(t, sqldbtest.SQLiteDSN(t))
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, "CREATE TABLE counter (n INTEGER NOT NULL); INSERT INTO counter VALUES (0)"); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				tx, err := db.BeginTx(ctx, nil)
				if err != nil {
					t.Error(err)
					return
				}
				var n int
				if err := tx.QueryRowContext(ctx, "SELECT n FROM counter").Scan(&n); err != nil {
					t.Error(err)
					_ = tx.Rollback()
					return
				}
				if _, err := tx.ExecContext(ctx, "UPDATE counter SET n = ?", n+1); err != nil {
					t.Error(err)
					_ = tx.Rollback()
					return
				}
				if err := tx.Commit(); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	var n int
	if err := db.QueryRowContext(ctx, "SELECT n FROM counter").Scan(&n); err != nil || n != 160 {
		t.Fatalf("counter = %d, %v; want 160", n, err)
	}
}

func TestOpenMemory(t *testing.T) {
	db, d := sqldbtest.Open(t, ":memory:")
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, "CREATE TABLE t (x INTEGER)"); err != nil {
		t.Fatal(err)
	}
	// Every query must see the same database, whichever connection.
	for i := 0; i < 5; i++ {
		if _, err := db.ExecContext(ctx, "INSERT INTO t VALUES (1)"); err != nil {
			t.Fatalf("%v: %v", d, err)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	if _, _, err := sqldb.Open(context.Background(), "mysql://u:secret@h/db"); err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("Open(mysql) = %v", err)
	}
	_, _, err := sqldb.Open(context.Background(), "postgres://u:secret@127.0.0.1:1/db?connect_timeout=1")
	if err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("Open(unreachable) = %v; want an error without the password", err)
	}
}

func TestOpenPostgres(t *testing.T) {
	db, d := sqldbtest.Open(t, sqldbtest.PostgresDSN(t, "cg_sqldb_"))
	if d != sqldb.Postgres {
		t.Fatalf("dialect %v", d)
	}
	var schema string
	if err := db.QueryRow("SELECT current_schema()").Scan(&schema); err != nil || !strings.HasPrefix(schema, "cg_sqldb_") {
		t.Fatalf("current_schema = %q, %v; want the test's own schema", schema, err)
	}
}

func TestMigrate(t *testing.T) {
	one := fstest.MapFS{"00001_a.sql": {Data: []byte("-- +goose Up\nCREATE TABLE a_things (id INTEGER PRIMARY KEY);\n-- +goose Down\nDROP TABLE a_things;\n")}}
	other := fstest.MapFS{
		"00001_b.sql": {Data: []byte("-- +goose Up\nCREATE TABLE b_things (id INTEGER PRIMARY KEY);\n")},
		"00002_b.sql": {Data: []byte("-- +goose Up\nALTER TABLE b_things ADD COLUMN name TEXT;\n")},
	}
	for name, dsn := range map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return sqldbtest.SQLiteDSN(t) },
		"postgres": func(t *testing.T) string { return sqldbtest.PostgresDSN(t, "cg_sqldb_") },
	} {
		t.Run(name, func(t *testing.T) {
			db, d := sqldbtest.Open(t, dsn(t))
			ctx := context.Background()
			var wg sync.WaitGroup
			errs := make(chan error, 4)
			// Two packages migrating the same database at once, twice
			// each, as two replicas starting together would.
			for i := 0; i < 2; i++ {
				wg.Add(2)
				go func() { defer wg.Done(); errs <- sqldb.Migrate(ctx, db, d, one, "a_schema_version") }()
				go func() { defer wg.Done(); errs <- sqldb.Migrate(ctx, db, d, other, "b_schema_version") }()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil && d == sqldb.Postgres {
					t.Fatal(err)
				}
			}
			// SQLite has no migration lock: a replica losing the race may
			// fail, but retrying must succeed and leave each package at
			// its own version.
			if err := sqldb.Migrate(ctx, db, d, one, "a_schema_version"); err != nil {
				t.Fatal(err)
			}
			if err := sqldb.Migrate(ctx, db, d, other, "b_schema_version"); err != nil {
				t.Fatal(err)
			}
			for table, want := range map[string]int{"a_schema_version": 1, "b_schema_version": 2} {
				var v int
				if err := db.QueryRowContext(ctx, "SELECT MAX(version_id) FROM "+table).Scan(&v); err != nil || v != want {
					t.Errorf("%s at %d, %v; want %d", table, v, err, want)
				}
			}
			if _, err := db.ExecContext(ctx, d.Rebind("INSERT INTO b_things (id, name) VALUES (?, ?)"), 1, "x"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	for _, dsn := range []string{"", "file:x.db", "postgres://h/db"} {
		if err := (sqldb.Config{DSN: dsn}).Validate(); err != nil {
			t.Errorf("Validate(%q) = %v", dsn, err)
		}
	}
	if err := (sqldb.Config{DSN: "mysql://h/db"}).Validate(); err == nil || !strings.HasPrefix(err.Error(), "dsn: ") {
		t.Errorf("Validate(mysql) = %v", err)
	}
}
