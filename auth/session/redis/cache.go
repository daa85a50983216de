package redisstore

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/civicgate/civicgate/auth/session"
)

// The local cache keeps recently read session records in the process, so
// that most requests of a logged-in person need no Redis command of their
// own, without giving up "a logout on one replica is a logout on all".
//
// Invalidation: every script that replaces or deletes a session record
// publishes the record's key on the store's channel in the same atomic step
// (Redis runs a script as one command), and every cache is subscribed to it.
//
// Read barrier: pub/sub alone is fire-and-forget: a message may still be on
// its way when the next request arrives, and a subscription may be dead, or
// on the wrong server, without anyone noticing. So before a cached record
// is used, the cache publishes a sequence number on a channel of its own,
// through the store's client (so it runs on the server the writes run on),
// and waits until that message arrives on its subscription. Redis writes
// published messages to a subscriber's connection in the order the
// PUBLISHes ran, and a logout's message was written before the script that
// deleted the session replied (so before the logout's response left its
// replica); so when the barrier message published after this request began
// has been read, every invalidation published before the request began has
// been read and applied. A PUBLISH that reaches no subscriber means the
// subscription is elsewhere (after a Sentinel failover go-redis moves the
// client's connections to the new master, not its subscriptions): it is
// made again. One barrier serves every request that arrived while the
// previous one was in flight, so under load the cost of a round trip is
// shared by many requests (a read-index barrier, as in Raft).
//
// ACL: the Redis user needs to publish and subscribe to the channels
// <prefix>invalidate and <prefix>invalidate:* (&<prefix>invalidate*).
//
// Failure: the cache serves nothing unless its subscription is confirmed.
// A PONG overdue by Timeout, a failed PING or a broken connection flushes
// the cache, makes the waiting requests read from Redis directly, and
// starts a new subscription; the cache is used again only after Redis has
// confirmed it. Filling is guarded by an epoch that every invalidation and
// every flush advances: a record read from Redis is cached only if nothing
// was invalidated between sending the read and storing its result, so a
// logout that overtakes a read in flight is never undone by it.
//
// What the cache cannot see: a session key removed without the scripts
// (an operator's DEL or FLUSHDB, eviction under a maxmemory policy other
// than noeviction) stays usable in a replica's cache until the entry's
// MaxAge passes. Records expire by their own fields, as in Redis.

// cacheEntry is one session record as the get script returned it.
type cacheEntry struct {
	data    string
	sess    *session.Session // data decoded, without the ID; never handed out itself
	x, i, l int64            // absolute expiry (Unix ms), idle timeout (ms), last extension (Unix ms)
	born    time.Time
}

// barrier is one barrier message and the requests waiting for it to come
// back on the subscription (called PING and PONG below).
type barrier struct {
	done    chan struct{}
	waiters int
	ok      bool
	seq     uint64
	sent    time.Time
}

// CacheStats counts what the local cache did, for tests and metrics.
type CacheStats struct {
	Hits, Misses, Fallbacks, Invalidations, Flushes, Pings int64
}

type localCache struct {
	pub       redis.UniversalClient // the store's client: barrier messages go where the writes go
	sub       *redis.Client         // for the subscription (the same client, but in tests)
	channel   string                // invalidations, shared by every replica
	max       int
	timeout   time.Duration
	maxAge    time.Duration
	keepalive time.Duration

	mu       sync.Mutex
	entries  map[string]*cacheEntry
	epoch    uint64
	live     bool // subscribed, confirmed by Redis, and no PING overdue
	ps       *redis.PubSub
	psCh     string    // ps's own barrier channel, new with every subscription
	psSince  time.Time // when ps was made
	next     *barrier  // requests waiting for a PING not sent yet
	inflight *barrier  // the PING sent, waiting for its PONG
	seq      uint64
	lastSent time.Time // when the last PING was sent
	armed    bool      // a timer will send the next PING (see pong)

	hits, misses, fallbacks, invalidations, flushes, pings atomic.Int64

	ctx    context.Context
	cancel context.CancelFunc
	done   sync.WaitGroup
}

