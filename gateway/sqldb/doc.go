// Package sqldb opens the gateway's SQL database — PostgreSQL in production,
// SQLite as the embedded default — and holds the little that packages storing
// data in it share: the dialect, placeholder rebinding, write transactions and
// embedded migrations with per-package version tables.
//
// A DSN starting with "postgres://" or "postgresql://" opens PostgreSQL
// through github.com/jackc/pgx/v5/stdlib (driver "pgx"). A DSN starting with
// "file:", the name ":memory:", or a path ending in ".db", ".sqlite" or
// ".sqlite3" opens SQLite through modernc.org/sqlite (driver "sqlite", pure
// Go) with write-ahead logging, a busy timeout, foreign keys, and every
// transaction begun IMMEDIATE, so that a transaction holds the single write
// lock from its first statement and never fails half-way with a stale
// snapshot when several goroutines write at once.
//
// Queries are written with "?" placeholders and passed through
// Dialect.Rebind, which turns them into "$1", "$2", … for PostgreSQL.
package sqldb
