package sessiontest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/civicgate/civicgate/auth"
	"github.com/civicgate/civicgate/auth/session"
)

// Test personnummer from the Swedish Tax Agency's list of numbers that are
// never assigned.
const (
	pnrAnna   = "198107249289"
	pnrBertil = "195006262546"
	pnrChild  = "201701102384"
	pnrOther  = "200809032386"
	pnrCoord  = "197010632391"
)

// RunStoreTests runs the session.Store conformance suite. newStore returns a
// fresh, empty store and the FastForward that drives its clock.
func RunStoreTests(t *testing.T, newStore func(t *testing.T) (session.Store, FastForward)) {
	tests := []struct {
		name string
		fn   func(t *testing.T, st session.Store, ff FastForward)
	}{
		{"RoundTrip", testRoundTrip},
		{"UnknownID", testUnknownID},
		{"DeleteIdempotent", testDeleteIdempotent},
		{"Replace", testReplace},
		{"ReplaceWithAnotherPerson", testReplaceOtherPerson},
		{"PutExpiredRefused", testPutExpired},
		{"IdleExpiry", testIdleExpiry},
		{"IdleSlack", testIdleSlack},
		{"AbsoluteCapsIdle", testAbsoluteCapsIdle},
		{"NoIdleTimeout", testNoIdleTimeout},
		{"DeleteByIdPSession", testDeleteByIdPSession},
		{"ListAndDeleteByPerson", testListAndDeleteByPerson},
		{"CancelledContext", testStoreCancelledContext},
		{"Concurrency", testStoreConcurrency},
		{"DeleteNeverResurrected", testDeleteNeverResurrected},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, ff := newStore(t)
			tc.fn(t, st, ff)
		})
	}
}

// citizen returns a citizen identity logged in with a Swedish e-ID.
func citizen(pnr, idp, sid string) auth.Identity {
	return auth.Identity{
		Kind:           auth.Citizen,
		PersonalNumber: pnr,
		GivenName:      "Anna",
		FamilyName:     "Testsson",
		LoA:            auth.LoASubstantial,
		LoAURI:         auth.URILoA3,
		IdP:            idp,
		Method:         "saml",
		SessionIndex:   sid,
	}
}

// newSession returns a session that starts now with the given timeouts.
func newSession(now time.Time, id auth.Identity, idle, absolute time.Duration) *session.Session {
	id.AuthTime = now.Add(-time.Second)
	return &session.Session{
		ID:          session.NewID(),
		Identity:    id,
		CSRF:        session.NewID(),
		Created:     now,
		Expires:     now.Add(absolute),
		IdleTimeout: idle,
		LastSeen:    now,
		UserAgent:   "Firefox on Linux",
	}
}

func put(t *testing.T, st session.Store, s *session.Session) {
	t.Helper()
	if err := st.Put(context.Background(), s); err != nil {
		t.Fatalf("Put: %v", err)
	}
}

func mustGet(t *testing.T, st session.Store, id, when string) *session.Session {
	t.Helper()
	got, err := st.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("Get %s: %v, want the session", when, err)
	}
	if got.ID != id {
		t.Fatalf("Get %s: returned a session with another ID", when)
	}
	return got
}

func mustBeGone(t *testing.T, st session.Store, id, when string) {
	t.Helper()
	got, err := st.Get(context.Background(), id)
	if !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("Get %s: got (%v, %v), want ErrNotFound", when, got != nil, err)
	}
	if errors.Is(err, session.ErrUnavailable) {
		t.Fatalf("Get %s: error is both ErrNotFound and ErrUnavailable: %v", when, err)
	}
}

// utc returns a copy of s with every time in UTC, so sessions that went
// through a codec compare equal with reflect.DeepEqual.
func utc(s *session.Session) *session.Session {
	c := *s
	c.Created = c.Created.UTC()
	c.Expires = c.Expires.UTC()
	c.LastSeen = c.LastSeen.UTC()
	c.Identity.AuthTime = c.Identity.AuthTime.UTC()
	c.Identity.NotOnOrAfter = c.Identity.NotOnOrAfter.UTC()
	if c.ActingFor != nil {
		a := *c.ActingFor
		a.Since = a.Since.UTC()
		c.ActingFor = &a
	}
	return &c
}

