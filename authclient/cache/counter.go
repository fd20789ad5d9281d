package cache

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Counter is an optional capability of a Cache: a counter shared by every
// replica, for rate limiting. Every Cache this package returns implements
// it (Memory, Redis, Failover, Namespace views and the cache New returns);
// callers ask for it with a type assertion or use [Incr].
//
// Incr adds one to the counter at key and returns the new value. The first
// increment creates the counter with a lifetime of ttl; later increments do
// not extend it, so a counter counts events in a fixed window that starts at
// the first one. ok is false when the counter could not be counted (the
// store did not answer, or ttl <= 0); the caller decides whether that means
// "allow" or "deny".
//
// A counter key is only for Incr and Delete (which resets it): what Get
// returns for it is not specified.
type Counter interface {
	Incr(ctx context.Context, key string, ttl time.Duration) (n int64, ok bool)
}

// Incr increments the counter at key in c if c is a Counter; ok is false when
// it is not or when the counter could not be counted.
func Incr(ctx context.Context, c Cache, key string, ttl time.Duration) (int64, bool) {
	cn, ok := c.(Counter)
	if !ok {
		return 0, false
	}
	return cn.Incr(ctx, key, ttl)
}

// Incr implements Counter. Counters share the LRU bound with other entries.
func (m *Memory) Incr(_ context.Context, key string, ttl time.Duration) (int64, bool) {
	if ttl <= 0 {
		return 0, false
	}
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if el, ok := m.items[key]; ok {
		e := el.Value.(*memEntry)
		if now.Before(e.expires) {
			var n int64
			if len(e.value) == 8 {
				n = int64(binary.BigEndian.Uint64(e.value))
			}
			n++
			// A new slice: a copy handed out by Get must not change.
			e.value = binary.BigEndian.AppendUint64(nil, uint64(n))
			m.lru.MoveToFront(el)
			return n, true
		}
		m.remove(el)
	}
	for m.lru.Len() >= m.max {
		m.remove(m.lru.Back())
	}
	e := &memEntry{key: key, value: binary.BigEndian.AppendUint64(nil, 1), expires: now.Add(ttl)}
	m.items[key] = m.lru.PushFront(e)
	return 1, true
}

// incrScript increments and sets the expiry in one atomic step, so a counter
// can never be left without a lifetime (a crash between INCR and PEXPIRE
// would otherwise lock a user out for good). Redis 7's PEXPIRE NX would do
// the same in a pipeline, but the script also works on Redis 6.
var incrScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
if n == 1 or redis.call('PTTL', KEYS[1]) < 0 then
	redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return n`)

// Incr implements Counter; any error reads as not counted.
func (r *Redis) Incr(ctx context.Context, key string, ttl time.Duration) (int64, bool) {
	n, err := r.IncrErr(ctx, key, ttl)
	return n, err == nil
}

// IncrErr is Incr that reports why Redis could not count. Like writes, it is
// bounded by the timeout but not cancelled with ctx.
func (r *Redis) IncrErr(ctx context.Context, key string, ttl time.Duration) (int64, error) {
	if ttl <= 0 {
		return 0, fmt.Errorf("redis cache incr: non-positive ttl %s", ttl)
	}
	ms := max(ttl.Milliseconds(), 1)
	n, err := bounded(context.WithoutCancel(ctx), r.timeout, func(ctx context.Context) (int64, error) {
		return incrScript.Run(ctx, r.client, []string{r.prefix + key}, ms).Int64()
	})
	if err != nil {
		return 0, fmt.Errorf("redis cache incr: %w", err)
	}
	return n, nil
}

// Incr implements Counter. During an outage counters live in memory, so each
// replica counts on its own; the key is remembered like any write and
// deleted from Redis on the way back, which resets the shared counter: a
// limiter forgives some failures rather than counting some twice.
func (f *Failover) Incr(ctx context.Context, key string, ttl time.Duration) (int64, bool) {
	if ttl <= 0 {
		return 0, false
	}
	var n int64
	var ok bool
	f.write(opSet, key,
		func() error {
			var err error
			n, err = f.redis.IncrErr(ctx, key, ttl)
			ok = err == nil
			return err
		},
		func() { n, ok = f.mem.Incr(ctx, key, ttl) })
	return n, ok
}

// Incr implements Counter.
func (c counted) Incr(ctx context.Context, key string, ttl time.Duration) (int64, bool) {
	n, ok := Incr(ctx, c.c, key, ttl)
	c.m.count(opSet, resultOK)
	return n, ok
}

// Incr implements Counter when the underlying cache does; otherwise ok is
// false.
func (n *namespaced) Incr(ctx context.Context, key string, ttl time.Duration) (int64, bool) {
	return Incr(ctx, n.base, n.key(key), ttl)
}
