package service

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/outpost-go/outposts/authclient/cache"
	"github.com/outpost-go/outposts/authclient/config"
	"github.com/outpost-go/outposts/authclient/core"
	"github.com/outpost-go/outposts/authclient/credcache"
	"github.com/outpost-go/outposts/authclient/devcore/devcoretest"
	"github.com/outpost-go/outposts/authclient/totp"
	"github.com/outpost-go/outposts/ldap-outpost/directory"
)

// directCachedBlueprint: bind mode cached, search mode direct, so cached
// binds are checked against the user fetched from the core.
func directCachedBlueprint(annPassword string, benActive bool) string {
	return fmt.Sprintf(`version: 1
entries:
  - model: authentik_core.group
    id: staff
    identifiers: {name: staff}
    attrs: {attributes: {goauthentik.io/ldap/search-full-directory: true}}
  - model: authentik_core.user
    id: ann
    identifiers: {username: ann}
    attrs: {name: Ann, password: %q, groups: [!KeyOf staff]}
  - model: authentik_core.user
    id: ben
    identifiers: {username: ben}
    attrs: {name: Ben, password: ben-password, is_active: %t, groups: [!KeyOf staff]}
  - model: authentik_core.user
    id: cat
    identifiers: {username: cat}
    attrs: {name: Cat, password: cat-password, groups: [!KeyOf staff]}
`, annPassword, benActive) + cachedBindProvider("direct", false)
}

// cachedBindProvider is the blueprint's cached-bind LDAP provider, its
// application (bound to the group staff) and the outpost serving it.
func cachedBindProvider(searchMode string, mfaSupport bool) string {
	return fmt.Sprintf(`  - model: authentik_providers_ldap.ldapprovider
    id: ldap
    identifiers: {name: ldap}
    attrs:
      authorization_flow: !Find [authentik_flows.flow, [slug, default-authentication-flow]]
      invalidation_flow: !Find [authentik_flows.flow, [slug, default-invalidation-flow]]
      base_dn: dc=example,dc=com
      search_mode: %s
      bind_mode: cached
      mfa_support: %t
  - model: authentik_core.application
    id: app
    identifiers: {slug: ldap}
    attrs: {name: LDAP, provider: !KeyOf ldap}
  - {model: authentik_policies.policybinding, identifiers: {target: !KeyOf app, group: !KeyOf staff}, attrs: {order: 0}}
  - model: authentik_outposts.outpost
    identifiers: {name: cached-outpost}
    attrs: {type: ldap, providers: [!KeyOf ldap]}
  - model: authentik_core.token
    identifiers: {identifier: ak-outpost-cached-outpost-api}
    attrs: {key: cached-outpost-token, intent: api}
`, searchMode, mfaSupport)
}