func testRoundTrip(t *testing.T, st session.Store, ff FastForward) {
	now := ff(0)
	full := newSession(now, auth.Identity{
		Kind:           auth.Citizen,
		PersonalNumber: pnrAnna,
		Subject:        "pairwise-subject-1",
		GivenName:      "Anna",
		FamilyName:     "Testsson",
		DisplayName:    "Anna Testsson",
		DateOfBirth:    "1981-07-24",
		Email:          "anna@example.org",
		LoA:            auth.LoAHigh,
		LoAURI:         auth.URILoA4,
		IdP:            "bankid",
		Method:         "saml",
		SessionIndex:   "_idp-session-1",
		NotOnOrAfter:   now.Add(4 * time.Hour),
		NameIDFormat:   "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
		TransactionID:  "txn-42",
	}, 15*time.Minute, 8*time.Hour)

	staff := newSession(now, auth.Identity{
		Kind:    auth.Staff,
		Subject: "agent-7",
		LoA:     auth.LoASubstantial,
		IdP:     "workforce",
		Method:  "oidc",
		Roles:   []string{"contact-centre", "case-reader"},
	}, 30*time.Minute, 10*time.Hour)
	staff.ActingFor = &session.ActingFor{PersonalNumber: pnrBertil, Name: "Bertil Test", Reason: "phone call", Since: now}

	for _, s := range []*session.Session{full, staff} {
		put(t, st, s)
		ff(time.Minute)
		got := mustGet(t, st, s.ID, "after Put")
		if !got.LastSeen.Equal(ff(0)) {
			t.Errorf("LastSeen = %v, want the time of the Get %v", got.LastSeen, ff(0))
		}
		want := utc(s)
		want.LastSeen = got.LastSeen
		if g := utc(got); !reflect.DeepEqual(g, want) {
			t.Errorf("Get returned\n%+v\nwant\n%+v", *g, *want)
		}
		// The caller's copy is its own: changing it must not change the store.
		got.CSRF = "changed"
		got.Identity.Roles = append(got.Identity.Roles, "admin")
		again := mustGet(t, st, s.ID, "after modifying a returned copy")
		if again.CSRF != s.CSRF || again.Identity.HasRole("admin") {
			t.Error("modifying a returned session changed the stored one")
		}
	}
}

func testUnknownID(t *testing.T, st session.Store, _ FastForward) {
	for _, id := range []string{session.NewID(), "", "not-a-session-id", session.NewID() + "x"} {
		mustBeGone(t, st, id, "of an unknown ID")
	}
}

func testDeleteIdempotent(t *testing.T, st session.Store, ff FastForward) {
	ctx := context.Background()
	s := newSession(ff(0), citizen(pnrAnna, "bankid", ""), 15*time.Minute, 8*time.Hour)
	put(t, st, s)
	if err := st.Delete(ctx, s.ID); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	mustBeGone(t, st, s.ID, "after Delete")
	if err := st.Delete(ctx, s.ID); err != nil {
		t.Errorf("second Delete: %v, want nil", err)
	}
	if err := st.Delete(ctx, session.NewID()); err != nil {
		t.Errorf("Delete of an unknown ID: %v, want nil", err)
	}
	if err := st.Delete(ctx, "malformed"); err != nil {
		t.Errorf("Delete of a malformed ID: %v, want nil", err)
	}
}

