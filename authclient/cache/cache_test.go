package cache_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/outpost-go/outposts/authclient/cache"
	"github.com/outpost-go/outposts/authclient/cache/cachetest"
	"github.com/outpost-go/outposts/authclient/config"
)

// conformanceTimeout is generous: the suite checks behaviour, and a loaded
// CI machine running -race must not turn a slow reply into a failed test.
const conformanceTimeout = 5 * time.Second

// outageTestTimeout is the Redis timeout of the outage tests: well below how
// long they keep Redis away, well above a reply on a busy machine, so only
// the outage they cause makes the cache fall back.
const outageTestTimeout = 500 * time.Millisecond

func testLogger(t *testing.T) zerolog.Logger {
	return zerolog.New(zerolog.NewTestWriter(t)).With().Timestamp().Logger()
}

func TestMemoryConformance(t *testing.T) {
	t.Parallel()
	cachetest.Run(t, func(t *testing.T) cache.Cache { return cache.NewMemory(1000) })
}

func TestRedisConformance(t *testing.T) {
	t.Parallel()
	client := sharedRedis(t, nil)
	cachetest.Run(t, func(t *testing.T) cache.Cache {
		return cache.NewRedis(client, cache.RedisOptions{Prefix: uniquePrefix(t, client), Timeout: conformanceTimeout})
	})
}

func TestFailoverConformance(t *testing.T) {
	t.Parallel()
	client := sharedRedis(t, nil)
	cachetest.Run(t, func(t *testing.T) cache.Cache {
		r := cache.NewRedis(client, cache.RedisOptions{Prefix: uniquePrefix(t, client), Timeout: conformanceTimeout})
		f := cache.NewFailover(r, cache.NewMemory(1000), cache.FailoverOptions{Log: testLogger(t)})
		t.Cleanup(func() { _ = f.Close() })
		return f
	})
}

// The failover cache while Redis is down behaves like any other cache.
func TestFailoverDownConformance(t *testing.T) {
	t.Parallel()
	dead := redis.NewClient(&redis.Options{Addr: closedAddr(t), MaxRetries: -1, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = dead.Close() })
	cachetest.Run(t, func(t *testing.T) cache.Cache {
		f := cache.NewFailover(cache.NewRedis(dead, cache.RedisOptions{}), cache.NewMemory(1000),
			cache.FailoverOptions{Log: testLogger(t), ProbeInterval: time.Hour})
		t.Cleanup(func() { _ = f.Close() })
		f.Get(t.Context(), "wake-up") // notices Redis is gone
		require.False(t, f.UsingRedis())
		return f
	})
}

func TestNewConformance(t *testing.T) {
	t.Parallel()
	client := sharedRedis(t, nil)
	configs := map[string]func(t *testing.T) config.Redis{
		"memory": func(*testing.T) config.Redis { return config.Redis{} },
		"redis": func(t *testing.T) config.Redis {
			return config.Redis{URL: "redis://" + sharedRedisAddr, Timeout: conformanceTimeout, KeyPrefix: uniquePrefix(t, client)}
		},
	}
	for name, cfg := range configs {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cachetest.Run(t, func(t *testing.T) cache.Cache {
				c, closeFn, err := cache.New(t.Context(), cfg(t), testLogger(t), prometheus.NewRegistry())
				require.NoError(t, err)
				t.Cleanup(func() { assert.NoError(t, closeFn()) })
				return c
			})
		})
	}
}

func TestMemoryEvictsLeastRecentlyUsed(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	m := cache.NewMemory(3)
	for _, k := range []string{"a", "b", "c"} {
		m.Set(ctx, k, []byte(k), time.Hour)
	}
	_, ok := m.Get(ctx, "a") // a is now the most recently used
	require.True(t, ok)
	m.Set(ctx, "d", []byte("d"), time.Hour)

	assert.Equal(t, 3, m.Len())
	_, ok = m.Get(ctx, "b")
	assert.False(t, ok, "b was least recently used and should be gone")
	for _, k := range []string{"a", "c", "d"} {
		_, ok := m.Get(ctx, k)
		assert.True(t, ok, k)
	}
}

