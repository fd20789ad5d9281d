package service

import (
	"context"
	"net/url"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/outpost-go/outposts/authclient/cache"
	"github.com/outpost-go/outposts/authclient/config"
	"github.com/outpost-go/outposts/authclient/core"
	"github.com/outpost-go/outposts/authclient/devcore/devcoretest"
)

// cachedBlueprint: two providers in cached mode, one nested in the other's
// base DN, a group whose name needs escaping, and custom attributes.
const cachedBlueprint = `version: 1
entries:
  - model: authentik_core.group
    id: staff
    identifiers: {name: "R&D, Europe"}
    attrs:
      attributes: {goauthentik.io/ldap/search-full-directory: true, costCenter: 42}
  - model: authentik_core.group
    id: plain
    identifiers: {name: plain}
    attrs: {parents: [!KeyOf staff]}
  - model: authentik_core.user
    id: ann
    identifiers: {username: ann}
    attrs:
      name: Ann Example
      email: ann@example.com
      password: ann-password
      groups: [!KeyOf staff]
      attributes: {loginShell: /bin/zsh, sshKeys: [k1, k2], homeDirectory: "/srv/%s"}
  - model: authentik_core.user
    id: ben
    identifiers: {username: ben}
    attrs: {name: Ben, password: ben-password, groups: [!KeyOf plain]}
  - model: authentik_providers_ldap.ldapprovider
    id: outer
    identifiers: {name: outer}
    attrs:
      authorization_flow: !Find [authentik_flows.flow, [slug, default-authentication-flow]]
      invalidation_flow: !Find [authentik_flows.flow, [slug, default-invalidation-flow]]
      base_dn: dc=example,dc=com
      search_mode: cached
      bind_mode: cached
      mfa_support: false
      uid_start_number: 5000
      gid_start_number: 7000
  - model: authentik_core.application
    id: outer-app
    identifiers: {slug: outer}
    attrs: {name: Outer, provider: !KeyOf outer}
  - model: authentik_providers_ldap.ldapprovider
    id: inner
    identifiers: {name: inner}
    attrs:
      authorization_flow: !Find [authentik_flows.flow, [slug, default-authentication-flow]]
      invalidation_flow: !Find [authentik_flows.flow, [slug, default-invalidation-flow]]
      base_dn: ou=inner,dc=example,dc=com
      search_mode: cached
      bind_mode: cached
      mfa_support: false
  - model: authentik_core.application
    id: inner-app
    identifiers: {slug: inner}
    attrs: {name: Inner, provider: !KeyOf inner}
  - {model: authentik_policies.policybinding, identifiers: {target: !KeyOf outer-app, group: !KeyOf staff}, attrs: {order: 0}}
  - {model: authentik_policies.policybinding, identifiers: {target: !KeyOf inner-app, group: !KeyOf plain}, attrs: {order: 0}}
  - model: authentik_outposts.outpost
    identifiers: {name: cached-outpost}
    attrs:
      type: ldap
      providers: [!KeyOf outer, !KeyOf inner]
  - model: authentik_core.token
    identifiers: {identifier: ak-outpost-cached-outpost-api}
    attrs: {key: cached-outpost-token, intent: api}
`

func newService(t *testing.T, c *devcoretest.Core, shared cache.Cache) (*Service, string, func()) {
	t.Helper()
	return newServiceAt(t, c.URL, shared, func(*Options) {})
}

// newServiceAt is newService against the core at coreURL, with options
// changed by set.
func newServiceAt(t *testing.T, coreURL string, shared cache.Cache, set func(*Options)) (*Service, string, func()) {
	t.Helper()
	host, err := url.Parse(coreURL)
	require.NoError(t, err)
	client, err := core.New(config.Config{Host: host, Token: "cached-outpost-token"}, "test")
	require.NoError(t, err)
	opts := Options{Client: client, Cache: shared, Registry: prometheus.NewRegistry(), Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel), ListenLDAP: "127.0.0.1:0"}
	set(&opts)
	svc, err := New(opts)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	l, _, err := svc.Addrs(ctx)
	require.NoError(t, err)
	stop := func() {
		cancel()
		<-done
	}
	t.Cleanup(stop)
	return svc, l.String(), stop
}

func refresh(t *testing.T, svc *Service) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	providers, err := svc.opts.Client.LDAPProviders(ctx)
	require.NoError(t, err)
	require.NoError(t, svc.Refresh(ctx, providers))
}

func dialAddr(t *testing.T, addr string) *goldap.Conn {
	t.Helper()
	c, err := goldap.DialURL("ldap://" + addr)
	require.NoError(t, err)
	c.SetTimeout(30 * time.Second)
	t.Cleanup(func() { c.Close() })
	return c
}

