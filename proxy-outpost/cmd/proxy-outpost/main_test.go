package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/outpost-go/outposts/authclient/devcore/devcoretest"
	"github.com/outpost-go/outposts/authclient/outpost/outposttest"
	"github.com/outpost-go/outposts/proxy-outpost/server"
)

// The shared behaviour of run (healthcheck, bad settings, exit codes) is
// tested with outpost.Main in authclient; these cover what is this
// binary's own.
func TestRunArgs(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	assert.Equal(t, 0, run(t.Context(), []string{"--version"}, func(string) string { return "" }, &stdout, &stderr))
	assert.Equal(t, "proxy-outpost "+version+"\n", stdout.String())
}

func TestRunsAgainstCore(t *testing.T) {
	t.Parallel()
	core := devcoretest.Start(t)
	log, stop := outposttest.InProcess(t, program(mustSettings(t)), map[string]string{
		"AUTHENTIK_HOST":            core.URL,
		"AUTHENTIK_TOKEN":           core.Token("proxy-outpost"),
		"AUTHENTIK_LISTEN__METRICS": outposttest.FreeAddr(t),
		"AUTHENTIK_LISTEN__HTTP":    outposttest.FreeAddr(t),
		"AUTHENTIK_LISTEN__HTTPS":   outposttest.FreeAddr(t),
	})
	require.Eventually(t, func() bool {
		return strings.Contains(log.String(), `"providers":1`) && len(core.Server.Connected("proxy-outpost")) == 1
	}, outposttest.Wait, outposttest.Tick)
	assert.Equal(t, 0, stop())
}

func mustSettings(t *testing.T) server.Settings {
	t.Helper()
	s, err := server.SettingsFromEnv(func(string) string { return "" })
	require.NoError(t, err)
	return s
}

func TestBadProxySetting(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), nil, func(k string) string {
		return map[string]string{
			"AUTHENTIK_HOST": "http://127.0.0.1:1/", "AUTHENTIK_TOKEN": "t",
			"AUTHENTIK_LISTEN__TRUSTED_PROXY_CIDRS": "not-a-cidr",
		}[k]
	}, &stdout, &stderr)
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr.String(), "AUTHENTIK_LISTEN__TRUSTED_PROXY_CIDRS")
	assert.Equal(t, 1, strings.Count(stderr.String(), "\n"), stderr.String())
}
