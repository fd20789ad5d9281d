package e2e_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/outpost-go/outposts/authclient/devcore/devcoretest"
	"github.com/outpost-go/outposts/authclient/outpost/outposttest"
)

// A session outlives its access token: the outpost refreshes the token
// with the refresh token instead of sending the user to log in again
// (authentik#5015).
func TestTokenRefresh(t *testing.T) {
	t.Parallel()
	outposttest.NeedRedis(t)
	up := upstream(t)
	port := freePort(t)
	core := proxyCore(t, port, up.URL, devcoretest.WithBlueprint("zz-short-tokens.yaml", `version: 1
entries:
  - model: authentik_providers_proxy.proxyprovider
    identifiers:
      name: proxy-provider
    attrs:
      access_token_validity: seconds=2
`))
	startOutpost(t, core, port, "e2e-"+t.Name(), nil)
	app := fmt.Sprintf("http://app.localhost:%d", port)
	b := newBrowser(t)
	first := decodeEcho(t, b.login(app+"/", "alice", "alice-password", ""))
	require.NotEmpty(t, first.header("X-Authentik-Jwt"))

	// Wait out the access token's validity, then use the session again.
	time.Sleep(3 * time.Second)
	resp, err := b.noRedirect().Get(app + "/later")
	require.NoError(t, err)
	second := decodeEcho(t, resp)
	assert.Equal(t, "alice", second.header("X-Authentik-Username"))
	assert.NotEqual(t, first.header("X-Authentik-Jwt"), second.header("X-Authentik-Jwt"), "a fresh access token")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}
