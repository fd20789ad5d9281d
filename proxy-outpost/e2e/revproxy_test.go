package e2e_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// requireTool returns the path of a program the test needs; without it the
// test fails under CI=true and is skipped otherwise.
func requireTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		for _, dir := range []string{"/usr/sbin", "/usr/bin", "/usr/local/bin"} {
			if _, statErr := os.Stat(filepath.Join(dir, name)); statErr == nil {
				return filepath.Join(dir, name)
			}
		}
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required (apt-get install -y %s)", name, pkg)
		}
		t.Skipf("needs %s (apt-get install -y %s)", name, pkg)
	}
	return p
}

// runDaemon starts cmd, stops it at cleanup and attaches logFile to the
// output when the test failed.
func runDaemon(t *testing.T, cmd *exec.Cmd, logFile string) {
	t.Helper()
	out, err := os.Create(logFile + ".out")
	require.NoError(t, err)
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, cmd.Start())
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		_ = out.Close()
		if t.Failed() {
			for _, f := range []string{logFile, logFile + ".out"} {
				if b, err := os.ReadFile(f); err == nil {
					t.Logf("%s:\n%s", filepath.Base(f), b)
				}
			}
		}
	})
}

func waitListening(t *testing.T, port int) {
	t.Helper()
	require.Eventually(t, func() bool {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 200*time.Millisecond)
		if err != nil {
			return false
		}
		_ = c.Close()
		return true
	}, 20*time.Second, 20*time.Millisecond)
}

// nginxConfig is the configuration the README documents, for one server
// block protecting upstream through the outpost's auth_request endpoint.
func nginxConfig(dir string, port int, outpost, upstream string) string {
	headers := []string{"username", "groups", "entitlements", "email", "name", "uid", "jwt",
		"meta_jwks", "meta_outpost", "meta_provider", "meta_app", "meta_version"}
	var set, pass strings.Builder
	for _, h := range headers {
		fmt.Fprintf(&set, "            auth_request_set $authentik_%s $upstream_http_x_authentik_%s;\n", h, h)
		fmt.Fprintf(&pass, "            proxy_set_header X-authentik-%s $authentik_%s;\n", strings.ReplaceAll(h, "_", "-"), h)
	}
	return fmt.Sprintf(`worker_processes 1;
daemon off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log info;
events { worker_connections 256; }
http {
    access_log %[1]s/access.log;
    client_body_temp_path %[1]s/client_body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    # Identity headers can be large (groups, jwt).
    proxy_buffers 8 16k;
    proxy_buffer_size 32k;

    server {
        listen 127.0.0.1:%[2]d;
        server_name _;

        location / {
            proxy_pass %[4]s;
            proxy_set_header Host $http_host;

            auth_request /outpost.goauthentik.io/auth/nginx;
            error_page 401 = @goauthentik_proxy_signin;
            auth_request_set $auth_cookie $upstream_http_set_cookie;
            add_header Set-Cookie $auth_cookie;

%[5]s
%[6]s
            # basic_auth_enabled: the Authorization header built from user attributes.
            auth_request_set $authentik_auth $upstream_http_authorization;
            proxy_set_header Authorization $authentik_auth;
            # additionalHeaders from user/group attributes: one pair per header.
            auth_request_set $authentik_x_team $upstream_http_x_team;
            proxy_set_header X-Team $authentik_x_team;
        }

        location /outpost.goauthentik.io {
            proxy_pass http://%[3]s/outpost.goauthentik.io;
            proxy_set_header Host $http_host;
            proxy_set_header X-Original-URL $scheme://$http_host$request_uri;
            add_header Set-Cookie $auth_cookie;
            auth_request_set $auth_cookie $upstream_http_set_cookie;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
        }

        location @goauthentik_proxy_signin {
            internal;
            add_header Set-Cookie $auth_cookie;
            return 302 /outpost.goauthentik.io/start?rd=$scheme://$http_host$request_uri;
        }
    }
}
`, dir, port, outpost, upstream, set.String(), pass.String())
}

func startNginx(t *testing.T, port int, outpost, upstream string) {
	t.Helper()
	bin := requireTool(t, "nginx", "nginx")
	dir := t.TempDir()
	conf := filepath.Join(dir, "nginx.conf")
	require.NoError(t, os.WriteFile(conf, []byte(nginxConfig(dir, port, outpost, upstream)), 0o644))
	cmd := exec.CommandContext(context.Background(), bin, "-p", dir, "-c", conf, "-e", filepath.Join(dir, "error.log"))
	runDaemon(t, cmd, filepath.Join(dir, "error.log"))
	waitListening(t, port)
}

// caddyConfig is the Caddyfile the README documents.
func caddyConfig(dir, host string, port int, outpost, upstream string) string {
	return fmt.Sprintf(`{
	admin off
	auto_https off
	storage file_system %[1]s/data
}

http://%[2]s:%[3]d {
	bind 127.0.0.1
	log {
		output file %[1]s/access.log
	}
	route {
		# The outpost's own paths (start, callback, sign_out).
		reverse_proxy /outpost.goauthentik.io/* %[4]s

		forward_auth %[4]s {
			uri /outpost.goauthentik.io/auth/caddy
			# Capitalised as Caddy writes them; uncopied names are removed
			# from the request, so clients cannot send their own.
			copy_headers X-Authentik-Username X-Authentik-Groups X-Authentik-Entitlements X-Authentik-Email X-Authentik-Name X-Authentik-Uid X-Authentik-Jwt X-Authentik-Meta-Jwks X-Authentik-Meta-Outpost X-Authentik-Meta-Provider X-Authentik-Meta-App X-Authentik-Meta-Version
			trusted_proxies private_ranges
		}

		reverse_proxy %[5]s
	}
}
`, dir, host, port, outpost, upstream)
}

func startCaddy(t *testing.T, host string, port int, outpost, upstream string) {
	t.Helper()
	bin := requireTool(t, "caddy", "caddy")
	dir := t.TempDir()
	conf := filepath.Join(dir, "Caddyfile")
	require.NoError(t, os.WriteFile(conf, []byte(caddyConfig(dir, host, port, outpost, upstream)), 0o644))
	cmd := exec.CommandContext(context.Background(), bin, "run", "--config", conf, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	runDaemon(t, cmd, filepath.Join(dir, "access.log"))
	waitListening(t, port)
	require.Eventually(t, func() bool {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/outpost.goauthentik.io/ping", port))
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode != http.StatusBadGateway
	}, 20*time.Second, 50*time.Millisecond)
}
