package cases_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/civicgate/civicgate/eservices/cases"
	"github.com/civicgate/civicgate/eservices/cases/casestest"
	"github.com/civicgate/civicgate/gateway/audit"
	"github.com/civicgate/civicgate/gateway/sqldb/sqldbtest"
)

func TestSQLite(t *testing.T) {
	casestest.Run(t, func(t *testing.T) string { return sqldbtest.SQLiteDSN(t) })
}

// TestSQLiteDeferred runs the suite on SQLite transactions begun DEFERRED,
// as on a database not opened through sqldb.Open: the store must take the
// write lock itself before reading what it changes.
func TestSQLiteDeferred(t *testing.T) {
	casestest.Run(t, func(t *testing.T) string { return sqldbtest.SQLiteDSN(t) + "?_txlock=deferred" })
}

func TestPostgres(t *testing.T) {
	casestest.Run(t, func(t *testing.T) string { return sqldbtest.PostgresDSN(t, "cg_cases_") })
}

func TestCheckUpload(t *testing.T) {
	pdf := []byte("%PDF-1.7\n...")
	png := []byte("\x89PNG\r\n\x1a\nrest")
	jpg := []byte{0xFF, 0xD8, 0xFF, 0xDB, 1, 2}
	for _, tc := range []struct {
		name   string
		data   []byte
		max    int64
		want   string // content type, or "" when refused
		reason string
	}{
		{"a.pdf", pdf, 100, cases.TypePDF, ""},
		{"a.txt", pdf, 100, cases.TypePDF, ""}, // the bytes decide, not the name
		{"a.png", png, 100, cases.TypePNG, ""},
		{"a.jpg", jpg, 100, cases.TypeJPEG, ""},
		{"a.pdf", []byte("<html><script>"), 100, "", "not a PDF"},
		{"a.pdf", []byte("MZ\x90\x00"), 100, "", "not a PDF"},
		{"a.png", []byte("\x89PNG"), 100, "", "not a PDF"}, // truncated signature
		{"a.pdf", nil, 100, "", "empty"},
		{"a.pdf", pdf, int64(len(pdf)) - 1, "", "larger than"},
		{"a.pdf", pdf, int64(len(pdf)), cases.TypePDF, ""},
	} {
		u, err := cases.CheckUpload(tc.name, bytes.NewReader(tc.data), tc.max)
		if tc.want == "" {
			if !errors.Is(err, cases.ErrInvalid) || !strings.Contains(err.Error(), tc.reason) || !strings.Contains(err.Error(), "file:") {
				t.Errorf("CheckUpload(%q, %q) = %v, want ErrInvalid %q", tc.name, tc.data, err, tc.reason)
			}
			continue
		}
		if err != nil || u.ContentType != tc.want || u.Size != int64(len(tc.data)) || len(u.SHA256) != 64 {
			t.Errorf("CheckUpload(%q) = %+v, %v", tc.name, u, err)
			continue
		}
		got, _ := io.ReadAll(u.Reader())
		if !bytes.Equal(got, tc.data) {
			t.Errorf("Reader returned %q", got)
		}
	}
}

// endless yields bytes for ever, counting them, to show that CheckUpload
// stops reading at the limit.
type endless struct{ n atomic.Int64 }

func (e *endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = '%'
	}
	e.n.Add(int64(len(p)))
	return len(p), nil
}

func TestCheckUploadStopsAtLimit(t *testing.T) {
	r := &endless{}
	if _, err := cases.CheckUpload("big.pdf", r, 1<<20); !errors.Is(err, cases.ErrInvalid) {
		t.Fatalf("endless upload: %v", err)
	}
	if n := r.n.Load(); n > 2<<20 {
		t.Errorf("read %d bytes of an endless upload limited to 1 MiB", n)
	}
}

