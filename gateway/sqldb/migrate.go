package sqldb

import (
	"context"
	"database/sql"
	"fmt"
	"hash/fnv"
	"io/fs"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// Migrate applies the goose SQL migrations in fsys (files named
// "NNNNN_name.sql" at its root) that are not yet applied, recording them in
// versionTable. Each package owning tables passes its own versionTable
// ("audit_schema_version", "cases_schema_version", …) so that packages
// migrate the same database independently. On PostgreSQL, replicas starting
// at once serialise on a session advisory lock derived from the current
// schema and versionTable, waiting up to five minutes for it. SQLite has no
// such lock: a process losing a race with another on the same file gets an
// error and succeeds when run again; the embedded database is meant for one
// process.
func Migrate(ctx context.Context, db *sql.DB, d Dialect, fsys fs.FS, versionTable string) error {
	var gd goose.Dialect
	opts := []goose.ProviderOption{
		goose.WithTableName(versionTable),
		goose.WithDisableGlobalRegistry(true),
	}
	switch d {
	case Postgres:
		gd = goose.DialectPostgres
		// The lock is per schema and version table: schemas (tenants,
		// parallel tests) and packages never wait for each other.
		var schema string
		if err := db.QueryRowContext(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
			return fmt.Errorf("sqldb: migrate %s: %w", versionTable, err)
		}
		h := fnv.New64a()
		_, _ = h.Write([]byte("civicgate.migrate." + schema + "." + versionTable))
		locker, err := lock.NewPostgresSessionLocker(
			lock.WithLockID(int64(h.Sum64()>>1)),
			lock.WithLockTimeout(1, 300),
		)
		if err != nil {
			return fmt.Errorf("sqldb: migrate %s: %w", versionTable, err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	case SQLite:
		gd = goose.DialectSQLite3
	default:
		return fmt.Errorf("sqldb: migrate %s: invalid dialect %s", versionTable, d)
	}
	p, err := goose.NewProvider(gd, db, fsys, opts...)
	if err != nil {
		return fmt.Errorf("sqldb: migrate %s: %w", versionTable, err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("sqldb: migrate %s: %w", versionTable, err)
	}
	return nil
}
