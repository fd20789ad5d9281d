package devcore_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/outpost-go/outposts/authclient/devcore/devcoretest"
	"github.com/outpost-go/outposts/authclient/events"
)

// dialOutpost opens the control channel of the named outpost with token.
func dialOutpost(t *testing.T, c *devcoretest.Core, outpost, token string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	o := outpostPK(t, c, outpost)
	u := "ws" + strings.TrimPrefix(c.URL, "http") + "ws/outpost/" + o + "/?instance_uuid=" + uuid.NewString()
	h := http.Header{}
	h.Set("Authorization", "Bearer "+token)
	conn, resp, err := websocket.DefaultDialer.Dial(u, h)
	if err == nil {
		t.Cleanup(func() { conn.Close() })
	}
	return conn, resp, err
}

func outpostPK(t *testing.T, c *devcoretest.Core, name string) string {
	t.Helper()
	for _, o := range c.Server.Directory().Outposts {
		if o.Name == name {
			return o.PK
		}
	}
	t.Fatalf("no outpost %s", name)
	return ""
}

// readUntil reads frames until one has the wanted instruction.
func readUntil(t *testing.T, conn *websocket.Conn, want events.Instruction) events.Message {
	t.Helper()
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	for {
		var m events.Message
		require.NoError(t, conn.ReadJSON(&m))
		if m.Instruction == want {
			return m
		}
	}
}

func TestWebsocket(t *testing.T) {
	t.Parallel()
	c := startCore(t)
	conn, _, err := dialOutpost(t, c, "ldap-outpost", c.Token("ldap-outpost"))
	require.NoError(t, err)

	hello := events.Message{Instruction: events.Hello, Args: map[string]any{"version": "2026.5.3", "hostname": "ldap-0"}}
	require.NoError(t, conn.WriteJSON(hello))
	ack := readUntil(t, conn, events.Ack)
	assert.Equal(t, map[string]any{}, ack.Args)

	inst := c.Server.Connected("ldap-outpost")
	require.Len(t, inst, 1)
	assert.Equal(t, "ldap-0", inst[0].Hello["hostname"])
	assert.Empty(t, c.Server.Connected("radius-outpost"))

	health, _, err := apiClient(t, c, c.Token("ldap-outpost")).OutpostsAPI.OutpostsInstancesHealthList(context.Background(), outpostPK(t, c, "ldap-outpost")).Execute()
	require.NoError(t, err)
	require.Len(t, health, 1)
	assert.Equal(t, "ldap-0", health[0].Hostname)
	assert.Equal(t, "2026.5.3", health[0].Version)
	assert.False(t, health[0].VersionOutdated)

	c.Server.TriggerUpdate()
	readUntil(t, conn, events.TriggerUpdate)

	n := c.Server.Send("ldap-outpost", events.Message{Instruction: events.SessionEnd, Args: map[string]any{"session_id": "x"}})
	assert.Equal(t, 1, n)
	got := readUntil(t, conn, events.SessionEnd)
	assert.Equal(t, "x", got.Args["session_id"])

	t.Run("rejected", func(t *testing.T) {
		for name, token := range map[string]string{"bad token": "nope", "other outpost": c.Token("radius-outpost")} {
			_, resp, err := dialOutpost(t, c, "ldap-outpost", token)
			require.Error(t, err, name)
			require.NotNil(t, resp, name)
			assert.Equal(t, http.StatusForbidden, resp.StatusCode, name)
		}
	})
}

func TestHotReload(t *testing.T) {
	t.Parallel()
	c := startCore(t)
	conn, _, err := dialOutpost(t, c, "ldap-outpost", c.Token("ldap-outpost"))
	require.NoError(t, err)
	require.NoError(t, conn.WriteJSON(events.Message{Instruction: events.Hello, Args: map[string]any{}}))
	readUntil(t, conn, events.Ack)

	extra := "version: 1\nentries:\n  - model: authentik_core.user\n    identifiers: {username: frank}\n"
	require.NoError(t, os.WriteFile(filepath.Join(c.Dir, "extra.yaml"), []byte(extra), 0o644))
	readUntil(t, conn, events.TriggerUpdate)
	assert.True(t, hasUser(c, "frank"))

	// A broken edit keeps the previous directory and names the file.
	broken := "version: 1\nentries:\n  - model: authentik_core.user\n    identifiers: {username: [oops}\n"
	require.NoError(t, os.WriteFile(filepath.Join(c.Dir, "extra.yaml"), []byte(broken), 0o644))
	err = c.Server.Reload(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "extra.yaml")
	assert.True(t, hasUser(c, "frank"))
}

func hasUser(c *devcoretest.Core, name string) bool {
	for _, u := range c.Server.Directory().Users {
		if u.Username == name {
			return true
		}
	}
	return false
}

func TestStopRestart(t *testing.T) {
	t.Parallel()
	c := startCore(t)
	conn, _, err := dialOutpost(t, c, "ldap-outpost", c.Token("ldap-outpost"))
	require.NoError(t, err)

	c.Stop()
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	_, _, err = conn.ReadMessage()
	require.Error(t, err, "the websocket must drop on Stop")
	_, err = http.Get(c.URL + "api/v3/root/config/")
	require.Error(t, err)

	c.Restart(t)
	status, _ := rawGet(t, c.URL+"api/v3/root/config/", "Bearer "+c.Token("ldap-outpost"))
	assert.Equal(t, http.StatusOK, status)
	_, _, err = dialOutpost(t, c, "ldap-outpost", c.Token("ldap-outpost"))
	require.NoError(t, err)
}

func TestDemoDefault(t *testing.T) {
	t.Parallel()
	c := devcoretest.Start(t)
	status, body := rawGet(t, c.URL+"api/v3/root/config/", "")
	assert.Equal(t, http.StatusForbidden, status, body)
	for _, o := range c.Server.Directory().Outposts {
		tok := c.Token(o.Name)
		status, _ := rawGet(t, c.URL+"api/v3/outposts/instances/", "Bearer "+tok)
		assert.Equal(t, http.StatusOK, status)
	}
}
