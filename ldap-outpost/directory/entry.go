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
type Entry struct {
	DN     string
	Parent string // normalized DN of the parent entry ("" for the base)
	Kind   Kind
	Attrs  []message.Attribute
	// lower holds the attribute names lower-cased, parallel to Attrs.
	lower []string

	// Users: the fields the bind cache checks, and group memberships.
	UserPK             int32
	Username           string
	Active             bool
	PasswordChangeUnix int64
	// Groups (and virtual groups): member DNs, for permission-reduced views.
	memberIdx int // index of "member" in Attrs, -1 when none
}

// Values implements filter.Entry.
func (e *Entry) Values(lowerAttr string) []string {
	for i, n := range e.lower {
		if n == lowerAttr {
			return e.Attrs[i].Values
		}
	}
	switch lowerAttr {
	case "entrydn", "distinguishedname":
		return []string{e.DN}
	}
	return nil
}

// NormDN implements filter.Entry.
func (e *Entry) NormDN() string { return e.DN }

func newEntry(dnStr string, kind Kind, attrs []message.Attribute) *Entry {
	return newEntryShared(dnStr, kind, attrs, nil)
}

// newEntryShared is newEntry whose lower-cased name list is shared with
// other entries of the same layout through layouts (nil: not shared).
func newEntryShared(dnStr string, kind Kind, attrs []message.Attribute, layouts map[string][]string) *Entry {
	// An attribute without values cannot be sent (RFC 4512 §2.5).
	kept := attrs[:0]
	for _, a := range attrs {
		if len(a.Values) > 0 {
			kept = append(kept, a)
		}
	}
	attrs = kept
	e := &Entry{DN: dnStr, Kind: kind, Attrs: attrs, memberIdx: -1}
	lower := make([]string, len(attrs))
	for i, a := range attrs {
		lower[i] = lowerName(a.Name)
		if lower[i] == "member" {
			e.memberIdx = i
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
	e.lower = lower
	return e
}

// withMembers returns a copy of a group entry whose member list is members.
func (e *Entry) withMembers(members []string) *Entry {
	c := *e
	c.Attrs = append([]message.Attribute(nil), e.Attrs...)
	if e.memberIdx >= 0 {
		c.Attrs[e.memberIdx] = message.Attribute{Name: e.Attrs[e.memberIdx].Name, Values: members}
	} else {
		c.Attrs = append(c.Attrs, message.Attribute{Name: "member", Values: members})
		c.lower = append(append([]string(nil), e.lower...), "member")
	}
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
