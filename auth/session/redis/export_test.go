package redisstore

import (
	"context"

	"github.com/redis/go-redis/v9"

	"github.com/civicgate/civicgate/auth/session"
)

// RunScriptsFresh runs a script that no Redis has seen yet through the
// pipeline path, so the NOSCRIPT fallback is exercised without flushing the
// shared script cache.
func (s *Store) RunScriptsFresh(ctx context.Context, src string, keys []string) ([]int64, error) {
	sc := newScript(src)
	calls := make([]*scriptCall, len(keys))
	for i, k := range keys {
		calls[i] = &scriptCall{script: sc, key: k}
	}
	if err := s.runScripts(ctx, calls, nil); err != nil {
		return nil, err
	}
	out := make([]int64, len(calls))
	for i, c := range calls {
		n, err := c.cmd.Int64()
		if err != nil {
			return nil, err
		}
		out[i] = n
	}
	return out, nil
}

// DecodeSession is decodeSession.
var DecodeSession = decodeSession

// IdleSlack is the rule the backend uses.
var IdleSlack = session.IdleSlack

// DecodesDirectly reports whether decodeSession takes its direct path for
// data, without the encoding/json fallback.
func DecodesDirectly(data string) bool {
	var s session.Session
	d := decoder{s: data}
	return d.session(&s) && d.i == len(d.s)
}

// HasLocalCache reports whether the store has a local cache.
func (s *Store) HasLocalCache() bool { return s.cache != nil }

// CopySession is copySession.
var CopySession = copySession

// NewWithSubscriber is New with a local cache whose subscription uses sub
// instead of client, as a subscription left on another server would.
func NewWithSubscriber(client redis.UniversalClient, sub *redis.Client, opts Options) *Store {
	s := New(client, Options{Prefix: opts.Prefix, Now: opts.Now})
	s.startCache(client, sub, opts)
	return s
}