func testReplace(t *testing.T, st session.Store, ff FastForward) {
	s := newSession(ff(0), citizen(pnrAnna, "bankid", "sid-1"), 15*time.Minute, 8*time.Hour)
	put(t, st, s)
	r := *s
	r.CSRF = session.NewID()
	put(t, st, &r)
	if got := mustGet(t, st, s.ID, "after replacing"); got.CSRF != r.CSRF {
		t.Error("Get after replacing returned the old CSRF token")
	}
	list, err := st.List(context.Background(), pnrAnna)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(list) != 1 {
		t.Errorf("List after replacing has %d sessions, want 1", len(list))
	}
}

// testReplaceOtherPerson checks that index entries left behind by a
// replaced session cannot end or list the new one.
func testReplaceOtherPerson(t *testing.T, st session.Store, ff FastForward) {
	ctx := context.Background()
	s := newSession(ff(0), citizen(pnrAnna, "bankid", "sid-a"), 15*time.Minute, 8*time.Hour)
	put(t, st, s)
	r := *s
	r.Identity = citizen(pnrBertil, "freja", "sid-b")
	put(t, st, &r)
	if n, err := st.DeleteByPerson(ctx, pnrAnna); err != nil || n != 0 {
		t.Errorf("DeleteByPerson of the former owner = (%d, %v), want (0, nil)", n, err)
	}
	if n, err := st.DeleteByIdPSession(ctx, "bankid", "sid-a"); err != nil || n != 0 {
		t.Errorf("DeleteByIdPSession of the former IdP session = (%d, %v), want (0, nil)", n, err)
	}
	if l, err := st.List(ctx, pnrAnna); err != nil || len(l) != 0 {
		t.Errorf("List of the former owner = (%d, %v), want empty", len(l), err)
	}
	if got := mustGet(t, st, s.ID, "after deleting the former owner's sessions"); got.Identity.PersonalNumber != pnrBertil {
		t.Error("Get returned the former owner")
	}
	if l, err := st.List(ctx, pnrBertil); err != nil || len(l) != 1 {
		t.Errorf("List of the new owner = (%d, %v), want 1", len(l), err)
	}
	if n, err := st.DeleteByIdPSession(ctx, "freja", "sid-b"); err != nil || n != 1 {
		t.Errorf("DeleteByIdPSession of the new IdP session = (%d, %v), want (1, nil)", n, err)
	}
	mustBeGone(t, st, s.ID, "after DeleteByIdPSession")
}

func testPutExpired(t *testing.T, st session.Store, ff FastForward) {
	now := ff(0)
	s := newSession(now.Add(-time.Hour), citizen(pnrAnna, "bankid", ""), 15*time.Minute, time.Hour)
	if err := st.Put(context.Background(), s); err == nil {
		t.Error("Put of a session whose Expires is now succeeded, want an error")
	}
	mustBeGone(t, st, s.ID, "after a refused Put")
	s.Expires = now.Add(-time.Second)
	if err := st.Put(context.Background(), s); err == nil {
		t.Error("Put of a session past Expires succeeded, want an error")
	}
	mustBeGone(t, st, s.ID, "after a refused Put")
}

func testIdleExpiry(t *testing.T, st session.Store, ff FastForward) {
	now := ff(0)
	idle := 15 * time.Minute
	kept := newSession(now, citizen(pnrAnna, "bankid", ""), idle, 8*time.Hour)
	left := newSession(now, citizen(pnrAnna, "bankid", ""), idle, 8*time.Hour)
	put(t, st, kept)
	put(t, st, left)

	ff(idle - time.Minute)
	mustGet(t, st, kept.ID, "just before the idle timeout")
	ff(idle - time.Minute)
	// kept was touched a moment ago; left has now been idle for 28 minutes.
	mustGet(t, st, kept.ID, "after its idle timeout was extended by a Get")
	mustBeGone(t, st, left.ID, "of a session idle past its timeout")
	// The last Get came more than IdleSlack after the one before, so it
	// extended the idle timeout, and the session ends exactly idle after it.
	// List looks without extending.
	ff(idle - time.Millisecond)
	if l, err := st.List(context.Background(), pnrAnna); err != nil || len(l) != 1 {
		t.Errorf("List a millisecond before the idle timeout = (%d, %v), want 1 session", len(l), err)
	}
	ff(time.Millisecond)
	if l, err := st.List(context.Background(), pnrAnna); err != nil || len(l) != 0 {
		t.Errorf("List at the idle timeout = (%d, %v), want empty", len(l), err)
	}
	mustBeGone(t, st, kept.ID, "exactly one idle timeout after the last Get")
}

