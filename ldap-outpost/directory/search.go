package directory

import (
	"context"
	"strings"

	"github.com/outpost-go/outposts/ldap-outpost/ldap/dn"
	"github.com/outpost-go/outposts/ldap-outpost/ldap/filter"
	"github.com/outpost-go/outposts/ldap-outpost/ldap/message"
)

// View is who is searching.
type View struct {
	// Full is has_search_permission: the whole directory is visible.
	Full bool
	// UserDN is the bound user's DN; without Full only that user, their
	// virtual group and their groups (with member reduced to them) are
	// visible, as in authentik.
	UserDN string
}

// NoSuchObjectError means the search base does not exist.
type NoSuchObjectError struct{ MatchedDN string }

func (e *NoSuchObjectError) Error() string { return "no such object" }

// Search returns the entries in scope of base that match f and that v may
// see, in directory order. base is normalized. limit > 0 stops after limit+1
// matches (so the caller can tell the limit was exceeded). ctx is checked
// between entries.
func (s *Snapshot) Search(ctx context.Context, base string, scope message.Scope, f *filter.Filter, v View, limit int) ([]*Entry, error) {
	root := s.byDN[base]
	if root == nil {
		return nil, &NoSuchObjectError{MatchedDN: s.matched(base)}
	}
	m := filter.Matcher{Schema: s}
	var out []*Entry
	full := false
	consider := func(e *Entry) bool {
		if !s.inScope(e, base, scope) || !m.Match(f, e) {
			return true
		}
		out = append(out, e)
		if limit > 0 && len(out) > limit {
			full = true
			return false
		}
		return true
	}
	if !v.Full {
		for _, e := range s.visible(v.UserDN) {
			if !consider(e) {
				break
			}
		}
		return out, ctx.Err()
	}
	if cands, ok := s.indexed(f); ok {
		for _, e := range cands {
			if !consider(e) {
				break
			}
		}
		return out, ctx.Err()
	}
	var walk func(e *Entry, depth int) bool
	walk = func(e *Entry, depth int) bool {
		if !consider(e) {
			return false
		}
		if scope == message.ScopeBase || (scope == message.ScopeOne && depth == 1) {
			return true
		}
		for i, c := range s.children[e.DN] {
			if i%256 == 0 && ctx.Err() != nil {
				return false
			}
			if !walk(c, depth+1) {
				return false
			}
		}
		return true
	}
	walk(root, 0)
	_ = full
	return out, ctx.Err()
}

func (s *Snapshot) inScope(e *Entry, base string, scope message.Scope) bool {
	switch scope {
	case message.ScopeBase:
		return e.DN == base
	case message.ScopeOne:
		return e.Parent == base && e.DN != base
	case message.ScopeSubordinate:
		if e.DN == base {
			return false
		}
	}
	for x := e; x != nil; x = s.byDN[x.Parent] {
		if x.DN == base {
			return true
		}
		if x.Parent == "" {
			break
		}
	}
	return false
}

// matched is the longest existing ancestor of a missing DN.
func (s *Snapshot) matched(base string) string {
	d, err := dn.Parse(base)
	if err != nil {
		return ""
	}
	for len(d) > 0 {
		d = d.Parent()
		if n := d.Normalize(); s.byDN[n] != nil {
			return n
		}
	}
	return ""
}

// visible lists what a user without the search permission may see.
func (s *Snapshot) visible(userDN string) []*Entry {
	self := s.byDN[userDN]
	if self == nil {
		return nil
	}
	out := []*Entry{self}
	if v := s.byDN[rdnOf(userDN)+","+s.VGroupOU]; v != nil {
		out = append(out, v)
	}
	if self.Kind != KindUser {
		return out
	}
	for _, g := range s.userGroupDNs(self.user) {
		if e := s.byDN[g]; e != nil {
			out = append(out, e.withMembers([]string{userDN}))
		}
	}
	return out
}

func rdnOf(normDN string) string {
	for i := 0; i < len(normDN); i++ {
		if normDN[i] == '\\' {
			i++
			continue
		}
		if normDN[i] == ',' {
			return normDN[:i]
		}
	}
	return normDN
}

