package cache

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultTimeout bounds every Redis call when no timeout is configured.
const DefaultTimeout = 50 * time.Millisecond

// RedisOptions configures a Redis cache.
type RedisOptions struct {
	// Prefix is put in front of every key as is, e.g. "authentik_outpost:".
	Prefix string
	// Timeout bounds each call, whatever the client's own timeouts are;
	// DefaultTimeout when zero or negative.
	Timeout time.Duration
}

// Redis is a Cache stored in Redis, shared by every process using the same
// Redis and prefix. Its Cache methods report failures as misses; the
// error-returning methods (GetErr, SetErr, DeleteErr, Ping) are what
// Failover uses to notice an outage.
type Redis struct {
	client  redis.UniversalClient
	prefix  string
	timeout time.Duration
}

// NewRedis returns a Redis cache using client. The caller keeps ownership of
// client and closes it. A client built with ContextTimeoutEnabled frees its
// connections as soon as a call times out; other clients are still bounded
// by Timeout, but the abandoned call runs on until the client's own timeout.
func NewRedis(client redis.UniversalClient, opts RedisOptions) *Redis {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	return &Redis{client: client, prefix: opts.Prefix, timeout: opts.Timeout}
}

// Get implements Cache; any error reads as a miss.
func (r *Redis) Get(ctx context.Context, key string) ([]byte, bool) {
	v, ok, err := r.GetErr(ctx, key)
	if err != nil {
		return nil, false
	}
	return v, ok
}

// Set implements Cache; errors are dropped.
func (r *Redis) Set(ctx context.Context, key string, value []byte, ttl time.Duration) {
	_ = r.SetErr(ctx, key, value, ttl)
}

// Delete implements Cache; errors are dropped.
func (r *Redis) Delete(ctx context.Context, key string) {
	_ = r.DeleteErr(ctx, key)
}

// GetErr is Get that reports why Redis could not answer. A value in a format
// this code does not know is a miss, not an error: Redis answered.
func (r *Redis) GetErr(ctx context.Context, key string) ([]byte, bool, error) {
	raw, err := bounded(ctx, r.timeout, func(ctx context.Context) ([]byte, error) {
		return r.client.Get(ctx, r.prefix+key).Bytes()
	})
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("redis cache get: %w", err)
	}
	v, err := decodeEnvelope(raw)
	if err != nil {
		return nil, false, nil
	}
	return v, true, nil
}

// SetErr is Set that reports why Redis could not store the value.
//
// Writes are bounded by the timeout but not cancelled with ctx: a Delete at
// logout must land even if the client that asked for it has gone away.
func (r *Redis) SetErr(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if ttl <= 0 {
		return r.DeleteErr(ctx, key)
	}
	// go-redis rounds a sub-millisecond TTL up to 1 ms, so it never becomes
	// "no expiry".
	_, err := bounded(context.WithoutCancel(ctx), r.timeout, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, r.client.Set(ctx, r.prefix+key, encodeEnvelope(value), ttl).Err()
	})
	if err != nil {
		return fmt.Errorf("redis cache set: %w", err)
	}
	return nil
}

// DeleteErr is Delete that reports why Redis could not delete the key.
func (r *Redis) DeleteErr(ctx context.Context, key string) error {
	_, err := bounded(context.WithoutCancel(ctx), r.timeout, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, r.client.Del(ctx, r.prefix+key).Err()
	})
	if err != nil {
		return fmt.Errorf("redis cache delete: %w", err)
	}
	return nil
}

// Ping checks that Redis answers within the timeout.
func (r *Redis) Ping(ctx context.Context) error {
	_, err := bounded(ctx, r.timeout, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, r.client.Ping(ctx).Err()
	})
	if err != nil {
		return fmt.Errorf("redis cache ping: %w", err)
	}
	return nil
}

// deleteKeys deletes keys in batches, one DEL per key in a pipeline so that
// a cluster never sees a multi-key DEL across slots. Each batch gets the
// timeout.
func (r *Redis) deleteKeys(ctx context.Context, keys []string) error {
	const batch = 500
	for len(keys) > 0 {
		n := min(batch, len(keys))
		chunk := keys[:n]
		keys = keys[n:]
		_, err := bounded(ctx, r.timeout, func(ctx context.Context) (struct{}, error) {
			_, err := r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
				for _, k := range chunk {
					p.Del(ctx, r.prefix+k)
				}
				return nil
			})
			return struct{}{}, err
		})
		if err != nil {
			return fmt.Errorf("redis cache delete %d keys: %w", n, err)
		}
	}
	return nil
}

// bounded runs fn with a deadline of timeout and returns by then even if fn
// does not: go-redis honours context deadlines only when the client was
// built with ContextTimeoutEnabled, and this package accepts any client.
func bounded[T any](ctx context.Context, timeout time.Duration, fn func(context.Context) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1) // buffered: an abandoned fn must not block
	go func() {
		v, err := fn(ctx)
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		select {
		case r := <-done: // finished at the same moment: keep its answer
			return r.v, r.err
		default:
		}
		var zero T
		return zero, ctx.Err()
	}
}
