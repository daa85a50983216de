package redisstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/civicgate/civicgate/auth/session"
)

// Options tunes a Store. The zero value is ready to use.
type Options struct {
	// Prefix starts every key, so several deployments (or test runs) can
	// share one Redis. Default "cg:".
	Prefix string
	// Now is the clock every expiry decision is made with; tests pin and
	// advance it. Default time.Now.
	Now func() time.Time
	// LocalCache, when above zero, keeps up to that many session records
	// in this process, invalidated over pub/sub behind a read barrier (see
	// cache.go), so that most reads need no Redis command of their own.
	// Only with a single server or Sentinel (a *redis.Client); Cluster
	// delivers pub/sub between nodes asynchronously, which the barrier
	// cannot order, so there the option is ignored. Close stops it.
	// Default 0: no cache.
	LocalCache int
	// CacheTimeout is how long a read waits for the cache's barrier before
	// it reads Redis directly and the subscription is renewed. Default
	// 250ms.
	CacheTimeout time.Duration
	// CacheMaxAge is the longest a record is served from the cache without
	// reading Redis again; it bounds what the cache cannot see (a key
	// deleted behind the store's back). Default 1 minute.
	CacheMaxAge time.Duration
}

// Store implements session.Store, session.Flows, session.ReplayCache and
// session.Limiter on Redis. It is safe for concurrent use by many
// goroutines and many replicas sharing the same Redis and prefix.
type Store struct {
	c      redis.UniversalClient
	prefix string
	now    func() time.Time
	// channel is where changes to session records are published for the
	// local caches of every replica; empty on Cluster.
	channel string
	cache   *localCache
}

var (
	_ session.Store       = (*Store)(nil)
	_ session.Flows       = (*Store)(nil)
	_ session.ReplayCache = (*Store)(nil)
	_ session.Limiter     = (*Store)(nil)
	_ session.Invalidator = (*Store)(nil)
)

// New returns a Store on client. The client is the caller's: the Store
// never closes it. For context deadlines to bound socket reads and writes,
// the client needs ContextTimeoutEnabled (NewClient sets it).
func New(client redis.UniversalClient, opts Options) *Store {
	s := &Store{c: client, prefix: opts.Prefix, now: opts.Now}
	if s.prefix == "" {
		s.prefix = "cg:"
	}
	if s.now == nil {
		s.now = time.Now
	}
	// Publish for other replicas' caches even when this one has none.
	if _, cluster := client.(*redis.ClusterClient); !cluster {
		s.channel = s.prefix + "invalidate"
	}
	if single, ok := client.(*redis.Client); ok && opts.LocalCache > 0 {
		s.startCache(client, single, opts)
	}
	return s
}

// startCache starts the local cache with sub for its subscription.
func (s *Store) startCache(pub redis.UniversalClient, sub *redis.Client, opts Options) {
	timeout, maxAge := opts.CacheTimeout, opts.CacheMaxAge
	if timeout <= 0 {
		timeout = 250 * time.Millisecond
	}
	if maxAge <= 0 {
		maxAge = time.Minute
	}
	s.cache = newLocalCache(pub, sub, s.channel, opts.LocalCache, timeout, maxAge)
}

// Close stops the local cache's subscription, if there is one. The client
// stays open: it is the caller's.
func (s *Store) Close() error {
	if s.cache != nil {
		s.cache.close()
	}
	return nil
}

// CacheStats reports what the local cache did; all zero without one.
func (s *Store) CacheStats() CacheStats {
	if s.cache == nil {
		return CacheStats{}
	}
	return s.cache.stats()
}

// Ping reports whether Redis answers, for the readiness probe.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.c.Ping(ctx).Err(); err != nil {
		return wrap("ping", err)
	}
	// Logins and logouts publish invalidations; a Redis user without the
	// right would see every one of them fail.
	if s.channel != "" {
		if err := s.c.Publish(ctx, s.channel+":ready", "").Err(); err != nil {
			return fmt.Errorf("redisstore: ping: cannot publish on %s* (ACL?): %w: %w", s.channel, session.ErrUnavailable, err)
		}
	}
	return nil
}

// pruneEvery says when Put cleans an index set: whenever its size reaches a
// multiple of pruneEvery. A person who logs in daily keeps their set's TTL
// alive forever, so stale members must also go without waiting for a List;
// cleaning only at multiples keeps the cost per Put constant even for a
// person with many live sessions.
const pruneEvery = 16