func TestMemoryBoundHolds(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	m := cache.NewMemory(10)
	for i := range 1000 {
		m.Set(ctx, strconv.Itoa(i), []byte("v"), time.Hour)
	}
	assert.Equal(t, 10, m.Len())
	assert.Equal(t, cache.DefaultMaxEntries, func() int {
		d := cache.NewMemory(0)
		for i := range cache.DefaultMaxEntries + 5 {
			d.Set(ctx, strconv.Itoa(i), nil, time.Hour)
		}
		return d.Len()
	}())
}

func TestRedisEntriesCarryTTL(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	client := sharedRedis(t, nil)
	prefix := uniquePrefix(t, client)
	r := cache.NewRedis(client, cache.RedisOptions{Prefix: prefix, Timeout: conformanceTimeout})
	cache.Namespace(r, "outpost", "u1", "provider", "3").Set(ctx, "sess:1", []byte("v"), time.Minute)

	key := prefix + "outpost:u1:provider:3:sess%3A1"
	ttl, err := client.PTTL(ctx, key).Result()
	require.NoError(t, err)
	assert.Greater(t, ttl, time.Duration(0), "key %s must expire", key)
	assert.LessOrEqual(t, ttl, time.Minute)

	raw, err := client.Get(ctx, key).Bytes()
	require.NoError(t, err)
	assert.Equal(t, []byte{1, 'v'}, raw, "version 1 envelope")
}

func TestRedisUnreadableValuesAreMisses(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	client := sharedRedis(t, nil)
	prefix := uniquePrefix(t, client)
	r := cache.NewRedis(client, cache.RedisOptions{Prefix: prefix, Timeout: conformanceTimeout})
	tests := map[string][]byte{
		"future version": {2, 'v'},
		"zero version":   {0, 'v'},
		"max version":    {255},
		"empty":          {},
	}
	for name, raw := range tests {
		t.Run(name, func(t *testing.T) {
			require.NoError(t, client.Set(ctx, prefix+name, raw, time.Minute).Err())
			v, ok, err := r.GetErr(ctx, name)
			assert.NoError(t, err, "an unreadable value is a miss, not an error")
			assert.False(t, ok)
			assert.Nil(t, v)
		})
	}
}

// A Failover must not leave Redis because of a value it cannot read.
func TestFailoverStaysOnRedisForUnreadableValues(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	client := sharedRedis(t, nil)
	prefix := uniquePrefix(t, client)
	reg := prometheus.NewRegistry()
	f := cache.NewFailover(cache.NewRedis(client, cache.RedisOptions{Prefix: prefix, Timeout: conformanceTimeout}),
		cache.NewMemory(10), cache.FailoverOptions{Log: testLogger(t), Registerer: reg})
	t.Cleanup(func() { _ = f.Close() })
	require.NoError(t, client.Set(ctx, prefix+"k", []byte{9, 9}, time.Minute).Err())
	_, ok := f.Get(ctx, "k")
	assert.False(t, ok)
	assert.True(t, f.UsingRedis())
	assert.Equal(t, 0.0, metricValue(t, reg, "authentik_outpost_cache_fallback_total", nil))
	assert.Equal(t, 1.0, metricValue(t, reg, "authentik_outpost_cache_requests_total",
		map[string]string{"op": "get", "result": "miss"}))
}

