package service

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/outpost-go/outposts/authclient/core"
)

// fetchCertificate loads a certificate keypair from the core's crypto
// store. The certificate PEM may hold the whole chain; every certificate in
// it is served, so clients get the intermediates (authentik drops them,
// goauthentik/authentik#12001).
func fetchCertificate(ctx context.Context, c *core.Client, id string) (*tls.Certificate, error) {
	certData, _, err := c.API.CryptoAPI.CryptoCertificatekeypairsViewCertificateRetrieve(ctx, id).Execute()
	if err != nil {
		return nil, fmt.Errorf("fetch certificate %s: %w", id, err)
	}
	keyData, _, err := c.API.CryptoAPI.CryptoCertificatekeypairsViewPrivateKeyRetrieve(ctx, id).Execute()
	if err != nil {
		return nil, fmt.Errorf("fetch private key of %s: %w", id, err)
	}
	if keyData.Data == "" {
		return nil, fmt.Errorf("certificate %s has no private key", id)
	}
	cert, err := tls.X509KeyPair([]byte(certData.Data), []byte(keyData.Data))
	if err != nil {
		return nil, fmt.Errorf("certificate %s: %w", id, err)
	}
	return &cert, nil
}

// certSet picks the certificate for a TLS handshake.
type certSet struct {
	byName   map[string]*tls.Certificate // lower-cased tls_server_name
	wildcard map[string]*tls.Certificate // "*.example.com" stored as ".example.com"
	fallback *tls.Certificate            // the only, or the first, provider certificate
	self     *tls.Certificate            // generated at start when no provider has one
}

// get selects by SNI: an exact tls_server_name, then a wildcard one, then
// the first provider's certificate, then the self-signed one. authentik's
// SNI check compares pointers and never matches; this one compares names.
func (s *certSet) get(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	name := strings.ToLower(strings.TrimSuffix(hello.ServerName, "."))
	if c := s.byName[name]; c != nil {
		return c, nil
	}
	if i := strings.IndexByte(name, '.'); i > 0 {
		if c := s.wildcard[name[i:]]; c != nil {
			return c, nil
		}
	}
	if s.fallback != nil {
		return s.fallback, nil
	}
	return s.self, nil
}

// selfSigned makes a certificate for when no provider has one, as authentik
// does.
func selfSigned() (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		return nil, fmt.Errorf("serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "authentik LDAP outpost (self-signed)", Organization: []string{"authentik"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("self-sign: %w", err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