// IdleSlack is how long after a session's last idle extension a Get leaves
// the idle expiry where it is: min(idle/60, 15s) in whole milliseconds, and
// 15s for a session without an idle timeout (where it only delays the
// last-seen time List shows). Every backend extends exactly when the last
// extension (or the Put) is at least IdleSlack old, so an idle session ends
// idle after its last extension: up to IdleSlack earlier than idle after
// its last Get, never later. Within the slack a Get can then be a pure read.
func IdleSlack(idle time.Duration) time.Duration {
	const most = 15 * time.Second
	if idle <= 0 {
		return most
	}
	return min((idle / 60).Truncate(time.Millisecond), most)
}

// testIdleSlack pins the lazy extension down to the millisecond: which Gets
// extend, when the idle timeout then ends each session, and the last-seen
// time List reports.
func testIdleSlack(t *testing.T, st session.Store, ff FastForward) {
	ctx := context.Background()
	idle := 15 * time.Minute
	slack := IdleSlack(idle)
	if slack != 15*time.Second {
		t.Fatalf("IdleSlack(%v) = %v, want 15s", idle, slack)
	}
	start := ff(0)
	mk := func(ua string) *session.Session {
		s := newSession(start, citizen(pnrOther, "bankid", ""), idle, 8*time.Hour)
		s.UserAgent = ua
		put(t, st, s)
		return s
	}
	a, b, c := mk("a"), mk("b"), mk("c")

	// Within the slack of the Put: no extension.
	ff(slack - time.Millisecond)
	mustGet(t, st, a.ID, "within the slack")
	mustGet(t, st, b.ID, "within the slack")
	// Exactly the slack after the Put: extended.
	ff(time.Millisecond)
	mustGet(t, st, c.ID, "exactly the slack after the Put")
	// a is extended a millisecond before its idle expiry.
	ff(idle - slack - time.Millisecond)
	mustGet(t, st, a.ID, "a millisecond before the idle timeout")

	ff(time.Millisecond) // start + idle
	lastSeen := map[string]time.Time{"a": start.Add(idle - time.Millisecond), "c": start.Add(slack)}
	list, err := st.List(ctx, pnrOther)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(list) != len(lastSeen) {
		t.Fatalf("List idle after the Put = %d sessions, want 2 (b was only read within the slack)", len(list))
	}
	for _, l := range list {
		if want, ok := lastSeen[l.UserAgent]; !ok || !l.LastSeen.Equal(want) {
			t.Errorf("List: session %q last seen %v, want the time of its last extension %v", l.UserAgent, l.LastSeen, want)
		}
	}
	mustBeGone(t, st, b.ID, "idle after the Put, though less than idle after its last Get")

	// This Get comes a millisecond after a's extension: a read only.
	mustGet(t, st, a.ID, "a millisecond after its extension")
	ff(slack) // start + idle + slack
	mustBeGone(t, st, c.ID, "idle after its extension")
	ff(idle - slack - time.Millisecond) // start + 2*idle - 1ms
	mustBeGone(t, st, a.ID, "idle after its last extension, though a Get came since")
}

func testAbsoluteCapsIdle(t *testing.T, st session.Store, ff FastForward) {
	s := newSession(ff(0), citizen(pnrAnna, "bankid", ""), 15*time.Minute, 20*time.Minute)
	put(t, st, s)
	ff(10 * time.Minute)
	mustGet(t, st, s.ID, "10 minutes in")
	ff(9 * time.Minute)
	mustGet(t, st, s.ID, "19 minutes in")
	// Only a minute since the last Get, but the absolute expiry has come.
	ff(time.Minute)
	mustBeGone(t, st, s.ID, "at the absolute expiry")
}

