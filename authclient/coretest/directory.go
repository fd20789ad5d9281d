package coretest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"testing"

	api "goauthentik.io/api/v3"
)

// The LDAP outpost searches with its own token and names the LDAP filter
// it is serving in this header.
const ldapQueryHeader = "X-authentik-outpost-ldap-query"

func userKey(u api.User) string   { return strconv.Itoa(int(u.Pk)) }
func groupKey(g api.Group) string { return g.Pk }

// testUsers checks /core/users/ as the LDAP outpost's direct and cached
// search modes use it. Filters are checked against the full list: a filter
// must return exactly the users the full list says match it.
func testUsers(t *testing.T, c *core, cl *caller) {
	cl = cl.with(ldapQueryHeader, "(objectClass=user)")
	var all []api.User
	if !t.Run("List", func(t *testing.T) {
		all = listAll[api.PaginatedUserList, api.User](t, cl, "/core/users/", nil, 100)
	}) {
		return
	}
	fixture, ok := findUser(all, c.target.User.Username)
	if !ok {
		t.Fatalf("GET /core/users/: fixture user %q is not listed", c.target.User.Username)
	}
	t.Run("Paging", func(t *testing.T) {
		testPaging[api.PaginatedUserList, api.User](t, cl, "/core/users/", nil, userKey)
	})
	t.Run("Retrieve", func(t *testing.T) {
		u, r := call[api.User](t, cl, http.MethodGet, fmt.Sprintf("/core/users/%d/", fixture.Pk), nil, nil)
		if u.Pk != fixture.Pk || u.Username != fixture.Username || u.Uuid != fixture.Uuid || u.GetEmail() != fixture.GetEmail() {
			t.Errorf("%s: got %d/%s/%s/%s, list has %d/%s/%s/%s", r, u.Pk, u.Username, u.Uuid, u.GetEmail(),
				fixture.Pk, fixture.Username, fixture.Uuid, fixture.GetEmail())
		}
		missing := cl.do(t, http.MethodGet, "/core/users/2147483000/", nil, nil)
		if missing.status != http.StatusNotFound {
			t.Errorf("%s: status %d for an unknown user, want 404", missing, missing.status)
		}
	})
	filter := func(t *testing.T, q url.Values, match func(api.User) bool) {
		t.Helper()
		got := listAll[api.PaginatedUserList, api.User](t, cl, "/core/users/", q, 100)
		var want []api.User
		for _, u := range all {
			if match(u) {
				want = append(want, u)
			}
		}
		if g, w := sortedKeys(got, userKey), sortedKeys(want, userKey); !slices.Equal(g, w) {
			t.Errorf("GET /core/users/?%s: users %v, want %v (from the unfiltered list)", q.Encode(), g, w)
		}
	}
	t.Run("FilterUsername", func(t *testing.T) {
		filter(t, url.Values{"username": {fixture.Username}}, func(u api.User) bool { return u.Username == fixture.Username })
		filter(t, url.Values{"username": {"coretest-no-such-user"}}, func(api.User) bool { return false })
	})
	t.Run("FilterEmail", func(t *testing.T) {
		email := fixture.GetEmail()
		if email == "" {
			t.Skip("the fixture user has no email")
		}
		filter(t, url.Values{"email": {email}}, func(u api.User) bool { return u.GetEmail() == email })
	})
	t.Run("FilterName", func(t *testing.T) {
		if fixture.Name == "" {
			t.Skip("the fixture user has no name")
		}
		filter(t, url.Values{"name": {fixture.Name}}, func(u api.User) bool { return u.Name == fixture.Name })
	})
	t.Run("FilterIsActive", func(t *testing.T) {
		for _, active := range []bool{true, false} {
			filter(t, url.Values{"is_active": {strconv.FormatBool(active)}}, func(u api.User) bool { return u.GetIsActive() == active })
		}
	})
	t.Run("FilterGroupsByName", func(t *testing.T) {
		names := groupNames(all)
		if len(names) == 0 {
			t.Skip("no user is in a group")
		}
		for _, n := range names {
			filter(t, url.Values{"groups_by_name": {n}}, func(u api.User) bool { return inGroup(u, n) })
		}
		if len(names) >= 2 {
			// Repeated values select users in any of the groups.
			a, b := names[0], names[1]
			filter(t, url.Values{"groups_by_name": {a, b}}, func(u api.User) bool { return inGroup(u, a) || inGroup(u, b) })
		}
	})
	t.Run("FilterCombined", func(t *testing.T) {
		filter(t, url.Values{"username": {fixture.Username}, "is_active": {"false"}},
			func(u api.User) bool { return u.Username == fixture.Username && !u.GetIsActive() })
	})
	t.Run("IncludeGroups", func(t *testing.T) {
		for _, include := range []string{"", "true", "false"} {
			q := url.Values{"page_size": {"100"}}
			if include != "" {
				q.Set("include_groups", include)
			}
			_, r := call[api.PaginatedUserList](t, cl, http.MethodGet, "/core/users/", q, nil)
			for i, item := range rawResults(t, r) {
				raw := rawObject(t, r, item)
				if include == "false" {
					if !isNull(raw["groups_obj"]) {
						t.Errorf("%s: results[%d].groups_obj is %s, want null with include_groups=false", r, i, raw["groups_obj"])
					}
					continue
				}
				var objs []struct {
					Pk string `json:"pk"`
				}
				var pks []string
				if err := json.Unmarshal(raw["groups_obj"], &objs); err != nil || isNull(raw["groups_obj"]) {
					t.Errorf("%s: results[%d].groups_obj is %s, want a list", r, i, raw["groups_obj"])
					continue
				}
				_ = json.Unmarshal(raw["groups"], &pks)
				var objPKs []string
				for _, o := range objs {
					objPKs = append(objPKs, o.Pk)
				}
				slices.Sort(pks)
				slices.Sort(objPKs)
				if !slices.Equal(pks, objPKs) {
					t.Errorf("%s: results[%d]: groups %v but groups_obj pks %v", r, i, pks, objPKs)
				}
			}
		}
	})
}

