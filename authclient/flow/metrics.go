package flow

import (
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics times flow-executor calls under authentik's metric names, so
// existing dashboards keep working. A nil *Metrics records nothing.
type Metrics struct {
	get, post             *prometheus.HistogramVec
	getLegacy, postLegacy *prometheus.HistogramVec
}

// NewMetrics creates the flow timing histograms and registers them with reg
// (nil: not registered). Registering twice with the same registry reuses the
// collectors already there, so several executors can share one registry.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	labels := []string{"stage", "flow"}
	m := &Metrics{
		get: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "authentik_outpost_flow_timing_get_seconds",
			Help: "Duration it took to get a challenge in seconds",
		}, labels),
		post: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "authentik_outpost_flow_timing_post_seconds",
			Help: "Duration it took to send a challenge in seconds",
		}, labels),
		// authentik keeps these for compatibility; they are observed in
		// nanoseconds, not seconds.
		getLegacy: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "authentik_outpost_flow_timing_get",
			Help: "Duration it took to get a challenge",
		}, labels),
		postLegacy: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "authentik_outpost_flow_timing_post",
			Help: "Duration it took to send a challenge",
		}, labels),
	}
	if reg == nil {
		return m
	}
	m.get = register(reg, m.get)
	m.post = register(reg, m.post)
	m.getLegacy = register(reg, m.getLegacy)
	m.postLegacy = register(reg, m.postLegacy)
	return m
}

func register(reg prometheus.Registerer, c *prometheus.HistogramVec) *prometheus.HistogramVec {
	err := reg.Register(c)
	if err == nil {
		return c
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(*prometheus.HistogramVec); ok {
			return existing
		}
	}
	// Only a conflicting definition under the same name gets here: a
	// programming error, like promauto's.
	panic(fmt.Sprintf("flow metrics: %v", err))
}

func (m *Metrics) observeGet(stage, flow string, d time.Duration) {
	if m == nil {
		return
	}
	m.get.WithLabelValues(stage, flow).Observe(d.Seconds())
	m.getLegacy.WithLabelValues(stage, flow).Observe(float64(d))
}

func (m *Metrics) observePost(stage, flow string, d time.Duration) {
	if m == nil {
		return
	}
	m.post.WithLabelValues(stage, flow).Observe(d.Seconds())
	m.postLegacy.WithLabelValues(stage, flow).Observe(float64(d))
}
