package devcore_test

import (
	"bufio"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/outpost-go/outposts/authclient/devcore/devcoretest"
)

// chromiumPath finds a Chromium binary; without one the test fails under
// CI=true and skips otherwise.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium not found; install it (apt-get install -y chromium)")
	}
	t.Skip("chromium not found; install it (apt-get install -y chromium) to run the browser login test")
	return ""
}

// cdp is a minimal Chrome DevTools Protocol client on one page session.
type cdp struct {
	t       *testing.T
	conn    *websocket.Conn
	mu      sync.Mutex
	id      int
	session string
}

func (c *cdp) call(method string, params map[string]any, session bool) json.RawMessage {
	c.t.Helper()
	raw, errMsg := c.try(method, params, session)
	require.Empty(c.t, errMsg, "%s failed", method)
	return raw
}

// try sends one command and returns its result or the browser's error
// message (an evaluation racing a navigation fails, and is retried).
func (c *cdp) try(method string, params map[string]any, session bool) (json.RawMessage, string) {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.id++
	msg := map[string]any{"id": c.id, "method": method, "params": params}
	if session {
		msg["sessionId"] = c.session
	}
	_ = c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if err := c.conn.WriteJSON(msg); err != nil {
		return nil, "write: " + err.Error()
	}
	_ = c.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		var resp struct {
			ID     int             `json:"id"`
			Result json.RawMessage `json:"result"`
			Error  *struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := c.conn.ReadJSON(&resp); err != nil {
			return nil, "read: " + err.Error()
		}
		if resp.ID != c.id {
			continue // an event, or an answer to nothing we wait for
		}
		if resp.Error != nil {
			return nil, resp.Error.Message
		}
		return resp.Result, ""
	}
}

