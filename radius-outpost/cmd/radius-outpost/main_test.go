package main

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/outpost-go/outposts/authclient/devcore/devcoretest"
	"github.com/outpost-go/outposts/authclient/outpost/outposttest"
)

func envFunc(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

func TestRunArgs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		args       []string
		env        map[string]string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{name: "version", args: []string{"--version"}, wantStdout: "radius-outpost " + version + "\n"},
		{name: "version with build", args: []string{"--version"}, env: map[string]string{"GIT_BUILD_HASH": "abc"}, wantStdout: "radius-outpost " + version + "+abc\n"},
		{name: "unknown argument", args: []string{"serve"}, wantCode: 2, wantStderr: "unknown argument"},
		{name: "no host", env: map[string]string{"AUTHENTIK_TOKEN": "t"}, wantCode: 2, wantStderr: "AUTHENTIK_HOST"},
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
			code := run(t.Context(), tt.args, envFunc(tt.env), &stdout, &stderr)
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

// startInProcess runs the outpost in this process against a stand-in core
// until the returned stop is called; stop returns the exit code.
func startInProcess(t *testing.T, core *devcoretest.Core, outpostName string) (log *outposttest.Buffer, metricsAddr string, stop func() int) {
	t.Helper()
	log = &outposttest.Buffer{}
	metricsAddr = outposttest.FreeAddr(t)
	env := map[string]string{
		"AUTHENTIK_HOST":            core.URL,
		"AUTHENTIK_TOKEN":           core.Token(outpostName),
		"AUTHENTIK_LISTEN__METRICS": metricsAddr,
		// Free ports for auth and (derived, port 0) accounting.
		"AUTHENTIK_LISTEN__RADIUS": "127.0.0.1:0",
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- run(ctx, nil, envFunc(env), &bytes.Buffer{}, log) }()
	var once sync.Once
	code := 0
	stop = func() int {
		once.Do(func() {
			cancel()
			select {
			case code = <-done:
			case <-time.After(30 * time.Second):
				t.Error("outpost did not stop")
				code = -1
			}
		})
		return code
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("outpost log:\n%s", log.String())
		}
	})
	return log, metricsAddr, stop
}

func TestRunsAgainstCore(t *testing.T) {
	t.Parallel()
	core := devcoretest.Start(t)
	log, _, stop := startInProcess(t, core, "radius-outpost")
	require.Eventually(t, func() bool {
		return strings.Contains(log.String(), `"providers":1`) && len(core.Server.Connected("radius-outpost")) == 1
	}, 30*time.Second, 20*time.Millisecond)
	assert.Equal(t, 0, stop())
}
