// Package certs gives outposts the TLS certificates they serve: provider
// key pairs fetched from the core's crypto store, a selector that picks one
// by SNI, and a self-signed certificate for when no provider has one.
package certs

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/outpost-go/outposts/authclient/core"
)

// ErrNoPrivateKey is returned for a key pair the core holds no private key
// for: it cannot be served.
var ErrNoPrivateKey = errors.New("certificate has no private key")

// Store fetches certificate key pairs from the core and keeps the last good
// copy of each. It is safe for concurrent use.
type Store struct {
	client *core.Client

	mu    sync.Mutex
	pairs map[string]pair
}

type pair struct {
	fingerprint string
	cert        *tls.Certificate
}

// NewStore returns a Store that fetches with client.
func NewStore(client *core.Client) *Store {
	return &Store{client: client, pairs: map[string]pair{}}
}

// Get returns key pair id. Like authentik's CryptoStore it asks the core for
// the pair's SHA-256 fingerprint on every call and downloads the
// certificate and key again only when the fingerprint changed, so a renewed
// certificate is picked up on the next refresh at the cost of one small
// request.
//
// When the fetch fails and an earlier copy exists, Get returns that copy
// together with the error: the caller logs the error and keeps serving the
// copy. A nil certificate means there is nothing to serve.
func (s *Store) Get(ctx context.Context, id string) (*tls.Certificate, error) {
	s.mu.Lock()
	prev, known := s.pairs[id]
	s.mu.Unlock()
	cert, fp, err := s.fetch(ctx, id, prev.fingerprint)
	if err != nil {
		return prev.cert, fmt.Errorf("certificate key pair %s: %w", id, err)
	}
	if cert == nil && known {
		return prev.cert, nil
	}
	s.mu.Lock()
	s.pairs[id] = pair{fingerprint: fp, cert: cert}
	s.mu.Unlock()
	return cert, nil
}

// Retain forgets every key pair but ids, so a pair no provider uses any
// more is not kept (nor fetched) for ever.
func (s *Store) Retain(ids ...string) {
	keep := make(map[string]bool, len(ids))
	for _, id := range ids {
		keep[id] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for id := range s.pairs {
		if !keep[id] {
			delete(s.pairs, id)
		}
	}
}

// fetch downloads the pair unless its fingerprint is known; it returns a
// nil certificate when nothing changed.
func (s *Store) fetch(ctx context.Context, id, known string) (*tls.Certificate, string, error) {
	if s.client == nil || s.client.API == nil {
		return nil, "", errors.New("no core client")
	}
	crypto := s.client.API.CryptoAPI
	info, resp, err := crypto.CryptoCertificatekeypairsRetrieve(ctx, id).Execute()
	if err != nil {
		return nil, "", fmt.Errorf("fetch fingerprint: %w", withStatus(err, resp))
	}
	// A certificate the core cannot parse has no fingerprint; it is
	// downloaded every time, and fails to parse here too.
	fp := info.GetFingerprintSha256()
	if fp != "" && fp == known {
		return nil, fp, nil
	}
	if !info.PrivateKeyAvailable {
		return nil, "", ErrNoPrivateKey
	}
	certData, resp, err := crypto.CryptoCertificatekeypairsViewCertificateRetrieve(ctx, id).Execute()
	if err != nil {
		return nil, "", fmt.Errorf("fetch certificate: %w", withStatus(err, resp))
	}
	keyData, resp, err := crypto.CryptoCertificatekeypairsViewPrivateKeyRetrieve(ctx, id).Execute()
	if err != nil {
		return nil, "", fmt.Errorf("fetch private key: %w", withStatus(err, resp))
	}
	if strings.TrimSpace(keyData.Data) == "" {
		return nil, "", ErrNoPrivateKey
	}
	// The certificate PEM may hold the whole chain; every certificate in it
	// is served, so clients get the intermediates (authentik drops them,
	// goauthentik/authentik#12001).
	cert, err := tls.X509KeyPair([]byte(certData.Data), []byte(keyData.Data))
	if err != nil {
		return nil, "", fmt.Errorf("parse key pair: %w", err)
	}
	return &cert, fp, nil
}

// withStatus keeps the HTTP status of a failed call, which the generated
// client's message does not always say.
func withStatus(err error, resp *http.Response) error {
	if resp == nil || resp.StatusCode < 300 {
		return err
	}
	return &core.StatusError{StatusCode: resp.StatusCode, Err: err}
}

// Selector picks the certificate for a TLS handshake by SNI: the exact
// name, then a wildcard ("*.example.com" serves "a.example.com" but not
// "a.b.example.com" nor "example.com"), then the default. It is immutable;
// build a new one when the certificates change.
type Selector struct {
	exact    map[string]*tls.Certificate
	wildcard map[string]*tls.Certificate // keyed by the suffix, ".example.com"
	def      *tls.Certificate
}

// NewSelector serves byName by SNI and def to every other client. Names are
// matched without regard to case or a trailing dot; a name starting with
// "*." is a wildcard. Nil certificates are ignored.
func NewSelector(def *tls.Certificate, byName map[string]*tls.Certificate) *Selector {
	s := &Selector{exact: map[string]*tls.Certificate{}, wildcard: map[string]*tls.Certificate{}, def: def}
	for name, cert := range byName {
		name = normalize(name)
		switch {
		case cert == nil || name == "":
		case strings.HasPrefix(name, "*."):
			s.wildcard[name[1:]] = cert
		default:
			s.exact[name] = cert
		}
	}
	return s
}

// GetCertificate has the signature of tls.Config.GetCertificate.
func (s *Selector) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	name := normalize(hello.ServerName)
	if c := s.exact[name]; c != nil {
		return c, nil
	}
	if i := strings.IndexByte(name, '.'); i > 0 {
		if c := s.wildcard[name[i:]]; c != nil {
			return c, nil
		}
	}
	if s.def == nil {
		return nil, fmt.Errorf("no certificate for %q", hello.ServerName)
	}
	return s.def, nil
}

func normalize(name string) string {
	return strings.ToLower(strings.TrimSuffix(name, "."))
}

// SelfSigned makes an ECDSA P-256 certificate valid for a year for
// dnsNames, to serve when no provider has a certificate, as authentik does.
func SelfSigned(commonName string, dnsNames ...string) (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("self-signed certificate: generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return nil, fmt.Errorf("self-signed certificate: serial: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: commonName, Organization: []string{"authentik"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     dnsNames,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("self-signed certificate: sign: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("self-signed certificate: parse: %w", err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}
