package cache

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Label values of authentik_outpost_cache_requests_total and
// authentik_outpost_cache_backend.
const (
	opGet    = "get"
	opSet    = "set"
	opDelete = "delete"

	resultHit  = "hit"
	resultMiss = "miss"
	resultOK   = "ok"
	// resultError: the backend failed; the caller got an answer from the
	// in-process cache (or a miss) instead.
	resultError = "error"

	backendRedis  = "redis"
	backendMemory = "memory"
)

type metrics struct {
	requests  *prometheus.CounterVec
	fallbacks prometheus.Counter
	backend   *prometheus.GaugeVec
}

// newMetrics builds fresh collectors and registers them with reg when reg is
// not nil. Registering into a registry that already has them (New called
// twice with the same registry) reuses the registered ones instead of
// panicking; any other registration error leaves the collectors working but
// unexported.
func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "authentik_outpost",
			Name:      "cache_requests_total",
			Help:      "Cache operations by operation (get, set, delete) and result (hit, miss, ok, error).",
		}, []string{"op", "result"}),
		fallbacks: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "authentik_outpost",
			Name:      "cache_fallback_total",
			Help:      "Times the cache switched from Redis to the in-process cache because Redis failed.",
		}),
		backend: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "authentik_outpost",
			Name:      "cache_backend",
			Help:      "1 for the cache backend in use (redis or memory), 0 for the other.",
		}, []string{"backend"}),
	}
	if reg == nil {
		return m
	}
	m.requests = register(reg, m.requests)
	m.fallbacks = register(reg, m.fallbacks)
	m.backend = register(reg, m.backend)
	return m
}

func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	err := reg.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing
		}
	}
	return c
}

func (m *metrics) count(op, result string) {
	m.requests.WithLabelValues(op, result).Inc()
}

func (m *metrics) useBackend(name string) {
	for _, b := range []string{backendRedis, backendMemory} {
		v := 0.0
		if b == name {
			v = 1
		}
		m.backend.WithLabelValues(b).Set(v)
	}
}

// counted adds request metrics to a Cache that cannot fail (Memory).
type counted struct {
	c Cache
	m *metrics
}

func (c counted) Get(ctx context.Context, key string) ([]byte, bool) {
	v, ok := c.c.Get(ctx, key)
	c.m.count(opGet, hitOrMiss(ok))
	return v, ok
}

func (c counted) Set(ctx context.Context, key string, value []byte, ttl time.Duration) {
	c.c.Set(ctx, key, value, ttl)
	c.m.count(opSet, resultOK)
}

func (c counted) Delete(ctx context.Context, key string) {
	c.c.Delete(ctx, key)
	c.m.count(opDelete, resultOK)
}

func hitOrMiss(ok bool) string {
	if ok {
		return resultHit
	}
	return resultMiss
}
