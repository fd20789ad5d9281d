package credcache_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/outpost-go/outposts/authclient/cache"
	"github.com/outpost-go/outposts/authclient/credcache"
	"github.com/outpost-go/outposts/authclient/outpost/outposttest"
)

// stores returns the caches every test runs against: memory and real Redis.
func stores(t *testing.T) map[string]func(t *testing.T) cache.Cache {
	return map[string]func(t *testing.T) cache.Cache{
		"memory": func(*testing.T) cache.Cache { return cache.NewMemory(1000) },
		"redis":  redisCache,
	}
}

func redisCache(t *testing.T) cache.Cache {
	t.Helper()
	c, _ := redisCacheWithPrefix(t)
	return c
}

func redisCacheWithPrefix(t *testing.T) (cache.Cache, string) {
	t.Helper()
	client := redis.NewClient(&redis.Options{Addr: outposttest.NeedRedis(t), ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = client.Close() })
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	prefix := "credcachetest:" + hex.EncodeToString(b) + ":"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		iter := client.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			client.Del(ctx, iter.Val())
		}
	})
	return cache.NewRedis(client, cache.RedisOptions{Prefix: prefix, Timeout: time.Second}), prefix
}

func each(t *testing.T, fn func(t *testing.T, c cache.Cache)) {
	t.Helper()
	for name, newCache := range stores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fn(t, newCache(t))
		})
	}
}

func TestDeriveKey(t *testing.T) {
	t.Parallel()
	a, b := credcache.DeriveKey("token-a"), credcache.DeriveKey("token-b")
	assert.Len(t, a, 32)
	assert.Equal(t, a, credcache.DeriveKey("token-a"), "replicas of one outpost agree")
	assert.NotEqual(t, a, b)
	assert.NotContains(t, string(a), "token-a")
}

func TestCheckStore(t *testing.T) {
	t.Parallel()
	each(t, func(t *testing.T, c cache.Cache) {
		ctx := t.Context()
		cc := credcache.New(c, credcache.DeriveKey("tok"), time.Hour)
		pcd := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
		e := credcache.Entry{UserPK: 7, PasswordChangeDate: pcd, IsActive: true, SessionID: "sid-1", Data: []byte{1, 2, 3}}

		_, ok := cc.Check(ctx, "1", "alice", "pw")
		assert.False(t, ok, "nothing stored yet")
		cc.Store(ctx, "1", "alice", "pw", e)

		got, ok := cc.Check(ctx, "1", "alice", "pw")
		require.True(t, ok)
		assert.Equal(t, int32(7), got.UserPK)
		assert.True(t, got.PasswordChangeDate.Equal(pcd))
		assert.True(t, got.IsActive)
		assert.Equal(t, "sid-1", got.SessionID)
		assert.Equal(t, []byte{1, 2, 3}, got.Data)
		assert.False(t, got.StoredAt.IsZero())

		tests := []struct{ scope, user, pw string }{
			{"1", "alice", "wrong"},
			{"1", "alice", "pw "},
			{"1", "alice", ""},
			{"2", "alice", "pw"},
			{"1", "bob", "pw"},
			{"1", "Alice", "pw"},
		}
		for _, tt := range tests {
			_, ok := cc.Check(ctx, tt.scope, tt.user, tt.pw)
			assert.False(t, ok, "%+v", tt)
		}

		// Another replica with the same token sees the entry; another
		// outpost does not.
		_, ok = credcache.New(c, credcache.DeriveKey("tok"), time.Hour).Check(ctx, "1", "alice", "pw")
		assert.True(t, ok)
		_, ok = credcache.New(c, credcache.DeriveKey("other"), time.Hour).Check(ctx, "1", "alice", "pw")
		assert.False(t, ok)

		// A new password replaces the old one.
		cc.Store(ctx, "1", "alice", "new", e)
		_, ok = cc.Check(ctx, "1", "alice", "pw")
		assert.False(t, ok)
		_, ok = cc.Check(ctx, "1", "alice", "new")
		assert.True(t, ok)

		cc.Invalidate(ctx, "1", "alice")
		_, ok = cc.Check(ctx, "1", "alice", "new")
		assert.False(t, ok)
	})
}

