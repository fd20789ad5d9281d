package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
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
		{name: "version", args: []string{"--version"}, wantStdout: "ldap-outpost " + version + "\n"},
		{name: "version with build", args: []string{"--version"}, env: map[string]string{"GIT_BUILD_HASH": "abc"}, wantStdout: "ldap-outpost " + version + "+abc\n"},
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