func testNoIdleTimeout(t *testing.T, st session.Store, ff FastForward) {
	s := newSession(ff(0), citizen(pnrAnna, "bankid", ""), 0, time.Hour)
	put(t, st, s)
	ff(50 * time.Minute)
	mustGet(t, st, s.ID, "50 minutes in without an idle timeout")
	ff(10*time.Minute - time.Millisecond)
	mustGet(t, st, s.ID, "a millisecond before the absolute expiry")
	ff(time.Millisecond)
	mustBeGone(t, st, s.ID, "at the absolute expiry")
}

func testDeleteByIdPSession(t *testing.T, st session.Store, ff FastForward) {
	ctx := context.Background()
	now := ff(0)
	mk := func(pnr, idp, sid string) *session.Session {
		s := newSession(now, citizen(pnr, idp, sid), 15*time.Minute, 8*time.Hour)
		put(t, st, s)
		return s
	}
	a1 := mk(pnrAnna, "bankid", "sid-1")
	a2 := mk(pnrAnna, "bankid", "sid-1") // same IdP session, second browser tab flow
	b := mk(pnrAnna, "bankid", "sid-2")
	c := mk(pnrBertil, "freja", "sid-1") // same sid at another IdP
	d := mk(pnrBertil, "bankid", "")     // no IdP session index at all
	e := mk(pnrOther, "bankid", "sid-10")

	n, err := st.DeleteByIdPSession(ctx, "bankid", "sid-1")
	if err != nil {
		t.Fatalf("DeleteByIdPSession: %v", err)
	}
	if n != 2 {
		t.Errorf("DeleteByIdPSession removed %d sessions, want 2", n)
	}
	mustBeGone(t, st, a1.ID, "of a session of the logged-out IdP session")
	mustBeGone(t, st, a2.ID, "of a session of the logged-out IdP session")
	for _, s := range []*session.Session{b, c, d, e} {
		mustGet(t, st, s.ID, "of a session of another IdP session")
	}

	if n, err := st.DeleteByIdPSession(ctx, "bankid", "sid-1"); err != nil || n != 0 {
		t.Errorf("second DeleteByIdPSession = (%d, %v), want (0, nil)", n, err)
	}
	if n, err := st.DeleteByIdPSession(ctx, "bankid", ""); err != nil || n != 0 {
		t.Errorf("DeleteByIdPSession with an empty sid = (%d, %v), want (0, nil)", n, err)
	}
	mustGet(t, st, d.ID, "of a session without a session index after an empty-sid logout")

	// A session that already ended is not counted.
	ff(time.Hour)
	if n, err := st.DeleteByIdPSession(ctx, "bankid", "sid-2"); err != nil || n != 0 {
		t.Errorf("DeleteByIdPSession of an idle-expired session = (%d, %v), want (0, nil)", n, err)
	}
}

