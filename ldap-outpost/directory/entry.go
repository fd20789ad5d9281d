package directory

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/outpost-go/outposts/ldap-outpost/ldap/dn"
	"github.com/outpost-go/outposts/ldap-outpost/ldap/message"
)

// Kind is what an entry represents.
type Kind uint8

// Entry kinds.
const (
	KindBase Kind = iota
	KindContainer
	KindUser
	KindGroup
	KindVirtualGroup
)

// Entry is one directory entry. Its DN is normalized (lower case, escaped),
// so it doubles as the lookup key.
//
// User and virtual-group entries keep only a pointer to their User and
// derive attribute values when asked: a 100k-user directory would
// otherwise hold millions of small attribute slices. Every other entry
// (groups, containers, the base, the rootDSE) holds its attributes.
type Entry struct {
	DN     string
	Parent string // normalized DN of the parent entry ("" for the base)
	Kind   Kind

	s      *Snapshot // users and virtual groups: group DNs and layout settings
	user   *User     // users and virtual groups
	custom *attrSet  // users: flattened custom attributes, nil when none
	attrs  *attrSet  // every other kind
}

// attrSet is a list of attributes with their lower-cased names.
type attrSet struct {
	attrs []message.Attribute
	lower []string
	// memberIdx is the index of "member" in attrs, -1 when none.
	memberIdx int
}

func newAttrSet(attrs []message.Attribute, layouts map[string][]string) *attrSet {
	// An attribute without values cannot be sent (RFC 4512 §2.5).
	kept := attrs[:0]
	for _, a := range attrs {
		if len(a.Values) > 0 {
			kept = append(kept, a)
		}
	}
	set := &attrSet{attrs: kept, memberIdx: -1}
	lower := make([]string, len(kept))
	for i, a := range kept {
		lower[i] = lowerName(a.Name)
		if lower[i] == "member" {
			set.memberIdx = i
		}
	}
	if layouts != nil {
		key := strings.Join(lower, "\x00")
		if shared, ok := layouts[key]; ok {
			lower = shared
		} else {
			layouts[key] = lower
		}
	}
	set.lower = lower
	return set
}

func (a *attrSet) values(lowerAttr string) ([]string, bool) {
	for i, n := range a.lower {
		if n == lowerAttr {
			return a.attrs[i].Values, true
		}
	}
	return nil, false
}

// Values implements filter.Entry.
func (e *Entry) Values(lowerAttr string) []string {
	switch {
	case e.attrs != nil:
		if v, ok := e.attrs.values(lowerAttr); ok {
			return v
		}
	case e.Kind == KindUser:
		if v, ok := e.userValue(lowerAttr); ok {
			return v
		}
	case e.Kind == KindVirtualGroup:
		if v, ok := e.virtualGroupValue(lowerAttr); ok {
			return v
		}
	}
	switch lowerAttr {
	case "entrydn", "distinguishedname":
		return []string{e.DN}
	}
	return nil
}

// userValue is one attribute of a user entry, as Attributes would list it.
func (e *Entry) userValue(lowerAttr string) ([]string, bool) {
	if e.custom != nil {
		// A custom attribute wins over the built-in one, even when it has
		// no values (then the entry has neither).
		for i, n := range e.custom.lower {
			if n == lowerAttr {
				if v := e.custom.attrs[i].Values; len(v) > 0 {
					return v, true
				}
				return nil, false
			}
		}
	}
	u := e.user
	switch lowerAttr {
	case "objectclass":
		return userClasses, true
	case "cn", "samaccountname":
		return []string{u.Username}, true
	case "uid":
		return []string{u.UID}, true
	case "name", "displayname", "sn":
		return []string{u.Name}, true
	case "mail":
		return []string{u.Email}, true
	case "memberof":
		v := e.s.userGroupDNs(u)
		return v, len(v) > 0
	case "ak-active":
		return upperBool(u.Active), true
	case "ak-superuser":
		return upperBool(u.Superuser), true
	case "uidnumber":
		return []string{e.s.uidNumber(u)}, true
	case "gidnumber":
		return []string{e.s.gidNumber(u, e.custom)}, true
	case "homedirectory":
		return []string{"/home/" + u.Username}, true
	}
	return nil, false
}

