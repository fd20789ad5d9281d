package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/outpost-go/outposts/authclient/devcore/devcoretest"
	"github.com/outpost-go/outposts/authclient/outpost/outposttest"
)

// traefikInstall is how to get the Traefik the README's section was tested
// with: `go install traefik@version` refuses Traefik's go.mod and the module
// proxy lacks some of its dependencies, so the script builds it around them.
const traefikInstall = "Traefik v3 (a release binary, or proxy-outpost/e2e/testdata/build-traefik.sh /usr/local/bin/traefik), or set TRAEFIK_BIN"

// traefikBinary is $TRAEFIK_BIN, else traefik from PATH; without either the
// test fails under CI=true and is skipped otherwise.
func traefikBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("TRAEFIK_BIN"); p != "" {
		_, err := os.Stat(p)
		require.NoError(t, err, "TRAEFIK_BIN")
		return p
	}
	return outposttest.Need(t, "traefik", traefikInstall)
}

// traefikBlueprint adds a forward_single provider for the host Traefik
// serves to the demo's outpost.
func traefikBlueprint(traefikPort int) string {
	return fmt.Sprintf(`version: 1
metadata:
  name: proxy e2e traefik
entries:
  - model: authentik_providers_proxy.proxyprovider
    id: traefik
    identifiers:
      name: traefik-single
    attrs:
      authorization_flow: !Find [authentik_flows.flow, [slug, default-provider-authorization-implicit-consent]]
      invalidation_flow: !Find [authentik_flows.flow, [slug, default-provider-invalidation-flow]]
      external_host: http://traefik.localhost:%d
      mode: forward_single
  - model: authentik_core.application
    identifiers:
      slug: traefik-single
    attrs:
      name: traefik single
      provider: !KeyOf traefik
  - model: authentik_outposts.outpost
    identifiers:
      name: proxy-outpost
    attrs:
      type: proxy
      providers:
        - !Find [authentik_providers_proxy.proxyprovider, [name, proxy-provider]]
        - !KeyOf traefik
`, traefikPort)
}

// traefikDynamicConfig is the README's Traefik file-provider block, with its
// example names pointed at this test's processes: the test runs what the
// documentation says.
func traefikDynamicConfig(t *testing.T, outpost, app string) string {
	t.Helper()
	readme, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	s := string(readme)
	i := strings.Index(s, "\n## Traefik")
	require.GreaterOrEqual(t, i, 0, "README.md has no Traefik section")
	s = s[i:]
	const open, closing = "```yaml\n", "\n```\n"
	i = strings.Index(s, open)
	require.GreaterOrEqual(t, i, 0, "README.md's Traefik section has no yaml block")
	s = s[i+len(open):]
	j := strings.Index(s, closing)
	require.GreaterOrEqual(t, j, 0, "README.md's Traefik yaml block is not closed")
	block := s[:j+1]
	for _, placeholder := range []string{"app.example.com", "http://outpost.internal:9000", "http://application:8080"} {
		require.Contains(t, block, placeholder, "README.md's Traefik block changed its example names")
	}
	return strings.NewReplacer(
		"app.example.com", "traefik.localhost",
		"http://outpost.internal:9000", "http://"+outpost,
		"http://application:8080", app,
	).Replace(block)
}

// startTraefik runs Traefik with one entry point on port and the README's
// dynamic configuration, and waits until the outpost's ping answers through
// the app-outpost router.
func startTraefik(t *testing.T, port int, outpost, app string) {
	t.Helper()
	bin := traefikBinary(t)
	dir := t.TempDir()
	dynamic := filepath.Join(dir, "dynamic.yml")
	require.NoError(t, os.WriteFile(dynamic, []byte(traefikDynamicConfig(t, outpost, app)), 0o644))
	logFile := filepath.Join(dir, "traefik.log")
	// The flags of the README's static configuration, plus what keeps a
	// test instance quiet and on loopback.
	cmd := exec.CommandContext(context.Background(), bin,
		fmt.Sprintf("--entryPoints.web.address=127.0.0.1:%d", port),
		"--entryPoints.web.http.aliasHeadersStrategy=delete",
		"--providers.file.filename="+dynamic,
		"--global.checkNewVersion=false",
		"--global.sendAnonymousUsage=false",
		"--log.level=DEBUG",
		"--log.filePath="+logFile,
	)
	cmd.Env = append(os.Environ(), "HOME="+dir)
	runDaemon(t, cmd, logFile)
	waitListening(t, port)
	ping, err := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/outpost.goauthentik.io/ping", port), nil)
	require.NoError(t, err)
	ping.Host = fmt.Sprintf("traefik.localhost:%d", port)
	require.Eventually(t, func() bool {
		resp, err := http.DefaultClient.Do(ping)
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusNoContent
	}, 30*time.Second, 50*time.Millisecond, "traefik did not load its configuration")
}