func testListAndDeleteByPerson(t *testing.T, st session.Store, ff FastForward) {
	ctx := context.Background()
	start := ff(0)
	var anna []*session.Session
	for i := range 4 {
		s := newSession(ff(time.Minute), citizen(pnrAnna, "bankid", fmt.Sprintf("sid-%d", i)), 15*time.Minute, 8*time.Hour)
		s.UserAgent = fmt.Sprintf("browser %d", i)
		put(t, st, s)
		anna = append(anna, s)
	}
	bertil := newSession(ff(0), citizen(pnrBertil, "freja", "sid-b"), 15*time.Minute, 8*time.Hour)
	put(t, st, bertil)
	// A staff session acting for Anna is the agent's, not Anna's.
	agent := newSession(ff(0), auth.Identity{Kind: auth.Staff, Subject: "agent-7", IdP: "workforce", Method: "oidc", LoA: auth.LoASubstantial}, 15*time.Minute, 8*time.Hour)
	agent.ActingFor = &session.ActingFor{PersonalNumber: pnrAnna, Reason: "phone call", Since: start}
	put(t, st, agent)

	if err := st.Delete(ctx, anna[0].ID); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	ff(10 * time.Minute)
	mustGet(t, st, anna[3].ID, "to keep it alive")
	mustGet(t, st, anna[2].ID, "to keep it alive")
	mustGet(t, st, bertil.ID, "to keep it alive")
	mustGet(t, st, agent.ID, "to keep it alive")
	ff(10 * time.Minute) // anna[1] has now been idle for 22 minutes
	lastSeen := mustGet(t, st, anna[3].ID, "to keep it alive").LastSeen

	list, err := st.List(ctx, pnrAnna)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(list) != 2 {
		t.Fatalf("List returned %d sessions, want 2 (one deleted, one idle-expired)", len(list))
	}
	// Newest login first.
	for i, s := range []*session.Session{anna[3], anna[2]} {
		got := list[i]
		if got.IDHash != session.HashID(s.ID) {
			t.Errorf("List[%d].IDHash is not the hash of the expected session", i)
		}
		if got.IDHash == s.ID {
			t.Errorf("List[%d] exposes the session ID", i)
		}
		if !got.Created.Equal(s.Created) || !got.Expires.Equal(s.Expires) || got.UserAgent != s.UserAgent ||
			got.IdP != "bankid" || got.LoA != auth.LoASubstantial {
			t.Errorf("List[%d] = %+v, does not describe the session", i, got)
		}
	}
	if !list[0].LastSeen.Equal(lastSeen) {
		t.Errorf("List[0].LastSeen = %v, want the last Get %v", list[0].LastSeen, lastSeen)
	}

	for _, key := range []string{pnrBertil, agent.Identity.Key()} {
		if l, err := st.List(ctx, key); err != nil || len(l) != 1 {
			t.Errorf("List of another person = %d sessions, %v; want 1", len(l), err)
		}
	}
	if l, err := st.List(ctx, pnrChild); err != nil || len(l) != 0 {
		t.Errorf("List of a person without sessions = (%v, %v), want empty", l, err)
	}

	n, err := st.DeleteByPerson(ctx, pnrAnna)
	if err != nil {
		t.Fatalf("DeleteByPerson: %v", err)
	}
	if n != 2 {
		t.Errorf("DeleteByPerson removed %d sessions, want 2 live ones", n)
	}
	for _, s := range anna {
		mustBeGone(t, st, s.ID, "after DeleteByPerson")
	}
	if l, err := st.List(ctx, pnrAnna); err != nil || len(l) != 0 {
		t.Errorf("List after DeleteByPerson = (%v, %v), want empty", l, err)
	}
	mustGet(t, st, bertil.ID, "of another person after DeleteByPerson")
	mustGet(t, st, agent.ID, "of a staff session acting for the person after DeleteByPerson")
	if n, err := st.DeleteByPerson(ctx, pnrAnna); err != nil || n != 0 {
		t.Errorf("second DeleteByPerson = (%d, %v), want (0, nil)", n, err)
	}
	if n, err := st.DeleteByPerson(ctx, agent.Identity.Key()); err != nil || n != 1 {
		t.Errorf("DeleteByPerson of the staff key = (%d, %v), want (1, nil)", n, err)
	}
	mustBeGone(t, st, agent.ID, "after DeleteByPerson of the staff key")
}

func testStoreCancelledContext(t *testing.T, st session.Store, ff FastForward) {
	s := newSession(ff(0), citizen(pnrAnna, "bankid", ""), 15*time.Minute, 8*time.Hour)
	put(t, st, s)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	check := func(op string, err error) {
		t.Helper()
		if !errors.Is(err, session.ErrUnavailable) || errors.Is(err, session.ErrNotFound) {
			t.Errorf("%s with a cancelled context: %v, want ErrUnavailable", op, err)
		}
	}
	_, err := st.Get(ctx, s.ID)
	check("Get", err)
	check("Put", st.Put(ctx, s))
	check("Delete", st.Delete(ctx, s.ID))
	_, err = st.List(ctx, pnrAnna)
	check("List", err)
	_, err = st.DeleteByPerson(ctx, pnrAnna)
	check("DeleteByPerson", err)
	mustGet(t, st, s.ID, "after operations with a cancelled context")
}

