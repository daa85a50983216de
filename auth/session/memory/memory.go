// Package memory keeps sessions, logins in flight, the replay cache and rate
// limits in the process's memory. It is for `civicgate dev` only: nothing is
// shared between replicas and everything is lost on restart.
package memory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/civicgate/civicgate/auth"
	"github.com/civicgate/civicgate/auth/session"
)

// Options tunes a Memory. The zero value is ready to use.
type Options struct {
	// Now is the clock; tests pin and advance it. Default time.Now.
	Now func() time.Time
	// JanitorInterval is how often expired entries are pruned in the
	// background. Default one minute; negative disables the janitor (expired
	// entries are then only dropped when they are looked up).
	JanitorInterval time.Duration
}

// Memory implements session.Store, session.Flows, session.ReplayCache and
// session.Limiter in process memory. It is safe for concurrent use. Close
// stops its janitor.
type Memory struct {
	now func() time.Time

	mu       sync.Mutex
	sessions map[string]*record             // by session.HashID
	byPerson map[string]map[string]struct{} // session.HashPersonKey -> session hashes
	byIdP    map[string]map[string]struct{} // session.HashIdPSession -> session hashes
	flows    map[string]flow
	replay   map[string]time.Time // key -> forget after
	limits   map[string]*counter

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// record is a stored session. The session is kept as JSON so that what a
// caller gets back is a deep copy and the same fields survive as in Redis.
type record struct {
	data     []byte
	expires  time.Time
	idle     time.Duration
	lastSeen time.Time
	person   string
	idpSess  string
}

func (r *record) dead(now time.Time) bool {
	return !now.Before(r.expires) || r.idle > 0 && !now.Before(r.lastSeen.Add(r.idle))
}

// extendIdle reports whether a Get at now moves last-seen (and with it the
// idle expiry) forward from lastSeen. A clock behind lastSeen never moves it
// back.
func extendIdle(idle time.Duration, lastSeen, now time.Time) bool {
	d := now.Sub(lastSeen)
	return d > 0 && d >= session.IdleSlack(idle)
}

type flow struct {
	data    []byte
	expires time.Time
}

type counter struct {
	n   int
	end time.Time
}

var (
	_ session.Store       = (*Memory)(nil)
	_ session.Flows       = (*Memory)(nil)
	_ session.ReplayCache = (*Memory)(nil)
	_ session.Limiter     = (*Memory)(nil)
	_ session.Invalidator = (*Memory)(nil)
)

// New returns an empty Memory and starts its janitor.
func New(opts Options) *Memory {
	m := &Memory{
		now:      opts.Now,
		sessions: make(map[string]*record),
		byPerson: make(map[string]map[string]struct{}),
		byIdP:    make(map[string]map[string]struct{}),
		flows:    make(map[string]flow),
		replay:   make(map[string]time.Time),
		limits:   make(map[string]*counter),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	if m.now == nil {
		m.now = time.Now
	}
	interval := opts.JanitorInterval
	if interval == 0 {
		interval = time.Minute
	}
	if interval < 0 {
		close(m.done)
		return m
	}
	go m.janitor(interval)
	return m
}

// Close stops the janitor. The Memory stays usable; calling Close again is
// harmless.
func (m *Memory) Close() error {
	m.closeOnce.Do(func() { close(m.stop) })
	<-m.done
	return nil
}

func (m *Memory) janitor(interval time.Duration) {
	defer close(m.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			m.Prune()
		}
	}
}

// Prune drops every expired entry now. The janitor calls it; tests may too.
func (m *Memory) Prune() {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	for h, r := range m.sessions {
		if r.dead(now) {
			m.removeLocked(h, r)
		}
	}
	for k, f := range m.flows {
		if !now.Before(f.expires) {
			delete(m.flows, k)
		}
	}
	for k, until := range m.replay {
		if !now.Before(until) {
			delete(m.replay, k)
		}
	}
	for k, c := range m.limits {
		if !now.Before(c.end) {
			delete(m.limits, k)
		}
	}
}

// Get implements session.Store. It moves the idle expiry only when the last
// move is at least session.IdleSlack old, exactly as the Redis backend does, so the
// conformance suite holds both to the same instants.
func (m *Memory) Get(ctx context.Context, id string) (*session.Session, error) {
	if err := ctx.Err(); err != nil {
		return nil, unavailable(err)
	}
	if !session.ValidID(id) {
		return nil, session.ErrNotFound
	}
	h := session.HashID(id)
	now := m.now()
	m.mu.Lock()
	r, ok := m.sessions[h]
	if ok && r.dead(now) {
		m.removeLocked(h, r)
		ok = false
	}
	if !ok {
		m.mu.Unlock()
		return nil, session.ErrNotFound
	}
	if extendIdle(r.idle, r.lastSeen, now) {
		r.lastSeen = now
	}
	data := r.data
	m.mu.Unlock()

	var s session.Session
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("memory: decode session: %w", err)
	}
	s.ID = id
	s.LastSeen = now
	return &s, nil
}

