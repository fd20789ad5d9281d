package cache

import (
	"context"
	"fmt"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/outpost-go/outposts/authclient/config"
)

// New returns the cache an outpost should use, and a function that releases
// it. With Redis configured it is a Failover over Redis (keys prefixed with
// cfg.KeyPrefix and ':'), starting on the in-process cache if Redis does not
// answer within ctx and cfg.Timeout; otherwise it is a Memory of
// DefaultMaxEntries. The error is for a configuration that cannot be used,
// never for an unreachable Redis. reg may be nil.
func New(ctx context.Context, cfg config.Redis, log zerolog.Logger, reg prometheus.Registerer) (Cache, func() error, error) {
	log = log.With().Str("component", "cache").Logger()
	if !cfg.Enabled() {
		m := newMetrics(reg)
		m.useBackend(backendMemory)
		log.Debug().Int("max_entries", DefaultMaxEntries).Msg("no redis configured, using in-process cache")
		return counted{c: NewMemory(DefaultMaxEntries), m: m}, func() error { return nil }, nil
	}
	opts, err := cfg.Options()
	if err != nil {
		return nil, nil, fmt.Errorf("cache: %w", err)
	}
	// Lets a timed-out call give its connection back at once instead of
	// waiting for the client's read timeout.
	opts.ContextTimeoutEnabled = true
	client := redis.NewUniversalClient(opts)
	prefix := cfg.KeyPrefix
	if prefix != "" && !strings.HasSuffix(prefix, ":") {
		prefix += ":"
	}
	r := NewRedis(client, RedisOptions{Prefix: prefix, Timeout: cfg.Timeout})
	f := NewFailover(r, NewMemory(DefaultMaxEntries), FailoverOptions{Log: log, Registerer: reg})
	if err := r.Ping(ctx); err != nil {
		f.fallBack(err)
	} else {
		log.Debug().Str("mode", cfg.Mode()).Msg("using redis cache")
	}
	closeFn := func() error {
		_ = f.Close()
		if err := client.Close(); err != nil {
			return fmt.Errorf("close redis cache client: %w", err)
		}
		return nil
	}
	return f, closeFn, nil
}
