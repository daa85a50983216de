package redisstore_test

import (
	"encoding/json"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/civicgate/civicgate/auth"
	"github.com/civicgate/civicgate/auth/session"
	redisstore "github.com/civicgate/civicgate/auth/session/redis"
	"github.com/civicgate/civicgate/auth/session/sessiontest"
)

// fill sets every field reachable from v to a non-zero value, so that
// json.Marshal writes every key the struct has (omitempty included).
func fill(t *testing.T, v reflect.Value, name string) {
	t.Helper()
	switch {
	case v.Type() == reflect.TypeFor[time.Time]():
		v.Set(reflect.ValueOf(time.Date(2026, 3, 4, 5, 6, 7, 8009, time.FixedZone("", 3600))))
		return
	case v.Type() == reflect.TypeFor[auth.LoA]():
		v.Set(reflect.ValueOf(auth.LoAHigh))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString("v-" + name + " åäö")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64:
		v.SetInt(900000000000)
	case reflect.Slice:
		if v.Type().Elem().Kind() != reflect.String {
			t.Fatalf("%s: slice of %s is new to the direct decoder", name, v.Type().Elem())
		}
		v.Set(reflect.ValueOf([]string{"r1-" + name, "r2"}))
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(t, v.Elem(), name)
	case reflect.Struct:
		for i := range v.NumField() {
			if f := v.Type().Field(i); f.IsExported() {
				fill(t, v.Field(i), name+"."+f.Name)
			}
		}
	default:
		t.Fatalf("%s: kind %s is new to the direct decoder", name, v.Kind())
	}
}

// sameAsJSON checks that DecodeSession gives exactly what json.Unmarshal
// gives, error or not.
func sameAsJSON(t *testing.T, data string) {
	t.Helper()
	var want, got session.Session
	wantErr := json.Unmarshal([]byte(data), &want)
	gotErr := redisstore.DecodeSession(data, &got)
	if (wantErr == nil) != (gotErr == nil) {
		t.Fatalf("decoding %q: error %v, encoding/json says %v", data, gotErr, wantErr)
	}
	if wantErr == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("decoding %q:\n got %+v\nwant %+v", data, got, want)
	}
}

// TestDecodeKnowsEveryField fails when a field is added to session.Session,
// auth.Identity or session.ActingFor without teaching the direct decoder
// its key: every record would then take the slow path.
func TestDecodeKnowsEveryField(t *testing.T) {
	var s session.Session
	fill(t, reflect.ValueOf(&s).Elem(), "Session")
	data, err := json.Marshal(&s)
	if err != nil {
		t.Fatal(err)
	}
	if !redisstore.DecodesDirectly(string(data)) {
		t.Errorf("the direct decoder refuses a record with every field set (a new key?): %s", data)
	}
	sameAsJSON(t, string(data))
	// And the session shape Put writes most often.
	data, err = json.Marshal(benchSession(1))
	if err != nil {
		t.Fatal(err)
	}
	if !redisstore.DecodesDirectly(string(data)) {
		t.Errorf("the direct decoder refuses a typical record: %s", data)
	}
	sameAsJSON(t, string(data))
}

// decodeCases are records the direct path must decode exactly as
// encoding/json does, or leave to it.
var decodeCases = []string{
	``,
	`{}`,
	`null`,
	`[]`,
	`{"csrf":"x"`,
	`{"csrf":"x"}trailing`,
	`{"csrf":"x"} `,
	` {"csrf":"x"}`,
	`{"csrf" : "x"}`,
	`{"csrf":"a\"b"}`,
	`{"csrf":"\u00e5"}`,
	`{"csrf":"` + "\xff" + `"}`,
	`{"csrf":"` + "\x01" + `"}`,
	`{"csrf":"åäö ✓"}`,
	`{"csrf":null}`,
	`{"CSRF":"x"}`,
	`{"unknown":1,"csrf":"x"}`,
	`{"csrf":"x","csrf":"y"}`,
	`{"csrf":1}`,
	`{"idle":900000000000}`,
	`{"idle":-5}`,
	`{"idle":-0}`,
	`{"idle":0}`,
	`{"idle":01}`,
	`{"idle":1.5}`,
	`{"idle":1e3}`,
	`{"idle":-}`,
	`{"idle":99999999999999999999}`,
	`{"idle":"5"}`,
	`{"created":"2026-03-04T05:06:07.000008009+01:00"}`,
	`{"created":"2026-03-04T05:06:07Z"}`,
	`{"created":"2026-03-04 05:06:07Z"}`,
	`{"created":"2026-13-04T05:06:07Z"}`,
	`{"created":"0001-01-01T00:00:00Z"}`,
	`{"created":null}`,
	`{"identity":{"kind":"citizen","pnr":"198107249289","coord":true,"loa":"high","roles":["a","b"]}}`,
	`{"identity":{"coord":false}}`,
	`{"identity":{"coord":"true"}}`,
	`{"identity":{"coord":tru}}`,
	`{"identity":{"loa":"LOA3"}}`,
	`{"identity":{"loa":" substantial"}}`,
	`{"identity":{"loa":"bogus"}}`,
	`{"identity":{"loa":2}}`,
	`{"identity":{"roles":[]}}`,
	`{"identity":{"roles":null}}`,
	`{"identity":{"roles":["a",]}}`,
	`{"identity":{"roles":["a" "b"]}}`,
	`{"identity":{"roles":[1]}}`,
	`{"identity":{"pnr":"x"},"identity":{"given":"y"}}`,
	`{"identity":{"roles":["a","b"]},"identity":{"roles":["c"]}}`,
	`{"identity":null}`,
	`{"acting_for":{"pnr":"195006262546","reason":"phone","since":"2026-03-04T05:06:07Z","channel":"visit"}}`,
	`{"acting_for":{"pnr":"195006262546"},"acting_for":{"name":"B"}}`,
	`{"acting_for":null}`,
	`{"acting_for":{}}`,
	`{"acting_for":{"unknown":"x"}}`,
}

