package coretest

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"testing"

	api "goauthentik.io/api/v3"
)

// testOutpost runs everything an outpost of type typ does with its token.
func testOutpost(t *testing.T, c *core, typ, token string) {
	cl := c.bearer(token)
	var outpost api.Outpost
	t.Run("Instances", func(t *testing.T) { outpost = testInstances(t, cl, typ) })
	if outpost.Pk == "" {
		return // the token's outpost is unknown; nothing else can be checked
	}
	t.Run("RootConfig", func(t *testing.T) {
		cfg, _ := call[api.Config](t, cl, http.MethodGet, "/root/config/", nil, nil)
		if cfg.CacheTimeoutFlows < 0 {
			t.Errorf("root/config/: cache_timeout_flows %d is negative", cfg.CacheTimeoutFlows)
		}
	})
	switch typ {
	case TypeLDAP:
		var p api.LDAPOutpostConfig
		if !t.Run("Providers", func(t *testing.T) {
			p = pickProvider[api.PaginatedLDAPOutpostConfigList](t, cl, "/outposts/ldap/", outpost, c.target.LDAPProvider,
				func(p api.LDAPOutpostConfig) (int32, string) { return p.Pk, p.Name })
		}) {
			return
		}
		t.Run("Certificate", func(t *testing.T) { testCertificate(t, cl, p.Certificate.Get()) })
		t.Run("Users", func(t *testing.T) { testUsers(t, c, cl) })
		t.Run("Groups", func(t *testing.T) { testGroups(t, c, cl) })
		t.Run("Login", func(t *testing.T) {
			testLogins(t, c, token, loginSpec{
				outpostType: TypeLDAP, flowSlug: p.BindFlowSlug, appSlug: p.ApplicationSlug,
				providerPK: p.Pk, unbindFlowSlug: p.UnbindFlowSlug.Get(),
			})
		})
	case TypeRadius:
		var p api.RadiusOutpostConfig
		if !t.Run("Providers", func(t *testing.T) {
			p = pickProvider[api.PaginatedRadiusOutpostConfigList](t, cl, "/outposts/radius/", outpost, c.target.RadiusProvider,
				func(p api.RadiusOutpostConfig) (int32, string) { return p.Pk, p.Name })
		}) {
			return
		}
		t.Run("Certificate", func(t *testing.T) { testCertificate(t, cl, p.Certificate.Get()) })
		t.Run("Login", func(t *testing.T) {
			testLogins(t, c, token, loginSpec{
				outpostType: TypeRadius, flowSlug: p.AuthFlowSlug, appSlug: p.ApplicationSlug,
				providerPK: p.Pk,
			})
		})
	case TypeProxy:
		var p api.ProxyOutpostConfig
		if !t.Run("Providers", func(t *testing.T) {
			p = pickProvider[api.PaginatedProxyOutpostConfigList](t, cl, "/outposts/proxy/", outpost, c.target.ProxyProvider,
				func(p api.ProxyOutpostConfig) (int32, string) { return p.Pk, p.Name })
		}) {
			return
		}
		t.Run("ProviderFields", func(t *testing.T) { checkProxyProvider(t, p) })
		t.Run("Certificate", func(t *testing.T) { testCertificate(t, cl, p.Certificate.Get()) })
	case TypeRAC:
		// RAC has no provider list; its providers come over the WebSocket.
	}
}

// testInstances checks GET /outposts/instances/ as an outpost calls it at
// start and on every refresh: no query, exactly its own outpost.
func testInstances(t *testing.T, cl *caller, typ string) (got api.Outpost) {
	list, r := call[api.PaginatedOutpostList](t, cl, http.MethodGet, "/outposts/instances/", nil, nil)
	if len(list.Results) != 1 || list.Pagination.Count != 1 {
		t.Fatalf("%s: the token should see exactly its own outpost, got %d results (count %v)", r, len(list.Results), list.Pagination.Count)
	}
	o := list.Results[0]
	defer func() { got = o }()
	if string(o.Type) != typ {
		t.Errorf("%s: outpost %q has type %q, but its token was given as a %s token", r, o.Name, o.Type, typ)
	}
	if want := "ak-outpost-" + o.Pk + "-api"; o.TokenIdentifier != want {
		t.Errorf("%s: token_identifier %q, want %q", r, o.TokenIdentifier, want)
	}
	if o.RefreshIntervalS <= 0 {
		t.Errorf("%s: refresh_interval_s %d, want > 0", r, o.RefreshIntervalS)
	}
	var objPKs []int32
	for _, p := range o.ProvidersObj {
		objPKs = append(objPKs, p.Pk)
	}
	if !sameInts(o.Providers, objPKs) {
		t.Errorf("%s: providers %v but providers_obj pks %v", r, o.Providers, objPKs)
	}
	host, present := o.Config["authentik_host"]
	if _, isString := host.(string); present && !isString {
		t.Errorf("%s: config.authentik_host is %T, the proxy outpost type-asserts a string", r, host)
	}
	if typ == TypeProxy && !present {
		t.Errorf("%s: config.authentik_host is missing; the proxy outpost panics without it", r)
	}
	testPaging[api.PaginatedOutpostList, api.Outpost](t, cl, "/outposts/instances/", nil,
		func(o api.Outpost) string { return o.Pk })
	return o
}