func TestTraefikForwardAuth(t *testing.T) {
	t.Parallel()
	outposttest.NeedRedis(t)
	traefikBinary(t)
	up := upstream(t)
	outpostPort, traefikPort := freePort(t), freePort(t)
	core := proxyCore(t, outpostPort, up.URL, devcoretest.WithBlueprint("zz-proxy-e2e-traefik.yaml", traefikBlueprint(traefikPort)))
	startOutpost(t, core, outpostPort, "e2e-"+t.Name(), nil)
	startTraefik(t, traefikPort, fmt.Sprintf("127.0.0.1:%d", outpostPort), up.URL)
	app := fmt.Sprintf("http://traefik.localhost:%d", traefikPort)
	b := newBrowser(t)

	// A browser without a session goes straight to authentik.
	requireRedirect(t, b.noRedirect(), app+"/private", "/application/o/authorize/")

	// An API caller gets 401 JSON naming the login URL.
	req, err := http.NewRequest(http.MethodGet, app+"/api/items", nil)
	require.NoError(t, err)
	req.Header.Set("Accept", "application/json")
	resp, err := b.noRedirect().Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "%s", body)
	var m map[string]string
	require.NoError(t, json.Unmarshal(body, &m), "%s", body)
	assert.Equal(t, app+"/outpost.goauthentik.io/start?rd=http%3A%2F%2Ftraefik.localhost%3A"+fmt.Sprint(traefikPort)+"%2Fapi%2Fitems", m["login_url"])

	// That login URL works through Traefik (the app-outpost router).
	requireRedirect(t, newBrowser(t).noRedirect(), m["login_url"], "/application/o/authorize/")

	// Log in through the core: the application sees who it is.
	resp = b.login(app+"/private?a=b", "alice", "alice-password", "")
	ev := decodeEcho(t, resp)
	assert.Equal(t, "/private", ev.Path)
	assert.Equal(t, "alice", ev.header("X-Authentik-Username"))
	assert.Equal(t, "alice@example.com", ev.header("X-Authentik-Email"))
	assert.Contains(t, ev.header("X-Authentik-Groups"), "engineering")
	assert.NotEmpty(t, ev.header("X-Authentik-Jwt"))
	assert.Equal(t, "traefik-single", ev.header("X-Authentik-Meta-Provider"))

	// A client cannot send its own identity, under the header's name or an
	// alias of it, nor name another URL to authorise.
	req, err = http.NewRequest(http.MethodGet, app+"/again", nil)
	require.NoError(t, err)
	req.Header.Set("X-Authentik-Username", "akadmin")
	req.Header.Set("X-Authentik-Meta-App", "spoofed")
	req.Header["X_authentik_username"] = []string{"akadmin"}
	req.Header.Set("X-Forwarded-Uri", "/outpost.goauthentik.io/ping")
	resp, err = b.Do(req)
	require.NoError(t, err)
	ev = decodeEcho(t, resp)
	assert.Equal(t, "/again", ev.Path)
	assert.Equal(t, "alice", ev.header("X-Authentik-Username"))
	assert.Equal(t, "traefik-single", ev.header("X-Authentik-Meta-App"))
	assert.Empty(t, ev.header("X_authentik_username"))

	// Without a session the spoofed headers get nowhere either.
	req, err = http.NewRequest(http.MethodGet, app+"/private", nil)
	require.NoError(t, err)
	req.Header.Set("X-Authentik-Username", "akadmin")
	req.Header.Set("X-Forwarded-Uri", "/outpost.goauthentik.io/ping")
	resp, err = newBrowser(t).noRedirect().Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusFound, resp.StatusCode)

	// Signing out through Traefik ends the session.
	resp, err = b.noRedirect().Get(app + "/outpost.goauthentik.io/sign_out")
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusFound, resp.StatusCode)
	requireRedirect(t, b.noRedirect(), app+"/private", "/application/o/authorize/")
}
