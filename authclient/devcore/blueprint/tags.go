package blueprint

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"gopkg.in/yaml.v3"
)

// keyNamespace is the uuid v5 namespace of object pks, so the same model and
// identifiers give the same pk on every load.
const keyNamespace = "5b0f3c9e-2a7d-4c1e-9f3b-6d8a1e4c7b20"

// objectKey derives an object's stable uuid from its model and the
// identifiers of the entry that created it.
func objectKey(model string, ident map[string]any) string {
	return uuid.NewSHA1(uuid.MustParse(keyNamespace), []byte(model+"\x00"+canon(ident))).String()
}

// pair is one key of a YAML mapping with its value.
type pair struct {
	key     string
	keyNode *yaml.Node
	val     *yaml.Node
}

// deref follows aliases to the anchored node.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && n.Alias != nil && i < maxDepth; i++ {
		n = n.Alias
	}
	return n
}

// isCustomTag reports whether n carries a local tag such as !KeyOf.
func isCustomTag(n *yaml.Node) bool {
	t := n.ShortTag()
	return strings.HasPrefix(t, "!") && !strings.HasPrefix(t, "!!")
}

func (l *loader) spend(n *yaml.Node) error {
	l.budget--
	if l.budget < 0 {
		return l.errAt(n, "blueprint too large: aliases expand to too many nodes")
	}
	return nil
}

// mappingPairs lists a mapping's keys in order, expanding YAML merge keys
// (<<) and rejecting duplicate keys, which yaml.v3's node API lets through.
func (l *loader) mappingPairs(n *yaml.Node, depth int) ([]pair, error) {
	if depth > maxDepth {
		return nil, l.errAt(n, "mapping nested too deeply")
	}
	n = deref(n)
	if n.Kind != yaml.MappingNode {
		return nil, l.errAt(n, "expected a mapping")
	}
	var explicit, merged []pair
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if err := l.spend(n); err != nil {
			return nil, err
		}
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || isCustomTag(k) {
			return nil, l.errAt(k, "mapping keys must be plain strings")
		}
		if k.ShortTag() == "!!merge" {
			srcs := []*yaml.Node{deref(v)}
			if srcs[0].Kind == yaml.SequenceNode {
				srcs = srcs[0].Content
			}
			for _, s := range srcs {
				sub, err := l.mappingPairs(s, depth+1)
				if err != nil {
					return nil, err
				}
				merged = append(merged, sub...)
			}
			continue
		}
		if line, dup := seen[k.Value]; dup {
			return nil, l.errAt(k, "duplicate key %q (first at line %d)", k.Value, line)
		}
		seen[k.Value] = k.Line
		explicit = append(explicit, pair{key: k.Value, keyNode: k, val: v})
	}
	// Explicit keys win over merged ones; among merged maps the first wins.
	for _, p := range merged {
		if _, ok := seen[p.key]; ok {
			continue
		}
		seen[p.key] = p.keyNode.Line
		explicit = append(explicit, p)
	}
	return explicit, nil
}

