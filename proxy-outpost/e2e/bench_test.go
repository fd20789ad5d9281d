//go:build bench

// The proxy benchmark is compiled only with -tags bench (scripts/bench
// proxy), so regular test runs neither build nor skip it.

package e2e_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outpost-go/outposts/authclient/devcore/devcoretest"
)

// benchNginxConfig has four servers on one nginx:
//
//	upstream: the application, a static 200
//	forward:  auth_request to the outpost, then the application
//	static:   auth_request to a static 200, then the application (baseline)
//	direct:   proxy_pass straight to the application (proxy-mode baseline)
func benchNginxConfig(dir string, upstreamPort, forwardPort, staticPort, directPort int, outpost string) string {
	return fmt.Sprintf(`worker_processes auto;
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
    proxy_buffers 8 16k;
    proxy_buffer_size 32k;
    proxy_http_version 1.1;
    proxy_set_header Connection "";

    upstream app { server 127.0.0.1:%[2]d; keepalive 64; }
    upstream outpost { server %[6]s; keepalive 64; }

    server {
        listen 127.0.0.1:%[2]d;
        location / { return 200 "ok\n"; }
        location = /auth-static { return 200; }
    }
    server {
        listen 127.0.0.1:%[3]d;
        location / {
            proxy_pass http://app;
            auth_request /outpost.goauthentik.io/auth/nginx;
            auth_request_set $authentik_username $upstream_http_x_authentik_username;
            auth_request_set $authentik_groups $upstream_http_x_authentik_groups;
            auth_request_set $authentik_email $upstream_http_x_authentik_email;
            auth_request_set $authentik_uid $upstream_http_x_authentik_uid;
            proxy_set_header X-authentik-username $authentik_username;
            proxy_set_header X-authentik-groups $authentik_groups;
            proxy_set_header X-authentik-email $authentik_email;
            proxy_set_header X-authentik-uid $authentik_uid;
        }
        location /outpost.goauthentik.io {
            proxy_pass http://outpost/outpost.goauthentik.io;
            proxy_set_header Host $http_host;
            proxy_set_header X-Original-URL $scheme://$http_host$request_uri;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            # A location's proxy_set_header replaces the http block's:
            # without this nginx sends Connection: close and opens a new
            # connection per auth subrequest (to the outpost and to the
            # static baseline alike).
            proxy_set_header Connection "";
        }
    }
    server {
        listen 127.0.0.1:%[4]d;
        location / {
            proxy_pass http://app;
            auth_request /auth-static;
        }
        location = /auth-static {
            internal;
            proxy_pass http://app/auth-static;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            # A location's proxy_set_header replaces the http block's:
            # without this nginx sends Connection: close and opens a new
            # connection per auth subrequest (to the outpost and to the
            # static baseline alike).
            proxy_set_header Connection "";
        }
    }
    server {
        listen 127.0.0.1:%[5]d;
        location / { proxy_pass http://app; }
    }
}
`, dir, upstreamPort, forwardPort, staticPort, directPort, outpost)
}

type wrkResult struct {
	rps float64
	p50 string
	p99 string
}

var (
	wrkRPS = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkP   = regexp.MustCompile(`(?m)^\s+(50|99)%\s+(\S+)`)
)

func runWrk(t *testing.T, bin, name, u, host, cookie string, dur time.Duration) wrkResult {
	t.Helper()
	args := []string{"-t2", "-c32", "-d" + dur.String(), "--latency"}
	if host != "" {
		args = append(args, "-H", "Host: "+host)
	}
	if cookie != "" {
		args = append(args, "-H", "Cookie: "+cookie)
	}
	args = append(args, u)
	out, err := exec.CommandContext(context.Background(), bin, args...).CombinedOutput()
	require.NoError(t, err, "%s", out)
	t.Logf("%s (%s):\n%s", name, u, out)
	m := wrkRPS.FindSubmatch(out)
	require.NotNil(t, m, "%s", out)
	rps, err := strconv.ParseFloat(string(m[1]), 64)
	require.NoError(t, err)
	r := wrkResult{rps: rps}
	for _, p := range wrkP.FindAllSubmatch(out, -1) {
		if string(p[1]) == "50" {
			r.p50 = string(p[2])
		} else {
			r.p99 = string(p[2])
		}
	}
	require.True(t, strings.Contains(string(out), "Non-2xx") == false, "%s: some requests failed:\n%s", name, out)
	return r
}

