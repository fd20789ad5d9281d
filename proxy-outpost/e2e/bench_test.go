//go:build bench

// The proxy benchmark is compiled only with -tags bench (scripts/bench
// proxy), so regular test runs neither build nor skip it.

package e2e_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outpost-go/outposts/authclient/devcore/devcoretest"
	"github.com/outpost-go/outposts/authclient/outpost/outposttest"
)

// Settings that matter on a small machine, pinned so that runs compare.
const (
	// benchNginxWorkers is every nginx's worker_processes: one per core
	// of the 2-core machine the README's numbers come from (what "auto"
	// picks there), the same as the outpost's GOMAXPROCS.
	benchNginxWorkers = 2
	benchWrkThreads   = 2
	benchWrkConns     = 32
	// benchKeepalive is every upstream block's idle keep-alive pool: more
	// than wrk's connections, so no hop ever opens a connection per request.
	benchKeepalive = 64
)

// benchIdentityHeaders are the headers the front nginx copies from the
// auth answer to the upstream request, the set README.md documents. Every
// auth_request location copies them, whoever answers.
var benchIdentityHeaders = []string{"username", "groups", "entitlements", "email", "name", "uid", "jwt",
	"meta_jwks", "meta_outpost", "meta_provider", "meta_app", "meta_version"}

// nginxPreamble is what every benchmark nginx shares.
func nginxPreamble(dir string) string {
	return fmt.Sprintf(`worker_processes %[2]d;
daemon off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path %[1]s/client_body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    keepalive_requests 1000000;
`, dir, benchNginxWorkers)
}

// staticNginxConfig is a server answering every request with a static
// body: the application (upstream of every case) or the static auth
// endpoint, each in a process of its own.
func staticNginxConfig(dir string, port int, body string) string {
	return nginxPreamble(dir) + fmt.Sprintf(`    server {
        listen 127.0.0.1:%d;
        location / { return 200 %q; }
    }
}
`, port, body)
}

// frontNginxConfig is the nginx that wrk talks to, one server per case:
//
//	forward: auth_request → the outpost (a)
//	static:  auth_request → the static auth nginx, another process (b)
//	inline:  auth_request answered by this nginx itself, no hop (c)
//	static identity: auth_request → a static 200 carrying the outpost's
//	         identity headers, another process (b')
//	direct:  proxy_pass straight to the application (proxy-mode baseline)
//
// The three auth_request servers are the same but for where the auth
// subrequest goes; every hop is an upstream block with keep-alive and
// HTTP/1.1.
func frontNginxConfig(dir string, appPort, authPort, authIDPort, forwardPort, staticPort, staticIDPort, inlinePort, directPort int, outpost string, compare *compareOutpost) string {
	var copyHeaders strings.Builder
	for _, h := range benchIdentityHeaders {
		fmt.Fprintf(&copyHeaders, "            auth_request_set $authentik_%s $upstream_http_x_authentik_%s;\n", h, h)
		fmt.Fprintf(&copyHeaders, "            proxy_set_header X-authentik-%s $authentik_%s;\n", strings.ReplaceAll(h, "_", "-"), h)
	}
	// authLocation also carries the outpost's own paths (start, callback)
	// in the forward case.
	protected := func(port int, authURI, authLocation, authHandler string) string {
		return fmt.Sprintf(`    server {
        listen 127.0.0.1:%d;
        location / {
            proxy_pass http://app;
            proxy_set_header Connection "";
            auth_request %s;
%s        }
        location %s {
%s        }
    }
`, port, authURI, copyHeaders.String(), authLocation, authHandler)
	}
	// A location's proxy_set_header replaces the http block's: without
	// Connection "" here nginx sends Connection: close and opens a
	// connection per auth subrequest.
	authHop := func(upstream string) string {
		return fmt.Sprintf(`            proxy_pass http://%s;
            proxy_set_header Host $http_host;
            proxy_set_header X-Original-URL $scheme://$http_host$request_uri;
            proxy_set_header Connection "";
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
`, upstream)
	}
	return nginxPreamble(dir) + fmt.Sprintf(`    proxy_buffers 8 16k;
    proxy_buffer_size 32k;
    proxy_http_version 1.1;
    proxy_set_header Connection "";

    upstream app { server 127.0.0.1:%[1]d; keepalive %[3]d; }
    upstream static_auth { server 127.0.0.1:%[2]d; keepalive %[3]d; }
    upstream outpost { server %[4]s; keepalive %[3]d; }
    upstream static_auth_id { server 127.0.0.1:%[5]d; keepalive %[3]d; }

`, appPort, authPort, benchKeepalive, outpost, authIDPort) +
		compare.upstream() +
		protected(forwardPort, "/outpost.goauthentik.io/auth/nginx", "/outpost.goauthentik.io", authHop("outpost")) +
		compare.server(protected, authHop) +
		protected(staticPort, "/auth-static", "= /auth-static", authHop("static_auth")) +
		protected(staticIDPort, "/auth-static-id", "= /auth-static-id", authHop("static_auth_id")) +
		protected(inlinePort, "/auth-inline", "= /auth-inline", "            return 200;\n") +
		fmt.Sprintf(`    server {
        listen 127.0.0.1:%d;
        location / { proxy_pass http://app; }
    }
}
`, directPort)
}

