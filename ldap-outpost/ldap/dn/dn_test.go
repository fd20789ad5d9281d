package dn

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseNormalize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, norm string
		rdns     int
		wantErr  bool
	}{
		{in: "", norm: "", rdns: 0},
		{in: "CN=Alice,OU=Users,DC=ldap,DC=goauthentik,DC=io", norm: "cn=alice,ou=users,dc=ldap,dc=goauthentik,dc=io", rdns: 5},
		{in: "cn = bob , dc=x", norm: "cn=bob,dc=x", rdns: 2},
		{in: `cn=Smith\, John,dc=x`, norm: `cn=smith\, john,dc=x`, rdns: 2},
		{in: `cn=a\2cb,dc=x`, norm: `cn=a\,b,dc=x`, rdns: 2},
		{in: `cn=\#x\ ,dc=x`, norm: `cn=\#x\ ,dc=x`, rdns: 2},
		{in: `cn=a+uid=b,dc=x`, norm: `cn=a+uid=b,dc=x`, rdns: 2},
		{in: `uid=b+cn=a;dc=x`, norm: `cn=a+uid=b,dc=x`, rdns: 2},
		{in: `cn="quoted, value",dc=x`, norm: `cn=quoted\, value,dc=x`, rdns: 2},
		{in: `1.2.3=#04024869`, norm: `1.2.3=#04024869`, rdns: 1},
		{in: `cn=`, norm: `cn=`, rdns: 1},
		{in: "cn", wantErr: true},
		{in: "=x", wantErr: true},
		{in: `cn=a\`, wantErr: true},
		{in: `cn=a\zz`, wantErr: true},
		{in: `cn=a"b`, wantErr: true},
		{in: `cn=a,`, wantErr: true},
		{in: `c n=a`, wantErr: true},
		{in: `cn="open`, wantErr: true},
		{in: "cn=\xff", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			d, err := Parse(tt.in)
			if tt.wantErr {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Len(t, d, tt.rdns)
			assert.Equal(t, tt.norm, d.Normalize())
		})
	}
}

func TestEscapeRoundTrip(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"plain", "a,b", "a+b", `a"b`, `a\b`, "<a>", "a;b", "a=b", "#hash", " lead", "trail ", "nul\x00", "ünïcödé", ""} {
		s := "cn=" + EscapeValue(v) + ",dc=x"
		d, err := Parse(s)
		require.NoError(t, err, s)
		assert.Equal(t, v, d[0][0].Value, s)
		assert.Len(t, d, 2)
	}
}

func TestWithin(t *testing.T) {
	t.Parallel()
	base, _ := Parse("DC=ldap,dc=IO")
	for in, want := range map[string]bool{
		"cn=a,ou=users,dc=ldap,dc=io": true,
		"dc=ldap,dc=io":               true,
		`cn=a\,dc=ldap,dc=io`:         false,
		"dc=io":                       false,
		`cn=x,dc=ldap\,dc=io`:         false,
		"cn=a,dc=other,dc=io":         false,
	} {
		d, err := Parse(in)
		require.NoError(t, err)
		assert.Equal(t, want, d.Within(base), in)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"cn=a,dc=x", `cn=a\,b+uid=c;dc=x`, `cn="q"`, "1.2=#0401", `cn=\41`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := Parse(s)
		if err != nil {
			return
		}
		// What we print, we parse back to the same thing.
		again, err := Parse(d.String())
		if err != nil {
			t.Fatalf("re-parse %q (from %q): %v", d.String(), s, err)
		}
		if again.Normalize() != d.Normalize() {
			t.Fatalf("round trip %q -> %q -> %q", s, d.Normalize(), again.Normalize())
		}
	})
}
