package filter

import (
	"strings"
	"testing"

	ber "github.com/go-asn1-ber/asn1-ber"
	goldap "github.com/go-ldap/ldap/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type entry struct {
	dn    string
	attrs map[string][]string
}

func (e entry) Values(a string) []string { return e.attrs[a] }
func (e entry) NormDN() string           { return e.dn }

type schema struct{ groups map[string]entry }

func (schema) Syntax(a string) Syntax {
	switch a {
	case "member", "memberof":
		return DNSyntax
	case "uidnumber", "gidnumber":
		return Integer
	}
	return CaseIgnore
}

func (schema) NormalizeDN(s string) (string, bool) {
	return strings.ToLower(strings.ReplaceAll(s, " ", "")), true
}

func (s schema) Chain(e Entry, attr string, yield func(string) bool) {
	seen := map[string]bool{}
	queue := append([]string{}, e.Values(attr)...)
	for len(queue) > 0 {
		n := strings.ToLower(queue[0])
		queue = queue[1:]
		if seen[n] {
			continue
		}
		seen[n] = true
		if !yield(n) {
			return
		}
		queue = append(queue, s.groups[n].attrs[attr]...)
	}
}

var alice = entry{dn: "cn=alice,ou=users,dc=x", attrs: map[string][]string{
	"objectclass": {"top", "person", "inetOrgPerson", "goauthentik.io/ldap/user"},
	"cn":          {"alice"},
	"mail":        {"Alice@Example.com"},
	"displayname": {"Alice  Liddell"},
	"memberof":    {"cn=backend,ou=groups,dc=x", "cn=ops,ou=groups,dc=x"},
	"uidnumber":   {"2005"},
	"ak-active":   {"TRUE"},
}}

var sch = schema{groups: map[string]entry{
	"cn=backend,ou=groups,dc=x":     {attrs: map[string][]string{"memberof": {"cn=engineering,ou=groups,dc=x"}}},
	"cn=engineering,ou=groups,dc=x": {attrs: map[string][]string{"memberof": {"cn=backend,ou=groups,dc=x", "cn=all,ou=groups,dc=x"}}},
}}

func TestEval(t *testing.T) {
	t.Parallel()
	tests := []struct {
		filter string
		want   Result
	}{
		{"(cn=alice)", True},
		{"cn=ALICE", True},
		{"(cn=bob)", False},
		{"(objectClass=inetorgperson)", True},
		{"(objectClass=*)", True},
		{"(mail=alice@example.COM)", True},
		{"(displayName=alice liddell)", True},
		{"(displayName~=aliceliddell)", True},
		{"(|(cn=bob)(cn=alice))", True},
		{"(|(cn=alice)(cn=bob))", True},
		{"(|(cn=alice))", True},
		{"(&(objectClass=user)(cn=alice))", False},
		{"(&(objectClass=person)(|(cn=x)(mail=alice@example.com)))", True},
		{"(!(cn=alice))", False},
		{"(!(cn=bob))", True},
		{"(cn=a*)", True},
		{"(cn=*lic*)", True},
		{"(cn=*e)", True},
		{"(cn=a*x*)", False},
		{"(cn=A*I*E)", True},
		{"(uidNumber>=2000)", True},
		{"(uidNumber<=2004)", False},
		{"(uidNumber=2005)", True},
		{"(uidNumber=abc)", Undefined},
		{"(!(uidNumber=abc))", Undefined},
		{"(|(uidNumber=abc)(cn=alice))", True},
		{"(&(uidNumber=abc)(cn=alice))", Undefined},
		{"(memberOf=CN=Backend, OU=groups, DC=x)", True},
		{"(memberOf=cn=engineering,ou=groups,dc=x)", False},
		{"(memberOf:1.2.840.113556.1.4.1941:=cn=engineering,ou=groups,dc=x)", True},
		{"(memberOf:1.2.840.113556.1.4.1941:=cn=all,ou=groups,dc=x)", True},
		{"(memberOf:1.2.840.113556.1.4.1941:=cn=nope,ou=groups,dc=x)", False},
		{"(cn:caseExactMatch:=Alice)", False},
		{"(cn:caseExactMatch:=alice)", True},
		{"(cn:2.5.13.2:=ALICE)", True},
		{"(cn:=ALICE)", True},
		{"(:dn:2.5.13.2:=users)", True},
		{"(ou:dn:=users)", True},
		{"(ou:=users)", False},
		{"(uidNumber:1.2.840.113556.1.4.803:=4)", True},
		{"(uidNumber:1.2.840.113556.1.4.803:=2)", False},
		{"(cn:9.9.9:=x)", Undefined},
		{"(ak-active=true)", True},
		{"(nonexistent=*)", False},
		{"(&)", True},
		{"(|)", False},
	}
	m := Matcher{Schema: sch}
	for _, tt := range tests {
		t.Run(tt.filter, func(t *testing.T) {
			t.Parallel()
			f, err := Parse(tt.filter)
			require.NoError(t, err)
			assert.Equal(t, tt.want, m.Eval(f, alice))

			// The same filter sent in BER by a real client encoder.
			s := tt.filter
			if !strings.HasPrefix(s, "(") {
				s = "(" + s + ")"
			}
			if s == "(&)" || s == "(|)" {
				return // go-ldap's compiler rejects the RFC 4526 forms
			}
			p, err := goldap.CompileFilter(s)
			require.NoError(t, err)
			fb, err := FromBER(reparse(t, p))
			require.NoError(t, err)
			assert.Equal(t, tt.want, m.Eval(fb, alice), "BER form %s", fb)
		})
	}
}

