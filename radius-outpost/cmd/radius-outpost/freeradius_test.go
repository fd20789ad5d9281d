package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/outpost-go/outposts/authclient/devcore/devcoretest"
	"github.com/outpost-go/outposts/authclient/outpost/outposttest"
)

// freeradiusConf is a minimal FreeRADIUS 3.2 configuration: %[1]s is the
// config directory, %[2]s the listen port; the sites and proxy settings are
// appended by the caller.
const freeradiusConf = `prefix = /usr
exec_prefix = /usr
sysconfdir = /etc
localstatedir = %[1]s
sbindir = /usr/sbin
datarootdir = /usr/share
dictdir = ${datarootdir}/freeradius
logdir = %[1]s
raddbdir = %[1]s
radacctdir = %[1]s
name = freeradius
confdir = ${raddbdir}
modconfdir = ${confdir}/mods-config
run_dir = %[1]s
db_dir = ${raddbdir}
libdir = /usr/lib/freeradius
pidfile = ${run_dir}/freeradius.pid
max_request_time = 30
cleanup_delay = 5
max_requests = 65536
hostname_lookups = no
log {
	destination = stderr
	colourise = no
	auth = no
}
security {
	allow_core_dumps = no
	max_attributes = 200
	reject_delay = 0
	status_server = yes
}
thread pool {
	start_servers = 4
	max_servers = 32
	min_spare_servers = 3
	max_spare_servers = 10
	max_requests_per_server = 0
}
client localhost {
	ipaddr = 127.0.0.1
	secret = %[3]s
	require_message_authenticator = no
}
`

// FreeRADIUS writes a pid file and logs into its config dir, and refuses
// world-writable config: a private temp dir does.
func writeFreeRADIUS(t testing.TB, port int, clientSecret, rest string, files map[string]string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "freeradius-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o700))
	conf := fmt.Sprintf(freeradiusConf, dir, port, clientSecret) + rest
	require.NoError(t, os.WriteFile(filepath.Join(dir, "radiusd.conf"), []byte(conf), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "dictionary"), nil, 0o600))
	for name, body := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600))
	}
	return dir
}

// startFreeRADIUS runs freeradius -X on dir until the test ends and waits
// until it is ready.
func startFreeRADIUS(t testing.TB, dir string) *outposttest.Buffer {
	t.Helper()
	bin := outposttest.Need(t, "freeradius", "freeradius (apt-get install -y freeradius)")
	log := &outposttest.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "-f", "-l", "stdout", "-d", dir)
	if testing.Verbose() {
		cmd.Args = append(cmd.Args, "-x")
	}
	cmd.Stdout, cmd.Stderr = log, log
	require.NoError(t, cmd.Start())
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
		if t.Failed() {
			t.Logf("freeradius log:\n%s", log.String())
		}
	})
	require.Eventually(t, func() bool {
		select {
		case <-done:
			t.Fatalf("freeradius exited:\n%s", log.String())
		default:
		}
		return strings.Contains(log.String(), "Ready to process requests")
	}, outposttest.Wait, outposttest.Tick, "freeradius did not start")
	return log
}

func udpPort(t testing.TB, addr string) int {
	t.Helper()
	a, err := net.ResolveUDPAddr("udp", addr)
	require.NoError(t, err)
	return a.Port
}

// A realistic deployment: Debian's FreeRADIUS proxies every request to the
// outpost as its home server. The proxy checks our replies' signatures,
// and the NAS only ever talks to FreeRADIUS.
func TestFreeRADIUSProxy(t *testing.T) {
	t.Parallel()
	outposttest.Need(t, "radclient", "freeradius-utils (apt-get install -y freeradius-utils)")
	core := devcoretest.Start(t)
	// FreeRADIUS signs the requests it proxies with a
	// Message-Authenticator, so the outpost's default (required) holds, and
	// it verifies the signature on our replies.
	p := startBinary(t, core, nil)

	proxyAddr := freeUDP(t)
	const nasSecret = "nas-to-proxy-secret"
	site := fmt.Sprintf(`proxy_requests = yes
proxy server {
	default_fallback = no
}
home_server authentik {
	type = auth
	ipaddr = 127.0.0.1
	port = %d
	secret = %s
	response_window = 20
	zombie_period = 40
	revive_interval = 10
	status_check = none
}
home_server_pool authentik {
	type = fail-over
	home_server = authentik
}
realm authentik {
	auth_pool = authentik
	nostrip
}
modules {
}
server default {
	listen {
		type = auth
		ipaddr = 127.0.0.1
		port = %d
	}
	authorize {
		update control {
			&Proxy-To-Realm := "authentik"
		}
	}
	authenticate {
	}
}
`, udpPort(t, p.auth), demoSecret, udpPort(t, proxyAddr))
	dir := writeFreeRADIUS(t, udpPort(t, proxyAddr), nasSecret, site, nil)
	startFreeRADIUS(t, dir)

	tests := []struct {
		user, password, want string
		ok                   bool
	}{
		{"alice", "alice-password", "Access-Accept", true},
		{"alice", "wrong", "Access-Reject", false},
		{"carol", "carol-password;" + totpNow, "Access-Accept", true},
	}
	for _, tt := range tests {
		password := strings.ReplaceAll(tt.password, totpNow, carolCode())
		out, ok := radclient(t, fmt.Sprintf("Message-Authenticator = 0x00\nUser-Name = %q, User-Password = %q", tt.user, password), proxyAddr, "auth", nasSecret)
		assert.Equal(t, tt.ok, ok, out)
		assert.Contains(t, out, "Received "+tt.want, out)
	}
	assert.Equal(t, float64(len(tests)), p.metric(t, "authentik_outpost_radius_request_duration_seconds_count"), "the outpost answered, not FreeRADIUS")
}
