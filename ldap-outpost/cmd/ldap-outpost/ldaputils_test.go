package main

import (
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/outpost-go/outposts/authclient/devcore/devcoretest"
	"github.com/outpost-go/outposts/authclient/outpost/outposttest"
)

const demoBase = "dc=ldap,dc=goauthentik,dc=io"

// ldapTool runs one of ldap-utils' clients and returns its output and exit
// code. LDAPTLS_REQCERT=never: the outpost's certificate is self-signed.
func ldapTool(t *testing.T, tool string, args ...string) (string, int) {
	t.Helper()
	path := outposttest.Need(t, tool, "ldap-utils (apt install ldap-utils)")
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(), "LDAPTLS_REQCERT=never", "LDAPCONF=/dev/null", "HOME="+t.TempDir())
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return string(out), code
}

// TestLDAPUtils runs the real binary against the stand-in core with the
// demo blueprint and talks to it with ldapsearch, ldapwhoami and
// ldapcompare over LDAP, LDAPS and StartTLS.
func TestLDAPUtils(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	outposttest.Need(t, "ldapsearch", "ldap-utils (apt install ldap-utils)")
	bin := outposttest.Build(t, ".", "ldap-outpost")
	core := devcoretest.Start(t)
	ldapAddr := outposttest.FreeAddr(t)
	ldapsAddr := outposttest.FreeAddr(t)
	p := startOutpost(t, bin, map[string]string{
		"AUTHENTIK_HOST":            core.URL,
		"AUTHENTIK_TOKEN":           core.Token("ldap-outpost"),
		"AUTHENTIK_LISTEN__METRICS": outposttest.FreeAddr(t),
		"AUTHENTIK_LISTEN__LDAP":    ldapAddr,
		"AUTHENTIK_LISTEN__LDAPS":   ldapsAddr,
	})
	require.Eventually(t, func() bool {
		c, err := net.Dial("tcp", ldapsAddr)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, wait, tick, "the outpost did not open its LDAPS port")
	ldapURL, ldapsURL := "ldap://"+ldapAddr, "ldaps://"+ldapsAddr
	alice := []string{"-x", "-D", "cn=alice,ou=users," + demoBase, "-w", "alice-password"}

	t.Run("anonymous rootDSE", func(t *testing.T) {
		out, code := ldapTool(t, "ldapsearch", "-x", "-H", ldapURL, "-b", "", "-s", "base", "(objectClass=*)", "namingContexts", "supportedControl", "supportedExtension")
		require.Equal(t, 0, code, out)
		assert.Contains(t, out, "namingContexts: "+demoBase)
		assert.Contains(t, out, "supportedControl: 1.2.840.113556.1.4.319")
		assert.Contains(t, out, "supportedExtension: 1.3.6.1.4.1.4203.1.11.3")
	})
	t.Run("simple bind and attribute selection", func(t *testing.T) {
		out, code := ldapTool(t, "ldapsearch", append([]string{"-H", ldapURL, "-b", demoBase, "(&(objectClass=user)(cn=bob))", "cn", "memberOf", "uidNumber"}, alice...)...)
		require.Equal(t, 0, code, out)
		assert.Contains(t, out, "dn: cn=bob,ou=users,"+demoBase)
		assert.Contains(t, out, "memberOf: cn=backend,ou=groups,"+demoBase)
		assert.Contains(t, out, "uidNumber: ")
		assert.NotContains(t, out, "homeDirectory")
		assert.Contains(t, out, "numEntries: 1")
	})
	t.Run("wrong password", func(t *testing.T) {
		out, code := ldapTool(t, "ldapsearch", "-x", "-H", ldapURL, "-D", "cn=alice,ou=users,"+demoBase, "-w", "nope", "-b", demoBase, "(cn=bob)")
		assert.Equal(t, 49, code, out)
		assert.Contains(t, out, "Invalid credentials (49)")
	})
	t.Run("paged results", func(t *testing.T) {
		out, code := ldapTool(t, "ldapsearch", append([]string{"-H", ldapURL, "-b", demoBase, "-E", "pr=2/noprompt", "(objectClass=*)", "1.1"}, alice...)...)
		require.Equal(t, 0, code, out)
		assert.Contains(t, out, "pagedresults: cookie=")
		assert.Contains(t, out, "dn: cn=frank,ou=users,"+demoBase)
		assert.Greater(t, strings.Count(out, "# search result"), 3, "several pages")
	})
	t.Run("LDAPS", func(t *testing.T) {
		out, code := ldapTool(t, "ldapsearch", append([]string{"-H", ldapsURL, "-b", demoBase, "(cn=carol)", "cn"}, alice...)...)
		require.Equal(t, 0, code, out)
		assert.Contains(t, out, "dn: cn=carol,ou=users,"+demoBase)
	})
	t.Run("StartTLS", func(t *testing.T) {
		out, code := ldapTool(t, "ldapsearch", append([]string{"-ZZ", "-H", ldapURL, "-b", demoBase, "(cn=carol)", "cn"}, alice...)...)
		require.Equal(t, 0, code, out)
		assert.Contains(t, out, "dn: cn=carol,ou=users,"+demoBase)
	})
	t.Run("whoami", func(t *testing.T) {
		out, code := ldapTool(t, "ldapwhoami", append([]string{"-H", ldapURL}, alice...)...)
		require.Equal(t, 0, code, out)
		assert.Equal(t, "dn:cn=alice,ou=users,"+demoBase, strings.TrimSpace(out))
		out, code = ldapTool(t, "ldapwhoami", "-x", "-H", ldapURL)
		require.Equal(t, 0, code, out)
		assert.Equal(t, "anonymous", strings.TrimSpace(out))
	})
	t.Run("compare", func(t *testing.T) {
		out, code := ldapTool(t, "ldapcompare", append([]string{"-H", ldapURL, "cn=bob,ou=users," + demoBase, "mail:bob@example.com"}, alice...)...)
		assert.Equal(t, 6, code, out)
		assert.Contains(t, out, "TRUE")
		out, code = ldapTool(t, "ldapcompare", append([]string{"-H", ldapURL, "cn=bob,ou=users," + demoBase, "cn:alice"}, alice...)...)
		assert.Equal(t, 5, code, out)
		assert.Contains(t, out, "FALSE")
	})
	t.Run("write operations are refused", func(t *testing.T) {
		out, code := ldapTool(t, "ldapsearch", append([]string{"-H", ldapURL, "-b", demoBase, "-E", "!1.2.3.4", "(cn=bob)"}, alice...)...)
		assert.Equal(t, 12, code, out)
	})
	_ = time.Second
	assert.Positive(t, p.refreshes())
}
