package e2e_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/outpost-go/outposts/authclient/devcore/devcoretest"
	"github.com/outpost-go/outposts/authclient/outpost/outposttest"
)

// proxyCore starts a core whose demo proxy provider protects up on
// app.localhost:<port>.
func proxyCore(t *testing.T, port int, upstreamURL string, extra ...devcoretest.Option) *devcoretest.Core {
	t.Helper()
	opts := append([]devcoretest.Option{devcoretest.WithDemo(), devcoretest.WithEnv(map[string]string{
		"DEMO_PROXY_EXTERNAL_HOST": fmt.Sprintf("http://app.localhost:%d", port),
		"DEMO_PROXY_INTERNAL_HOST": upstreamURL,
	})}, extra...)
	return devcoretest.Start(t, opts...)
}

func TestProxyModeLogin(t *testing.T) {
	t.Parallel()
	outposttest.NeedRedis(t)
	up := upstream(t)
	port := freePort(t)
	core := proxyCore(t, port, up.URL)
	inst := startOutpost(t, core, port, "e2e-"+t.Name(), nil)
	app := fmt.Sprintf("http://app.localhost:%d", port)

	b := newBrowser(t)
	req, err := http.NewRequest(http.MethodGet, app+"/hello?x=1", nil)
	require.NoError(t, err)
	resp := b.login(app+"/hello?x=1", "alice", "alice-password", "")
	e := decodeEcho(t, resp)
	assert.Equal(t, "/hello", e.Path)
	assert.Equal(t, "alice", e.header("X-Authentik-Username"))
	assert.Equal(t, "alice@example.com", e.header("X-Authentik-Email"))
	assert.Contains(t, e.header("X-Authentik-Groups"), "engineering")
	assert.NotEmpty(t, e.header("X-Authentik-Uid"))
	assert.NotEmpty(t, e.header("X-Authentik-Jwt"))
	assert.Equal(t, "proxy-provider", e.header("X-Authentik-Meta-Provider"))
	_ = req

	// Spoofed identity headers are replaced, underscore spellings dropped.
	req, err = http.NewRequest(http.MethodGet, app+"/again", nil)
	require.NoError(t, err)
	req.Header.Set("X-Authentik-Username", "akadmin")
	req.Header["X_authentik_username"] = []string{"akadmin"}
	req.Header.Set("X-Authentik-Meta-Evil", "1")
	resp, err = b.Do(req)
	require.NoError(t, err)
	e = decodeEcho(t, resp)
	assert.Equal(t, "alice", e.header("X-Authentik-Username"))
	assert.Empty(t, e.header("X_authentik_username"))
	assert.Empty(t, e.header("X-Authentik-Meta-Evil"))

	// authentik's metric names, with the app's host and upstream.
	resp, err = http.Get("http://" + inst.MetricsAddr + "/metrics")
	require.NoError(t, err)
	metrics, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	assert.Contains(t, string(metrics), `authentik_outpost_proxy_request_duration_seconds_count{host="app.localhost:`)
	assert.Contains(t, string(metrics), `authentik_outpost_proxy_upstream_response_duration_seconds_count{`)
	assert.Contains(t, string(metrics), `authentik_outpost_proxy_requests_count{`)

	// Sign out, then the same cookie is refused.
	resp, err = b.noRedirect().Get(app + "/outpost.goauthentik.io/sign_out")
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusFound, resp.StatusCode)
	assert.Contains(t, resp.Header.Get("Location"), "/end-session/")
	requireRedirect(t, b.noRedirect(), app+"/again", "/application/o/authorize/")
}

func TestProxyModeUnauthenticated(t *testing.T) {
	t.Parallel()
	up := upstream(t)
	port := freePort(t)
	core := proxyCore(t, port, up.URL)
	startOutpost(t, core, port, "", nil)
	app := fmt.Sprintf("http://app.localhost:%d", port)
	b := newBrowser(t)

	tests := []struct {
		name   string
		header map[string]string
		json   bool
	}{
		{name: "navigation", header: map[string]string{"Accept": "text/html", "Sec-Fetch-Mode": "navigate"}},
		{name: "fetch", header: map[string]string{"Sec-Fetch-Mode": "cors"}, json: true},
		{name: "xhr", header: map[string]string{"X-Requested-With": "XMLHttpRequest"}, json: true},
		{name: "api", header: map[string]string{"Accept": "application/json"}, json: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, app+"/api/items", nil)
			require.NoError(t, err)
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			resp, err := b.noRedirect().Do(req)
			require.NoError(t, err)
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if !tt.json {
				assert.Equal(t, http.StatusFound, resp.StatusCode)
				loc := resp.Header.Get("Location")
				assert.Contains(t, loc, "code_challenge_method=S256")
				assert.Contains(t, loc, "nonce=")
				assert.Contains(t, loc, "state=")
				return
			}
			assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
			var m map[string]string
			require.NoError(t, json.Unmarshal(body, &m), "%s", body)
			assert.True(t, strings.HasPrefix(m["login_url"], app+"/outpost.goauthentik.io/start?rd="), m["login_url"])
		})
	}
}