// indexSlack keeps index sets a little beyond the sessions they list, so a
// replica with a slightly slower clock still finds them.
const indexSlack = time.Minute

// expired is shared by the scripts: a record is dead at its absolute expiry
// x or once it has been idle for i since l (i = 0: no idle timeout).
const luaDead = `
local function dead(now, x, i, l)
  x = tonumber(x) or 0
  i = tonumber(i) or 0
  l = tonumber(l) or 0
  return now >= x or (i > 0 and now >= l + i)
end
`

// getScript returns the session data with its absolute expiry, idle
// timeout and last extension (for the local cache) and, once the last
// extension is at least session.IdleSlack old, moves last-seen and the TTL,
// in one step: a key that is gone stays gone, whatever runs concurrently.
// It checks expiry like luaDead, inlined because it runs on every request.
// A clock behind the stored last-seen (another replica's) never moves it
// back. Moving last-seen is not published: a cache holding the older value
// only reads Redis sooner.
var getScript = newScript(`
local v = redis.call('HMGET', KEYS[1], 'd', 'x', 'i', 'l')
if not v[1] then return false end
local now = tonumber(ARGV[1])
local x, i, l = tonumber(v[2]) or 0, tonumber(v[3]) or 0, tonumber(v[4]) or 0
if now >= x or (i > 0 and now >= l + i) then
  redis.call('DEL', KEYS[1])
  return false
end
local slack = ` + strconv.FormatInt(session.MaxIdleSlack.Milliseconds(), 10) + `
if i > 0 then slack = math.min(math.floor(i / 60), slack) end
if now > l and now - l >= slack then
  redis.call('HSET', KEYS[1], 'l', ARGV[1])
  local t = x
  if i > 0 and now + i < x then t = now + i end
  redis.call('PEXPIREAT', KEYS[1], t)
  v[4] = ARGV[1]
end
return v
`)

// luaPublish tells the local caches (channel ARGV[n], empty: none) that
// KEYS[1] changed; inside a script, so no reader can see the change before
// the message is on its way to every subscriber. It comes before the
// script's writes: a script is not rolled back, so a PUBLISH the Redis
// user may not do (ACL) must fail before anything is written.
func luaPublish(n int) string {
	a := "ARGV[" + strconv.Itoa(n) + "]"
	return "if " + a + " ~= '' then redis.call('PUBLISH', " + a + ", KEYS[1]) end\n"
}

// putScript replaces the whole record: no field of an earlier session with
// the same ID survives.
var putScript = newScript(luaPublish(8) + `
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'd', ARGV[1], 'x', ARGV[2], 'i', ARGV[3], 'l', ARGV[4], 'p', ARGV[5], 'k', ARGV[6])
redis.call('PEXPIREAT', KEYS[1], ARGV[7])
return 1
`)

// delScript deletes a session record and returns how many keys went.
var delScript = newScript(luaPublish(1) + `
return redis.call('DEL', KEYS[1])
`)

// indexAddScript adds a member to an index set and makes the set live at
// least until ARGV[2]; it returns the set's size.
var indexAddScript = newScript(`
redis.call('SADD', KEYS[1], ARGV[1])
local ttl = redis.call('PTTL', KEYS[1])
local want, now = tonumber(ARGV[2]), tonumber(ARGV[3])
if ttl < 0 or now + ttl < want then redis.call('PEXPIREAT', KEYS[1], want) end
return redis.call('SCARD', KEYS[1])
`)

// deleteIfScript deletes a session only if its index field ARGV[1] still
// holds ARGV[2], so a stale index member can never end someone else's
// session. It returns 1 when a live session was deleted, 0 when there was
// none (gone or already expired), -1 when the session belongs elsewhere.
var deleteIfScript = newScript(luaDead + `
local v = redis.call('HMGET', KEYS[1], ARGV[1], 'x', 'i', 'l')
if not v[1] then return 0 end
if v[1] ~= ARGV[2] then return -1 end
` + luaPublish(4) + `
redis.call('DEL', KEYS[1])
if dead(tonumber(ARGV[3]), v[2], v[3], v[4]) then return 0 end
return 1
`)

func (s *Store) sessionKey(hash string) string { return s.prefix + "s:" + hash }
func (s *Store) personKey(hash string) string  { return s.prefix + "p:" + hash }
func (s *Store) idpKey(hash string) string     { return s.prefix + "k:" + hash }