func TestNoPlaintextStored(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	m := cache.NewMemory(100)
	cc := credcache.New(m, credcache.DeriveKey("tok"), time.Hour)
	cc.Store(ctx, "1", "alice-the-user", "s3cret-password", credcache.Entry{UserPK: 1, IsActive: true, SessionID: "sess"})
	require.Equal(t, 2, m.Len(), "the entry and its session index")
	// In Redis, neither the name nor the password appears in any key or
	// value.
	r, prefix := redisCacheWithPrefix(t)
	credcache.New(r, credcache.DeriveKey("tok"), time.Hour).Store(ctx, "1", "alice-the-user", "s3cret-password", credcache.Entry{UserPK: 1})
	client := redis.NewClient(&redis.Options{Addr: outposttest.MachineRedis})
	t.Cleanup(func() { _ = client.Close() })
	keys, err := client.Keys(ctx, prefix+"*").Result()
	require.NoError(t, err)
	require.NotEmpty(t, keys)
	for _, k := range keys {
		assert.NotContains(t, k, "alice")
		v, err := client.Get(ctx, k).Bytes()
		require.NoError(t, err)
		assert.NotContains(t, string(v), "s3cret")
		assert.NotContains(t, string(v), "alice")
	}
}

func TestTTL(t *testing.T) {
	t.Parallel()
	each(t, func(t *testing.T, c cache.Cache) {
		cc := credcache.New(c, credcache.DeriveKey("tok"), 200*time.Millisecond)
		cc.Store(t.Context(), "1", "alice", "pw", credcache.Entry{UserPK: 1})
		require.Eventually(t, func() bool {
			_, ok := cc.Check(t.Context(), "1", "alice", "pw")
			return !ok
		}, 10*time.Second, 20*time.Millisecond)
	})
}

func TestInvalidateSession(t *testing.T) {
	t.Parallel()
	each(t, func(t *testing.T, c cache.Cache) {
		ctx := t.Context()
		cc := credcache.New(c, credcache.DeriveKey("tok"), time.Hour)
		cc.Store(ctx, "1", "alice", "pw", credcache.Entry{UserPK: 1, SessionID: "s1"})
		cc.Store(ctx, "1", "bob", "pw", credcache.Entry{UserPK: 2, SessionID: "s2"})
		cc.InvalidateSession(ctx, "s1")
		cc.InvalidateSession(ctx, "unknown")
		cc.InvalidateSession(ctx, "")
		_, ok := cc.Check(ctx, "1", "alice", "pw")
		assert.False(t, ok)
		_, ok = cc.Check(ctx, "1", "bob", "pw")
		assert.True(t, ok)

		// A newer success with another session survives the old one's end.
		cc.Store(ctx, "1", "bob", "pw", credcache.Entry{UserPK: 2, SessionID: "s3"})
		cc.InvalidateSession(ctx, "s2")
		_, ok = cc.Check(ctx, "1", "bob", "pw")
		assert.True(t, ok)
	})
}

func TestValid(t *testing.T) {
	t.Parallel()
	pcd := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	e := credcache.Entry{UserPK: 3, PasswordChangeDate: pcd, IsActive: true}
	tests := []struct {
		name string
		user credcache.User
		want bool
	}{
		{"unchanged", credcache.User{PK: 3, PasswordChangeDate: pcd.In(time.FixedZone("x", 3600)), IsActive: true}, true},
		{"password changed", credcache.User{PK: 3, PasswordChangeDate: pcd.Add(time.Second), IsActive: true}, false},
		{"deactivated", credcache.User{PK: 3, PasswordChangeDate: pcd, IsActive: false}, false},
		{"other user", credcache.User{PK: 4, PasswordChangeDate: pcd, IsActive: true}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, e.Valid(tt.user))
		})
	}
	assert.False(t, credcache.Entry{UserPK: 3, PasswordChangeDate: pcd}.Valid(credcache.User{PK: 3, PasswordChangeDate: pcd, IsActive: true}),
		"an entry stored for an inactive user is never valid")
}

