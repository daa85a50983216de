package audit_test

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/civicgate/civicgate/gateway/audit"
	"github.com/civicgate/civicgate/gateway/audit/audittest"
	"github.com/civicgate/civicgate/gateway/sqldb"
	"github.com/civicgate/civicgate/gateway/sqldb/sqldbtest"
)

var testKey = []byte("0123456789abcdef0123456789abcdef-test-only")

// newLog opens dsn n times (n replicas with their own pools), migrates it
// from every replica as replicas starting at once would, and returns the
// loggers.
func newLog(t testing.TB, dsn string, n int) ([]*audit.SQL, []*sql.DB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var logs []*audit.SQL
	var dbs []*sql.DB
	for i := 0; i < n; i++ {
		db, d := sqldbtest.Open(t, dsn)
		if err := audit.Migrate(ctx, db, d); err != nil {
			t.Fatalf("Migrate: %v", err)
		}
		s, err := audit.NewSQL(db, d, testKey, audit.Options{})
		if err != nil {
			t.Fatal(err)
		}
		logs = append(logs, s)
		dbs = append(dbs, db)
	}
	return logs, dbs
}

func TestSQLite(t *testing.T) {
	audittest.Run(t,
		func(t *testing.T) (*audit.SQL, *sql.DB) {
			logs, dbs := newLog(t, sqldbtest.SQLiteDSN(t), 1)
			return logs[0], dbs[0]
		},
		audittest.WithReplicas(func(t *testing.T, n int) []*audit.SQL {
			logs, _ := newLog(t, sqldbtest.SQLiteDSN(t), n)
			return logs
		}))
}

// TestSQLiteDeferred runs the suite on a SQLite database whose transactions
// begin DEFERRED, as one opened without sqldb.Open would: the log must take
// the write lock itself before reading the head.
func TestSQLiteDeferred(t *testing.T) {
	dsn := func(t *testing.T) string { return sqldbtest.SQLiteDSN(t) + "?_txlock=deferred" }
	audittest.Run(t,
		func(t *testing.T) (*audit.SQL, *sql.DB) {
			logs, dbs := newLog(t, dsn(t), 1)
			return logs[0], dbs[0]
		},
		audittest.WithReplicas(func(t *testing.T, n int) []*audit.SQL {
			logs, _ := newLog(t, dsn(t), n)
			return logs
		}))
}

func TestPostgres(t *testing.T) {
	audittest.Run(t,
		func(t *testing.T) (*audit.SQL, *sql.DB) {
			logs, dbs := newLog(t, sqldbtest.PostgresDSN(t, "cg_audit_"), 1)
			return logs[0], dbs[0]
		},
		audittest.WithReplicas(func(t *testing.T, n int) []*audit.SQL {
			logs, _ := newLog(t, sqldbtest.PostgresDSN(t, "cg_audit_"), n)
			return logs
		}))
}

func TestNewSQLRejectsShortKey(t *testing.T) {
	db, d := sqldbtest.Open(t, sqldbtest.SQLiteDSN(t))
	if _, err := audit.NewSQL(db, d, testKey[:31], audit.Options{}); err == nil {
		t.Fatal("NewSQL accepted a 31-byte key")
	}
	if _, err := audit.NewSQL(db, 0, testKey, audit.Options{}); err == nil {
		t.Fatal("NewSQL accepted an invalid dialect")
	}
	if _, err := audit.NewSQL(db, d, testKey[:32], audit.Options{}); err != nil {
		t.Fatalf("NewSQL rejected a 32-byte key: %v", err)
	}
}

