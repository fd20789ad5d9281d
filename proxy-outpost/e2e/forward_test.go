package e2e_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/outpost-go/outposts/authclient/devcore/devcoretest"
	"github.com/outpost-go/outposts/authclient/outpost/outposttest"
)

// forwardBlueprint adds forward-auth providers to the demo: one behind
// nginx (forward_single, with skip_path_regex, header auth and injected
// Basic auth), one behind Caddy, and a forward_domain one behind nginx.
func forwardBlueprint(nginxPort, caddyPort int) string {
	return fmt.Sprintf(`version: 1
metadata:
  name: proxy e2e
entries:
  - model: authentik_core.group
    identifiers:
      name: engineering
    attrs:
      attributes:
        department: Engineering
        app_password: s3cret-upstream
        additionalHeaders:
          X-Team: platform
  - model: authentik_providers_proxy.proxyprovider
    id: single
    identifiers:
      name: nginx-single
    attrs:
      authorization_flow: !Find [authentik_flows.flow, [slug, default-provider-authorization-implicit-consent]]
      invalidation_flow: !Find [authentik_flows.flow, [slug, default-provider-invalidation-flow]]
      external_host: http://single.localhost:%[1]d
      mode: forward_single
      skip_path_regex: "^/public/"
      intercept_header_auth: true
      basic_auth_enabled: true
      basic_auth_password_attribute: app_password
  - model: authentik_core.application
    id: single-app
    identifiers:
      slug: nginx-single
    attrs:
      name: nginx single
      provider: !KeyOf single
  - model: authentik_providers_proxy.proxyprovider
    id: caddy
    identifiers:
      name: caddy-single
    attrs:
      authorization_flow: !Find [authentik_flows.flow, [slug, default-provider-authorization-implicit-consent]]
      invalidation_flow: !Find [authentik_flows.flow, [slug, default-provider-invalidation-flow]]
      external_host: http://caddy.localhost:%[2]d
      mode: forward_single
  - model: authentik_core.application
    id: caddy-app
    identifiers:
      slug: caddy-single
    attrs:
      name: caddy single
      provider: !KeyOf caddy
  - model: authentik_providers_proxy.proxyprovider
    id: domain
    identifiers:
      name: nginx-domain
    attrs:
      authorization_flow: !Find [authentik_flows.flow, [slug, default-provider-authorization-implicit-consent]]
      invalidation_flow: !Find [authentik_flows.flow, [slug, default-provider-invalidation-flow]]
      external_host: http://auth.domain.localhost:%[1]d
      cookie_domain: domain.localhost
      mode: forward_domain
  - model: authentik_core.application
    id: domain-app
    identifiers:
      slug: nginx-domain
    attrs:
      name: nginx domain
      provider: !KeyOf domain
  - {model: authentik_policies.policybinding, identifiers: {target: !KeyOf single-app, group: !Find [authentik_core.group, [name, engineering]]}, attrs: {order: 0}}
  - {model: authentik_policies.policybinding, identifiers: {target: !KeyOf caddy-app, group: !Find [authentik_core.group, [name, engineering]]}, attrs: {order: 0}}
  - {model: authentik_policies.policybinding, identifiers: {target: !KeyOf domain-app, group: !Find [authentik_core.group, [name, engineering]]}, attrs: {order: 0}}
  - model: authentik_outposts.outpost
    identifiers:
      name: proxy-outpost
    attrs:
      type: proxy
      providers:
        - !Find [authentik_providers_proxy.proxyprovider, [name, proxy-provider]]
        - !KeyOf single
        - !KeyOf caddy
        - !KeyOf domain
`, nginxPort, caddyPort)
}

type forwardEnv struct {
	core             *devcoretest.Core
	outpostPort      int
	nginxPort        int
	caddyPort        int
	up               string
	single, domainAp string
}

