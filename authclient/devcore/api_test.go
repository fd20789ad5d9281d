package devcore_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	api "goauthentik.io/api/v3"
)

func TestAuthErrors(t *testing.T) {
	t.Parallel()
	c := startCore(t)
	tests := []struct {
		name, path, auth string
		status           int
		body             string
	}{
		{"no credentials", "api/v3/outposts/instances/", "", 403, `{"detail":"Authentication credentials were not provided."}`},
		{"invalid token", "api/v3/outposts/instances/", "Bearer nope", 403, `{"detail":"Token invalid/expired"}`},
		{"basic auth", "api/v3/outposts/instances/", "Basic Zm9vOmJhcg==", 403, `{"detail":"Unsupported authentication type"}`},
		{"unknown path", "api/v3/nothing/here/", "", 404, `{"detail":"Not found."}`},
		{"no trailing slash", "api/v3/outposts/instances", "", 404, `{"detail":"Not found."}`},
		{"invalid page", "api/v3/outposts/instances/?page=7", "Bearer " + c.Token("ldap-outpost"), 404, `{"detail":"Invalid page."}`},
		{"bad page", "api/v3/core/users/?page=x", "Bearer " + c.Token("ldap-outpost"), 404, `{"detail":"Invalid page."}`},
		{"bad filter", "api/v3/core/users/?is_active=maybe", "Bearer " + c.Token("ldap-outpost"), 400, `{"is_active":["Select a valid choice. maybe is not one of the available choices."]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			status, body := rawGet(t, c.URL+tt.path, tt.auth)
			assert.Equal(t, tt.status, status)
			assert.JSONEq(t, tt.body, body)
		})
	}
}

func TestOutpostInstances(t *testing.T) {
	t.Parallel()
	c := startCore(t)
	ctx := context.Background()
	tests := []struct {
		outpost, host string
		refresh       int32
		providers     int
	}{
		{"ldap-outpost", c.URL, 300, 2},
		{"radius-outpost", c.URL, 120, 1},
		{"proxy-outpost", "https://auth.example.com/", 300, 1},
	}
	for _, tt := range tests {
		t.Run(tt.outpost, func(t *testing.T) {
			t.Parallel()
			cl := apiClient(t, c, c.Token(tt.outpost))
			list, _, err := cl.OutpostsAPI.OutpostsInstancesList(ctx).Execute()
			require.NoError(t, err)
			require.Len(t, list.Results, 1)
			o := list.Results[0]
			assert.Equal(t, tt.outpost, o.Name)
			assert.Equal(t, tt.host, o.Config["authentik_host"])
			assert.Equal(t, tt.refresh, o.RefreshIntervalS)
			assert.Len(t, o.ProvidersObj, tt.providers)
			assert.Equal(t, "ak-outpost-"+o.Pk+"-api", o.TokenIdentifier)
			assert.EqualValues(t, 1, list.Pagination.Count)

			one, _, err := cl.OutpostsAPI.OutpostsInstancesRetrieve(ctx, o.Pk).Execute()
			require.NoError(t, err)
			assert.Equal(t, o.Name, one.Name)

			cfg, _, err := cl.RootAPI.RootConfigRetrieve(ctx).Execute()
			require.NoError(t, err)
			assert.False(t, cfg.ErrorReporting.Enabled)
		})
	}
	// The pinned token from the blueprint is used as is.
	assert.Equal(t, "pinned-radius-token", c.Token("radius-outpost"))
}

func TestProviderLists(t *testing.T) {
	t.Parallel()
	c := startCore(t)
	ctx := context.Background()

	ldap, _, err := apiClient(t, c, c.Token("ldap-outpost")).OutpostsAPI.OutpostsLdapList(ctx).Execute()
	require.NoError(t, err)
	// ldap-orphan has no application, so authentik leaves it out.
	require.Len(t, ldap.Results, 1)
	lp := ldap.Results[0]
	assert.Equal(t, "ldap-provider", lp.Name)
	assert.Equal(t, "default-authentication-flow", lp.BindFlowSlug)
	assert.Equal(t, "default-invalidation-flow", lp.GetUnbindFlowSlug())
	assert.Equal(t, "ldap-app", lp.ApplicationSlug)
	assert.Equal(t, "dc=ldap,dc=example,dc=com", lp.GetBaseDn())
	assert.NotEmpty(t, lp.GetCertificate())

	// Another outpost's token sees none of the LDAP providers.
	other, _, err := apiClient(t, c, c.Token("radius-outpost")).OutpostsAPI.OutpostsLdapList(ctx).Execute()
	require.NoError(t, err)
	assert.Empty(t, other.Results)

	radius, _, err := apiClient(t, c, c.Token("radius-outpost")).OutpostsAPI.OutpostsRadiusList(ctx).Execute()
	require.NoError(t, err)
	require.Len(t, radius.Results, 1)
	assert.Equal(t, "radius-app", radius.Results[0].ApplicationSlug)
	assert.Equal(t, "default-authentication-flow", radius.Results[0].AuthFlowSlug)
	assert.Equal(t, "s3cret", radius.Results[0].GetSharedSecret())

	proxy, _, err := apiClient(t, c, c.Token("proxy-outpost")).OutpostsAPI.OutpostsProxyList(ctx).Page(1).PageSize(100).Execute()
	require.NoError(t, err)
	require.Len(t, proxy.Results, 1)
	pp := proxy.Results[0]
	assert.Equal(t, "https://app.example.com", pp.ExternalHost)
	assert.Equal(t, c.URL+"application/o/proxy-app/", pp.OidcConfiguration.Issuer)
	assert.Equal(t, "proxy-app", pp.AssignedApplicationSlug)
	assert.InDelta(t, 86400, pp.GetAccessTokenValidity(), 0.1)
	assert.EqualValues(t, 0, proxy.Pagination.Next)
}

func TestUsersAndGroups(t *testing.T) {
	t.Parallel()
	c := startCore(t)
	ctx := context.Background()
	cl := apiClient(t, c, c.Token("ldap-outpost"))

	all, _, err := cl.CoreAPI.CoreUsersList(ctx).PageSize(100).Execute()
	require.NoError(t, err)
	assert.EqualValues(t, 9, all.Pagination.Count) // 6 users + 3 outpost service accounts
	var alice api.User
	for _, u := range all.Results {
		if u.Username == "alice" {
			alice = u
		}
	}
	require.Equal(t, "alice", alice.Username)

	tests := []struct {
		name  string
		req   api.ApiCoreUsersListRequest
		users []string
	}{
		{"username", cl.CoreAPI.CoreUsersList(ctx).Username("alice"), []string{"alice"}},
		{"email", cl.CoreAPI.CoreUsersList(ctx).Email("bob@example.com"), []string{"bob"}},
		{"name", cl.CoreAPI.CoreUsersList(ctx).Name("Eve Outsider"), []string{"eve"}},
		{"groups_by_name", cl.CoreAPI.CoreUsersList(ctx).GroupsByName([]string{"staff", "admins"}), []string{"bob", "carol", "dave", "root"}},
		{"inactive", cl.CoreAPI.CoreUsersList(ctx).IsActive(false), []string{"carol"}},
		{"search", cl.CoreAPI.CoreUsersList(ctx).Search("example.com").Ordering("-username"), []string{"bob", "alice"}},
		{"attributes", cl.CoreAPI.CoreUsersList(ctx).Attributes(`{"team":"blue"}`), []string{"alice"}},
		{"paged", cl.CoreAPI.CoreUsersList(ctx).Type_([]api.UserTypeEnum{"internal"}).PageSize(2).Page(2), []string{"carol", "dave"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res, _, err := tt.req.Execute()
			require.NoError(t, err)
			var names []string
			for _, u := range res.Results {
				names = append(names, u.Username)
			}
			assert.Equal(t, tt.users, names)
		})
	}

	t.Run("no groups", func(t *testing.T) {
		t.Parallel()
		res, _, err := cl.CoreAPI.CoreUsersList(ctx).Username("alice").IncludeGroups(false).Execute()
		require.NoError(t, err)
		require.Len(t, res.Results, 1)
		assert.Nil(t, res.Results[0].GroupsObj)
		assert.Len(t, res.Results[0].Groups, 2)
	})
	t.Run("unknown group", func(t *testing.T) {
		t.Parallel()
		status, body := rawGet(t, c.URL+"api/v3/core/users/?groups_by_name=nope", "Bearer "+c.Token("ldap-outpost"))
		assert.Equal(t, http.StatusBadRequest, status)
		assert.Contains(t, mustJSON(t, body), "groups_by_name")
	})
	t.Run("retrieve", func(t *testing.T) {
		t.Parallel()
		u, _, err := cl.CoreAPI.CoreUsersRetrieve(ctx, alice.Pk).Execute()
		require.NoError(t, err)
		assert.Equal(t, "alice@example.com", u.GetEmail())
		assert.False(t, u.IsSuperuser)
		_, resp, err := cl.CoreAPI.CoreUsersRetrieve(ctx, 9999).Execute()
		require.Error(t, err)
		assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	})
	t.Run("me by bearer", func(t *testing.T) {
		t.Parallel()
		me, _, err := cl.CoreAPI.CoreUsersMeRetrieve(ctx).Execute()
		require.NoError(t, err)
		assert.Equal(t, api.UserTypeEnum("internal_service_account"), me.User.GetType())
	})
	t.Run("groups", func(t *testing.T) {
		t.Parallel()
		res, _, err := cl.CoreAPI.CoreGroupsList(ctx).IncludeChildren(true).IncludeParents(true).Execute()
		require.NoError(t, err)
		byName := map[string]api.Group{}
		for _, g := range res.Results {
			byName[g.Name] = g
		}
		require.Len(t, byName, 4)
		assert.Len(t, byName["staff"].UsersObj, 3)
		assert.Equal(t, []string{byName["engineers"].Pk}, byName["staff"].Children)
		require.Len(t, byName["engineers"].ParentsObj, 1)
		assert.Equal(t, "staff", byName["engineers"].ParentsObj[0].Name)
		admins := byName["admins"]
		assert.True(t, admins.GetIsSuperuser())

		mine, _, err := cl.CoreAPI.CoreGroupsList(ctx).MembersByPk([]int32{alice.Pk}).IncludeUsers(false).Execute()
		require.NoError(t, err)
		var names []string
		for _, g := range mine.Results {
			names = append(names, g.Name)
			assert.Nil(t, g.UsersObj)
		}
		assert.Equal(t, []string{"engineers", "searchers"}, names)

		one, _, err := cl.CoreAPI.CoreGroupsRetrieve(ctx, byName["staff"].Pk).Execute()
		require.NoError(t, err)
		assert.Equal(t, "staff", one.Name)
	})
}

func TestCertificates(t *testing.T) {
	t.Parallel()
	c := startCore(t)
	ctx := context.Background()
	cl := apiClient(t, c, c.Token("ldap-outpost"))
	ldap, _, err := cl.OutpostsAPI.OutpostsLdapList(ctx).Execute()
	require.NoError(t, err)
	pk := ldap.Results[0].GetCertificate()

	kp, _, err := cl.CryptoAPI.CryptoCertificatekeypairsRetrieve(ctx, pk).Execute()
	require.NoError(t, err)
	assert.Equal(t, "ldap-cert", kp.Name)
	assert.Len(t, kp.GetFingerprintSha256(), 95)
	assert.True(t, kp.PrivateKeyAvailable)
	assert.Equal(t, api.CERTIFICATEKEYPAIRKEYTYPEENUM_EC, kp.GetKeyType())

	cert, _, err := cl.CryptoAPI.CryptoCertificatekeypairsViewCertificateRetrieve(ctx, pk).Execute()
	require.NoError(t, err)
	assert.Contains(t, cert.Data, "BEGIN CERTIFICATE")
	key, _, err := cl.CryptoAPI.CryptoCertificatekeypairsViewPrivateKeyRetrieve(ctx, pk).Execute()
	require.NoError(t, err)
	assert.Contains(t, key.Data, "PRIVATE KEY")

	// Another outpost cannot read this key pair.
	_, resp, err := apiClient(t, c, c.Token("proxy-outpost")).CryptoAPI.CryptoCertificatekeypairsViewPrivateKeyRetrieve(ctx, pk).Execute()
	require.Error(t, err)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
}
