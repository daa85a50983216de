package auth

import (
	"slices"
	"testing"
)

func TestURIsAtLeast(t *testing.T) {
	sub := URIsAtLeast(LoASubstantial, URIOptions{})
	for _, want := range []string{URILoA3, URILoA4, URIEidasSubstantial, URIEidasNfSubstantial, URIEidasHigh, URIEidasNfHigh} {
		if !slices.Contains(sub, want) {
			t.Errorf("substantial misses %s", want)
		}
	}
	for _, bad := range []string{URILoA2, URIUncertifiedLoA3, URILoA3NonResident, URIEidasLow} {
		if slices.Contains(sub, bad) {
			t.Errorf("substantial includes %s", bad)
		}
	}
	if !slices.Contains(URIsAtLeast(LoASubstantial, URIOptions{AcceptUncertified: true}), URIUncertifiedLoA3) {
		t.Error("AcceptUncertified ignored")
	}
	high := URIsAtLeast(LoAHigh, URIOptions{AcceptUncertified: true, NonResident: true})
	if slices.Contains(high, URILoA3) || !slices.Contains(high, URILoA4) {
		t.Errorf("high = %v", high)
	}
	if l, ok := LoAFromURI("http://example.com/loa"); ok || l != LoANone {
		t.Error("unknown URI accepted")
	}
	if l, _ := LoAFromURI(URILoA4); l != LoAHigh {
		t.Error("loa4 not high")
	}
}

func TestParseLoA(t *testing.T) {
	for in, want := range map[string]LoA{"loa3": LoASubstantial, "High": LoAHigh, "none": LoANone, "low": LoALow} {
		got, err := ParseLoA(in)
		if err != nil || got != want {
			t.Errorf("ParseLoA(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseLoA("medium"); err == nil {
		t.Error("ParseLoA accepted medium")
	}
}