// pickProvider lists an outpost type's providers, checks paging and that
// the token sees only its outpost's providers, and returns the named one
// (or the first).
func pickProvider[L any, T any](t *testing.T, cl *caller, path string, outpost api.Outpost, name string, id func(T) (int32, string)) T {
	testPaging[L, T](t, cl, path, nil, func(p T) string {
		pk, _ := id(p)
		return strconv.Itoa(int(pk))
	})
	// What an outpost fetches: LDAP and RADIUS without paging parameters,
	// proxy with page_size=100.
	list := listAll[L, T](t, cl, path, nil, 100)
	call[L](t, cl, http.MethodGet, path, nil, nil)
	if len(list) == 0 {
		t.Fatalf("GET %s: no providers; the outpost cannot start without one", path)
	}
	var chosen *T
	for i := range list {
		pk, n := id(list[i])
		if !slices.Contains(outpost.Providers, pk) {
			t.Errorf("GET %s: provider %d (%s) is not one of outpost %q's providers %v", path, pk, n, outpost.Name, outpost.Providers)
		}
		if chosen == nil && (name == "" || n == name) {
			chosen = &list[i]
		}
	}
	if chosen == nil {
		t.Fatalf("GET %s: no provider named %q", path, name)
	}
	return *chosen
}

func checkProxyProvider(t *testing.T, p api.ProxyOutpostConfig) {
	u, err := url.Parse(p.ExternalHost)
	if err != nil || u.Host == "" {
		t.Errorf("proxy provider %q: external_host %q is not an absolute URL (apps are keyed by its host)", p.Name, p.ExternalHost)
	}
	oidc := p.OidcConfiguration
	for name, v := range map[string]string{
		"issuer": oidc.Issuer, "authorization_endpoint": oidc.AuthorizationEndpoint,
		"token_endpoint": oidc.TokenEndpoint, "userinfo_endpoint": oidc.UserinfoEndpoint,
		"end_session_endpoint": oidc.EndSessionEndpoint, "introspection_endpoint": oidc.IntrospectionEndpoint,
		"jwks_uri": oidc.JwksUri,
	} {
		if u, err := url.Parse(v); err != nil || u.Host == "" {
			t.Errorf("proxy provider %q: oidc_configuration.%s %q is not an absolute URL", p.Name, name, v)
		}
	}
	if v := p.AccessTokenValidity.Get(); v != nil && *v <= 0 {
		t.Errorf("proxy provider %q: access_token_validity %v, want > 0 seconds", p.Name, *v)
	}
	if !slices.Contains(p.ScopesToRequest, "openid") {
		t.Errorf("proxy provider %q: scopes_to_request %v lacks openid", p.Name, p.ScopesToRequest)
	}
}

func sameInts(a, b []int32) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// testTrailingSlash checks that paths without their trailing slash are not
// served as if they had one: authentik's router answers 404, or redirects
// to the slashed path.
func testTrailingSlash(t *testing.T, c *core) {
	cl := c.bearer("")
	for _, typ := range []string{TypeLDAP, TypeRadius, TypeProxy, TypeRAC} {
		if tok := c.target.Tokens[typ]; tok != "" {
			cl = c.bearer(tok)
			break
		}
	}
	for _, path := range []string{"/outposts/instances", "/root/config", "/core/users", "/core/users/me"} {
		t.Run(path, func(t *testing.T) {
			r := cl.do(t, http.MethodGet, path, nil, nil)
			switch r.status {
			case http.StatusNotFound:
			case http.StatusMovedPermanently, http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
				loc, err := url.Parse(r.header.Get("Location"))
				if err != nil || loc.Path != c.apiURL(path+"/", nil).Path {
					t.Errorf("%s: redirects to %q, want the path with a trailing slash", r, r.header.Get("Location"))
				}
			default:
				t.Errorf("%s: status %d; a path without its trailing slash should be 404 or redirect to %s/", r, r.status, path)
			}
		})
	}
}

// testUnauthenticated checks that REST endpoints refuse a missing or wrong
// token with 403 {"detail": ...}.
func testUnauthenticated(t *testing.T, c *core) {
	paths := []string{
		"/outposts/instances/", "/outposts/ldap/", "/outposts/radius/", "/outposts/proxy/",
		"/core/users/", "/core/users/me/", "/core/groups/",
	}
	for _, auth := range []struct {
		name  string
		token string
	}{{"NoToken", ""}, {"WrongToken", "coretest-not-a-valid-token"}} {
		t.Run(auth.name, func(t *testing.T) {
			cl := c.bearer(auth.token)
			for _, p := range paths {
				t.Run(p, func(t *testing.T) {
					cl.expectDenied(t, cl.do(t, http.MethodGet, p, nil, nil))
				})
			}
		})
	}
}
