// Package redisstore keeps sessions, logins in flight, the assertion replay
// cache and rate limits in Redis, shared by every gateway replica. It works
// on a redis.UniversalClient, so the same configuration serves a single
// server, Sentinel or Cluster.
//
// Key layout (P is Options.Prefix, "cg:" by default):
//
//	P s:<HashID(id)>              hash: d (session JSON, no ID), x (absolute expiry, Unix ms),
//	                              i (idle timeout, ms), l (last idle extension, Unix ms),
//	                              p (person hash), k (IdP session hash)
//	P p:<HashPersonKey(person)>   set of session hashes of one person
//	P k:<HashIdPSession(idp,sid)> set of session hashes of one IdP session
//	P f:<hash(flow ID)>           login in flight, deleted by GETDEL
//	P r:<hash(key)>               replay cache entry
//	P l:<hash(key)>:<ms>:<n>      rate-limit counter of window n
//	P invalidate                  pub/sub channel: keys of session records that changed
//
// Neither session IDs nor personnummer appear in key names; a leaked
// database does not let anyone hijack a session.
//
// Time comes from Options.Now, not from Redis: the absolute expiry and the
// last-seen time are stored in the record and every script compares them
// with the caller's clock, so expiry is exact on every replica whose clock
// is synchronised (NTP) and tests can fast-forward without sleeping. Redis
// TTLs (PEXPIREAT) are set to the same instants and only collect garbage.
//
// Cluster: every script touches exactly one key, so no operation needs its
// keys in one slot and no hash tags are used (one tag for everything would
// put all sessions on one shard). Work over several keys (Put writing the
// session and its two index sets, DeleteByPerson) is a pipeline of
// single-key scripts, which go-redis splits per node. The indexes are
// therefore not updated atomically with the session: they may hold stale
// members, which List and DeleteBy* skip and remove lazily, and each member
// is checked against the session record's own p or k field before it is
// counted or deleted. Redis 6.2 or later is required (GETDEL).
//
// Get is the per-request hot path: without the local cache one EVALSHA
// that reads the record, checks both expiries, and moves last-seen and the
// TTL, so a session
// deleted meanwhile is never written back. It moves them lazily: only when
// the stored last-seen is at least min(idle/60, 15s) old (15s for a session
// without an idle timeout); otherwise the script only reads. An idle
// session therefore ends exactly idle after its last extension, which is
// up to that slack earlier than idle after its last request and never
// later; the absolute expiry caps it as before. The memory backend follows
// the same rule, and the conformance suite (sessiontest.IdleSlack) pins it
// down. The record is decoded by a direct parser for what Put writes, with
// encoding/json as the fallback for anything else.
//
// Local cache (Options.LocalCache, on by default in the gateway, not with
// Cluster): each replica may keep recently read records in memory. Pub/sub
// invalidation alone is fire-and-forget (a logout on one replica could be
// honoured from another's cache until the message arrived, or forever if
// that replica's subscription had silently died), and the design promises
// that a logout on one replica is a logout on all at once. So the scripts
// that replace or delete a record publish its key in the same atomic step,
// and a cached record is only used after a read barrier: a message the
// cache publishes, after the read began, through the store's client (so on
// the server the writes go to) on a channel of its own, and waits to
// receive on its subscription; Redis delivers it only after every message
// published before it. A logout whose response has left its replica has
// therefore reached every cache before any later request is answered from
// it. Requests that arrive together share one barrier. A barrier that does
// not come back in time (the subscription broke, stalled or is on another
// server), or an unconfirmed subscription, flush the cache and send reads
// to Redis until a new subscription is confirmed. See cache.go.
//
// Every Redis failure is returned wrapped so that
// errors.Is(err, session.ErrUnavailable) holds; callers fail closed. Only an
// absent key is session.ErrNotFound.
package redisstore
