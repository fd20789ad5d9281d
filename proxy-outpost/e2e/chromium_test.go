package e2e_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// devtools drives one headless Chromium page over the DevTools protocol.
type devtools struct {
	t       *testing.T
	mu      sync.Mutex
	conn    *websocket.Conn
	seq     int
	session string
}

// send runs one command; the error is the browser's message, if any.
func (d *devtools) send(method string, params map[string]any, onPage bool) (json.RawMessage, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.seq++
	msg := map[string]any{"id": d.seq, "method": method, "params": params}
	if onPage {
		msg["sessionId"] = d.session
	}
	_ = d.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if err := d.conn.WriteJSON(msg); err != nil {
		return nil, fmt.Errorf("write %s: %w", method, err)
	}
	_ = d.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		var resp struct {
			ID     int             `json:"id"`
			Result json.RawMessage `json:"result"`
			Error  *struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := d.conn.ReadJSON(&resp); err != nil {
			return nil, fmt.Errorf("read %s: %w", method, err)
		}
		if resp.ID != d.seq {
			continue // an event
		}
		if resp.Error != nil {
			return nil, fmt.Errorf("%s: %s", method, resp.Error.Message)
		}
		return resp.Result, nil
	}
}

// js evaluates expr in the page; "" while the page is changing.
func (d *devtools) js(expr string) string {
	raw, err := d.send("Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true}, true)
	if err != nil {
		return ""
	}
	var res struct {
		Result struct {
			Value any `json:"value"`
		} `json:"result"`
	}
	if json.Unmarshal(raw, &res) != nil {
		return ""
	}
	s, _ := res.Result.Value.(string)
	return s
}

func (d *devtools) until(what, expr string) string {
	d.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if v := d.js(expr); v != "" {
			return v
		}
		time.Sleep(50 * time.Millisecond)
	}
	d.t.Fatalf("timed out waiting for %s at %s: %s", what, d.js("location.href"), d.js("document.body ? document.body.innerText : ''"))
	return ""
}

func launchChromium(t *testing.T) *devtools {
	t.Helper()
	bin := ""
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium is required (apt-get install -y chromium)")
		}
		t.Skip("needs chromium (apt-get install -y chromium)")
	}
	profile, err := os.MkdirTemp("", "proxy-e2e-chromium-")
	require.NoError(t, err)
	cmd := exec.Command(bin,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
		"--host-resolver-rules=MAP *.localhost 127.0.0.1",
		"--user-data-dir="+profile, "--remote-debugging-port=0", "about:blank")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	d := &devtools{t: t}
	t.Cleanup(func() {
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		if d.conn != nil {
			_, _ = d.send("Browser.close", map[string]any{}, false)
			_ = d.conn.Close()
		}
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
		}
		// The process group this test started (Setpgid above).
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
		for range 50 {
			if os.RemoveAll(profile) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	wsURL := make(chan string, 1)
	var logMu sync.Mutex
	var lines []string
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logMu.Lock()
			lines = append(lines, sc.Text())
			logMu.Unlock()
			if _, after, ok := strings.Cut(sc.Text(), "DevTools listening on "); ok {
				wsURL <- strings.TrimSpace(after)
			}
		}
	}()
	var u string
	select {
	case u = <-wsURL:
	case <-time.After(30 * time.Second):
		logMu.Lock()
		defer logMu.Unlock()
		t.Fatalf("chromium did not start:\n%s", strings.Join(lines, "\n"))
	}
	d.conn, _, err = websocket.DefaultDialer.Dial(u, nil)
	require.NoError(t, err)
	raw, err := d.send("Target.createTarget", map[string]any{"url": "about:blank"}, false)
	require.NoError(t, err)
	var target struct {
		TargetID string `json:"targetId"`
	}
	require.NoError(t, json.Unmarshal(raw, &target))
	raw, err = d.send("Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, false)
	require.NoError(t, err)
	var att struct {
		SessionID string `json:"sessionId"`
	}
	require.NoError(t, json.Unmarshal(raw, &att))
	d.session = att.SessionID
	_, err = d.send("Page.enable", map[string]any{}, true)
	require.NoError(t, err)
	return d
}

// A real browser logs in with a password and a TOTP code through the
// core's login page, comes back to the application, and the upstream sees
// who it is.
func TestChromiumLogin(t *testing.T) {
	t.Parallel()
	requireRedis(t)
	d := launchChromium(t)
	up := upstream(t)
	port := freePort(t)
	core := proxyCore(t, port, up.URL)
	startOutpost(t, core, port, "e2e-"+t.Name(), nil)
	app := fmt.Sprintf("http://app.localhost:%d/dashboard", port)

	_, err := d.send("Page.navigate", map[string]any{"url": app}, true)
	require.NoError(t, err)
	// Fill each stage the login page shows until we are back on the app.
	fill := `(function(){
	  if (location.host.indexOf("app.localhost") === 0) return "done";
	  const f = document.getElementById("flow-form"); if (!f || f.dataset.sent) return "";
	  const set = (id, v) => { const e = document.getElementById(id); if (e) e.value = v; };
	  set("uid_field", "carol"); set("password", "carol-password"); set("code", %q);
	  f.dataset.sent = "1"; HTMLFormElement.prototype.submit.call(f); return "";
	})()`
	deadline := time.Now().Add(30 * time.Second)
	for d.js(fmt.Sprintf(fill, totpNow(t))) != "done" {
		require.True(t, time.Now().Before(deadline), "login did not finish: %s %s", d.js("location.href"), d.js("document.body ? document.body.innerText : ''"))
		time.Sleep(100 * time.Millisecond)
	}
	body := d.until("the application page", `document.body && document.body.innerText.indexOf("X-Authentik-Username") >= 0 ? document.body.innerText : ""`)
	var e echo
	require.NoError(t, json.Unmarshal([]byte(body), &e), body)
	assert.Equal(t, "/dashboard", e.Path)
	assert.Equal(t, "carol", e.header("X-Authentik-Username"))
	assert.Contains(t, e.header("X-Authentik-Groups"), "backend")
	assert.Equal(t, "carol@example.com", e.header("X-Authentik-Email"))

	// The session cookie is HttpOnly: page scripts cannot read it.
	assert.NotContains(t, d.js("document.cookie"), "authentik_proxy_")
}