// eval runs a JavaScript expression in the page and returns its string
// value ("" when the page is between documents).
func (c *cdp) eval(expr string) string {
	c.t.Helper()
	raw, errMsg := c.try("Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true}, true)
	if errMsg != "" {
		return ""
	}
	var res struct {
		Result struct {
			Value any `json:"value"`
		} `json:"result"`
	}
	require.NoError(c.t, json.Unmarshal(raw, &res))
	s, _ := res.Result.Value.(string)
	return s
}

// waitFor polls expr until it yields a non-empty string.
func (c *cdp) waitFor(what, expr string) string {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if v := c.eval(expr); v != "" {
			return v
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Fatalf("timed out waiting for %s; page is %s: %s", what, c.eval("location.href"), c.eval("document.body ? document.body.innerText : ''"))
	return ""
}

func startChromium(t *testing.T) *cdp {
	t.Helper()
	bin := chromiumPath(t)
	// Our own profile directory: Chromium's helper processes may still be
	// writing to it for a moment after the browser exits, so it is removed
	// once the whole process group is gone.
	profile, err := os.MkdirTemp("", "devcore-chromium-")
	require.NoError(t, err)
	cmd := exec.Command(bin,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
		"--user-data-dir="+profile, "--remote-debugging-port=0", "about:blank")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	var c *cdp
	t.Cleanup(func() {
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		if c != nil {
			_, _ = c.try("Browser.close", map[string]any{}, false)
			_ = c.conn.Close()
		}
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
		}
		// The group is the one this test started (Setpgid above).
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
		for range 50 {
			if os.RemoveAll(profile) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Errorf("could not remove chromium profile %s", profile)
	})
	found := make(chan string, 1)
	var logMu sync.Mutex
	var log []string
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			logMu.Lock()
			log = append(log, line)
			logMu.Unlock()
			if _, after, ok := strings.Cut(line, "DevTools listening on "); ok {
				found <- strings.TrimSpace(after)
			}
		}
	}()
	var wsURL string
	select {
	case wsURL = <-found:
	case <-time.After(30 * time.Second):
		logMu.Lock()
		defer logMu.Unlock()
		t.Fatalf("chromium did not start:\n%s", strings.Join(log, "\n"))
	}
	conn, _, err := websocket.DefaultDialer.Dial(wsURL, nil)
	require.NoError(t, err)
	c = &cdp{t: t, conn: conn}
	var target struct {
		TargetID string `json:"targetId"`
	}
	require.NoError(t, json.Unmarshal(c.call("Target.createTarget", map[string]any{"url": "about:blank"}, false), &target))
	var attached struct {
		SessionID string `json:"sessionId"`
	}
	require.NoError(t, json.Unmarshal(c.call("Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, false), &attached))
	c.session = attached.SessionID
	c.call("Page.enable", map[string]any{}, true)
	return c
}

// relyingParty is a tiny OIDC client standing in for the proxy outpost: it
// starts the code flow with PKCE and, on the callback, exchanges the code
// and shows whom the ID token names.
type relyingParty struct {
	srv              *httptest.Server
	core             string
	clientID, secret string
}

func (rp *relyingParty) redirectURI() string {
	return rp.srv.URL + "/outpost.goauthentik.io/callback?X-authentik-auth-callback=true"
}

func (rp *relyingParty) handler(w http.ResponseWriter, r *http.Request) {
	const verifier = "chromium-test-verifier-0123456789abcdefghijklmnop"
	switch r.URL.Path {
	case "/start":
		sum := sha256.Sum256([]byte(verifier))
		q := url.Values{
			"client_id": {rp.clientID}, "redirect_uri": {rp.redirectURI()}, "response_type": {"code"},
			"scope": {"openid profile email ak_proxy"}, "state": {"st"}, "nonce": {"nn"},
			"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
		}
		http.Redirect(w, r, rp.core+"application/o/authorize/?"+q.Encode(), http.StatusFound)
	case "/outpost.goauthentik.io/callback":
		if r.URL.Query().Get("state") != "st" {
			http.Error(w, "bad state", http.StatusBadRequest)
			return
		}
		form := url.Values{"grant_type": {"authorization_code"}, "code": {r.URL.Query().Get("code")},
			"redirect_uri": {rp.redirectURI()}, "code_verifier": {verifier},
			"client_id": {rp.clientID}, "client_secret": {rp.secret}}
		resp, err := http.PostForm(rp.core+"application/o/token/", form)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		var tok map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != http.StatusOK {
			http.Error(w, fmt.Sprintf("token exchange failed: %d %v", resp.StatusCode, tok), http.StatusBadGateway)
			return
		}
		// The signature is checked by the other tests; here the
		// browser round trip is what counts.
		parts := strings.Split(tok["id_token"].(string), ".")
		payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
		var claims map[string]any
		_ = json.Unmarshal(payload, &claims)
		fmt.Fprintf(w, `<!DOCTYPE html><html><body><p id="who">%s</p></body></html>`, html.EscapeString(fmt.Sprint(claims["preferred_username"])))
	default:
		http.NotFound(w, r)
	}
}

func TestOIDCChromiumLogin(t *testing.T) {
	t.Parallel()
	rp := &relyingParty{clientID: "browser-client", secret: "browser-secret"}
	rp.srv = httptest.NewServer(http.HandlerFunc(rp.handler))
	t.Cleanup(rp.srv.Close)
	extra := fmt.Sprintf(`version: 1
entries:
  - model: authentik_providers_proxy.proxyprovider
    id: p
    identifiers: {name: browser-provider}
    attrs:
      authorization_flow: !Find [authentik_flows.flow, [slug, default-provider-authorization-implicit-consent]]
      external_host: %s
      client_id: browser-client
      client_secret: browser-secret
      signing_key: !Find [authentik_crypto.certificatekeypair, [name, devcore proxy signing key]]
  - model: authentik_core.application
    id: app
    identifiers: {slug: browser-app}
    attrs: {name: Browser App, provider: !KeyOf p}
  - {model: authentik_policies.policybinding, identifiers: {target: !KeyOf app, group: !Find [authentik_core.group, [name, engineering]]}, attrs: {order: 0}}
`, rp.srv.URL)
	core := devcoretest.Start(t, devcoretest.WithDemo(), devcoretest.WithBlueprint("zz-browser.yaml", extra)) // loads after demo.yaml
	rp.core = core.URL
	// Started after the core so that its cleanup, which runs first, closes
	// the browser's connections before the core shuts down.
	browser := startChromium(t)

	for _, tc := range []struct {
		user, password, want string
	}{
		{"alice", "alice-password", "alice"},
		{"eve", "eve-password", "Permission denied"},
	} {
		// Each user starts without cookies.
		browser.call("Network.clearBrowserCookies", map[string]any{}, true)
		browser.call("Page.navigate", map[string]any{"url": rp.srv.URL + "/start"}, true)
		browser.waitFor("the username field", `document.getElementById("uid_field") ? "yes" : ""`)
		browser.eval(fmt.Sprintf(`document.getElementById("uid_field").value = %q; document.getElementById("submit").click(); ""`, tc.user))
		browser.waitFor("the password field", `document.getElementById("password") ? "yes" : ""`)
		browser.eval(fmt.Sprintf(`document.getElementById("password").value = %q; document.getElementById("submit").click(); ""`, tc.password))
		if tc.want == "Permission denied" {
			got := browser.waitFor("the denial page", `document.getElementById("title") && document.getElementById("title").innerText.startsWith("Permission") ? document.getElementById("title").innerText : ""`)
			require.Equal(t, tc.want, got)
			continue
		}
		got := browser.waitFor("the relying party's page", `document.getElementById("who") ? document.getElementById("who").innerText : ""`)
		require.Equal(t, tc.want, got)
		require.True(t, strings.HasPrefix(browser.eval("location.href"), rp.srv.URL+"/outpost.goauthentik.io/callback?"))
	}
}
