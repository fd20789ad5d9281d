package clients_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/outpost-go/outposts/authclient/outpost/outposttest"
)

const sssdInstall = "sssd-ldap, sssd-tools, libnss-sss, libpam-sss and pamtester (apt install sssd-ldap sssd-tools libnss-sss libpam-sss pamtester)"

// sssdNamespace runs in a new mount namespace (unshare --mount) and puts
// the test's own directories over the fixed paths SSSD, NSS and PAM use, so
// the test leaves the machine's SSSD alone and parallel tests do not meet.
// $1 is the test's directory.
const sssdNamespace = `set -e
mount --bind "$1/etc-sssd" /etc/sssd
mount --bind "$1/lib-sss" /var/lib/sss
mount --bind "$1/log-sssd" /var/log/sssd
mount --bind "$1/pam.d" /etc/pam.d
mount --bind "$1/hosts" /etc/hosts
mount -t tmpfs tmpfs /run
exec sssd -i -d 2 --logger=stderr
`

// sssd is a running sssd in its own mount namespace.
type sssd struct {
	pid int // sssd's monitor, whose mount namespace the clients enter
}

// needRoot fails under CI=true and skips otherwise: mount namespaces and
// SSSD need root.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("this test must run as root (it mounts over SSSD's fixed paths in a private mount namespace)")
	}
	t.Skip("this test must run as root (it mounts over SSSD's fixed paths in a private mount namespace)")
}

// startSSSD writes conf as /etc/sssd/sssd.conf with the provider's
// certificate beside it, maps certName to 127.0.0.1 in /etc/hosts, and
// starts sssd in the foreground; the test's end stops it.
func startSSSD(t *testing.T, conf, certPEM string) *sssd {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{"etc-sssd/conf.d", "lib-sss/db", "lib-sss/pipes/private", "lib-sss/mc",
		"lib-sss/pubconf", "lib-sss/gpo_cache", "log-sssd", "pam.d"} {
		require.NoError(t, os.MkdirAll(filepath.Join(dir, d), 0o700))
	}
	write := func(name, data string, mode os.FileMode) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(data), mode))
	}
	write("etc-sssd/sssd.conf", conf, 0o600) // sssd refuses a config others can read
	write("etc-sssd/authentik-ldap.pem", certPEM, 0o644)
	write("hosts", "127.0.0.1 localhost "+certName+"\n", 0o644)
	// The test's PAM service, next to the system's own services.
	out, err := exec.Command("cp", "-a", "/etc/pam.d/.", filepath.Join(dir, "pam.d")).CombinedOutput()
	require.NoError(t, err, "copy /etc/pam.d: %s", out)
	write("pam.d/authentik-test", readTestdata(t, "pam-authentik-test"), 0o644)

	unshare := outposttest.Need(t, "unshare", "util-linux")
	log := &outposttest.Buffer{}
	cmd := exec.Command(unshare, "--mount", "--propagation", "private", "sh", "-c", sssdNamespace, "sh", dir)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		// The group is the one started here (Setpgid): sssd and its
		// responders. SIGTERM lets sssd stop them itself.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // responders that outlived the monitor
		if t.Failed() {
			t.Logf("sssd output:\n%s", log.String())
		}
	})
	s := &sssd{pid: cmd.Process.Pid}
	// The responders' sockets appear once sssd is up.
	require.Eventually(t, func() bool {
		select {
		case <-exited:
			return true
		default:
		}
		for _, p := range []string{"lib-sss/pipes/nss", "lib-sss/pipes/pam", "lib-sss/pipes/ssh"} {
			if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
				return false
			}
		}
		return true
	}, outposttest.Wait, outposttest.Tick)
	select {
	case <-exited:
		t.Fatalf("sssd exited:\n%s", log.String())
	default:
	}
	return s
}

