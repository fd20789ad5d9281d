package clients_test

import (
	"crypto/tls"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// giteaSource is Gitea's "LDAP (via BindDN)" authentication source as
// docs/guides/ldap-gitea.md sets it up, under the names of the fields of
// Gitea's services/auth/source/ldap.Source.
type giteaSource struct {
	Host             string
	Port             int
	SecurityProtocol string // "StartTLS"
	BindDN           string
	BindPassword     string
	UserBase         string
	Filter           string // %[1]s is the login name
	AdminFilter      string
	RestrictedFilter string

	AttributeUsername     string
	AttributeName         string
	AttributeSurname      string
	AttributeMail         string
	AttributeSSHPublicKey string
	SearchPageSize        uint32

	GroupsEnabled  bool
	GroupDN        string
	GroupFilter    string
	GroupMemberUID string
	UserUID        string
}

// giteaGuideSource returns the settings the guide shows.
func giteaGuideSource() giteaSource {
	return giteaSource{
		Host:                  certName,
		Port:                  389,
		SecurityProtocol:      "StartTLS",
		BindDN:                svcDN,
		BindPassword:          svcPassword,
		UserBase:              usersDN,
		Filter:                "(&(objectClass=user)(ak-active=TRUE)(|(cn=%[1]s)(mail=%[1]s)))",
		AdminFilter:           "(memberOf=cn=gitea-admins,ou=groups,dc=ldap,dc=goauthentik,dc=io)",
		RestrictedFilter:      "(memberOf=cn=gitea-restricted,ou=groups,dc=ldap,dc=goauthentik,dc=io)",
		AttributeUsername:     "cn",
		AttributeName:         "displayName",
		AttributeSurname:      "",
		AttributeMail:         "mail",
		AttributeSSHPublicKey: "sshPublicKey",
		SearchPageSize:        100,
		GroupsEnabled:         true,
		GroupDN:               groupsDN,
		GroupFilter:           "(|(cn=staff)(cn=gitea-admins))",
		GroupMemberUID:        "member",
		UserUID:               "dn",
	}
}

// giteaUser is what Gitea learns about a user (its SearchResult).
type giteaUser struct {
	Username, Name, Surname, Mail string
	SSHPublicKey                  []string
	IsAdmin, IsRestricted         bool
	Groups                        []string
}

// giteaReplay performs, against the outpost, the LDAP operations Gitea's
// LDAP source performs, in the same order and with the same arguments
// (go-gitea/gitea services/auth/source/ldap/source_search.go at
// 887c8a5599ec: realSearchEntry for a login, SearchEntries for the user
// synchronisation). Gitea does not run here; only its LDAP conversation.
type giteaReplay struct {
	t    *testing.T
	src  giteaSource
	addr string
	tls  *tls.Config
}

// dial is Gitea's dial: TCP, then StartTLS verifying the certificate for
// the configured host name.
func (g *giteaReplay) dial() *ldap.Conn {
	g.t.Helper()
	require.Equal(g.t, "StartTLS", g.src.SecurityProtocol)
	c, err := ldap.DialURL("ldap://" + g.addr)
	require.NoError(g.t, err)
	cfg := g.tls.Clone()
	cfg.ServerName = g.src.Host
	require.NoError(g.t, c.StartTLS(cfg))
	return c
}

// login is realSearchEntry with directBind false and AttributesInBind
// false; nil means Gitea refuses the login.
func (g *giteaReplay) login(name, password string) *giteaUser {
	g.t.Helper()
	if password == "" || strings.ContainsAny(name, "\x00()*\\") {
		return nil // Gitea checks both before dialling
	}
	c := g.dial()
	defer c.Close()
	require.NoError(g.t, c.Bind(g.src.BindDN, g.src.BindPassword), "bind as the bind DN")

	userFilter := fmt.Sprintf(g.src.Filter, name)
	sr, err := c.Search(ldap.NewSearchRequest(g.src.UserBase, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		0, 0, false, userFilter, []string{}, nil))
	require.NoError(g.t, err, "find the user")
	if len(sr.Entries) != 1 {
		return nil
	}
	userDN := sr.Entries[0].DN

	if err := c.Bind(userDN, password); err != nil {
		return nil // the password check; from here on Gitea searches as the user
	}
	attrs := []string{g.src.AttributeUsername, g.src.AttributeName, g.src.AttributeSurname, g.src.AttributeMail, g.src.UserUID, g.src.AttributeSSHPublicKey}
	sr, err = c.Search(ldap.NewSearchRequest(userDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		0, 0, false, userFilter, attrs, nil))
	require.NoError(g.t, err, "read the user's attributes as the user")
	if len(sr.Entries) < 1 {
		return nil
	}
	e := sr.Entries[0]
	u := g.user(c, e)
	if g.src.GroupsEnabled {
		u.Groups = g.groups(c, e.DN)
		if g.src.GroupFilter != "" && len(u.Groups) == 0 {
			return nil
		}
	}
	return u
}

// user reads the attributes and runs the admin and restricted checks,
// which search with the user's DN as base.
func (g *giteaReplay) user(c *ldap.Conn, e *ldap.Entry) *giteaUser {
	u := &giteaUser{
		Username:     e.GetAttributeValue(g.src.AttributeUsername),
		Name:         e.GetAttributeValue(g.src.AttributeName),
		Surname:      e.GetAttributeValue(g.src.AttributeSurname),
		Mail:         e.GetAttributeValue(g.src.AttributeMail),
		SSHPublicKey: e.GetAttributeValues(g.src.AttributeSSHPublicKey),
	}
	u.IsAdmin = g.matches(c, e.DN, g.src.AdminFilter)
	if !u.IsAdmin {
		u.IsRestricted = g.matches(c, e.DN, g.src.RestrictedFilter)
	}
	return u
}

func (g *giteaReplay) matches(c *ldap.Conn, userDN, filter string) bool {
	g.t.Helper()
	if filter == "" {
		return false
	}
	sr, err := c.Search(ldap.NewSearchRequest(userDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		0, 0, false, filter, []string{g.src.AttributeName}, nil))
	require.NoError(g.t, err, "search %s under %s", filter, userDN)
	return len(sr.Entries) > 0
}

// groups is listLdapGroupMemberships with the group filter applied; with
// UserUID "dn" the value looked for in the member attribute is the DN.
func (g *giteaReplay) groups(c *ldap.Conn, userDN string) []string {
	g.t.Helper()
	filter := fmt.Sprintf("(&(%s)(%s=%s))", g.src.GroupFilter, g.src.GroupMemberUID, ldap.EscapeFilter(userDN))
	sr, err := c.Search(ldap.NewSearchRequest(g.src.GroupDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		0, 0, false, filter, []string{}, nil))
	require.NoError(g.t, err, "group search %s", filter)
	var dns []string
	for _, e := range sr.Entries {
		dns = append(dns, e.DN)
	}
	sort.Strings(dns)
	return dns
}

// sync is SearchEntries: every user the filter finds, read with paging as
// the bind DN, skipping users outside the groups.
func (g *giteaReplay) sync() map[string]*giteaUser {
	g.t.Helper()
	c := g.dial()
	defer c.Close()
	require.NoError(g.t, c.Bind(g.src.BindDN, g.src.BindPassword))
	attrs := []string{g.src.AttributeUsername, g.src.AttributeName, g.src.AttributeSurname, g.src.AttributeMail, g.src.UserUID, g.src.AttributeSSHPublicKey}
	req := ldap.NewSearchRequest(g.src.UserBase, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		0, 0, false, fmt.Sprintf(g.src.Filter, "*"), attrs, nil)
	sr, err := c.SearchWithPaging(req, g.src.SearchPageSize)
	require.NoError(g.t, err, "paged user search")
	users := map[string]*giteaUser{}
	for _, e := range sr.Entries {
		var groups []string
		if g.src.GroupsEnabled && g.src.GroupFilter != "" {
			if groups = g.groups(c, e.DN); len(groups) == 0 {
				continue
			}
		}
		u := g.user(c, e)
		u.Groups = groups
		users[u.Username] = u
	}
	return users
}

// TestGitea replays Gitea's LDAP source against the outpost with the
// guide's settings (docs/guides/ldap-gitea.md).
func TestGitea(t *testing.T) {
	t.Parallel()
	o := startOutpost(t)
	g := &giteaReplay{t: t, src: giteaGuideSource(), addr: o.ldapAddr, tls: o.tlsConfig(t)}
	staff, admins := "cn=staff,"+groupsDN, "cn=gitea-admins,"+groupsDN

	t.Run("admin logs in by name and by email", func(t *testing.T) {
		g := *g
		g.t = t
		for _, login := range []string{"alice", "alice@example.com", "ALICE"} {
			u := g.login(login, "alice-password")
			require.NotNil(t, u, login)
			assert.Equal(t, "alice", u.Username)
			assert.Equal(t, "Alice Example", u.Name)
			assert.Empty(t, u.Surname, "no surname attribute: Gitea's full name is the display name")
			assert.Equal(t, "alice@example.com", u.Mail)
			require.Len(t, u.SSHPublicKey, 1)
			assert.True(t, strings.HasPrefix(u.SSHPublicKey[0], "ssh-ed25519 "))
			assert.True(t, u.IsAdmin)
			assert.False(t, u.IsRestricted)
			assert.Equal(t, []string{admins, staff}, u.Groups)
		}
	})
	t.Run("restricted user", func(t *testing.T) {
		g := *g
		g.t = t
		u := g.login("bob", "bob-password")
		require.NotNil(t, u)
		assert.False(t, u.IsAdmin)
		assert.True(t, u.IsRestricted)
		assert.Empty(t, u.SSHPublicKey)
		assert.Equal(t, []string{staff}, u.Groups, "gitea-restricted is outside the group filter")
	})
	t.Run("refused logins", func(t *testing.T) {
		g := *g
		g.t = t
		for _, tc := range []struct{ name, login, password string }{
			{"wrong password", "alice", "wrong-password"},
			{"empty password", "alice", ""},
			{"inactive user", "dave", "dave-password"},
			{"denied by the application", "eve", "eve-password"},
			{"not in the groups", "svc-ldap", svcPassword},
			{"unknown user", "nosuchuser", "whatever"},
			{"filter injection", "alice)(cn=*", "alice-password"},
		} {
			assert.Nil(t, g.login(tc.login, tc.password), tc.name)
		}
	})
	t.Run("user synchronisation", func(t *testing.T) {
		g := *g
		g.t = t
		users := g.sync()
		assert.ElementsMatch(t, []string{"alice", "bob"}, keys(users), "dave is inactive, eve and svc-ldap are outside the groups")
		require.Contains(t, users, "alice")
		assert.True(t, users["alice"].IsAdmin)
		require.Contains(t, users, "bob")
		assert.True(t, users["bob"].IsRestricted)
	})
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