func newLocalCache(pub redis.UniversalClient, sub *redis.Client, channel string, max int, timeout, maxAge time.Duration) *localCache {
	ctx, cancel := context.WithCancel(context.Background())
	c := &localCache{
		pub: pub, sub: sub, channel: channel,
		max: max, timeout: timeout, maxAge: maxAge,
		keepalive: time.Second,
		entries:   make(map[string]*cacheEntry),
		ctx:       ctx, cancel: cancel,
	}
	c.done.Add(2)
	go c.subscribe()
	go c.watch()
	return c
}

func (c *localCache) close() {
	c.cancel()
	c.mu.Lock()
	ps := c.ps
	c.downLocked()
	c.mu.Unlock()
	if ps != nil {
		_ = ps.Close()
	}
	c.done.Wait()
}

func (c *localCache) stats() CacheStats {
	return CacheStats{
		Hits: c.hits.Load(), Misses: c.misses.Load(), Fallbacks: c.fallbacks.Load(),
		Invalidations: c.invalidations.Load(), Flushes: c.flushes.Load(), Pings: c.pings.Load(),
	}
}

// get returns the entry for key when it may be used now, after a read
// barrier. Otherwise it returns nil and the epoch to fill with: the caller
// reads Redis and passes that epoch to fill.
func (c *localCache) get(ctx context.Context, key string) (*cacheEntry, uint64, error) {
	c.mu.Lock()
	e, epoch, live := c.entries[key], c.epoch, c.live
	if e != nil && time.Since(e.born) > c.maxAge {
		delete(c.entries, key)
		e = nil
	}
	c.mu.Unlock()
	if e == nil || !live {
		c.misses.Add(1)
		return nil, epoch, nil
	}
	ok, err := c.barrier(ctx)
	if err != nil {
		return nil, 0, err
	}
	c.mu.Lock()
	e, epoch = c.entries[key], c.epoch
	c.mu.Unlock()
	switch {
	case !ok:
		c.fallbacks.Add(1)
		return nil, epoch, nil
	case e == nil:
		c.misses.Add(1)
		return nil, epoch, nil
	}
	c.hits.Add(1)
	return e, epoch, nil
}

// fill caches e under key if nothing was invalidated since epoch was read.
func (c *localCache) fill(key string, e *cacheEntry, epoch uint64) {
	e.born = time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.live || c.epoch != epoch {
		return
	}
	if _, ok := c.entries[key]; !ok && len(c.entries) >= c.max {
		for k := range c.entries { // map order is random: a random victim
			delete(c.entries, k)
			break
		}
	}
	c.entries[key] = e
}

// invalidate drops key on a message that its record changed, and makes
// every read in flight unfit to fill the cache.
func (c *localCache) invalidate(key string) {
	c.invalidations.Add(1)
	c.mu.Lock()
	delete(c.entries, key)
	c.epoch++
	c.mu.Unlock()
}

// remove drops key, after a read found the record gone.
func (c *localCache) remove(key string) {
	c.mu.Lock()
	delete(c.entries, key)
	c.mu.Unlock()
}

