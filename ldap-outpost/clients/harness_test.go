package clients_test

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"
	"github.com/stretchr/testify/require"

	"github.com/outpost-go/outposts/authclient/devcore/devcoretest"
	"github.com/outpost-go/outposts/authclient/outpost/outposttest"
)

// The directory of testdata/clients.yaml, as the guides show it.
const (
	baseDN      = "dc=ldap,dc=goauthentik,dc=io"
	usersDN     = "ou=users," + baseDN
	groupsDN    = "ou=groups," + baseDN
	svcDN       = "cn=svc-ldap," + usersDN
	svcPassword = "svc-ldap-password"
	// certName is the provider's certificate in the blueprint; devcore makes
	// it valid for this name, localhost and 127.0.0.1.
	certName = "ldap.example.com"
)

// outpost is the ldap-outpost binary serving testdata/clients.yaml.
type outpost struct {
	ldapAddr  string // plain LDAP and StartTLS
	ldapsAddr string
	// certPEM is the provider's certificate, as an administrator downloads
	// it from authentik to give to clients.
	certPEM string
}

// startOutpost starts a stand-in core with testdata/clients.yaml and the
// real binary, and returns once the service account can find alice.
func startOutpost(t *testing.T) *outpost {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bp, err := os.ReadFile(filepath.Join("testdata", "clients.yaml"))
	require.NoError(t, err)
	bin := outposttest.Build(t, "../cmd/ldap-outpost", "ldap-outpost")
	core := devcoretest.Start(t, devcoretest.WithBlueprint("clients.yaml", string(bp)))
	o := &outpost{ldapAddr: outposttest.FreeAddr(t), ldapsAddr: outposttest.FreeAddr(t)}
	for _, c := range core.Server.Directory().Certificates {
		if c.Name == certName {
			o.certPEM = c.CertificateData
		}
	}
	require.NotEmpty(t, o.certPEM, "certificate %q in the blueprint", certName)
	outposttest.Start(t, bin, map[string]string{
		"AUTHENTIK_HOST":            core.URL,
		"AUTHENTIK_TOKEN":           core.Token("ldap-outpost"),
		"AUTHENTIK_LISTEN__METRICS": outposttest.FreeAddr(t),
		"AUTHENTIK_LISTEN__LDAP":    o.ldapAddr,
		"AUTHENTIK_LISTEN__LDAPS":   o.ldapsAddr,
	})
	require.Eventually(t, func() bool {
		c, err := ldap.DialURL("ldap://" + o.ldapAddr)
		if err != nil {
			return false
		}
		defer c.Close()
		if c.Bind(svcDN, svcPassword) != nil {
			return false
		}
		res, err := c.Search(ldap.NewSearchRequest(usersDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
			0, 0, false, "(cn=alice)", []string{"1.1"}, nil))
		return err == nil && len(res.Entries) == 1
	}, outposttest.Wait, outposttest.Tick, "the outpost did not serve the blueprint's directory")
	return o
}

// port is the port of a host:port address.
func port(t *testing.T, addr string) string {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	return p
}

// dialStartTLS connects the way the guides configure clients: plain LDAP
// upgraded with StartTLS, verifying the provider's certificate for certName.
func (o *outpost) dialStartTLS(t *testing.T) *ldap.Conn {
	t.Helper()
	c, err := ldap.DialURL("ldap://" + o.ldapAddr)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	require.NoError(t, c.StartTLS(o.tlsConfig(t)))
	return c
}

func (o *outpost) tlsConfig(t *testing.T) *tls.Config {
	t.Helper()
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM([]byte(o.certPEM)), "the provider certificate is PEM")
	return &tls.Config{RootCAs: pool, ServerName: certName, MinVersion: tls.VersionTLS12}
}

// readTestdata returns a file under testdata.
func readTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return string(b)
}

// shellWords splits a shell command line the way sh does for the subset the
// guides use: blanks separate words, single and double quotes group, and a
// backslash-newline continues the line.
func shellWords(s string) []string {
	s = strings.ReplaceAll(s, "\\\n", " ")
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t' || r == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}