// virtualGroupValue is one attribute of a user's virtual group.
func (e *Entry) virtualGroupValue(lowerAttr string) ([]string, bool) {
	u := e.user
	switch lowerAttr {
	case "objectclass":
		return virtualGroupClasses, true
	case "cn", "samaccountname":
		return []string{u.Username}, true
	case "uid":
		return []string{u.UID}, true
	case "gidnumber":
		return []string{e.s.gidNumber(u, e.custom)}, true
	case "member":
		return []string{e.s.UserDN(u.Username)}, true
	case "ak-superuser":
		return lowerFalse, true
	}
	return nil, false
}

// attributes lists the entry's attributes in authentik's order (the
// built-in ones a custom attribute does not replace, then the custom ones)
// with their lower-cased names.
func (e *Entry) attributes() ([]message.Attribute, []string) {
	switch {
	case e.attrs != nil:
		return e.attrs.attrs, e.attrs.lower
	case e.Kind == KindUser, e.Kind == KindVirtualGroup:
		set := newAttrSet(e.materialize(), nil)
		return set.attrs, set.lower
	}
	return nil, nil
}

// materialize builds a user's or virtual group's attribute list.
func (e *Entry) materialize() []message.Attribute {
	u := e.user
	gid := []string{e.s.gidNumber(u, e.custom)}
	if e.Kind == KindVirtualGroup {
		return []message.Attribute{
			{Name: "objectClass", Values: virtualGroupClasses},
			{Name: "cn", Values: []string{u.Username}},
			{Name: "uid", Values: []string{u.UID}},
			{Name: "sAMAccountName", Values: []string{u.Username}},
			{Name: "gidNumber", Values: gid},
			{Name: "member", Values: []string{e.s.UserDN(u.Username)}},
			{Name: "ak-superuser", Values: lowerFalse},
		}
	}
	var custom []message.Attribute
	if e.custom != nil {
		// With the ones without values: those still replace a built-in.
		custom = e.custom.attrs
	}
	name := []string{u.Name}
	return ensure(custom, []message.Attribute{
		{Name: "objectClass", Values: userClasses},
		{Name: "cn", Values: []string{u.Username}},
		{Name: "sAMAccountName", Values: []string{u.Username}},
		{Name: "uid", Values: []string{u.UID}},
		{Name: "name", Values: name},
		{Name: "displayName", Values: name},
		{Name: "sn", Values: name},
		{Name: "mail", Values: []string{u.Email}},
		{Name: "memberOf", Values: e.s.userGroupDNs(u)},
		{Name: "ak-active", Values: upperBool(u.Active)},
		{Name: "ak-superuser", Values: upperBool(u.Superuser)},
		{Name: "uidNumber", Values: []string{e.s.uidNumber(u)}},
		{Name: "gidNumber", Values: gid},
		{Name: "homeDirectory", Values: []string{"/home/" + u.Username}},
	})
}

// newCustomSet is the attrSet of a user's custom attributes, nil when the
// user has none. Unlike newAttrSet it keeps attributes without values.
func newCustomSet(custom []message.Attribute) *attrSet {
	if len(custom) == 0 {
		return nil
	}
	set := &attrSet{attrs: custom, lower: make([]string, len(custom)), memberIdx: -1}
	for i, c := range custom {
		set.lower[i] = lowerName(c.Name)
	}
	return set
}

// NormDN implements filter.Entry.
func (e *Entry) NormDN() string { return e.DN }

func newEntry(dnStr string, kind Kind, attrs []message.Attribute) *Entry {
	return newEntryShared(dnStr, kind, attrs, nil)
}

// newEntryShared is newEntry whose lower-cased name list is shared with
// other entries of the same layout through layouts (nil: not shared).
func newEntryShared(dnStr string, kind Kind, attrs []message.Attribute, layouts map[string][]string) *Entry {
	return &Entry{DN: dnStr, Kind: kind, attrs: newAttrSet(attrs, layouts)}
}

// withMembers returns a copy of a group entry whose member list is members.
func (e *Entry) withMembers(members []string) *Entry {
	c := *e
	set := *e.attrs
	set.attrs = append([]message.Attribute(nil), e.attrs.attrs...)
	if set.memberIdx >= 0 {
		set.attrs[set.memberIdx] = message.Attribute{Name: e.attrs.attrs[set.memberIdx].Name, Values: members}
	} else {
		set.memberIdx = len(set.attrs)
		set.attrs = append(set.attrs, message.Attribute{Name: "member", Values: members})
		set.lower = append(append([]string(nil), e.attrs.lower...), "member")
	}
	c.attrs = &set
	return &c
}

