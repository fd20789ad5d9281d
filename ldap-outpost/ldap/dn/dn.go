// Package dn parses, escapes and compares distinguished names (RFC 4514).
//
// Entry DNs are built with EscapeValue so that user and group names with
// ',', '+', '"', '\', '<', '>', ';', '=', leading '#' or spaces, or NUL give
// valid DNs (authentik formats them unescaped). Comparisons use Normalize:
// attribute types and values are lower-cased (every attribute this directory
// names in DNs, cn/ou/dc, matches case-insensitively), insignificant spaces
// are dropped and values are re-escaped one canonical way.
package dn

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// AVA is one attribute type and value of an RDN.
type AVA struct {
	Type  string
	Value string
}

// RDN is a relative distinguished name; usually one AVA.
type RDN []AVA

// DN is a parsed distinguished name, most specific RDN first.
type DN []RDN

// maxLength bounds the input we parse; no real DN comes close.
const maxLength = 64 << 10

// Parse parses an RFC 4514 string. The empty string is the root DN.
func Parse(s string) (DN, error) {
	if len(s) > maxLength {
		return nil, errors.New("dn: too long")
	}
	var out DN
	var rdn RDN
	i := 0
	skipSpace := func() {
		for i < len(s) && s[i] == ' ' {
			i++
		}
	}
	skipSpace()
	if i == len(s) {
		return DN{}, nil
	}
	for {
		skipSpace()
		// Attribute type: a descriptor or a numeric OID.
		start := i
		for i < len(s) && s[i] != '=' && s[i] != ' ' {
			c := s[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
				return nil, fmt.Errorf("dn: invalid character %q in attribute type", c)
			}
			i++
		}
		typ := s[start:i]
		if typ == "" {
			return nil, errors.New("dn: empty attribute type")
		}
		skipSpace()
		if i == len(s) || s[i] != '=' {
			return nil, fmt.Errorf("dn: attribute type %q not followed by '='", typ)
		}
		i++
		skipSpace()
		val, n, err := parseValue(s[i:])
		if err != nil {
			return nil, err
		}
		i += n
		rdn = append(rdn, AVA{Type: typ, Value: val})
		if i == len(s) {
			out = append(out, rdn)
			return out, nil
		}
		switch s[i] {
		case '+':
		case ',', ';':
			out = append(out, rdn)
			rdn = nil
		default:
			return nil, fmt.Errorf("dn: unexpected %q after a value", s[i])
		}
		i++
	}
}

