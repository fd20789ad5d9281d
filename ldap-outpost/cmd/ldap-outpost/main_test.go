package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/outpost-go/outposts/authclient/devcore/devcoretest"
)

const (
	wait = 30 * time.Second
	tick = 100 * time.Millisecond
)

// Log lines the test waits for. The first is this binary's server; the
// others come from the cache's failover.
const (
	logProviders     = `"event":"received providers"`
	logCacheFallback = "redis cache unavailable, using in-process cache"
	logCacheBack     = "redis cache available again"
)

// need returns the path of a tool the test cannot do without. Without it
// the test fails under CI and is skipped elsewhere.
func need(t *testing.T, tool, install string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not found: install %s", tool, install)
		}
		t.Skipf("%s not found: install %s to run this test", tool, install)
	}
	return p
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	return port
}

// syncBuffer collects a process's output.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *syncBuffer) count(s string) int { return strings.Count(b.String(), s) }

// buildBinary builds this command into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	goTool := need(t, "go", "Go")
	bin := filepath.Join(t.TempDir(), "ldap-outpost")
	cmd := exec.Command(goTool, "build", "-o", bin, ".")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build:\n%s", out)
	return bin
}

// redisServer is a redis-server of the test's own, so it can be stopped.
type redisServer struct {
	t    *testing.T
	path string
	port int
	mu   sync.Mutex
	cmd  *exec.Cmd
	out  *syncBuffer
}

func startRedis(t *testing.T) *redisServer {
	t.Helper()
	r := &redisServer{t: t, path: need(t, "redis-server", "redis-server (apt install redis-server)"), port: freePort(t), out: &syncBuffer{}}
	r.start()
	t.Cleanup(func() {
		r.stop()
		if t.Failed() {
			t.Logf("redis-server output:\n%s", r.out.String())
		}
	})
	return r
}

func (r *redisServer) start() {
	r.t.Helper()
	cmd := exec.Command(r.path, "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", r.t.TempDir())
	cmd.Stdout, cmd.Stderr = r.out, r.out
	require.NoError(r.t, cmd.Start())
	r.mu.Lock()
	r.cmd = cmd
	r.mu.Unlock()
	require.Eventually(r.t, r.answers, wait, tick, "redis-server did not start")
}

// answers reports whether redis answers PING.
func (r *redisServer) answers() bool {
	conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", r.port), time.Second)
	if err != nil {
		return false
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "+PONG")
}

func (r *redisServer) stop() {
	r.mu.Lock()
	cmd := r.cmd
	r.cmd = nil
	r.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
}

// outpostProcess is the running binary.
type outpostProcess struct {
	cmd     *exec.Cmd
	log     *syncBuffer
	metrics string
	exited  chan error
}

func startOutpost(t *testing.T, bin string, env map[string]string) *outpostProcess {
	t.Helper()
	p := &outpostProcess{log: &syncBuffer{}, metrics: env["AUTHENTIK_LISTEN__METRICS"], exited: make(chan error, 1)}
	cmd := exec.Command(bin)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout, cmd.Stderr = p.log, p.log
	require.NoError(t, cmd.Start())
	p.cmd = cmd
	go func() { p.exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.exited
		p.exited <- nil
		if t.Failed() {
			t.Logf("ldap-outpost log:\n%s", p.log.String())
		}
	})
	return p
}

// scrape returns the value of the first sample of name on /metrics.
func (p *outpostProcess) scrape(name string) (float64, bool) {
	resp, err := http.Get("http://" + p.metrics + "/metrics")
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		return v, err == nil
	}
	return 0, false
}

