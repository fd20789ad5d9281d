package e2e_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/outpost-go/outposts/authclient/devcore/devcoretest"
	"github.com/outpost-go/outposts/authclient/outpost/outposttest"
	"github.com/outpost-go/outposts/authclient/totp"
)

// handedOut are the ports freePort returned in this process: parallel
// tests asking between a port's release and its use must not get it too.
var handedOut sync.Map

// freePort picks a free port below the kernel's ephemeral range, so no
// outgoing connection of another process takes it between the pick and the
// listener's bind (":0" would hand out ephemeral ports).
func freePort(t *testing.T) int {
	t.Helper()
	for range 1000 {
		p := 20000 + rand.IntN(12000)
		if _, dup := handedOut.LoadOrStore(p, true); dup {
			continue
		}
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		require.NoError(t, ln.Close())
		return p
	}
	t.Fatal("no free port")
	return 0
}

// upstream is an application that echoes what it received.
func upstream(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"path": r.URL.Path, "query": r.URL.RawQuery, "host": r.Host, "headers": r.Header,
		})
	}))
	t.Cleanup(srv.Close)
	return srv
}

type echo struct {
	Path    string              `json:"path"`
	Host    string              `json:"host"`
	Headers map[string][]string `json:"headers"`
}

func (e echo) header(k string) string {
	for hk, v := range e.Headers {
		if strings.EqualFold(hk, k) && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

func decodeEcho(t *testing.T, resp *http.Response) echo {
	t.Helper()
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "body: %s", b)
	var e echo
	require.NoError(t, json.Unmarshal(b, &e), "body: %s", b)
	return e
}

// outpostInstance is one running proxy outpost.
type outpostInstance struct {
	Addr        string
	MetricsAddr string
	Pid         int
	Log         *outposttest.Buffer
	stop        func()
}

// binary is the proxy-outpost binary built once by TestMain.
var binary string

// runID keeps the Redis keys of one test run apart from earlier runs'.
var runID = strconv.FormatInt(time.Now().UnixNano(), 36)

// cleanRedis deletes the test's keys (every replica of a test shares the
// prefix) when the test ends.
func cleanRedis(t *testing.T, prefix string) {
	t.Helper()
	t.Cleanup(func() {
		c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
		defer func() { _ = c.Close() }()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		iter := c.Scan(ctx, 0, prefix+":*", 500).Iterator()
		for iter.Next(ctx) {
			_ = c.Del(ctx, iter.Val()).Err()
		}
	})
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "proxy-outpost-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "proxy-outpost")
	build := exec.Command("go", "build", "-o", binary, "../cmd/proxy-outpost")
	if raceEnabled && os.Getenv("PROXY_E2E_NORACE") == "" {
		build = exec.Command("go", "build", "-race", "-o", binary, "../cmd/proxy-outpost")
	}
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build proxy-outpost:", err)
		_ = os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// startOutpost runs the proxy-outpost binary against dc, serving HTTP on
// port; every instance given the same redisPrefix shares sessions.
func startOutpost(t *testing.T, dc *devcoretest.Core, port int, redisPrefix string, extra map[string]string) *outpostInstance {
	t.Helper()
	env := map[string]string{
		"AUTHENTIK_HOST":            dc.URL,
		"AUTHENTIK_TOKEN":           dc.Token("proxy-outpost"),
		"AUTHENTIK_LISTEN__HTTP":    fmt.Sprintf("127.0.0.1:%d", port),
		"AUTHENTIK_LISTEN__HTTPS":   fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		"AUTHENTIK_LISTEN__METRICS": fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		"AUTHENTIK_LOG_LEVEL":       "debug",
	}
	if redisPrefix != "" {
		redisPrefix += "-" + runID
		cleanRedis(t, redisPrefix)
		env["AUTHENTIK_REDIS__URL"] = "redis://127.0.0.1:6379/0"
		env["AUTHENTIK_REDIS__KEY_PREFIX"] = redisPrefix
		env["AUTHENTIK_REDIS__TIMEOUT"] = "2s"
	}
	for k, v := range extra {
		env[k] = v
	}
	cmd := exec.Command(binary)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	logBuf := &outposttest.Buffer{}
	cmd.Stdout, cmd.Stderr = logBuf, logBuf
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	inst := &outpostInstance{Addr: env["AUTHENTIK_LISTEN__HTTP"], MetricsAddr: env["AUTHENTIK_LISTEN__METRICS"], Pid: cmd.Process.Pid, Log: logBuf}
	var once sync.Once
	inst.stop = func() {
		once.Do(func() {
			_ = cmd.Process.Signal(os.Interrupt)
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("outpost exited: %v", err)
				}
			case <-time.After(20 * time.Second):
				_ = cmd.Process.Kill()
				<-done
				t.Error("outpost did not stop")
			}
		})
	}
	t.Cleanup(func() {
		inst.stop()
		if t.Failed() {
			t.Logf("outpost log:\n%s", logBuf.String())
		}
	})
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + inst.Addr + "/outpost.goauthentik.io/ping")
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusNoContent && strings.Contains(logBuf.String(), "applications updated")
	}, 60*time.Second, 20*time.Millisecond, "outpost did not start")
	return inst
}

