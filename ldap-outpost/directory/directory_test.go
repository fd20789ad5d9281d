package directory

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/outpost-go/outposts/ldap-outpost/ldap/filter"
	"github.com/outpost-go/outposts/ldap-outpost/ldap/message"
)

func build(t testing.TB, users map[int32]*User, groups []Group) *Snapshot {
	t.Helper()
	s, err := Build(Config{BaseDN: "DC=Example,DC=com", UIDStart: 2000, GIDStart: 4000}, users, groups, time.Now())
	require.NoError(t, err)
	return s
}

func TestBuild(t *testing.T) {
	t.Parallel()
	users := map[int32]*User{
		1: {PK: 1, Username: "Ann", Name: "Ann A", Email: "ann@x", UID: "h1", Active: true, Groups: []string{"g1"}, Attributes: map[string]any{"goauthentik.io/x": "v", "gidNumber": float64(9)}},
		2: {PK: 2, Username: "a+b", UID: "h2", Groups: []string{"g2"}},
	}
	groups := []Group{{PK: "g1", NumPK: 10, Name: "Team, One"}, {PK: "g2", NumPK: 11, Name: "sub", Parents: []string{"g1"}, Superuser: true}}
	s := build(t, users, groups)
	assert.Equal(t, "dc=example,dc=com", s.Base)
	assert.Equal(t, 4+2*2+2, s.Len())

	ann := s.UserByName("ANN")
	require.NotNil(t, ann)
	assert.Equal(t, "cn=ann,ou=users,dc=example,dc=com", ann.DN)
	assert.Equal(t, []string{"2001"}, ann.Values("uidnumber"))
	assert.Equal(t, []string{"9"}, ann.Values("gidnumber"), "custom gidNumber wins")
	assert.Equal(t, []string{"v"}, ann.Values("goauthentikio-x"))
	assert.Equal(t, []string{`cn=team\, one,ou=groups,dc=example,dc=com`}, ann.Values("memberof"))
	assert.Equal(t, []string{"TRUE"}, ann.Values("ak-active"))

	ab := s.UserByName("a+b")
	require.NotNil(t, ab)
	assert.Equal(t, `cn=a\+b,ou=users,dc=example,dc=com`, ab.DN)
	assert.Equal(t, []string{"FALSE"}, ab.Values("ak-active"))
	assert.Equal(t, []string{"2002"}, ab.Values("gidnumber"))

	team := s.Lookup(`cn=team\, one,ou=groups,dc=example,dc=com`)
	require.NotNil(t, team)
	assert.Equal(t, []string{"cn=ann,ou=users,dc=example,dc=com", "cn=sub,ou=groups,dc=example,dc=com"}, team.Values("member"))
	assert.Equal(t, []string{"4010"}, team.Values("gidnumber"))
	assert.Equal(t, []string{"false"}, team.Values("ak-superuser"))

	vg := s.Lookup("cn=ann,ou=virtual-groups,dc=example,dc=com")
	require.NotNil(t, vg)
	assert.Contains(t, vg.Values("objectclass"), "goauthentik.io/ldap/virtual-group")
	assert.Equal(t, []string{"9"}, vg.Values("gidnumber"))

	t.Log("in-chain from ab through sub to team")
	f, err := filter.Parse(`(memberOf:1.2.840.113556.1.4.1941:=cn=Team\5c, One,ou=groups,dc=example,dc=com)`)
	require.NoError(t, err)
	res, err := s.Search(context.Background(), s.Base, message.ScopeSub, f, View{Full: true}, 0)
	require.NoError(t, err)
	var dns []string
	for _, e := range res {
		dns = append(dns, e.DN)
	}
	assert.ElementsMatch(t, []string{ann.DN, ab.DN, "cn=sub,ou=groups,dc=example,dc=com"}, dns)

	t.Log("scopes and missing bases")
	all, _ := filter.Parse("(objectClass=*)")
	one, err := s.Search(context.Background(), s.Base, message.ScopeOne, all, View{Full: true}, 0)
	require.NoError(t, err)
	assert.Len(t, one, 3)
	_, err = s.Search(context.Background(), "cn=x,ou=users,dc=example,dc=com", message.ScopeBase, all, View{Full: true}, 0)
	var nso *NoSuchObjectError
	require.ErrorAs(t, err, &nso)
	assert.Equal(t, "ou=users,dc=example,dc=com", nso.MatchedDN)

	t.Log("size limit returns one more than the limit")
	lim, err := s.Search(context.Background(), s.Base, message.ScopeSub, all, View{Full: true}, 2)
	require.NoError(t, err)
	assert.Len(t, lim, 3)

	t.Log("attribute selection")
	assert.Empty(t, Select(ann, []string{"1.1"}))
	sel := Select(ann, []string{"CN", "mail;binary", "+"})
	var names []string
	for _, a := range sel {
		names = append(names, a.Name)
	}
	assert.Equal(t, []string{"cn", "mail", "entryDN", "subschemaSubentry", "hasSubordinates"}, names)
}

