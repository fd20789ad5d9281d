package radiusd

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the server's Prometheus metrics. The first four are
// authentik's (names, labels and help texts); the legacy pair is what
// older authentik versions exported, kept so existing dashboards work
// (observed in seconds here; very old authentik versions observed
// nanoseconds).
type metrics struct {
	duration       *prometheus.HistogramVec // outpost_name, app
	durationLegacy *prometheus.HistogramVec
	rejected       *prometheus.CounterVec // outpost_name, reason, app
	rejectedLegacy *prometheus.CounterVec
	dropped        *prometheus.CounterVec // outpost_name, reason
	accounting     *prometheus.CounterVec // outpost_name, status_type, app
	duplicates     *prometheus.CounterVec // outpost_name, action
	credCache      *prometheus.CounterVec // outpost_name, result, app
	userChanges    *prometheus.CounterVec // outpost_name
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "authentik_outpost_radius_request_duration_seconds",
			Help: "RADIUS request latencies in seconds",
		}, []string{"outpost_name", "app"}),
		durationLegacy: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "authentik_outpost_radius_requests",
			Help: "The total number of successful requests",
		}, []string{"outpost_name", "app"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authentik_outpost_radius_requests_rejected_total",
			Help: "Total number of rejected requests",
		}, []string{"outpost_name", "reason", "app"}),
		rejectedLegacy: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authentik_outpost_radius_requests_rejected",
			Help: "Total number of rejected requests",
		}, []string{"outpost_name", "reason", "app"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authentik_outpost_radius_packets_dropped_total",
			Help: "RADIUS packets dropped without a reply, by reason (unknown_client, malformed, bad_message_authenticator, missing_message_authenticator, bad_authenticator, unsupported_code, duplicate_in_flight)",
		}, []string{"outpost_name", "reason"}),
		accounting: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authentik_outpost_radius_accounting_requests_total",
			Help: "Accounting-Requests answered (they are logged, not stored)",
		}, []string{"outpost_name", "status_type", "app"}),
		duplicates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authentik_outpost_radius_duplicate_requests_total",
			Help: "Retransmitted requests: answered from the reply cache (replayed) or dropped while the original was in flight (dropped)",
		}, []string{"outpost_name", "action"}),
		credCache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authentik_outpost_radius_credential_cache_total",
			Help: "Access-Requests answered from the credential cache (hit, fallback when the core was down) or not (miss), and cached successes voided because their user changed (voided)",
		}, []string{"outpost_name", "result", "app"}),
		userChanges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authentik_outpost_radius_user_changes_total",
			Help: "Users seen by polling the core whose password_change_date or is_active changed",
		}, []string{"outpost_name"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.duration, m.durationLegacy, m.rejected, m.rejectedLegacy, m.dropped, m.accounting, m.duplicates, m.credCache, m.userChanges} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("register radius metrics: %w", err)
			}
		}
	}
	return m, nil
}

// providerMetrics are the per-request series of one provider, looked up
// once instead of on every request.
type providerMetrics struct {
	outpost        string
	duration       prometheus.Observer
	durationLegacy prometheus.Observer
	cacheHit       prometheus.Counter
}

func (s *Server) providerMetrics(p *Provider, outpost string) *providerMetrics {
	if pm := p.metrics.Load(); pm != nil && pm.outpost == outpost {
		return pm
	}
	pm := &providerMetrics{
		outpost:        outpost,
		duration:       s.m.duration.WithLabelValues(outpost, p.AppSlug),
		durationLegacy: s.m.durationLegacy.WithLabelValues(outpost, p.AppSlug),
		cacheHit:       s.m.credCache.WithLabelValues(outpost, "hit", p.AppSlug),
	}
	p.metrics.Store(pm)
	return pm
}