func TestCachedMode(t *testing.T) {
	t.Parallel()
	coreSrv := devcoretest.Start(t, devcoretest.WithBlueprint("cached.yaml", cachedBlueprint))
	shared := cache.NewMemory(0)
	svc, addr, _ := newService(t, coreSrv, shared)
	refresh(t, svc)
	outer, inner := "dc=example,dc=com", "ou=inner,dc=example,dc=com"

	t.Log("the directory is served from the snapshot, with escaped RDNs and custom attributes")
	c := dialAddr(t, addr)
	require.NoError(t, c.Bind("cn=ann,ou=users,"+outer, "ann-password"))
	ann := search(t, c, outer, "(cn=ann)", "*", "+")
	require.Len(t, ann, 2)
	var user *goldap.Entry
	for _, e := range ann {
		if e.DN == "cn=ann,ou=users,"+outer {
			user = e
		}
	}
	require.NotNil(t, user)
	assert.Equal(t, []string{`cn=r&d\, europe,ou=groups,` + outer}, user.GetAttributeValues("memberOf"))
	assert.Equal(t, []string{"/bin/zsh"}, user.GetAttributeValues("loginShell"))
	assert.Equal(t, []string{"k1", "k2"}, user.GetAttributeValues("sshKeys"))
	assert.Equal(t, []string{"/srv/ann"}, user.GetAttributeValues("homeDirectory"), "custom attribute wins, %s is the username")
	assert.Equal(t, []string{"cn=ann,ou=users," + outer}, user.GetAttributeValues("entryDN"))
	uid := user.GetAttributeValue("uidNumber")
	assert.Equal(t, uid, user.GetAttributeValue("gidNumber"))
	assert.Regexp(t, `^50\d\d$`, uid)

	groups := search(t, c, "ou=groups,"+outer, "(objectClass=group)", "cn", "member", "gidNumber", "goauthentikio-ldap-search-full-directory", "costCenter")
	require.Len(t, groups, 2)
	for _, g := range groups {
		if g.GetAttributeValue("cn") == "R&D, Europe" {
			assert.Equal(t, []string{"cn=ann,ou=users," + outer, "cn=plain,ou=groups," + outer}, g.GetAttributeValues("member"))
			assert.Equal(t, "true", g.GetAttributeValue("goauthentikio-ldap-search-full-directory"))
			assert.Equal(t, "42", g.GetAttributeValue("costCenter"))
			assert.Regexp(t, `^70\d\d$`, g.GetAttributeValue("gidNumber"))
		}
	}
	ok, err := c.Compare(`cn=R&D\2C Europe,ou=groups,`+outer, "cn", "r&d, europe")
	require.NoError(t, err)
	assert.True(t, ok)

	t.Log("binds route to the longest base DN")
	ci := dialAddr(t, addr)
	require.NoError(t, ci.Bind("cn=ben,ou=users,"+inner, "ben-password"))
	who, err := ci.WhoAmI(nil)
	require.NoError(t, err)
	assert.Equal(t, "dn:cn=ben,ou=users,"+inner, who.AuthzID)

	t.Log("a second bind is answered from the bind cache")
	hits := testutil.ToFloat64(svc.metrics.BindCache.WithLabelValues("hit"))
	require.NoError(t, dialAddr(t, addr).Bind("cn=ann,ou=users,"+outer, "ann-password"))
	assert.Equal(t, hits+1, testutil.ToFloat64(svc.metrics.BindCache.WithLabelValues("hit")))
	assert.Equal(t, uint16(49), code(dialAddr(t, addr).Bind("cn=ann,ou=users,"+outer, "wrong")), "only the right password hits")
	misses := testutil.ToFloat64(svc.metrics.BindCache.WithLabelValues("miss"))
	require.NoError(t, dialAddr(t, addr).Bind("cn=ann,ou=users,"+outer, "ann-password"))
	assert.Equal(t, misses+1, testutil.ToFloat64(svc.metrics.BindCache.WithLabelValues("miss")), "a failed bind voids the cached success")

	t.Log("a connection stays bound across a provider refresh")
	refresh(t, svc)
	assert.Len(t, search(t, c, outer, "(cn=ben)"), 2)
	ok, err = c.Compare("cn=ben,ou=users,"+outer, "cn", "ben")
	require.NoError(t, err)
	assert.True(t, ok)

	t.Log("a new replica starts from the shared snapshot, even with the core down")
	coreSrv.Stop()
	svc2, addr2, _ := newService(t, coreSrv, shared)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	cfgs := []string{}
	for _, p := range *svc.providers.Load() {
		cfgs = append(cfgs, p.cfg.Name)
	}
	assert.ElementsMatch(t, []string{"outer", "inner"}, cfgs)
	require.NoError(t, svc2.Refresh(ctx, providerConfigs(*svc.providers.Load())))
	assert.NotNil(t, (*svc2.providers.Load())[0].snap.Load(), "warm from the shared cache")

	t.Log("with the core down, a cached success still binds; nothing else does")
	c2 := dialAddr(t, addr2)
	require.NoError(t, c2.Bind("cn=ann,ou=users,"+outer, "ann-password"))
	assert.Len(t, search(t, c2, outer, "(cn=ben)"), 2)
	assert.Equal(t, uint16(52), code(dialAddr(t, addr2).Bind("cn=ben,ou=users,"+outer, "ben-password")))
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	coreSrv := devcoretest.Start(t, devcoretest.WithBlueprint("cached.yaml", cachedBlueprint))
	svc, addr, _ := newService(t, coreSrv, cache.NewMemory(0))
	refresh(t, svc)
	dn := "cn=ann,ou=users,dc=example,dc=com"
	for i := 0; i < 5; i++ {
		assert.Equal(t, uint16(49), code(dialAddr(t, addr).Bind(dn, "wrong")))
	}
	err := dialAddr(t, addr).Bind(dn, "ann-password")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "too many failed binds")
}
