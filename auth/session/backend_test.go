package session

import (
	"strings"
	"testing"
	"time"
)

func TestWindow(t *testing.T) {
	start := time.UnixMilli(1_700_000_040_000) // a whole minute
	for _, tc := range []struct {
		at      time.Duration
		sameWin bool
	}{{0, true}, {59 * time.Second, true}, {time.Minute - time.Millisecond, true}, {time.Minute, false}} {
		n0, end0 := Window(start, time.Minute)
		n, end := Window(start.Add(tc.at), time.Minute)
		if (n == n0) != tc.sameWin {
			t.Errorf("at +%v: window %d, start's %d; same = %v, want %v", tc.at, n, n0, n == n0, tc.sameWin)
		}
		if tc.sameWin && !end.Equal(end0) {
			t.Errorf("at +%v: end %v, want %v", tc.at, end, end0)
		}
		if !end.After(start.Add(tc.at)) || end.Sub(start.Add(tc.at)) > time.Minute {
			t.Errorf("at +%v: end %v is not within the next minute", tc.at, end)
		}
	}
}

func TestHashesKeepValuesOut(t *testing.T) {
	const pnr = "198107249289"
	p := HashPersonKey(pnr)
	if len(p) != 64 || strings.Contains(p, pnr) {
		t.Errorf("HashPersonKey = %q, want 64 hex digits without the number", p)
	}
	if p == HashID(pnr) || p == HashKey("civicgate flow", pnr) {
		t.Error("hashes of different domains collide")
	}
	if HashIdPSession("ab", "c") == HashIdPSession("a", "bc") {
		t.Error("HashIdPSession does not separate idp from sid")
	}
	if HashPersonKey(pnr) != p {
		t.Error("HashPersonKey is not deterministic")
	}
}
