package blueprint

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// convert checks a resolved value against a field and returns it in the
// field's Go type: string, bool, int64, []string, map[string]any, any,
// *object (or nil), []*object, time.Time or nil.
func (l *loader) convert(f field, v any, n *yaml.Node) (any, error) {
	n = deref(n)
	switch f.kind {
	case kString:
		s, err := l.toString(v, n)
		if err != nil {
			return nil, err
		}
		if len(f.enum) > 0 && !slices.Contains(f.enum, s) {
			return nil, l.errAt(n, "invalid value %q: must be one of %s", s, strings.Join(f.enum, ", "))
		}
		return s, nil
	case kBool:
		return l.toBool(v, n)
	case kInt:
		return l.toInt(v, n)
	case kStrings:
		items, nodes, err := l.list(v, n)
		if err != nil {
			return nil, err
		}
		out := make([]string, 0, len(items))
		for i, it := range items {
			s, err := l.toString(it, nodes[i])
			if err != nil {
				return nil, err
			}
			if len(f.enum) > 0 && !slices.Contains(f.enum, s) {
				return nil, l.errAt(nodes[i], "invalid value %q: must be one of %s", s, strings.Join(f.enum, ", "))
			}
			out = append(out, s)
		}
		return out, nil
	case kMap:
		if v == nil {
			return map[string]any{}, nil
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, l.errAt(n, "expected a mapping, got %s", describe(v))
		}
		return plain(m), nil
	case kAny:
		return plain(v), nil
	case kRef:
		if v == nil {
			return nil, nil
		}
		return l.toRef(f, v, n)
	case kRefs:
		items, nodes, err := l.list(v, n)
		if err != nil {
			return nil, err
		}
		out := make([]*object, 0, len(items))
		for i, it := range items {
			o, err := l.toRef(f, it, nodes[i])
			if err != nil {
				return nil, err
			}
			out = append(out, o)
		}
		return out, nil
	case kTime:
		return l.toTime(v, n)
	case kTokenSet:
		items, nodes, err := l.list(v, n)
		if err != nil {
			return nil, err
		}
		out := make([]string, 0, len(items))
		for i, it := range items {
			m, ok := it.(map[string]any)
			if !ok {
				return nil, l.errAt(nodes[i], "token_set items must be mappings like {token: \"...\"}")
			}
			for k := range m {
				if k != "token" {
					return nil, l.errAt(nodes[i], "unknown field %q in a token_set item (known: token)", k)
				}
			}
			s, err := l.toString(m["token"], nodes[i])
			if err != nil {
				return nil, err
			}
			if s == "" {
				return nil, l.errAt(nodes[i], "token_set item needs a non-empty token")
			}
			out = append(out, s)
		}
		return out, nil
	case kEmptyList:
		items, _, err := l.list(v, n)
		if err != nil {
			return nil, err
		}
		if len(items) > 0 {
			return nil, l.errAt(n, "%s", f.msg)
		}
		return []string{}, nil
	case kNull, kReject:
		if v != nil {
			return nil, l.errAt(n, "%s", f.msg)
		}
		return nil, nil
	default:
		return nil, l.errAt(n, "internal error: unknown field kind %d", f.kind)
	}
}

func describe(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int64, float64:
		return "a number"
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	case *object:
		return "a reference"
	default:
		return fmt.Sprintf("%T", v)
	}
}

// toString accepts what Django REST framework's CharField accepts: text
// and numbers. null reads as "".
func (l *loader) toString(v any, n *yaml.Node) (string, error) {
	switch x := v.(type) {
	case nil:
		return "", nil
	case string:
		return x, nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64), nil
	case *object:
		return x.pkString(), nil
	default:
		return "", l.errAt(n, "expected a string, got %s", describe(v))
	}
}

// toBool accepts booleans and the strings DRF's BooleanField accepts, so
// !Env values work in boolean fields.
func (l *loader) toBool(v any, n *yaml.Node) (bool, error) {
	switch x := v.(type) {
	case bool:
		return x, nil
	case int64:
		if x == 0 || x == 1 {
			return x == 1, nil
		}
	case string:
		switch strings.ToLower(strings.TrimSpace(x)) {
		case "true", "t", "yes", "y", "on", "1":
			return true, nil
		case "false", "f", "no", "n", "off", "0":
			return false, nil
		}
	}
	return false, l.errAt(n, "expected true or false, got %s", describe(v))
}

func (l *loader) toInt(v any, n *yaml.Node) (int64, error) {
	switch x := v.(type) {
	case int64:
		return x, nil
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int64(x), nil
		}
	case string:
		if i, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64); err == nil {
			return i, nil
		}
	}
	return 0, l.errAt(n, "expected an integer, got %s", describe(v))
}

// list returns a list value's items with the nodes that hold them (the list
// node itself when items came from a tag), for error lines. null is empty.
func (l *loader) list(v any, n *yaml.Node) ([]any, []*yaml.Node, error) {
	if v == nil {
		return nil, nil, nil
	}
	items, ok := v.([]any)
	if !ok {
		return nil, nil, l.errAt(n, "expected a list, got %s", describe(v))
	}
	nodes := make([]*yaml.Node, len(items))
	for i := range items {
		nodes[i] = n
		if n.Kind == yaml.SequenceNode && !isCustomTag(n) && len(n.Content) == len(items) {
			nodes[i] = n.Content[i]
		}
	}
	return items, nodes, nil
}

// toRef resolves a reference: an object from !KeyOf or !Find, or a literal
// pk of an existing object.
func (l *loader) toRef(f field, v any, n *yaml.Node) (*object, error) {
	want := strings.Join(f.refs, " or ")
	o, ok := v.(*object)
	if !ok {
		pk := pkValue(v)
		switch pk.(type) {
		case int64, string:
		default:
			return nil, l.errAt(n, "expected a reference to a %s (!KeyOf, !Find or a pk), got %s", want, describe(v))
		}
		for _, m := range f.refs {
			if c := l.byPK[pkKey(m, pk)]; c != nil && !c.removed {
				o = c
				break
			}
		}
		if o == nil {
			return nil, l.errAt(n, "no %s with pk %v", want, v)
		}
	}
	if !slices.Contains(f.refs, o.spec.name) {
		return nil, l.errAt(n, "expected a reference to a %s, got a %s (%s)", want, o.spec.name, o.where())
	}
	if o.removed {
		return nil, l.errAt(n, "reference to a %s (%s) that a state: absent entry removed", o.spec.name, o.where())
	}
	return o, nil
}

func (l *loader) toTime(v any, n *yaml.Node) (any, error) {
	if v == nil {
		return nil, nil
	}
	s, ok := v.(string)
	if !ok {
		return nil, l.errAt(n, "expected a timestamp, got %s", describe(v))
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, strings.TrimSpace(s)); err == nil {
			return t, nil
		}
	}
	return nil, l.errAt(n, "invalid timestamp %q (use RFC 3339, e.g. 2030-01-02T15:04:05Z)", s)
}
