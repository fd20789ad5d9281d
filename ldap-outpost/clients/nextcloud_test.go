package clients_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/outpost-go/outposts/authclient/outpost/outposttest"
)

// nextcloudConfig reads the user_ldap settings from the occ commands in
// testdata/nextcloud-occ.sh, which docs/guides/ldap-nextcloud.md shows.
func nextcloudConfig(t *testing.T) map[string]string {
	t.Helper()
	cfg := map[string]string{}
	for _, line := range strings.Split(readTestdata(t, "nextcloud-occ.sh"), "\n") {
		w := shellWords(line)
		if len(w) == 5 && w[0] == "occ" && w[1] == "ldap:set-config" {
			cfg[w[3]] = w[4]
		}
	}
	require.NotEmpty(t, cfg)
	return cfg
}

// nextcloudUUIDCandidates are the attributes user_ldap tries, in order,
// when no UUID attribute is configured (Access::detectUuidAttribute).
var nextcloudUUIDCandidates = []string{"entryuuid", "nsuniqueid", "objectguid", "guid", "ipauniqueid"}

// nextcloudReplay performs the LDAP operations of Nextcloud's user_ldap
// app (nextcloud/server apps/user_ldap/lib: Connection.php, Access.php,
// User_LDAP.php, Group_LDAP.php) with the guide's settings. Searches
// user_ldap makes through PHP's ldap extension (OpenLDAP's libldap) run
// here through ldapsearch, which uses the same library; binds and the
// paged listings use go-ldap. Nextcloud does not run here.
type nextcloudReplay struct {
	t      *testing.T
	cfg    map[string]string
	addr   string
	caFile string
	// dial connects the way Connection::establishConnection does with
	// ldapTLS 1: plain LDAP, then StartTLS checking the certificate.
	dial func(t *testing.T) *ldap.Conn
}

// ldapsearch runs ldapsearch bound as the agent over StartTLS, checking
// the certificate against the provider's, and returns the entries.
func (n *nextcloudReplay) ldapsearch(extra ...string) []ldifEntry {
	n.t.Helper()
	path := outposttest.Need(n.t, "ldapsearch", "ldap-utils (apt install ldap-utils)")
	args := append([]string{"-x", "-ZZ", "-LLL", "-o", "ldif-wrap=no", "-H", "ldap://" + n.addr,
		"-D", n.cfg["ldapAgentName"], "-w", n.cfg["ldapAgentPassword"]}, extra...)
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(), "LDAPCONF=/dev/null", "HOME="+n.t.TempDir(), "LDAPTLS_CACERT="+n.caFile, "LDAPTLS_REQCERT=demand")
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 32 {
		return nil // noSuchObject
	}
	require.NoError(n.t, err, "ldapsearch %v:\n%s", extra, out)
	return parseLDIF(string(out))
}

// readAttribute is Access::readAttribute: a base-scope read of one
// attribute, with the filter user_ldap passes (objectClass=* by default).
func (n *nextcloudReplay) readAttribute(dn, attr, filter string) ([]string, bool) {
	n.t.Helper()
	entries := n.ldapsearch("-s", "base", "-b", dn, filter, attr)
	if len(entries) == 0 {
		return nil, false
	}
	return entries[0].values(attr), true
}

// userAttributes is what User\Manager::getAttributes asks for on a login.
func (n *nextcloudReplay) userAttributes() []string {
	return append(append([]string{}, nextcloudUUIDCandidates...), "dn", "uid", "samaccountname", "memberof",
		n.cfg["ldapExpertUUIDUserAttr"], n.cfg["ldapEmailAttribute"], n.cfg["ldapUserDisplayName"],
		n.cfg["ldapExpertUsernameAttr"], "jpegphoto", "thumbnailphoto")
}

// fetchUsersByLoginName is the login lookup: the login filter with %uid
// replaced by the escaped login name, paged, under the users' base.
func (n *nextcloudReplay) fetchUsersByLoginName(login string) []ldifEntry {
	n.t.Helper()
	filter := strings.ReplaceAll(n.cfg["ldapLoginFilter"], "%uid", ldap.EscapeFilter(login))
	args := []string{"-E", "pr=" + n.cfg["ldapPagingSize"] + "/noprompt", "-s", "sub", "-b", n.cfg["ldapBaseUsers"], filter}
	return n.ldapsearch(append(args, n.userAttributes()...)...)
}

// areCredentialsValid binds as the user on a new connection.
func (n *nextcloudReplay) areCredentialsValid(dn, password string) bool {
	n.t.Helper()
	c := n.dial(n.t)
	defer c.Close()
	return c.Bind(dn, password) == nil
}