// browser is an HTTP client with a cookie jar that reaches every host on
// loopback, keeping the port of the URL (so app.localhost:1234 works
// without DNS).
type browser struct {
	*http.Client
	t *testing.T
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			_, port, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			return dialer.DialContext(ctx, network, "127.0.0.1:"+port)
		},
		DisableKeepAlives: true,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &browser{Client: &http.Client{Jar: jar, Transport: tr, Timeout: 20 * time.Second}, t: t}
}

// via returns a client sharing b's cookies that connects to port whatever
// the URL says: a second replica behind the same host name.
func (b *browser) via(port int) *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, network, fmt.Sprintf("127.0.0.1:%d", port))
		},
		DisableKeepAlives: true,
	}
	return &http.Client{Jar: b.Jar, Transport: tr, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// noRedirect returns the browser's client that stops at the first redirect.
func (b *browser) noRedirect() *http.Client {
	c := *b.Client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

var (
	formAction = regexp.MustCompile(`<form method="post" action="([^"]*)" id="flow-form">`)
	inputName  = regexp.MustCompile(`<input id="[^"]*" name="([^"]*)"`)
)

// get requests u, and when devcore's login page answers, fills it in
// (username, password, code) until the flow lets the browser through.
func (b *browser) login(u, username, password, code string) *http.Response {
	b.t.Helper()
	resp, err := b.Get(u)
	require.NoError(b.t, err)
	for range 6 {
		if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(resp.Request.URL.Path, "/if/flow/") {
			return resp
		}
		body, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		require.NoError(b.t, err)
		m := formAction.FindSubmatch(body)
		require.NotNil(b.t, m, "login page without a form: %s", body)
		action, err := resp.Request.URL.Parse(htmlUnescape(string(m[1])))
		require.NoError(b.t, err)
		form := url.Values{}
		for _, in := range inputName.FindAllSubmatch(body, -1) {
			switch string(in[1]) {
			case "uid_field":
				form.Set("uid_field", username)
			case "password":
				form.Set("password", password)
			case "code":
				form.Set("code", code)
			}
		}
		resp, err = b.PostForm(action.String(), form)
		require.NoError(b.t, err)
	}
	b.t.Fatalf("login did not finish")
	return nil
}

func htmlUnescape(s string) string {
	return strings.NewReplacer("&amp;", "&", "&#43;", "+", "&#39;", "'", "&quot;", `"`, "&lt;", "<", "&gt;", ">").Replace(s)
}

// totpNow is carol's current TOTP code (demo blueprint: the RFC 6238 test
// key, 6 digits, 30 s).
func totpNow(t *testing.T) string {
	t.Helper()
	key, err := hex.DecodeString("3132333435363738393031323334353637383930")
	require.NoError(t, err)
	return totp.Code(key, time.Now(), totp.Default)
}

// requireRedirect gets u with c (which must not follow redirects) and
// requires a 302 whose Location contains want.
func requireRedirect(t *testing.T, c *http.Client, u, want string) {
	t.Helper()
	resp, err := c.Get(u)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusFound, resp.StatusCode, "%s", body)
	assert.Contains(t, resp.Header.Get("Location"), want)
}
