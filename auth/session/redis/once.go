package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/civicgate/civicgate/auth"
	"github.com/civicgate/civicgate/auth/session"
)

// Domains for session.HashKey, so a flow ID, a replay key and a rate-limit
// key that happen to be equal never share a name.
const (
	flowDomain   = "civicgate flow"
	replayDomain = "civicgate replay"
	limitDomain  = "civicgate limit"
)

// flowRecord carries the flow's expiry beside it, so Take decides with the
// Store's clock, like every other expiry.
type flowRecord struct {
	Expires int64        `json:"x"`
	Pending auth.Pending `json:"p"`
}

func (s *Store) flowKey(id string) string { return s.prefix + "f:" + session.HashKey(flowDomain, id) }

// Save implements session.Flows.
func (s *Store) Save(ctx context.Context, p auth.Pending, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		return wrap("save flow", err)
	}
	if p.ID == "" {
		return errors.New("redisstore: save flow: empty ID")
	}
	if ttl <= 0 {
		return errors.New("redisstore: save flow: TTL must be positive")
	}
	data, err := json.Marshal(flowRecord{Expires: s.now().Add(ttl).UnixMilli(), Pending: p})
	if err != nil {
		return fmt.Errorf("redisstore: save flow: %w", err)
	}
	if err := s.c.Set(ctx, s.flowKey(p.ID), data, ttl).Err(); err != nil {
		return wrap("save flow", err)
	}
	return nil
}

// Take implements session.Flows with GETDEL: of any number of concurrent
// Takes on any replicas, exactly one gets the flow.
func (s *Store) Take(ctx context.Context, id string) (auth.Pending, error) {
	if err := ctx.Err(); err != nil {
		return auth.Pending{}, wrap("take flow", err)
	}
	if id == "" {
		return auth.Pending{}, session.ErrNotFound
	}
	data, err := s.c.GetDel(ctx, s.flowKey(id)).Bytes()
	if err != nil {
		return auth.Pending{}, wrap("take flow", err)
	}
	var r flowRecord
	if err := json.Unmarshal(data, &r); err != nil {
		return auth.Pending{}, fmt.Errorf("redisstore: take flow: corrupt record: %w", err)
	}
	if s.now().UnixMilli() >= r.Expires {
		return auth.Pending{}, session.ErrNotFound
	}
	return r.Pending, nil
}

// replayScript records KEYS[1] until ARGV[2] unless it is already recorded
// beyond now (ARGV[1]); it returns 1 for a first use.
var replayScript = newScript(`
local kept = tonumber(redis.call('GET', KEYS[1]))
if kept and kept > tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PXAT', ARGV[2])
return 1
`)

// FirstUse implements session.ReplayCache. The key is remembered until
// session.ReplayGrace past expiry (or past now, for an expiry already
// passed).
func (s *Store) FirstUse(ctx context.Context, key string, expiry time.Time) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, wrap("replay check", err)
	}
	now := s.now()
	if expiry.Before(now) {
		expiry = now
	}
	until := expiry.Add(session.ReplayGrace).UnixMilli()
	k := s.prefix + "r:" + session.HashKey(replayDomain, key)
	n, err := replayScript.Run(ctx, s.c, []string{k}, now.UnixMilli(), until).Int64()
	if err != nil {
		return false, wrap("replay check", err)
	}
	return n == 1, nil
}

// limitScript counts one event in a window's counter and makes the counter
// disappear after the window.
var limitScript = newScript(`
local c = redis.call('INCR', KEYS[1])
if c == 1 then redis.call('PEXPIREAT', KEYS[1], ARGV[1]) end
return c
`)

// limitSlack keeps a window's counter a little past its end, so a replica
// whose clock is slightly behind does not start the window afresh.
const limitSlack = 5 * time.Second

// Allow implements session.Limiter with fixed windows aligned to the Unix
// epoch (session.Window): every replica with a synchronised clock counts in
// the same window, and retryAfter is the rest of it. One round trip.
func (s *Store) Allow(ctx context.Context, key string, limit int, window time.Duration) (bool, time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return false, 0, wrap("rate limit", err)
	}
	if limit < 1 || window < time.Millisecond {
		return false, 0, errors.New("redisstore: rate limit: limit must be at least 1 and window at least 1ms")
	}
	now := s.now()
	n, end := session.Window(now, window)
	k := s.prefix + "l:" + session.HashKey(limitDomain, key) + ":" +
		strconv.FormatInt(window.Milliseconds(), 10) + ":" + strconv.FormatInt(n, 10)
	count, err := limitScript.Run(ctx, s.c, []string{k}, end.Add(limitSlack).UnixMilli()).Int64()
	if err != nil {
		return false, 0, wrap("rate limit", err)
	}
	if count <= int64(limit) {
		return true, 0, nil
	}
	return false, end.Sub(now), nil
}
