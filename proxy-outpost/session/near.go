package session

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/outpost-go/outposts/authclient/backoff"
	"github.com/outpost-go/outposts/authclient/cache"
)

// Near is a small in-process cache in front of the shared cache, for
// session payloads and revocation epochs: most requests then cost no cache
// round trip at all. Every write and delete is published on a Redis
// channel, and every replica drops its copy of the key when the message
// arrives. Absent keys are remembered too (most users were never revoked,
// so their epoch key does not exist), under the same invalidation.
//
// A local copy is used only while the subscription is live: when it drops
// (Redis restarts, the network breaks) messages may be lost, so Near
// forgets everything and reads through to the shared cache until it has
// subscribed again. A revocation is therefore seen at once on every replica
// whose subscription is live, and read from the shared cache on the others.
type Near struct {
	shared  cache.Cache
	client  redis.UniversalClient
	channel string
	log     zerolog.Logger
	max     int
	ttl     time.Duration

	live atomic.Bool
	// gen counts invalidations; a value read from the shared cache is kept
	// only if no invalidation arrived while it was being read, so a late
	// read never resurrects an older value.
	gen atomic.Uint64

	mu      sync.Mutex
	entries map[string]nearEntry
}

type nearEntry struct {
	value   []byte
	missing bool // the shared cache had no such key
	expires time.Time
}

// redisState is implemented by cache.Failover: while it serves from its
// in-process fallback, what it returns says nothing about Redis and must
// not be kept.
type redisState interface{ UsingRedis() bool }

// NearOptions configures a Near.
type NearOptions struct {
	// Channel is the Redis channel; every replica of one outpost must use
	// the same one.
	Channel string
	// MaxEntries bounds the local cache (default 10000).
	MaxEntries int
	// TTL bounds how long a local copy is kept (default 1 minute).
	TTL time.Duration
	Log zerolog.Logger
}

// NewNear fronts shared with a local cache invalidated over client's
// pub/sub. Call Run to subscribe; until then it reads through.
func NewNear(shared cache.Cache, client redis.UniversalClient, opts NearOptions) *Near {
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = 10000
	}
	if opts.TTL <= 0 {
		opts.TTL = time.Minute
	}
	return &Near{shared: shared, client: client, channel: opts.Channel, log: opts.Log, max: opts.MaxEntries, ttl: opts.TTL,
		entries: map[string]nearEntry{}}
}

// Live reports whether local copies are in use.
func (n *Near) Live() bool { return n.live.Load() }

// Get implements cache.Cache.
func (n *Near) Get(ctx context.Context, key string) ([]byte, bool) {
	v, ok := n.View(ctx, key)
	if !ok {
		return nil, false
	}
	return append([]byte(nil), v...), true
}

// View implements cache.Viewer: a local copy is lent, not copied (an
// entry's value is replaced, never changed in place).
func (n *Near) View(ctx context.Context, key string) ([]byte, bool) {
	if !n.live.Load() {
		return cache.View(ctx, n.shared, key)
	}
	now := time.Now()
	n.mu.Lock()
	e, ok := n.entries[key]
	n.mu.Unlock()
	if ok && now.Before(e.expires) {
		if e.missing {
			return nil, false
		}
		return e.value, true
	}
	return n.fetch(ctx, key, now)
}

// fetch reads key from the shared cache and keeps a local copy.
func (n *Near) fetch(ctx context.Context, key string, now time.Time) ([]byte, bool) {
	before := n.gen.Load()
	v, ok := n.shared.Get(ctx, key)
	// A miss is kept only when it is a real answer from the shared cache:
	// not a caller that gave up, not a failover cache answering from its
	// own memory.
	keep := ok || ctx.Err() == nil
	if rs, isRS := n.shared.(redisState); isRS && !rs.UsingRedis() {
		keep = false
	}
	if keep {
		n.mu.Lock()
		// Kept only if no invalidation arrived while reading: a write
		// published after our read was answered always bumps gen, before or
		// after this point (then it deletes the entry).
		if n.gen.Load() == before && n.live.Load() {
			n.putLocked(key, v, !ok, now)
		}
		n.mu.Unlock()
	}
	return v, ok
}

