package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/civicgate/civicgate/eservices/cases"
	"github.com/civicgate/civicgate/gateway/audit"
	"github.com/civicgate/civicgate/gateway/sqldb"
)

// CaseResult is what the case submission test measured.
type CaseResult struct {
	Workers int
	// Created counts successful Create calls, Errors failed ones.
	Created, Errors int64
	FirstError      string
	Elapsed         time.Duration
	// P50 and P99 are the latencies of one Create.
	P50, P99 time.Duration
	// Stored is the number of cases in the table afterwards; AuditEntries
	// and AuditIntact come from verifying the schema's audit chain.
	Stored       int64
	AuditEntries int64
	AuditIntact  bool
}

// PerSecond is the number of cases created per second.
func (r CaseResult) PerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Created) / r.Elapsed.Seconds()
}

// runCases creates n cases with conc workers through cases.SQL with
// audit.SQL as its auditor, in a schema of its own that is dropped at the
// end, and checks what was stored.
func runCases(ctx context.Context, dsn string, conc, n int) (*CaseResult, error) {
	admin, d, err := sqldb.Open(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	defer admin.Close()
	if d != sqldb.Postgres {
		return nil, fmt.Errorf("postgres: %s is not PostgreSQL", d)
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	schema := "cg_loadtest_" + hex.EncodeToString(rnd[:])
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		return nil, fmt.Errorf("postgres: create schema: %w", err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = admin.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE")
	}()
	u, err := url.Parse(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: not a URL")
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	db, _, err := sqldb.Open(ctx, u.String())
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	defer db.Close()
	if err := audit.Migrate(ctx, db, d); err != nil {
		return nil, err
	}
	if err := cases.Migrate(ctx, db, d); err != nil {
		return nil, err
	}
	key := make([]byte, audit.MinKeySize)
	_, _ = rand.Read(key)
	al, err := audit.NewSQL(db, d, key, audit.Options{})
	if err != nil {
		return nil, err
	}
	store, err := cases.NewSQL(db, d, cases.Options{Auditor: al})
	if err != nil {
		return nil, err
	}

	res := &CaseResult{Workers: conc}
	var next, created, failed atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < conc; w++ {
		wg.Go(func() {
			var mine []time.Duration
			for {
				i := next.Add(1)
				if i > int64(n) || ctx.Err() != nil {
					break
				}
				p := persons[int(i)%len(persons)]
				t0 := time.Now()
				_, err := store.Create(ctx, cases.NewCase{
					ModuleID: moduleID, Prefix: "EXEMPEL", Owner: p.pnr,
					Title:       "Trasig gatubelysning",
					Content:     []byte(`{"kategori":"belysning","plats":"Storgatan 12","beskrivning":"Lampan utanför porten är trasig."}`),
					NotifyEmail: "medborgare@example.se",
				}, cases.Actor{Key: p.pnr, Role: "self", RequestID: fmt.Sprintf("loadtest-%d", i)})
				if err != nil {
					if failed.Add(1) == 1 {
						mu.Lock()
						res.FirstError = err.Error()
						mu.Unlock()
					}
					continue
				}
				created.Add(1)
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	res.Created, res.Errors = created.Load(), failed.Load()
	slices.Sort(lat)
	res.P50, res.P99 = percentile(lat, 0.50), percentile(lat, 0.99)

	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM cases").Scan(&res.Stored); err != nil && err != sql.ErrNoRows {
		return nil, fmt.Errorf("postgres: counting cases: %w", err)
	}
	rep, err := al.Verify(ctx)
	if err != nil {
		return nil, fmt.Errorf("postgres: verifying the audit chain: %w", err)
	}
	res.AuditEntries, res.AuditIntact = int64(rep.Entries), rep.OK
	return res, nil
}
