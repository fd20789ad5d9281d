package main

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// racMetrics are the RAC outpost's own metrics.
type racMetrics struct {
	active   *prometheus.GaugeVec
	bytes    *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	up       *prometheus.GaugeVec
	sessions *prometheus.CounterVec

	mu     sync.Mutex
	lastUp map[string]bool
}

func newRACMetrics(reg prometheus.Registerer) (*racMetrics, error) {
	m := &racMetrics{
		active: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "authentik_outpost_rac_active_sessions",
			Help: "Live RAC sessions, by endpoint and protocol.",
		}, []string{"outpost_name", "endpoint", "protocol"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authentik_outpost_rac_bytes_total",
			Help: "Bytes of Guacamole instructions relayed, by direction (to_client, to_guacd).",
		}, []string{"outpost_name", "direction"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "authentik_outpost_rac_relay_latency_seconds",
			Help:    "Time from an instruction batch being read whole to it being written to the other side.",
			Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .05, .1, .5, 1},
		}, []string{"outpost_name"}),
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "authentik_outpost_rac_guacd_up",
			Help: "1 when the last guacd health check succeeded.",
		}, []string{"outpost_name", "address"}),
		sessions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authentik_outpost_rac_sessions_total",
			Help: "init_connection requests by result (connected, guacd_failed, core_failed, bad_request).",
		}, []string{"outpost_name", "result"}),
		lastUp: map[string]bool{},
	}
	for _, c := range []prometheus.Collector{m.active, m.bytes, m.latency, m.up, m.sessions} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// guacdUp records a health result and returns the previous one (true the
// first time, so a healthy start logs nothing).
func (m *racMetrics) guacdUp(outpostName, address string, up bool) bool {
	m.mu.Lock()
	was, seen := m.lastUp[outpostName]
	m.lastUp[outpostName] = up
	m.mu.Unlock()
	v := 0.0
	if up {
		v = 1
	}
	m.up.WithLabelValues(outpostName, address).Set(v)
	return was || !seen
}

func (m *racMetrics) sessionResult(outpostName, result string) {
	m.sessions.WithLabelValues(outpostName, result).Inc()
}

func (m *racMetrics) observer(outpostName string) observer {
	return observer{
		toClient: m.bytes.WithLabelValues(outpostName, "to_client"),
		toGuacd:  m.bytes.WithLabelValues(outpostName, "to_guacd"),
		latency:  m.latency.WithLabelValues(outpostName),
	}
}

// observer feeds relay measurements into the metrics.
type observer struct {
	toClient, toGuacd prometheus.Counter
	latency           prometheus.Observer
}

func (o observer) ToClient(n int)          { o.toClient.Add(float64(n)) }
func (o observer) ToGuacd(n int)           { o.toGuacd.Add(float64(n)) }
func (o observer) Latency(d time.Duration) { o.latency.Observe(d.Seconds()) }