// Object classes, as authentik names them.
var (
	userClasses         = []string{"top", "person", "organizationalPerson", "inetOrgPerson", "user", "posixAccount", "goauthentik.io/ldap/user"}
	groupClasses        = []string{"group", "groupOfUniqueNames", "groupOfNames", "goauthentik.io/ldap/group", "posixGroup"}
	virtualGroupClasses = []string{"group", "groupOfUniqueNames", "groupOfNames", "goauthentik.io/ldap/group", "posixGroup", "goauthentik.io/ldap/virtual-group"}
	containerClasses    = []string{"top", "nsContainer"}
	baseClasses         = []string{"top", "domain"}
	upperTrue           = []string{"TRUE"}
	upperFalse          = []string{"FALSE"}
	lowerTrue           = []string{"true"}
	lowerFalse          = []string{"false"}
)

func upperBool(b bool) []string {
	if b {
		return upperTrue
	}
	return upperFalse
}

func lowerBool(b bool) []string {
	if b {
		return lowerTrue
	}
	return lowerFalse
}

// sanitizeKey is authentik's AttributeKeySanitize: '/' becomes '-', '.' is
// dropped, so "goauthentik.io/ldap/x" is "goauthentikio-ldap-x".
func sanitizeKey(k string) string {
	return strings.ReplaceAll(strings.ReplaceAll(k, "/", "-"), ".", "")
}

// stringify turns a JSON value into an attribute value the way authentik
// does: strings as they are, booleans "true"/"false", numbers without
// exponent, anything else formatted with %s.
func stringify(v any) (string, bool) {
	switch t := v.(type) {
	case nil:
		return "", false
	case string:
		return t, true
	case bool:
		return strconv.FormatBool(t), true
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64), true
	case float32:
		return strconv.FormatFloat(float64(t), 'f', -1, 64), true
	case int:
		return strconv.Itoa(t), true
	case int64:
		return strconv.FormatInt(t, 10), true
	}
	return fmt.Sprintf("%s", v), true
}

// customAttributes flattens authentik attributes, sorted by name so entries
// are stable. format is applied to each value (users: "%s" → username).
func customAttributes(attrs map[string]any, format func(string) string) []message.Attribute {
	if len(attrs) == 0 {
		return nil
	}
	keys := make([]string, 0, len(attrs))
	for k := range attrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]message.Attribute, 0, len(keys))
	for _, k := range keys {
		var vals []string
		switch t := attrs[k].(type) {
		case []any:
			for _, v := range t {
				if s, ok := stringify(v); ok {
					vals = append(vals, format(s))
				}
			}
		case []string:
			for _, s := range t {
				vals = append(vals, format(s))
			}
		default:
			if s, ok := stringify(t); ok {
				vals = append(vals, format(s))
			}
		}
		out = append(out, message.Attribute{Name: sanitizeKey(k), Values: vals})
	}
	return out
}

// ensure appends the built-in attributes the custom ones do not already
// name (case-insensitively), like authentik's EnsureAttributes.
func ensure(custom []message.Attribute, builtins []message.Attribute) []message.Attribute {
	out := make([]message.Attribute, 0, len(custom)+len(builtins))
	have := make(map[string]bool, len(custom))
	for _, c := range custom {
		have[strings.ToLower(c.Name)] = true
	}
	for _, b := range builtins {
		if !have[strings.ToLower(b.Name)] {
			out = append(out, b)
		}
	}
	return append(out, custom...)
}

func rdn(attr, value string) string {
	return attr + "=" + dn.EscapeValue(strings.ToLower(value))
}

// knownLower maps the built-in attribute names to their lower-case forms, so
// the 200k entries of a large directory share these strings instead of
// each allocating its own.
var knownLower = func() map[string]string {
	m := map[string]string{}
	for _, n := range []string{"objectClass", "cn", "sAMAccountName", "uid", "name", "displayName", "sn", "mail",
		"memberOf", "member", "ak-active", "ak-superuser", "uidNumber", "gidNumber", "homeDirectory", "ou",
		"commonName", "distinguishedName", "dc"} {
		m[n] = strings.ToLower(n)
	}
	return m
}()

func lowerName(n string) string {
	if l, ok := knownLower[n]; ok {
		return l
	}
	return strings.ToLower(n)
}
