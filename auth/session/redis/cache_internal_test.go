package redisstore

import "testing"

// TestFillAfterInvalidation pins down the epoch guard: a record read before
// an invalidation arrived must not be cached after it, or a logout that
// overtook a read in flight would be undone by that read.
func TestFillAfterInvalidation(t *testing.T) {
	c := &localCache{entries: map[string]*cacheEntry{}, live: true, max: 10}
	epoch := c.epoch
	c.invalidate("cg:s:a")
	c.fill("cg:s:a", &cacheEntry{data: "{}"}, epoch)
	if _, ok := c.entries["cg:s:a"]; ok {
		t.Fatal("a read that began before an invalidation filled the cache")
	}
	c.fill("cg:s:a", &cacheEntry{data: "{}"}, c.epoch)
	if _, ok := c.entries["cg:s:a"]; !ok {
		t.Fatal("a read with the current epoch did not fill the cache")
	}

	// Not live (no confirmed subscription): nothing is cached.
	c.mu.Lock()
	c.downLocked()
	c.mu.Unlock()
	c.fill("cg:s:b", &cacheEntry{data: "{}"}, c.epoch)
	if len(c.entries) != 0 {
		t.Fatal("a cache without a subscription was filled")
	}

	// Full: a new key replaces one, the size stays bounded.
	c.live = true
	for i := range 25 {
		c.fill(string(rune('a'+i)), &cacheEntry{data: "{}"}, c.epoch)
	}
	if len(c.entries) != c.max {
		t.Fatalf("%d entries, want the bound %d", len(c.entries), c.max)
	}
}
