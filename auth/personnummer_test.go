package auth

import (
	"errors"
	"testing"
	"time"
)

var pnNow = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

func TestParsePersonalNumber(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		coord   bool
		wantErr error
	}{
		{"201701102384", "201701102384", false, nil},
		{"200809032386", "200809032386", false, nil},
		{"198107249289", "198107249289", false, nil},
		{"195006262546", "195006262546", false, nil},
		{"19810724-9289", "198107249289", false, nil},
		{"810724-9289", "198107249289", false, nil},
		{"8107249289", "198107249289", false, nil},
		{"170110-2384", "201701102384", false, nil},
		{"500626+2546", "185006262546", false, nil},
		{"197010632391", "197010632391", true, nil},
		{"701063-2391", "197010632391", true, nil},
		{"201701272394", "", false, ErrPNCheckDigit},
		{"190302299813", "", false, ErrPNDate},
		{"198113249289", "", false, ErrPNDate},
		{"19810724928", "", false, ErrPNFormat},
		{"1981072492891", "", false, ErrPNFormat},
		{"19810724+9289", "", false, ErrPNFormat},
		{"19810724x9289", "", false, ErrPNFormat},
		{"abcdefghijkl", "", false, ErrPNFormat},
		{"", "", false, ErrPNFormat},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			p, err := ParsePersonalNumber(tc.in, pnNow)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			if p.Digits() != tc.want {
				t.Errorf("Digits = %q, want %q", p.Digits(), tc.want)
			}
			if p.IsCoordinationNumber() != tc.coord {
				t.Errorf("IsCoordinationNumber = %v, want %v", p.IsCoordinationNumber(), tc.coord)
			}
			if p.String() != tc.want[:8]+"-XXXX" {
				t.Errorf("String = %q leaks or is malformed", p.String())
			}
		})
	}
}

func TestMaskPersonalNumber(t *testing.T) {
	if got := MaskPersonalNumber("198107249289"); got != "19810724-XXXX" {
		t.Fatalf("got %q", got)
	}
	if got := MaskPersonalNumber("12345"); got != "XXXXXXXX-XXXX" {
		t.Fatalf("short input not hidden: %q", got)
	}
}

func FuzzParsePersonalNumber(f *testing.F) {
	for _, s := range []string{"201701102384", "810724-9289", "500626+2546", "197010632391", "190302299813", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePersonalNumber(s, pnNow)
		if err != nil {
			return
		}
		d := p.Digits()
		if !ValidPersonalNumber(d) {
			t.Fatalf("accepted %q normalised to invalid %q", s, d)
		}
		again, err := ParsePersonalNumber(d, pnNow)
		if err != nil || again.Digits() != d {
			t.Fatalf("normalised form %q does not round-trip: %v", d, err)
		}
	})
}