func startForward(t *testing.T, withCaddy bool) forwardEnv {
	t.Helper()
	outposttest.NeedRedis(t)
	requireTool(t, "nginx", "nginx")
	if withCaddy {
		requireTool(t, "caddy", "caddy")
	}
	up := upstream(t)
	e := forwardEnv{outpostPort: freePort(t), nginxPort: freePort(t), caddyPort: freePort(t), up: up.URL}
	e.core = proxyCore(t, e.outpostPort, up.URL, devcoretest.WithBlueprint("zz-proxy-e2e.yaml", forwardBlueprint(e.nginxPort, e.caddyPort)))
	startOutpost(t, e.core, e.outpostPort, "e2e-"+t.Name(), nil)
	outpostAddr := fmt.Sprintf("127.0.0.1:%d", e.outpostPort)
	startNginx(t, e.nginxPort, outpostAddr, up.URL)
	if withCaddy {
		startCaddy(t, "caddy.localhost", e.caddyPort, outpostAddr, up.URL)
	}
	e.single = fmt.Sprintf("http://single.localhost:%d", e.nginxPort)
	return e
}

func TestNginxForwardSingle(t *testing.T) {
	t.Parallel()
	e := startForward(t, false)
	b := newBrowser(t)

	// Unauthenticated: nginx turns the outpost's 401 into a redirect to
	// /start, which goes to authentik.
	resp, err := b.noRedirect().Get(e.single + "/private")
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusFound, resp.StatusCode)
	assert.Equal(t, e.single+"/outpost.goauthentik.io/start?rd="+e.single+"/private", resp.Header.Get("Location"))

	// skip_path_regex lets /public/ through without a session.
	resp, err = b.Get(e.single + "/public/logo.png")
	require.NoError(t, err)
	ev := decodeEcho(t, resp)
	assert.Equal(t, "/public/logo.png", ev.Path)
	assert.Empty(t, ev.header("X-Authentik-Username"))

	// Log in through the core and come back with identity headers.
	resp = b.login(e.single+"/private?a=b", "bob", "bob-password", "")
	ev = decodeEcho(t, resp)
	assert.Equal(t, "/private", ev.Path)
	assert.Equal(t, "bob", ev.header("X-Authentik-Username"))
	assert.Equal(t, "bob@example.com", ev.header("X-Authentik-Email"))
	assert.Equal(t, "nginx-single", ev.header("X-Authentik-Meta-Provider"))

	// A malformed or forged session cookie is no session
	// (CVE-2026-25748: authentik let such requests through without
	// identity headers).
	for _, v := range []string{"", "garbage", strings.Repeat("A", 43) + "." + strings.Repeat("B", 22), "MTcwMDAwMDAwMHxEdi1CQkFFQ180SUFBUkFCRUFBQV81MF9nZ0FEQm5OMGNtbHVad3dLQUFoamJHRnBiWE09fGhhc2g="} {
		req, err := http.NewRequest(http.MethodGet, e.single+"/private", nil)
		require.NoError(t, err)
		req.Header.Set("Cookie", cookieNameFor(t, b, e.single)+"="+v)
		resp, err := newBrowser(t).noRedirect().Do(req)
		require.NoError(t, err)
		_ = resp.Body.Close()
		assert.Equal(t, http.StatusFound, resp.StatusCode, "cookie %q", v)
	}

	// A client cannot smuggle its own identity through nginx.
	req, err := http.NewRequest(http.MethodGet, e.single+"/private", nil)
	require.NoError(t, err)
	req.Header.Set("X-Authentik-Username", "akadmin")
	req.Header["X_authentik_username"] = []string{"akadmin"}
	resp, err = b.Do(req)
	require.NoError(t, err)
	ev = decodeEcho(t, resp)
	assert.Equal(t, "bob", ev.header("X-Authentik-Username"))
	assert.Empty(t, ev.header("X_authentik_username"))

	// Open redirects through rd are refused: the login lands on the app.
	for _, rd := range []string{"https://evil.example/", "//evil.example/", `/\evil.example`, "http://single.localhost.evil.example/", "javascript:alert(1)"} {
		resp, err = b.noRedirect().Get(e.single + "/outpost.goauthentik.io/start?rd=" + url.QueryEscape(rd))
		require.NoError(t, err)
		_ = resp.Body.Close()
		require.Equal(t, http.StatusFound, resp.StatusCode, rd)
		loc, err := url.Parse(resp.Header.Get("Location"))
		require.NoError(t, err)
		state := loc.Query().Get("state")
		require.NotEmpty(t, state, rd)
		// Finish this login and look where it goes.
		resp, err = b.noRedirect().Get(resp.Header.Get("Location"))
		require.NoError(t, err)
		_ = resp.Body.Close()
		require.Equal(t, http.StatusFound, resp.StatusCode, rd)
		resp, err = b.noRedirect().Get(resp.Header.Get("Location"))
		require.NoError(t, err)
		_ = resp.Body.Close()
		require.Equal(t, http.StatusFound, resp.StatusCode, rd)
		assert.Equal(t, e.single, strings.TrimSuffix(resp.Header.Get("Location"), "/"), rd)
	}
}

