package certs_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/outpost-go/outposts/authclient/certs"
	"github.com/outpost-go/outposts/authclient/config"
	"github.com/outpost-go/outposts/authclient/core"
	"github.com/outpost-go/outposts/authclient/devcore/devcoretest"
	"github.com/outpost-go/outposts/authclient/devcore/model"
)

func selfSigned(t *testing.T, cn string, names ...string) *tls.Certificate {
	t.Helper()
	c, err := certs.SelfSigned(cn, names...)
	require.NoError(t, err)
	return c
}

func TestSelector(t *testing.T) {
	t.Parallel()
	a, b, w, def := selfSigned(t, "a"), selfSigned(t, "b"), selfSigned(t, "w"), selfSigned(t, "def")
	sel := certs.NewSelector(def, map[string]*tls.Certificate{
		"ldap.a.example":  a,
		"LDAP.B.example.": b,
		"*.w.example":     w,
		"x.w.example":     a, // an exact name wins over a wildcard
		"ignored.example": nil,
		"":                b,
	})
	tests := []struct {
		sni  string
		want *tls.Certificate
	}{
		{"ldap.a.example", a},
		{"ldap.b.example", b},
		{"LDAP.B.EXAMPLE.", b},
		{"y.w.example", w},
		{"Y.W.Example", w},
		{"x.w.example", a},
		{"w.example", def},
		{"a.y.w.example", def},
		{".w.example", def},
		{"ignored.example", def},
		{"unknown", def},
		{"", def},
	}
	for _, tt := range tests {
		t.Run(tt.sni, func(t *testing.T) {
			t.Parallel()
			got, err := sel.GetCertificate(&tls.ClientHelloInfo{ServerName: tt.sni})
			require.NoError(t, err)
			assert.Same(t, tt.want, got)
		})
	}
}

func TestSelectorWithoutDefault(t *testing.T) {
	t.Parallel()
	a := selfSigned(t, "a")
	sel := certs.NewSelector(nil, map[string]*tls.Certificate{"a.example": a})
	got, err := sel.GetCertificate(&tls.ClientHelloInfo{ServerName: "a.example"})
	require.NoError(t, err)
	assert.Same(t, a, got)
	_, err = sel.GetCertificate(&tls.ClientHelloInfo{ServerName: "b.example"})
	require.ErrorContains(t, err, `no certificate for "b.example"`)
}

func TestSelfSigned(t *testing.T) {
	t.Parallel()
	c := selfSigned(t, "authentik Outpost default certificate", "localhost", "*")
	require.NotNil(t, c.Leaf)
	assert.Equal(t, "authentik Outpost default certificate", c.Leaf.Subject.CommonName)
	assert.Equal(t, []string{"localhost", "*"}, c.Leaf.DNSNames)
	key, ok := c.PrivateKey.(*ecdsa.PrivateKey)
	require.True(t, ok, "private key is %T", c.PrivateKey)
	assert.Equal(t, elliptic.P256(), key.Curve)
	assert.Contains(t, c.Leaf.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	require.NoError(t, c.Leaf.CheckSignature(c.Leaf.SignatureAlgorithm, c.Leaf.RawTBSCertificate, c.Leaf.Signature), "self-signed")

	// A handshake with it works.
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{*c}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		conn, err := ln.Accept()
		if err == nil {
			_ = conn.(*tls.Conn).Handshake()
			_ = conn.Close()
		}
	}()
	pool := x509.NewCertPool()
	pool.AddCert(c.Leaf)
	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{ServerName: "localhost", RootCAs: pool, MinVersion: tls.VersionTLS12})
	require.NoError(t, err)
	_ = conn.Close()
}

