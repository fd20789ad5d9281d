package session_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/outpost-go/outposts/authclient/cache"
	"github.com/outpost-go/outposts/authclient/outpost/outposttest"
	"github.com/outpost-go/outposts/proxy-outpost/session"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// backends are the caches the store must work on: in-process, and Redis
// when one answers on 127.0.0.1:6379.
func backends(t *testing.T) map[string]func(t *testing.T) cache.Cache {
	t.Helper()
	b := map[string]func(t *testing.T) cache.Cache{
		"memory": func(*testing.T) cache.Cache { return cache.NewMemory(1000) },
	}
	if c, err := net.DialTimeout("tcp", "127.0.0.1:6379", time.Second); err == nil {
		_ = c.Close()
		b["redis"] = func(t *testing.T) cache.Cache {
			_, shared, _ := sharedRedis(t, "session-test")
			return shared
		}
	}
	return b
}

// sharedRedis is a client of the test Redis and a cache on it under a
// prefix of its own (returned too), whose keys are deleted when tb ends.
func sharedRedis(tb testing.TB, name string) (*redis.Client, cache.Cache, string) {
	tb.Helper()
	client := redis.NewClient(&redis.Options{Addr: outposttest.NeedRedis(tb)})
	prefix := fmt.Sprintf("%s:%s:%d:", name, tb.Name(), time.Now().UnixNano())
	tb.Cleanup(func() {
		ctx := context.Background()
		iter := client.Scan(ctx, 0, prefix+"*", 500).Iterator()
		for iter.Next(ctx) {
			_ = client.Del(ctx, iter.Val()).Err()
		}
		_ = client.Close()
	})
	return client, cache.NewRedis(client, cache.RedisOptions{Prefix: prefix, Timeout: 2 * time.Second}), prefix
}

// liveNear starts a Near over shared, invalidated on channel, and waits
// until it is subscribed; it stops when tb ends.
func liveNear(tb testing.TB, shared cache.Cache, client redis.UniversalClient, channel string) *session.Near {
	tb.Helper()
	n := session.NewNear(shared, client, session.NearOptions{Channel: channel, Log: zerolog.Nop()})
	go n.Run(tb.Context())
	require.Eventually(tb, n.Live, 10*time.Second, 10*time.Millisecond)
	return n
}

func newStore(t *testing.T, c cache.Cache, clk *clock) *session.Store {
	t.Helper()
	s, err := session.New(c, "cookie-secret-0123456789", session.Options{
		IdleTimeout: time.Hour, MaxLifetime: 8 * time.Hour, Now: clk.now,
	})
	require.NoError(t, err)
	return s
}

func TestStore(t *testing.T) {
	t.Parallel()
	for name, mk := range backends(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			clk := &clock{t: time.Now()}
			c := mk(t)
			s := newStore(t, c, clk)

			id, err := s.NewID()
			require.NoError(t, err)
			parsed, err := s.ParseCookie(id.Cookie())
			require.NoError(t, err)
			assert.Equal(t, id.Key(), parsed.Key())

			sess := &session.Session{Claims: session.Claims{Sub: "u1", PreferredUsername: "alice", Sid: "sid-1"}, RawToken: "tok"}
			sess.Epoch = s.Epoch(ctx, "u1")
			require.NoError(t, s.Save(ctx, id, sess))
			got, err := s.Load(ctx, id)
			require.NoError(t, err)
			assert.Equal(t, "alice", got.Claims.PreferredUsername)
			assert.Equal(t, "tok", got.RawToken)

			// The stored value is encrypted: no claim appears in it.
			raw, ok := c.Get(ctx, id.Key())
			require.True(t, ok)
			assert.NotContains(t, string(raw), "alice")
			assert.NotContains(t, string(raw), "tok")

			// Tampering is detected.
			bad := append([]byte(nil), raw...)
			bad[len(bad)-1] ^= 1
			c.Set(ctx, id.Key(), bad, time.Hour)
			_, err = s.Load(ctx, id)
			assert.ErrorIs(t, err, session.ErrInvalid)
			c.Set(ctx, id.Key(), raw, time.Hour)

			// Another provider's secret cannot read or sign it.
			other, err := session.New(c, "another-secret", session.Options{Now: clk.now})
			require.NoError(t, err)
			_, err = other.ParseCookie(id.Cookie())
			assert.ErrorIs(t, err, session.ErrInvalid)

			// Revoking the user ends the session; a new one records the
			// new epoch and lives.
			s.RevokeUser(ctx, "u1")
			_, err = s.Load(ctx, id)
			assert.ErrorIs(t, err, session.ErrRevoked)
			id2, _ := s.NewID()
			require.NoError(t, s.Save(ctx, id2, &session.Session{Claims: session.Claims{Sub: "u1", Sid: "sid-2"}, Epoch: s.Epoch(ctx, "u1")}))
			_, err = s.Load(ctx, id2)
			require.NoError(t, err)

			// SESSION_END removes the sessions of that IdP session only.
			id3, _ := s.NewID()
			require.NoError(t, s.Save(ctx, id3, &session.Session{Claims: session.Claims{Sub: "u1", Sid: "sid-3"}, Epoch: s.Epoch(ctx, "u1")}))
			s.IndexSID(ctx, "sid-2", id2)
			s.IndexSID(ctx, "sid-3", id3)
			assert.Equal(t, 1, s.RevokeSID(ctx, "sid-2"))
			_, err = s.Load(ctx, id2)
			assert.ErrorIs(t, err, session.ErrNotFound)
			_, err = s.Load(ctx, id3)
			assert.NoError(t, err)
			assert.Equal(t, 0, s.RevokeSID(ctx, "unknown"))
		})
	}
}