// A Redis that accepts connections and never answers costs each call at
// most the timeout, even with a client that would wait a minute.
func TestRedisHungServerIsBounded(t *testing.T) {
	t.Parallel()
	addr := hungServer(t)
	client := redis.NewClient(&redis.Options{
		Addr: addr, MaxRetries: -1, DialTimeout: time.Minute, ReadTimeout: time.Minute, WriteTimeout: time.Minute,
	})
	t.Cleanup(func() { _ = client.Close() })
	r := cache.NewRedis(client, cache.RedisOptions{Timeout: 20 * time.Millisecond})
	reg := prometheus.NewRegistry()
	f := cache.NewFailover(r, cache.NewMemory(10), cache.FailoverOptions{Log: testLogger(t), Registerer: reg, ProbeInterval: time.Hour})
	t.Cleanup(func() { _ = f.Close() })
	ctx := t.Context()

	returns(t, func() {
		_, _, err := r.GetErr(ctx, "k")
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Error(t, r.SetErr(ctx, "k", []byte("v"), time.Minute))
		assert.Error(t, r.DeleteErr(ctx, "k"))
		assert.Error(t, r.Ping(ctx))

		f.Set(ctx, "k", []byte("v"), time.Minute)
		v, ok := f.Get(ctx, "k")
		assert.True(t, ok, "the value went to memory")
		assert.Equal(t, []byte("v"), v)
	})
	assert.False(t, f.UsingRedis())
	assert.Equal(t, 1.0, backendGauge(t, reg, "memory"))
	assert.Equal(t, 1.0, metricValue(t, reg, "authentik_outpost_cache_fallback_total", nil))
	assert.Equal(t, 1.0, metricValue(t, reg, "authentik_outpost_cache_requests_total",
		map[string]string{"op": "set", "result": "error"}))
}

// A caller giving up is not a Redis outage.
func TestFailoverCallerCancelIsNotAnOutage(t *testing.T) {
	t.Parallel()
	client := sharedRedis(t, nil)
	f := cache.NewFailover(cache.NewRedis(client, cache.RedisOptions{Prefix: uniquePrefix(t, client), Timeout: conformanceTimeout}),
		cache.NewMemory(10), cache.FailoverOptions{Log: testLogger(t)})
	t.Cleanup(func() { _ = f.Close() })
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	f.Get(ctx, "k")
	assert.True(t, f.UsingRedis())
	// Writes are not cancelled with the caller: a logout's Delete lands.
	f.Set(ctx, "k", []byte("v"), time.Minute)
	v, ok := f.Get(t.Context(), "k")
	assert.True(t, ok)
	assert.Equal(t, []byte("v"), v)
	f.Delete(ctx, "k")
	_, ok = f.Get(t.Context(), "k")
	assert.False(t, ok)
}

// Redis dies mid-run and comes back on the same port: no caller notices
// anything but misses, values go to memory meanwhile, and the cache goes
// back to Redis by itself.
func TestFailoverSurvivesRedisRestart(t *testing.T) {
	t.Parallel()
	srv := newRedisServer(t)
	client := redis.NewClient(&redis.Options{Addr: srv.addr(), MaxRetries: -1, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = client.Close() })
	reg := prometheus.NewRegistry()
	f := cache.NewFailover(cache.NewRedis(client, cache.RedisOptions{Prefix: "t:", Timeout: outageTestTimeout}), cache.NewMemory(1000),
		cache.FailoverOptions{Log: testLogger(t), Registerer: reg, ProbeInterval: 50 * time.Millisecond})
	t.Cleanup(func() { _ = f.Close() })
	ctx := t.Context()
	value := []byte("value")

	f.Set(ctx, "before", value, time.Hour)
	raw, err := client.Get(ctx, "t:before").Bytes()
	require.NoError(t, err, "written to Redis")
	require.Equal(t, append([]byte{1}, value...), raw)
	assert.Equal(t, 1.0, backendGauge(t, reg, "redis"))
	assert.Equal(t, 0.0, backendGauge(t, reg, "memory"))

	// Callers keep working throughout; each call must return.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var calls sync.Map
	for w := range 4 {
		wg.Go(func() {
			n := 0
			for i := 0; ; i++ {
				select {
				case <-stop:
					calls.Store(w, n)
					return
				default:
				}
				key := fmt.Sprintf("w%d-%d", w, i%20)
				f.Set(ctx, key, value, time.Minute)
				f.Get(ctx, key)
				if i%3 == 0 {
					f.Delete(ctx, key)
				}
				n += 3
				time.Sleep(time.Millisecond)
			}
		})
	}

	srv.stop()
	require.Eventually(t, func() bool { return !f.UsingRedis() }, 20*time.Second, 10*time.Millisecond,
		"the cache never noticed Redis was gone")
	assert.Equal(t, 1.0, backendGauge(t, reg, "memory"))
	assert.Equal(t, 0.0, backendGauge(t, reg, "redis"))
	assert.Equal(t, 1.0, metricValue(t, reg, "authentik_outpost_cache_fallback_total", nil), "one outage, counted once")

	f.Set(ctx, "during", value, time.Hour)
	v, ok := f.Get(ctx, "during")
	assert.True(t, ok, "values go to memory while Redis is down")
	assert.Equal(t, value, v)
	f.Delete(ctx, "during")
	_, ok = f.Get(ctx, "during")
	assert.False(t, ok)

	srv.start()
	require.Eventually(t, func() bool { return f.UsingRedis() }, 20*time.Second, 10*time.Millisecond,
		"the cache never went back to Redis")
	require.Eventually(t, func() bool { return backendGauge(t, reg, "redis") == 1 }, 20*time.Second, 10*time.Millisecond)

	close(stop)
	returns(t, wg.Wait)
	calls.Range(func(w, n any) bool {
		assert.Positive(t, n, "worker %v made no calls", w)
		return true
	})

	// Back on Redis: writes land there again.
	require.Eventually(t, func() bool {
		f.Set(ctx, "after", value, time.Hour)
		return client.Get(ctx, "t:after").Err() == nil
	}, 20*time.Second, 50*time.Millisecond)
	assert.GreaterOrEqual(t, metricValue(t, reg, "authentik_outpost_cache_fallback_total", nil), 1.0)
}