// resolve turns a node into a plain value (nil, string, int64, float64,
// bool, []any, map[string]any) with tags evaluated; !KeyOf and !Find give
// *object references.
func (l *loader) resolve(n *yaml.Node, depth int) (any, error) {
	if depth > maxDepth {
		return nil, l.errAt(n, "value nested too deeply")
	}
	if err := l.spend(n); err != nil {
		return nil, err
	}
	n = deref(n)
	if n.Kind == yaml.AliasNode {
		return nil, l.errAt(n, "unresolvable alias")
	}
	if isCustomTag(n) {
		return l.tag(n, depth)
	}
	switch n.Kind {
	case yaml.ScalarNode:
		return l.scalar(n)
	case yaml.SequenceNode:
		if t := n.ShortTag(); t != "!!seq" {
			return nil, l.errAt(n, "unsupported tag %s on a list", t)
		}
		out := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := l.resolve(c, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case yaml.MappingNode:
		if t := n.ShortTag(); t != "!!map" {
			return nil, l.errAt(n, "unsupported tag %s on a mapping", t)
		}
		pairs, err := l.mappingPairs(n, depth)
		if err != nil {
			return nil, err
		}
		out := make(map[string]any, len(pairs))
		for _, p := range pairs {
			v, err := l.resolve(p.val, depth+1)
			if err != nil {
				return nil, err
			}
			out[p.key] = v
		}
		return out, nil
	default:
		return nil, l.errAt(n, "unexpected YAML node")
	}
}

func (l *loader) scalar(n *yaml.Node) (any, error) {
	switch t := n.ShortTag(); t {
	case "!!null":
		return nil, nil
	case "!!str", "!!timestamp":
		// Timestamps stay text: a field that wants a time parses it, and a
		// string field keeps what the author wrote.
		return n.Value, nil
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			return nil, l.errAt(n, "invalid boolean %q", n.Value)
		}
		return b, nil
	case "!!int":
		var i int64
		if err := n.Decode(&i); err != nil {
			return nil, l.errAt(n, "invalid or out-of-range integer %q", n.Value)
		}
		return i, nil
	case "!!float":
		var f float64
		if err := n.Decode(&f); err != nil {
			return nil, l.errAt(n, "invalid number %q", n.Value)
		}
		return f, nil
	default:
		return nil, l.errAt(n, "unsupported tag %s", t)
	}
}

const supportedTags = "!KeyOf, !Find, !Env, !Context, !Format"

func (l *loader) tag(n *yaml.Node, depth int) (any, error) {
	switch t := n.Tag; t {
	case "!KeyOf":
		return l.keyOf(n)
	case "!Find":
		return l.find(n, depth)
	case "!Env":
		return l.env(n, depth)
	case "!Context":
		return l.context(n, depth)
	case "!Format":
		return l.format(n, depth)
	default:
		return nil, l.errAt(n, "unknown tag %s (the stand-in core supports %s)", t, supportedTags)
	}
}

func (l *loader) keyOf(n *yaml.Node) (any, error) {
	if n.Kind != yaml.ScalarNode {
		return nil, l.errAt(n, "!KeyOf takes an entry id: !KeyOf my-id")
	}
	r, ok := l.ids[n.Value]
	switch {
	case !ok:
		return nil, l.errAt(n, "!KeyOf %s: no entry in this file has id %q", n.Value, n.Value)
	case !r.done:
		return nil, l.errAt(n, "!KeyOf %s: the entry with that id (line %d) comes later; entries are applied in order", n.Value, r.line)
	case r.obj == nil:
		return nil, l.errAt(n, "!KeyOf %s: the entry with that id (line %d) %s", n.Value, r.line, r.why)
	case r.obj.removed:
		return nil, l.errAt(n, "!KeyOf %s: the object was removed by a later state: absent entry", n.Value)
	}
	return r.obj, nil
}

// args resolves the items of a tag's list form.
func (l *loader) args(n *yaml.Node, depth int) ([]any, []*yaml.Node, error) {
	items := make([]any, 0, len(n.Content))
	nodes := make([]*yaml.Node, 0, len(n.Content))
	for _, c := range n.Content {
		v, err := l.resolve(c, depth+1)
		if err != nil {
			return nil, nil, err
		}
		items = append(items, v)
		nodes = append(nodes, c)
	}
	return items, nodes, nil
}