// barrier waits until an invalidation published before it was called has
// been applied. It reports false when that cannot be known (no
// subscription, a PONG overdue): the caller reads Redis instead.
func (c *localCache) barrier(ctx context.Context) (bool, error) {
	c.mu.Lock()
	if !c.live {
		c.mu.Unlock()
		return false, nil
	}
	b := c.next
	if b == nil {
		b = &barrier{done: make(chan struct{})}
		c.next = b
	}
	b.waiters++
	ps, seq := c.promoteLocked()
	c.mu.Unlock()
	if ps != nil {
		c.ping(ps, seq)
	}
	select {
	case <-b.done:
		return b.ok, nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// promoteLocked sends the next barrier's PING when none is in flight: it
// returns the subscription and the sequence number to PING with, or nil.
func (c *localCache) promoteLocked() (*redis.PubSub, uint64) {
	if c.inflight != nil || c.next == nil || c.ps == nil || c.armed || !c.live {
		return nil, 0
	}
	c.seq++
	b := c.next
	c.next = nil
	b.seq, b.sent = c.seq, time.Now()
	c.inflight = b
	c.lastSent = b.sent
	return c.ps, b.seq
}

// batchGap is the least time between two PINGs when batchWaiters or more
// requests were already waiting as the last PONG came back, i.e. under
// load: waiting that long gathers more requests behind the next PING (each
// PING costs Redis a wake-up and the gateway two system calls). Otherwise
// the next PING goes at once, so a quiet gateway adds no latency (Go's
// timers are too coarse for sub-millisecond waits in an idle process; a
// busy one runs them on time).
const (
	batchGap     = 500 * time.Microsecond
	batchWaiters = 2
)

// deferred sends the PING that pong put off.
func (c *localCache) deferred() {
	c.mu.Lock()
	c.armed = false
	ps, seq := c.promoteLocked()
	c.mu.Unlock()
	if ps != nil {
		c.ping(ps, seq)
	}
}

// ping publishes barrier seq on this cache's own channel, through the
// store's client, so it reaches Redis the way writes do: on the server the
// logouts' scripts ran on. Redis delivers it to the subscription after
// every invalidation published before it. Nobody receiving it means the
// subscription is not on that server (a Sentinel failover moves the
// store's connections to the new master but leaves subscriptions where
// they were): the subscription is failed and made again.
func (c *localCache) ping(ps *redis.PubSub, seq uint64) {
	c.pings.Add(1)
	c.mu.Lock()
	ch := c.psCh
	c.mu.Unlock()
	// No deadline of its own: the client's timeouts bound the command, and
	// watch bounds the wait for the message.
	n, err := barrierScript.Run(c.ctx, c.pub, nil, ch, strconv.FormatUint(seq, 10)).Int64()
	if err != nil || n != 1 {
		c.fail(ps)
	}
}

// barrierScript publishes a barrier and returns how many subscriptions to
// its channel this server has: exactly one (this cache's), or the barrier
// cannot be trusted. PUBSUB NUMSUB does not count pattern subscribers (a
// PSUBSCRIBE * of an operator's tool would make PUBLISH's own count lie),
// and as a script without the no-writes flag it is refused by a replica,
// so a connection left on a demoted master fails instead of answering.
// allow-oom: a Redis at maxmemory under noeviction (as deployed) refuses
// flagged scripts without it, which would stop the cache exactly when
// Redis is under pressure. (The shebang needs Redis 7; on older servers
// every barrier fails and reads go to Redis: slower, never stale.)
var barrierScript = redis.NewScript(`#!lua flags=allow-oom
redis.call('PUBLISH', ARGV[1], ARGV[2])
return redis.call('PUBSUB', 'NUMSUB', ARGV[1])[2]
`)

// pong completes the barrier in flight if payload is its sequence number
// (a late PONG of an abandoned PING is not) and sends the next PING.
func (c *localCache) pong(ps *redis.PubSub, payload string) {
	seq, err := strconv.ParseUint(payload, 10, 64)
	if err != nil {
		return
	}
	c.mu.Lock()
	if c.ps != ps || c.inflight == nil || c.inflight.seq != seq {
		c.mu.Unlock()
		return
	}
	b := c.inflight
	c.inflight = nil
	b.ok = c.live
	close(b.done)
	if c.next != nil && c.next.waiters >= batchWaiters {
		if wait := batchGap - time.Since(c.lastSent); wait > 0 {
			c.armed = true
			time.AfterFunc(wait, c.deferred)
		}
	}
	next, nseq := c.promoteLocked()
	c.mu.Unlock()
	if next != nil {
		// Not here: this is the goroutine that reads the subscription.
		go c.ping(next, nseq)
	}
}

// fail gives up on subscription ps: the cache is flushed and unused until
// a new subscription is confirmed.
func (c *localCache) fail(ps *redis.PubSub) {
	c.mu.Lock()
	if c.ps != ps {
		c.mu.Unlock()
		return
	}
	c.downLocked()
	c.mu.Unlock()
	if ps != nil {
		_ = ps.Close() // ends Receive in subscribe, which starts a new one
	}
}

// downLocked flushes the cache, stops using it and releases every waiting
// request to read Redis.
func (c *localCache) downLocked() {
	c.flushLocked()
	c.live = false
	for _, b := range []*barrier{c.inflight, c.next} {
		if b != nil {
			b.ok = false
			close(b.done)
		}
	}
	c.inflight, c.next = nil, nil
}

func (c *localCache) flushLocked() {
	clear(c.entries)
	c.epoch++
	c.flushes.Add(1)
}

// subscribe keeps a subscription to the channel, one after another, until
// the cache is closed.
func (c *localCache) subscribe() {
	defer c.done.Done()
	wait := 50 * time.Millisecond
	for c.ctx.Err() == nil {
		ch := c.channel + ":" + session.NewID()[:16]
		ps := c.sub.Subscribe(c.ctx, c.channel, ch)
		c.mu.Lock()
		if c.ctx.Err() != nil {
			// close ran before ps was known to it: Receive would block
			// for ever (it does not watch its context), so close ps here.
			c.mu.Unlock()
			_ = ps.Close()
			return
		}
		c.ps, c.psCh, c.psSince = ps, ch, time.Now()
		c.mu.Unlock()
		if c.receive(ps, ch) {
			wait = 50 * time.Millisecond
		}
		c.mu.Lock()
		if c.ps == ps {
			c.downLocked()
			c.ps = nil
		}
		c.mu.Unlock()
		_ = ps.Close()
		select {
		case <-c.ctx.Done():
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// receive applies what arrives on ps until it fails; it reports whether
// the subscription was confirmed.
func (c *localCache) receive(ps *redis.PubSub, ch string) (confirmed bool) {
	for {
		msg, err := ps.Receive(c.ctx)
		if err != nil {
			return confirmed
		}
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Channel != c.channel && m.Channel != ch {
				continue
			}
			if m.Kind != "subscribe" {
				return confirmed
			}
			c.mu.Lock()
			if c.ps == ps {
				// Messages published while there was no subscription are
				// lost: start from nothing. Used once both channels are.
				c.flushLocked()
				if m.Count == 2 {
					confirmed = true
					c.live = true
				}
			}
			c.mu.Unlock()
		case *redis.Message:
			if m.Channel == ch {
				c.pong(ps, m.Payload)
			} else {
				c.invalidate(m.Payload)
			}
		}
	}
}

// watch fails a subscription whose PONG is overdue, PINGs an idle one so
// that a dead connection is found before a request needs it, and drops
// entries past their age.
func (c *localCache) watch() {
	defer c.done.Done()
	tick := time.NewTicker(max(c.timeout/4, 5*time.Millisecond))
	defer tick.Stop()
	lastPing, lastSweep := time.Now(), time.Now()
	for {
		select {
		case <-c.ctx.Done():
			return
		case now := <-tick.C:
			c.mu.Lock()
			overdue := c.inflight != nil && now.Sub(c.inflight.sent) > c.timeout
			// A subscription Redis has not confirmed in time (its reply
			// lost on a stuck path) is as dead as a PING unanswered.
			unconfirmed := !c.live && c.ps != nil && now.Sub(c.psSince) > c.timeout
			if overdue || unconfirmed {
				ps := c.ps
				c.mu.Unlock()
				c.fail(ps)
				continue
			}
			var ps *redis.PubSub
			var seq uint64
			if c.live && c.inflight == nil && now.Sub(lastPing) >= c.keepalive {
				lastPing = now
				if c.next == nil {
					c.next = &barrier{done: make(chan struct{})}
				}
				ps, seq = c.promoteLocked()
			} else if c.inflight != nil {
				lastPing = now
			}
			if now.Sub(lastSweep) >= c.maxAge {
				lastSweep = now
				for k, e := range c.entries {
					if now.Sub(e.born) > c.maxAge {
						delete(c.entries, k)
					}
				}
			}
			c.mu.Unlock()
			if ps != nil {
				c.ping(ps, seq)
			}
		}
	}
}
