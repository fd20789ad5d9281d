package devcore_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	api "goauthentik.io/api/v3"

	"github.com/outpost-go/outposts/authclient/devcore/devcoretest"
)

// TestListPaging pages through users and groups the way an outpost reads a
// directory and checks the pages add up to the one-page answer, for several
// orderings and filters answered from the same core (each query keeps its
// own ordered list between pages).
func TestListPaging(t *testing.T) {
	t.Parallel()
	core, err := os.ReadFile("testdata/core.yaml")
	require.NoError(t, err)
	var b strings.Builder
	b.WriteString("version: 1\nentries:\n")
	const nGroups, nUsers = 12, 230
	for g := range nGroups {
		fmt.Fprintf(&b, "  - {model: authentik_core.group, id: lg%d, identifiers: {name: list-group-%02d}}\n", g, (g*7)%nGroups)
	}
	for i := range nUsers {
		// Usernames out of pk order, so the orderings differ.
		fmt.Fprintf(&b, "  - {model: authentik_core.user, identifiers: {username: list-user%03d}, attrs: {name: List %d, email: l%03d@example.org, is_active: %t, groups: [!KeyOf lg%d]}}\n",
			(i*37)%nUsers, i, (i*11)%nUsers, i%3 != 0, i%nGroups)
	}
	c := devcoretest.Start(t, devcoretest.WithBlueprint("core.yaml", string(core)), devcoretest.WithBlueprint("lists.yaml", b.String()))
	ctx := context.Background()
	cl := apiClient(t, c, c.Token("ldap-outpost"))

	userTests := []struct {
		name string
		req  func() api.ApiCoreUsersListRequest
	}{
		{"by pk", func() api.ApiCoreUsersListRequest { return cl.CoreAPI.CoreUsersList(ctx).Ordering("pk") }},
		{"default ordering", func() api.ApiCoreUsersListRequest { return cl.CoreAPI.CoreUsersList(ctx) }},
		{"by email descending", func() api.ApiCoreUsersListRequest { return cl.CoreAPI.CoreUsersList(ctx).Ordering("-email") }},
		{"active only", func() api.ApiCoreUsersListRequest {
			return cl.CoreAPI.CoreUsersList(ctx).IsActive(true).Ordering("pk").IncludeGroups(false)
		}},
		{"one group", func() api.ApiCoreUsersListRequest {
			return cl.CoreAPI.CoreUsersList(ctx).GroupsByName([]string{"list-group-03"}).Ordering("username")
		}},
	}
	for _, tt := range userTests {
		t.Run("users "+tt.name, func(t *testing.T) {
			t.Parallel()
			whole, _, err := tt.req().PageSize(1000).Execute()
			require.NoError(t, err)
			want := make([]int32, 0, len(whole.Results))
			for _, u := range whole.Results {
				want = append(want, u.Pk)
			}
			var got []int32
			for page := int32(1); page != 0; {
				res, _, err := tt.req().Page(page).PageSize(17).Execute()
				require.NoError(t, err)
				assert.Equal(t, whole.Pagination.Count, res.Pagination.Count)
				for _, u := range res.Results {
					got = append(got, u.Pk)
				}
				page = int32(res.Pagination.Next)
			}
			assert.Equal(t, want, got)
		})
	}

	groupTests := []struct {
		name string
		req  func() api.ApiCoreGroupsListRequest
	}{
		{"by name", func() api.ApiCoreGroupsListRequest {
			return cl.CoreAPI.CoreGroupsList(ctx).Ordering("name").IncludeUsers(false)
		}},
		{"by pk with users", func() api.ApiCoreGroupsListRequest { return cl.CoreAPI.CoreGroupsList(ctx).Ordering("pk") }},
		{"search", func() api.ApiCoreGroupsListRequest { return cl.CoreAPI.CoreGroupsList(ctx).Search("list-group") }},
	}
	for _, tt := range groupTests {
		t.Run("groups "+tt.name, func(t *testing.T) {
			t.Parallel()
			whole, _, err := tt.req().PageSize(1000).Execute()
			require.NoError(t, err)
			want := make([]string, 0, len(whole.Results))
			for _, g := range whole.Results {
				want = append(want, g.Pk)
			}
			var got []string
			for page := int32(1); page != 0; {
				res, _, err := tt.req().Page(page).PageSize(5).Execute()
				require.NoError(t, err)
				for _, g := range res.Results {
					got = append(got, g.Pk)
				}
				page = int32(res.Pagination.Next)
			}
			assert.Equal(t, want, got)
		})
	}
}
