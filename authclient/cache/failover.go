package cache

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// DefaultProbeInterval is how often a Failover that lost Redis pings it.
const DefaultProbeInterval = time.Second

// defaultMaxDirtyKeys bounds how many keys written during an outage are
// remembered for invalidation.
const defaultMaxDirtyKeys = 100000

// FailoverOptions configures a Failover.
type FailoverOptions struct {
	Log zerolog.Logger
	// Registerer receives the cache metrics; nil means not exported.
	Registerer prometheus.Registerer
	// ProbeInterval is the time between pings while Redis is down;
	// DefaultProbeInterval when zero or negative.
	ProbeInterval time.Duration
	// MaxDirtyKeys bounds the keys remembered during an outage (see the
	// package doc); 100000 when zero or negative.
	MaxDirtyKeys int
}

// Failover is a Cache that uses Redis while it answers and an in-process
// Memory while it does not. Callers never see Redis failing: the call that
// notices the failure is answered from memory, as are the calls after it,
// until a background probe finds Redis again. Close stops the probe.
type Failover struct {
	redis *Redis
	mem   *Memory
	log   zerolog.Logger
	m     *metrics

	interval time.Duration
	maxDirty int

	up atomic.Bool

	// mu orders writes to memory during an outage against the switch back
	// to Redis, so that no write lands in memory after Redis took over
	// without its key being invalidated in Redis. It is never held during
	// a Redis call.
	mu            sync.Mutex
	dirty         map[string]struct{}
	dirtyOverflow bool
	// pending are keys being deleted from Redis right after switching
	// back; hasPending lets reads skip mu when there are none.
	pending    map[string]struct{}
	hasPending atomic.Bool

	wake      chan struct{}
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// NewFailover returns a Failover that starts on r, falling back to mem. It
// starts a probe goroutine; call Close to stop it. Close does not close the
// Redis client.
func NewFailover(r *Redis, mem *Memory, opts FailoverOptions) *Failover {
	if opts.ProbeInterval <= 0 {
		opts.ProbeInterval = DefaultProbeInterval
	}
	if opts.MaxDirtyKeys <= 0 {
		opts.MaxDirtyKeys = defaultMaxDirtyKeys
	}
	f := &Failover{
		redis:    r,
		mem:      mem,
		log:      opts.Log,
		m:        newMetrics(opts.Registerer),
		interval: opts.ProbeInterval,
		maxDirty: opts.MaxDirtyKeys,
		dirty:    make(map[string]struct{}),
		wake:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	f.up.Store(true)
	f.m.useBackend(backendRedis)
	go f.probeLoop()
	return f
}

// UsingRedis reports whether calls currently go to Redis.
func (f *Failover) UsingRedis() bool { return f.up.Load() }

// Close stops the background probe. The Failover keeps answering from
// whichever store it was using.
func (f *Failover) Close() error {
	f.closeOnce.Do(func() {
		close(f.stop)
		<-f.done
	})
	return nil
}

// Get implements Cache.
func (f *Failover) Get(ctx context.Context, key string) ([]byte, bool) {
	if f.up.Load() {
		if f.isPending(key) {
			f.m.count(opGet, resultMiss)
			return nil, false
		}
		v, ok, err := f.redis.GetErr(ctx, key)
		if err == nil {
			f.m.count(opGet, hitOrMiss(ok))
			return v, ok
		}
		f.m.count(opGet, resultError)
		if ctx.Err() != nil {
			// The caller gave up; that says nothing about Redis.
			return nil, false
		}
		f.fallBack(err)
		return f.mem.Get(ctx, key)
	}
	v, ok := f.mem.Get(ctx, key)
	f.m.count(opGet, hitOrMiss(ok))
	return v, ok
}

// Set implements Cache.
func (f *Failover) Set(ctx context.Context, key string, value []byte, ttl time.Duration) {
	f.write(opSet, key,
		func() error { return f.redis.SetErr(ctx, key, value, ttl) },
		func() { f.mem.Set(ctx, key, value, ttl) })
}

// Delete implements Cache.
func (f *Failover) Delete(ctx context.Context, key string) {
	f.write(opDelete, key,
		func() error { return f.redis.DeleteErr(ctx, key) },
		func() { f.mem.Delete(ctx, key) })
}

func (f *Failover) write(op, key string, remote func() error, local func()) {
	result := resultOK
	defer func() { f.m.count(op, result) }()
	// Two rounds at most: a write that finds Redis back between its failed
	// remote call and taking mu goes to Redis once more rather than into a
	// memory nobody reads any more.
	for range 2 {
		if f.up.Load() {
			err := remote()
			if err == nil {
				return
			}
			result = resultError
			f.fallBack(err)
		}
		f.mu.Lock()
		if !f.up.Load() {
			f.markDirty(key)
			local()
			f.mu.Unlock()
			return
		}
		f.mu.Unlock()
	}
}

// markDirty remembers key for invalidation in Redis. Called with mu held.
func (f *Failover) markDirty(key string) {
	if len(f.dirty) >= f.maxDirty {
		f.dirtyOverflow = true
		return
	}
	f.dirty[key] = struct{}{}
}

// fallBack switches to memory. Only the call that makes the switch logs and
// counts it, so an outage is one log line however many requests see it.
func (f *Failover) fallBack(err error) {
	if !f.up.CompareAndSwap(true, false) {
		return
	}
	f.m.fallbacks.Inc()
	f.m.useBackend(backendMemory)
	f.log.Warn().Err(err).Dur("probe_interval", f.interval).
		Msg("redis cache unavailable, using in-process cache until it answers again")
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

func (f *Failover) probeLoop() {
	defer close(f.done)
	for {
		select {
		case <-f.stop:
			return
		case <-f.wake:
		}
		t := time.NewTicker(f.interval)
		for !f.up.Load() {
			select {
			case <-f.stop:
				t.Stop()
				return
			case <-t.C:
			}
			f.tryRecover()
		}
		t.Stop()
	}
}

// tryRecover switches back to Redis if it answers, after deleting from Redis
// every key written during the outage (see the package doc).
//
// No request waits for this: most keys are deleted while requests still go
// to memory; the few written meanwhile are taken under mu together with the
// switch and deleted right after it, and until that is done a read of one
// of them is a miss rather than a possibly stale Redis value.
func (f *Failover) tryRecover() {
	ctx := context.Background()
	if err := f.redis.Ping(ctx); err != nil {
		f.log.Debug().Err(err).Msg("redis cache still unavailable")
		return
	}
	f.mu.Lock()
	keys := f.takeDirty()
	f.mu.Unlock()
	if err := f.redis.deleteKeys(ctx, keys); err != nil {
		f.restoreDirty(keys)
		f.log.Debug().Err(err).Msg("redis cache answers but invalidating keys failed")
		return
	}

	f.mu.Lock()
	rest := f.takeDirty()
	f.pending = make(map[string]struct{}, len(rest))
	for _, k := range rest {
		f.pending[k] = struct{}{}
	}
	f.hasPending.Store(len(rest) > 0)
	overflow := f.dirtyOverflow
	f.dirtyOverflow = false
	f.mem.Clear() // so the next outage does not serve values from this one
	f.up.Store(true)
	f.m.useBackend(backendRedis)
	f.mu.Unlock()

	err := f.redis.deleteKeys(ctx, rest)
	f.mu.Lock()
	f.pending = nil
	f.hasPending.Store(false)
	f.mu.Unlock()
	if err != nil {
		// Back to memory; the next probe tries these keys again.
		f.restoreDirty(rest)
		f.fallBack(err)
		return
	}
	if overflow {
		f.log.Warn().Int("max_dirty_keys", f.maxDirty).
			Msg("more keys changed during the redis outage than could be remembered; some cached values may be stale until they expire")
	}
	f.log.Info().Int("invalidated_keys", len(keys)+len(rest)).Msg("redis cache available again, switched back from in-process cache")
}

// isPending reports whether key is still being invalidated after a switch
// back to Redis.
func (f *Failover) isPending(key string) bool {
	if !f.hasPending.Load() {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.pending[key]
	return ok
}

// takeDirty empties the dirty set and returns its keys. Called with mu held.
func (f *Failover) takeDirty() []string {
	keys := make([]string, 0, len(f.dirty))
	for k := range f.dirty {
		keys = append(keys, k)
	}
	clear(f.dirty)
	return keys
}

func (f *Failover) restoreDirty(keys []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, k := range keys {
		f.markDirty(k)
	}
}
