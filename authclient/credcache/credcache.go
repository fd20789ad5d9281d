package credcache

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"sync"
	"time"

	"github.com/outpost-go/outposts/authclient/cache"
)

// keyLabel is mixed into DeriveKey; changing it voids every stored entry.
const keyLabel = "credcache v1"

// DeriveKey returns the HMAC key for an outpost from its token (see the
// package doc for why the token).
func DeriveKey(token string) []byte {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte(keyLabel))
	return m.Sum(nil)
}

// Entry is what a cached success remembers besides the password verifier.
type Entry struct {
	UserPK             int32
	PasswordChangeDate time.Time // zero when the core did not report one
	IsActive           bool
	// SessionID is the core session the success was obtained with ("" when
	// unknown); SESSION_END for it voids the entry.
	SessionID string
	// StoredAt is set by Store.
	StoredAt time.Time
	// Data is opaque outpost data: RADIUS reply attributes, LDAP search
	// permission.
	Data []byte
}

// User is the core's current view of a user, to check an Entry against.
type User struct {
	PK                 int32
	PasswordChangeDate time.Time
	IsActive           bool
}

// Valid reports whether e still holds for u: the same user, still active,
// whose password has not changed since e was stored.
func (e Entry) Valid(u User) bool {
	return e.UserPK == u.PK && u.IsActive && e.IsActive &&
		e.PasswordChangeDate.Equal(u.PasswordChangeDate)
}

// Age is how long ago the entry was stored.
func (e Entry) Age(now time.Time) time.Duration { return now.Sub(e.StoredAt) }

// Cache stores successful password checks in a shared cache.Cache.
type Cache struct {
	c    cache.Cache
	macs *macPool
	ttl  time.Duration
	now  func() time.Time

	// local, when set, answers before c for entries younger than
	// localAge (see WithLocal).
	local    *cache.Memory
	localAge time.Duration
}

// New returns a Cache over c (which it namespaces under "credcache"),
// keyed with secret (from DeriveKey), whose entries live for ttl.
func New(c cache.Cache, secret []byte, ttl time.Duration) *Cache {
	return &Cache{
		c:    cache.Namespace(c, "credcache"),
		macs: newMACPool(secret),
		ttl:  ttl,
		now:  time.Now,
	}
}

// WithLocal returns a copy of c that also keeps up to maxEntries entries in
// process, each for at most maxAge after it was stored (by any replica), so
// the hot path does not wait for Redis. Everything this replica stores or
// invalidates is applied to both; an invalidation on another replica
// reaches this one's copy only when it ages out, so maxAge bounds how long a
// replica may still accept a password the shared cache has dropped (RADIUS
// uses its "fresh" window, within which it answers from cache anyway).
// SESSION_END reaches every replica, so InvalidateSession has no such delay.
func (c *Cache) WithLocal(maxEntries int, maxAge time.Duration) *Cache {
	cc := *c
	cc.local = cache.NewMemory(maxEntries)
	cc.localAge = maxAge
	return &cc
}

// TTL is the lifetime of a stored entry.
func (c *Cache) TTL() time.Duration { return c.ttl }

// Check returns the entry stored for (scope, username) if password is the
// one that succeeded. scope separates providers (e.g. the provider pk).
func (c *Cache) Check(ctx context.Context, scope, username, password string) (Entry, bool) {
	key := c.userKey(scope, username)
	if c.local != nil {
		if raw, ok := c.local.Get(ctx, key); ok {
			return c.match(raw, scope, username, password)
		}
	}
	raw, ok := c.c.Get(ctx, key)
	if !ok {
		return Entry{}, false
	}
	e, ok := c.match(raw, scope, username, password)
	if ok && c.local != nil {
		if left := c.localAge - e.Age(c.now()); left > 0 {
			c.storeLocal(ctx, key, raw, e.SessionID, left)
		}
	}
	return e, ok
}

