package service

import (
	"crypto/tls"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCertSelection(t *testing.T) {
	t.Parallel()
	mk := func() *tls.Certificate {
		c, err := selfSigned()
		require.NoError(t, err)
		return c
	}
	a, b, w, self := mk(), mk(), mk(), mk()
	set := &certSet{
		byName:   map[string]*tls.Certificate{"ldap.a.example": a, "ldap.b.example": b},
		wildcard: map[string]*tls.Certificate{".w.example": w},
		fallback: a, self: self,
	}
	for name, want := range map[string]*tls.Certificate{
		"ldap.b.example": b, "LDAP.B.EXAMPLE.": b, "ldap.a.example": a, "x.w.example": w, "unknown": a, "": a,
	} {
		got, err := set.get(&tls.ClientHelloInfo{ServerName: name})
		require.NoError(t, err)
		assert.Same(t, want, got, name)
	}
	got, err := (&certSet{self: self}).get(&tls.ClientHelloInfo{ServerName: "x"})
	require.NoError(t, err)
	assert.Same(t, self, got, "no provider certificate: self-signed")
}
