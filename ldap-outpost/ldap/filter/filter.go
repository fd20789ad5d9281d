// Package filter parses LDAP search filters (RFC 4515 strings and the
// RFC 4511 BER form) and evaluates them against entries.
//
// Evaluation follows RFC 4511 §4.5.1.7: every item is TRUE, FALSE or
// Undefined, "and"/"or"/"not" combine the three values, and an entry matches
// only when the whole filter is TRUE. Each filter item is evaluated on its
// own, whatever its position, so results never depend on operand order
// (authentik picks one objectClass from the filter and fetches only that
// kind of object, which is why its OR filters misbehave).
package filter

import (
	"errors"
	"fmt"
	"strings"
)

// Kind is the type of a filter node.
type Kind int

// Filter node kinds (the CHOICE tags of RFC 4511 §4.5.1).
const (
	And        Kind = 0
	Or         Kind = 1
	Not        Kind = 2
	Equal      Kind = 3
	Substrings Kind = 4
	GreaterEq  Kind = 5
	LessEq     Kind = 6
	Present    Kind = 7
	Approx     Kind = 8
	Extensible Kind = 9
)

// Filter is a parsed filter.
type Filter struct {
	Kind     Kind
	Children []*Filter // And, Or; Not has one
	Attr     string    // attribute description (may be empty for Extensible)
	Value    string    // assertion value (unescaped)
	// Substrings.
	Initial string
	Any     []string
	Final   string
	// Extensible.
	Rule    string
	DNAttrs bool
}

// Limits bound what a filter may cost to parse and evaluate.
const (
	maxDepth  = 64
	maxLength = 64 << 10
	maxNodes  = 4096
)

// ErrSyntax is in the chain of every parse error.
var ErrSyntax = errors.New("filter syntax")

func syntax(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrSyntax, fmt.Sprintf(format, args...))
}

// Parse parses an RFC 4515 filter string. The outer parentheses may be
// left out for a single item ("cn=x"), as ldapsearch and most servers allow.
func Parse(s string) (*Filter, error) {
	if len(s) > maxLength {
		return nil, syntax("longer than %d bytes", maxLength)
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, syntax("empty filter")
	}
	if s[0] != '(' {
		s = "(" + s + ")"
	}
	p := parser{s: s}
	f, err := p.filter(0)
	if err != nil {
		return nil, err
	}
	if p.i != len(p.s) {
		return nil, syntax("unexpected %q after the filter at %d", p.s[p.i:], p.i)
	}
	return f, nil
}

type parser struct {
	s     string
	i     int
	nodes int
}

func (p *parser) filter(depth int) (*Filter, error) {
	if depth > maxDepth {
		return nil, syntax("nested deeper than %d", maxDepth)
	}
	p.nodes++
	if p.nodes > maxNodes {
		return nil, syntax("more than %d items", maxNodes)
	}
	if p.i >= len(p.s) || p.s[p.i] != '(' {
		return nil, syntax("expected '(' at %d", p.i)
	}
	p.i++
	if p.i >= len(p.s) {
		return nil, syntax("unexpected end")
	}
	var f *Filter
	switch p.s[p.i] {
	case '&', '|':
		kind := And
		if p.s[p.i] == '|' {
			kind = Or
		}
		p.i++
		f = &Filter{Kind: kind}
		for p.i < len(p.s) && p.s[p.i] == '(' {
			c, err := p.filter(depth + 1)
			if err != nil {
				return nil, err
			}
			f.Children = append(f.Children, c)
		}
		// RFC 4526 absolute true (&) and false (|) have no children.
	case '!':
		p.i++
		c, err := p.filter(depth + 1)
		if err != nil {
			return nil, err
		}
		f = &Filter{Kind: Not, Children: []*Filter{c}}
	default:
		var err error
		f, err = p.item()
		if err != nil {
			return nil, err
		}
	}
	if p.i >= len(p.s) || p.s[p.i] != ')' {
		return nil, syntax("expected ')' at %d", p.i)
	}
	p.i++
	return f, nil
}

