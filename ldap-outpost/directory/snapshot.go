package directory

import (
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/outpost-go/outposts/ldap-outpost/ldap/dn"
	"github.com/outpost-go/outposts/ldap-outpost/ldap/message"
)

// Config is the provider's layout settings.
type Config struct {
	BaseDN   string
	UIDStart int32
	GIDStart int32
}

// Snapshot is an immutable directory.
type Snapshot struct {
	Base     string // normalized base DN
	UsersOU  string
	GroupsOU string
	VGroupOU string
	Built    time.Time
	// Watermark is the newest last_updated among the users, for the next
	// incremental refresh.
	Watermark time.Time

	byDN     map[string]*Entry
	children map[string][]*Entry
	// byCN indexes users, groups and virtual groups by lower-cased cn.
	byCN map[string][]*Entry
	// userGroups maps a user DN to the DNs of its direct groups, and
	// groupParents a group DN to its parents', for the in-chain rule.
	parents map[string][]string
	// members maps a group DN to its member DNs.
	members map[string][]string
	// Users and Groups are the inputs, kept for incremental refreshes and
	// for sharing with other replicas.
	Users  map[int32]*User
	Groups []Group
	count  int
	// layouts shares attribute-name lists between entries while building.
	layouts map[string][]string
}

// Len is the number of entries.
func (s *Snapshot) Len() int { return s.count }

// Lookup returns the entry with the normalized DN.
func (s *Snapshot) Lookup(normDN string) *Entry { return s.byDN[normDN] }

// UserByName returns a user's entry by username (case-insensitive).
func (s *Snapshot) UserByName(username string) *Entry {
	return s.Lookup(rdn("cn", username) + "," + s.UsersOU)
}

// UserDN is the DN of the user named username.
func (s *Snapshot) UserDN(username string) string { return rdn("cn", username) + "," + s.UsersOU }

// Build makes a snapshot from users and groups.
func Build(cfg Config, users map[int32]*User, groups []Group, now time.Time) (*Snapshot, error) {
	base, err := dn.Normalize(cfg.BaseDN)
	if err != nil {
		return nil, err
	}
	s := &Snapshot{
		Base: base, UsersOU: "ou=users," + base, GroupsOU: "ou=groups," + base, VGroupOU: "ou=virtual-groups," + base,
		Built:    now,
		byDN:     make(map[string]*Entry, 2*len(users)+len(groups)+4),
		children: map[string][]*Entry{},
		byCN:     make(map[string][]*Entry, 2*len(users)+len(groups)),
		parents:  make(map[string][]string, len(users)+len(groups)),
		members:  make(map[string][]string, len(groups)),
		Users:    users,
		Groups:   groups,
		layouts:  map[string][]string{},
	}
	if base == "" {
		s.UsersOU, s.GroupsOU, s.VGroupOU = "ou=users", "ou=groups", "ou=virtual-groups"
	}
	d, _ := dn.Parse(cfg.BaseDN)
	baseAttrs := []message.Attribute{{Name: "objectClass", Values: baseClasses}}
	if len(d) > 0 {
		baseAttrs = append(baseAttrs, message.Attribute{Name: d[0][0].Type, Values: []string{d[0][0].Value}})
	}
	s.add(newEntry(base, KindBase, baseAttrs), "")
	for _, ou := range []struct{ name, dn string }{{"users", s.UsersOU}, {"groups", s.GroupsOU}, {"virtual-groups", s.VGroupOU}} {
		s.add(newEntry(ou.dn, KindContainer, []message.Attribute{
			{Name: "objectClass", Values: containerClasses},
			{Name: "ou", Values: []string{ou.name}},
			{Name: "commonName", Values: []string{ou.name}},
			{Name: "distinguishedName", Values: []string{ou.dn}},
		}), base)
	}

	groupDN := make(map[string]string, len(groups))
	for _, g := range groups {
		groupDN[g.PK] = rdn("cn", g.Name) + "," + s.GroupsOU
	}
	// Members of each group, from the users' side.
	pks := make([]int32, 0, len(users))
	for pk := range users {
		pks = append(pks, pk)
	}
	sort.Slice(pks, func(i, j int) bool { return users[pks[i]].Username < users[pks[j]].Username })
	for _, pk := range pks {
		u := users[pk]
		udn := s.UserDN(u.Username)
		for _, gpk := range u.Groups {
			if gdn, ok := groupDN[gpk]; ok {
				s.members[gdn] = append(s.members[gdn], udn)
				s.parents[udn] = append(s.parents[udn], gdn)
			}
		}
	}
	for _, g := range groups {
		gdn := groupDN[g.PK]
		for _, p := range g.Parents {
			if pdn, ok := groupDN[p]; ok {
				s.members[pdn] = append(s.members[pdn], gdn)
				s.parents[gdn] = append(s.parents[gdn], pdn)
			}
		}
	}

	for _, pk := range pks {
		u := users[pk]
		s.addUser(cfg, u)
	}
	for _, g := range groups {
		gdn := groupDN[g.PK]
		custom := customAttributes(g.Attributes, func(v string) string { return v })
		gid := strconv.Itoa(int(cfg.GIDStart) + int(g.NumPK))
		e := newEntryShared(gdn, KindGroup, ensure(custom, []message.Attribute{
			{Name: "objectClass", Values: groupClasses},
			{Name: "cn", Values: []string{g.Name}},
			{Name: "uid", Values: []string{g.PK}},
			{Name: "sAMAccountName", Values: []string{g.Name}},
			{Name: "gidNumber", Values: []string{gid}},
			{Name: "member", Values: s.members[gdn]},
			{Name: "memberOf", Values: s.parents[gdn]},
			{Name: "ak-superuser", Values: lowerBool(g.Superuser)},
		}), s.layouts)
		s.add(e, s.GroupsOU)
		s.byCN[strings.ToLower(g.Name)] = append(s.byCN[strings.ToLower(g.Name)], e)
	}
	s.layouts = nil
	return s, nil
}

