package devcore

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"
	api "goauthentik.io/api/v3"

	"github.com/outpost-go/outposts/authclient/devcore/model"
)

const defaultAvatar = "/static/dist/assets/images/user_default.png"

// userUID is authentik's opaque per-user uid: a hash of install id and pk.
func userUID(pk int32) string {
	sum := sha256.Sum256([]byte("devcore-" + strconv.Itoa(int(pk))))
	return hex.EncodeToString(sum[:])
}

func userType(u *model.User) api.UserTypeEnum {
	return api.UserTypeEnum(orDefault(u.Type, "internal"))
}

func attrsOrEmpty(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

func (v *view) partialGroup(g *model.Group) api.PartialGroup {
	return api.PartialGroup{
		Pk:          g.PK,
		NumPk:       g.NumPK,
		Name:        g.Name,
		IsSuperuser: boolPtr(g.IsSuperuser),
		Attributes:  attrsOrEmpty(g.Attributes),
	}
}

// userJoined and userUpdated default the dates a blueprint may leave out.
func userJoined(u *model.User) time.Time {
	if u.DateJoined.IsZero() {
		return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	return u.DateJoined
}

func userUpdated(u *model.User) time.Time {
	if u.LastUpdated.IsZero() {
		return userJoined(u)
	}
	return u.LastUpdated
}

func userUUID(u *model.User) string {
	return orDefault(u.UUID, uuid.NewSHA1(uuid.NameSpaceOID, []byte("devcore-user-"+strconv.Itoa(int(u.PK)))).String())
}

func userPath(u *model.User) string { return orDefault(u.Path, "users") }

func (v *view) apiUser(u *model.User, includeGroups bool) api.User {
	joined := userJoined(u)
	updated := userUpdated(u)
	typ := userType(u)
	groups := v.userGroups[u.PK]
	if groups == nil {
		groups = []string{}
	}
	out := api.User{
		Pk:                 u.PK,
		Username:           u.Username,
		Name:               u.Name,
		IsActive:           boolPtr(u.IsActive),
		LastLogin:          *api.NewNullableTime(nil),
		DateJoined:         joined,
		IsSuperuser:        v.isSuperuser(u),
		Groups:             groups,
		Roles:              []string{},
		RolesObj:           []api.Role{},
		Email:              strPtr(u.Email),
		Avatar:             defaultAvatar,
		Attributes:         attrsOrEmpty(u.Attributes),
		Uid:                userUID(u.PK),
		Path:               strPtr(userPath(u)),
		Type:               &typ,
		Uuid:               userUUID(u),
		PasswordChangeDate: joined,
		LastUpdated:        updated,
	}
	if includeGroups {
		out.GroupsObj = []api.PartialGroup{}
		for _, pk := range groups {
			if g, ok := v.groupByPK[pk]; ok {
				out.GroupsObj = append(out.GroupsObj, v.partialGroup(g))
			}
		}
	} else {
		// Required but nullable: the key must be present.
		out.AdditionalProperties = map[string]any{"groups_obj": nil}
	}
	return out
}

// userFilter is a parsed /core/users/ query.
type userFilter struct {
	q            url.Values
	groupsByName map[string]bool
	groupsByPK   map[string]bool
	attributes   map[string]any
	isActive     *bool
	isSuperuser  *bool
	types        map[string]bool
	times        map[string]time.Time
	lastLoginNil *bool
}

func (v *view) parseUserFilter(q url.Values) (*userFilter, fieldErrors) {
	fe := fieldErrors{}
	f := &userFilter{q: q, times: map[string]time.Time{}}
	if names := q["groups_by_name"]; len(names) > 0 {
		f.groupsByName = map[string]bool{}
		for _, n := range names {
			if _, ok := v.groupByName[n]; !ok {
				fe.add("groups_by_name", "Select a valid choice. "+n+" is not one of the available choices.")
				continue
			}
			f.groupsByName[n] = true
		}
	}
	if pks := q["groups_by_pk"]; len(pks) > 0 {
		f.groupsByPK = map[string]bool{}
		for _, pk := range pks {
			if _, err := uuid.Parse(pk); err != nil {
				fe.add("groups_by_pk", "“"+pk+"” is not a valid UUID.")
				continue
			}
			if _, ok := v.groupByPK[pk]; !ok {
				fe.add("groups_by_pk", "Select a valid choice. "+pk+" is not one of the available choices.")
				continue
			}
			f.groupsByPK[pk] = true
		}
	}
	f.attributes = attributesFilter(q, fe)
	if b, set := boolParam(q, "is_active", fe); set {
		f.isActive = &b
	}
	if b, set := boolParam(q, "is_superuser", fe); set {
		f.isSuperuser = &b
	}
	if b, set := boolParam(q, "last_login__isnull", fe); set {
		f.lastLoginNil = &b
	}
	if ts := q["type"]; len(ts) > 0 {
		f.types = map[string]bool{}
		for _, t := range ts {
			switch t {
			case "internal", "external", "service_account", "internal_service_account":
				f.types[t] = true
			default:
				fe.add("type", "Select a valid choice. "+t+" is not one of the available choices.")
			}
		}
	}
	for _, name := range []string{"date_joined", "date_joined__gt", "date_joined__lt", "last_updated", "last_updated__gt", "last_updated__lt", "last_login", "last_login__gt", "last_login__lt"} {
		if t, ok := timeParam(q, name, fe); ok {
			f.times[name] = t
		}
	}
	if _, ok := q["include_groups"]; ok {
		boolParam(q, "include_groups", fe)
	}
	if len(fe) > 0 {
		return nil, fe
	}
	return f, nil
}

func timeMatch(t time.Time, f *userFilter, prefix string) bool {
	if want, ok := f.times[prefix]; ok && !t.Equal(want) {
		return false
	}
	if want, ok := f.times[prefix+"__gt"]; ok && !t.After(want) {
		return false
	}
	if want, ok := f.times[prefix+"__lt"]; ok && !t.Before(want) {
		return false
	}
	return true
}

// userMatches reports whether u passes f. It derives only what the filter
// asks about, so filtering a large directory stays cheap.
func (v *view) userMatches(u *model.User, f *userFilter) bool {
	q := f.q
	if s, ok := q["username"]; ok && s[0] != u.Username {
		return false
	}
	if s, ok := q["email"]; ok && s[0] != u.Email {
		return false
	}
	if s, ok := q["name"]; ok && s[0] != u.Name {
		return false
	}
	if s, ok := q["uuid"]; ok && s[0] != userUUID(u) {
		return false
	}
	if s, ok := q["path"]; ok && s[0] != userPath(u) {
		return false
	}
	if s, ok := q["path_startswith"]; ok && !strings.HasPrefix(userPath(u), s[0]) {
		return false
	}
	if f.isActive != nil && *f.isActive != u.IsActive {
		return false
	}
	if f.isSuperuser != nil && *f.isSuperuser != v.isSuperuser(u) {
		return false
	}
	if f.types != nil && !f.types[string(userType(u))] {
		return false
	}
	if f.lastLoginNil != nil && !*f.lastLoginNil {
		return false // no user has ever logged in through the REST view
	}
	if _, ok := f.times["last_login"]; ok {
		return false
	}
	if _, ok := f.times["last_login__gt"]; ok {
		return false
	}
	if _, ok := f.times["last_login__lt"]; ok {
		return false
	}
	if !timeMatch(userJoined(u), f, "date_joined") || !timeMatch(userUpdated(u), f, "last_updated") {
		return false
	}
	if f.groupsByName != nil || f.groupsByPK != nil {
		found := false
		for _, g := range v.userGroups[u.PK] {
			if f.groupsByPK[g] || f.groupsByName[v.groupByPK[g].Name] {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	if f.attributes != nil && !attributesMatch(u.Attributes, f.attributes) {
		return false
	}
	if s := q.Get("search"); s != "" && !containsFold(u.Username, s) && !containsFold(u.Name, s) && !containsFold(u.Email, s) {
		return false
	}
	return true
}

func (s *Server) handleUserList(w http.ResponseWriter, r *http.Request, p principal) {
	v := p.v
	q := r.URL.Query()
	f, fe := v.parseUserFilter(q)
	if fe != nil {
		writeFieldErrors(w, fe)
		return
	}
	includeGroups := boolDefault(q, "include_groups", true, fieldErrors{})
	matched := v.lists.users.get(listKey(q, "include_groups"), func() []*model.User {
		var out []*model.User
		for _, u := range v.dir.Users {
			if v.userMatches(u, f) {
				out = append(out, u)
			}
		}
		sortUsers(out, q.Get("ordering"))
		return out
	})
	pw, ok := paginate(q, len(matched))
	if !ok {
		writeDetail(w, http.StatusNotFound, msgInvalidPage)
		return
	}
	results := make([]api.User, 0, pw.end-pw.start)
	for _, u := range matched[pw.start:pw.end] {
		results = append(results, v.apiUser(u, includeGroups))
	}
	writeJSON(w, http.StatusOK, api.PaginatedUserList{
		Pagination: pw.pagination, Results: results, Autocomplete: map[string]any{},
	})
}

func sortUsers(users []*model.User, ordering string) {
	field, desc := orderKey(ordering)
	less := func(a, b *model.User) bool {
		switch field {
		case "name":
			return a.Name < b.Name
		case "email":
			return a.Email < b.Email
		case "pk":
			return a.PK < b.PK
		case "date_joined":
			return userJoined(a).Before(userJoined(b))
		case "last_updated":
			return userUpdated(a).Before(userUpdated(b))
		case "is_active":
			return !a.IsActive && b.IsActive
		default:
			return a.Username < b.Username
		}
	}
	sort.SliceStable(users, func(i, j int) bool {
		if desc {
			return less(users[j], users[i])
		}
		return less(users[i], users[j])
	})
}

func (s *Server) handleUserRetrieve(w http.ResponseWriter, r *http.Request, p principal) {
	pk, err := strconv.ParseInt(chi.URLParam(r, "id"), 10, 32)
	if err != nil {
		writeDetail(w, http.StatusNotFound, msgNotFound)
		return
	}
	u, ok := p.v.userByPK[int32(pk)]
	if !ok {
		writeDetail(w, http.StatusNotFound, msgNotFound)
		return
	}
	writeJSON(w, http.StatusOK, p.v.apiUser(u, true))
}

func (v *view) userSelf(u *model.User) api.UserSelf {
	typ := userType(u)
	groups := []api.UserSelfGroups{}
	for _, pk := range v.userGroups[u.PK] {
		if g, ok := v.groupByPK[pk]; ok {
			groups = append(groups, api.UserSelfGroups{Name: g.Name, Pk: g.PK})
		}
	}
	return api.UserSelf{
		Pk:                u.PK,
		Username:          u.Username,
		Name:              u.Name,
		IsActive:          u.IsActive,
		IsSuperuser:       v.isSuperuser(u),
		Groups:            groups,
		Roles:             []api.UserSelfRoles{},
		Email:             strPtr(u.Email),
		Avatar:            defaultAvatar,
		Uid:               userUID(u.PK),
		Settings:          map[string]any{},
		Type:              &typ,
		SystemPermissions: []string{},
	}
}

// handleUserMe answers for the session's user, or for the token's user
// (an outpost's service account).
func (s *Server) handleUserMe(w http.ResponseWriter, r *http.Request, p principal) {
	u := p.user
	if p.outpost == nil {
		if su := s.sessionUser(r, p.v); su != nil {
			u = su
		}
	}
	if u == nil && p.outpost != nil {
		u = serviceAccount(p.outpost)
	}
	if u == nil {
		writeDetail(w, http.StatusForbidden, msgNotProvided)
		return
	}
	writeJSON(w, http.StatusOK, api.SessionUser{User: p.v.userSelf(u)})
}

// serviceAccount stands in for an outpost's internal service account when
// the directory does not define one.
func serviceAccount(o *model.Outpost) *model.User {
	return &model.User{
		PK:       o.ServiceAccount,
		Username: "ak-outpost-" + o.PK,
		Name:     "Outpost " + o.Name + " Service-Account",
		IsActive: true,
		Type:     "internal_service_account",
		Path:     "goauthentik.io/outposts",
	}
}

// Groups.

func (v *view) relatedGroup(g *model.Group) api.RelatedGroup {
	return api.RelatedGroup{
		Pk:          g.PK,
		Name:        g.Name,
		IsSuperuser: boolPtr(g.IsSuperuser),
		Attributes:  attrsOrEmpty(g.Attributes),
		GroupUuid:   g.PK,
	}
}

type groupIncludes struct{ users, children, parents, inheritedRoles bool }

func (v *view) apiGroup(g *model.Group, inc groupIncludes) api.Group {
	parents := append([]string{}, g.Parents...)
	children := append([]string{}, v.children[g.PK]...)
	members := append([]int32{}, v.members[g.PK]...)
	out := api.Group{
		Pk:          g.PK,
		NumPk:       g.NumPK,
		Name:        g.Name,
		IsSuperuser: boolPtr(g.IsSuperuser),
		Parents:     parents,
		Users:       members,
		Attributes:  attrsOrEmpty(g.Attributes),
		Roles:       []string{},
		RolesObj:    []api.Role{},
		Children:    children,
	}
	nulls := map[string]any{}
	if inc.users {
		out.UsersObj = []api.PartialUser{}
		for _, pk := range members {
			u := v.userByPK[pk]
			out.UsersObj = append(out.UsersObj, api.PartialUser{
				Pk:         u.PK,
				Username:   u.Username,
				Name:       u.Name,
				IsActive:   boolPtr(u.IsActive),
				LastLogin:  *api.NewNullableTime(nil),
				Email:      strPtr(u.Email),
				Attributes: attrsOrEmpty(u.Attributes),
				Uid:        userUID(u.PK),
			})
		}
	} else {
		nulls["users_obj"] = nil
	}
	if inc.parents {
		out.ParentsObj = []api.RelatedGroup{}
		for _, pk := range parents {
			if pg, ok := v.groupByPK[pk]; ok {
				out.ParentsObj = append(out.ParentsObj, v.relatedGroup(pg))
			}
		}
	} else {
		nulls["parents_obj"] = nil
	}
	if inc.children {
		out.ChildrenObj = []api.RelatedGroup{}
		for _, pk := range children {
			if cg, ok := v.groupByPK[pk]; ok {
				out.ChildrenObj = append(out.ChildrenObj, v.relatedGroup(cg))
			}
		}
	} else {
		nulls["children_obj"] = nil
	}
	if inc.inheritedRoles {
		out.InheritedRolesObj = []api.Role{}
	} else {
		nulls["inherited_roles_obj"] = nil
	}
	if len(nulls) > 0 {
		out.AdditionalProperties = nulls
	}
	return out
}

func (s *Server) handleGroupList(w http.ResponseWriter, r *http.Request, p principal) {
	v := p.v
	q := r.URL.Query()
	fe := fieldErrors{}
	inc := groupIncludes{
		users:          boolDefault(q, "include_users", true, fe),
		children:       boolDefault(q, "include_children", false, fe),
		parents:        boolDefault(q, "include_parents", false, fe),
		inheritedRoles: boolDefault(q, "include_inherited_roles", false, fe),
	}
	membersByPK := intList(q, "members_by_pk", fe)
	isSuper, superSet := boolParam(q, "is_superuser", fe)
	attrs := attributesFilter(q, fe)
	if len(fe) > 0 {
		writeFieldErrors(w, fe)
		return
	}
	membersByName := q["members_by_username"]
	key := listKey(q, "include_users", "include_children", "include_parents", "include_inherited_roles")
	matched := v.lists.groups.get(key, func() []*model.Group {
		var out []*model.Group
		for _, g := range v.dir.Groups {
			if n, ok := q["name"]; ok && n[0] != g.Name {
				continue
			}
			if superSet && g.IsSuperuser != isSuper {
				continue
			}
			if t := q.Get("search"); t != "" && !containsFold(g.Name, t) {
				continue
			}
			if attrs != nil && !attributesMatch(g.Attributes, attrs) {
				continue
			}
			if len(membersByPK) > 0 || len(membersByName) > 0 {
				hit := false
				for _, m := range v.members[g.PK] {
					for _, want := range membersByPK {
						hit = hit || m == want
					}
					for _, want := range membersByName {
						hit = hit || v.userByPK[m].Username == want
					}
				}
				if !hit {
					continue
				}
			}
			out = append(out, g)
		}
		field, desc := orderKey(q.Get("ordering"))
		sort.SliceStable(out, func(i, j int) bool {
			a, b := out[i], out[j]
			if desc {
				a, b = b, a
			}
			switch field {
			case "is_superuser":
				return !a.IsSuperuser && b.IsSuperuser
			case "pk":
				return a.PK < b.PK
			default:
				return a.Name < b.Name
			}
		})
		return out
	})
	pw, ok := paginate(q, len(matched))
	if !ok {
		writeDetail(w, http.StatusNotFound, msgInvalidPage)
		return
	}
	results := []api.Group{}
	for _, g := range matched[pw.start:pw.end] {
		results = append(results, v.apiGroup(g, inc))
	}
	writeJSON(w, http.StatusOK, api.PaginatedGroupList{
		Pagination: pw.pagination, Results: results, Autocomplete: map[string]any{},
	})
}

func (s *Server) handleGroupRetrieve(w http.ResponseWriter, r *http.Request, p principal) {
	g, ok := p.v.groupByPK[chi.URLParam(r, "uuid")]
	if !ok {
		writeDetail(w, http.StatusNotFound, msgNotFound)
		return
	}
	q := r.URL.Query()
	fe := fieldErrors{}
	inc := groupIncludes{
		users:          boolDefault(q, "include_users", true, fe),
		children:       boolDefault(q, "include_children", false, fe),
		parents:        boolDefault(q, "include_parents", false, fe),
		inheritedRoles: boolDefault(q, "include_inherited_roles", false, fe),
	}
	if len(fe) > 0 {
		writeFieldErrors(w, fe)
		return
	}
	writeJSON(w, http.StatusOK, p.v.apiGroup(g, inc))
}
