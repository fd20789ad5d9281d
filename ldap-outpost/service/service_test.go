package service

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/url"
	"sort"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/outpost-go/outposts/authclient/config"
	"github.com/outpost-go/outposts/authclient/core"
	"github.com/outpost-go/outposts/authclient/devcore/devcoretest"
)

const base = "dc=ldap,dc=goauthentik,dc=io"

func userDN(u string) string { return "cn=" + u + ",ou=users," + base }

type fixture struct {
	svc   *Service
	ldap  string
	ldaps string
	core  *devcoretest.Core
}

// start runs a Service against a stand-in core with the demo blueprint, or
// the given extra blueprint, on free loopback ports.
func start(t *testing.T, opts ...devcoretest.Option) *fixture {
	t.Helper()
	c := devcoretest.Start(t, opts...)
	return startWith(t, c, "ldap-outpost")
}

func startWith(t *testing.T, c *devcoretest.Core, outpost string) *fixture {
	t.Helper()
	host, err := url.Parse(c.URL)
	require.NoError(t, err)
	client, err := core.New(config.Config{Host: host, Token: c.Token(outpost)}, "test")
	require.NoError(t, err)
	svc, err := New(Options{
		Client: client, Registry: prometheus.NewRegistry(), Logger: zerolog.Nop(), Version: "test",
		ListenLDAP: "127.0.0.1:0", ListenLDAPS: "127.0.0.1:0",
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	providers, err := client.LDAPProviders(ctx)
	require.NoError(t, err)
	require.NoError(t, svc.Refresh(ctx, providers))
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	l, ls, err := svc.Addrs(ctx)
	require.NoError(t, err)
	return &fixture{svc: svc, ldap: l.String(), ldaps: ls.String(), core: c}
}

func (f *fixture) dial(t *testing.T) *goldap.Conn {
	t.Helper()
	c, err := goldap.DialURL("ldap://" + f.ldap)
	require.NoError(t, err)
	c.SetTimeout(30 * time.Second)
	t.Cleanup(func() { c.Close() })
	return c
}

func search(t *testing.T, c *goldap.Conn, baseDN, flt string, attrs ...string) []*goldap.Entry {
	t.Helper()
	res, err := c.Search(goldap.NewSearchRequest(baseDN, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases, 0, 0, false, flt, attrs, nil))
	require.NoError(t, err)
	return res.Entries
}

func dns(es []*goldap.Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.DN)
	}
	sort.Strings(out)
	return out
}

func code(err error) uint16 {
	if err == nil {
		return 0
	}
	var le *goldap.Error
	if e, ok := err.(*goldap.Error); ok {
		le = e
		return le.ResultCode
	}
	return 9999
}