// reparse round-trips a packet through bytes, as the server receives it.
func reparse(t *testing.T, p *ber.Packet) *ber.Packet {
	t.Helper()
	out, err := ber.DecodePacketErr(p.Bytes())
	require.NoError(t, err)
	return out
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"", "(", "()", "(cn)", "(=x)", "(cn=x", "(cn=x))", "(&(cn=x)", "(cn=a\\z1)", "(cn=a\\4)", "(c n=x)",
		"(cn:a:b:c:=x)", "(:=x)", "(!(cn=x)(cn=y))", "(cn=(x))", strings.Repeat("(!", 100) + "(cn=x)" + strings.Repeat(")", 100)} {
		_, err := Parse(in)
		assert.ErrorIs(t, err, ErrSyntax, "%q", in)
	}
}

func TestStringRoundTrip(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"(&(objectClass=user)(|(cn=a\\2ab)(!(mail=*)))(uid>=5)(uid<=9)(cn~=x))", "(cn=a*b*c*d)", "(cn=*)", "(cn:dn:2.5.13.2:=x\\29)", "(:1.2.3:=v)", "(cn=*x)", "(cn=x*)"} {
		f, err := Parse(in)
		require.NoError(t, err)
		assert.Equal(t, in, f.String())
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"(cn=x)", "(&(a=b)(|(c=*)(!(d>=1))))", "(cn=a*b*c)", "(memberOf:1.2.840.113556.1.4.1941:=cn=g)", "(:dn:2.5.13.2:=x)", "(cn=\\2a)"} {
		f.Add(s)
	}
	m := Matcher{Schema: sch}
	f.Fuzz(func(t *testing.T, s string) {
		flt, err := Parse(s)
		if err != nil {
			return
		}
		again, err := Parse(flt.String())
		if err != nil {
			t.Fatalf("re-parse of %q (from %q): %v", flt.String(), s, err)
		}
		if again.String() != flt.String() {
			t.Fatalf("round trip %q -> %q", flt.String(), again.String())
		}
		_ = m.Eval(flt, alice)
	})
}

func FuzzFromBER(f *testing.F) {
	for _, s := range []string{"(cn=x)", "(&(a=b)(|(c=*)(!(d>=1))))", "(cn=a*b*c)", "(memberOf:1.2.840.113556.1.4.1941:=cn=g)"} {
		p, _ := goldap.CompileFilter(s)
		f.Add(p.Bytes())
	}
	m := Matcher{Schema: sch}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ber.DecodePacketErr(b)
		if err != nil {
			return
		}
		flt, err := FromBER(p)
		if err != nil {
			return
		}
		_ = flt.String()
		_ = m.Eval(flt, alice)
	})
}