func (s *Snapshot) addUser(cfg Config, u *User) {
	udn := s.UserDN(u.Username)
	custom := customAttributes(u.Attributes, func(v string) string {
		if strings.Contains(v, "%s") {
			return strings.ReplaceAll(v, "%s", u.Username)
		}
		return v
	})
	uidNumber := strconv.Itoa(int(cfg.UIDStart) + int(u.PK))
	gidNumber := uidNumber
	for _, c := range custom {
		switch strings.ToLower(c.Name) {
		case "uidnumber":
			if len(c.Values) > 0 {
				uidNumber = c.Values[0]
				gidNumber = uidNumber
			}
		}
	}
	for _, c := range custom {
		if strings.EqualFold(c.Name, "gidNumber") && len(c.Values) > 0 {
			gidNumber = c.Values[0]
		}
	}
	name := []string{u.Name}
	e := newEntryShared(udn, KindUser, ensure(custom, []message.Attribute{
		{Name: "objectClass", Values: userClasses},
		{Name: "cn", Values: []string{u.Username}},
		{Name: "sAMAccountName", Values: []string{u.Username}},
		{Name: "uid", Values: []string{u.UID}},
		{Name: "name", Values: name},
		{Name: "displayName", Values: name},
		{Name: "sn", Values: name},
		{Name: "mail", Values: []string{u.Email}},
		{Name: "memberOf", Values: s.parents[udn]},
		{Name: "ak-active", Values: upperBool(u.Active)},
		{Name: "ak-superuser", Values: upperBool(u.Superuser)},
		{Name: "uidNumber", Values: []string{uidNumber}},
		{Name: "gidNumber", Values: []string{gidNumber}},
		{Name: "homeDirectory", Values: []string{"/home/" + u.Username}},
	}), s.layouts)
	e.UserPK, e.Username, e.Active, e.PasswordChangeUnix = u.PK, u.Username, u.Active, u.PasswordChangeDate.UnixNano()
	s.add(e, s.UsersOU)
	lcn := strings.ToLower(u.Username)
	s.byCN[lcn] = append(s.byCN[lcn], e)
	if u.LastUpdated.After(s.Watermark) {
		s.Watermark = u.LastUpdated
	}

	vdn := rdn("cn", u.Username) + "," + s.VGroupOU
	v := newEntryShared(vdn, KindVirtualGroup, []message.Attribute{
		{Name: "objectClass", Values: virtualGroupClasses},
		{Name: "cn", Values: []string{u.Username}},
		{Name: "uid", Values: []string{u.UID}},
		{Name: "sAMAccountName", Values: []string{u.Username}},
		{Name: "gidNumber", Values: []string{gidNumber}},
		{Name: "member", Values: []string{udn}},
		{Name: "ak-superuser", Values: lowerFalse},
	}, s.layouts)
	v.UserPK = u.PK
	s.add(v, s.VGroupOU)
	s.byCN[lcn] = append(s.byCN[lcn], v)
}

func (s *Snapshot) add(e *Entry, parent string) {
	if _, dup := s.byDN[e.DN]; dup {
		return // two objects with one name: first wins, as lookups must be unambiguous
	}
	s.byDN[e.DN] = e
	e.Parent = parent
	if e.Kind != KindBase {
		s.children[parent] = append(s.children[parent], e)
	}
	s.count++
}