// sessionKeyOf is sessionKey(session.HashID(id)) in one allocation instead
// of three, since Get builds it on every request.
func (s *Store) sessionKeyOf(id string) string {
	sum := sha256.Sum256([]byte(id))
	var h [2 * sha256.Size]byte
	hex.Encode(h[:], sum[:])
	return s.prefix + "s:" + string(h[:])
}

// Get implements session.Store in one round trip.
func (s *Store) Get(ctx context.Context, id string) (*session.Session, error) {
	if err := ctx.Err(); err != nil {
		return nil, wrap("get", err)
	}
	if !session.ValidID(id) {
		return nil, session.ErrNotFound
	}
	now := s.now()
	nowMs := now.UnixMilli()
	key := s.sessionKeyOf(id)
	var epoch uint64
	if s.cache != nil {
		e, ep, err := s.cache.get(ctx, key)
		if err != nil {
			return nil, wrap("get", err)
		}
		if e != nil && servable(e, nowMs) {
			out := copySession(e.sess)
			out.ID, out.LastSeen = id, now
			return out, nil
		}
		epoch = ep
	}
	v, err := getScript.Run(ctx, s.c, []string{key}, nowMs).Slice()
	if err != nil {
		if s.cache != nil && errors.Is(err, redis.Nil) {
			s.cache.remove(key)
		}
		return nil, wrap("get", err)
	}
	e, err := entryOf(v)
	if err != nil {
		return nil, fmt.Errorf("redisstore: get: corrupt session record: %w", err)
	}
	out, err := s.decoded(e.data, id, now)
	if err == nil && s.cache != nil {
		// The cache keeps a copy of its own without the ID (the caller may
		// change what it got), and hands out copies of it.
		e.sess = copySession(out)
		e.sess.ID = ""
		s.cache.fill(key, e, epoch)
	}
	return out, err
}

// copySession returns a copy of s that shares nothing mutable with it.
// TestCopySessionSharesNothing fails when a field is added that this
// does not copy deeply.
func copySession(s *session.Session) *session.Session {
	c := *s
	c.Identity.Roles = slices.Clone(s.Identity.Roles)
	if s.ActingFor != nil {
		a := *s.ActingFor
		c.ActingFor = &a
	}
	return &c
}

// servable reports whether a cached record can answer a Get at nowMs
// exactly as the get script would: alive, and no idle extension due.
func servable(e *cacheEntry, nowMs int64) bool {
	if nowMs >= e.x || e.i > 0 && nowMs >= e.l+e.i {
		return false
	}
	slack := session.IdleSlack(time.Duration(e.i) * time.Millisecond).Milliseconds()
	return nowMs <= e.l || nowMs-e.l < slack
}

// entryOf reads the get script's reply.
func entryOf(v []any) (*cacheEntry, error) {
	if len(v) != 4 {
		return nil, fmt.Errorf("%d fields instead of 4", len(v))
	}
	data, ok := v[0].(string)
	if !ok {
		return nil, errors.New("no data")
	}
	return &cacheEntry{data: data, x: num(v[1]), i: num(v[2]), l: num(v[3])}, nil
}

func (s *Store) decoded(data, id string, now time.Time) (*session.Session, error) {
	out := new(session.Session)
	if err := decodeSession(data, out); err != nil {
		return nil, fmt.Errorf("redisstore: get: corrupt session record: %w", err)
	}
	out.ID = id
	// The time of this request, even when the stored last-seen was left
	// where it was.
	out.LastSeen = now
	return out, nil
}