func TestOptionsNow(t *testing.T) {
	db, d := sqldbtest.Open(t, sqldbtest.SQLiteDSN(t))
	if err := audit.Migrate(context.Background(), db, d); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 24, 12, 0, 0, 123456789, time.FixedZone("CET", 3600))
	s, err := audit.NewSQL(db, d, testKey, audit.Options{Now: func() time.Time { return at }})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Record(context.Background(), audit.Event{Action: "logout", Outcome: audit.Success}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Since(context.Background(), 0, 1)
	if err != nil || len(got) != 1 {
		t.Fatalf("Since = %v, %v", got, err)
	}
	if want := time.Date(2026, 11, 24, 11, 0, 0, 123000000, time.UTC); !got[0].Time.Equal(want) || got[0].Time.Location() != time.UTC {
		t.Fatalf("time = %v, want %v", got[0].Time, want)
	}
}

func TestMigrateTwiceAndBesideOthers(t *testing.T) {
	for _, tc := range []struct {
		name string
		dsn  func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return sqldbtest.SQLiteDSN(t) }},
		{"postgres", func(t *testing.T) string { return sqldbtest.PostgresDSN(t, "cg_audit_") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			db, d := sqldbtest.Open(t, tc.dsn(t))
			for i := 0; i < 2; i++ {
				if err := audit.Migrate(ctx, db, d); err != nil {
					t.Fatalf("Migrate #%d: %v", i+1, err)
				}
			}
			var version int64
			if err := db.QueryRowContext(ctx, "SELECT MAX(version_id) FROM "+audit.VersionTable).Scan(&version); err != nil || version != 1 {
				t.Fatalf("%s version = %d, %v", audit.VersionTable, version, err)
			}
			var goose int
			err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM goose_db_version").Scan(&goose)
			if err == nil {
				t.Fatalf("the default goose table exists (%d rows); audit must keep to its own", goose)
			}
		})
	}
}

func TestVerifyDSN(t *testing.T) {
	dsn := sqldbtest.SQLiteDSN(t)
	logs, dbs := newLog(t, dsn, 1)
	for i := 0; i < 3; i++ {
		if err := logs[0].Record(context.Background(), audit.Event{Action: "login", Outcome: audit.Success, Subject: "198107249289"}); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := audit.VerifyDSN(context.Background(), dsn)
	if err != nil || !rep.OK || rep.Entries != 3 {
		t.Fatalf("VerifyDSN = %s, %v", rep, err)
	}
	if _, err := dbs[0].Exec("UPDATE audit_log SET action = 'logout' WHERE seq = 2"); err != nil {
		t.Fatal(err)
	}
	rep, err = audit.VerifyDSN(context.Background(), dsn)
	if err != nil || rep.OK || len(rep.Problems) != 1 || rep.Problems[0].Seq != 2 {
		t.Fatalf("VerifyDSN after tampering = %s, %v", rep, err)
	}
	if _, err := audit.VerifyDSN(context.Background(), "mysql://nope"); err == nil {
		t.Fatal("VerifyDSN accepted an unknown DSN")
	}
}

func BenchmarkRecord(b *testing.B) {
	for _, bc := range []struct {
		name string
		dsn  func(b *testing.B) string
	}{
		{"sqlite", func(b *testing.B) string { return sqldbtest.SQLiteDSN(b) }},
		{"postgres", func(b *testing.B) string { return sqldbtest.PostgresDSN(b, "cg_audit_") }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			logs, _ := newLog(b, bc.dsn(b), 1)
			s := logs[0]
			e := audit.Event{
				RequestID: "req", Actor: "198107249289", ActorRole: "citizen", Subject: "198107249289",
				Action: "case.viewed", Resource: "case:BYGG-2026-000123", Outcome: audit.Success,
				Detail: map[string]string{"idp": "bankid", "loa": "loa3"},
			}
			ctx := context.Background()
			for i := 0; b.Loop(); i++ {
				e.RequestID = fmt.Sprint("req-", i)
				if err := s.Record(ctx, e); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(bc.name+"-parallel", func(b *testing.B) {
			logs, _ := newLog(b, bc.dsn(b), 1)
			s := logs[0]
			ctx := context.Background()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := s.Record(ctx, audit.Event{Action: "login", Outcome: audit.Success, Actor: "system"}); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// Dialect is re-exported so that callers need not import sqldb for it.
var _ sqldb.Dialect = audit.SQLite