// checkPassword is User_LDAP::checkPassword: the user's DN or false.
func (n *nextcloudReplay) checkPassword(login, password string) (ldifEntry, bool) {
	n.t.Helper()
	users := n.fetchUsersByLoginName(login)
	if len(users) < 1 {
		return ldifEntry{}, false
	}
	if !n.areCredentialsValid(users[0].dn, password) {
		return ldifEntry{}, false
	}
	return users[0], true
}

// agent returns a connection bound as the agent, as Connection::bind does.
func (n *nextcloudReplay) agent() *ldap.Conn {
	n.t.Helper()
	c := n.dial(n.t)
	n.t.Cleanup(func() { c.Close() })
	require.NoError(n.t, c.Bind(n.cfg["ldapAgentName"], n.cfg["ldapAgentPassword"]))
	return c
}

// pagedSearch is Access::search with paged results of ldapPagingSize.
func (n *nextcloudReplay) pagedSearch(base, filter string, attrs []string) []*ldap.Entry {
	n.t.Helper()
	size, err := strconv.Atoi(n.cfg["ldapPagingSize"])
	require.NoError(n.t, err)
	res, err := n.agent().SearchWithPaging(ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		0, 0, false, filter, attrs, nil), uint32(size))
	require.NoError(n.t, err, "paged search %s", filter)
	return res.Entries
}

