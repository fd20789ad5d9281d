package devcore_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/outpost-go/outposts/authclient/devcore/devcoretest"
)

// racBrowser is a logged-in browser (or an anonymous one when user is "").
func racBrowser(t *testing.T, core *devcoretest.Core, user string) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	if user == "" {
		return c
	}
	flow := core.URL + "if/flow/default-authentication-flow/"
	resp, err := c.Get(flow)
	require.NoError(t, err)
	resp.Body.Close()
	for _, form := range []url.Values{{"uid_field": {user}}, {"password": {user + "-password"}}} {
		resp, err := c.PostForm(flow, form)
		require.NoError(t, err)
		resp.Body.Close()
	}
	return c
}

func get(t *testing.T, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(b)
}

func TestRACStart(t *testing.T) {
	t.Parallel()
	core := devcoretest.Start(t)
	start := core.URL + "application/rac/rac/ssh-localhost/"

	t.Run("anonymous browsers log in first", func(t *testing.T) {
		t.Parallel()
		c := racBrowser(t, core, "")
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		resp, _ := get(t, c, start)
		assert.Equal(t, http.StatusFound, resp.StatusCode)
		assert.Equal(t, "/if/flow/default-authentication-flow/?next=%2Fapplication%2Frac%2Frac%2Fssh-localhost%2F", resp.Header.Get("Location"))
	})
	t.Run("after login the page runs guacamole-common-js", func(t *testing.T) {
		t.Parallel()
		c := racBrowser(t, core, "alice")
		resp, body := get(t, c, start)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.True(t, strings.HasPrefix(resp.Request.URL.Path, "/if/rac/"), resp.Request.URL.Path)
		token := strings.TrimSuffix(strings.TrimPrefix(resp.Request.URL.Path, "/if/rac/"), "/")
		assert.Contains(t, body, `data-ws="/ws/rac/`+token+`/"`)
		assert.Contains(t, body, `src="/static/rac/rac.js"`)
		resp, js := get(t, c, core.URL+"static/rac/guacamole-common.min.js")
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Contains(t, js, "export default Guacamole;")
		resp, _ = get(t, c, core.URL+"static/rac/rac.js")
		assert.Equal(t, http.StatusOK, resp.StatusCode)
	})
	t.Run("policy denies", func(t *testing.T) {
		t.Parallel()
		resp, body := get(t, racBrowser(t, core, "eve"), start)
		assert.Equal(t, http.StatusForbidden, resp.StatusCode)
		assert.Contains(t, body, "You do not have access to RAC.")
	})
	t.Run("unknown endpoint or app", func(t *testing.T) {
		t.Parallel()
		c := racBrowser(t, core, "alice")
		for _, u := range []string{"application/rac/rac/nope/", "application/rac/ldap/ssh-localhost/", "application/rac/nope/x/", "if/rac/not-a-token/"} {
			resp, _ := get(t, c, core.URL+u)
			assert.Equal(t, http.StatusNotFound, resp.StatusCode, u)
		}
	})
}

func TestRACWebsockets(t *testing.T) {
	t.Parallel()
	core := devcoretest.Start(t)
	alice := racBrowser(t, core, "alice")
	resp, _ := get(t, alice, core.URL+"application/rac/rac/ssh-localhost/")
	token := strings.TrimSuffix(strings.TrimPrefix(resp.Request.URL.Path, "/if/rac/"), "/")
	require.NotEmpty(t, token)
	u, err := url.Parse(core.URL)
	require.NoError(t, err)
	wsBase := "ws://" + u.Host

	dial := func(path string, h http.Header) (*websocket.Conn, int) {
		d := websocket.Dialer{Subprotocols: []string{"guacamole"}}
		ws, resp, err := d.Dial(wsBase+path, h)
		if err != nil {
			if resp == nil {
				return nil, 0
			}
			return nil, resp.StatusCode
		}
		t.Cleanup(func() { ws.Close() })
		return ws, http.StatusSwitchingProtocols
	}
	cookies := http.Header{}
	for _, c := range alice.Jar.Cookies(u) {
		cookies.Add("Cookie", c.Name+"="+c.Value)
	}

	t.Run("the token belongs to its session", func(t *testing.T) {
		_, status := dial("/ws/rac/"+token+"/", nil)
		assert.Equal(t, http.StatusForbidden, status)
		other := http.Header{}
		bob := racBrowser(t, core, "bob")
		for _, c := range bob.Jar.Cookies(u) {
			other.Add("Cookie", c.Name+"="+c.Value)
		}
		_, status = dial("/ws/rac/"+token+"/", other)
		assert.Equal(t, http.StatusForbidden, status)
	})
	t.Run("cross-site pages may not use the tunnel", func(t *testing.T) {
		h := cookies.Clone()
		h.Set("Origin", "https://evil.example")
		_, status := dial("/ws/rac/"+token+"/", h)
		assert.Equal(t, http.StatusForbidden, status)
	})
	t.Run("outpost channels need the outpost's token", func(t *testing.T) {
		_, status := dial("/ws/outpost_rac/nope/", nil)
		assert.Equal(t, http.StatusForbidden, status)
		h := http.Header{"Authorization": {"Bearer " + core.Token("rac-outpost")}}
		_, status = dial("/ws/outpost_rac/nope/", h)
		assert.Equal(t, http.StatusForbidden, status)
	})
	t.Run("no outpost connected", func(t *testing.T) {
		ws, status := dial("/ws/rac/"+token+"/", cookies)
		require.Equal(t, http.StatusSwitchingProtocols, status)
		assert.Equal(t, "guacamole", ws.Subprotocol())
		_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, msg, err := ws.ReadMessage()
		require.NoError(t, err)
		assert.Equal(t, "5.error,42.No outpost is connected for this provider.,3.519;", string(msg))
	})
}