func TestLifetimes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := &clock{t: time.Now()}
	s := newStore(t, cache.NewMemory(100), clk)
	id, _ := s.NewID()
	sess := &session.Session{Claims: session.Claims{Sub: "u"}}
	require.NoError(t, s.Save(ctx, id, sess))

	// Sliding: used every 50 minutes it outlives the 1 h idle timeout...
	for range 6 {
		clk.add(50 * time.Minute)
		got, err := s.Load(ctx, id)
		require.NoError(t, err)
		require.NoError(t, s.Touch(ctx, id, got))
	}
	// ...but not the 8 h absolute lifetime.
	for range 4 {
		clk.add(50 * time.Minute)
		if got, err := s.Load(ctx, id); err == nil {
			_ = s.Touch(ctx, id, got)
		}
	}
	_, err := s.Load(ctx, id)
	assert.Error(t, err)

	// Idle: untouched for over an hour it ends.
	id2, _ := s.NewID()
	require.NoError(t, s.Save(ctx, id2, &session.Session{Claims: session.Claims{Sub: "u"}}))
	clk.add(61 * time.Minute)
	_, err = s.Load(ctx, id2)
	assert.Error(t, err)
}

func TestLoginIsSingleUse(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t, cache.NewMemory(100), &clock{t: time.Now()})
	require.NoError(t, s.PutLogin(ctx, "state-1", session.Login{SessionKey: "k", Verifier: "v", Redirect: "/x"}))
	l, ok := s.TakeLogin(ctx, "state-1")
	require.True(t, ok)
	assert.Equal(t, "v", l.Verifier)
	_, ok = s.TakeLogin(ctx, "state-1")
	assert.False(t, ok)
	_, ok = s.TakeLogin(ctx, "")
	assert.False(t, ok)
}

func TestParseCookie(t *testing.T) {
	t.Parallel()
	s := newStore(t, cache.NewMemory(10), &clock{t: time.Now()})
	id, _ := s.NewID()
	good := id.Cookie()
	tests := []struct {
		name  string
		value string
		ok    bool
	}{
		{name: "valid", value: good, ok: true},
		{name: "empty", value: ""},
		{name: "garbage", value: "not a cookie"},
		{name: "bad mac", value: good[:len(good)-1] + flip(good[len(good)-1])},
		{name: "bad id", value: flip(good[0]) + good[1:]},
		{name: "no dot", value: strings.Replace(good, ".", "x", 1)},
		{name: "too long", value: good + "A"},
		{name: "authentik gorilla cookie", value: "MTcwMDAwMDAwMHxEdi1CQkFFQ180SUFBUkFCRUFBQV81MF9nZ0FEQm5OMGNtbHVad3dLQUFoamJHRnBiWE09fGhhc2g="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Twice: the second answer may come from the verified cookies.
			for range 2 {
				got, err := s.ParseCookie(tt.value)
				if tt.ok {
					assert.NoError(t, err)
					assert.Equal(t, id, got)
				} else {
					assert.ErrorIs(t, err, session.ErrInvalid)
				}
			}
		})
	}
}

func flip(b byte) string {
	if b == 'A' {
		return "B"
	}
	return "A"
}