// identityAuthNginxConfig is the like-for-like forward-auth baseline's
// auth server (b'): a static 200 with every header the outpost's answer
// has (ident), the same values, so the front nginx copies the same
// identity headers as with the outpost and the application receives them.
func identityAuthNginxConfig(dir string, port int, ident http.Header) string {
	var addHeaders strings.Builder
	for name, vv := range ident {
		switch name {
		case "Date", "Content-Length", "Content-Type", "Connection":
			continue
		}
		for _, v := range vv {
			fmt.Fprintf(&addHeaders, "            add_header %s %s always;\n", name, nginxQuote(v))
		}
	}
	return nginxPreamble(dir) + fmt.Sprintf(`    server {
        listen 127.0.0.1:%d;
        location / {
%s            return 200;
        }
    }
}
`, port, addHeaders.String())
}

// identityNginxConfig is the like-for-like proxy-mode baseline (d'),
// started once the outpost's real answer is known (ident: the identity
// headers it sends, with their values): proxy_pass to the application with
// the same identity and forwarding headers set as static values. The
// twelve identity headers (the JWT alone is about a kilobyte) are work for
// both nginx and the application that the header-less (d) leaves out.
func identityNginxConfig(dir string, appPort, directPort int, ident http.Header) string {
	var setHeaders strings.Builder
	for _, h := range benchIdentityHeaders {
		name := "X-authentik-" + strings.ReplaceAll(h, "_", "-")
		fmt.Fprintf(&setHeaders, "            proxy_set_header %s %s;\n", name, nginxQuote(ident.Get(name)))
	}
	return nginxPreamble(dir) + fmt.Sprintf(`    proxy_buffers 8 16k;
    proxy_buffer_size 32k;
    proxy_http_version 1.1;
    upstream app { server 127.0.0.1:%[1]d; keepalive %[2]d; }
    server {
        listen 127.0.0.1:%[3]d;
        location / {
            proxy_pass http://app;
            proxy_set_header Connection "";
%[4]s            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Host $http_host;
            proxy_set_header X-Forwarded-Proto $scheme;
        }
    }
}
`, appPort, benchKeepalive, directPort, setHeaders.String())
}

// nginxQuote quotes v as an nginx string.
func nginxQuote(v string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v) + `"`
}

// compareOutpost is another build of the outpost (PROXY_BENCH_COMPARE),
// measured in the same run behind its own front server.
type compareOutpost struct {
	addr        string
	forwardPort int
}

func (c *compareOutpost) upstream() string {
	if c == nil {
		return ""
	}
	return fmt.Sprintf("    upstream outpost_compare { server %s; keepalive %d; }\n\n", c.addr, benchKeepalive)
}