// run runs a command inside sssd's mount namespace, with stdin, and returns
// its output and exit code.
func (s *sssd) run(t *testing.T, stdin string, name string, args ...string) (string, int) {
	t.Helper()
	nsenter := outposttest.Need(t, "nsenter", "util-linux")
	cmd := exec.Command(nsenter, append([]string{"--mount", "--target", strconv.Itoa(s.pid), "--", name}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	}
	require.NoError(t, err)
	return string(out), 0
}

// TestSSSD runs sssd with testdata/sssd.conf (docs/guides/ldap-sssd.md)
// against the outpost over StartTLS with certificate checking, and looks
// users and groups up through NSS and authenticates through pam_sss.
func TestSSSD(t *testing.T) {
	t.Parallel()
	needRoot(t)
	for _, tool := range []string{"sssd", "getent", "pamtester", "sss_ssh_authorizedkeys", "id"} {
		outposttest.Need(t, tool, sssdInstall)
	}
	needFile(t, "libnss_sss.so.2", sssdInstall)
	needFile(t, "security/pam_sss.so", sssdInstall)
	o := startOutpost(t)

	conf := readTestdata(t, "sssd.conf")
	require.Contains(t, conf, "ldap://"+certName+":389")
	conf = strings.Replace(conf, "ldap://"+certName+":389", "ldap://"+certName+":"+port(t, o.ldapAddr), 1)
	s := startSSSD(t, conf, o.certPEM)

	t.Run("passwd", func(t *testing.T) {
		// The first lookup may find the back end still connecting.
		var out string
		require.Eventually(t, func() bool {
			var code int
			out, code = s.run(t, "", "getent", "-s", "sss", "passwd", "alice")
			return code == 0
		}, outposttest.Wait, 200*time.Millisecond, "getent passwd alice: %s", out)
		fields := strings.Split(strings.TrimSpace(out), ":")
		require.Len(t, fields, 7, out)
		assert.Equal(t, "alice", fields[0])
		assert.Equal(t, fields[2], fields[3], "primary group is the user's virtual group (gidNumber = uidNumber)")
		assert.Equal(t, "Alice Example", fields[4])
		assert.Equal(t, "/home/alice", fields[5])
		assert.Equal(t, "/bin/bash", fields[6], "loginShell custom attribute")

		out, code := s.run(t, "", "getent", "-s", "sss", "passwd", "nosuchuser")
		assert.Equal(t, 2, code, out)
	})
	t.Run("group", func(t *testing.T) {
		out, code := s.run(t, "", "getent", "-s", "sss", "group", "staff")
		require.Equal(t, 0, code, out)
		fields := strings.Split(strings.TrimSpace(out), ":")
		require.Len(t, fields, 4, out)
		assert.Equal(t, "staff", fields[0])
		assert.ElementsMatch(t, []string{"alice", "bob", "dave"}, strings.Split(fields[3], ","))
	})
	t.Run("id", func(t *testing.T) {
		out, code := s.run(t, "", "id", "bob")
		require.Equal(t, 0, code, out)
		assert.Contains(t, out, "(bob) gid=")
		assert.Contains(t, out, "(staff)")
		assert.Contains(t, out, "(gitea-restricted)")
		assert.NotContains(t, out, "gitea-admins")
	})
	t.Run("ssh public key", func(t *testing.T) {
		out, code := s.run(t, "", "sss_ssh_authorizedkeys", "alice")
		require.Equal(t, 0, code, out)
		assert.Contains(t, out, "ssh-ed25519 ")
		assert.Contains(t, out, " alice@example.com")
	})
	pam := func(t *testing.T, user, password string, ops ...string) (string, int) {
		return s.run(t, password+"\n", "pamtester", append([]string{"authentik-test", user}, ops...)...)
	}
	t.Run("pam", func(t *testing.T) {
		out, code := pam(t, "alice", "alice-password", "authenticate", "acct_mgmt")
		assert.Equal(t, 0, code, out)
		assert.Contains(t, out, "successfully authenticated")

		out, code = pam(t, "alice", "wrong-password", "authenticate")
		assert.NotEqual(t, 0, code, out)
		assert.Contains(t, out, "Authentication failure")

		out, code = pam(t, "dave", "dave-password", "authenticate")
		assert.NotEqual(t, 0, code, "inactive user: %s", out)

		// svc-ldap may bind (the application admits its group), but
		// ldap_access_filter admits members of staff only.
		out, code = pam(t, "svc-ldap", svcPassword, "authenticate", "acct_mgmt")
		assert.NotEqual(t, 0, code, out)
		assert.Contains(t, out, "successfully authenticated")
		assert.Contains(t, out, "Permission denied")
	})
}

// needFile finds a shared library or PAM module in the usual library
// directories; without it the test fails under CI=true and skips otherwise.
func needFile(t *testing.T, name, install string) {
	t.Helper()
	for _, pattern := range []string{"/lib/*/" + name, "/usr/lib/*/" + name, "/lib64/" + name, "/usr/lib64/" + name} {
		if m, _ := filepath.Glob(pattern); len(m) > 0 {
			return
		}
	}
	msg := name + " not found; install " + install
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}
