package metrics

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var ldap = Outpost{Name: "ldap-1", Type: "ldap", UUID: "0b2c", Version: "2026.5.3", Build: "abc"}

// series gathers reg and returns metric name -> "label=value,..." -> value.
func series(t *testing.T, reg prometheus.Gatherer) map[string]map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	out := map[string]map[string]float64{}
	for _, mf := range mfs {
		m := map[string]float64{}
		for _, metric := range mf.GetMetric() {
			var labels []string
			for _, lp := range metric.GetLabel() {
				labels = append(labels, lp.GetName()+"="+lp.GetValue())
			}
			m[strings.Join(labels, ",")] = metric.GetGauge().GetValue()
		}
		out[mf.GetName()] = m
	}
	return out
}

func TestCommon(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	c := NewCommon(reg)
	c.SetInfo(ldap)
	c.SetLastUpdate(ldap, time.Unix(1700000000, 0))
	c.SetConnected(ldap, true)

	const full = "build=abc,outpost_name=ldap-1,outpost_type=ldap,uuid=0b2c,version=2026.5.3"
	const short = "outpost_name=ldap-1,outpost_type=ldap,uuid=0b2c"
	assert.Equal(t, map[string]map[string]float64{
		"authentik_outpost_info":        {full: 1},
		"authentik_outpost_last_update": {full: 1700000000},
		"authentik_outpost_connection":  {short: 1},
	}, series(t, reg))

	mfs, err := reg.Gather()
	require.NoError(t, err)
	help := map[string]string{}
	for _, mf := range mfs {
		help[mf.GetName()] = mf.GetHelp()
	}
	assert.Equal(t, map[string]string{
		"authentik_outpost_info":        "Outpost info",
		"authentik_outpost_last_update": "Time of last update",
		"authentik_outpost_connection":  "Connection status",
	}, help)

	c.SetConnected(ldap, false)
	assert.Equal(t, map[string]float64{short: 0}, series(t, reg)["authentik_outpost_connection"])

	// A renamed outpost replaces its series instead of adding one.
	renamed := ldap
	renamed.Name = "ldap-2"
	c.SetInfo(renamed)
	c.SetConnected(renamed, true)
	got := series(t, reg)
	assert.Equal(t, map[string]float64{strings.Replace(full, "ldap-1", "ldap-2", 1): 1}, got["authentik_outpost_info"])
	assert.Equal(t, map[string]float64{strings.Replace(short, "ldap-1", "ldap-2", 1): 1}, got["authentik_outpost_connection"])
}

func TestNewCommonTwiceAndNil(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	a := NewCommon(reg)
	b := NewCommon(reg)
	a.SetInfo(ldap)
	b.SetInfo(ldap)
	assert.Len(t, series(t, reg)["authentik_outpost_info"], 1)

	NewCommon(nil).SetConnected(ldap, true) // usable without a registry
}

func TestNewRegistry(t *testing.T) {
	t.Parallel()
	mfs, err := NewRegistry().Gather()
	require.NoError(t, err)
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	assert.True(t, names["go_goroutines"])
	assert.True(t, names["process_start_time_seconds"] || names["process_cpu_seconds_total"], "process collector present")
}

// serve starts ServeListener on 127.0.0.1:0 and returns its base URL and a
// function that stops it and returns Serve's result.
func serve(t *testing.T, h http.Handler) (string, func() error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- ServeListener(ctx, ln, h, zerolog.New(io.Discard)) }()
	var once bool
	var result error
	stop := func() error {
		if !once {
			once = true
			cancel()
			result = <-done
		}
		return result
	}
	t.Cleanup(func() { _ = stop() })
	return "http://" + ln.Addr().String(), stop
}

func TestHandlerOverHTTP(t *testing.T) {
	t.Parallel()
	reg := NewRegistry()
	NewCommon(reg).SetInfo(ldap)
	base, stop := serve(t, Handler(reg))

	tests := []struct {
		method, path string
		status       int
		bodyHas      string
	}{
		{http.MethodGet, PingPath, http.StatusNoContent, ""},
		{http.MethodHead, PingPath, http.StatusNoContent, ""},
		{http.MethodPost, PingPath, http.StatusMethodNotAllowed, ""},
		{http.MethodGet, MetricsPath, http.StatusOK, `authentik_outpost_info{build="abc"`},
		{http.MethodHead, MetricsPath, http.StatusOK, ""},
		{http.MethodGet, "/", http.StatusNotFound, ""},
		{http.MethodGet, "/metrics/x", http.StatusNotFound, ""},
		{http.MethodGet, "/outpost.goauthentik.io/pingx", http.StatusNotFound, ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), tt.method, base+tt.path, nil)
			require.NoError(t, err)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			assert.Equal(t, tt.status, resp.StatusCode)
			assert.Contains(t, string(body), tt.bodyHas)
		})
	}
	require.NoError(t, stop(), "clean shutdown returns nil")
}

func TestServe(t *testing.T) {
	t.Parallel()
	// Occupy a port, then ask Serve for it.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = busy.Close() })
	err = Serve(t.Context(), busy.Addr().String(), Handler(prometheus.NewRegistry()), zerolog.New(io.Discard))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "metrics listen on "+busy.Addr().String())

	err = Serve(t.Context(), "not-an-address", Handler(prometheus.NewRegistry()), zerolog.New(io.Discard))
	require.Error(t, err)

	// Clean run: a cancelled context stops it with nil.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	require.NoError(t, Serve(ctx, "127.0.0.1:0", Handler(prometheus.NewRegistry()), zerolog.New(io.Discard)))
}

func TestServeListenerClosedListener(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	require.NoError(t, ln.Close())
	err = ServeListener(t.Context(), ln, Handler(prometheus.NewRegistry()), zerolog.New(io.Discard))
	require.Error(t, err)
}
