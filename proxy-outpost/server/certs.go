package server

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
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/outpost-go/outposts/authclient/core"
)

// certStore holds the TLS certificate of each host, fetched from the
// core's certificatekeypairs, plus a self-signed default.
type certStore struct {
	client *core.Client
	log    zerolog.Logger

	mu      sync.RWMutex
	byHost  map[string]*tls.Certificate
	def     *tls.Certificate
	defOnce sync.Once
	defErr  error
}

func newCertStore(c *core.Client, log zerolog.Logger) *certStore {
	return &certStore{client: c, log: log, byHost: map[string]*tls.Certificate{}}
}

// add fetches key pair kp and serves it for host. It fetches on every
// refresh, so a renewed certificate is picked up; when the fetch fails the
// copy fetched before keeps being served.
func (cs *certStore) add(ctx context.Context, host, kp string) error {
	if cs.client == nil {
		return fmt.Errorf("fetch key pair %s: no core client", kp)
	}
	c, _, err := cs.client.API.CryptoAPI.CryptoCertificatekeypairsViewCertificateRetrieve(ctx, kp).Execute()
	if err != nil {
		return fmt.Errorf("fetch certificate %s: %w", kp, err)
	}
	k, _, err := cs.client.API.CryptoAPI.CryptoCertificatekeypairsViewPrivateKeyRetrieve(ctx, kp).Execute()
	if err != nil {
		return fmt.Errorf("fetch private key %s: %w", kp, err)
	}
	pair, err := tls.X509KeyPair([]byte(c.Data), []byte(k.Data))
	if err != nil {
		return fmt.Errorf("parse key pair %s: %w", kp, err)
	}
	cs.mu.Lock()
	cs.byHost[hostOnly(strings.ToLower(host))] = &pair
	cs.mu.Unlock()
	return nil
}

// retain forgets the certificates of hosts no longer configured with one.
func (cs *certStore) retain(hosts map[string]bool) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for h := range cs.byHost {
		if !hosts[h] {
			delete(cs.byHost, h)
		}
	}
}

// get picks the certificate by SNI, falling back to the default.
func (cs *certStore) get(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	name := strings.ToLower(hello.ServerName)
	cs.mu.RLock()
	c, ok := cs.byHost[name]
	cs.mu.RUnlock()
	if ok {
		return c, nil
	}
	cs.defOnce.Do(func() { cs.def, cs.defErr = selfSigned() })
	return cs.def, cs.defErr
}

func selfSigned() (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("default certificate: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return nil, fmt.Errorf("default certificate: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "authentik Outpost default certificate", Organization: []string{"authentik"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"*"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("default certificate: %w", err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
