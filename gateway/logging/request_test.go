package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestRequestLineIsSlogs checks that the hand-written access-log line says
// exactly what slog's JSON handler says for the same request, for awkward
// strings too, and masks a personnummer in the path.
func TestRequestLineIsSlogs(t *testing.T) {
	lines := []RequestLine{
		{RequestID: "abc123", Method: "GET", Path: "/e/bygglov/", Client: "192.0.2.1", Status: 200, Bytes: 5120, Duration: 1234567 * time.Nanosecond},
		{RequestID: "x", Method: "POST", Path: "/sök/19810724-9289/a\"b\\c\n\t\r\x01<&>\u2028\u2029\xff\xfe", Client: "2001:db8::1", Status: 503, Bytes: 0, Duration: 0},
		{Method: "BREW", Path: "/198107249289", Status: 404, Duration: 42 * time.Millisecond},
	}
	for _, l := range lines {
		var fast, slow bytes.Buffer
		Request(context.Background(), New(&fast, "json", "info"), l)
		Request(context.Background(), slog.New(Redact(slog.NewJSONHandler(&slow, nil))), l)
		if strings.Count(fast.String(), "\n") != 1 || !strings.HasSuffix(fast.String(), "\n") {
			t.Fatalf("not one line: %q", fast.String())
		}
		got, want := decode(t, fast.Bytes()), decode(t, slow.Bytes())
		for _, m := range []map[string]any{got, want} {
			ts, _ := m["time"].(string)
			if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
				t.Errorf("time %q: %v", ts, err)
			}
			delete(m, "time")
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("hand-written line\n%v\nslog's line\n%v", got, want)
		}
		// Byte for byte, but for the time.
		stamp := regexp.MustCompile(`^\{"time":"[^"]*"`)
		if a, b := stamp.ReplaceAllString(fast.String(), "T"), stamp.ReplaceAllString(slow.String(), "T"); a != b {
			t.Errorf("hand-written line\n%s\nslog's line\n%s", a, b)
		}
		if strings.Contains(fast.String(), "9289") {
			t.Errorf("personnummer in the access log: %s", fast.String())
		}
	}

	// Below the logger's level nothing is written; a 5xx is an error.
	var buf bytes.Buffer
	log := New(&buf, "json", "error")
	Request(context.Background(), log, lines[0])
	if buf.Len() != 0 {
		t.Errorf("an info line at level error: %s", buf.String())
	}
	Request(context.Background(), log, lines[1])
	if m := decode(t, buf.Bytes()); m["level"] != "ERROR" {
		t.Errorf("a 503 logged at %v", m["level"])
	}
}

func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not JSON (%v): %s", err, b)
	}
	return m
}

// BenchmarkRequestLine is one access-log line through the hand-written
// path; BenchmarkRequestLineSlog the same through slog.
func BenchmarkRequestLine(b *testing.B) {
	benchLine(b, New(discard{}, "json", "info"))
}

func BenchmarkRequestLineSlog(b *testing.B) {
	benchLine(b, slog.New(Redact(slog.NewJSONHandler(discard{}, nil))))
}

func benchLine(b *testing.B, log *slog.Logger) {
	l := RequestLine{RequestID: "0123456789abcdef", Method: "GET", Path: "/e/bygglov/ansokan", Client: "192.0.2.1", Status: 200, Bytes: 5120, Duration: time.Millisecond}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		Request(ctx, log, l)
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