// A Redis that stalls (here CLIENT PAUSE) keeps its data. Keys changed while
// the cache was on memory are deleted from Redis before switching back, so
// a value deleted during the stall does not come back.
func TestFailoverInvalidatesKeysChangedDuringOutage(t *testing.T) {
	t.Parallel()
	srv := newRedisServer(t)
	client := redis.NewClient(&redis.Options{Addr: srv.addr(), MaxRetries: -1, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = client.Close() })
	admin := redis.NewClient(&redis.Options{Addr: srv.addr()})
	t.Cleanup(func() { _ = admin.Close() })
	f := cache.NewFailover(cache.NewRedis(client, cache.RedisOptions{Prefix: "t:", Timeout: outageTestTimeout}),
		cache.NewMemory(1000), cache.FailoverOptions{Log: testLogger(t), ProbeInterval: 50 * time.Millisecond})
	t.Cleanup(func() { _ = f.Close() })
	ctx := t.Context()

	f.Set(ctx, "session", []byte("alive"), time.Hour)
	f.Set(ctx, "untouched", []byte("kept"), time.Hour)
	require.NoError(t, client.Get(ctx, "t:session").Err())

	require.NoError(t, admin.Do(ctx, "CLIENT", "PAUSE", "4000", "ALL").Err())
	require.Eventually(t, func() bool {
		// Reads only: they are queued by the paused Redis and harmless.
		f.Get(ctx, "trigger")
		return !f.UsingRedis()
	}, 20*time.Second, 10*time.Millisecond)
	// A logout during the stall reaches memory only, never Redis.
	f.Delete(ctx, "session")
	_, ok := f.Get(ctx, "session")
	assert.False(t, ok)

	require.Eventually(t, func() bool { return f.UsingRedis() }, 20*time.Second, 10*time.Millisecond)
	_, ok = f.Get(ctx, "session")
	assert.False(t, ok, "a session deleted during the outage came back")
	v, ok := f.Get(ctx, "untouched")
	assert.True(t, ok, "keys not changed during the outage stay in Redis")
	assert.Equal(t, []byte("kept"), v)
}

