package service

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the LDAP outpost's metrics. The first two have authentik's
// names, labels and reasons so its dashboards keep working.
type Metrics struct {
	Requests    *prometheus.HistogramVec // outpost_name, type, app
	Rejected    *prometheus.CounterVec   // outpost_name, type, reason, app
	BindCache   *prometheus.CounterVec   // result: hit, miss, fallback
	Entries     *prometheus.GaugeVec     // app
	SnapshotAge *prometheus.GaugeVec     // app (seconds since the snapshot was built)
	Connections prometheus.Gauge
	InFlight    prometheus.Gauge
}

// Rejection reasons (authentik's, plus ours where authentik has none).
const (
	ReasonFlowError          = "flow_error"
	ReasonInvalidCredentials = "invalid_credentials"
	ReasonAccessDenied       = "access_denied"
	ReasonAccessCheckFail    = "access_check_fail"
	ReasonUserInfoFail       = "user_info_fail"
	ReasonNoProvider         = "no_provider"
	ReasonFilterParseFail    = "filter_parse_fail"
	ReasonEmptyBindDN        = "empty_bind_dn"
	ReasonInvalidBindDN      = "invalid_bind_dn"
	ReasonUserInfoNotCached  = "user_info_not_cached"
	ReasonRateLimited        = "rate_limited"
	ReasonCoreUnavailable    = "core_unavailable"
	ReasonUnsupported        = "unsupported"
)

// NewMetrics creates the metrics and registers them with reg (nil: not
// registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "authentik_outpost_ldap_request_duration_seconds",
			Help: "LDAP request latency",
		}, []string{"outpost_name", "type", "app"}),
		Rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authentik_outpost_ldap_requests_rejected_total",
			Help: "Total number of rejected requests",
		}, []string{"outpost_name", "type", "reason", "app"}),
		BindCache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authentik_outpost_ldap_bind_cache_total",
			Help: "Binds answered from the shared bind cache (hit), run through the core (miss), answered from the cache because the core was unavailable (fallback), or run through the core because the provider has mfa_support (bypass)",
		}, []string{"result"}),
		Entries: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "authentik_outpost_ldap_directory_entries",
			Help: "Entries in the provider's cached directory snapshot",
		}, []string{"app"}),
		SnapshotAge: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "authentik_outpost_ldap_snapshot_timestamp_seconds",
			Help: "Unix time the provider's cached directory snapshot was last refreshed (age = time() - value)",
		}, []string{"app"}),
		Connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "authentik_outpost_ldap_connections",
			Help: "Open LDAP connections",
		}),
		InFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "authentik_outpost_ldap_operations_in_flight",
			Help: "LDAP operations being processed",
		}),
	}
	if reg != nil {
		m.Requests = register(reg, m.Requests)
		m.Rejected = register(reg, m.Rejected)
		m.BindCache = register(reg, m.BindCache)
		m.Entries = register(reg, m.Entries)
		m.SnapshotAge = register(reg, m.SnapshotAge)
		m.Connections = register(reg, m.Connections)
		m.InFlight = register(reg, m.InFlight)
	}
	return m
}

func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
	}
	return c
}