// pemPair encodes c as the PEM certificate and key a blueprint holds.
func pemPair(t *testing.T, c *tls.Certificate) (certPEM, keyPEM string) {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	require.NoError(t, err)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

func indent(s string) string {
	return "        " + strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n        ") + "\n"
}

// certBlueprint gives the demo proxy provider a key pair with a key and
// the demo LDAP provider one without.
func certBlueprint(t *testing.T, withKey, withoutKey *tls.Certificate) string {
	t.Helper()
	certPEM, keyPEM := pemPair(t, withKey)
	onlyPEM, _ := pemPair(t, withoutKey)
	return `version: 1
entries:
  - model: authentik_crypto.certificatekeypair
    id: pair
    identifiers:
      name: test pair
    attrs:
      certificate_data: |
` + indent(certPEM) + `      key_data: |
` + indent(keyPEM) + `  - model: authentik_crypto.certificatekeypair
    id: cert-only
    identifiers:
      name: test certificate only
    attrs:
      certificate_data: |
` + indent(onlyPEM) + `  - model: authentik_providers_proxy.proxyprovider
    identifiers:
      name: proxy-provider
    attrs:
      certificate: !KeyOf pair
  - model: authentik_providers_ldap.ldapprovider
    identifiers:
      name: ldap-provider
    attrs:
      certificate: !KeyOf cert-only
`
}

// countingTransport counts downloads of certificates and keys.
type countingTransport struct {
	next      http.RoundTripper
	downloads atomic.Int32
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.Contains(r.URL.Path, "/view_") {
		c.downloads.Add(1)
	}
	return c.next.RoundTrip(r)
}

func client(t *testing.T, dc *devcoretest.Core, outpost string) (*core.Client, *countingTransport) {
	t.Helper()
	host, err := url.Parse(dc.URL)
	require.NoError(t, err)
	c, err := core.New(config.Config{Host: host, Token: dc.Token(outpost)}, "test")
	require.NoError(t, err)
	counter := &countingTransport{next: c.HTTPClient.Transport}
	c.HTTPClient.Transport = counter
	return c, counter
}

func pkOf(t *testing.T, dc *devcoretest.Core, name string) string {
	t.Helper()
	pairs := dc.Server.Directory().Certificates
	i := slices.IndexFunc(pairs, func(c *model.Certificate) bool { return c.Name == name })
	require.GreaterOrEqual(t, i, 0, "no certificate key pair %q", name)
	return pairs[i].PK
}

func TestStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	one, two, only := selfSigned(t, "one"), selfSigned(t, "two"), selfSigned(t, "only")
	dc := devcoretest.Start(t, devcoretest.WithDemo(), devcoretest.WithBlueprint("zz-certs.yaml", certBlueprint(t, one, only)))
	pair := pkOf(t, dc, "test pair")
	c, counter := client(t, dc, "proxy-outpost")
	store := certs.NewStore(c)

	got, err := store.Get(ctx, pair)
	require.NoError(t, err)
	require.NotNil(t, got)
	assert.Equal(t, one.Certificate, got.Certificate)
	assert.EqualValues(t, 2, counter.downloads.Load(), "certificate and key downloaded")

	again, err := store.Get(ctx, pair)
	require.NoError(t, err)
	assert.Same(t, got, again, "unchanged fingerprint: the copy is kept")
	assert.EqualValues(t, 2, counter.downloads.Load(), "unchanged fingerprint: nothing downloaded")

	// The key pair is renewed: the new fingerprint makes the store
	// download it again.
	require.NoError(t, os.WriteFile(filepath.Join(dc.Dir, "zz-certs.yaml"), []byte(certBlueprint(t, two, only)), 0o600))
	require.NoError(t, dc.Server.Reload(ctx))
	require.Equal(t, pair, pkOf(t, dc, "test pair"))
	renewed, err := store.Get(ctx, pair)
	require.NoError(t, err)
	assert.Equal(t, two.Certificate, renewed.Certificate)
	assert.EqualValues(t, 4, counter.downloads.Load())

	// The core is down: the last good copy is still served.
	dc.Stop()
	stale, err := store.Get(ctx, pair)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "certificate key pair "+pair)
	assert.Same(t, renewed, stale)

	// A forgotten pair is not served from the copy any more.
	store.Retain()
	gone, err := store.Get(ctx, pair)
	require.Error(t, err)
	assert.Nil(t, gone)
}

func TestStoreErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dc := devcoretest.Start(t, devcoretest.WithDemo(), devcoretest.WithBlueprint("zz-certs.yaml", certBlueprint(t, selfSigned(t, "one"), selfSigned(t, "only"))))
	ldap, counter := client(t, dc, "ldap-outpost")
	store := certs.NewStore(ldap)

	tests := []struct {
		name    string
		id      string
		wantErr string
		status  int
	}{
		{"no private key", pkOf(t, dc, "test certificate only"), certs.ErrNoPrivateKey.Error(), 0},
		{"not this outpost's", pkOf(t, dc, "test pair"), "fetch fingerprint", http.StatusNotFound},
		{"unknown", "00000000-0000-0000-0000-000000000000", "fetch fingerprint", http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := store.Get(ctx, tt.id)
			require.Error(t, err)
			assert.Nil(t, got)
			assert.Contains(t, err.Error(), tt.wantErr)
			if tt.status != 0 {
				var se *core.StatusError
				require.ErrorAs(t, err, &se)
				assert.Equal(t, tt.status, se.StatusCode)
			} else {
				assert.ErrorIs(t, err, certs.ErrNoPrivateKey)
			}
		})
	}
	t.Cleanup(func() { assert.Zero(t, counter.downloads.Load(), "nothing to download") })

	_, err := certs.NewStore(nil).Get(ctx, "x")
	require.ErrorContains(t, err, "no core client")
}
