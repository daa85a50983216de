package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	// The drivers are registered here so that every package opening the
	// database through Open gets both without importing them itself.
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"
)

// Dialect is the SQL dialect of an open database.
type Dialect int

// The supported dialects. The zero Dialect is invalid.
const (
	Postgres Dialect = iota + 1
	SQLite
)

// String returns "postgres" or "sqlite".
func (d Dialect) String() string {
	switch d {
	case Postgres:
		return "postgres"
	case SQLite:
		return "sqlite"
	}
	return "invalid(" + strconv.Itoa(int(d)) + ")"
}

// Valid reports whether d is Postgres or SQLite.
func (d Dialect) Valid() bool { return d == Postgres || d == SQLite }

// DriverName returns the database/sql driver name for d: "pgx" or "sqlite".
func (d Dialect) DriverName() string {
	switch d {
	case Postgres:
		return "pgx"
	case SQLite:
		return "sqlite"
	}
	return ""
}

// Rebind returns query with its "?" placeholders numbered "$1", "$2", … for
// PostgreSQL and unchanged for SQLite. Question marks inside single-quoted
// string literals, double-quoted identifiers and comments are left alone.
func (d Dialect) Rebind(query string) string {
	if d != Postgres || !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 8)
	n := 0
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case c == '\'' || c == '"':
			j := i + 1
			for j < len(query) {
				if query[j] == c {
					// A doubled quote is an escaped quote, not the end.
					if j+1 < len(query) && query[j+1] == c {
						j += 2
						continue
					}
					break
				}
				j++
			}
			if j >= len(query) {
				j = len(query) - 1
			}
			b.WriteString(query[i : j+1])
			i = j
		case c == '-' && i+1 < len(query) && query[i+1] == '-':
			j := strings.IndexByte(query[i:], '\n')
			if j < 0 {
				j = len(query) - i - 1
			}
			b.WriteString(query[i : i+j+1])
			i += j
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// ErrUnknownDSN is returned by Open and ParseDSN for a DSN that names
// neither PostgreSQL nor SQLite.
var ErrUnknownDSN = errors.New("sqldb: DSN is neither postgres://… nor a SQLite file (file:…, *.db)")

// sqlitePragmas are added to every SQLite DSN that does not set them itself.
// The busy timeout lets writers queue for the single write lock instead of
// failing; WAL lets readers proceed while one writer writes; NORMAL
// synchronous is durable across application crashes in WAL mode and avoids
// an fsync per commit.
var sqlitePragmas = []struct{ name, value string }{
	{"busy_timeout", "10000"},
	{"journal_mode", "WAL"},
	{"foreign_keys", "1"},
	{"synchronous", "NORMAL"},
}

// ParseDSN reports the dialect a DSN names and the DSN to hand to that
// dialect's driver: PostgreSQL DSNs unchanged, SQLite DSNs with the pragmas
// and "_txlock=immediate" described in the package documentation added
// unless the DSN already sets them.
func ParseDSN(dsn string) (Dialect, string, error) {
	lower := strings.ToLower(dsn)
	switch {
	case strings.HasPrefix(lower, "postgres://"), strings.HasPrefix(lower, "postgresql://"):
		return Postgres, dsn, nil
	case isSQLite(lower):
		return SQLite, sqliteDSN(dsn), nil
	}
	return 0, "", ErrUnknownDSN
}

func isSQLite(lowerDSN string) bool {
	if strings.HasPrefix(lowerDSN, "file:") || lowerDSN == ":memory:" {
		return true
	}
	path, _, _ := strings.Cut(lowerDSN, "?")
	for _, ext := range []string{".db", ".sqlite", ".sqlite3"} {
		if strings.HasSuffix(path, ext) {
			return true
		}
	}
	return false
}

func sqliteDSN(dsn string) string {
	path, rawQuery, _ := strings.Cut(dsn, "?")
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		// Leave a malformed query for the driver to reject with its own
		// message rather than guessing what was meant.
		return dsn
	}
	set := map[string]bool{}
	for _, p := range q["_pragma"] {
		name, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(p)), "(")
		name, _, _ = strings.Cut(name, "=")
		set[strings.TrimSpace(name)] = true
	}
	for _, p := range sqlitePragmas {
		if !set[p.name] && !(p.name == "journal_mode" && isMemory(dsn)) {
			q.Add("_pragma", p.name+"("+p.value+")")
		}
	}
	if q.Get("_txlock") == "" {
		q.Set("_txlock", "immediate")
	}
	return path + "?" + q.Encode()
}

func isMemory(dsn string) bool {
	return dsn == ":memory:" || strings.HasPrefix(dsn, "file::memory:") || strings.Contains(dsn, "mode=memory")
}

// Open opens and pings the database named by dsn (see the package
// documentation for the accepted forms) and reports its dialect. An
// in-memory SQLite database is limited to one connection, since each
// connection would otherwise see a database of its own. Errors never
// contain the DSN, which may hold a password.
func Open(ctx context.Context, dsn string) (*sql.DB, Dialect, error) {
	d, driverDSN, err := ParseDSN(dsn)
	if err != nil {
		return nil, 0, err
	}
	db, err := sql.Open(d.DriverName(), driverDSN)
	if err != nil {
		return nil, 0, fmt.Errorf("sqldb: open %s: %w", d, err)
	}
	if d == SQLite && isMemory(dsn) {
		db.SetMaxOpenConns(1)
		// Closing the last connection would discard the database.
		db.SetConnMaxIdleTime(0)
		db.SetConnMaxLifetime(0)
	} else {
		db.SetConnMaxIdleTime(5 * time.Minute)
	}
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, 0, fmt.Errorf("sqldb: connect to %s: %w", d, err)
	}
	return db, d, nil
}