func (p *outpostProcess) ping() int {
	req, err := http.NewRequest(http.MethodHead, "http://"+p.metrics+"/outpost.goauthentik.io/ping", nil)
	if err != nil {
		return 0
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func (p *outpostProcess) gaugeIs(name string, want float64) func() bool {
	return func() bool {
		v, ok := p.scrape(name)
		return ok && v == want
	}
}

// refreshes returns how many provider lists the server received.
func (p *outpostProcess) refreshes() int { return p.log.count(logProviders) }

// refreshed makes the outpost refresh with trigger until
// authentik_outpost_last_update (Unix seconds) passes its value from before.
func (p *outpostProcess) refreshed(t *testing.T, trigger func()) {
	t.Helper()
	before, ok := p.scrape("authentik_outpost_last_update")
	require.True(t, ok)
	require.Eventually(t, func() bool {
		trigger()
		v, ok := p.scrape("authentik_outpost_last_update")
		return ok && v > before
	}, wait, 500*time.Millisecond)
}

// TestStartup runs the real binary against a stand-in core and its own
// Redis: it connects, fetches its providers, refreshes on TRIGGER_UPDATE
// and SIGUSR1, survives a core restart and a Redis outage, and stops
// cleanly on SIGTERM.
func TestStartup(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	bin := buildBinary(t)
	redis := startRedis(t)
	core := devcoretest.Start(t)
	p := startOutpost(t, bin, map[string]string{
		"AUTHENTIK_HOST":                  core.URL,
		"AUTHENTIK_TOKEN":                 core.Token("ldap-outpost"),
		"AUTHENTIK_REDIS__URL":            fmt.Sprintf("redis://127.0.0.1:%d/0", redis.port),
		"AUTHENTIK_REDIS__TIMEOUT":        "1s", // no spurious fallback on a busy test machine
		"AUTHENTIK_LISTEN__METRICS":       fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		"AUTHENTIK_LISTEN__LDAP":          fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		"AUTHENTIK_LISTEN__LDAPS":         fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		"AUTHENTIK_OUTPOST_RELOAD_OFFSET": "100ms",
		"GIT_BUILD_HASH":                  "testbuild",
	})

	t.Log("connects and says HELLO with every arg")
	require.Eventually(t, func() bool {
		in := core.Server.Connected("ldap-outpost")
		return len(in) == 1 && len(in[0].Hello) > 0
	}, wait, tick)
	hello := core.Server.Connected("ldap-outpost")[0].Hello
	for _, key := range []string{"version", "buildHash", "uuid", "golangVersion", "opensslEnabled", "opensslVersion", "fipsEnabled", "hostname"} {
		assert.Contains(t, hello, key)
	}
	assert.Equal(t, version, hello["version"])
	assert.Equal(t, "testbuild", hello["buildHash"])

	t.Log("fetches its providers and serves metrics")
	// Start-up hands the server its providers, then refreshes once more.
	require.Eventually(t, func() bool { return p.refreshes() >= 2 }, wait, tick)
	assert.Contains(t, p.log.String(), `"providers":1`)
	assert.Equal(t, http.StatusNoContent, p.ping())
	require.Eventually(t, p.gaugeIs("authentik_outpost_info", 1), wait, tick)
	require.Eventually(t, p.gaugeIs("authentik_outpost_connection", 1), wait, tick)

	t.Log("refreshes on TRIGGER_UPDATE")
	p.refreshed(t, core.Server.TriggerUpdate)

	t.Log("refreshes on SIGUSR1")
	p.refreshed(t, func() { _ = p.cmd.Process.Signal(syscall.SIGUSR1) })

	t.Log("reconnects after the core restarts")
	core.Stop()
	require.Eventually(t, p.gaugeIs("authentik_outpost_connection", 0), wait, tick)
	assert.Equal(t, http.StatusNoContent, p.ping())
	core.Restart(t)
	require.Eventually(t, p.gaugeIs("authentik_outpost_connection", 1), wait, tick)
	require.Eventually(t, func() bool { return len(core.Server.Connected("ldap-outpost")) == 1 }, wait, tick)

	t.Log("keeps working through a Redis outage")
	require.Zero(t, p.log.count(logCacheFallback), "fell back to memory while Redis was up")
	redis.stop()
	// Each refresh uses the cache; the first use after the outage falls back.
	p.refreshed(t, core.Server.TriggerUpdate)
	require.Eventually(t, func() bool { return p.log.count(logCacheFallback) > 0 }, wait, tick)
	before := p.refreshes()
	p.refreshed(t, core.Server.TriggerUpdate)
	require.Greater(t, p.refreshes(), before)
	assert.Equal(t, http.StatusNoContent, p.ping())
	assert.Equal(t, 1, p.log.count(logCacheFallback), "one fallback line per outage")

	redis.start()
	require.Eventually(t, func() bool { return p.log.count(logCacheBack) == 1 }, wait, tick)
	p.refreshed(t, core.Server.TriggerUpdate)
	assert.Equal(t, 1, p.log.count(logCacheFallback))

	t.Log("stops cleanly on SIGTERM")
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-p.exited:
		p.exited <- err
		require.NoError(t, err, "exit status after SIGTERM")
	case <-time.After(wait):
		t.Fatal("ldap-outpost did not stop after SIGTERM")
	}
	assert.Contains(t, p.log.String(), `"event":"stopped"`)
}
