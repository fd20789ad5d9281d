package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
)

func envFunc(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

// The shared behaviour of run (healthcheck, bad settings, exit codes) is
// tested with outpost.Main in authclient; this covers what is this
// binary's own.
func TestRunVersion(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	assert.Equal(t, 0, run(t.Context(), []string{"--version"}, envFunc(nil), &stdout, &stderr))
	assert.Equal(t, "ldap-outpost "+version+"\n", stdout.String())
}