func (c *compareOutpost) server(protected func(port int, authURI, authLocation, authHandler string) string, authHop func(string) string) string {
	if c == nil {
		return ""
	}
	return protected(c.forwardPort, "/outpost.goauthentik.io/auth/nginx", "/outpost.goauthentik.io", authHop("outpost_compare"))
}

type wrkResult struct {
	rps      float64
	p50, p99 time.Duration
	requests float64
	// cpu is CPU time per request (µs) of each process group, by name.
	cpu map[string]float64
	// sleeps are voluntary context switches per request of each process
	// group: how often its threads waited, each wait ended by a wake-up.
	sleeps map[string]float64
	// preempts are involuntary context switches per request: the kernel
	// took the processor from a thread that could have gone on.
	preempts map[string]float64
}

var (
	wrkRPS = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkP   = regexp.MustCompile(`(?m)^\s+(50|99)(?:\.000)?%\s+(\S+)`)
	wrkN   = regexp.MustCompile(`([0-9]+) requests in`)
)

func runWrk(t *testing.T, bin, name, u, host, cookie string, dur time.Duration) wrkResult {
	t.Helper()
	args := []string{"-t" + strconv.Itoa(benchWrkThreads), "-c" + strconv.Itoa(benchWrkConns), "-d" + dur.String(), "--latency"}
	if host != "" {
		args = append(args, "-H", "Host: "+host)
	}
	if cookie != "" {
		args = append(args, "-H", "Cookie: "+cookie)
	}
	args = append(args, u)
	cmd := exec.CommandContext(context.Background(), bin, args...)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	wrkCPU := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	var wrkSleeps, wrkPreempts float64
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		wrkSleeps, wrkPreempts = float64(ru.Nvcsw), float64(ru.Nivcsw)
	}
	require.NotContains(t, string(out), "Non-2xx", "%s: some requests failed:\n%s", name, out)
	m := wrkRPS.FindSubmatch(out)
	require.NotNil(t, m, "%s", out)
	rps, err := strconv.ParseFloat(string(m[1]), 64)
	require.NoError(t, err)
	n := wrkN.FindSubmatch(out)
	require.NotNil(t, n, "%s", out)
	requests, err := strconv.ParseFloat(string(n[1]), 64)
	require.NoError(t, err)
	r := wrkResult{rps: rps, requests: requests,
		cpu:      map[string]float64{"wrk": float64(wrkCPU.Microseconds()) / requests},
		sleeps:   map[string]float64{"wrk": wrkSleeps / requests},
		preempts: map[string]float64{"wrk": wrkPreempts / requests}}
	for _, p := range wrkP.FindAllSubmatch(out, -1) {
		d, err := time.ParseDuration(string(p[2]))
		require.NoError(t, err, "%s", out)
		if string(p[1]) == "50" {
			r.p50 = d
		} else {
			r.p99 = d
		}
	}
	return r
}

// clockTicks is Linux's USER_HZ, the unit of /proc/<pid>/stat's times.
const clockTicks = 100

// usage is what cpuMeter reads of a process group.
type usage struct {
	cpu      time.Duration
	sleeps   int64 // voluntary context switches of every thread
	preempts int64 // involuntary ones
}

// groupPids are pid and its children (nginx's workers).
func groupPids(pid int) []int {
	pids := []int{pid}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid)); err == nil {
		for _, f := range strings.Fields(string(b)) {
			if c, err := strconv.Atoi(f); err == nil {
				pids = append(pids, c)
			}
		}
	}
	return pids
}