func FuzzParseCookie(f *testing.F) {
	s, err := session.New(cache.NewMemory(10), "fuzz-secret", session.Options{})
	if err != nil {
		f.Fatal(err)
	}
	id, _ := s.NewID()
	f.Add(id.Cookie())
	f.Add("")
	f.Add(strings.Repeat("A", 43) + "." + strings.Repeat("B", 22))
	f.Fuzz(func(t *testing.T, v string) {
		got, err := s.ParseCookie(v)
		if err != nil {
			return
		}
		// Only cookies this store signed pass, and they round-trip.
		if got.Cookie() != v {
			t.Fatalf("cookie %q parsed to %q", v, got.Cookie())
		}
	})
}

func TestLoadSeesEveryWrite(t *testing.T) {
	t.Parallel()
	// Decoded sessions are reused while the stored blob is unchanged; a
	// write must still be seen at once, and a caller's changes to a loaded
	// session must not leak into the next Load.
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	s := newStore(t, cache.NewMemory(100), clk)
	ctx := context.Background()
	id, err := s.NewID()
	require.NoError(t, err)
	require.NoError(t, s.Save(ctx, id, &session.Session{Claims: session.Claims{Sub: "u1", PreferredUsername: "a"}, RawToken: "t1"}))
	got, err := s.Load(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, "t1", got.RawToken)
	got.RawToken = "changed by the caller"
	again, err := s.Load(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, "t1", again.RawToken)

	again.RawToken = "t2"
	require.NoError(t, s.Save(ctx, id, again))
	got, err = s.Load(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, "t2", got.RawToken)

	s.RevokeUser(ctx, "u1")
	_, err = s.Load(ctx, id)
	require.ErrorIs(t, err, session.ErrRevoked)
}

func TestEpochsThroughNear(t *testing.T) {
	t.Parallel()
	// Two replicas share the cache; each reads epochs through its own
	// Near. A revocation on one is refused on the other.
	client, shared, prefix := sharedRedis(t, "epoch-test")
	ctx := t.Context()
	replica := func() *session.Store {
		n := liveNear(t, shared, client, prefix+"inv")
		s, err := session.New(shared, "cookie-secret-0123456789", session.Options{Payloads: n, Epochs: n})
		require.NoError(t, err)
		return s
	}
	a, b := replica(), replica()
	id, err := a.NewID()
	require.NoError(t, err)
	require.NoError(t, a.Save(ctx, id, &session.Session{Claims: session.Claims{Sub: "u1"}, Epoch: a.Epoch(ctx, "u1")}))
	// b now remembers u1's epoch (absent) and the payload.
	_, err = b.Load(ctx, id)
	require.NoError(t, err)
	_, err = b.Load(ctx, id)
	require.NoError(t, err)
	a.RevokeUser(ctx, "u1")
	require.Eventually(t, func() bool {
		_, err := b.Load(ctx, id)
		return err != nil
	}, 10*time.Second, 5*time.Millisecond)
}

// TestRenderedOncePerVersion: what a session renders is computed once per
// stored version and again after the session changes.
func TestRenderedOncePerVersion(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	s := newStore(t, cache.NewMemory(100), clk)
	ctx := t.Context()
	id, err := s.NewID()
	require.NoError(t, err)
	require.NoError(t, s.Save(ctx, id, &session.Session{Claims: session.Claims{Sub: "u", PreferredUsername: "alice"}}))
	renders := 0
	render := func(sess *session.Session) []byte {
		renders++
		return []byte(sess.Claims.PreferredUsername)
	}
	for range 3 {
		sess, err := s.Load(ctx, id)
		require.NoError(t, err)
		assert.Equal(t, "alice", string(sess.Rendered(render)))
	}
	assert.Equal(t, 1, renders)

	// A refresh changes the session and saves it: the request that did it
	// and the following ones see the new claims.
	sess, err := s.Load(ctx, id)
	require.NoError(t, err)
	sess.Claims.PreferredUsername = "alice2"
	require.NoError(t, s.Save(ctx, id, sess))
	assert.Equal(t, "alice2", string(sess.Rendered(render)))
	sess, err = s.Load(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, "alice2", string(sess.Rendered(render)))

	// A session built by hand (no decoding) renders every time.
	fresh := &session.Session{Claims: session.Claims{PreferredUsername: "bob"}}
	before := renders
	assert.Equal(t, "bob", string(fresh.Rendered(render)))
	assert.Equal(t, "bob", string(fresh.Rendered(render)))
	assert.Equal(t, before+2, renders)
}
