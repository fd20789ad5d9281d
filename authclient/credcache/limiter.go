package credcache

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"sync"
	"time"

	"github.com/outpost-go/outposts/authclient/cache"
)

// Defaults for LimiterOptions.
const (
	DefaultUserFailures   = 5
	DefaultClientFailures = 20
	DefaultWindow         = 5 * time.Minute
)

// DefaultRecheck is LimiterOptions.Recheck's default.
const DefaultRecheck = time.Second

// LimiterOptions sets how many failures a user and a client may have per
// window. Zero values take the defaults; a negative count disables that
// limit.
type LimiterOptions struct {
	UserFailures   int64
	ClientFailures int64
	Window         time.Duration
	// Recheck is how long a "not blocked" answer from the shared cache is
	// reused in process, so that Allow costs no round trip on most
	// requests. A block set by this replica applies at once; one set by
	// another replica is seen within Recheck. DefaultRecheck when 0.
	Recheck time.Duration
}

// Limiter blocks users and clients with too many failed attempts.
type Limiter struct {
	c        cache.Cache
	local    *cache.Memory // counts when c cannot
	macs     *macPool
	user     int64
	client   int64
	window   time.Duration
	recheck  time.Duration
	fallback bool
	now      func() time.Time
	// refreshing holds the keys being re-read in the background.
	refreshing sync.Map
}

// NewLimiter returns a Limiter storing its counters in c (namespaced under
// "ratelimit"); user names and addresses are stored as HMACs with secret.
func NewLimiter(c cache.Cache, secret []byte, opts LimiterOptions) *Limiter {
	if opts.UserFailures == 0 {
		opts.UserFailures = DefaultUserFailures
	}
	if opts.ClientFailures == 0 {
		opts.ClientFailures = DefaultClientFailures
	}
	if opts.Window <= 0 {
		opts.Window = DefaultWindow
	}
	if opts.Recheck <= 0 {
		opts.Recheck = DefaultRecheck
	}
	_, counts := c.(cache.Counter)
	return &Limiter{
		c:        cache.Namespace(c, "ratelimit"),
		local:    cache.NewMemory(cache.DefaultMaxEntries),
		macs:     newMACPool(secret),
		user:     opts.UserFailures,
		client:   opts.ClientFailures,
		window:   opts.Window,
		recheck:  opts.Recheck,
		fallback: !counts,
		now:      time.Now,
	}
}

// Allow reports whether neither the user nor the client is blocked. An
// empty username or client is not checked.
//
// A "not blocked" read from the shared cache is reused for Recheck. Once
// three quarters of that have passed, the next Allow re-reads it in the
// background, so a key in steady use is never waited for on the request
// path, while every answer still rests on a read younger than Recheck.
func (l *Limiter) Allow(ctx context.Context, scope, username, client string) bool {
	for _, k := range l.keys(scope, username, client) {
		if _, blocked := l.local.Get(ctx, "block:"+k.name); blocked {
			return false
		}
		if v, checked := l.local.Get(ctx, "ok:"+k.name); checked {
			if len(v) == 8 && l.now().Sub(time.Unix(0, int64(binary.BigEndian.Uint64(v)))) > l.recheck*3/4 {
				l.refresh(ctx, k.name)
			}
			continue
		}
		if !l.recheckShared(ctx, k.name) {
			return false
		}
	}
	return true
}

// recheckShared reads name's block from the shared cache into the local
// one and reports whether it is clear.
func (l *Limiter) recheckShared(ctx context.Context, name string) bool {
	if _, blocked := l.c.Get(ctx, "block:"+name); blocked {
		l.local.Set(ctx, "block:"+name, []byte{1}, l.recheck)
		l.local.Delete(ctx, "ok:"+name)
		return false
	}
	l.local.Set(ctx, "ok:"+name, binary.BigEndian.AppendUint64(nil, uint64(l.now().UnixNano())), l.recheck)
	return true
}

// refresh re-reads name in the background, once at a time.
func (l *Limiter) refresh(ctx context.Context, name string) {
	if _, busy := l.refreshing.LoadOrStore(name, true); busy {
		return
	}
	ctx = context.WithoutCancel(ctx) // the request may be answered first
	go func() {
		defer l.refreshing.Delete(name)
		l.recheckShared(ctx, name)
	}()
}

// Fail counts a failed attempt for the user and the client, blocking each
// that reaches its limit for one window.
func (l *Limiter) Fail(ctx context.Context, scope, username, client string) {
	for _, k := range l.keys(scope, username, client) {
		n, ok := int64(0), false
		if !l.fallback {
			n, ok = cache.Incr(ctx, l.c, "n:"+k.name, l.window)
		}
		if !ok {
			n, _ = l.local.Incr(ctx, "n:"+k.name, l.window)
		}
		if n >= k.max {
			if ok {
				l.c.Set(ctx, "block:"+k.name, []byte{1}, l.window)
			}
			l.local.Set(ctx, "block:"+k.name, []byte{1}, l.window)
			l.local.Delete(ctx, "ok:"+k.name)
		}
	}
}

// Reset clears the user's failures after a success. The client's count is
// kept (see the package doc).
func (l *Limiter) Reset(ctx context.Context, scope, username string) {
	if username == "" {
		return
	}
	name := l.name("user", scope, username)
	for _, c := range []cache.Cache{l.c, l.local} {
		c.Delete(ctx, "n:"+name)
		c.Delete(ctx, "block:"+name)
	}
	l.local.Delete(ctx, "ok:"+name)
}

type limitKey struct {
	name string
	max  int64
}

func (l *Limiter) keys(scope, username, client string) []limitKey {
	keys := make([]limitKey, 0, 2)
	if username != "" && l.user > 0 {
		keys = append(keys, limitKey{l.name("user", scope, username), l.user})
	}
	if client != "" && l.client > 0 {
		keys = append(keys, limitKey{l.name("client", scope, client), l.client})
	}
	return keys
}

func (l *Limiter) name(kind, scope, value string) string {
	return kind + ":" + hex.EncodeToString(l.macs.sum("limit-"+kind, scope, value)[:16])
}