func TestDecodeMatchesEncodingJSON(t *testing.T) {
	for _, c := range decodeCases {
		sameAsJSON(t, c)
	}
	// Values json.Marshal escapes.
	for _, v := range []string{`<script>&amp;`, "line\nbreak", "tab\t", `back\slash`, "\u2028", "invalid \xc3"} {
		s := benchSession(2)
		s.UserAgent = v
		s.Identity.Roles = []string{v, "x"}
		data, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		sameAsJSON(t, string(data))
	}
}

func FuzzDecodeSession(f *testing.F) {
	for _, c := range decodeCases {
		f.Add(c)
	}
	data, _ := json.Marshal(benchSession(3))
	f.Add(string(data))
	f.Fuzz(func(t *testing.T, data string) {
		sameAsJSON(t, data)
	})
}

// TestIdleSlackIsTheSuites checks the backend's rule against the one the
// conformance suite states, beyond the 15-minute idle timeout it tests.
func TestIdleSlackIsTheSuites(t *testing.T) {
	for _, idle := range []time.Duration{0, -time.Second, time.Millisecond, 59 * time.Millisecond, 60 * time.Millisecond,
		119*time.Millisecond + 999*time.Microsecond, time.Second, time.Minute, 15*time.Minute + 7, 15 * time.Minute, 2 * time.Hour} {
		if got, want := redisstore.IdleSlack(idle), sessiontest.IdleSlack(idle); got != want {
			t.Errorf("IdleSlack(%v) = %v, the suite says %v", idle, got, want)
		}
	}
}

// TestGetWithinSlackIsARead checks that a Get within the slack writes
// nothing (last-seen and the Redis TTL stay), and that one past it moves
// both.
func TestGetWithinSlackIsARead(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	idle := 15 * time.Minute
	s := citizenSession(f.clock.Now(), "198107249289", "", idle, 8*time.Hour)
	if err := f.store.Put(ctx, s); err != nil {
		t.Fatal(err)
	}
	key := f.prefix + "s:" + session.HashID(s.ID)
	state := func() (string, time.Duration) {
		t.Helper()
		l, err := f.client.HGet(ctx, key, "l").Result()
		if err != nil {
			t.Fatal(err)
		}
		at, err := f.client.PExpireTime(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		return l, at
	}
	l0, at0 := state()
	for _, step := range []time.Duration{time.Millisecond, 10 * time.Second, 5*time.Second - 2*time.Millisecond} {
		f.clock.Advance(step)
		if _, err := f.store.Get(ctx, s.ID); err != nil {
			t.Fatal(err)
		}
		if l, at := state(); l != l0 || at != at0 {
			t.Fatalf("a Get within the slack changed the record: last-seen %s -> %s, expiry %v -> %v", l0, l, at0, at)
		}
	}
	now := f.clock.Advance(time.Millisecond) // exactly the slack after the Put
	if _, err := f.store.Get(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	l, at := state()
	if want := strconv.FormatInt(now.UnixMilli(), 10); l != want {
		t.Errorf("last-seen after a Get past the slack = %s, want %s", l, want)
	}
	if want := time.Duration(now.Add(idle).UnixMilli()) * time.Millisecond; at != want {
		t.Errorf("expiry after a Get past the slack = %v, want %v", at, want)
	}
}
