// Package outposttest runs outposts and their neighbours in tests the way
// they run in production: real binaries, a real redis-server, loopback
// ports chosen free. Every outpost module's integration tests use it, so
// none of them grows its own copy.
package outposttest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
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

	"github.com/stretchr/testify/require"

	"github.com/outpost-go/outposts/authclient/outpost"
)

// Wait and Tick are the limits tests give require.Eventually: generous,
// because CI machines are busy; tests never assert how long anything took.
const (
	Wait = 30 * time.Second
	Tick = 50 * time.Millisecond
)

// Need returns the path of a tool the test cannot do without. Without it
// the test fails under CI (CI=true), and is skipped elsewhere with a message
// saying what to install.
func Need(t testing.TB, tool, install string) string {
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

// FreePort returns a loopback TCP port that was free a moment ago. It is
// chosen outside the kernel's ephemeral range (ip_local_port_range): ports
// there also go to outgoing connections as source ports, so one handed out
// by listening on ":0" could be taken by a parallel test's connection
// before the server meant to use it binds it. The port stays reserved for
// the test's lifetime by a lock file, so the test packages go test runs in
// parallel processes never hand out the same port to two servers.
func FreePort(t testing.TB) int {
	t.Helper()
	if spans := freeSpans(ephemeralRange()); len(spans) > 0 {
		for range 100 {
			port := pick(spans)
			if !reserve(t, port) {
				continue
			}
			ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
			if err != nil {
				continue
			}
			require.NoError(t, ln.Close())
			return port
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	return port
}

// reserve takes an exclusive lock on port's file under the system's
// temporary directory until the test ends; false when another test holds
// it. The kernel drops the lock if the process dies; the file is removed
// when the test ends.
func reserve(t testing.TB, port int) bool {
	dir := filepath.Join(os.TempDir(), "outposttest-ports")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return true // no reservations possible; the bind check still applies
	}
	path := filepath.Join(dir, strconv.Itoa(port))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return true
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		return false
	}
	// The holder before may have removed the file between our open and
	// our lock: a lock on a removed file reserves nothing.
	if held, err := f.Stat(); err != nil || !sameFile(held, path) {
		_ = f.Close()
		return false
	}
	t.Cleanup(func() {
		// Removed while still locked, so that nobody locks it after.
		_ = os.Remove(path)
		_ = f.Close()
	})
	return true
}

func sameFile(held os.FileInfo, path string) bool {
	now, err := os.Stat(path)
	return err == nil && os.SameFile(held, now)
}

// minPort is where FreePort starts looking: above the well-known and
// common registered service ports.
const minPort = 20000

// span is a half-open port range [lo, hi).
type span struct{ lo, hi int }

// freeSpans returns the ports from minPort up that lie outside the
// ephemeral range [low, high], leaving out any span too small to make
// collisions between parallel tests unlikely.
func freeSpans(low, high int) []span {
	var spans []span
	for _, s := range []span{{minPort, low}, {high + 1, 65536}} {
		s.lo = max(s.lo, minPort)
		if s.hi-s.lo >= 1000 {
			spans = append(spans, s)
		}
	}
	return spans
}

// pick returns a port uniformly from spans.
func pick(spans []span) int {
	n := 0
	for _, s := range spans {
		n += s.hi - s.lo
	}
	i := rand.IntN(n)
	for _, s := range spans {
		if i < s.hi-s.lo {
			return s.lo + i
		}
		i -= s.hi - s.lo
	}
	panic("unreachable")
}

// ephemeralRange returns the kernel's ephemeral port range (Linux's default
// 32768-60999 when it cannot be read).
func ephemeralRange() (low, high int) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			lo, err1 := strconv.Atoi(f[0])
			hi, err2 := strconv.Atoi(f[1])
			if err1 == nil && err2 == nil && lo <= hi {
				return lo, hi
			}
		}
	}
	return 32768, 60999
}

// FreeAddr returns "127.0.0.1:<port>" for a port that was free a moment ago.
func FreeAddr(t testing.TB) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(t)))
}

// Buffer collects output written from several goroutines or a process.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Count returns how many times s occurs in the output so far.
func (b *Buffer) Count(s string) int { return strings.Count(b.String(), s) }

// Build compiles the main package at pkg (a path relative to the test's
// working directory, such as "." or "./cmd/ldap-outpost") into a
// temporary directory and returns the binary's path.
func Build(t testing.TB, pkg, name string) string {
	t.Helper()
	goTool := Need(t, "go", "Go")
	bin := filepath.Join(t.TempDir(), name)
	out, err := exec.Command(goTool, "build", "-o", bin, pkg).CombinedOutput()
	require.NoError(t, err, "go build %s:\n%s", pkg, out)
	return bin
}

