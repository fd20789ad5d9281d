package main

import (
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/outpost-go/outposts/authclient/devcore/devcoretest"
	"github.com/outpost-go/outposts/authclient/outpost/outposttest"
)

const (
	wait = outposttest.Wait
	tick = 100 * time.Millisecond
)

// Log lines the test waits for. The first is this binary's server; the
// others come from the cache's failover.
const (
	logProviders     = `"event":"received providers"`
	logCacheFallback = "redis cache unavailable, using in-process cache"
	logCacheBack     = "redis cache available again"
)

// outpostProcess is the running binary and its metrics address.
type outpostProcess struct {
	*outposttest.Process
	metrics string
}

func startOutpost(t *testing.T, bin string, env map[string]string) *outpostProcess {
	t.Helper()
	return &outpostProcess{Process: outposttest.Start(t, bin, env), metrics: env["AUTHENTIK_LISTEN__METRICS"]}
}

func (p *outpostProcess) scrape(name string) (float64, bool) {
	return outposttest.Scrape(p.metrics, name)
}
func (p *outpostProcess) ping() int { return outposttest.Ping(p.metrics) }

func (p *outpostProcess) gaugeIs(name string, want float64) func() bool {
	return func() bool {
		v, ok := p.scrape(name)
		return ok && v == want
	}
}

// refreshes returns how many provider lists the server received.
func (p *outpostProcess) refreshes() int { return p.Log.Count(logProviders) }

// refreshed makes the outpost refresh with trigger until
// authentik_outpost_last_update (Unix seconds) passes its value from before.
func (p *outpostProcess) refreshed(t *testing.T, trigger func()) {
	t.Helper()
	before, ok := p.scrape("authentik_outpost_last_update")
	require.True(t, ok)
	require.Eventually(t, func() bool {
		trigger()
		v, ok := p.scrape("authentik_outpost_last_update")
		return ok && v > before
	}, wait, 500*time.Millisecond)
}

// TestStartup runs the real binary against a stand-in core and its own
// Redis: it connects, fetches its providers, refreshes on TRIGGER_UPDATE
// and SIGUSR1, survives a core restart and a Redis outage, and stops
// cleanly on SIGTERM.
func TestStartup(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	bin := outposttest.Build(t, ".", "ldap-outpost")
	redis := outposttest.StartRedis(t)
	core := devcoretest.Start(t)
	p := startOutpost(t, bin, map[string]string{
		"AUTHENTIK_HOST":                  core.URL,
		"AUTHENTIK_TOKEN":                 core.Token("ldap-outpost"),
		"AUTHENTIK_REDIS__URL":            redis.URL(),
		"AUTHENTIK_REDIS__TIMEOUT":        "1s", // no spurious fallback on a busy test machine
		"AUTHENTIK_LISTEN__METRICS":       outposttest.FreeAddr(t),
		"AUTHENTIK_LISTEN__LDAP":          outposttest.FreeAddr(t),
		"AUTHENTIK_LISTEN__LDAPS":         outposttest.FreeAddr(t),
		"AUTHENTIK_OUTPOST_RELOAD_OFFSET": "100ms",
		"GIT_BUILD_HASH":                  "testbuild",
	})

	t.Log("connects and says HELLO with every arg")
	require.Eventually(t, func() bool {
		in := core.Server.Connected("ldap-outpost")
		return len(in) == 1 && len(in[0].Hello) > 0
	}, wait, tick)
	hello := core.Server.Connected("ldap-outpost")[0].Hello
	for _, key := range []string{"version", "buildHash", "uuid", "golangVersion", "opensslEnabled", "opensslVersion", "fipsEnabled", "hostname"} {
		assert.Contains(t, hello, key)
	}
	assert.Equal(t, version, hello["version"])
	assert.Equal(t, "testbuild", hello["buildHash"])

	t.Log("fetches its providers and serves metrics")
	// Start-up hands the server its providers, then refreshes once more.
	require.Eventually(t, func() bool { return p.refreshes() >= 2 }, wait, tick)
	assert.Contains(t, p.Log.String(), `"providers":1`)
	assert.Equal(t, http.StatusNoContent, p.ping())
	require.Eventually(t, p.gaugeIs("authentik_outpost_info", 1), wait, tick)
	require.Eventually(t, p.gaugeIs("authentik_outpost_connection", 1), wait, tick)

	t.Log("refreshes on TRIGGER_UPDATE")
	p.refreshed(t, core.Server.TriggerUpdate)

	t.Log("refreshes on SIGUSR1")
	p.refreshed(t, func() { _ = p.Signal(syscall.SIGUSR1) })

	t.Log("reconnects after the core restarts")
	core.Stop()
	require.Eventually(t, p.gaugeIs("authentik_outpost_connection", 0), wait, tick)
	assert.Equal(t, http.StatusNoContent, p.ping())
	core.Restart(t)
	require.Eventually(t, p.gaugeIs("authentik_outpost_connection", 1), wait, tick)
	require.Eventually(t, func() bool { return len(core.Server.Connected("ldap-outpost")) == 1 }, wait, tick)

	t.Log("keeps working through a Redis outage")
	require.Zero(t, p.Log.Count(logCacheFallback), "fell back to memory while Redis was up")
	redis.Stop()
	// Each refresh uses the cache; the first use after the outage falls back.
	p.refreshed(t, core.Server.TriggerUpdate)
	require.Eventually(t, func() bool { return p.Log.Count(logCacheFallback) > 0 }, wait, tick)
	before := p.refreshes()
	p.refreshed(t, core.Server.TriggerUpdate)
	require.Greater(t, p.refreshes(), before)
	assert.Equal(t, http.StatusNoContent, p.ping())
	assert.Equal(t, 1, p.Log.Count(logCacheFallback), "one fallback line per outage")

	redis.Start()
	require.Eventually(t, func() bool { return p.Log.Count(logCacheBack) == 1 }, wait, tick)
	p.refreshed(t, core.Server.TriggerUpdate)
	assert.Equal(t, 1, p.Log.Count(logCacheFallback))

	t.Log("stops cleanly on SIGTERM")
	require.NoError(t, p.Signal(syscall.SIGTERM))
	require.Equal(t, 0, p.Wait(wait), "exit status after SIGTERM")
	assert.Contains(t, p.Log.String(), `"event":"stopped"`)
}
