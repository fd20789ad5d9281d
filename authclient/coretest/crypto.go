package coretest

import (
	"crypto"
	"crypto/sha1" //nolint:gosec // authentik reports a SHA-1 fingerprint; it is compared, not trusted
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"net/http"
	"strings"
	"testing"

	api "goauthentik.io/api/v3"
)

// testCertificate follows what the outposts' CryptoStore does with a
// provider's certificate: read the key pair for its fingerprint, then the
// PEM certificate and key.
func testCertificate(t *testing.T, cl *caller, kp *string) {
	if kp == nil {
		t.Skip("the provider has no certificate")
	}
	base := "/crypto/certificatekeypairs/" + *kp + "/"
	pair, r := call[api.CertificateKeyPair](t, cl, http.MethodGet, base, nil, nil)
	if pair.Pk != *kp {
		t.Errorf("%s: pk %q, want %q", r, pair.Pk, *kp)
	}
	certData, rc := call[api.CertificateData](t, cl, http.MethodGet, base+"view_certificate/", nil, nil)
	block, _ := pem.Decode([]byte(certData.Data))
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("%s: data is not a PEM certificate: %q", rc, clip([]byte(certData.Data)))
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatalf("%s: parse certificate: %v", rc, err)
	}
	s256 := sha256.Sum256(cert.Raw)
	s1 := sha1.Sum(cert.Raw) //nolint:gosec // see import
	checkFingerprint(t, r, "fingerprint_sha256", pair.FingerprintSha256.Get(), s256[:])
	checkFingerprint(t, r, "fingerprint_sha1", pair.FingerprintSha1.Get(), s1[:])
	if exp := pair.CertExpiry.Get(); exp == nil || !exp.Equal(cert.NotAfter) {
		t.Errorf("%s: cert_expiry %v, certificate's NotAfter is %v", r, exp, cert.NotAfter)
	}

	keyData, rk := call[api.CertificateData](t, cl, http.MethodGet, base+"view_private_key/", nil, nil)
	if !pair.PrivateKeyAvailable {
		if keyData.Data != "" {
			t.Errorf("%s: private_key_available is false but a key was returned", rk)
		}
		return
	}
	kb, _ := pem.Decode([]byte(keyData.Data))
	if kb == nil {
		t.Fatalf("%s: private_key_available is true but data is not PEM", rk)
	}
	key, err := parseKey(kb)
	if err != nil {
		t.Fatalf("%s: parse private key: %v", rk, err)
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		t.Errorf("%s: private key does not match the certificate", rk)
	}

	t.Run("WrongToken", func(t *testing.T) {
		bad := cl.c.bearer("coretest-not-a-valid-token")
		for _, p := range []string{base, base + "view_certificate/", base + "view_private_key/"} {
			bad.expectDenied(t, bad.do(t, http.MethodGet, p, nil, nil))
		}
	})
}

func checkFingerprint(t *testing.T, r *response, field string, got *string, sum []byte) {
	t.Helper()
	if got == nil {
		t.Errorf("%s: %s is null for a key pair with a certificate", r, field)
		return
	}
	norm := strings.ToLower(strings.ReplaceAll(*got, ":", ""))
	if norm != hex.EncodeToString(sum) {
		t.Errorf("%s: %s %q does not match the certificate (%s)", r, field, *got, hex.EncodeToString(sum))
	}
}

func parseKey(b *pem.Block) (crypto.Signer, error) {
	if k, err := x509.ParsePKCS8PrivateKey(b.Bytes); err == nil {
		if s, ok := k.(crypto.Signer); ok {
			return s, nil
		}
	}
	if k, err := x509.ParsePKCS1PrivateKey(b.Bytes); err == nil {
		return k, nil
	}
	return x509.ParseECPrivateKey(b.Bytes)
}
