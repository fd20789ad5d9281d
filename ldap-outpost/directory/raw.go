package directory

import (
	"reflect"
	"slices"
	"time"

	"goauthentik.io/api/v3"
)

// User is the part of an authentik user the directory needs. It is also
// what is shared between replicas, so it stays small.
type User struct {
	PK                 int32          `json:"pk"`
	Username           string         `json:"u"`
	Name               string         `json:"n,omitempty"`
	Email              string         `json:"e,omitempty"`
	UID                string         `json:"uid"`
	Active             bool           `json:"a,omitempty"`
	Superuser          bool           `json:"s,omitempty"`
	Attributes         map[string]any `json:"at,omitempty"`
	Groups             []string       `json:"g,omitempty"` // group pks
	PasswordChangeDate time.Time      `json:"pc"`
	LastUpdated        time.Time      `json:"lu"`
}

// Group is the part of an authentik group the directory needs.
type Group struct {
	PK         string         `json:"pk"`
	NumPK      int32          `json:"num"`
	Name       string         `json:"n"`
	Superuser  bool           `json:"s,omitempty"`
	Attributes map[string]any `json:"at,omitempty"`
	Parents    []string       `json:"p,omitempty"` // group pks
}

// UserFromAPI keeps what the directory uses of u.
func UserFromAPI(u api.User) User {
	out := User{
		PK: u.Pk, Username: u.Username, Name: u.Name, UID: u.Uid, Superuser: u.IsSuperuser,
		Attributes: u.Attributes, Groups: u.Groups,
		PasswordChangeDate: u.PasswordChangeDate, LastUpdated: u.LastUpdated,
	}
	if u.Email != nil {
		out.Email = *u.Email
	}
	if u.IsActive != nil {
		out.Active = *u.IsActive
	}
	if len(out.Groups) == 0 {
		for _, g := range u.GroupsObj {
			out.Groups = append(out.Groups, g.Pk)
		}
	}
	if len(out.Attributes) == 0 {
		out.Attributes = nil // the core sends {}; an empty map still costs a header per user
	}
	return out
}

// Same reports whether u and o hold the same data, so a refresh can keep
// the User an older snapshot already holds instead of a second copy.
func (u *User) Same(o *User) bool {
	return u.PK == o.PK && u.Username == o.Username && u.Name == o.Name && u.Email == o.Email &&
		u.UID == o.UID && u.Active == o.Active && u.Superuser == o.Superuser &&
		u.PasswordChangeDate.Equal(o.PasswordChangeDate) && u.LastUpdated.Equal(o.LastUpdated) &&
		slices.Equal(u.Groups, o.Groups) && (len(u.Attributes) == 0 && len(o.Attributes) == 0 || reflect.DeepEqual(u.Attributes, o.Attributes))
}

// GroupPKs maps each group's pk to itself, for ShareGroupPKs.
func GroupPKs(groups []Group) map[string]string {
	m := make(map[string]string, len(groups))
	for _, g := range groups {
		m[g.PK] = g.PK
	}
	return m
}

// ShareGroupPKs makes u's group pks the strings in pks (from GroupPKs), so
// a large directory holds each group pk once instead of once per member.
// Call it only on a User no snapshot holds yet.
func (u *User) ShareGroupPKs(pks map[string]string) {
	if len(u.Groups) == 0 {
		u.Groups = nil
		return
	}
	shared := make([]string, len(u.Groups))
	for i, g := range u.Groups {
		if s, ok := pks[g]; ok {
			g = s
		}
		shared[i] = g
	}
	u.Groups = shared
}

// GroupFromAPI keeps what the directory uses of g.
func GroupFromAPI(g api.Group) Group {
	out := Group{PK: g.Pk, NumPK: g.NumPk, Name: g.Name, Attributes: g.Attributes, Parents: g.Parents}
	if len(out.Attributes) == 0 {
		out.Attributes = nil
	}
	if g.IsSuperuser != nil {
		out.Superuser = *g.IsSuperuser
	}
	if len(out.Parents) == 0 {
		for _, p := range g.ParentsObj {
			out.Parents = append(out.Parents, p.Pk)
		}
	}
	return out
}