func (l *loader) find(n *yaml.Node, depth int) (any, error) {
	const usage = "!Find takes [model, [field, value], ...]"
	if n.Kind != yaml.SequenceNode || len(n.Content) < 2 {
		return nil, l.errAt(n, "%s", usage)
	}
	m, err := l.resolve(n.Content[0], depth+1)
	if err != nil {
		return nil, err
	}
	name, ok := m.(string)
	if !ok {
		return nil, l.errAt(n.Content[0], "%s: the model must be a string", usage)
	}
	spec, ok := lookupModel(l.specs, name)
	if !ok {
		return nil, l.errAt(n.Content[0], "!Find: unknown model %q: not supported by the stand-in core", name)
	}
	conds := map[string]string{}
	var pk any
	hasPK := false
	var desc []string
	for _, c := range n.Content[1:] {
		c = deref(c)
		if c.Kind != yaml.SequenceNode || isCustomTag(c) || len(c.Content) != 2 {
			return nil, l.errAt(c, "%s: each query must be a [field, value] pair", usage)
		}
		fv, err := l.resolve(c.Content[0], depth+1)
		if err != nil {
			return nil, err
		}
		fname, ok := fv.(string)
		if !ok {
			return nil, l.errAt(c.Content[0], "!Find: field name must be a string")
		}
		raw, err := l.resolve(c.Content[1], depth+1)
		if err != nil {
			return nil, err
		}
		var val any
		if fname == "pk" {
			val = pkValue(raw)
			if hasPK && canon(pk) != canon(val) {
				return nil, l.errAt(n, "!Find: no %s matches two different pks", spec.name)
			}
			pk, hasPK = val, true
		} else {
			f, ok := spec.fields[fname]
			if !ok {
				return nil, l.errAt(c.Content[0], "!Find: unknown field %q of %s (known: pk, %s)", fname, spec.name, knownFields(spec))
			}
			if val, err = l.convert(f, raw, c.Content[1]); err != nil {
				return nil, err
			}
			if prev, dup := conds[fname]; dup && prev != canon(val) {
				return nil, l.errAt(n, "!Find: no %s has two different values of %s", spec.name, fname)
			}
			conds[fname] = canon(val)
		}
		desc = append(desc, fmt.Sprintf("%s=%s", fname, canon(val)))
	}
	var found []*object
	if hasPK {
		if o := l.byPK[pkKey(spec.name, pk)]; o != nil && !o.removed {
			found = []*object{o}
			for k, v := range conds {
				if canon(o.get(k)) != v {
					found = nil
				}
			}
		}
	} else {
		found = l.lookup(spec, conds)
	}
	if len(found) > 0 {
		// Like authentik's query.first(): the earliest match.
		return found[0], nil
	}
	return nil, l.errAt(n, "!Find: no %s with %s", spec.name, strings.Join(desc, ", "))
}

// pkValue normalises a pk for comparison: ints as int64, anything else as text.
func pkValue(v any) any {
	switch x := v.(type) {
	case int32:
		return int64(x)
	case int64:
		return x
	case *object:
		return pkValue(x.pk())
	case string:
		if i, err := strconv.ParseInt(x, 10, 64); err == nil {
			return i
		}
		return x
	default:
		return v
	}
}

// nameAndDefault reads a tag's "NAME" or "[NAME, default]" form.
func (l *loader) nameAndDefault(n *yaml.Node, depth int, tag string) (name string, def any, hasDef bool, err error) {
	usage := fmt.Sprintf("%s takes NAME or [NAME, default]", tag)
	switch n.Kind {
	case yaml.ScalarNode:
		return n.Value, nil, false, nil
	case yaml.SequenceNode:
		if len(n.Content) != 1 && len(n.Content) != 2 {
			return "", nil, false, l.errAt(n, "%s", usage)
		}
		items, _, err := l.args(n, depth)
		if err != nil {
			return "", nil, false, err
		}
		s, ok := items[0].(string)
		if !ok {
			return "", nil, false, l.errAt(n.Content[0], "%s: the name must be a string", usage)
		}
		if len(items) == 2 {
			return s, items[1], true, nil
		}
		return s, nil, false, nil
	default:
		return "", nil, false, l.errAt(n, "%s", usage)
	}
}

func (l *loader) env(n *yaml.Node, depth int) (any, error) {
	name, def, hasDef, err := l.nameAndDefault(n, depth, "!Env")
	if err != nil {
		return nil, err
	}
	// Like authentik (getenv(name) or default), an empty variable counts
	// as unset.
	if v := l.opts.Getenv(name); v != "" {
		return v, nil
	}
	if hasDef {
		return def, nil
	}
	return nil, l.errAt(n, "!Env %s: the environment variable is not set (give a default: !Env [%s, default])", name, name)
}