// Put implements session.Store. A session that has already expired is
// refused.
func (m *Memory) Put(ctx context.Context, s *session.Session) error {
	if err := ctx.Err(); err != nil {
		return unavailable(err)
	}
	if !session.ValidID(s.ID) {
		return errors.New("memory: put: malformed session ID")
	}
	now := m.now()
	if s.TTL(now) <= 0 {
		return errors.New("memory: put: session already expired")
	}
	data, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("memory: encode session: %w", err)
	}
	r := &record{
		data:     data,
		expires:  s.Expires,
		idle:     s.IdleTimeout,
		lastSeen: now,
	}
	if k := s.Identity.Key(); k != "" {
		r.person = session.HashPersonKey(k)
	}
	if s.Identity.SessionIndex != "" {
		r.idpSess = session.HashIdPSession(s.Identity.IdP, s.Identity.SessionIndex)
	}
	h := session.HashID(s.ID)
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.sessions[h]; ok {
		m.removeLocked(h, old)
	}
	m.sessions[h] = r
	addIndex(m.byPerson, r.person, h)
	addIndex(m.byIdP, r.idpSess, h)
	return nil
}

// Delete implements session.Store.
func (m *Memory) Delete(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return unavailable(err)
	}
	if !session.ValidID(id) {
		return nil
	}
	h := session.HashID(id)
	m.mu.Lock()
	defer m.mu.Unlock()
	if r, ok := m.sessions[h]; ok {
		m.removeLocked(h, r)
	}
	return nil
}

// DeleteByIdPSession implements session.Store. An empty sid matches nothing:
// sessions from IdPs that send no session index are never ended this way.
func (m *Memory) DeleteByIdPSession(ctx context.Context, idp, sid string) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, unavailable(err)
	}
	if sid == "" {
		return 0, nil
	}
	return m.deleteIndexed(m.byIdP, session.HashIdPSession(idp, sid)), nil
}

// DeleteByPerson implements session.Store.
func (m *Memory) DeleteByPerson(ctx context.Context, personKey string) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, unavailable(err)
	}
	if personKey == "" {
		return 0, nil
	}
	return m.deleteIndexed(m.byPerson, session.HashPersonKey(personKey)), nil
}

func (m *Memory) deleteIndexed(index map[string]map[string]struct{}, key string) int {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for h := range index[key] {
		r := m.sessions[h]
		if r == nil {
			continue
		}
		if !r.dead(now) {
			n++
		}
		m.removeLocked(h, r)
	}
	return n
}

// List implements session.Store. Sessions are listed newest login first.
func (m *Memory) List(ctx context.Context, personKey string) ([]session.Summary, error) {
	if err := ctx.Err(); err != nil {
		return nil, unavailable(err)
	}
	out := []session.Summary{}
	if personKey == "" {
		return out, nil
	}
	now := m.now()
	type live struct {
		hash     string
		data     []byte
		lastSeen time.Time
	}
	var found []live
	m.mu.Lock()
	for h := range m.byPerson[session.HashPersonKey(personKey)] {
		r := m.sessions[h]
		if r == nil {
			continue
		}
		if r.dead(now) {
			m.removeLocked(h, r)
			continue
		}
		found = append(found, live{h, r.data, r.lastSeen})
	}
	m.mu.Unlock()
	for _, l := range found {
		var s session.Session
		if err := json.Unmarshal(l.data, &s); err != nil {
			return nil, fmt.Errorf("memory: decode session: %w", err)
		}
		s.LastSeen = l.lastSeen
		out = append(out, session.SummaryOf(l.hash, &s))
	}
	sortSummaries(out)
	return out, nil
}