// parseValue reads an attribute value up to an unescaped ',', ';' or '+',
// returning the value and the bytes consumed. Trailing unescaped spaces are
// not part of the value.
func parseValue(s string) (string, int, error) {
	if strings.HasPrefix(s, "#") {
		// A BER-encoded value in hex; kept as the hex string.
		i := 1
		for i < len(s) && isHex(s[i]) {
			i++
		}
		if i == 1 || (i-1)%2 != 0 {
			return "", 0, errors.New("dn: bad hex value")
		}
		j := i
		for j < len(s) && s[j] == ' ' {
			j++
		}
		return s[:i], j, nil
	}
	var b strings.Builder
	i := 0
	lastSignificant := 0 // length of b up to the last escaped or non-space char
	inQuotes := false
	if strings.HasPrefix(s, `"`) {
		// Quoted values are from RFC 2253's predecessor; accepted for
		// compatibility.
		inQuotes = true
		i++
	}
	for i < len(s) {
		c := s[i]
		if inQuotes {
			if c == '"' {
				i++
				for i < len(s) && s[i] == ' ' {
					i++
				}
				if !utf8.ValidString(b.String()) {
					return "", 0, errors.New("dn: value is not UTF-8")
				}
				return b.String(), i, nil
			}
		} else if c == ',' || c == ';' || c == '+' {
			break
		}
		if c == '\\' {
			if i+1 >= len(s) {
				return "", 0, errors.New("dn: trailing backslash")
			}
			if isHex(s[i+1]) && i+2 < len(s) && isHex(s[i+2]) {
				v, _ := hex.DecodeString(s[i+1 : i+3])
				b.WriteByte(v[0])
				i += 3
			} else if strings.IndexByte(`,=+<>#;\" `, s[i+1]) >= 0 {
				b.WriteByte(s[i+1])
				i += 2
			} else {
				return "", 0, fmt.Errorf("dn: invalid escape \\%c", s[i+1])
			}
			lastSignificant = b.Len()
			continue
		}
		if !inQuotes && (c == '"' || c == '<' || c == '>' || c == 0) {
			// RFC 4514 requires these to be escaped; rejecting them keeps
			// lookups unambiguous.
			return "", 0, fmt.Errorf("dn: unescaped %q in value", c)
		}
		b.WriteByte(c)
		if c != ' ' {
			lastSignificant = b.Len()
		}
		i++
	}
	if inQuotes {
		return "", 0, errors.New("dn: unterminated quoted value")
	}
	v := b.String()[:lastSignificant]
	if !utf8.ValidString(v) {
		return "", 0, errors.New("dn: value is not UTF-8")
	}
	return v, i, nil
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// EscapeValue escapes an attribute value for use in a DN string
// (RFC 4514 §2.4).
func EscapeValue(v string) string {
	if v == "" {
		return ""
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == ',' || c == '+' || c == '"' || c == '\\' || c == '<' || c == '>' || c == ';' || c == '=':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == 0:
			b.WriteString(`\00`)
		case c == '#' && i == 0:
			b.WriteString(`\#`)
		case c == ' ' && (i == 0 || i == len(v)-1):
			b.WriteString(`\ `)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// String formats the DN with escaped values, types as given.
func (d DN) String() string {
	var b strings.Builder
	for i, r := range d {
		if i > 0 {
			b.WriteByte(',')
		}
		for j, a := range r {
			if j > 0 {
				b.WriteByte('+')
			}
			b.WriteString(a.Type)
			b.WriteByte('=')
			if strings.HasPrefix(a.Value, "#") && len(a.Value) > 1 && isAllHex(a.Value[1:]) {
				b.WriteString(a.Value)
			} else {
				b.WriteString(EscapeValue(a.Value))
			}
		}
	}
	return b.String()
}

func isAllHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isHex(s[i]) {
			return false
		}
	}
	return true
}

// Normalize is the DN's canonical form: types and values lower-cased,
// multi-valued RDNs sorted, values escaped one way.
func (d DN) Normalize() string {
	n := make(DN, len(d))
	for i, r := range d {
		nr := make(RDN, len(r))
		for j, a := range r {
			nr[j] = AVA{Type: strings.ToLower(a.Type), Value: strings.ToLower(a.Value)}
		}
		sortRDN(nr)
		n[i] = nr
	}
	return n.String()
}

func sortRDN(r RDN) {
	for i := 1; i < len(r); i++ {
		for j := i; j > 0 && r[j].Type+"="+r[j].Value < r[j-1].Type+"="+r[j-1].Value; j-- {
			r[j], r[j-1] = r[j-1], r[j]
		}
	}
}

// Normalize parses s and returns its canonical form.
func Normalize(s string) (string, error) {
	d, err := Parse(s)
	if err != nil {
		return "", err
	}
	return d.Normalize(), nil
}

// Within reports whether d equals parent or lies below it, comparing
// normalized RDNs.
func (d DN) Within(parent DN) bool {
	if len(parent) > len(d) {
		return false
	}
	off := len(d) - len(parent)
	for i := range parent {
		if (DN{d[off+i]}).Normalize() != (DN{parent[i]}).Normalize() {
			return false
		}
	}
	return true
}

// Parent is d without its first RDN (the root DN for a single RDN).
func (d DN) Parent() DN {
	if len(d) == 0 {
		return d
	}
	return d[1:]
}
