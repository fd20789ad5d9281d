package main

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/outpost-go/outposts/authclient/config"
	"github.com/outpost-go/outposts/authclient/core"
	"github.com/outpost-go/outposts/authclient/devcore/devcoretest"
	"github.com/outpost-go/outposts/authclient/outpost/outposttest"
)

// alicePatch turns MFA off for the demo radius provider (only then may the
// cache answer) and sets alice's password and whether she is active.
func alicePatch(password string, active bool) string {
	return fmt.Sprintf(`version: 1
entries:
  - model: authentik_providers_radius.radiusprovider
    identifiers: {name: radius-provider}
    attrs: {mfa_support: false}
  - model: authentik_core.user
    identifiers: {username: alice}
    attrs: {password: %s, is_active: %t}
`, password, active)
}

// A password change or a deactivation in the core voids alice's cached
// success within one user poll, although the fresh window (10 min here)
// would have kept answering from the cache; with the core down, what is
// still valid keeps getting in.
func TestUserChangesVoidCachedSuccess(t *testing.T) {
	t.Parallel()
	outposttest.Need(t, "radclient", "freeradius-utils (apt-get install -y freeradius-utils)")
	const patch = "zz-radius-alice.yaml"
	coreSrv := devcoretest.Start(t, devcoretest.WithDemo(), devcoretest.WithBlueprint(patch, alicePatch("alice-password", true)))
	p := startBinary(t, coreSrv, map[string]string{
		"AUTHENTIK_RADIUS__CACHE_FRESH": "10m",
		"AUTHENTIK_RADIUS__USER_POLL":   "200ms",
	})
	u, err := url.Parse(coreSrv.URL)
	require.NoError(t, err)
	client, err := core.New(config.Config{Host: u, Token: coreSrv.Token("radius-outpost")}, "test")
	require.NoError(t, err)

	login := func(password string) string {
		t.Helper()
		out, _ := radclient(t, "Message-Authenticator = 0x00\nUser-Name = alice, User-Password = "+password, p.auth, "auth", demoSecret)
		return out
	}
	hits := func() float64 {
		return p.metric(t, "authentik_outpost_radius_credential_cache_total", `result="hit"`)
	}
	changes := func() float64 { return p.metric(t, "authentik_outpost_radius_user_changes_total") }
	// change rewrites the patch and waits until the core has loaded it
	// (alice's last_updated moves on every load) and the outpost has
	// polled it.
	change := func(password string, active bool) {
		t.Helper()
		lastUpdated := func() time.Time {
			res, _, err := client.API.CoreAPI.CoreUsersList(t.Context()).Username("alice").Execute()
			require.NoError(t, err)
			require.Len(t, res.Results, 1)
			return res.Results[0].LastUpdated
		}
		before, seen := lastUpdated(), changes()
		tmp := filepath.Join(t.TempDir(), patch)
		require.NoError(t, os.WriteFile(tmp, []byte(alicePatch(password, active)), 0o644))
		require.NoError(t, os.Rename(tmp, filepath.Join(coreSrv.Dir, patch)))
		require.Eventually(t, func() bool { return !lastUpdated().Equal(before) }, outposttest.Wait, outposttest.Tick, "core did not reload")
		require.Eventually(t, func() bool { return changes() > seen }, outposttest.Wait, outposttest.Tick,
			"outpost did not see the change")
	}

	t.Log("the first login runs the flow, the second is answered from the cache")
	require.Contains(t, login("alice-password"), "Received Access-Accept")
	h := hits()
	require.Contains(t, login("alice-password"), "Received Access-Accept")
	require.Equal(t, h+1, hits())

	t.Log("a password change voids the cached success: the old password is rejected")
	change("alice-new-password", true)
	h, voided := hits(), p.metric(t, "authentik_outpost_radius_credential_cache_total", `result="voided"`)
	assert.Contains(t, login("alice-password"), "Received Access-Reject")
	assert.Equal(t, h, hits(), "not answered from the cache")
	assert.Equal(t, voided+1, p.metric(t, "authentik_outpost_radius_credential_cache_total", `result="voided"`))
	assert.Contains(t, login("alice-new-password"), "Received Access-Accept")
	assert.Contains(t, login("alice-new-password"), "Received Access-Accept")
	assert.Equal(t, h+1, hits(), "the new password is cached")

	t.Log("deactivation voids it too")
	change("alice-new-password", false)
	h = hits()
	assert.Contains(t, login("alice-new-password"), "Received Access-Reject")
	assert.Equal(t, h, hits())

	t.Log("reactivated and cached again, alice still gets in while the core is down")
	change("alice-new-password", true)
	require.Contains(t, login("alice-new-password"), "Received Access-Accept")
	coreSrv.Stop()
	assert.Contains(t, login("alice-new-password"), "Received Access-Accept")
	assert.Contains(t, login("alice-password"), "Received Access-Reject")
	assert.NotContains(t, p.log.String(), "alice-new-password", "no password in the log")
}
