package remote

import (
	"sync"
	"time"
)

// digest is a cache key: a SHA-256 of what the entry stands for, so that no
// personal data sits in a key in clear.
type digest = [32]byte

// cacheShards spreads a cache over this many locks, so concurrent requests
// rarely wait for one another.
const cacheShards = 32

// sweepInterval is how often a shard drops its dead entries on insert.
const sweepInterval = 10 * time.Second

// ttlCache is a bounded map from digests to values that die at a given
// time. get returns an entry whether dead or alive and the caller judges it
// by its own clock, so a cached value is never trusted beyond the checks
// the caller makes anyway. It holds at most about size entries: dead ones
// are swept on insert, and when a shard is still full an arbitrary live
// one makes room (a miss only costs a signature or a verification).
type ttlCache[V any] struct {
	shards   [cacheShards]cacheShard[V]
	perShard int
}

type cacheShard[V any] struct {
	mu        sync.Mutex
	m         map[digest]cacheEntry[V]
	lastSweep time.Time
}

type cacheEntry[V any] struct {
	v     V
	until time.Time
}

func newTTLCache[V any](size int) *ttlCache[V] {
	per := (size + cacheShards - 1) / cacheShards
	c := &ttlCache[V]{perShard: max(per, 1)}
	for i := range c.shards {
		c.shards[i].m = make(map[digest]cacheEntry[V])
	}
	return c
}

func (c *ttlCache[V]) shard(k digest) *cacheShard[V] {
	return &c.shards[int(k[0])%cacheShards]
}

// get returns the entry of k whatever its time; the caller judges it.
func (c *ttlCache[V]) get(k digest) (V, bool) {
	s := c.shard(k)
	s.mu.Lock()
	e, ok := s.m[k]
	s.mu.Unlock()
	return e.v, ok
}

// put stores v under k until until.
func (c *ttlCache[V]) put(k digest, v V, until, now time.Time) {
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, exists := s.m[k]; !exists && (len(s.m) >= c.perShard || now.Sub(s.lastSweep) >= sweepInterval) {
		s.sweep(now)
		for victim := range s.m {
			if len(s.m) < c.perShard {
				break
			}
			delete(s.m, victim)
		}
	}
	s.m[k] = cacheEntry[V]{v: v, until: until}
}

// remove drops k.
func (c *ttlCache[V]) remove(k digest) {
	s := c.shard(k)
	s.mu.Lock()
	delete(s.m, k)
	s.mu.Unlock()
}

// len returns the number of entries, dead ones included.
func (c *ttlCache[V]) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}

func (s *cacheShard[V]) sweep(now time.Time) {
	s.lastSweep = now
	for k, e := range s.m {
		if !now.Before(e.until) {
			delete(s.m, k)
		}
	}
}
