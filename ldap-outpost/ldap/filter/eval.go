package filter

import (
	"strconv"
	"strings"
	"unicode"
)

// Result is a filter's three-valued outcome (RFC 4511 §4.5.1.7).
type Result int8

// Filter results.
const (
	False     Result = 0
	True      Result = 1
	Undefined Result = 2
)

// Entry is what a filter is evaluated against.
type Entry interface {
	// Values returns the values of the attribute (name lower-cased), nil
	// when the entry has none.
	Values(lowerAttr string) []string
	// NormDN is the entry's normalized DN.
	NormDN() string
}

// Syntax says how an attribute's values compare.
type Syntax int

// Attribute syntaxes the evaluator knows.
const (
	// CaseIgnore: directory strings, compared case-insensitively
	// (caseIgnoreMatch). The default.
	CaseIgnore Syntax = iota
	// DNSyntax: distinguished names, compared in normalized form.
	DNSyntax
	// Integer: compared as numbers.
	Integer
	// Boolean: TRUE/FALSE, compared case-insensitively.
	Boolean
)

// Schema tells the evaluator about attributes and how to follow group
// membership for the in-chain rule.
type Schema interface {
	// Syntax of the attribute (name lower-cased).
	Syntax(lowerAttr string) Syntax
	// NormalizeDN returns the canonical form of a DN assertion value, false
	// when it is not a DN.
	NormalizeDN(s string) (string, bool)
	// Ancestors calls yield with the normalized DNs reached from the entry
	// by following attribute lowerAttr transitively (the entry's own values
	// first), for 1.2.840.113556.1.4.1941. Stops when yield returns false.
	Chain(e Entry, lowerAttr string, yield func(normDN string) bool)
}

// Matcher evaluates filters with one schema.
type Matcher struct {
	Schema Schema
}

// Match reports whether f is TRUE for e.
func (m Matcher) Match(f *Filter, e Entry) bool { return m.Eval(f, e) == True }

// Eval is f's three-valued result for e.
func (m Matcher) Eval(f *Filter, e Entry) Result {
	switch f.Kind {
	case And:
		r := True
		for _, c := range f.Children {
			switch m.Eval(c, e) {
			case False:
				return False
			case Undefined:
				r = Undefined
			}
		}
		return r
	case Or:
		r := False
		for _, c := range f.Children {
			switch m.Eval(c, e) {
			case True:
				return True
			case Undefined:
				r = Undefined
			}
		}
		return r
	case Not:
		switch m.Eval(f.Children[0], e) {
		case True:
			return False
		case False:
			return True
		}
		return Undefined
	case Present:
		attr := baseAttr(f.Attr)
		if attr == "objectclass" {
			return True // every entry has one
		}
		if len(e.Values(attr)) > 0 {
			return True
		}
		return False
	case Equal, Approx, GreaterEq, LessEq:
		return m.compare(f, e)
	case Substrings:
		return m.substrings(f, e)
	case Extensible:
		return m.extensible(f, e)
	}
	return Undefined
}

// baseAttr lower-cases an attribute description and drops options.
func baseAttr(a string) string {
	if i := strings.IndexByte(a, ';'); i >= 0 {
		a = a[:i]
	}
	return strings.ToLower(a)
}

func (m Matcher) syntax(attr string) Syntax {
	if m.Schema == nil {
		return CaseIgnore
	}
	return m.Schema.Syntax(attr)
}

func (m Matcher) compare(f *Filter, e Entry) Result {
	attr := baseAttr(f.Attr)
	return m.compareValues(f.Kind, m.syntax(attr), e.Values(attr), f.Value)
}

func (m Matcher) compareValues(kind Kind, syn Syntax, vals []string, assertion string) Result {
	f := struct{ Kind Kind }{kind}
	switch syn {
	case DNSyntax:
		if f.Kind != Equal && f.Kind != Approx {
			return Undefined // no ordering rule for DNs
		}
		n, ok := m.normDN(assertion)
		if !ok {
			return Undefined
		}
		for _, v := range vals {
			if vn, ok := m.normDN(v); ok && vn == n {
				return True
			}
		}
		return False
	case Integer:
		a, err := strconv.ParseInt(strings.TrimSpace(assertion), 10, 64)
		if err != nil {
			return Undefined
		}
		for _, v := range vals {
			x, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				continue
			}
			if (f.Kind == Equal || f.Kind == Approx) && x == a || f.Kind == GreaterEq && x >= a || f.Kind == LessEq && x <= a {
				return True
			}
		}
		return False
	}
	a := fold(assertion)
	if f.Kind == Approx {
		a = squash(a)
	}
	for _, v := range vals {
		x := fold(v)
		switch f.Kind {
		case Equal:
			if x == a {
				return True
			}
		case Approx:
			if squash(x) == a {
				return True
			}
		case GreaterEq:
			if x >= a {
				return True
			}
		case LessEq:
			if x <= a {
				return True
			}
		}
	}
	return False
}

func (m Matcher) normDN(s string) (string, bool) {
	if m.Schema == nil {
		return strings.ToLower(s), true
	}
	return m.Schema.NormalizeDN(s)
}

// fold is caseIgnoreMatch's preparation: lower case, leading and trailing
// spaces removed, inner runs of spaces collapsed (RFC 4518, simplified).
func fold(s string) string {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "  ") {
		s = strings.Join(strings.Fields(s), " ")
	}
	return strings.ToLower(s)
}

