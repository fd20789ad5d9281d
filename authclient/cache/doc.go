// Package cache is the key/value cache the outposts share: sessions, flow
// results and other values that are expensive to recompute but safe to lose.
//
// # One interface, two stores
//
// [Cache] has three methods and no errors. Callers treat it as an
// optimisation: a miss means "compute it again", never "fail the request".
//
//   - [Redis] is used when a Redis is configured. Every replica of an outpost
//     talks to the same Redis, so a session created on one replica is seen by
//     the next request, whichever replica serves it.
//   - [Memory] is used when no Redis is configured: an in-process LRU with a
//     fixed number of entries and per-entry TTLs.
//
// [New] picks one from the configuration. Both run the same conformance
// suite (package cachetest): a behaviour only one of them has is a bug.
//
// # Why fall back instead of failing
//
// With Redis configured, [New] returns a [Failover]. When Redis stops
// answering, an outpost that turned every cache error into a failed login
// would turn a cache outage into an authentication outage. So the first
// failed call switches the process to an in-process [Memory], logs once,
// counts authentik_outpost_cache_fallback_total and moves the
// authentik_outpost_cache_backend gauge. A background probe (never a
// request) pings Redis and switches back when it answers. Every Redis call
// is bounded by a timeout (default 50 ms) enforced by this package, not by
// the client's settings, so a hung Redis costs a request at most that long,
// once. During the outage replicas no longer share state: a user may have to
// log in again, which is the price of staying up.
//
// Keys written or deleted during an outage are remembered and deleted from
// Redis before switching back, so that Redis cannot serve a value older than
// what the process saw meanwhile (a session deleted at logout would
// otherwise come back, and a write that timed out but landed late would
// survive).
//
// # Why values are versioned
//
// Values in Redis are wrapped in an envelope whose first byte is the format
// version. An outpost fleet is upgraded one replica at a time, so old and new
// code read each other's values. A reader that does not know a version treats
// the value as a miss and recomputes it: a format change costs some cache
// misses during a rollout instead of errors or misread data.
//
// # Key layout
//
// A Redis key is the configured prefix (AUTHENTIK_REDIS__KEY_PREFIX, to which
// New adds a ':') followed by the namespaced key:
//
//	ak-outpost:outpost:<outpost uuid>:provider:<pk>:<key>
//
// where the middle part comes from [Namespace](c, "outpost", uuid,
// "provider", pk). The prefix lets several deployments share one Redis; the
// outpost and provider parts keep outposts, and providers within one, apart. Namespace escapes ':' and '%' in every part and in the key,
// so the number of unescaped ':' always equals the number of parts and two
// different part lists can never produce the same key.
package cache
