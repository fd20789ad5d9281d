package guacd_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/outpost-go/outposts/rac-outpost/guacd"
	"github.com/outpost-go/outposts/rac-outpost/guacdtest"
)

func TestNegotiate(t *testing.T) {
	t.Parallel()
	for server, want := range map[string]string{
		"VERSION_1_0_0": "VERSION_1_0_0",
		"VERSION_1_1_0": "VERSION_1_1_0",
		"VERSION_1_3_0": "VERSION_1_3_0",
		"VERSION_1_5_0": "VERSION_1_5_0",
		"VERSION_1_6_0": "VERSION_1_5_0",
		"VERSION_9_9_9": "VERSION_1_5_0",
		"garbage":       "VERSION_1_0_0",
	} {
		assert.Equal(t, want, guacd.Negotiate(server), server)
	}
}

func TestHandshakeVersions(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name         string
		version      string
		wantVersion  string
		wantTimezone bool
		wantName     bool
	}{
		{"guacd 1.5", "VERSION_1_5_0", "VERSION_1_5_0", true, true},
		{"guacd 1.6 talks 1.5 to a 1.5 client", "VERSION_1_6_0", "VERSION_1_5_0", true, true},
		{"guacd 1.3 has timezone, no name", "VERSION_1_3_0", "VERSION_1_3_0", true, false},
		{"pre-1.1 guacd sends no version", "-", "VERSION_1_0_0", false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := guacdtest.Start(t, guacdtest.Options{Version: tc.version})
			ep := guacd.Endpoint{Address: g.Addr}
			conn, err := ep.Dial(context.Background())
			require.NoError(t, err)
			defer conn.Close()
			res, err := guacd.Handshake(context.Background(), conn, guacd.Config{
				Protocol:   "ssh",
				Parameters: map[string]string{"hostname": "10.0.0.5", "port": "22", "username": "alice"},
				Width:      1280, Height: 800, DPI: 120,
				Timezone: "Europe/Berlin", Name: "alice",
			})
			require.NoError(t, err)
			assert.Equal(t, tc.wantVersion, res.Version)
			assert.NotEmpty(t, res.ConnectionID)
			first, err := res.Reader.Read()
			require.NoError(t, err)
			assert.Equal(t, "size", first.Opcode)

			require.Eventually(t, func() bool { return len(g.Handshakes()) == 1 }, 5*time.Second, 10*time.Millisecond)
			hs := g.Handshakes()[0]
			assert.Equal(t, "ssh", hs.Select)
			assert.Equal(t, []string{"1280", "800", "120"}, hs.Size)
			assert.Equal(t, []string{"image/webp", "image/png", "image/jpeg"}, hs.Image)
			assert.Equal(t, []string{"audio/L8", "audio/L16"}, hs.Audio)
			assert.Equal(t, "10.0.0.5", hs.Connect["hostname"])
			assert.Equal(t, "", hs.Connect["password"])
			assert.Equal(t, res.ConnectionID, hs.ID)
			if tc.version != "-" {
				assert.Equal(t, tc.wantVersion, hs.Connect[tc.version])
			}
			assert.Equal(t, tc.wantTimezone, hs.Timezone == "Europe/Berlin")
			assert.Equal(t, tc.wantName, hs.Name == "alice")
		})
	}
}

func TestHandshakeFailures(t *testing.T) {
	t.Parallel()
	t.Run("protocol plugin missing times out with a hint", func(t *testing.T) {
		t.Parallel()
		g := guacdtest.Start(t, guacdtest.Options{Protocols: []string{"vnc"}})
		conn, err := guacd.Endpoint{Address: g.Addr}.Dial(context.Background())
		require.NoError(t, err)
		defer conn.Close()
		_, err = guacd.Handshake(context.Background(), conn, guacd.Config{Protocol: "rdp", Timeout: 300 * time.Millisecond})
		var he *guacd.HandshakeError
		require.ErrorAs(t, err, &he)
		assert.Contains(t, he.Error(), "plugin")
	})
	t.Run("guacd error instruction", func(t *testing.T) {
		t.Parallel()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		defer ln.Close()
		go func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			buf := make([]byte, 64)
			_, _ = c.Read(buf)
			_, _ = c.Write([]byte("5.error,20.Protocol not allowed,3.771;"))
			time.Sleep(100 * time.Millisecond)
		}()
		conn, err := guacd.Endpoint{Address: ln.Addr().String()}.Dial(context.Background())
		require.NoError(t, err)
		defer conn.Close()
		_, err = guacd.Handshake(context.Background(), conn, guacd.Config{Protocol: "rdp"})
		var he *guacd.HandshakeError
		require.ErrorAs(t, err, &he)
		assert.Equal(t, 771, he.Status)
		assert.Contains(t, he.Error(), "Protocol not allowed")
	})
	t.Run("cancelled context ends the handshake", func(t *testing.T) {
		t.Parallel()
		g := guacdtest.Start(t, guacdtest.Options{Protocols: []string{"vnc"}})
		conn, err := guacd.Endpoint{Address: g.Addr}.Dial(context.Background())
		require.NoError(t, err)
		defer conn.Close()
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(50*time.Millisecond, cancel)
		_, err = guacd.Handshake(ctx, conn, guacd.Config{Protocol: "rdp"})
		require.Error(t, err)
	})
	t.Run("nothing listening", func(t *testing.T) {
		t.Parallel()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := ln.Addr().String()
		require.NoError(t, ln.Close())
		err = guacd.Endpoint{Address: addr}.Check(context.Background())
		require.Error(t, err)
	})
}

func TestTLS(t *testing.T) {
	t.Parallel()
	cert, pool := selfSigned(t)
	g := guacdtest.Start(t, guacdtest.Options{TLS: &tls.Config{Certificates: []tls.Certificate{cert}}})
	good := guacd.Endpoint{Address: g.Addr, TLS: &tls.Config{RootCAs: pool, ServerName: "guacd"}}
	require.NoError(t, good.Check(context.Background()))
	conn, err := good.Dial(context.Background())
	require.NoError(t, err)
	defer conn.Close()
	_, err = guacd.Handshake(context.Background(), conn, guacd.Config{Protocol: "vnc"})
	require.NoError(t, err)

	untrusted := guacd.Endpoint{Address: g.Addr, TLS: &tls.Config{ServerName: "guacd"}}
	err = untrusted.Check(context.Background())
	var uerr x509.UnknownAuthorityError
	assert.True(t, errors.As(err, &uerr), "got %v", err)
}

func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "guacd"}, DNSNames: []string{"guacd"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	c, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}