func TestDirectMode(t *testing.T) {
	t.Parallel()
	f := start(t)
	c := f.dial(t)

	t.Log("anonymous rootDSE")
	res, err := c.Search(goldap.NewSearchRequest("", goldap.ScopeBaseObject, 0, 0, 0, false, "(objectClass=*)", []string{"*", "+"}, nil))
	require.NoError(t, err)
	require.Len(t, res.Entries, 1)
	assert.Equal(t, []string{base}, res.Entries[0].GetAttributeValues("namingContexts"))
	assert.Contains(t, res.Entries[0].GetAttributeValues("supportedControl"), "1.2.840.113556.1.4.319")
	assert.Contains(t, res.Entries[0].GetAttributeValues("supportedExtension"), "1.3.6.1.4.1.4203.1.11.3")

	t.Log("anonymous search is refused")
	_, err = c.Search(goldap.NewSearchRequest(base, goldap.ScopeWholeSubtree, 0, 0, 0, false, "(cn=*)", nil, nil))
	assert.Equal(t, uint16(50), code(err))

	t.Log("SASL is refused, the connection stays")
	assert.Equal(t, uint16(7), code(c.ExternalBind()))

	t.Log("strict DNs")
	for _, bad := range []string{"cn=alice,dc=ldap,dc=goauthentik,dc=io", "cn=alice,ou=other," + base, "cn=alice,ou=x,ou=users," + base, "uid=alice,ou=users," + base} {
		assert.Equal(t, uint16(49), code(c.Bind(bad, "alice-password")), bad)
	}
	assert.Equal(t, uint16(49), code(c.Bind(userDN("alice"), "wrong")))
	assert.Equal(t, uint16(53), code(c.UnauthenticatedBind(userDN("alice"))), "unauthenticated bind")

	t.Log("bind and search with the search permission")
	require.NoError(t, c.Bind("CN=Alice,OU=Users,"+base, "alice-password"))
	who, err := c.WhoAmI(nil)
	require.NoError(t, err)
	assert.Equal(t, "dn:"+userDN("alice"), who.AuthzID)

	users := search(t, c, base, "(objectClass=user)")
	assert.Contains(t, dns(users), userDN("bob"))
	one := search(t, c, base, "(&(objectClass=user)(cn=alice))")
	require.Len(t, one, 1)
	e := one[0]
	assert.Equal(t, []string{"alice"}, e.GetAttributeValues("cn"))
	assert.Equal(t, []string{"/home/alice"}, e.GetAttributeValues("homeDirectory"))
	assert.Equal(t, []string{"TRUE"}, e.GetAttributeValues("ak-active"))
	assert.Contains(t, e.GetAttributeValues("objectClass"), "goauthentik.io/ldap/user")
	assert.Contains(t, e.GetAttributeValues("memberOf"), "cn=engineering,ou=groups,"+base)
	assert.NotEmpty(t, e.GetAttributeValue("uidNumber"))

	t.Log("OR in either order, in-chain")
	assert.Len(t, search(t, c, base, "(|(cn=alice)(cn=bob))"), 4, "two users and their virtual groups")
	assert.Len(t, search(t, c, base, "(&(objectClass=user)(|(cn=nobody)(cn=bob)))"), 1)
	chain := dns(search(t, c, "ou=users,"+base, "(memberOf:1.2.840.113556.1.4.1941:=cn=engineering,ou=groups,"+base+")"))
	assert.Contains(t, chain, userDN("bob"), "bob is in backend, a child of engineering")
	direct := dns(search(t, c, "ou=users,"+base, "(memberOf=cn=engineering,ou=groups,"+base+")"))
	assert.NotContains(t, direct, userDN("bob"))

	t.Log("attribute selection and typesOnly")
	sel := search(t, c, base, "(cn=alice)", "1.1")
	require.NotEmpty(t, sel)
	assert.Empty(t, sel[0].Attributes)
	sel = search(t, c, userDN("alice"), "(objectClass=*)", "CN", "mail")
	require.Len(t, sel, 1)
	assert.Len(t, sel[0].Attributes, 2)
	res, err = c.Search(goldap.NewSearchRequest(userDN("alice"), goldap.ScopeBaseObject, 0, 0, 0, true, "(objectClass=*)", []string{"cn"}, nil))
	require.NoError(t, err)
	require.Len(t, res.Entries, 1)
	assert.Empty(t, res.Entries[0].Attributes[0].Values)

	t.Log("size limit")
	_, err = c.Search(goldap.NewSearchRequest(base, goldap.ScopeWholeSubtree, 0, 2, 0, false, "(objectClass=*)", nil, nil))
	assert.Equal(t, uint16(4), code(err))

	t.Log("paging")
	paged, err := c.SearchWithPaging(goldap.NewSearchRequest(base, goldap.ScopeWholeSubtree, 0, 0, 0, false, "(objectClass=*)", []string{"cn"}, nil), 3)
	require.NoError(t, err)
	all := search(t, c, base, "(objectClass=*)", "cn")
	assert.Equal(t, dns(all), dns(paged.Entries))
	assert.Greater(t, len(all), 6)

	t.Log("a cookie from another connection is refused")
	c2 := f.dial(t)
	require.NoError(t, c2.Bind(userDN("alice"), "alice-password"))
	ctl := goldap.NewControlPaging(2)
	r1, err := c.Search(goldap.NewSearchRequest(base, goldap.ScopeWholeSubtree, 0, 0, 0, false, "(objectClass=*)", nil, []goldap.Control{ctl}))
	require.NoError(t, err)
	cookie := goldap.FindControl(r1.Controls, goldap.ControlTypePaging).(*goldap.ControlPaging).Cookie
	require.NotEmpty(t, cookie)
	ctl2 := goldap.NewControlPaging(2)
	ctl2.SetCookie(cookie)
	_, err = c2.Search(goldap.NewSearchRequest(base, goldap.ScopeWholeSubtree, 0, 0, 0, false, "(objectClass=*)", nil, []goldap.Control{ctl2}))
	assert.Equal(t, uint16(53), code(err))

	t.Log("compare")
	ok, err := c.Compare(userDN("bob"), "cn", "BOB")
	require.NoError(t, err)
	assert.True(t, ok)
	ok, err = c.Compare(userDN("bob"), "cn", "alice")
	require.NoError(t, err)
	assert.False(t, ok)
	_, err = c.Compare("cn=nobody,ou=users,"+base, "cn", "x")
	assert.Equal(t, uint16(32), code(err))

	t.Log("write operations are refused, the connection stays")
	assert.Equal(t, uint16(53), code(c.Del(goldap.NewDelRequest(userDN("bob"), nil))))
	assert.Equal(t, uint16(53), code(c.ModifyDN(goldap.NewModifyDNRequest(userDN("bob"), "cn=robert", true, ""))))
	mod := goldap.NewModifyRequest(userDN("bob"), nil)
	mod.Replace("mail", []string{"x@y"})
	assert.Equal(t, uint16(53), code(c.Modify(mod)))
	add := goldap.NewAddRequest("cn=new,ou=users,"+base, nil)
	add.Attribute("cn", []string{"new"})
	assert.Equal(t, uint16(53), code(c.Add(add)))
	_, err = c.PasswordModify(goldap.NewPasswordModifyRequest("", "a", "b"))
	assert.Equal(t, uint16(53), code(err))
	_, err = c.Extended(goldap.NewExtendedRequest("1.2.3.4", nil))
	assert.Equal(t, uint16(2), code(err))
	who, err = c.WhoAmI(nil)
	require.NoError(t, err, "still connected")
	assert.Equal(t, "dn:"+userDN("alice"), who.AuthzID)

	t.Log("without the search permission: own entry and groups only")
	c3 := f.dial(t)
	require.NoError(t, c3.Bind(userDN("bob"), "bob-password"))
	got := search(t, c3, base, "(objectClass=*)", "member")
	assert.Equal(t, []string{"cn=backend,ou=groups," + base, "cn=bob,ou=users," + base, "cn=bob,ou=virtual-groups," + base}, dns(got))
	for _, e := range got {
		if e.DN == "cn=backend,ou=groups,"+base {
			assert.Equal(t, []string{userDN("bob")}, e.GetAttributeValues("member"))
		}
	}

	t.Log("policy denial and inactive users")
	assert.Equal(t, uint16(50), code(f.dial(t).Bind(userDN("eve"), "eve-password")))
	assert.Equal(t, uint16(49), code(f.dial(t).Bind(userDN("dave"), "dave-password")))

	t.Log("LDAPS and StartTLS")
	tc, err := goldap.DialURL("ldaps://"+f.ldaps, goldap.DialWithTLSConfig(&tls.Config{InsecureSkipVerify: true}))
	require.NoError(t, err)
	defer tc.Close()
	require.NoError(t, tc.Bind(userDN("alice"), "alice-password"))
	sc := f.dial(t)
	require.NoError(t, sc.StartTLS(&tls.Config{InsecureSkipVerify: true}))
	require.NoError(t, sc.Bind(userDN("alice"), "alice-password"))
	assert.Len(t, search(t, sc, base, "(cn=alice)"), 2)
	_ = fmt.Sprint
}