func testStoreConcurrency(t *testing.T, st session.Store, ff FastForward) {
	ctx := context.Background()
	now := ff(0)
	const workers, ops, ids = 8, 60, 5
	sessions := make([]*session.Session, ids)
	for i := range sessions {
		sessions[i] = newSession(now, citizen(pnrCoord, "eidas", ""), 15*time.Minute, 8*time.Hour)
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range ops {
				s := sessions[(w+j)%ids]
				var err error
				switch j % 4 {
				case 0, 2:
					var got *session.Session
					got, err = st.Get(ctx, s.ID)
					if errors.Is(err, session.ErrNotFound) {
						err = nil
					} else if err == nil && (got.ID != s.ID || got.Identity.PersonalNumber != pnrCoord) {
						err = errors.New("a Get returned another session")
					}
				case 1:
					c := *s
					c.CSRF = fmt.Sprintf("csrf-%d-%d", w, j)
					err = st.Put(ctx, &c)
				case 3:
					err = st.Delete(ctx, s.ID)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, s := range sessions {
		if err := st.Delete(ctx, s.ID); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		mustBeGone(t, st, s.ID, "after the concurrent run")
	}
	if l, err := st.List(ctx, pnrCoord); err != nil || len(l) != 0 {
		t.Errorf("List after deleting everything = (%d, %v), want empty", len(l), err)
	}
}

// testDeleteNeverResurrected races Gets (which extend the idle timeout)
// against each way of ending a session. Once the delete has returned, no
// Get may ever see the session again. Each reader moves the clock on by
// IdleSlack before its Get, so that every Get writes the extension rather
// than only reading; the absolute lifetime is long enough for that.
func testDeleteNeverResurrected(t *testing.T, st session.Store, ff FastForward) {
	ctx := context.Background()
	const iterations, readers = 40, 4
	const idle = 15 * time.Minute
	for i := range iterations {
		s := newSession(ff(0), citizen(pnrAnna, "bankid", fmt.Sprintf("sid-%d", i)), idle, 365*24*time.Hour)
		put(t, st, s)

		var deleted atomic.Bool
		var wg, running sync.WaitGroup
		errs := make(chan error, readers)
		for range readers {
			wg.Add(1)
			running.Add(1)
			go func() {
				defer wg.Done()
				first := true
				for {
					after := deleted.Load()
					ff(IdleSlack(idle))
					_, err := st.Get(ctx, s.ID)
					if first {
						running.Done()
						first = false
					}
					switch {
					case after && err == nil:
						errs <- errors.New("a Get after the delete returned the session")
						return
					case err != nil && !errors.Is(err, session.ErrNotFound):
						errs <- err
						return
					case after:
						return
					}
				}
			}()
		}
		// Delete only once every reader is busy, so the race is real.
		running.Wait()
		var err error
		switch i % 3 {
		case 0:
			err = st.Delete(ctx, s.ID)
		case 1:
			_, err = st.DeleteByPerson(ctx, pnrAnna)
		case 2:
			_, err = st.DeleteByIdPSession(ctx, "bankid", s.Identity.SessionIndex)
		}
		if err != nil {
			t.Fatalf("delete (way %d): %v", i%3, err)
		}
		deleted.Store(true)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("iteration %d (way %d): %v", i, i%3, err)
		}
		mustBeGone(t, st, s.ID, "after the race")
		ff(time.Millisecond)
		mustBeGone(t, st, s.ID, "a moment after the race")
	}
	if l, err := st.List(ctx, pnrAnna); err != nil || len(l) != 0 {
		t.Errorf("List after the races = (%d, %v), want empty", len(l), err)
	}
}
