package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/outpost-go/outposts/authclient/devcore/devcoretest"
	"github.com/outpost-go/outposts/authclient/outpost/outposttest"
	"github.com/outpost-go/outposts/radius-outpost/radiusd"
)

// The shared behaviour of run (healthcheck, bad settings, exit codes) is
// tested with outpost.Main in authclient; these cover what is this
// binary's own.
func TestRunVersion(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	assert.Equal(t, 0, run(t.Context(), []string{"--version"}, func(string) string { return "" }, &stdout, &stderr))
	assert.Equal(t, "radius-outpost "+version+"\n", stdout.String())
}

func TestRunsAgainstCore(t *testing.T) {
	t.Parallel()
	core := devcoretest.Start(t)
	// Port 0: free ports for auth and the derived accounting listener.
	env := map[string]string{
		"AUTHENTIK_HOST":            core.URL,
		"AUTHENTIK_TOKEN":           core.Token("radius-outpost"),
		"AUTHENTIK_LISTEN__METRICS": outposttest.FreeAddr(t),
		"AUTHENTIK_LISTEN__RADIUS":  "127.0.0.1:0",
	}
	settings, err := radiusd.LoadSettings(func(k string) string { return env[k] }, env["AUTHENTIK_LISTEN__RADIUS"])
	require.NoError(t, err)
	log, stop := outposttest.InProcess(t, program(settings), env)
	require.Eventually(t, func() bool {
		return strings.Contains(log.String(), `"providers":1`) && len(core.Server.Connected("radius-outpost")) == 1
	}, outposttest.Wait, outposttest.Tick)
	assert.Equal(t, 0, stop())
}
