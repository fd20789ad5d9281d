package health

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/outpost-go/outposts/authclient/metrics"
)

// start serves h on 127.0.0.1:0 until the test ends and returns the port.
func start(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- metrics.ServeListener(ctx, ln, h, zerolog.New(io.Discard)) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	_, port, err := net.SplitHostPort(ln.Addr().String())
	require.NoError(t, err)
	return port
}

// freePort returns a port nothing listens on (it was free a moment ago).
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	_, port, err := net.SplitHostPort(ln.Addr().String())
	require.NoError(t, err)
	require.NoError(t, ln.Close())
	return port
}

func TestCheckRealMetricsServer(t *testing.T) {
	t.Parallel()
	port := start(t, metrics.Handler(prometheus.NewRegistry()))
	for _, host := range []string{"127.0.0.1", "0.0.0.0", "", "::"} {
		t.Run("host="+host, func(t *testing.T) {
			t.Parallel()
			require.NoError(t, Check(t.Context(), net.JoinHostPort(host, port)))
		})
	}
}

func TestCheckRequest(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var method, path, ua string
	port := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		method, path, ua = r.Method, r.URL.Path, r.UserAgent()
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	require.NoError(t, Check(t.Context(), "127.0.0.1:"+port))
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, http.MethodHead, method)
	assert.Equal(t, "/outpost.goauthentik.io/ping", path)
	assert.Equal(t, "goauthentik.io/healthcheck", ua)
}

func TestCheckFailures(t *testing.T) {
	t.Parallel()
	status := func(code int) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(code) })
	}
	tests := []struct {
		name    string
		addr    func(t *testing.T) string
		wantErr string
	}{
		{"500", func(t *testing.T) string { return "127.0.0.1:" + start(t, status(500)) }, "status 500"},
		{"404", func(t *testing.T) string { return "127.0.0.1:" + start(t, status(404)) }, "status 404"},
		{"nothing listening", func(t *testing.T) string { return "127.0.0.1:" + freePort(t) }, "connection refused"},
		{"nothing listening on ::", func(t *testing.T) string { return "[::]:" + freePort(t) }, "connection refused"},
		{"no port", func(*testing.T) string { return "127.0.0.1" }, "missing port"},
		{"empty port", func(*testing.T) string { return "127.0.0.1:" }, "no port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := Check(t.Context(), tt.addr(t))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
}

func TestCheckRedirectIsHealthy(t *testing.T) {
	t.Parallel()
	port := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://192.0.2.1/", http.StatusFound)
	}))
	require.NoError(t, Check(t.Context(), "127.0.0.1:"+port))
}

func TestCheckHangingServerStopsWithContext(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	port := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release) })
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	err := Check(ctx, "127.0.0.1:"+port)
	require.Error(t, err)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestMainExitCodes(t *testing.T) {
	t.Parallel()
	port := start(t, metrics.Handler(prometheus.NewRegistry()))
	tests := []struct {
		name    string
		env     map[string]string
		want    int
		stderrs string
	}{
		{"healthy", map[string]string{"AUTHENTIK_LISTEN__METRICS": "0.0.0.0:" + port}, 0, ""},
		{"env reference", map[string]string{"AUTHENTIK_LISTEN__METRICS": "env://M", "M": "127.0.0.1:" + port}, 0, ""},
		{"down", map[string]string{"AUTHENTIK_LISTEN__METRICS": "127.0.0.1:" + freePort(t)}, 1, "healthcheck: unhealthy: "},
		{"bad address", map[string]string{"AUTHENTIK_LISTEN__METRICS": "nope"}, 1, "healthcheck: AUTHENTIK_LISTEN__METRICS: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stderr bytes.Buffer
			got := Main(t.Context(), func(k string) string { return tt.env[k] }, &stderr)
			assert.Equal(t, tt.want, got)
			if tt.stderrs == "" {
				assert.Empty(t, stderr.String())
			} else {
				assert.True(t, strings.HasPrefix(stderr.String(), tt.stderrs), stderr.String())
				assert.Equal(t, 1, strings.Count(stderr.String(), "\n"))
			}
		})
	}
}

func TestTargets(t *testing.T) {
	t.Parallel()
	tests := []struct {
		addr  string
		hosts []string
	}{
		{"0.0.0.0:9300", []string{"127.0.0.1"}},
		{":9300", []string{"127.0.0.1"}},
		{"[::]:9300", []string{"::1", "127.0.0.1"}},
		{"[::1]:9300", []string{"::1"}},
		{"10.1.2.3:9300", []string{"10.1.2.3"}},
		{"outpost:9300", []string{"outpost"}},
	}
	for _, tt := range tests {
		hosts, port, err := targets(tt.addr)
		require.NoError(t, err)
		assert.Equal(t, tt.hosts, hosts, tt.addr)
		assert.Equal(t, "9300", port)
	}
}