// readUsage is the user and system CPU time and the voluntary and
// involuntary context switches of pid and of its children, from /proc.
func readUsage(pid int) (usage, error) {
	var u usage
	var ticks int64
	for _, p := range groupPids(pid) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			return u, fmt.Errorf("cpu time of %d: %w", p, err)
		}
		// The fields after the command name, which may hold spaces: state
		// is the first, utime and stime the 12th and 13th.
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(f) < 13 {
			return u, fmt.Errorf("cpu time of %d: short stat", p)
		}
		for _, v := range f[11:13] {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return u, fmt.Errorf("cpu time of %d: %w", p, err)
			}
			ticks += n
		}
		// Per thread: a process's own status counts its main thread only.
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", p))
		for _, task := range tasks {
			b, err := os.ReadFile(task)
			if err != nil {
				continue // the thread ended
			}
			for line := range strings.Lines(string(b)) {
				if v, ok := strings.CutPrefix(line, "voluntary_ctxt_switches:"); ok {
					n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
					u.sleeps += n
				} else if v, ok := strings.CutPrefix(line, "nonvoluntary_ctxt_switches:"); ok {
					n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
					u.preempts += n
				}
			}
		}
	}
	u.cpu = time.Duration(ticks) * time.Second / clockTicks
	return u, nil
}

// cpuMeter reads the CPU time, waits and preemptions of named process
// groups.
type cpuMeter struct {
	names []string
	pids  map[string]int
}

func (m *cpuMeter) add(name string, pid int) {
	m.names = append(m.names, name)
	m.pids[name] = pid
}

func (m *cpuMeter) read(t *testing.T) map[string]usage {
	t.Helper()
	out := map[string]usage{}
	for name, pid := range m.pids {
		u, err := readUsage(pid)
		require.NoError(t, err)
		out[name] = u
	}
	return out
}

// benchCase is one setup wrk drives.
type benchCase struct {
	key, name   string
	url, host   string
	cookie      string
	profileName string // the outpost's CPU profile is taken during this case
	results     []wrkResult
}

func (c *benchCase) median() wrkResult {
	var rps []float64
	var p50, p99 []time.Duration
	for _, r := range c.results {
		rps, p50, p99 = append(rps, r.rps), append(p50, r.p50), append(p99, r.p99)
	}
	return wrkResult{rps: median(rps), p50: median(p50), p99: median(p99),
		cpu:      c.perProcessMedian(func(r wrkResult) map[string]float64 { return r.cpu }),
		sleeps:   c.perProcessMedian(func(r wrkResult) map[string]float64 { return r.sleeps }),
		preempts: c.perProcessMedian(func(r wrkResult) map[string]float64 { return r.preempts })}
}

// perProcessMedian is the median over the rounds of one per-process value.
func (c *benchCase) perProcessMedian(value func(wrkResult) map[string]float64) map[string]float64 {
	rounds := map[string][]float64{}
	for _, r := range c.results {
		for k, v := range value(r) {
			rounds[k] = append(rounds[k], v)
		}
	}
	m := map[string]float64{}
	for k, v := range rounds {
		m[k] = median(v)
	}
	return m
}