// Put implements session.Store: the session and its index entries in one
// round trip. A session that has already expired is refused.
func (s *Store) Put(ctx context.Context, sess *session.Session) error {
	if err := ctx.Err(); err != nil {
		return wrap("put", err)
	}
	if !session.ValidID(sess.ID) {
		return errors.New("redisstore: put: malformed session ID")
	}
	now := s.now()
	ttl := sess.TTL(now)
	if ttl <= 0 {
		return errors.New("redisstore: put: session already expired")
	}
	data, err := json.Marshal(sess)
	if err != nil {
		return fmt.Errorf("redisstore: put: encode session: %w", err)
	}
	hash := session.HashID(sess.ID)
	var person, idpSess string
	if k := sess.Identity.Key(); k != "" {
		person = session.HashPersonKey(k)
	}
	if sess.Identity.SessionIndex != "" {
		idpSess = session.HashIdPSession(sess.Identity.IdP, sess.Identity.SessionIndex)
	}
	nowMs := now.UnixMilli()
	indexUntil := sess.Expires.Add(indexSlack).UnixMilli()

	calls := make([]*scriptCall, 0, 3)
	var personCard, idpCard *scriptCall
	// The index entries come first: a session must never exist that a "log
	// out everywhere" cannot find.
	if person != "" {
		personCard = &scriptCall{script: indexAddScript, key: s.personKey(person), args: []any{hash, indexUntil, nowMs}}
		calls = append(calls, personCard)
	}
	if idpSess != "" {
		idpCard = &scriptCall{script: indexAddScript, key: s.idpKey(idpSess), args: []any{hash, indexUntil, nowMs}}
		calls = append(calls, idpCard)
	}
	calls = append(calls, &scriptCall{script: putScript, key: s.sessionKey(hash), args: []any{
		data, sess.Expires.UnixMilli(), sess.IdleTimeout.Milliseconds(), nowMs,
		person, idpSess, now.Add(ttl).UnixMilli(), s.channel,
	}})
	if err := s.runScripts(ctx, calls, nil); err != nil {
		return wrap("put", err)
	}
	// Housekeeping only: the session is stored, so a failure here is not the
	// caller's problem; the next Put or List tries again.
	if n, _ := cardinality(personCard); n >= pruneEvery && n%pruneEvery == 0 {
		_, _, _ = s.scan(ctx, s.personKey(person), "p", person, now)
	}
	if n, _ := cardinality(idpCard); n >= pruneEvery && n%pruneEvery == 0 {
		_, _, _ = s.scan(ctx, s.idpKey(idpSess), "k", idpSess, now)
	}
	return nil
}

func cardinality(c *scriptCall) (int64, error) {
	if c == nil {
		return 0, nil
	}
	return c.cmd.Int64()
}

// script is a Lua script that keeps its source for EVAL after a NOSCRIPT in
// a pipeline.
type script struct {
	*redis.Script
	src string
}

func newScript(src string) *script { return &script{Script: redis.NewScript(src), src: src} }

// scriptCall is one single-key script run in a pipeline.
type scriptCall struct {
	script *script
	key    string
	args   []any
	cmd    *redis.Cmd
}

// runScripts runs calls (and whatever extra adds) in one pipeline by
// EVALSHA, the cheap way. Calls that find their script missing from the
// node's cache (after a restart or failover) are run again by EVAL; the
// others ran exactly once. It returns the first error of any command.
func (s *Store) runScripts(ctx context.Context, calls []*scriptCall, extra func(p redis.Pipeliner) redis.Cmder) error {
	var extraCmd redis.Cmder
	_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, c := range calls {
			c.cmd = p.EvalSha(ctx, c.script.Hash(), []string{c.key}, c.args...)
		}
		if extra != nil {
			extraCmd = extra(p)
		}
		return nil
	})
	var missing []*scriptCall
	for _, c := range calls {
		if redis.HasErrorPrefix(c.cmd.Err(), "NOSCRIPT") {
			missing = append(missing, c)
		}
	}
	if len(missing) == 0 {
		return err
	}
	if _, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, c := range missing {
			c.cmd = p.Eval(ctx, c.script.src, []string{c.key}, c.args...)
		}
		return nil
	}); err != nil {
		return err
	}
	for _, c := range calls {
		if err := c.cmd.Err(); err != nil {
			return err
		}
	}
	if extraCmd != nil {
		return extraCmd.Err()
	}
	return nil
}

// Delete implements session.Store. The index entries are left to be cleaned
// lazily; they point at a key that no longer exists.
func (s *Store) Delete(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return wrap("delete", err)
	}
	if !session.ValidID(id) {
		return nil
	}
	if err := s.runScripts(ctx, []*scriptCall{{script: delScript, key: s.sessionKey(session.HashID(id)), args: []any{s.channel}}}, nil); err != nil {
		return wrap("delete", err)
	}
	return nil
}

// DeleteByIdPSession implements session.Store. An empty sid matches nothing:
// sessions from IdPs that send no session index are never ended this way.
func (s *Store) DeleteByIdPSession(ctx context.Context, idp, sid string) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, wrap("delete by IdP session", err)
	}
	if sid == "" {
		return 0, nil
	}
	h := session.HashIdPSession(idp, sid)
	n, err := s.deleteIndexed(ctx, s.idpKey(h), "k", h)
	if err != nil {
		return n, wrap("delete by IdP session", err)
	}
	return n, nil
}

