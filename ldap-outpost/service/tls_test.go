package service

import (
	"crypto/tls"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/outpost-go/outposts/authclient/devcore/devcoretest"
)

// LDAPS serves the provider's certificate (fetched from the core) for its
// tls_server_name and, being the only one, to every other client too; with
// no provider certificate it serves a self-signed one.
func TestLDAPSCertificate(t *testing.T) {
	t.Parallel()
	withCert := devcoretest.WithBlueprint("zz-cert.yaml", `version: 1
entries:
  - model: authentik_crypto.certificatekeypair
    id: cert
    identifiers:
      name: ldap.example.com
  - model: authentik_providers_ldap.ldapprovider
    identifiers:
      name: ldap-provider
    attrs:
      certificate: !KeyOf cert
      tls_server_name: ldap.example.com
`)
	tests := []struct {
		name string
		opts []devcoretest.Option
		sni  []string
		cn   string
	}{
		{"provider certificate", []devcoretest.Option{devcoretest.WithDemo(), withCert}, []string{"ldap.example.com", "LDAP.Example.com", "other.example.com", ""}, "ldap.example.com"},
		{"self-signed", nil, []string{"ldap.example.com", ""}, "authentik LDAP outpost (self-signed)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := start(t, tt.opts...)
			for _, sni := range tt.sni {
				conn, err := tls.Dial("tcp", f.ldaps, &tls.Config{ServerName: sni, InsecureSkipVerify: true}) // #nosec G402 -- the test inspects the certificate
				require.NoError(t, err, sni)
				assert.Equal(t, tt.cn, conn.ConnectionState().PeerCertificates[0].Subject.CommonName, sni)
				_ = conn.Close()
			}
		})
	}
}