func TestCachedBindDirectSearch(t *testing.T) {
	t.Parallel()
	coreSrv := devcoretest.Start(t, devcoretest.WithBlueprint("direct-cached.yaml", directCachedBlueprint("ann-password", true)))
	host, err := url.Parse(coreSrv.URL)
	require.NoError(t, err)
	client, err := core.New(config.Config{Host: host, Token: "cached-outpost-token"}, "test")
	require.NoError(t, err)
	// UserLookupTTL < 0: every cached bind asks the core, so a change in the
	// blueprint is seen at the next bind without waiting.
	svc, err := New(Options{Client: client, Cache: cache.NewMemory(0), Registry: prometheus.NewRegistry(), UserLookupTTL: -1,
		Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel), ListenLDAP: "127.0.0.1:0"})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	ln, _, err := svc.Addrs(ctx)
	require.NoError(t, err)
	addr := ln.String()
	refresh(t, svc)
	for _, p := range *svc.providers.Load() {
		require.Nil(t, p.snap.Load(), "search mode direct keeps no snapshot")
	}

	hits := func() float64 { return testutil.ToFloat64(svc.metrics.BindCache.WithLabelValues("hit")) }
	flows := func() float64 { return testutil.ToFloat64(svc.metrics.BindCache.WithLabelValues("miss")) }
	base := "dc=example,dc=com"
	ann, ben, cat := "cn=ann,ou=users,"+base, "cn=ben,ou=users,"+base, "cn=cat,ou=users,"+base
	// changed is the core's password_change_date of ann, which devcore
	// sets anew on every blueprint load.
	changed := func() time.Time {
		t.Helper()
		res, _, err := client.API.CoreAPI.CoreUsersList(context.Background()).Username("ann").Execute()
		require.NoError(t, err)
		require.Len(t, res.Results, 1)
		return res.Results[0].PasswordChangeDate
	}
	// reload edits the blueprint and waits for the core's own reload
	// (atomically renamed in, so exactly one load sees it; an explicit
	// Reload could race the core's poller and load twice).
	reload := func(annPassword string, benActive bool) {
		t.Helper()
		before := changed()
		tmp := filepath.Join(t.TempDir(), "direct-cached.yaml")
		require.NoError(t, os.WriteFile(tmp, []byte(directCachedBlueprint(annPassword, benActive)), 0o644))
		require.NoError(t, os.Rename(tmp, filepath.Join(coreSrv.Dir, "direct-cached.yaml")))
		require.Eventually(t, func() bool { return !changed().Equal(before) }, 20*time.Second, 20*time.Millisecond)
	}

	t.Log("the first bind runs the flow, the second is answered from the cache")
	h, m := hits(), flows()
	require.NoError(t, dialAddr(t, addr).Bind(ann, "ann-password"))
	assert.Equal(t, m+1, flows())
	c := dialAddr(t, addr)
	require.NoError(t, c.Bind(ann, "ann-password"))
	assert.Equal(t, h+1, hits())
	assert.Equal(t, m+1, flows(), "no flow for the second bind")
	assert.Len(t, search(t, c, base, "(cn=ben)"), 2, "the cached binding may search (direct): ben and his virtual group")
	assert.Equal(t, uint16(49), code(dialAddr(t, addr).Bind(cat, "wrong")), "only a cached password hits")

	t.Log("a password change in the core voids the cached bind")
	reload("ann-new-password", true)
	h = hits()
	assert.Equal(t, uint16(49), code(dialAddr(t, addr).Bind(ann, "ann-password")))
	assert.Equal(t, h, hits())
	require.NoError(t, dialAddr(t, addr).Bind(ann, "ann-new-password"))

	t.Log("deactivating the user voids the cached bind")
	require.NoError(t, dialAddr(t, addr).Bind(ben, "ben-password"))
	h = hits()
	require.NoError(t, dialAddr(t, addr).Bind(ben, "ben-password"))
	require.Equal(t, h+1, hits())
	reload("ann-new-password", false)
	h = hits()
	assert.Equal(t, uint16(49), code(dialAddr(t, addr).Bind(ben, "ben-password")))
	assert.Equal(t, h, hits())

	t.Log("with the core down, a cached success still binds; nothing else does")
	require.NoError(t, dialAddr(t, addr).Bind(ann, "ann-new-password"))
	h = hits()
	require.NoError(t, dialAddr(t, addr).Bind(ann, "ann-new-password"))
	require.Equal(t, h+1, hits())
	coreSrv.Stop()
	fallbacks := testutil.ToFloat64(svc.metrics.BindCache.WithLabelValues("fallback"))
	require.NoError(t, dialAddr(t, addr).Bind(ann, "ann-new-password"))
	assert.Equal(t, fallbacks+1, testutil.ToFloat64(svc.metrics.BindCache.WithLabelValues("fallback")))
	assert.Equal(t, uint16(52), code(dialAddr(t, addr).Bind(cat, "cat-password")))
	assert.Equal(t, uint16(52), code(dialAddr(t, addr).Bind(ben, "ben-password")), "a voided success stays voided")
}

// mfaBlueprint: bind and search mode cached, mfa_support on; tom has a TOTP
// device, and so has ann once annTOTP is set.
func mfaBlueprint(annTOTP bool) string {
	device := ""
	if annTOTP {
		device = `
  - model: authentik_stages_authenticator_totp.totpdevice
    identifiers: {user: !KeyOf ann, name: ann's app}
    attrs: {key: "3132333435363738393031323334353637383930", digits: 6, step: 30, confirmed: true}`
	}
	return `version: 1
entries:
  - model: authentik_core.group
    id: staff
    identifiers: {name: staff}
  - model: authentik_core.user
    id: ann
    identifiers: {username: ann}
    attrs: {name: Ann, password: ann-password, groups: [!KeyOf staff]}
  - model: authentik_core.user
    id: tom
    identifiers: {username: tom}
    attrs: {name: Tom, password: tom-password, groups: [!KeyOf staff]}
  - model: authentik_stages_authenticator_totp.totpdevice
    identifiers: {user: !KeyOf tom, name: tom's app}
    attrs: {key: "3132333435363738393031323334353637383930", digits: 6, step: 30, confirmed: true}` + device + `
` + cachedBindProvider("cached", true)
}