func (n *Near) putLocked(key string, v []byte, missing bool, now time.Time) {
	if len(n.entries) >= n.max {
		// Drop an arbitrary tenth; simpler than an LRU and good enough
		// for a cache whose misses cost one Redis read.
		i := 0
		for k := range n.entries {
			delete(n.entries, k)
			if i++; i >= n.max/10+1 {
				break
			}
		}
	}
	n.entries[key] = nearEntry{value: append([]byte(nil), v...), missing: missing, expires: now.Add(n.ttl)}
}

// Set implements cache.Cache: the shared cache first, then the others are
// told to drop their copy.
func (n *Near) Set(ctx context.Context, key string, value []byte, ttl time.Duration) {
	n.shared.Set(ctx, key, value, ttl)
	n.forget(key)
	n.publish(ctx, key)
	if ttl > 0 && n.live.Load() {
		n.mu.Lock()
		n.putLocked(key, value, false, time.Now())
		n.mu.Unlock()
	}
}

// Delete implements cache.Cache.
func (n *Near) Delete(ctx context.Context, key string) {
	n.shared.Delete(ctx, key)
	n.forget(key)
	n.publish(ctx, key)
}

func (n *Near) forget(key string) {
	n.gen.Add(1)
	n.mu.Lock()
	delete(n.entries, key)
	n.mu.Unlock()
}

func (n *Near) forgetAll() {
	n.gen.Add(1)
	n.mu.Lock()
	clear(n.entries)
	n.mu.Unlock()
}

func (n *Near) publish(ctx context.Context, key string) {
	if n.client == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	if err := n.client.Publish(ctx, n.channel, key).Err(); err != nil {
		// Others may now hold a stale copy: stop using local copies until
		// the subscription is re-established (which flushes them).
		n.setLive(false)
		n.log.Debug().Err(err).Msg("publishing a session invalidation failed")
	}
}

func (n *Near) setLive(v bool) {
	if !v {
		n.live.Store(false)
		n.forgetAll()
		return
	}
	n.forgetAll()
	n.live.Store(true)
}

// Run subscribes and applies invalidations until ctx ends, resubscribing
// after failures.
func (n *Near) Run(ctx context.Context) {
	if n.client == nil {
		return
	}
	b := backoff.Default()
	for attempt := 0; ctx.Err() == nil; attempt++ {
		if n.subscribe(ctx) {
			attempt = 0
		}
		n.setLive(false)
		select {
		case <-ctx.Done():
		case <-time.After(b.Delay(attempt)):
		}
	}
}

// subscribe runs one subscription; it reports whether it was ever live.
func (n *Near) subscribe(ctx context.Context) bool {
	ps := n.client.Subscribe(ctx, n.channel)
	// Receive does not return when ctx ends; closing the subscription
	// makes it.
	pingCtx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		<-pingCtx.Done()
		_ = ps.Close()
	}()
	if _, err := ps.Receive(ctx); err != nil {
		return false
	}
	n.setLive(true)
	n.log.Debug().Str("channel", n.channel).Msg("session invalidation channel subscribed")
	// A ping per interval notices a dead connection that reads would not.
	go func() {
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-pingCtx.Done():
				return
			case <-t.C:
				if err := ps.Ping(pingCtx); err != nil {
					n.setLive(false)
					_ = ps.Close()
					return
				}
			}
		}
	}()
	for {
		msg, err := ps.Receive(ctx)
		if err != nil {
			return true
		}
		switch m := msg.(type) {
		case *redis.Message:
			n.forget(m.Payload)
		case *redis.Subscription:
			// Resubscribed after a reconnect: anything may have been missed.
			n.setLive(true)
		}
	}
}