func (c *Cache) match(raw []byte, scope, username, password string) (Entry, bool) {
	verifier, e, err := decodeEntry(raw)
	if err != nil {
		return Entry{}, false
	}
	if !hmac.Equal(verifier, c.verifier(scope, username, password)) {
		return Entry{}, false
	}
	return e, true
}

// Store remembers that password succeeded for (scope, username), replacing
// any earlier entry for that user. It sets e.StoredAt.
func (c *Cache) Store(ctx context.Context, scope, username, password string, e Entry) {
	e.StoredAt = c.now()
	key := c.userKey(scope, username)
	raw := encodeEntry(c.verifier(scope, username, password), e)
	c.c.Set(ctx, key, raw, c.ttl)
	if c.local != nil {
		c.storeLocal(ctx, key, raw, e.SessionID, min(c.localAge, c.ttl))
	}
	if e.SessionID != "" {
		c.c.Set(ctx, c.sessionKey(e.SessionID), []byte(key), c.ttl)
	}
}

// storeLocal keeps an entry, and its session index, in process.
func (c *Cache) storeLocal(ctx context.Context, key string, raw []byte, sessionID string, ttl time.Duration) {
	c.local.Set(ctx, key, raw, ttl)
	if sessionID != "" {
		c.local.Set(ctx, c.sessionKey(sessionID), []byte(key), ttl)
	}
}

// Invalidate forgets the success stored for (scope, username).
func (c *Cache) Invalidate(ctx context.Context, scope, username string) {
	key := c.userKey(scope, username)
	c.c.Delete(ctx, key)
	if c.local != nil {
		c.local.Delete(ctx, key)
	}
}

// InvalidateSession forgets the success obtained with the core session
// sessionID (from a SESSION_END message).
func (c *Cache) InvalidateSession(ctx context.Context, sessionID string) {
	if sessionID == "" {
		return
	}
	sk := c.sessionKey(sessionID)
	if c.local != nil {
		// Every replica gets SESSION_END; the shared entry may be gone
		// already (deleted by the first), this replica's copy is not.
		if key, ok := c.local.Get(ctx, sk); ok {
			c.local.Delete(ctx, string(key))
			c.local.Delete(ctx, sk)
		}
	}
	key, ok := c.c.Get(ctx, sk)
	if !ok {
		return
	}
	// Only if the user's entry still belongs to this session: a later
	// success with another session must survive the end of this one.
	if raw, ok := c.c.Get(ctx, string(key)); ok {
		if _, e, err := decodeEntry(raw); err == nil && e.SessionID == sessionID {
			c.c.Delete(ctx, string(key))
		}
	}
	c.c.Delete(ctx, sk)
}

func (c *Cache) mac(kind string, parts ...string) []byte {
	return c.macs.sum(kind, parts...)
}

// macPool reuses keyed HMAC states: hmac.New hashes the key pads on every
// call, which is most of the cost of a cached check.
type macPool struct{ p sync.Pool }

func newMACPool(secret []byte) *macPool {
	key := append([]byte(nil), secret...)
	return &macPool{p: sync.Pool{New: func() any { return hmac.New(sha256.New, key) }}}
}

func (mp *macPool) sum(kind string, parts ...string) []byte {
	m := mp.p.Get().(hash.Hash)
	defer mp.p.Put(m)
	m.Reset()
	m.Write([]byte(kind))
	var n [4]byte
	for _, p := range parts {
		// Length-prefixed, so ("ab","c") and ("a","bc") differ.
		binary.BigEndian.PutUint32(n[:], uint32(len(p)))
		m.Write(n[:])
		m.Write([]byte(p))
	}
	return m.Sum(nil)
}

func (c *Cache) userKey(scope, username string) string {
	return "u:" + hex.EncodeToString(c.mac("user", scope, username)[:20])
}

func (c *Cache) sessionKey(sessionID string) string {
	return "s:" + hex.EncodeToString(c.mac("session", sessionID)[:20])
}

func (c *Cache) verifier(scope, username, password string) []byte {
	return c.mac("password", scope, username, password)
}