func TestLimiter(t *testing.T) {
	t.Parallel()
	each(t, func(t *testing.T, c cache.Cache) {
		ctx := t.Context()
		secret := credcache.DeriveKey("tok")
		opts := credcache.LimiterOptions{UserFailures: 3, ClientFailures: 5, Window: time.Hour, Recheck: time.Nanosecond}
		l := credcache.NewLimiter(c, secret, opts)
		other := credcache.NewLimiter(c, secret, opts)

		for range 2 {
			assert.True(t, l.Allow(ctx, "1", "alice", "10.0.0.1"))
			l.Fail(ctx, "1", "alice", "10.0.0.1")
		}
		// The third failure comes through another replica: state is shared.
		other.Fail(ctx, "1", "alice", "10.0.0.1")
		assert.False(t, l.Allow(ctx, "1", "alice", "10.0.0.2"), "user blocked from any client")
		assert.True(t, l.Allow(ctx, "1", "bob", "10.0.0.1"), "client not blocked yet")
		assert.True(t, l.Allow(ctx, "2", "alice", "10.0.0.1"), "scopes are separate")

		l.Reset(ctx, "1", "alice")
		assert.True(t, l.Allow(ctx, "1", "alice", "10.0.0.2"))

		// The client reaches its limit across users; Reset of a user does
		// not forgive it.
		l.Fail(ctx, "1", "bob", "10.0.0.1")
		l.Fail(ctx, "1", "carol", "10.0.0.1")
		l.Reset(ctx, "1", "bob")
		assert.False(t, l.Allow(ctx, "1", "dave", "10.0.0.1"))
		assert.True(t, l.Allow(ctx, "1", "dave", "10.0.0.9"))
	})
}

// A "not blocked" answer is reused for Recheck; the replica that set a
// block applies it at once.
func TestLimiterRecheck(t *testing.T) {
	t.Parallel()
	each(t, func(t *testing.T, c cache.Cache) {
		ctx := t.Context()
		opts := credcache.LimiterOptions{UserFailures: 2, Window: time.Hour, Recheck: time.Hour}
		a := credcache.NewLimiter(c, nil, opts)
		b := credcache.NewLimiter(c, nil, opts)
		require.True(t, a.Allow(ctx, "1", "alice", ""))
		b.Fail(ctx, "1", "alice", "")
		b.Fail(ctx, "1", "alice", "")
		assert.False(t, b.Allow(ctx, "1", "alice", ""))
		assert.True(t, a.Allow(ctx, "1", "alice", ""), "a checked recently and reuses that answer")
		fresh := credcache.NewLimiter(c, nil, opts)
		assert.False(t, fresh.Allow(ctx, "1", "alice", ""), "a replica that has not checked yet sees the block")
	})
}

// A cache without counters still limits, per process.
func TestLimiterWithoutCounter(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	l := credcache.NewLimiter(plainCache{cache.NewMemory(10)}, nil, credcache.LimiterOptions{UserFailures: 2, ClientFailures: -1})
	l.Fail(ctx, "s", "u", "c")
	assert.True(t, l.Allow(ctx, "s", "u", "c"))
	l.Fail(ctx, "s", "u", "c")
	assert.False(t, l.Allow(ctx, "s", "u", "c"))
	assert.True(t, l.Allow(ctx, "s", "v", "c"), "client limit disabled")
	l.Reset(ctx, "s", "u")
	assert.True(t, l.Allow(ctx, "s", "u", "c"))
}

// plainCache hides Memory's Counter.
type plainCache struct{ m *cache.Memory }

