package e2e_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/outpost-go/outposts/authclient/outpost/outposttest"
)

func status(t *testing.T, c *http.Client, u string) int {
	t.Helper()
	resp, err := c.Get(u)
	require.NoError(t, err)
	_ = resp.Body.Close()
	return resp.StatusCode
}

// Two replicas share Redis: a cookie issued by one works on the other, and
// a sign-out on one is refused on the other at once.
func TestReplicasShareSessions(t *testing.T) {
	t.Parallel()
	outposttest.NeedRedis(t)
	up := upstream(t)
	portA, portB := freePort(t), freePort(t)
	core := proxyCore(t, portA, up.URL)
	prefix := "e2e-" + t.Name()
	startOutpost(t, core, portA, prefix, nil)
	startOutpost(t, core, portB, prefix, nil)
	app := fmt.Sprintf("http://app.localhost:%d", portA)

	b := newBrowser(t)
	decodeEcho(t, b.login(app+"/", "alice", "alice-password", ""))
	a, other := b.via(portA), b.via(portB)
	assert.Equal(t, http.StatusOK, status(t, a, app+"/x"))
	assert.Equal(t, http.StatusOK, status(t, other, app+"/x"), "replica B accepts replica A's cookie")

	// A second browser of the same user is signed out too: sign-out ends
	// every session of the user.
	b2 := newBrowser(t)
	decodeEcho(t, b2.login(app+"/", "alice", "alice-password", ""))

	assert.Equal(t, http.StatusFound, status(t, a, app+"/outpost.goauthentik.io/sign_out"))
	assert.Equal(t, http.StatusFound, status(t, other, app+"/x"), "replica B refuses at once")
	assert.Equal(t, http.StatusFound, status(t, b2.via(portB), app+"/x"), "other browser of the user refused")
}

// SESSION_END from the core (the user logged out of authentik) revokes the
// outpost sessions of that authentik session, on every replica.
func TestSessionEndFromCore(t *testing.T) {
	t.Parallel()
	outposttest.NeedRedis(t)
	up := upstream(t)
	portA, portB := freePort(t), freePort(t)
	core := proxyCore(t, portA, up.URL)
	prefix := "e2e-" + t.Name()
	startOutpost(t, core, portA, prefix, nil)
	startOutpost(t, core, portB, prefix, nil)
	app := fmt.Sprintf("http://app.localhost:%d", portA)

	ended, kept := newBrowser(t), newBrowser(t)
	decodeEcho(t, ended.login(app+"/", "alice", "alice-password", ""))
	decodeEcho(t, kept.login(app+"/", "alice", "alice-password", ""))
	require.Equal(t, http.StatusOK, status(t, ended.via(portB), app+"/x"))

	// Log out at the core directly, not through the outpost.
	resp, err := ended.Get(core.URL + "application/o/proxy/end-session/")
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	require.Eventually(t, func() bool {
		return status(t, ended.via(portA), app+"/x") == http.StatusFound &&
			status(t, ended.via(portB), app+"/x") == http.StatusFound
	}, 10*time.Second, 20*time.Millisecond)
	assert.Equal(t, http.StatusOK, status(t, kept.via(portB), app+"/x"), "another authentik session of the user stays")
}