// DeleteByPerson implements session.Store.
func (s *Store) DeleteByPerson(ctx context.Context, personKey string) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, wrap("delete by person", err)
	}
	if personKey == "" {
		return 0, nil
	}
	h := session.HashPersonKey(personKey)
	n, err := s.deleteIndexed(ctx, s.personKey(h), "p", h)
	if err != nil {
		return n, wrap("delete by person", err)
	}
	return n, nil
}

// deleteIndexed deletes every session listed in the index set idxKey whose
// field still names the set's owner, and empties the set of what it read.
// It takes three round trips; a member whose deletion failed stays in the
// set, so that a retry finds it.
func (s *Store) deleteIndexed(ctx context.Context, idxKey, field, owner string) (int, error) {
	members, err := s.c.SMembers(ctx, idxKey).Result()
	if err != nil || len(members) == 0 {
		return 0, err
	}
	nowMs := s.now().UnixMilli()
	calls := make([]*scriptCall, len(members))
	for i, m := range members {
		calls[i] = &scriptCall{script: deleteIfScript, key: s.sessionKey(m), args: []any{field, owner, nowMs, s.channel}}
	}
	err = s.runScripts(ctx, calls, nil)
	n := 0
	var done []string // members whose script ran: the rest stay listed for a retry
	for i, c := range calls {
		v, cerr := c.cmd.Int64()
		if cerr != nil {
			continue
		}
		done = append(done, members[i])
		if v == 1 {
			n++
		}
	}
	if len(done) > 0 {
		if serr := s.c.SRem(ctx, idxKey, toArgs(done)...).Err(); serr != nil && err == nil {
			err = serr
		}
	}
	return n, err
}

// List implements session.Store. Sessions are listed newest login first.
func (s *Store) List(ctx context.Context, personKey string) ([]session.Summary, error) {
	if err := ctx.Err(); err != nil {
		return nil, wrap("list", err)
	}
	out := []session.Summary{}
	if personKey == "" {
		return out, nil
	}
	h := session.HashPersonKey(personKey)
	live, _, err := s.scan(ctx, s.personKey(h), "p", h, s.now())
	if err != nil {
		return nil, wrap("list", err)
	}
	for _, r := range live {
		var sess session.Session
		if err := decodeSession(r.data, &sess); err != nil {
			return nil, fmt.Errorf("redisstore: list: corrupt session record: %w", err)
		}
		sess.LastSeen = r.lastSeen
		out = append(out, session.SummaryOf(r.hash, &sess))
	}
	slices.SortFunc(out, func(a, b session.Summary) int {
		if c := b.Created.Compare(a.Created); c != 0 {
			return c
		}
		return strings.Compare(a.IDHash, b.IDHash)
	})
	return out, nil
}

type liveRecord struct {
	hash     string
	data     string
	lastSeen time.Time
}

// scan reads the sessions an index set lists without touching them, and
// removes from the set the members whose session is gone, expired or no
// longer the owner's.
func (s *Store) scan(ctx context.Context, idxKey, field, owner string, now time.Time) (live []liveRecord, stale int, err error) {
	members, err := s.c.SMembers(ctx, idxKey).Result()
	if err != nil || len(members) == 0 {
		return nil, 0, err
	}
	cmds := make([]*redis.SliceCmd, len(members))
	_, err = s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, m := range members {
			cmds[i] = p.HMGet(ctx, s.sessionKey(m), "d", "x", "i", "l", field)
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	nowMs := now.UnixMilli()
	var gone []string
	for i, c := range cmds {
		v := c.Val()
		data, _ := v[0].(string)
		x, i2, l := num(v[1]), num(v[2]), num(v[3])
		got, _ := v[4].(string)
		if data == "" || got != owner || nowMs >= x || i2 > 0 && nowMs >= l+i2 {
			gone = append(gone, members[i])
			continue
		}
		live = append(live, liveRecord{hash: members[i], data: data, lastSeen: time.UnixMilli(l).UTC()})
	}
	if len(gone) > 0 {
		if err := s.c.SRem(ctx, idxKey, toArgs(gone)...).Err(); err != nil {
			return nil, 0, err
		}
	}
	return live, len(gone), nil
}

func num(v any) int64 {
	s, _ := v.(string)
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

func toArgs(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// wrap turns a Redis failure into session.ErrUnavailable (and an absent key
// into session.ErrNotFound). Redis errors name neither keys nor values, so
// no session ID or personnummer can leak through them.
func wrap(op string, err error) error {
	if errors.Is(err, redis.Nil) {
		return session.ErrNotFound
	}
	return fmt.Errorf("redisstore: %s: %w: %w", op, session.ErrUnavailable, err)
}