func (p plainCache) Get(ctx context.Context, k string) ([]byte, bool) { return p.m.Get(ctx, k) }
func (p plainCache) Set(ctx context.Context, k string, v []byte, ttl time.Duration) {
	p.m.Set(ctx, k, v, ttl)
}
func (p plainCache) Delete(ctx context.Context, k string) { p.m.Delete(ctx, k) }

func TestWithLocal(t *testing.T) {
	t.Parallel()
	each(t, func(t *testing.T, shared cache.Cache) {
		ctx := t.Context()
		key := credcache.DeriveKey("tok")
		a := credcache.New(shared, key, time.Hour).WithLocal(100, time.Hour)
		b := credcache.New(shared, key, time.Hour).WithLocal(100, time.Hour)
		a.Store(ctx, "1", "alice", "pw", credcache.Entry{UserPK: 1, SessionID: "s1"})
		_, ok := b.Check(ctx, "1", "alice", "pw")
		require.True(t, ok, "replica b reads a's entry from the shared cache")

		// a's invalidation reaches b's local copy only when it ages out
		// (documented); b's own invalidation applies at once.
		a.Invalidate(ctx, "1", "alice")
		_, ok = b.Check(ctx, "1", "alice", "pw")
		assert.True(t, ok)
		b.Invalidate(ctx, "1", "alice")
		_, ok = b.Check(ctx, "1", "alice", "pw")
		assert.False(t, ok)

		// SESSION_END reaches every replica and clears each local copy.
		a.Store(ctx, "1", "bob", "pw", credcache.Entry{UserPK: 2, SessionID: "s2"})
		_, ok = b.Check(ctx, "1", "bob", "pw")
		require.True(t, ok)
		a.InvalidateSession(ctx, "s2")
		b.InvalidateSession(ctx, "s2")
		_, ok = b.Check(ctx, "1", "bob", "pw")
		assert.False(t, ok)
		_, ok = a.Check(ctx, "1", "bob", "pw")
		assert.False(t, ok)
	})
}

// An entry older than the local age is not copied in process: the shared
// cache stays the authority for it.
func TestWithLocalAge(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	shared := cache.NewMemory(100)
	key := credcache.DeriveKey("tok")
	credcache.New(shared, key, time.Hour).Store(ctx, "1", "alice", "pw", credcache.Entry{UserPK: 1})
	b := credcache.New(shared, key, time.Hour).WithLocal(100, time.Nanosecond)
	_, ok := b.Check(ctx, "1", "alice", "pw")
	require.True(t, ok)
	credcache.New(shared, key, time.Hour).Invalidate(ctx, "1", "alice")
	_, ok = b.Check(ctx, "1", "alice", "pw")
	assert.False(t, ok, "served from the shared cache, where it is gone")
}

// A replica that keeps answering a user from its recent "not blocked"
// read still sees a block set by another replica (the read is renewed in
// the background while the user keeps coming).
func TestLimiterSeesRemoteBlockWhileInUse(t *testing.T) {
	t.Parallel()
	each(t, func(t *testing.T, c cache.Cache) {
		ctx := t.Context()
		secret := credcache.DeriveKey("tok")
		opts := credcache.LimiterOptions{UserFailures: 2, ClientFailures: -1, Window: time.Hour, Recheck: 200 * time.Millisecond}
		l := credcache.NewLimiter(c, secret, opts)
		other := credcache.NewLimiter(c, secret, opts)
		require.True(t, l.Allow(ctx, "1", "alice", "10.0.0.1"))
		other.Fail(ctx, "1", "alice", "10.0.0.2")
		other.Fail(ctx, "1", "alice", "10.0.0.2")
		if _, counts := c.(cache.Counter); !counts {
			return // without shared counters each replica counts alone
		}
		require.Eventually(t, func() bool { return !l.Allow(ctx, "1", "alice", "10.0.0.1") }, 10*time.Second, 10*time.Millisecond)
		assert.True(t, l.Allow(ctx, "1", "bob", "10.0.0.1"), "others are not blocked")
	})
}