func TestNginxHeaderAuth(t *testing.T) {
	t.Parallel()
	e := startForward(t, false)
	c := newBrowser(t).noRedirect()
	basic := func(u, p string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(u+":"+p)) }
	tests := []struct {
		name   string
		authz  string
		status int
		user   string
	}{
		{name: "basic ok", authz: basic("alice", "alice-password"), status: http.StatusOK, user: "alice"},
		{name: "basic wrong password", authz: basic("alice", "nope"), status: http.StatusFound},
		{name: "bearer garbage", authz: "Bearer not-a-token", status: http.StatusFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, e.single+"/api", nil)
			require.NoError(t, err)
			req.Header.Set("Authorization", tt.authz)
			resp, err := c.Do(req)
			require.NoError(t, err)
			if tt.status != http.StatusOK {
				_ = resp.Body.Close()
				assert.Equal(t, tt.status, resp.StatusCode)
				return
			}
			ev := decodeEcho(t, resp)
			assert.Equal(t, tt.user, ev.header("X-Authentik-Username"))
			// The injected Basic auth comes from the group attribute.
			assert.Equal(t, basic("alice@example.com", "s3cret-upstream"), ev.header("Authorization"))
			assert.Equal(t, "platform", ev.header("X-Team"))
		})
	}
}

func TestNginxForwardDomain(t *testing.T) {
	t.Parallel()
	e := startForward(t, false)
	b := newBrowser(t)
	app := fmt.Sprintf("http://wiki.domain.localhost:%d", e.nginxPort)
	resp := b.login(app+"/page", "frank", "frank-password", "frank-static-1")
	ev := decodeEcho(t, resp)
	assert.Equal(t, "/page", ev.Path)
	assert.Equal(t, "frank", ev.header("X-Authentik-Username"))
	// The session covers every host under the cookie domain.
	resp, err := b.Get(fmt.Sprintf("http://other.domain.localhost:%d/x", e.nginxPort))
	require.NoError(t, err)
	ev = decodeEcho(t, resp)
	assert.Equal(t, "frank", ev.header("X-Authentik-Username"))
}

func TestCaddyForwardAuth(t *testing.T) {
	t.Parallel()
	e := startForward(t, true)
	b := newBrowser(t)
	app := fmt.Sprintf("http://caddy.localhost:%d", e.caddyPort)

	requireRedirect(t, b.noRedirect(), app+"/private", "/application/o/authorize/")

	req, err := http.NewRequest(http.MethodGet, app+"/private", nil)
	require.NoError(t, err)
	req.Header.Set("Accept", "application/json")
	resp, err := b.noRedirect().Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	resp = b.login(app+"/private", "alice", "alice-password", "")
	ev := decodeEcho(t, resp)
	assert.Equal(t, "/private", ev.Path)
	assert.Equal(t, "alice", ev.header("X-Authentik-Username"))

	req, err = http.NewRequest(http.MethodGet, app+"/again", nil)
	require.NoError(t, err)
	req.Header.Set("X-Authentik-Username", "akadmin")
	req.Header.Set("X-Forwarded-Uri", "/public/spoof")
	resp, err = b.Do(req)
	require.NoError(t, err)
	ev = decodeEcho(t, resp)
	assert.Equal(t, "alice", ev.header("X-Authentik-Username"))
	assert.Equal(t, "/again", ev.Path)
}

// cookieNameFor is the outpost's session cookie name for u in b's jar.
func cookieNameFor(t *testing.T, b *browser, u string) string {
	t.Helper()
	pu, err := url.Parse(u)
	require.NoError(t, err)
	for _, c := range b.Jar.Cookies(pu) {
		if strings.HasPrefix(c.Name, "authentik_proxy_") {
			return c.Name
		}
	}
	t.Fatalf("no authentik_proxy_ cookie for %s", u)
	return ""
}