// TestBenchmark is scripts/bench proxy: wrk through nginx in one run,
// forward auth through the outpost (valid session) against auth_request to
// a static 200, and proxy mode against nginx proxy_pass to the same
// upstream.
func TestBenchmark(t *testing.T) {
	requireRedis(t)
	wrk := requireTool(t, "wrk", "wrk")
	nginx := requireTool(t, "nginx", "nginx")
	dur := 10 * time.Second
	if v := os.Getenv("PROXY_BENCH_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		require.NoError(t, err)
		dur = d
	}
	upPort, fwdPort, staticPort, directPort, outpostPort := freePort(t), freePort(t), freePort(t), freePort(t), freePort(t)
	upURL := fmt.Sprintf("http://127.0.0.1:%d", upPort)
	core := proxyCore(t, outpostPort, upURL, devcoretest.WithBlueprint("zz-bench.yaml", fmt.Sprintf(`version: 1
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
	inst := startOutpost(t, core, outpostPort, prefix, map[string]string{"AUTHENTIK_LOG_LEVEL": "warning"})

	dir := t.TempDir()
	conf := filepath.Join(dir, "nginx.conf")
	require.NoError(t, os.WriteFile(conf, []byte(benchNginxConfig(dir, upPort, fwdPort, staticPort, directPort, inst.Addr)), 0o644))
	runDaemon(t, exec.Command(nginx, "-p", dir, "-c", conf, "-e", filepath.Join(dir, "error.log")), filepath.Join(dir, "error.log"))
	for _, p := range []int{upPort, fwdPort, staticPort, directPort} {
		waitListening(t, p)
	}

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

	// wrk connects to 127.0.0.1 (it cannot resolve *.localhost); the Host
	// header picks the app.
	fwd := runWrk(t, wrk, "forward auth via outpost", fmt.Sprintf("http://127.0.0.1:%d/", fwdPort), fmt.Sprintf("bench.localhost:%d", fwdPort), cookieFor(fwdApp+"/"), dur)
	static := runWrk(t, wrk, "forward auth via static 200", fmt.Sprintf("http://127.0.0.1:%d/", staticPort), "", "", dur)
	proxy := runWrk(t, wrk, "proxy mode", fmt.Sprintf("http://127.0.0.1:%d/", outpostPort), fmt.Sprintf("app.localhost:%d", outpostPort), cookieFor(proxyApp+"/"), dur)
	direct := runWrk(t, wrk, "nginx proxy_pass", fmt.Sprintf("http://127.0.0.1:%d/", directPort), "", "", dur)

	report := fmt.Sprintf(`
proxy benchmark (wrk -t2 -c32 -d%s, one machine)
  %-34s %10s %10s %10s
  %-34s %10.0f %10s %10s
  %-34s %10.0f %10s %10s
  %-34s %10.2f   (target >= 0.80)
  %-34s %10.0f %10s %10s
  %-34s %10.0f %10s %10s
  %-34s %10.2f   (target >= 0.70)
`, dur, "", "req/s", "p50", "p99",
		"nginx auth_request -> outpost", fwd.rps, fwd.p50, fwd.p99,
		"nginx auth_request -> static 200", static.rps, static.p50, static.p99,
		"forward auth ratio", fwd.rps/static.rps,
		"proxy mode (outpost)", proxy.rps, proxy.p50, proxy.p99,
		"nginx proxy_pass (direct)", direct.rps, direct.p50, direct.p99,
		"proxy mode ratio", proxy.rps/direct.rps)
	t.Log(report)
	if out := os.Getenv("PROXY_BENCH_REPORT"); out != "" {
		require.NoError(t, os.WriteFile(out, []byte(report), 0o644))
	}
}
