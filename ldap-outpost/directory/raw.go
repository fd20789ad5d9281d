package directory

import (
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
	return out
}

// GroupFromAPI keeps what the directory uses of g.
func GroupFromAPI(g api.Group) Group {
	out := Group{PK: g.Pk, NumPK: g.NumPk, Name: g.Name, Attributes: g.Attributes, Parents: g.Parents}
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
