package devcoretest

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"
)

// ChromiumPath finds a Chromium binary; without one the test fails under
// CI=true and is skipped otherwise.
func ChromiumPath(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium not found; install it (apt-get install -y chromium)")
	}
	t.Skip("chromium not found; install it (apt-get install -y chromium) to run this browser test")
	return ""
}

// Chromium is a headless Chromium driven over the Chrome DevTools Protocol,
// with one page (target) attached.
type Chromium struct {
	t       testing.TB
	conn    *websocket.Conn
	mu      sync.Mutex
	id      int
	session string
}

// Call sends one command and fails the test if the browser reports an
// error. session sends it to the page instead of the browser.
func (c *Chromium) Call(method string, params map[string]any, session bool) json.RawMessage {
	c.t.Helper()
	raw, errMsg := c.Try(method, params, session)
	require.Empty(c.t, errMsg, "%s failed", method)
	return raw
}

// Try sends one command and returns its result or the browser's error
// message (an evaluation racing a navigation fails, and is retried).
func (c *Chromium) Try(method string, params map[string]any, session bool) (json.RawMessage, string) {
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

// Navigate loads url in the page.
func (c *Chromium) Navigate(url string) {
	c.t.Helper()
	c.Call("Page.navigate", map[string]any{"url": url}, true)
}

// Eval runs a JavaScript expression in the page and returns its string
// value ("" when the page is between documents or the value is not a
// string).
func (c *Chromium) Eval(expr string) string {
	c.t.Helper()
	raw, errMsg := c.Try("Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true}, true)
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

// WaitFor polls expr until it yields a non-empty string, and fails the test
// (showing the page) after 20 s.
func (c *Chromium) WaitFor(what, expr string) string {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if v := c.Eval(expr); v != "" {
			return v
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Fatalf("timed out waiting for %s; page is %s: %s", what, c.Eval("location.href"), c.Eval("document.body ? document.body.innerText : ''"))
	return ""
}

// StartChromium starts headless Chromium with a profile of its own and one
// blank page; the test's end closes it. Start it after the servers it will
// talk to, so its cleanup (which runs first) closes its connections before
// they shut down. args are added to Chromium's command line, for example
// "--host-resolver-rules=MAP *.localhost 127.0.0.1".
func StartChromium(t testing.TB, args ...string) *Chromium {
	t.Helper()
	bin := ChromiumPath(t)
	// Chromium's helper processes may still be writing to the profile for
	// a moment after the browser exits, so it is removed once the whole
	// process group is gone.
	profile, err := os.MkdirTemp("", "devcore-chromium-")
	require.NoError(t, err)
	flags := []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
		"--user-data-dir=" + profile, "--remote-debugging-port=0",
	}
	flags = append(flags, args...)
	cmd := exec.Command(bin, append(flags, "about:blank")...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	var c *Chromium
	t.Cleanup(func() {
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		if c != nil {
			_, _ = c.Try("Browser.close", map[string]any{}, false)
			_ = c.conn.Close()
		}
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
		}
		// The group is the one this helper started (Setpgid above).
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
	c = &Chromium{t: t, conn: conn}
	var target struct {
		TargetID string `json:"targetId"`
	}
	require.NoError(t, json.Unmarshal(c.Call("Target.createTarget", map[string]any{"url": "about:blank"}, false), &target))
	var attached struct {
		SessionID string `json:"sessionId"`
	}
	require.NoError(t, json.Unmarshal(c.Call("Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, false), &attached))
	c.session = attached.SessionID
	c.Call("Page.enable", map[string]any{}, true)
	return c
}
