package credcache

import (
	"context"
	"encoding/hex"
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
	}
}

// Allow reports whether neither the user nor the client is blocked. An
// empty username or client is not checked.
func (l *Limiter) Allow(ctx context.Context, scope, username, client string) bool {
	for _, k := range l.keys(scope, username, client) {
		if _, blocked := l.local.Get(ctx, "block:"+k.name); blocked {
			return false
		}
		if _, checked := l.local.Get(ctx, "ok:"+k.name); checked {
			continue
		}
		if _, blocked := l.c.Get(ctx, "block:"+k.name); blocked {
			l.local.Set(ctx, "block:"+k.name, []byte{1}, l.recheck)
			return false
		}
		l.local.Set(ctx, "ok:"+k.name, []byte{1}, l.recheck)
	}
	return true
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