// testGroups checks /core/groups/ as the LDAP outpost uses it: full
// listings, and members_by_pk for a user's groups.
func testGroups(t *testing.T, c *core, cl *caller) {
	cl = cl.with(ldapQueryHeader, "(objectClass=group)")
	var groups []api.Group
	var users []api.User
	if !t.Run("List", func(t *testing.T) {
		groups = listAll[api.PaginatedGroupList, api.Group](t, cl, "/core/groups/", nil, 100)
		users = listAll[api.PaginatedUserList, api.User](t, cl, "/core/users/", nil, 100)
	}) {
		return
	}
	t.Run("Paging", func(t *testing.T) {
		testPaging[api.PaginatedGroupList, api.Group](t, cl, "/core/groups/", nil, groupKey)
	})
	t.Run("Membership", func(t *testing.T) {
		// users[*].groups and groups[*].users describe the same relation.
		byPK := map[string]api.Group{}
		for _, g := range groups {
			byPK[g.Pk] = g
		}
		for _, u := range users {
			for _, gpk := range u.Groups {
				g, ok := byPK[gpk]
				if !ok {
					t.Errorf("user %s is in group %s, which /core/groups/ does not list", u.Username, gpk)
					continue
				}
				if !slices.Contains(g.Users, u.Pk) {
					t.Errorf("user %s lists group %s (%s), but the group's users %v lack %d", u.Username, g.Name, g.Pk, g.Users, u.Pk)
				}
			}
		}
	})
	t.Run("MembersByPK", func(t *testing.T) {
		for _, u := range users {
			got := listAll[api.PaginatedGroupList, api.Group](t, cl, "/core/groups/",
				url.Values{"members_by_pk": {strconv.Itoa(int(u.Pk))}}, 100)
			var want []api.Group
			for _, g := range groups {
				if slices.Contains(g.Users, u.Pk) {
					want = append(want, g)
				}
			}
			if g, w := sortedKeys(got, groupKey), sortedKeys(want, groupKey); !slices.Equal(g, w) {
				t.Errorf("GET /core/groups/?members_by_pk=%d (%s): groups %v, want %v", u.Pk, u.Username, g, w)
			}
		}
	})
	t.Run("IncludeUsers", func(t *testing.T) {
		for _, include := range []string{"", "true", "false"} {
			q := url.Values{"page_size": {"100"}}
			if include != "" {
				q.Set("include_users", include)
			}
			_, r := call[api.PaginatedGroupList](t, cl, http.MethodGet, "/core/groups/", q, nil)
			for i, item := range rawResults(t, r) {
				raw := rawObject(t, r, item)
				if include == "false" {
					if !isNull(raw["users_obj"]) {
						t.Errorf("%s: results[%d].users_obj is %s, want null with include_users=false", r, i, raw["users_obj"])
					}
					continue
				}
				var objs []struct {
					Pk int32 `json:"pk"`
				}
				var pks []int32
				if err := json.Unmarshal(raw["users_obj"], &objs); err != nil || isNull(raw["users_obj"]) {
					t.Errorf("%s: results[%d].users_obj is %s, want a list", r, i, raw["users_obj"])
					continue
				}
				_ = json.Unmarshal(raw["users"], &pks)
				var objPKs []int32
				for _, o := range objs {
					objPKs = append(objPKs, o.Pk)
				}
				if !sameInts(pks, objPKs) {
					t.Errorf("%s: results[%d]: users %v but users_obj pks %v", r, i, pks, objPKs)
				}
			}
		}
	})
}

func findUser(all []api.User, username string) (api.User, bool) {
	for _, u := range all {
		if u.Username == username {
			return u, true
		}
	}
	return api.User{}, false
}

func groupNames(all []api.User) []string {
	seen := map[string]bool{}
	var out []string
	for _, u := range all {
		for _, g := range u.GroupsObj {
			if !seen[g.Name] {
				seen[g.Name] = true
				out = append(out, g.Name)
			}
		}
	}
	sort.Strings(out)
	return out
}

func inGroup(u api.User, name string) bool {
	for _, g := range u.GroupsObj {
		if g.Name == name {
			return true
		}
	}
	return false
}

func sortedKeys[T any](items []T, key func(T) string) []string {
	out := make([]string, 0, len(items))
	for _, it := range items {
		out = append(out, key(it))
	}
	sort.Strings(out)
	return out
}

func rawResults(t *testing.T, r *response) []json.RawMessage {
	t.Helper()
	var env struct {
		Results []json.RawMessage `json:"results"`
	}
	if err := json.Unmarshal(r.body, &env); err != nil {
		t.Fatalf("%s: decode results: %v", r, err)
	}
	return env.Results
}
