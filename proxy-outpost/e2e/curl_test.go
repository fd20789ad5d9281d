package e2e_test

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// curl, as an API client would call it: 401 JSON naming the login URL,
// Basic credentials through intercept_header_auth, and the ping.
func TestCurl(t *testing.T) {
	t.Parallel()
	curl := requireTool(t, "curl", "curl")
	up := upstream(t)
	port := freePort(t)
	core := proxyCore(t, port, up.URL)
	startOutpost(t, core, port, "", nil)
	app := fmt.Sprintf("http://app.localhost:%d", port)
	resolve := fmt.Sprintf("app.localhost:%d:127.0.0.1", port)
	run := func(args ...string) (int, string) {
		t.Helper()
		args = append([]string{"-s", "-o", "-", "-w", "\n%{http_code}", "--resolve", resolve}, args...)
		out, err := exec.Command(curl, args...).Output()
		require.NoError(t, err)
		s := strings.TrimSpace(string(out))
		body, status := "", s
		if i := strings.LastIndexByte(s, '\n'); i >= 0 {
			body, status = s[:i], s[i+1:]
		}
		var code int
		_, err = fmt.Sscanf(status, "%d", &code)
		require.NoError(t, err, s)
		return code, body
	}

	code, body := run("-H", "Accept: application/json", app+"/api/items")
	assert.Equal(t, 401, code)
	var m map[string]string
	require.NoError(t, json.Unmarshal([]byte(body), &m), body)
	assert.Equal(t, app+"/outpost.goauthentik.io/start?rd=http%3A%2F%2Fapp.localhost%3A"+fmt.Sprint(port)+"%2Fapi%2Fitems", m["login_url"])

	code, body = run("-u", "alice:alice-password", app+"/api/items")
	assert.Equal(t, 200, code)
	assert.Contains(t, body, `"X-Authentik-Username":["alice"]`)

	code, _ = run("-u", "alice:wrong", app+"/api/items")
	assert.Equal(t, 401, code, "refused credentials are a 401, not a login redirect")

	code, _ = run(app + "/outpost.goauthentik.io/ping")
	assert.Equal(t, 204, code)

	// With a single provider every host is its (authentik does the same);
	// the 400 for an unknown host is in TestUnknownHost.
}

// With several providers an unknown host gets 400 and a JSON body.
func TestUnknownHost(t *testing.T) {
	t.Parallel()
	curl := requireTool(t, "curl", "curl")
	e := startForward(t, false)
	out, err := exec.Command(curl, "-s", "-w", "\n%{http_code}", "-H", "Host: nope.example",
		fmt.Sprintf("http://127.0.0.1:%d/", e.outpostPort)).Output()
	require.NoError(t, err)
	s := strings.TrimSpace(string(out))
	i := strings.LastIndexByte(s, '\n')
	require.Positive(t, i, s)
	body, code := strings.TrimSpace(s[:i]), s[i+1:]
	assert.Equal(t, "400", code)
	var m map[string]string
	require.NoError(t, json.Unmarshal([]byte(body), &m), body)
	assert.Equal(t, "no app for hostname", m["Message"])
	assert.Equal(t, "nope.example", m["Host"])
}
