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

	cfg      Config
	byDN     map[string]*Entry
	children map[string][]*Entry
	// groupDN maps a group pk to its entry's DN; groupParents a group DN to
	// its parents' DNs and members a group DN to its member DNs, for the
	// in-chain rule. A user's groups come from its User.
	groupDN      map[string]string
	groupParents map[string][]string
	members      map[string][]string
	// Users and Groups are the inputs, kept for incremental refreshes and
	// for sharing with other replicas.
	Users  map[int32]*User
	Groups []Group
	count  int
}

// Checked returns s as found unchanged at now: the same entries, with Built
// moved to now.
func (s *Snapshot) Checked(now time.Time) *Snapshot {
	c := *s
	c.Built = now
	return &c
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

// userGroupDNs is the memberOf of u: the DNs of its groups, in u's order.
func (s *Snapshot) userGroupDNs(u *User) []string {
	var out []string
	for _, gpk := range u.Groups {
		if gdn, ok := s.groupDN[gpk]; ok {
			if out == nil {
				out = make([]string, 0, len(u.Groups))
			}
			out = append(out, gdn)
		}
	}
	return out
}

func (s *Snapshot) uidNumber(u *User) string {
	return strconv.Itoa(int(s.cfg.UIDStart) + int(u.PK))
}

// gidNumber is a user's (and its virtual group's) gidNumber: a custom
// gidNumber, else a custom uidNumber, else uid_start_number + pk, as
// authentik derives it.
func (s *Snapshot) gidNumber(u *User, custom *attrSet) string {
	if custom == nil {
		return s.uidNumber(u)
	}
	gid := ""
	for i, c := range custom.attrs {
		if custom.lower[i] == "uidnumber" && len(c.Values) > 0 {
			gid = c.Values[0]
		}
	}
	for i, c := range custom.attrs {
		if custom.lower[i] == "gidnumber" && len(c.Values) > 0 {
			gid = c.Values[0]
		}
	}
	if gid == "" {
		return s.uidNumber(u)
	}
	return gid
}

// Build makes a snapshot from users and groups.
func Build(cfg Config, users map[int32]*User, groups []Group, now time.Time) (*Snapshot, error) {
	base, err := dn.Normalize(cfg.BaseDN)
	if err != nil {
		return nil, err
	}
	s := &Snapshot{
		Base: base, UsersOU: "ou=users," + base, GroupsOU: "ou=groups," + base, VGroupOU: "ou=virtual-groups," + base,
		Built:        now,
		cfg:          cfg,
		byDN:         make(map[string]*Entry, 2*len(users)+len(groups)+4),
		children:     map[string][]*Entry{},
		groupDN:      make(map[string]string, len(groups)),
		groupParents: make(map[string][]string, len(groups)),
		members:      make(map[string][]string, len(groups)),
		Users:        users,
		Groups:       groups,
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

	for _, g := range groups {
		s.groupDN[g.PK] = rdn("cn", g.Name) + "," + s.GroupsOU
	}
	pks := make([]int32, 0, len(users))
	for pk := range users {
		pks = append(pks, pk)
	}
	sort.Slice(pks, func(i, j int) bool { return users[pks[i]].Username < users[pks[j]].Username })
	// Users, each with its virtual group; their DNs are also the member
	// values of their groups.
	for _, pk := range pks {
		u := users[pk]
		udn := s.addUser(u)
		for _, gpk := range u.Groups {
			if gdn, ok := s.groupDN[gpk]; ok {
				s.members[gdn] = append(s.members[gdn], udn)
			}
		}
	}
	for _, g := range groups {
		gdn := s.groupDN[g.PK]
		for _, p := range g.Parents {
			if pdn, ok := s.groupDN[p]; ok {
				s.members[pdn] = append(s.members[pdn], gdn)
				s.groupParents[gdn] = append(s.groupParents[gdn], pdn)
			}
		}
	}
	layouts := map[string][]string{}
	for _, g := range groups {
		gdn := s.groupDN[g.PK]
		custom := customAttributes(g.Attributes, func(v string) string { return v })
		gid := strconv.Itoa(int(cfg.GIDStart) + int(g.NumPK))
		e := newEntryShared(gdn, KindGroup, ensure(custom, []message.Attribute{
			{Name: "objectClass", Values: groupClasses},
			{Name: "cn", Values: []string{g.Name}},
			{Name: "uid", Values: []string{g.PK}},
			{Name: "sAMAccountName", Values: []string{g.Name}},
			{Name: "gidNumber", Values: []string{gid}},
			{Name: "member", Values: s.members[gdn]},
			{Name: "memberOf", Values: s.groupParents[gdn]},
			{Name: "ak-superuser", Values: lowerBool(g.Superuser)},
		}), layouts)
		s.add(e, s.GroupsOU)
	}
	return s, nil
}

// addUser adds a user's entry and virtual group and returns the user's DN.
func (s *Snapshot) addUser(u *User) string {
	udn := s.UserDN(u.Username)
	custom := newCustomSet(customAttributes(u.Attributes, func(v string) string {
		if strings.Contains(v, "%s") {
			return strings.ReplaceAll(v, "%s", u.Username)
		}
		return v
	}))
	s.add(&Entry{DN: udn, Kind: KindUser, s: s, user: u, custom: custom}, s.UsersOU)
	if u.LastUpdated.After(s.Watermark) {
		s.Watermark = u.LastUpdated
	}
	vdn := rdn("cn", u.Username) + "," + s.VGroupOU
	s.add(&Entry{DN: vdn, Kind: KindVirtualGroup, s: s, user: u, custom: custom}, s.VGroupOU)
	return udn
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