func (l *loader) context(n *yaml.Node, depth int) (any, error) {
	key, def, hasDef, err := l.nameAndDefault(n, depth, "!Context")
	if err != nil {
		return nil, err
	}
	if v, ok := l.ctx[key]; ok {
		return v, nil
	}
	if hasDef {
		return def, nil
	}
	return nil, l.errAt(n, "!Context %s: no such context key (give a default: !Context [%s, default])", key, key)
}

// format implements !Format's Python %-formatting for %s, %d, %i and %%.
func (l *loader) format(n *yaml.Node, depth int) (any, error) {
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		return nil, l.errAt(n, "!Format takes [format, args...]")
	}
	items, _, err := l.args(n, depth)
	if err != nil {
		return nil, err
	}
	f, ok := items[0].(string)
	if !ok {
		return nil, l.errAt(n.Content[0], "!Format: the format must be a string")
	}
	args := items[1:]
	var b strings.Builder
	used := 0
	for i := 0; i < len(f); i++ {
		c := f[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		if i+1 >= len(f) {
			return nil, l.errAt(n, "!Format: format ends with a lone %%")
		}
		i++
		verb := f[i]
		if verb == '%' {
			b.WriteByte('%')
			continue
		}
		if used >= len(args) {
			return nil, l.errAt(n, "!Format: not enough arguments for the format")
		}
		arg := args[used]
		used++
		switch verb {
		case 's':
			b.WriteString(pyStr(arg))
		case 'd', 'i':
			num, ok := asInt(arg)
			if !ok {
				return nil, l.errAt(n, "!Format: %%%c needs a number, got %s", verb, pyStr(arg))
			}
			b.WriteString(strconv.FormatInt(num, 10))
		default:
			return nil, l.errAt(n, "!Format: unsupported conversion %%%c (use %%s, %%d or %%%%)", verb)
		}
	}
	if used != len(args) {
		return nil, l.errAt(n, "!Format: not all arguments converted (%d given, %d used)", len(args), used)
	}
	return b.String(), nil
}

// pyStr renders a value as Python's str() would, so !Format output matches
// authentik's.
func pyStr(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case bool:
		if x {
			return "True"
		}
		return "False"
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1e16 {
			return strconv.FormatFloat(x, 'f', 1, 64)
		}
		return strconv.FormatFloat(x, 'g', -1, 64)
	case *object:
		return x.pkString()
	default:
		return canon(v)
	}
}

func asInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case int32:
		return int64(x), true
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<62 {
			return int64(x), true
		}
	case string:
		if i, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64); err == nil {
			return i, true
		}
	case *object:
		if x.spec.pk == pkInt {
			return int64(x.num), true
		}
	}
	return 0, false
}

// truthy is Python's truth value, which authentik applies to conditions.
func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case string:
		return x != ""
	case int64:
		return x != 0
	case float64:
		return x != 0
	case []any:
		return len(x) > 0
	case map[string]any:
		return len(x) > 0
	default:
		return true
	}
}

// plain replaces references by their pks, deeply, for free-form values.
func plain(v any) any {
	switch x := v.(type) {
	case *object:
		return x.pk()
	case []*object:
		out := make([]any, len(x))
		for i, o := range x {
			out[i] = o.pk()
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = plain(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = plain(e)
		}
		return out
	default:
		return v
	}
}

// canon is a canonical text form of a value, used to compare identifiers
// and !Find queries with stored fields.
func canon(v any) string {
	v = plain(v)
	switch x := v.(type) {
	case int32:
		v = int64(x)
	case []string:
		if len(x) == 0 {
			v = nil
		}
	case []any:
		if len(x) == 0 {
			v = nil
		}
	case map[string]any:
		if len(x) == 0 {
			v = nil
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		// Only NaN/Inf floats fail; give them a stable spelling.
		return fmt.Sprintf("%#v", v)
	}
	return string(b)
}

// sortedKeys is used where map order would otherwise leak into output.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