// squash is our approximate match: case and all white space ignored.
func squash(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, s)
}

func (m Matcher) substrings(f *Filter, e Entry) Result {
	attr := baseAttr(f.Attr)
	syn := m.syntax(attr)
	if syn == Integer || syn == Boolean {
		return Undefined
	}
	initial, final := fold(f.Initial), fold(f.Final)
	anys := make([]string, len(f.Any))
	for i, a := range f.Any {
		anys[i] = fold(a)
	}
	for _, v := range e.Values(attr) {
		x := strings.ToLower(v)
		if syn != DNSyntax {
			x = fold(v)
		}
		if !strings.HasPrefix(x, initial) {
			continue
		}
		x = x[len(initial):]
		ok := true
		for _, a := range anys {
			i := strings.Index(x, a)
			if i < 0 {
				ok = false
				break
			}
			x = x[i+len(a):]
		}
		if ok && strings.HasSuffix(x, final) {
			return True
		}
	}
	return False
}

// Matching rules the extensible match understands.
const (
	ruleInChain        = "1.2.840.113556.1.4.1941"
	ruleBitAnd         = "1.2.840.113556.1.4.803"
	ruleBitOr          = "1.2.840.113556.1.4.804"
	ruleCaseIgnore     = "2.5.13.2"
	ruleCaseExact      = "2.5.13.5"
	ruleDNMatch        = "2.5.13.1"
	ruleIntegerMatch   = "2.5.13.14"
	ruleCaseIgnoreName = "caseignorematch"
	ruleCaseExactName  = "caseexactmatch"
	ruleDNMatchName    = "distinguishednamematch"
	ruleIntegerName    = "integermatch"
	ruleInChainName    = "in_chain" // not standard; some tools print it
	ruleDefault        = ""
)

func (m Matcher) extensible(f *Filter, e Entry) Result {
	rule := strings.ToLower(f.Rule)
	attr := baseAttr(f.Attr)
	var eq func(v string) Result
	switch rule {
	case ruleInChain, ruleInChainName:
		if attr == "" || m.Schema == nil {
			return Undefined
		}
		target, ok := m.normDN(f.Value)
		if !ok {
			return Undefined
		}
		found := False
		m.Schema.Chain(e, attr, func(n string) bool {
			if n == target {
				found = True
				return false
			}
			return true
		})
		return found
	case ruleBitAnd, ruleBitOr:
		a, err := strconv.ParseInt(f.Value, 10, 64)
		if err != nil {
			return Undefined
		}
		eq = func(v string) Result {
			x, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return Undefined
			}
			if rule == ruleBitAnd && x&a == a || rule == ruleBitOr && x&a != 0 {
				return True
			}
			return False
		}
	case ruleCaseExact, ruleCaseExactName:
		eq = func(v string) Result { return boolResult(v == f.Value) }
	case ruleDefault, ruleCaseIgnore, ruleCaseIgnoreName, ruleDNMatch, ruleDNMatchName, ruleIntegerMatch, ruleIntegerName:
		// The attribute's own equality rule (RFC 4511 §4.5.1.7.7).
		syn := m.syntaxFor(attr, rule)
		eq = func(v string) Result { return m.compareValues(Equal, syn, []string{v}, f.Value) }
	default:
		return Undefined
	}
	r := False
	consider := func(vals []string) bool {
		for _, v := range vals {
			switch eq(v) {
			case True:
				r = True
				return true
			case Undefined:
				r = Undefined
			}
		}
		return false
	}
	if attr != "" {
		if consider(e.Values(attr)) {
			return True
		}
	}
	if f.DNAttrs {
		// The values of the entry's DN attributes (RFC 4511 §4.5.1.7.7).
		for _, v := range dnValues(e.NormDN(), attr) {
			if consider([]string{v}) {
				return True
			}
		}
	}
	return r
}

func (m Matcher) syntaxFor(attr, rule string) Syntax {
	switch rule {
	case ruleDNMatch, ruleDNMatchName:
		return DNSyntax
	case ruleIntegerMatch, ruleIntegerName:
		return Integer
	case ruleCaseIgnore, ruleCaseIgnoreName:
		return CaseIgnore
	}
	if attr == "" {
		return CaseIgnore
	}
	return m.syntax(attr)
}

// dnValues are the values in dn's RDNs for attr ("" = any attribute). dn is
// normalized, so splitting on unescaped ',' and '+' is safe.
func dnValues(normDN, attr string) []string {
	var out []string
	for _, rdn := range splitUnescaped(normDN, ',') {
		for _, ava := range splitUnescaped(rdn, '+') {
			t, v, ok := strings.Cut(ava, "=")
			if ok && (attr == "" || t == attr) {
				out = append(out, unescapeDNValue(v))
			}
		}
	}
	return out
}

func splitUnescaped(s string, sep byte) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' {
			i++
			continue
		}
		if s[i] == sep {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

func unescapeDNValue(v string) string {
	if !strings.Contains(v, `\`) {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' && i+1 < len(v) {
			i++
		}
		b.WriteByte(v[i])
	}
	return b.String()
}

func boolResult(b bool) Result {
	if b {
		return True
	}
	return False
}
