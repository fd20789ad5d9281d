package application

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMetricsObserve: observations through the cached observers land in
// the right series, and label sets beyond the cache's bound still count.
func TestMetricsObserve(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	for i := range maxCachedLabelSets + 10 {
		m.ObserveRequest("o", "GET", "h"+strconv.Itoa(i), "app", time.Millisecond)
	}
	for range 3 {
		m.ObserveRequest("o", "GET", "h0", "app", time.Millisecond)
		m.observeUpstream("o", "GET", "http", "h0", "up:80", time.Millisecond)
	}
	assert.Len(t, m.requests.m, maxCachedLabelSets)

	families, err := reg.Gather()
	require.NoError(t, err)
	// counts is sample count by metric name and host label.
	counts := map[string]uint64{}
	for _, f := range families {
		for _, s := range f.GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() == "host" {
					counts[f.GetName()+" "+l.GetValue()] = s.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	beyond := "h" + strconv.Itoa(maxCachedLabelSets+5)
	tests := []struct {
		series string
		want   uint64
	}{
		{"authentik_outpost_proxy_request_duration_seconds h0", 4},
		{"authentik_outpost_proxy_requests h0", 4},
		{"authentik_outpost_proxy_request_duration_seconds " + beyond, 1},
		{"authentik_outpost_proxy_requests " + beyond, 1},
		{"authentik_outpost_proxy_upstream_response_duration_seconds h0", 3},
		{"authentik_outpost_proxy_upstream_time h0", 3},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, counts[tt.series], tt.series)
	}
	n := 0
	for k := range counts {
		if strings.HasPrefix(k, "authentik_outpost_proxy_request_duration_seconds ") {
			n++
		}
	}
	assert.Equal(t, maxCachedLabelSets+10, n)
}