func TestNewWithoutRedisUsesMemory(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	c, closeFn, err := cache.New(t.Context(), config.Redis{}, testLogger(t), reg)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, closeFn()) })
	c.Set(t.Context(), "k", []byte("v"), time.Minute)
	c.Get(t.Context(), "k")
	assert.Equal(t, 1.0, backendGauge(t, reg, "memory"))
	assert.Equal(t, 0.0, backendGauge(t, reg, "redis"))
	assert.Equal(t, 1.0, metricValue(t, reg, "authentik_outpost_cache_requests_total",
		map[string]string{"op": "get", "result": "hit"}))
}

func TestNewWithUnreachableRedisStartsOnMemory(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	c, closeFn, err := cache.New(t.Context(), config.Redis{URL: "redis://" + closedAddr(t)}, testLogger(t), reg)
	require.NoError(t, err, "an unreachable Redis is not a configuration error")
	t.Cleanup(func() { assert.NoError(t, closeFn()) })
	f, ok := c.(*cache.Failover)
	require.True(t, ok)
	assert.False(t, f.UsingRedis())
	assert.Equal(t, 1.0, backendGauge(t, reg, "memory"))
	assert.Equal(t, 1.0, metricValue(t, reg, "authentik_outpost_cache_fallback_total", nil))
	c.Set(t.Context(), "k", []byte("v"), time.Minute)
	v, ok := c.Get(t.Context(), "k")
	assert.True(t, ok)
	assert.Equal(t, []byte("v"), v)
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	_, _, err := cache.New(t.Context(), config.Redis{URL: "redis://user:s3cret@[::1"}, testLogger(t), nil)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "s3cret")
}

// Registration never panics: nil registry, one registry twice, two
// registries.
func TestNewRegistersMetricsSafely(t *testing.T) {
	t.Parallel()
	shared := prometheus.NewRegistry()
	cfgs := map[string]config.Redis{"memory": {}, "redis": {URL: "redis://" + closedAddr(t)}}
	for name, cfg := range cfgs {
		for _, reg := range []prometheus.Registerer{nil, shared, shared, prometheus.NewRegistry(), prometheus.NewRegistry()} {
			require.NotPanics(t, func() {
				_, closeFn, err := cache.New(t.Context(), cfg, testLogger(t), reg)
				require.NoError(t, err, name)
				require.NoError(t, closeFn())
			}, name)
		}
	}
	_, err := shared.Gather()
	assert.NoError(t, err)
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
}

// hungServer accepts connections and never answers.
func hungServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return l.Addr().String()
}

// returns fails the test if fn does not return: a hang detector, not a
// timing assertion.
func returns(t *testing.T, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal(errors.New("calls did not return"))
	}
}

// lender is a Viewer that counts how it was read.
type lender struct {
	cache.Cache
	views, gets int
}

func (l *lender) View(_ context.Context, key string) ([]byte, bool) {
	l.views++
	return []byte("lent:" + key), true
}

func (l *lender) Get(ctx context.Context, key string) ([]byte, bool) {
	l.gets++
	return l.Cache.Get(ctx, key)
}

// TestView: View lends through namespaces when the cache can, and is Get
// otherwise.
func TestView(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	l := &lender{Cache: cache.NewMemory(10)}
	v, ok := cache.View(ctx, cache.Namespace(l, "a", "b"), "s:k")
	require.True(t, ok)
	assert.Equal(t, "lent:a:b:s%3Ak", string(v), "the namespaced, escaped key reaches the Viewer")
	assert.Equal(t, 1, l.views)
	assert.Zero(t, l.gets)

	m := cache.NewMemory(10)
	m.Set(ctx, "a:k", []byte("v"), time.Minute)
	v, ok = cache.View(ctx, cache.Namespace(m, "a"), "k")
	require.True(t, ok)
	assert.Equal(t, "v", string(v))
	v[0] = 'x'
	got, _ := m.Get(ctx, "a:k")
	assert.Equal(t, "v", string(got), "a cache that is no Viewer hands out a copy")
	_, ok = cache.View(ctx, cache.Namespace(m, "a"), "absent")
	assert.False(t, ok)
}