func median[T float64 | time.Duration](xs []T) T {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// ratios are a/b per round (the rounds interleave the cases, so each pair
// ran close together in time).
func ratios(a, b *benchCase) []float64 {
	var out []float64
	for i := range a.results {
		out = append(out, a.results[i].rps/b.results[i].rps)
	}
	return out
}

func envDuration(t *testing.T, name string, def time.Duration) time.Duration {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	require.NoError(t, err, name)
	return d
}

// TestBenchmark is scripts/bench proxy: wrk through nginx in one run,
// alternating rounds of forward auth through the outpost (valid session)
// against auth_request to a static 200 served by another process (and,
// for context, answered by nginx itself), and of proxy mode against nginx
// proxy_pass to the same upstream (and, for context, nginx proxy_pass
// setting the same identity headers).
func TestBenchmark(t *testing.T) {
	outposttest.NeedRedis(t)
	wrk := requireTool(t, "wrk", "wrk")
	nginx := requireTool(t, "nginx", "nginx")
	dur := envDuration(t, "PROXY_BENCH_DURATION", 10*time.Second)
	rounds := 3
	if v := os.Getenv("PROXY_BENCH_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(t, err, "PROXY_BENCH_ROUNDS")
		require.Positive(t, n, "PROXY_BENCH_ROUNDS")
		rounds = n
	}
	profileDir := os.Getenv("PROXY_BENCH_PROFILE")
	// PROXY_BENCH_PERF=<dir> records every process's CPU, kernel included,
	// with perf during each setup's first round (perf report -i
	// <dir>/p.perf.data --sort comm,sym): where the time the Go profile
	// shows as syscalls goes, and what the other processes spend.
	perfDir := os.Getenv("PROXY_BENCH_PERF")
	for _, dir := range []string{profileDir, perfDir} {
		if dir != "" {
			require.NoError(t, os.MkdirAll(dir, 0o755), "the profile directory")
		}
	}

	appPort, authPort := freePort(t), freePort(t)
	fwdPort, staticPort, inlinePort, directPort, outpostPort := freePort(t), freePort(t), freePort(t), freePort(t), freePort(t)
	staticIDPort, authIDPort := freePort(t), freePort(t)
	appURL := fmt.Sprintf("http://127.0.0.1:%d", appPort)
	core := proxyCore(t, outpostPort, appURL, devcoretest.WithBlueprint("zz-bench.yaml", fmt.Sprintf(`version: 1
entries:
  - model: authentik_providers_proxy.proxyprovider
    id: bench
    identifiers:
      name: bench-forward
    attrs:
      authorization_flow: !Find [authentik_flows.flow, [slug, default-provider-authorization-implicit-consent]]
      external_host: http://bench.localhost:%d
      mode: forward_single
  - model: authentik_core.application
    id: bench-app
    identifiers:
      slug: bench-forward
    attrs:
      name: bench
      provider: !KeyOf bench
  - {model: authentik_policies.policybinding, identifiers: {target: !KeyOf bench-app, group: !Find [authentik_core.group, [name, engineering]]}, attrs: {order: 0}}
  - model: authentik_outposts.outpost
    identifiers:
      name: proxy-outpost
    attrs:
      type: proxy
      providers: [!Find [authentik_providers_proxy.proxyprovider, [name, proxy-provider]], !KeyOf bench]
`, fwdPort)))
	prefix := "bench-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	if os.Getenv("PROXY_BENCH_CACHE") == "memory" {
		prefix = ""
	}
	env := map[string]string{"AUTHENTIK_LOG_LEVEL": "warning"}
	// PROXY_BENCH_OUTPOST_ENV passes settings to the outpost (e.g.
	// "GOGC=100 GOMAXPROCS=1"), to compare runtime settings.
	for _, kv := range strings.Fields(os.Getenv("PROXY_BENCH_OUTPOST_ENV")) {
		k, v, ok := strings.Cut(kv, "=")
		require.True(t, ok, "PROXY_BENCH_OUTPOST_ENV: %q is not NAME=value", kv)
		env[k] = v
	}
	debugAddr := ""
	if profileDir != "" {
		debugAddr = fmt.Sprintf("127.0.0.1:%d", freePort(t))
		env["AUTHENTIK_DEBUG"] = "true"
		env["AUTHENTIK_LISTEN__DEBUG"] = debugAddr
	}
	inst := startOutpost(t, core, outpostPort, prefix, env)
	// PROXY_BENCH_COMPARE=<binary> runs another build of the outpost (say,
	// the previous commit's) beside this one: a replica sharing the
	// sessions through Redis, so the same cookies work on both.
	var compare *compareOutpost
	var compareInst *outpostInstance
	if bin := os.Getenv("PROXY_BENCH_COMPARE"); bin != "" {
		require.NotEmpty(t, prefix, "PROXY_BENCH_COMPARE needs the Redis cache to share sessions")
		compare = &compareOutpost{forwardPort: freePort(t)}
		built := binary
		binary = bin
		compareInst = startOutpost(t, core, freePort(t), prefix, map[string]string{"AUTHENTIK_LOG_LEVEL": "warning"})
		binary = built
		compare.addr = compareInst.Addr
	}

	meter := &cpuMeter{pids: map[string]int{}}
	meter.add("outpost", inst.Pid)
	if compareInst != nil {
		meter.add("compared", compareInst.Pid)
	}
	startNginx := func(name string, config func(dir string) string, ports ...int) {
		dir := filepath.Join(t.TempDir(), name)
		require.NoError(t, os.MkdirAll(dir, 0o755))
		conf := filepath.Join(dir, "nginx.conf")
		require.NoError(t, os.WriteFile(conf, []byte(config(dir)), 0o644))
		cmd := exec.Command(nginx, "-p", dir, "-c", conf, "-e", filepath.Join(dir, "error.log"))
		runDaemon(t, cmd, filepath.Join(dir, "error.log"))
		for _, p := range ports {
			waitListening(t, p)
		}
		meter.add("nginx "+name, cmd.Process.Pid)
	}
	startNginx("front", func(dir string) string {
		return frontNginxConfig(dir, appPort, authPort, authIDPort, fwdPort, staticPort, staticIDPort, inlinePort, directPort, inst.Addr, compare)
	}, fwdPort, staticPort, staticIDPort, inlinePort, directPort)
	startNginx("auth", func(dir string) string { return staticNginxConfig(dir, authPort, "") }, authPort)
	startNginx("app", func(dir string) string { return staticNginxConfig(dir, appPort, "ok\n") }, appPort)
	meter.names = append(meter.names, "wrk")

	// One session for each app, as a browser would have.
	fwdApp := fmt.Sprintf("http://bench.localhost:%d", fwdPort)
	proxyApp := fmt.Sprintf("http://app.localhost:%d", outpostPort)
	b := newBrowser(t)
	for _, u := range []string{fwdApp + "/outpost.goauthentik.io/start?rd=" + fwdApp + "/", proxyApp + "/"} {
		resp := b.login(u, "alice", "alice-password", "")
		_ = resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, u)
	}
	cookieFor := func(u string) string {
		pu, err := http.NewRequest(http.MethodGet, u, nil)
		require.NoError(t, err)
		var parts []string
		for _, c := range b.Jar.Cookies(pu.URL) {
			parts = append(parts, c.Name+"="+c.Value)
		}
		require.NotEmpty(t, parts, u)
		return strings.Join(parts, "; ")
	}

	// The identity the outpost answers with, for the like-for-like
	// baselines: asked of the outpost directly, as nginx does.
	identReq, err := http.NewRequest(http.MethodGet, "http://"+inst.Addr+"/outpost.goauthentik.io/auth/nginx", nil)
	require.NoError(t, err)
	identReq.Host = fmt.Sprintf("bench.localhost:%d", fwdPort)
	identReq.Header.Set("X-Original-URL", fwdApp+"/")
	identReq.Header.Set("Cookie", cookieFor(fwdApp+"/"))
	identResp, err := http.DefaultClient.Do(identReq)
	require.NoError(t, err)
	_ = identResp.Body.Close()
	require.Equal(t, http.StatusOK, identResp.StatusCode)
	ident := identResp.Header
	require.NotEmpty(t, ident.Get("X-Authentik-Jwt"))
	for _, h := range benchIdentityHeaders {
		require.NotContains(t, ident.Get("X-authentik-"+strings.ReplaceAll(h, "_", "-")), "$", "an nginx variable in a header value")
	}
	directIDPort := freePort(t)
	startNginx("front'", func(dir string) string { return identityNginxConfig(dir, appPort, directIDPort, ident) }, directIDPort)
	startNginx("auth'", func(dir string) string { return identityAuthNginxConfig(dir, authIDPort, ident) }, authIDPort)
	// startNginx appended it after wrk; wrk stays last.
	meter.names = append(slices.DeleteFunc(meter.names, func(n string) bool { return n == "wrk" }), "wrk")

	// wrk connects to 127.0.0.1 (it cannot resolve *.localhost); the Host
	// header picks the app.
	local := func(port int) string { return fmt.Sprintf("http://127.0.0.1:%d/", port) }
	fwd := &benchCase{key: "a", name: "auth_request -> outpost", url: local(fwdPort),
		host: fmt.Sprintf("bench.localhost:%d", fwdPort), cookie: cookieFor(fwdApp + "/"), profileName: "forward"}
	static := &benchCase{key: "b", name: "auth_request -> static 200 (nginx)", url: local(staticPort)}
	staticID := &benchCase{key: "b'", name: "auth_request -> static 200 + identity", url: local(staticIDPort)}
	inline := &benchCase{key: "c", name: "auth_request -> in-nginx return 200", url: local(inlinePort)}
	proxy := &benchCase{key: "p", name: "proxy mode (outpost -> app)", url: local(outpostPort),
		host: fmt.Sprintf("app.localhost:%d", outpostPort), cookie: cookieFor(proxyApp + "/"), profileName: "proxy"}
	direct := &benchCase{key: "d", name: "nginx proxy_pass -> app", url: local(directPort)}
	directID := &benchCase{key: "d'", name: "nginx proxy_pass + identity -> app", url: local(directIDPort)}
	cases := []*benchCase{fwd, static, staticID, inline, proxy, directID, direct}
	var fwdCompare, proxyCompare *benchCase
	if compare != nil {
		fwdCompare = &benchCase{key: "a'", name: "auth_request -> compared outpost", url: local(compare.forwardPort),
			host: fmt.Sprintf("bench.localhost:%d", compare.forwardPort), cookie: fwd.cookie}
		proxyCompare = &benchCase{key: "p'", name: "proxy mode (compared outpost)", url: "http://" + compareInst.Addr + "/",
			host: proxy.host, cookie: proxy.cookie}
		cases = []*benchCase{fwd, fwdCompare, static, staticID, inline, proxy, proxyCompare, directID, direct}
	}

	// Warm every pool (keep-alive connections, session caches) first.
	for _, c := range cases {
		runWrk(t, wrk, c.name, c.url, c.host, c.cookie, 2*time.Second)
	}
	for round := range rounds {
		order := slices.Clone(cases)
		if round%2 == 1 {
			// Alternate the order, so no setup always runs right after
			// another's load.
			slices.Reverse(order)
		}
		for _, c := range order {
			var profiled chan struct{}
			if round == 0 && profileDir != "" && c.profileName != "" {
				profiled = make(chan struct{})
				go func() {
					defer close(profiled)
					cpuProfile(t, debugAddr, filepath.Join(profileDir, c.profileName+".pprof"), dur-time.Second)
				}()
			}
			var perfDone chan struct{}
			if round == 0 && perfDir != "" {
				perfDone = make(chan struct{})
				go func() {
					defer close(perfDone)
					perfRecord(t, filepath.Join(perfDir, c.key+".perf.data"), dur-time.Second)
				}()
			}
			before := meter.read(t)
			r := runWrk(t, wrk, c.name, c.url, c.host, c.cookie, dur)
			after := meter.read(t)
			for name, u := range after {
				r.cpu[name] = float64((u.cpu - before[name].cpu).Microseconds()) / r.requests
				r.sleeps[name] = float64(u.sleeps-before[name].sleeps) / r.requests
				r.preempts[name] = float64(u.preempts-before[name].preempts) / r.requests
			}
			if profiled != nil {
				<-profiled
			}
			if perfDone != nil {
				<-perfDone
			}
			t.Logf("round %d: %-38s %8.0f req/s  p50 %-9v p99 %v", round+1, c.name, r.rps, r.p50, r.p99)
			c.results = append(c.results, r)
		}
	}

	var report strings.Builder
	fmt.Fprintf(&report, "\nproxy benchmark: wrk -t%d -c%d, %d rounds of %s per setup (alternating), medians;\n"+
		"nginx worker_processes %d, upstream keepalive %d, HTTP/1.1 on every hop\n",
		benchWrkThreads, benchWrkConns, rounds, dur, benchNginxWorkers, benchKeepalive)
	fmt.Fprintf(&report, "  %-42s %9s %9s %9s   %s\n", "", "req/s", "p50", "p99", "req/s per round")
	for _, c := range cases {
		m := c.median()
		var per []string
		for _, r := range c.results {
			per = append(per, strconv.FormatFloat(r.rps, 'f', 0, 64))
		}
		fmt.Fprintf(&report, "  %-4s %-37s %9.0f %9s %9s   %s\n", "("+c.key+")", c.name, m.rps, m.p50.Round(10*time.Microsecond), m.p99.Round(10*time.Microsecond), strings.Join(per, " "))
	}
	perProcess := func(title string, value func(wrkResult) map[string]float64, format string) {
		fmt.Fprintf(&report, "  %s:\n  %-42s", title, "")
		for _, n := range meter.names {
			fmt.Fprintf(&report, " %12s", n)
		}
		fmt.Fprintln(&report)
		for _, c := range cases {
			v := value(c.median())
			fmt.Fprintf(&report, "  %-4s %-37s", "("+c.key+")", c.name)
			for _, n := range meter.names {
				fmt.Fprintf(&report, " "+format, v[n])
			}
			fmt.Fprintln(&report)
		}
	}
	perProcess("CPU time per request (µs; all processes share the 2 cores)", func(r wrkResult) map[string]float64 { return r.cpu }, "%12.1f")
	// A process that waits more often per request handles fewer requests
	// per wake-up: each wait costs a switch and, for the writer that
	// wakes it, the wake-up inside its write.
	perProcess("voluntary context switches (waits) per request", func(r wrkResult) map[string]float64 { return r.sleeps }, "%12.2f")
	// A thread preempted with work in hand delays the requests it holds
	// until its next time slice: the tail (p99) more than the median.
	perProcess("involuntary context switches (preemptions) per request", func(r wrkResult) map[string]float64 { return r.preempts }, "%12.3f")
	ratio := func(label string, a, b *benchCase, target string) {
		rs := ratios(a, b)
		var per []string
		for _, r := range rs {
			per = append(per, strconv.FormatFloat(r, 'f', 2, 64))
		}
		fmt.Fprintf(&report, "  %-42s %9.2f %-19s   %s\n", label, median(rs), target, strings.Join(per, " "))
	}
	ratio("forward auth (a)/(b)", fwd, static, "(target >= 0.80)")
	ratio("context: (a)/(b'), same headers", fwd, staticID, "")
	ratio("context: (b')/(b), the headers alone", staticID, static, "")
	ratio("context: (a)/(c)", fwd, inline, "")
	ratio("context: (b)/(c)", static, inline, "")
	ratio("proxy mode (p)/(d)", proxy, direct, "(target >= 0.70)")
	ratio("context: (p)/(d'), same headers", proxy, directID, "")
	if compare != nil {
		ratio("this build vs compared: (a)/(a')", fwd, fwdCompare, "")
		ratio("this build vs compared: (p)/(p')", proxy, proxyCompare, "")
	}
	t.Log(report.String())
	if out := os.Getenv("PROXY_BENCH_REPORT"); out != "" {
		require.NoError(t, os.WriteFile(out, []byte(report.String()), 0o644))
	}
}

// perfRecord samples every CPU's stacks over d into path.
func perfRecord(t *testing.T, path string, d time.Duration) {
	secs := strconv.Itoa(max(1, int(d.Seconds())))
	out, err := exec.Command("perf", "record", "-a", "-g", "-q", "-o", path, "--", "sleep", secs).CombinedOutput()
	if err != nil {
		t.Errorf("perf record: %v: %s", err, out)
	}
}

// cpuProfile saves the outpost's CPU profile over d (AUTHENTIK_DEBUG's
// pprof listener) to path.
func cpuProfile(t *testing.T, debugAddr, path string, d time.Duration) {
	u := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", debugAddr, max(1, int(d.Seconds())))
	resp, err := http.Get(u)
	if err != nil {
		t.Errorf("cpu profile: %v", err)
		return
	}
	defer func() { _ = resp.Body.Close() }()
	f, err := os.Create(path)
	if err != nil {
		t.Errorf("cpu profile: %v", err)
		return
	}
	defer func() { _ = f.Close() }()
	if _, err := io.Copy(f, resp.Body); err != nil {
		t.Errorf("cpu profile: %v", err)
	}
}
