// Package credcache remembers successful password checks, and counts failed
// ones, in the cache every replica of an outpost shares. The LDAP outpost
// uses it for its bind cache and the RADIUS outpost for cached PAP.
//
// # What is stored
//
// Never a password. A success is stored as an HMAC-SHA256 verifier of
// (scope, username, password) under a key that is itself an HMAC of
// (scope, username), so Redis holds neither passwords nor user names. Only
// the last successful password of a user is remembered: a new success
// overwrites the entry. Next to the verifier, an [Entry] carries what a
// replica needs to answer without the core: the user's pk, its
// password_change_date and is_active as the core last reported them, the
// core session id (for SESSION_END) and opaque outpost data (RADIUS reply
// attributes, LDAP search permission).
//
// # The key
//
// Every replica of one outpost must compute the same HMACs, and nobody who
// can read Redis may compute them. The outpost token has both properties: it
// is the same on every replica of an outpost, differs between outposts, and
// is secret. [DeriveKey] derives the HMAC key from it as
// HMAC-SHA256(token, "credcache v1"), so the token itself is never used as
// a key and rotating the token (or bumping the label) voids every entry.
// An attacker with read access to Redis still has to guess passwords
// offline against HMAC with an unknown 256-bit key, which is impossible.
//
// # Invalidation (same rules for LDAP and RADIUS)
//
// A cached success is void when:
//   - its TTL has passed (the caller chooses it; see the outposts' docs);
//   - the user's password_change_date or is_active changed: [Entry.Valid]
//     compares the entry with a user freshly fetched from the core or taken
//     from a directory snapshot, and callers that have such a user must
//     check it;
//   - the core ends the session the success was obtained with (SESSION_END,
//     [Cache.InvalidateSession]), which also covers "log out everywhere" and
//     an administrator deleting the user's sessions;
//   - the core rejects the cached password (the user was deactivated, lost
//     access, or changed the password): callers call [Cache.Invalidate].
//
// # Multi-factor authentication
//
// A second factor can only be checked by the core: a TOTP code changes every
// 30 seconds and cannot be verified from a cached HMAC. Callers must not
// answer from the cache for a provider with mfa_support, or the cache would
// let a password alone in. Both outposts bypass the cache for such
// providers.
//
// # Rate limiting
//
// [Limiter] counts failed attempts per user and per client in the same
// shared cache (cache.Counter, an atomic INCR with a fixed window in Redis).
// When a key reaches its limit it is blocked for one window. Defaults: 5
// failures per user and 20 per client address in 5 minutes. A success resets
// the user's count but not the client's, so one valid account does not let a
// client go on guessing others. When the shared cache cannot count, the
// limiter counts in process: limits then hold per replica. So that checking
// costs no round trip on every request, a "not blocked" answer from the
// shared cache is reused in process for LimiterOptions.Recheck (1 s): a
// block set by another replica reaches this one within that time, a block
// set here applies at once.
package credcache