// TestEntryAttributes pins each kind's attribute list, in order, and checks
// that what a filter sees (Values) is what a search returns (Select) for
// every entry: user and virtual-group attributes are derived on demand.
func TestEntryAttributes(t *testing.T) {
	t.Parallel()
	users := map[int32]*User{
		1: {PK: 1, Username: "ann", Name: "Ann A", Email: "ann@x", UID: "h1", Active: true, Groups: []string{"g1", "gone"}},
		2: {PK: 2, Username: "bo", UID: "h2", Superuser: true, Attributes: map[string]any{
			"mail": []any{}, "CN": "Bo Override", "uidNumber": float64(7000), "shell": "/bin/%s", "goauthentik.io/tags": []any{"a", true, float64(2)},
		}},
	}
	groups := []Group{{PK: "g1", NumPK: 10, Name: "team", Attributes: map[string]any{"x": "y"}}, {PK: "g2", NumPK: 11, Name: "sub", Parents: []string{"g1"}}}
	s := build(t, users, groups)
	type attr struct {
		name   string
		values []string
	}
	tests := []struct {
		dn   string
		want []attr
	}{
		{"cn=ann,ou=users,dc=example,dc=com", []attr{
			{"objectClass", userClasses}, {"cn", []string{"ann"}}, {"sAMAccountName", []string{"ann"}}, {"uid", []string{"h1"}},
			{"name", []string{"Ann A"}}, {"displayName", []string{"Ann A"}}, {"sn", []string{"Ann A"}}, {"mail", []string{"ann@x"}},
			{"memberOf", []string{"cn=team,ou=groups,dc=example,dc=com"}}, {"ak-active", []string{"TRUE"}}, {"ak-superuser", []string{"FALSE"}},
			{"uidNumber", []string{"2001"}}, {"gidNumber", []string{"2001"}}, {"homeDirectory", []string{"/home/ann"}},
		}},
		{"cn=bo,ou=users,dc=example,dc=com", []attr{
			{"objectClass", userClasses}, {"sAMAccountName", []string{"bo"}}, {"uid", []string{"h2"}},
			{"name", []string{""}}, {"displayName", []string{""}}, {"sn", []string{""}},
			{"ak-active", []string{"FALSE"}}, {"ak-superuser", []string{"TRUE"}},
			{"gidNumber", []string{"7000"}}, {"homeDirectory", []string{"/home/bo"}},
			{"CN", []string{"Bo Override"}}, {"goauthentikio-tags", []string{"a", "true", "2"}}, {"shell", []string{"/bin/bo"}}, {"uidNumber", []string{"7000"}},
		}},
		{"cn=bo,ou=virtual-groups,dc=example,dc=com", []attr{
			{"objectClass", virtualGroupClasses}, {"cn", []string{"bo"}}, {"uid", []string{"h2"}}, {"sAMAccountName", []string{"bo"}},
			{"gidNumber", []string{"7000"}}, {"member", []string{"cn=bo,ou=users,dc=example,dc=com"}}, {"ak-superuser", []string{"false"}},
		}},
		{"cn=team,ou=groups,dc=example,dc=com", []attr{
			{"objectClass", groupClasses}, {"cn", []string{"team"}}, {"uid", []string{"g1"}}, {"sAMAccountName", []string{"team"}},
			{"gidNumber", []string{"4010"}}, {"member", []string{"cn=ann,ou=users,dc=example,dc=com", "cn=sub,ou=groups,dc=example,dc=com"}},
			{"ak-superuser", []string{"false"}}, {"x", []string{"y"}},
		}},
	}
	for _, tt := range tests {
		e := s.Lookup(tt.dn)
		require.NotNil(t, e, tt.dn)
		var got []attr
		for _, a := range Select(e, nil) {
			got = append(got, attr{a.Name, a.Values})
		}
		assert.Equal(t, tt.want, got, tt.dn)
	}

	all, err := filter.Parse("(objectClass=*)")
	require.NoError(t, err)
	entries, err := s.Search(context.Background(), s.Base, message.ScopeSub, all, View{Full: true}, 0)
	require.NoError(t, err)
	require.Len(t, entries, s.Len())
	for _, e := range entries {
		listed := map[string]bool{}
		for _, a := range Select(e, nil) {
			l := strings.ToLower(a.Name)
			listed[l] = true
			assert.Equal(t, a.Values, e.Values(l), "%s %s", e.DN, a.Name)
		}
		for _, name := range []string{"cn", "mail", "memberof", "member", "uidnumber", "gidnumber", "objectclass", "shell", "x", "ou"} {
			if !listed[name] {
				assert.Empty(t, e.Values(name), "%s %s is not listed", e.DN, name)
			}
		}
	}
}

func TestUserSame(t *testing.T) {
	t.Parallel()
	now := time.Now()
	base := func() *User {
		return &User{PK: 1, Username: "ann", Name: "Ann", Email: "a@x", UID: "h", Active: true, Groups: []string{"g1", "g2"},
			Attributes: map[string]any{"k": []any{"v"}}, PasswordChangeDate: now, LastUpdated: now}
	}
	tests := []struct {
		name   string
		change func(u *User)
		same   bool
	}{
		{"identical", func(*User) {}, true},
		{"same instant, other location", func(u *User) { u.LastUpdated = now.UTC() }, true},
		{"name", func(u *User) { u.Name = "Anne" }, false},
		{"active", func(u *User) { u.Active = false }, false},
		{"password changed", func(u *User) { u.PasswordChangeDate = now.Add(time.Second) }, false},
		{"group order", func(u *User) { u.Groups = []string{"g2", "g1"} }, false},
		{"attribute value", func(u *User) { u.Attributes = map[string]any{"k": []any{"w"}} }, false},
		{"attributes gone", func(u *User) { u.Attributes = nil }, false},
	}
	for _, tt := range tests {
		u := base()
		tt.change(u)
		assert.Equal(t, tt.same, base().Same(u), tt.name)
	}
}
