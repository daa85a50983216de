package audit

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var key = []byte("0123456789abcdef0123456789abcdef")

func TestComputeHashUnambiguous(t *testing.T) {
	base := Entry{Seq: 7, Time: time.UnixMilli(1700000000123), RequestID: "ab", Actor: "system",
		Action: "login", Resource: "idp:x", Outcome: Success, PrevHash: GenesisHash}
	h := ComputeHash(base)
	if len(h) != 64 {
		t.Fatalf("hash %q is not hex SHA-256", h)
	}
	if ComputeHash(base) != h {
		t.Fatal("hash is not deterministic")
	}
	variants := map[string]func(e *Entry){
		"seq":              func(e *Entry) { e.Seq = 8 },
		"time":             func(e *Entry) { e.Time = e.Time.Add(time.Millisecond) },
		"boundary shifted": func(e *Entry) { e.RequestID, e.Actor = "a", "bsystem" },
		"role":             func(e *Entry) { e.ActorRole = "citizen" },
		"subject":          func(e *Entry) { e.SubjectHMAC = "00" },
		"detail":           func(e *Entry) { e.Detail = map[string]string{"k": "v"} },
		"prev":             func(e *Entry) { e.PrevHash = strings.Repeat("1", 64) },
		"outcome":          func(e *Entry) { e.Outcome = Denied },
	}
	for name, change := range variants {
		e := base
		change(&e)
		if ComputeHash(e) == h {
			t.Errorf("%s: changing the entry kept its hash", name)
		}
	}
	// The nanoseconds below a millisecond are not stored, so not hashed.
	e := base
	e.Time = e.Time.Add(999 * time.Microsecond)
	if ComputeHash(e) != h {
		t.Error("sub-millisecond time changed the hash")
	}
	// Detail keys are hashed in sorted order whatever the map's order.
	a, b := base, base
	a.Detail = map[string]string{"a": "1", "b": "2", "c": "3"}
	b.Detail = map[string]string{"c": "3", "a": "1", "b": "2"}
	if ComputeHash(a) != ComputeHash(b) || detailJSON(a.Detail) != `{"a":"1","b":"2","c":"3"}` {
		t.Error("detail encoding depends on map order")
	}
}

func TestPseudonyms(t *testing.T) {
	p := pseudonymizer{key: key}
	other := pseudonymizer{key: []byte(strings.Repeat("k", 32))}
	if p.subject("") != "" {
		t.Error("empty subject got a pseudonym")
	}
	h := p.subject("198107249289")
	if len(h) != 64 || h == other.subject("198107249289") || h == p.subject("195006262546") {
		t.Errorf("pseudonym %q is not a keyed HMAC of the subject", h)
	}
	if p.subject("19810724-9289") != h || p.subject(" 198107249289 ") != h {
		t.Error("the same personnummer written differently got another pseudonym")
	}
	for actor, want := range map[string]string{
		"system":               "system",
		"staff:workforce:a7":   "staff:workforce:a7",
		"":                     "",
		"198107249289":         "hmac:" + h,
		"prid:SE/X1":           "hmac:" + p.subject("prid:SE/X1"),
		"something-unexpected": "hmac:" + p.subject("something-unexpected"),
	} {
		if got := p.actor(actor); got != want {
			t.Errorf("actor(%q) = %q, want %q", actor, got, want)
		}
	}
}

func TestScrub(t *testing.T) {
	p := pseudonymizer{key: key}
	ph := "hmac:" + p.subject("198107249289")[:16]
	for in, want := range map[string]string{
		"case:BYGG-2026-000123":                       "case:BYGG-2026-000123",
		"person:198107249289":                         "person:" + ph,
		"19810724-9289 and 195006262546":              ph + " and hmac:" + p.subject("195006262546")[:16],
		"short 810724-9289":                           "short hmac:" + p.subject("810724-9289")[:16],
		"order 1198107249289 is no person":            "order 1198107249289 is no person",
		"case-draft:f8be16ad9df4912033a257679632013a": "case-draft:f8be16ad9df4912033a257679632013a",
		"id 201701272394 has a wrong check digit":     "id 201701272394 has a wrong check digit",
		"": "",
	} {
		if got := p.scrub(in); got != want {
			t.Errorf("scrub(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestConfigAndLoadKey(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	text := write("text.key", []byte("  "+strings.Repeat("ab", 20)+"\n"))
	if k, err := LoadKey(text); err != nil || string(k) != strings.Repeat("ab", 20) {
		t.Errorf("text key = %q, %v", k, err)
	}
	raw := append([]byte{0, 0xff, 0x80}, []byte(strings.Repeat("x", 29)+"\n")...)
	if k, err := LoadKey(write("raw.key", raw)); err != nil || len(k) != 33 {
		t.Errorf("binary key not used byte for byte: %d bytes, %v", len(k), err)
	}
	short := write("short.key", []byte(strings.Repeat("a", 31)+"\n"))
	if _, err := LoadKey(short); err == nil || strings.Contains(err.Error(), "aaaa") {
		t.Errorf("short key: %v", err)
	}

	if err := (Config{HMACKeyFile: text}).Validate(); err != nil {
		t.Errorf("valid config: %v", err)
	}
	for cfg, want := range map[Config]string{
		{}:                                  "hmac_key_file: required",
		{HMACKeyFile: short}:                "hmac_key_file: ",
		{HMACKeyFile: dir + "/nonexistent"}: "hmac_key_file: ",
	} {
		if err := cfg.Validate(); err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("Validate(%+v) = %v, want %q…", cfg, err, want)
		}
	}
}

func TestReportString(t *testing.T) {
	ok := Report{Entries: 3, OK: true, HeadSeq: 3, HeadHash: "ab"}
	if s := ok.String(); !strings.Contains(s, "intact") || !strings.Contains(s, "3 entries") {
		t.Errorf("OK report: %q", s)
	}
	bad := Report{Entries: 4, Problems: []Problem{
		{Seq: 3, Kind: KindMissing, Detail: "entry 3 is missing (deleted) before entry 4"},
		{Seq: 5, Kind: KindTruncated, Detail: "entries 5 at the end are missing"},
	}}
	s := bad.String()
	if !strings.Contains(s, "BROKEN") || !strings.Contains(s, "\n  seq 3: entry 3 is missing") || strings.Count(s, "\n") != 2 {
		t.Errorf("broken report: %q", s)
	}
}