func TestSanitizeName(t *testing.T) {
	for in, want := range map[string]string{
		"ritning.pdf":                "ritning.pdf",
		"../../etc/passwd":           "passwd",
		`C:\Users\anna\Bilaga 1.PDF`: "Bilaga 1.PDF",
		"a\x00b\nc\td.pdf":           "abcd.pdf",
		"kvitto\u202Efdp.exe":        "kvittofdp.exe",
		"/":                          "file",
		"..":                         "file",
		"  . ":                       "file",
		"":                           "file",
		"Ärende för åtgärd.jpg":      "Ärende för åtgärd.jpg",
		strings.Repeat("å", 300):     strings.Repeat("å", cases.MaxNameLen),
	} {
		if got := cases.SanitizeName(in); got != want {
			t.Errorf("SanitizeName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNumbers(t *testing.T) {
	if got := cases.FormatNumber("BYGG", 2026, 123); got != "BYGG-2026-000123" {
		t.Errorf("FormatNumber = %q", got)
	}
	if got := cases.FormatNumber("SOC", 2026, 1234567); got != "SOC-2026-1234567" {
		t.Errorf("FormatNumber past six digits = %q", got)
	}
	p, y, n, ok := cases.ParseNumber("BYGG-2026-000123")
	if !ok || p != "BYGG" || y != 2026 || n != 123 {
		t.Errorf("ParseNumber = %q %d %d %v", p, y, n, ok)
	}
	for _, bad := range []string{"bygg-2026-000123", "BYGG-26-000123", "BYGG-2026-123", "B-2026-000123", "BYGG-2026-000123x", ""} {
		if _, _, _, ok := cases.ParseNumber(bad); ok {
			t.Errorf("ParseNumber(%q) accepted", bad)
		}
	}
	for p, want := range map[string]bool{"BY": true, "BYGGNADS": true, "B": false, "BYGGNADSN": false, "Bygg": false, "BY1": false, "ÅÄÖ": false} {
		if cases.ValidPrefix(p) != want {
			t.Errorf("ValidPrefix(%q) = %v", p, !want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (cases.Config{}).Validate(); err != nil {
		t.Errorf("zero Config: %v", err)
	}
	err := cases.Config{BlobDir: "/", MaxUploadBytes: -1, MaxAttachments: -1, MailInterval: time.Millisecond, MailMaxAttempts: -2}.Validate()
	for _, key := range []string{"blob_dir:", "max_upload_bytes:", "max_attachments:", "mail_interval:", "mail_max_attempts:"} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("Validate does not report %s: %v", key, err)
		}
	}
	c := cases.Config{}
	if c.UploadLimit() != cases.DefaultMaxUploadBytes || c.Dir() != "attachments" {
		t.Errorf("defaults %d %q", c.UploadLimit(), c.Dir())
	}
}

// BenchmarkCreate measures Create on PostgreSQL: allocating the number and
// writing the case, its history entry, the outbox mail and a real audit
// entry in one transaction, from parallel goroutines.
func BenchmarkCreate(b *testing.B) {
	e := casestest.NewEnv(b, sqldbtest.PostgresDSN(b, "cg_casesbench_"), cases.Options{Now: time.Now})
	nc := cases.NewCase{
		ModuleID: "buildingpermit", Prefix: "BYGG", Owner: "198107249289", Subject: "201701102384",
		Title: "Bygglov", Content: []byte(`{"a":1}`), NotifyEmail: "medborgare@example.se",
	}
	by := cases.Actor{Key: "198107249289", Role: "guardian"}
	b.SetParallelism(4)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := e.Store.Create(context.Background(), nc, by); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "cases/s")
}

func newSQLiteStore(t *testing.T) *cases.SQL {
	t.Helper()
	ctx := context.Background()
	db, d := sqldbtest.Open(t, sqldbtest.SQLiteDSN(t))
	if err := audit.Migrate(ctx, db, d); err != nil {
		t.Fatal(err)
	}
	if err := cases.Migrate(ctx, db, d); err != nil {
		t.Fatal(err)
	}
	al, err := audit.NewSQL(db, d, []byte("0123456789abcdef0123456789abcdef"), audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := cases.NewSQL(db, d, cases.Options{Auditor: al})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestNotificationOnDecisionAndMessages(t *testing.T) {
	s := newSQLiteStore(t)
	ctx := context.Background()
	c, err := s.Create(ctx, cases.NewCase{ModuleID: "bygglov", Prefix: "BYGG", Owner: "198107249289", Title: "Bygglov", NotifyEmail: "tolvan@example.se"}, cases.Actor{Key: "198107249289", Role: "citizen"})
	if err != nil {
		t.Fatal(err)
	}
	handler := cases.Actor{Key: "staff:idp:h1", Role: "building-handler"}
	if _, err := s.AddMessage(ctx, c.ID, cases.NewMessage{Direction: cases.ToCitizen, Body: "Beslut: beviljas."}, handler); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetStatus(ctx, c.ID, cases.Decided, "", handler); err != nil {
		t.Fatal(err)
	}
	mails, err := s.Mails(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(mails) != 2 || mails[1].To != "tolvan@example.se" || !strings.Contains(mails[1].Subject, c.Number) {
		t.Fatalf("want the confirmation and one notification, got %+v", mails)
	}
	if strings.Contains(mails[1].Body, "beviljas") || strings.Contains(mails[1].Body, "198107249289") {
		t.Error("the notification mail carries the message or the personnummer")
	}
	// Without an address nothing is queued.
	c2, _ := s.Create(ctx, cases.NewCase{ModuleID: "bygglov", Prefix: "BYGG", Owner: "195006262546", Title: "Bygglov"}, cases.Actor{Key: "195006262546", Role: "citizen"})
	if _, err := s.AddMessage(ctx, c2.ID, cases.NewMessage{Direction: cases.ToCitizen, Body: "Hej"}, handler); err != nil {
		t.Fatal(err)
	}
	if mails, _ := s.Mails(ctx, c2.ID); len(mails) != 1 {
		t.Errorf("without an address: %d mails", len(mails))
	}
}
