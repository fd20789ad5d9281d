package devcore

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // authentik reports a SHA-1 fingerprint too
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"
	api "goauthentik.io/api/v3"

	"github.com/outpost-go/outposts/authclient/devcore/model"
)

// fingerprint formats a digest as authentik does: lower-case hex pairs
// joined by colons.
func fingerprint(sum []byte) string {
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02x", b)
	}
	return strings.Join(parts, ":")
}

// firstCertificate parses the first CERTIFICATE block of a PEM chain.
func firstCertificate(data string) (*x509.Certificate, error) {
	rest := []byte(data)
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, fmt.Errorf("no PEM certificate found")
		}
		if block.Type == "CERTIFICATE" {
			c, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parse certificate: %w", err)
			}
			return c, nil
		}
	}
}

func keyType(c *x509.Certificate) *api.CertificateKeyPairKeyTypeEnum {
	var t api.CertificateKeyPairKeyTypeEnum
	switch c.PublicKey.(type) {
	case *rsa.PublicKey:
		t = api.CERTIFICATEKEYPAIRKEYTYPEENUM_RSA
	case *ecdsa.PublicKey:
		t = api.CERTIFICATEKEYPAIRKEYTYPEENUM_EC
	case ed25519.PublicKey:
		t = api.CERTIFICATEKEYPAIRKEYTYPEENUM_ED25519
	default:
		return nil
	}
	return &t
}

func apiCertificate(c *model.Certificate) api.CertificateKeyPair {
	out := api.CertificateKeyPair{
		Pk:                     c.PK,
		Name:                   c.Name,
		FingerprintSha256:      *api.NewNullableString(nil),
		FingerprintSha1:        *api.NewNullableString(nil),
		CertExpiry:             *api.NewNullableTime(nil),
		CertSubject:            *api.NewNullableString(nil),
		PrivateKeyAvailable:    c.KeyData != "",
		KeyType:                *api.NewNullableCertificateKeyPairKeyTypeEnum(nil),
		CertificateDownloadUrl: "/api/v3/crypto/certificatekeypairs/" + c.PK + "/view_certificate/?download",
		PrivateKeyDownloadUrl:  "/api/v3/crypto/certificatekeypairs/" + c.PK + "/view_private_key/?download",
		Managed:                *api.NewNullableString(nil),
	}
	if cert, err := firstCertificate(c.CertificateData); err == nil {
		s256 := sha256.Sum256(cert.Raw)
		s1 := sha1.Sum(cert.Raw) //nolint:gosec // fingerprint only
		out.FingerprintSha256 = nullableString(fingerprint(s256[:]))
		out.FingerprintSha1 = nullableString(fingerprint(s1[:]))
		exp := cert.NotAfter
		out.CertExpiry = *api.NewNullableTime(&exp)
		out.CertSubject = nullableString(cert.Subject.String())
		out.KeyType = *api.NewNullableCertificateKeyPairKeyTypeEnum(keyType(cert))
	}
	return out
}

// certFor finds the key pair and checks the caller may read it: outposts
// may read the certificates of their own providers.
func (v *view) certFor(r *http.Request, p principal) (*model.Certificate, bool) {
	c, ok := v.certByPK[chi.URLParam(r, "uuid")]
	if !ok {
		return nil, false
	}
	if p.outpost == nil {
		return c, p.superuser()
	}
	for _, pk := range p.outpost.Providers {
		var used []string
		if lp, ok := v.ldapByPK[pk]; ok {
			used = append(used, lp.Certificate)
		}
		if rp, ok := v.radiusByPK[pk]; ok {
			used = append(used, rp.Certificate)
		}
		if pp, ok := v.proxyByPK[pk]; ok {
			used = append(used, pp.Certificate, pp.SigningKey)
		}
		for _, u := range used {
			if u == c.PK {
				return c, true
			}
		}
	}
	return nil, false
}

func (s *Server) handleCertRetrieve(w http.ResponseWriter, r *http.Request, p principal) {
	c, ok := p.v.certFor(r, p)
	if !ok {
		writeDetail(w, http.StatusNotFound, msgNotFound)
		return
	}
	writeJSON(w, http.StatusOK, apiCertificate(c))
}

func (s *Server) handleCertView(w http.ResponseWriter, r *http.Request, p principal) {
	c, ok := p.v.certFor(r, p)
	if !ok {
		writeDetail(w, http.StatusNotFound, msgNotFound)
		return
	}
	writePEM(w, r, c.Name+"_certificate.pem", c.CertificateData)
}

func (s *Server) handleKeyView(w http.ResponseWriter, r *http.Request, p principal) {
	c, ok := p.v.certFor(r, p)
	if !ok {
		writeDetail(w, http.StatusNotFound, msgNotFound)
		return
	}
	writePEM(w, r, c.Name+"_private_key.pem", c.KeyData)
}

// writePEM answers {"data": PEM}, or the file itself with ?download.
func writePEM(w http.ResponseWriter, r *http.Request, filename, data string) {
	if _, ok := r.URL.Query()["download"]; ok {
		w.Header().Set("Content-Type", "application/x-pem-file")
		w.Header().Set("Content-Disposition", `attachment; filename="`+strings.ReplaceAll(filename, `"`, "")+`"`)
		_, _ = w.Write([]byte(data))
		return
	}
	writeJSON(w, http.StatusOK, api.CertificateData{Data: data})
}