// sortSummaries orders newest login first, then by hash so the order is
// stable.
func sortSummaries(s []session.Summary) {
	slices.SortFunc(s, func(a, b session.Summary) int {
		if c := b.Created.Compare(a.Created); c != 0 {
			return c
		}
		return strings.Compare(a.IDHash, b.IDHash)
	})
}

// removeLocked drops a session and its index entries; m.mu must be held.
func (m *Memory) removeLocked(h string, r *record) {
	delete(m.sessions, h)
	removeIndex(m.byPerson, r.person, h)
	removeIndex(m.byIdP, r.idpSess, h)
}

func addIndex(index map[string]map[string]struct{}, key, h string) {
	if key == "" {
		return
	}
	set := index[key]
	if set == nil {
		set = make(map[string]struct{})
		index[key] = set
	}
	set[h] = struct{}{}
}

func removeIndex(index map[string]map[string]struct{}, key, h string) {
	if key == "" {
		return
	}
	set := index[key]
	delete(set, h)
	if len(set) == 0 {
		delete(index, key)
	}
}

// Save implements session.Flows.
func (m *Memory) Save(ctx context.Context, p auth.Pending, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		return unavailable(err)
	}
	if p.ID == "" {
		return errors.New("memory: save flow: empty ID")
	}
	if ttl <= 0 {
		return errors.New("memory: save flow: TTL must be positive")
	}
	data, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("memory: encode flow: %w", err)
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.flows[p.ID] = flow{data: data, expires: now.Add(ttl)}
	return nil
}

// Take implements session.Flows: the flow is removed whether or not it has
// expired, so a second Take always fails.
func (m *Memory) Take(ctx context.Context, id string) (auth.Pending, error) {
	if err := ctx.Err(); err != nil {
		return auth.Pending{}, unavailable(err)
	}
	now := m.now()
	m.mu.Lock()
	f, ok := m.flows[id]
	delete(m.flows, id)
	m.mu.Unlock()
	if !ok || !now.Before(f.expires) {
		return auth.Pending{}, session.ErrNotFound
	}
	var p auth.Pending
	if err := json.Unmarshal(f.data, &p); err != nil {
		return auth.Pending{}, fmt.Errorf("memory: decode flow: %w", err)
	}
	return p, nil
}

// FirstUse implements session.ReplayCache. The key is remembered until
// session.ReplayGrace past expiry.
func (m *Memory) FirstUse(ctx context.Context, key string, expiry time.Time) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, unavailable(err)
	}
	now := m.now()
	if expiry.Before(now) {
		expiry = now
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if until, ok := m.replay[key]; ok && now.Before(until) {
		return false, nil
	}
	m.replay[key] = expiry.Add(session.ReplayGrace)
	return true, nil
}

// Allow implements session.Limiter with fixed windows aligned to the Unix
// epoch (session.Window), the same windows as the Redis backend.
func (m *Memory) Allow(ctx context.Context, key string, limit int, window time.Duration) (bool, time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return false, 0, unavailable(err)
	}
	if limit < 1 || window < time.Millisecond {
		return false, 0, errors.New("memory: allow: limit must be at least 1 and window at least 1ms")
	}
	now := m.now()
	n, end := session.Window(now, window)
	k := fmt.Sprintf("%d:%d:%s", window.Milliseconds(), n, key)
	m.mu.Lock()
	c := m.limits[k]
	if c == nil {
		c = &counter{end: end}
		m.limits[k] = c
	}
	c.n++
	count := c.n
	m.mu.Unlock()
	if count <= limit {
		return true, 0, nil
	}
	return false, end.Sub(now), nil
}

// unavailable reports a cancelled or timed-out context the way the Redis
// backend does, so callers handle both backends alike.
func unavailable(err error) error {
	return fmt.Errorf("memory: %w: %w", session.ErrUnavailable, err)
}

// Len returns how many sessions, flows, replay keys and rate-limit counters
// are held, expired or not.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.sessions) + len(m.flows) + len(m.replay) + len(m.limits)
}