// TestNextcloud replays Nextcloud's user_ldap against the outpost with the
// guide's settings (docs/guides/ldap-nextcloud.md).
func TestNextcloud(t *testing.T) {
	t.Parallel()
	outposttest.Need(t, "ldapsearch", "ldap-utils (apt install ldap-utils)")
	o := startOutpost(t)
	cfg := nextcloudConfig(t)
	require.Equal(t, "ldap://"+certName, cfg["ldapHost"])
	require.Equal(t, "1", cfg["ldapTLS"], "StartTLS")
	caFile := filepath.Join(t.TempDir(), "authentik-ldap.pem")
	require.NoError(t, os.WriteFile(caFile, []byte(o.certPEM), 0o644))
	n := &nextcloudReplay{t: t, cfg: cfg, addr: o.ldapAddr, caFile: caFile, dial: o.dialStartTLS}
	sub := func(t *testing.T) *nextcloudReplay {
		c := *n
		c.t = t
		return &c
	}
	staff, admins := "cn=staff,"+groupsDN, "cn=gitea-admins,"+groupsDN
	aliceDN, bobDN := "cn=alice,"+usersDN, "cn=bob,"+usersDN

	t.Run("login", func(t *testing.T) {
		n := sub(t)
		for _, login := range []string{"alice", "alice@example.com"} {
			u, ok := n.checkPassword(login, "alice-password")
			require.True(t, ok, login)
			assert.Equal(t, aliceDN, u.dn)
			assert.Equal(t, []string{"alice"}, u.values(cfg["ldapExpertUsernameAttr"]), "internal username")
			assert.Equal(t, []string{"Alice Example"}, u.values(cfg["ldapUserDisplayName"]))
			assert.Equal(t, []string{"alice@example.com"}, u.values(cfg["ldapEmailAttribute"]))
			require.Len(t, u.values(cfg["ldapExpertUUIDUserAttr"]), 1, "UUID")
			assert.ElementsMatch(t, []string{staff, admins}, u.values("memberOf"))
		}
		for _, tc := range []struct{ name, login, password string }{
			{"wrong password", "alice", "wrong-password"},
			{"inactive user", "dave", "dave-password"},
			{"not in staff", "eve", "eve-password"},
			{"service account", "svc-ldap", svcPassword},
			{"unknown user", "nosuchuser", "x"},
			{"filter injection", "*", "alice-password"},
		} {
			_, ok := n.checkPassword(tc.login, tc.password)
			assert.False(t, ok, tc.name)
		}
	})
	t.Run("UUID attributes", func(t *testing.T) {
		n := sub(t)
		// Auto-detection finds none of its candidates, hence the overrides.
		for _, attr := range nextcloudUUIDCandidates {
			v, found := n.readAttribute(aliceDN, attr, "objectClass=*")
			require.True(t, found)
			assert.Empty(t, v, attr)
		}
		uuid, _ := n.readAttribute(aliceDN, cfg["ldapExpertUUIDUserAttr"], "objectClass=*")
		require.Len(t, uuid, 1)
		again, _ := n.readAttribute(aliceDN, cfg["ldapExpertUUIDUserAttr"], "objectClass=*")
		assert.Equal(t, uuid, again, "stable")
		g, _ := n.readAttribute(staff, cfg["ldapExpertUUIDGroupAttr"], "objectClass=*")
		require.Len(t, g, 1)
		assert.NotEqual(t, uuid, g)
	})
	t.Run("user list", func(t *testing.T) {
		n := sub(t)
		// User_LDAP::getUsers: the user filter and "display name present".
		filter := "(&" + cfg["ldapUserFilter"] + "(" + cfg["ldapUserDisplayName"] + "=*))"
		var dns []string
		for _, e := range n.pagedSearch(cfg["ldapBaseUsers"], filter, n.userAttributes()) {
			dns = append(dns, e.DN)
		}
		assert.ElementsMatch(t, []string{aliceDN, bobDN}, dns, "dave is inactive; eve and svc-ldap are not in staff")
	})
	t.Run("group list", func(t *testing.T) {
		n := sub(t)
		filter := "(&" + cfg["ldapGroupFilter"] + "(" + cfg["ldapGroupDisplayName"] + "=*))"
		var names []string
		for _, e := range n.pagedSearch(cfg["ldapBaseGroups"], filter, []string{cfg["ldapGroupDisplayName"], "dn", cfg["ldapExpertUUIDGroupAttr"]}) {
			names = append(names, e.GetAttributeValue(cfg["ldapGroupDisplayName"]))
		}
		assert.ElementsMatch(t, []string{"staff", "gitea-admins"}, names)
	})
	t.Run("groups of a user", func(t *testing.T) {
		n := sub(t)
		for _, tc := range []struct {
			user string
			want []string
		}{
			{aliceDN, []string{admins, staff}},
			{bobDN, []string{staff}},
		} {
			// Without memberOf support: groups whose member holds the DN.
			filter := "(&" + cfg["ldapGroupFilter"] + "(" + cfg["ldapGroupMemberAssocAttr"] + "=" + ldap.EscapeFilter(tc.user) + "))"
			var byMember []string
			for _, e := range n.pagedSearch(cfg["ldapBaseGroups"], filter, []string{"dn"}) {
				byMember = append(byMember, e.DN)
			}
			sort.Strings(byMember)
			assert.Equal(t, tc.want, byMember, "member search for %s", tc.user)

			// With memberOf (useMemberOfToDetectMembership): the user's
			// memberOf, each group read again through the group filter.
			memberOf, _ := n.readAttribute(tc.user, "memberOf", "objectClass=*")
			var byMemberOf []string
			for _, g := range memberOf {
				// Access::groupsMatchFilter reads cn through the group filter.
				if _, ok := n.readAttribute(g, "cn", cfg["ldapGroupFilter"]); ok {
					byMemberOf = append(byMemberOf, g)
				}
			}
			sort.Strings(byMemberOf)
			assert.Equal(t, tc.want, byMemberOf, "memberOf for %s", tc.user)
		}
	})
	t.Run("members of a group", func(t *testing.T) {
		n := sub(t)
		// Group_LDAP::usersInGroup: the group's member values, each kept
		// when it reads back through the user filter.
		members, ok := n.readAttribute(staff, cfg["ldapGroupMemberAssocAttr"], "objectClass=*")
		require.True(t, ok)
		var users []string
		for _, m := range members {
			if _, ok := n.readAttribute(m, cfg["ldapUserDisplayName"], cfg["ldapUserFilter"]); ok {
				users = append(users, m)
			}
		}
		assert.ElementsMatch(t, []string{aliceDN, bobDN}, users)
	})
}

// ldifEntry is one entry of ldapsearch -LLL output.
type ldifEntry struct {
	dn    string
	attrs map[string][]string // lower-cased names
}

func (e ldifEntry) values(attr string) []string { return e.attrs[strings.ToLower(attr)] }

// parseLDIF reads unwrapped (-o ldif-wrap=no), plain-valued LDIF.
func parseLDIF(s string) []ldifEntry {
	var out []ldifEntry
	for _, block := range strings.Split(strings.TrimSpace(s), "\n\n") {
		var e ldifEntry
		for _, line := range strings.Split(block, "\n") {
			name, value, ok := strings.Cut(line, ": ")
			if !ok {
				continue
			}
			if name == "dn" {
				e.dn, e.attrs = value, map[string][]string{}
				continue
			}
			if e.attrs != nil {
				e.attrs[strings.ToLower(name)] = append(e.attrs[strings.ToLower(name)], value)
			}
		}
		if e.dn != "" {
			out = append(out, e)
		}
	}
	return out
}