// item parses attr op value up to (not including) the closing ')'.
func (p *parser) item() (*Filter, error) {
	end := strings.IndexByte(p.s[p.i:], ')')
	if end < 0 {
		return nil, syntax("item not closed")
	}
	raw := p.s[p.i : p.i+end]
	if strings.ContainsAny(raw, "(") {
		return nil, syntax("unescaped '(' in %q", raw)
	}
	p.i += end
	eq := strings.IndexByte(raw, '=')
	if eq <= 0 {
		return nil, syntax("item %q has no attribute or '='", raw)
	}
	left, right := raw[:eq], raw[eq+1:]
	f := &Filter{}
	switch left[len(left)-1] {
	case '>':
		f.Kind, left = GreaterEq, left[:len(left)-1]
	case '<':
		f.Kind, left = LessEq, left[:len(left)-1]
	case '~':
		f.Kind, left = Approx, left[:len(left)-1]
	case ':':
		return extensible(left[:len(left)-1], right)
	default:
		f.Kind = Equal
	}
	if !validAttr(left) {
		return nil, syntax("invalid attribute description %q", left)
	}
	f.Attr = left
	if f.Kind == Equal && right == "*" {
		f.Kind = Present
		return f, nil
	}
	if f.Kind == Equal && strings.Contains(right, "*") {
		f.Kind = Substrings
		parts := strings.Split(right, "*")
		var err error
		if f.Initial, err = unescape(parts[0]); err != nil {
			return nil, err
		}
		if f.Final, err = unescape(parts[len(parts)-1]); err != nil {
			return nil, err
		}
		for _, a := range parts[1 : len(parts)-1] {
			if a == "" {
				continue // "**" is tolerated as one wildcard
			}
			v, err := unescape(a)
			if err != nil {
				return nil, err
			}
			f.Any = append(f.Any, v)
		}
		return f, nil
	}
	v, err := unescape(right)
	if err != nil {
		return nil, err
	}
	f.Value = v
	return f, nil
}

// extensible parses "attr:dn:rule" (without the final ':') and the value.
func extensible(left, right string) (*Filter, error) {
	f := &Filter{Kind: Extensible}
	parts := strings.Split(left, ":")
	if len(parts) > 3 {
		return nil, syntax("extensible match %q has too many parts", left)
	}
	f.Attr = parts[0]
	if f.Attr != "" && !validAttr(f.Attr) {
		return nil, syntax("invalid attribute description %q", f.Attr)
	}
	for _, part := range parts[1:] {
		switch {
		case strings.EqualFold(part, "dn") && !f.DNAttrs && f.Rule == "":
			f.DNAttrs = true
		case f.Rule == "" && validAttr(part):
			f.Rule = part
		default:
			return nil, syntax("extensible match %q is malformed", left)
		}
	}
	if f.Attr == "" && f.Rule == "" {
		return nil, syntax("extensible match needs an attribute or a matching rule")
	}
	v, err := unescape(right)
	if err != nil {
		return nil, err
	}
	f.Value = v
	return f, nil
}

// validAttr accepts a descriptor or numeric OID with options (cn;lang-de).
func validAttr(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == ';' || c == '_') {
			return false
		}
	}
	return true
}

func unescape(s string) (string, error) {
	if !strings.ContainsAny(s, `\*()`+"\x00") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '\\':
			if i+2 >= len(s) {
				return "", syntax("truncated escape in %q", s)
			}
			h, ok := hexByte(s[i+1], s[i+2])
			if !ok {
				return "", syntax("invalid escape in %q", s)
			}
			b.WriteByte(h)
			i += 2
		case '*', '(', ')', 0:
			return "", syntax("unescaped %q in value", c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

func hexByte(a, b byte) (byte, bool) {
	x, ok1 := hexVal(a)
	y, ok2 := hexVal(b)
	return x<<4 | y, ok1 && ok2
}

func hexVal(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// Escape escapes an assertion value for a filter string.
func Escape(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '*' || c == '(' || c == ')' || c == '\\' || c == 0 {
			fmt.Fprintf(&b, `\%02x`, c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// String is the filter in RFC 4515 form.
func (f *Filter) String() string {
	var b strings.Builder
	f.write(&b)
	return b.String()
}

func (f *Filter) write(b *strings.Builder) {
	b.WriteByte('(')
	switch f.Kind {
	case And, Or, Not:
		b.WriteByte("&|!"[f.Kind])
		for _, c := range f.Children {
			c.write(b)
		}
	case Equal:
		b.WriteString(f.Attr + "=" + Escape(f.Value))
	case GreaterEq:
		b.WriteString(f.Attr + ">=" + Escape(f.Value))
	case LessEq:
		b.WriteString(f.Attr + "<=" + Escape(f.Value))
	case Approx:
		b.WriteString(f.Attr + "~=" + Escape(f.Value))
	case Present:
		b.WriteString(f.Attr + "=*")
	case Substrings:
		b.WriteString(f.Attr + "=" + Escape(f.Initial) + "*")
		for _, a := range f.Any {
			b.WriteString(Escape(a) + "*")
		}
		b.WriteString(Escape(f.Final))
	case Extensible:
		b.WriteString(f.Attr)
		if f.DNAttrs {
			b.WriteString(":dn")
		}
		if f.Rule != "" {
			b.WriteString(":" + f.Rule)
		}
		b.WriteString(":=" + Escape(f.Value))
	}
	b.WriteByte(')')
}