// indexed returns the candidates for a filter that requires cn to equal a
// value (alone or inside a top-level and), so looking up one user does not
// scan the directory. An entry's cn is its RDN value, so the candidates are
// the user, virtual group and group of that name.
func (s *Snapshot) indexed(f *filter.Filter) ([]*Entry, bool) {
	switch f.Kind {
	case filter.Equal:
		if strings.EqualFold(f.Attr, "cn") {
			return s.byCN(f.Value), true
		}
	case filter.And:
		for _, c := range f.Children {
			if c.Kind == filter.Equal && strings.EqualFold(c.Attr, "cn") {
				return s.byCN(c.Value), true
			}
		}
	}
	return nil, false
}

func (s *Snapshot) byCN(value string) []*Entry {
	r := rdn("cn", strings.TrimSpace(value)) + ","
	var out []*Entry
	for _, ou := range []string{s.UsersOU, s.VGroupOU, s.GroupsOU} {
		if e := s.byDN[r+ou]; e != nil {
			out = append(out, e)
		}
	}
	return out
}

// Syntax implements filter.Schema.
func (s *Snapshot) Syntax(lowerAttr string) filter.Syntax { return AttrSyntax(lowerAttr) }

// AttrSyntax is the matching syntax of the directory's attributes.
func AttrSyntax(lowerAttr string) filter.Syntax {
	switch lowerAttr {
	case "member", "memberof", "distinguishedname", "entrydn", "namingcontexts", "subschemasubentry", "uniquemember":
		return filter.DNSyntax
	case "uidnumber", "gidnumber", "supportedldapversion":
		return filter.Integer
	case "ak-active", "ak-superuser", "hassubordinates":
		return filter.Boolean
	}
	return filter.CaseIgnore
}

// NormalizeDN implements filter.Schema; the directory's own DNs are
// normalized already.
func (s *Snapshot) NormalizeDN(v string) (string, bool) {
	if s != nil && s.byDN[v] != nil {
		return v, true
	}
	n, err := dn.Normalize(v)
	return n, err == nil
}

// Chain implements filter.Schema: memberOf goes up through parent groups,
// member goes down through child groups.
func (s *Snapshot) Chain(e filter.Entry, lowerAttr string, yield func(string) bool) {
	var next func(dn string) []string
	switch lowerAttr {
	case "memberof":
		next = s.parentsOf
	case "member":
		next = func(dn string) []string { return s.members[dn] }
	default:
		for _, v := range e.Values(lowerAttr) {
			if n, ok := s.NormalizeDN(v); ok && !yield(n) {
				return
			}
		}
		return
	}
	seen := map[string]bool{}
	queue := append([]string(nil), next(e.NormDN())...)
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		if seen[n] {
			continue
		}
		seen[n] = true
		if !yield(n) {
			return
		}
		queue = append(queue, next(n)...)
	}
}

// parentsOf is the DNs of the groups the entry named dn is a direct member
// of (users and groups; virtual groups are in none).
func (s *Snapshot) parentsOf(dn string) []string {
	if p, ok := s.groupParents[dn]; ok {
		return p
	}
	if e := s.byDN[dn]; e != nil && e.Kind == KindUser {
		return s.userGroupDNs(e.user)
	}
	return nil
}

// Select returns the attributes of e a search asked for (RFC 4511
// §4.5.1.8): none listed or "*" means every user attribute, "+" every
// operational one, "1.1" none, names match case-insensitively and ignore
// options.
func Select(e *Entry, requested []string) []message.Attribute {
	all := len(requested) == 0
	ops := false
	var names map[string]bool
	for _, r := range requested {
		switch r {
		case "*":
			all = true
		case "+":
			ops = true
		case "1.1":
		default:
			if names == nil {
				names = map[string]bool{}
			}
			if i := strings.IndexByte(r, ';'); i >= 0 {
				r = r[:i]
			}
			names[strings.ToLower(r)] = true
		}
	}
	attrs, lower := e.attributes()
	var out []message.Attribute
	if all && !ops && names == nil {
		out = attrs
	} else {
		for i, a := range attrs {
			if all || names[lower[i]] {
				out = append(out, a)
			}
		}
	}
	if ops || names["entrydn"] {
		out = append(out[:len(out):len(out)], message.Attribute{Name: "entryDN", Values: []string{e.DN}})
	}
	if ops || names["subschemasubentry"] {
		out = append(out[:len(out):len(out)], message.Attribute{Name: "subschemaSubentry", Values: []string{SubschemaDN}})
	}
	if ops || names["hassubordinates"] {
		out = append(out[:len(out):len(out)], message.Attribute{Name: "hasSubordinates", Values: upperBool(e.Kind == KindBase || e.Kind == KindContainer)})
	}
	return out
}