// TestMFASupportNeverCached: with mfa_support, every bind runs the flow and
// nothing is stored in or answered from the bind cache, not even while the
// core is down (decision 0007).
func TestMFASupportNeverCached(t *testing.T) {
	t.Parallel()
	coreSrv := devcoretest.Start(t, devcoretest.WithBlueprint("mfa.yaml", mfaBlueprint(false)))
	svc, addr, _ := newService(t, coreSrv, cache.NewMemory(0))
	refresh(t, svc)
	ps := *svc.providers.Load()
	require.Len(t, ps, 1)
	p := ps[0]
	base := "dc=example,dc=com"
	ann, tom := "cn=ann,ou=users,"+base, "cn=tom,ou=users,"+base
	count := func(result string) float64 {
		return testutil.ToFloat64(svc.metrics.BindCache.WithLabelValues(result))
	}
	stored := func(user, password string) bool {
		_, ok := svc.binds.Check(context.Background(), p.scope(), user, password)
		return ok
	}
	key, err := hex.DecodeString("3132333435363738393031323334353637383930")
	require.NoError(t, err)

	t.Log("a user without an authenticator binds with the password alone, through the flow every time")
	for range 3 {
		require.NoError(t, dialAddr(t, addr).Bind(ann, "ann-password"))
	}
	assert.Equal(t, 0.0, count("hit"))
	assert.Equal(t, 0.0, count("miss"))
	assert.Equal(t, 3.0, count("bypass"))
	assert.False(t, stored("ann", "ann-password"), "nothing is stored")

	t.Log("a user with an authenticator needs the code; a success with it is not stored either")
	assert.Equal(t, uint16(49), code(dialAddr(t, addr).Bind(tom, "tom-password")))
	require.NoError(t, dialAddr(t, addr).Bind(tom, "tom-password;"+totp.Code(key, time.Now(), totp.Default)))
	assert.False(t, stored("tom", "tom-password"))
	assert.Equal(t, 0.0, count("hit"))

	t.Log("ann enrols TOTP: the password alone no longer binds")
	tmp := filepath.Join(t.TempDir(), "mfa.yaml")
	require.NoError(t, os.WriteFile(tmp, []byte(mfaBlueprint(true)), 0o644))
	require.NoError(t, os.Rename(tmp, filepath.Join(coreSrv.Dir, "mfa.yaml")))
	require.Eventually(t, func() bool {
		return code(dialAddr(t, addr).Bind(ann, "ann-password")) == 49
	}, 20*time.Second, 50*time.Millisecond)
	require.NoError(t, dialAddr(t, addr).Bind(ann, "ann-password;"+totp.Code(key, time.Now(), totp.Default)))

	t.Log("an entry stored before the provider enabled mfa_support is not used, even with the core down")
	var u *directory.User
	for _, du := range p.snap.Load().Users {
		if du.Username == "ann" {
			u = du
		}
	}
	require.NotNil(t, u)
	svc.binds.Store(context.Background(), p.scope(), "ann", "ann-password",
		credcache.Entry{UserPK: u.PK, IsActive: true, PasswordChangeDate: u.PasswordChangeDate})
	require.True(t, stored("ann", "ann-password"))
	assert.Equal(t, uint16(49), code(dialAddr(t, addr).Bind(ann, "ann-password")))
	svc.binds.Store(context.Background(), p.scope(), "ann", "ann-password",
		credcache.Entry{UserPK: u.PK, IsActive: true, PasswordChangeDate: u.PasswordChangeDate})
	coreSrv.Stop()
	assert.Equal(t, uint16(52), code(dialAddr(t, addr).Bind(ann, "ann-password")))
	assert.Equal(t, 0.0, count("hit"))
	assert.Equal(t, 0.0, count("fallback"))
}
