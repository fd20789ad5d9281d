package outpost_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/outpost-go/outposts/authclient/devcore/devcoretest"
	"github.com/outpost-go/outposts/authclient/outpost"
	"github.com/outpost-go/outposts/authclient/outpost/outposttest"
)

// idle is a server that only remembers how many providers it was given.
type idle struct{ got chan int }

func (s *idle) Refresh(_ context.Context, providers []outpost.None) error {
	select {
	case s.got <- len(providers):
	default:
	}
	return nil
}

func (s *idle) Run(ctx context.Context) error { <-ctx.Done(); return nil }

func program() outpost.Program[outpost.None] {
	return outpost.Program[outpost.None]{
		Name: "test-outpost", Type: "rac", Version: "1.2.3",
		NewServer: func(*outpost.Runtime) (outpost.Server[outpost.None], error) {
			return &idle{got: make(chan int, 1)}, nil
		},
	}
}

func TestMainArgs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		args       []string
		env        map[string]string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{name: "version", args: []string{"--version"}, wantStdout: "test-outpost 1.2.3\n"},
		{name: "version with build", args: []string{"--version"}, env: map[string]string{"GIT_BUILD_HASH": "abc"}, wantStdout: "test-outpost 1.2.3+abc\n"},
		{name: "unknown argument", args: []string{"serve"}, wantCode: 2, wantStderr: "unknown argument"},
		{name: "no host", env: map[string]string{"AUTHENTIK_TOKEN": "t"}, wantCode: 2, wantStderr: "AUTHENTIK_HOST"},
		{name: "no token", env: map[string]string{"AUTHENTIK_HOST": "http://127.0.0.1:1/"}, wantCode: 2, wantStderr: "AUTHENTIK_TOKEN"},
		{
			name:     "bad reload offset",
			env:      map[string]string{"AUTHENTIK_HOST": "http://127.0.0.1:1/", "AUTHENTIK_TOKEN": "t", "AUTHENTIK_OUTPOST_RELOAD_OFFSET": "soon"},
			wantCode: 2, wantStderr: "AUTHENTIK_OUTPOST_RELOAD_OFFSET",
		},
		{
			name:     "healthcheck without a running outpost",
			args:     []string{"healthcheck"},
			env:      map[string]string{"AUTHENTIK_LISTEN__METRICS": "127.0.0.1:1"},
			wantCode: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			getenv := func(k string) string { return tt.env[k] }
			code := outpost.Main(t.Context(), tt.args, getenv, &stdout, &stderr, program())
			assert.Equal(t, tt.wantCode, code, stderr.String())
			if tt.wantStdout != "" {
				assert.Equal(t, tt.wantStdout, stdout.String())
			}
			assert.Contains(t, stderr.String(), tt.wantStderr)
			if tt.wantCode == 2 {
				assert.Equal(t, 1, strings.Count(stderr.String(), "\n"), "one line: %q", stderr.String())
			}
		})
	}
}

// TestMainRuns starts a program against the stand-in core: it connects,
// answers its health check, and stops with exit code 0.
func TestMainRuns(t *testing.T) {
	t.Parallel()
	core := devcoretest.Start(t)
	metricsAddr := outposttest.FreeAddr(t)
	_, stop := outposttest.InProcess(t, program(), map[string]string{
		"AUTHENTIK_HOST":            core.URL,
		"AUTHENTIK_TOKEN":           core.Token("rac-outpost"),
		"AUTHENTIK_LISTEN__METRICS": metricsAddr,
	})
	require.Eventually(t, func() bool { return len(core.Server.Connected("rac-outpost")) == 1 }, outposttest.Wait, outposttest.Tick)
	require.Eventually(t, func() bool { return outposttest.Ping(metricsAddr) == 204 }, outposttest.Wait, outposttest.Tick)
	require.Eventually(t, func() bool {
		v, ok := outposttest.Scrape(metricsAddr, "authentik_outpost_connection")
		return ok && v == 1
	}, outposttest.Wait, outposttest.Tick)

	var stderr bytes.Buffer
	code := outpost.Main(t.Context(), []string{"healthcheck"}, func(k string) string {
		if k == "AUTHENTIK_LISTEN__METRICS" {
			return metricsAddr
		}
		return ""
	}, &bytes.Buffer{}, &stderr, program())
	assert.Equal(t, 0, code, stderr.String())
	assert.Equal(t, 0, stop())
}

// TestDebugServer: the profiler listens on AUTHENTIK_LISTEN__DEBUG only
// when AUTHENTIK_DEBUG is true.
func TestDebugServer(t *testing.T) {
	t.Parallel()
	core := devcoretest.Start(t)
	for _, debug := range []bool{true, false} {
		t.Run(fmt.Sprint("debug=", debug), func(t *testing.T) {
			metricsAddr, debugAddr := outposttest.FreeAddr(t), outposttest.FreeAddr(t)
			_, stop := outposttest.InProcess(t, program(), map[string]string{
				"AUTHENTIK_HOST":            core.URL,
				"AUTHENTIK_TOKEN":           core.Token("rac-outpost"),
				"AUTHENTIK_LISTEN__METRICS": metricsAddr,
				"AUTHENTIK_LISTEN__DEBUG":   debugAddr,
				"AUTHENTIK_DEBUG":           fmt.Sprint(debug),
			})
			require.Eventually(t, func() bool { return outposttest.Ping(metricsAddr) == 204 }, outposttest.Wait, outposttest.Tick)
			if debug {
				require.Eventually(t, func() bool {
					resp, err := http.Get("http://" + debugAddr + "/debug/pprof/")
					if err != nil {
						return false
					}
					resp.Body.Close()
					return resp.StatusCode == http.StatusOK
				}, outposttest.Wait, outposttest.Tick)
			} else {
				_, err := http.Get("http://" + debugAddr + "/debug/pprof/")
				assert.Error(t, err, "the profiler must not listen without AUTHENTIK_DEBUG")
			}
			assert.Equal(t, 0, stop())
		})
	}
}