// Process is a running binary whose output is kept for the test log.
type Process struct {
	Log     *Buffer
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
}

// Start runs bin with exactly env (plus PATH and a temporary HOME), and
// kills it when the test ends; its output is logged if the test failed.
func Start(t testing.TB, bin string, env map[string]string, args ...string) *Process {
	t.Helper()
	p := &Process{Log: &Buffer{}, exited: make(chan struct{})}
	cmd := exec.Command(bin, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout, cmd.Stderr = p.Log, p.Log
	require.NoError(t, cmd.Start())
	p.cmd = cmd
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(bin), p.Log.String())
		}
	})
	return p
}

// Signal sends sig to the process.
func (p *Process) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Wait waits up to d for the process to exit and returns its exit code, or
// -1 if it is still running.
func (p *Process) Wait(d time.Duration) int {
	select {
	case <-p.exited:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(d):
		return -1
	}
}

// Scrape returns the value of the first sample named name (any labels) on
// the Prometheus endpoint at http://addr/metrics.
func Scrape(addr, name string) (float64, bool) {
	resp, err := http.Get("http://" + addr + "/metrics")
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

// Ping returns the status of HEAD http://addr/outpost.goauthentik.io/ping,
// or 0 when nothing answers.
func Ping(addr string) int {
	req, err := http.NewRequest(http.MethodHead, "http://"+addr+"/outpost.goauthentik.io/ping", nil)
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

// Redis is a redis-server of the test's own, so a test can stop and
// restart it without disturbing the machine's shared one.
type Redis struct {
	Port int
	t    testing.TB
	path string
	dir  string
	out  *Buffer
	mu   sync.Mutex
	cmd  *exec.Cmd
}

// MachineRedis is the Redis every machine the tests run on has (CI
// installs and starts it in .ci/run).
const MachineRedis = "127.0.0.1:6379"

// NeedRedis returns MachineRedis's address once it accepts connections.
// When it does not, the test fails under CI=true and is skipped otherwise,
// like Need does for a missing tool.
func NeedRedis(t testing.TB) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", MachineRedis, time.Second)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no Redis on %s (%v): install redis-server and start it", MachineRedis, err)
		}
		t.Skipf("no Redis on %s (%v): install redis-server and start it to run this test", MachineRedis, err)
	}
	_ = c.Close()
	return MachineRedis
}

// StartRedis starts a redis-server on a free loopback port; it is stopped
// when the test ends.
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	r := &Redis{
		Port: FreePort(t), t: t, dir: t.TempDir(), out: &Buffer{},
		path: Need(t, "redis-server", "redis-server (apt-get install redis-server)"),
	}
	r.Start()
	t.Cleanup(func() {
		r.Stop()
		if t.Failed() {
			t.Logf("redis-server output:\n%s", r.out.String())
		}
	})
	return r
}

// URL is the server's redis:// URL.
func (r *Redis) URL() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.Port) }

// Start (re)starts the server on its port and waits until it answers.
func (r *Redis) Start() {
	r.t.Helper()
	cmd := exec.Command(r.path, "--port", strconv.Itoa(r.Port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", r.dir)
	cmd.Stdout, cmd.Stderr = r.out, r.out
	require.NoError(r.t, cmd.Start())
	r.mu.Lock()
	r.cmd = cmd
	r.mu.Unlock()
	require.Eventually(r.t, r.Answers, Wait, Tick, "redis-server did not start")
}

// Answers reports whether the server answers PING.
func (r *Redis) Answers() bool {
	conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", r.Port), time.Second)
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

// Stop kills the server, as an outage would.
func (r *Redis) Stop() {
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

// InProcess runs program with outpost.Main inside the test process, with
// exactly env as its environment, until the returned stop is called or
// the test ends. stop returns Main's exit code. Use it where a built
// binary is not needed; it is faster and its coverage counts.
func InProcess[P any](t testing.TB, program outpost.Program[P], env map[string]string) (log *Buffer, stop func() int) {
	t.Helper()
	log = &Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	getenv := func(k string) string { return env[k] }
	go func() { done <- outpost.Main(ctx, nil, getenv, &Buffer{}, log, program) }()
	var once sync.Once
	code := 0
	stop = func() int {
		once.Do(func() {
			cancel()
			select {
			case code = <-done:
			case <-time.After(Wait):
				t.Error("outpost did not stop")
				code = -1
			}
		})
		return code
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("%s log:\n%s", program.Name, log.String())
		}
	})
	return log, stop
}
