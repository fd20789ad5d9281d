package blueprint

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/outpost-go/outposts/authclient/devcore/model"
)

//go:embed defaults/*.yaml demo/demo.yaml
var embedded embed.FS

// File is one blueprint: its name (used in errors) and its YAML text.
type File struct {
	Name string
	Data []byte
}

// Options tune a load.
type Options struct {
	// Getenv looks up !Env variables; nil means os.Getenv.
	Getenv func(string) string
	// Context is the blueprint instance context: it overrides each file's
	// own context section, as authentik's BlueprintInstance.context does.
	Context map[string]any
	// Now stamps users and token expiry; nil means time.Now.
	Now func() time.Time
	// SkipDefaults leaves out the embedded default flows.
	SkipDefaults bool
}

// Error is a problem in a blueprint, at the node that caused it.
type Error struct {
	File string
	Line int // 1-based; 0 when the YAML parser did not say
	Msg  string
}

func (e *Error) Error() string {
	return e.File + ":" + strconv.Itoa(e.Line) + ": " + e.Msg
}

// Defaults returns the embedded blueprints with authentik's default flows.
func Defaults() []File {
	entries, err := fs.ReadDir(embedded, "defaults")
	if err != nil {
		return nil // cannot happen: the directory is embedded at build time
	}
	var out []File
	for _, e := range entries {
		data, err := embedded.ReadFile("defaults/" + e.Name())
		if err != nil {
			continue
		}
		out = append(out, File{Name: "defaults/" + e.Name(), Data: data})
	}
	return out
}

// Demo returns the embedded demo blueprint (users, groups, one provider,
// application and outpost of each type). Its comments list every credential.
func Demo() File {
	data, _ := embedded.ReadFile("demo/demo.yaml") // embedded at build time
	return File{Name: "demo/demo.yaml", Data: data}
}

// Load reads the embedded defaults (unless opts.SkipDefaults) and then every
// *.yaml and *.yml file under dir, recursively, in path order. An empty dir
// loads the defaults only.
func Load(dir string, opts Options) (*model.Directory, error) {
	var files []File
	if dir != "" {
		var paths []string
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			ext := strings.ToLower(filepath.Ext(path))
			if !d.IsDir() && (ext == ".yaml" || ext == ".yml") {
				paths = append(paths, path)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("read blueprint directory %s: %w", dir, err)
		}
		sort.Strings(paths)
		for _, p := range paths {
			data, err := os.ReadFile(p)
			if err != nil {
				return nil, fmt.Errorf("read blueprint: %w", err)
			}
			files = append(files, File{Name: p, Data: data})
		}
	}
	return LoadFiles(opts, files...)
}

// LoadFiles loads the embedded defaults (unless opts.SkipDefaults) and then
// files in the order given. Later files update objects earlier ones made.
// The returned error is an *Error for any problem in a blueprint.
func LoadFiles(opts Options, files ...File) (*model.Directory, error) {
	if opts.Getenv == nil {
		opts.Getenv = os.Getenv
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if !opts.SkipDefaults {
		files = append(Defaults(), files...)
	}
	l := &loader{
		opts:  opts,
		specs: schema(),
		seqs:  map[string]int32{},
		index: map[*modelSpec]map[string]map[string][]*object{},
		byPK:  map[string]*object{},
	}
	for _, f := range files {
		if err := l.loadFile(f); err != nil {
			return nil, err
		}
	}
	return l.build()
}

// maxNodes bounds how many YAML nodes one file may expand to through
// aliases beyond its own size, so a "billion laughs" document fails
// instead of hanging.
const maxNodes = 200_000

// maxDepth bounds nesting, so hostile input cannot exhaust the stack.
const maxDepth = 64

// loader holds the state of one load.
type loader struct {
	opts    Options
	specs   map[string]*modelSpec
	objects []*object // in creation order
	seqs    map[string]int32
	// index finds objects by a field's canonical value without scanning:
	// model -> field -> canon(value) -> objects. Entries go stale when a
	// field changes; lookups re-check every match.
	index map[*modelSpec]map[string]map[string][]*object
	byPK  map[string]*object // "model\x00pk" -> latest object with that pk

	// Per file.
	file   string
	ids    map[string]*entryRef
	ctx    map[string]any
	budget int
}

// entryRef is what !KeyOf resolves through.
type entryRef struct {
	line int     // line of the entry's id
	obj  *object // nil until processed, or when skipped/absent
	done bool
	why  string // why obj is nil after processing
}

// object is one model instance under construction.
type object struct {
	spec    *modelSpec
	seq     int    // creation order among all objects
	key     string // uuid v5 of model and creating identifiers
	num     int32  // int pk, or the group's num_pk
	fields  map[string]any
	lines   map[string]position // where each field's value was last set
	file    string
	line    int // line of the creating entry
	removed bool
}

// pk returns the object's primary key as the model exposes it.
func (o *object) pk() any {
	if o.spec.pk == pkInt {
		return o.num
	}
	return o.key
}

func (o *object) pkString() string {
	return fmt.Sprint(o.pk())
}

func (o *object) where() string {
	return o.file + ":" + strconv.Itoa(o.line)
}

func (l *loader) errAt(n *yaml.Node, format string, args ...any) *Error {
	line := 0
	if n != nil {
		line = n.Line
	}
	return &Error{File: l.file, Line: line, Msg: fmt.Sprintf(format, args...)}
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseYAML parses exactly one YAML document.
func parseYAML(name string, data []byte) (doc *yaml.Node, err error) {
	// yaml.v3 has panicked on malformed input before; a blueprint loader
	// must report bad input, never crash the server that reloads it.
	defer func() {
		if r := recover(); r != nil {
			doc, err = nil, &Error{File: name, Msg: fmt.Sprintf("invalid YAML: %v", r)}
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Error{File: name, Line: 1, Msg: "empty blueprint: expected a mapping with version: 1"}
		}
		return nil, yamlError(name, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, &Error{File: name, Line: extra.Line, Msg: "more than one YAML document; a blueprint is one document"}
	} else if !errors.Is(err, io.EOF) {
		return nil, yamlError(name, err)
	}
	return &root, nil
}

func yamlError(name string, err error) *Error {
	msg := err.Error()
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	line := 0
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	// yaml.v3 reports scanner errors with 1-based lines but parser errors
	// with the 0-based line of the construct being parsed (and no line at
	// all for the first one); correct the latter.
	if isParserProblem(msg) {
		line++
	}
	return &Error{File: name, Line: line, Msg: "invalid YAML: " + msg}
}

func isParserProblem(msg string) bool {
	for _, p := range []string{
		"did not find expected ',' or", "did not find expected '-' indicator",
		"did not find expected <", "did not find expected key", "did not find expected node content",
		"found duplicate %", "found incompatible YAML document", "found undefined tag handle",
	} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

func (l *loader) loadFile(f File) error {
	l.file = f.Name
	l.ids = map[string]*entryRef{}
	l.budget = maxNodes
	root, err := parseYAML(f.Name, f.Data)
	if err != nil {
		return err
	}
	// Each node is visited a few times without aliases; only alias
	// expansion can go far beyond that.
	l.budget = maxNodes + 8*countNodes(root)
	top := root
	if top.Kind == yaml.DocumentNode && len(top.Content) == 1 {
		top = top.Content[0]
	}
	top = deref(top)
	if top.Kind != yaml.MappingNode || isCustomTag(top) {
		return l.errAt(top, "a blueprint must be a mapping with version, metadata, context and entries")
	}
	pairs, err := l.mappingPairs(top, 0)
	if err != nil {
		return err
	}
	var version, context, entries *yaml.Node
	skip := false
	for _, p := range pairs {
		switch p.key {
		case "version":
			version = p.val
		case "metadata":
			instantiate, err := l.checkMetadata(p.val)
			if err != nil {
				return err
			}
			skip = !instantiate
		case "context":
			context = p.val
		case "entries":
			entries = p.val
		default:
			return l.errAt(p.keyNode, "unknown top-level key %q (expected version, metadata, context, entries)", p.key)
		}
	}
	if version == nil {
		return l.errAt(top, "missing version: 1")
	}
	if v := deref(version); v.Kind != yaml.ScalarNode || v.ShortTag() != "!!int" || v.Value != "1" {
		return l.errAt(version, "unsupported blueprint version %q; only version: 1 is supported", version.Value)
	}
	if err := l.loadContext(context); err != nil {
		return err
	}
	if entries == nil || skip {
		return nil
	}
	entries = deref(entries)
	if entries.ShortTag() == "!!null" {
		return nil
	}
	if entries.Kind != yaml.SequenceNode || isCustomTag(entries) {
		return l.errAt(entries, "entries must be a list")
	}
	if err := l.scanIDs(entries); err != nil {
		return err
	}
	for _, e := range entries.Content {
		if err := l.loadEntry(deref(e)); err != nil {
			return err
		}
	}
	return nil
}

// instantiateLabel marks blueprints authentik does not apply by itself
// (examples and templates); the stand-in core skips their entries too.
const instantiateLabel = "blueprints.goauthentik.io/instantiate"

// checkMetadata validates metadata and reports whether the file's entries
// are to be applied.
func (l *loader) checkMetadata(n *yaml.Node) (instantiate bool, err error) {
	n = deref(n)
	if n.Kind != yaml.MappingNode || isCustomTag(n) {
		return false, l.errAt(n, "metadata must be a mapping with name and labels")
	}
	pairs, err := l.mappingPairs(n, 0)
	if err != nil {
		return false, err
	}
	instantiate = true
	for _, p := range pairs {
		switch p.key {
		case "name":
			v, err := l.resolve(p.val, 0)
			if err != nil {
				return false, err
			}
			if _, err := l.convert(field{kind: kString}, v, p.val); err != nil {
				return false, err
			}
		case "labels":
			v, err := l.resolve(p.val, 0)
			if err != nil {
				return false, err
			}
			m, err := l.convert(field{kind: kMap}, v, p.val)
			if err != nil {
				return false, err
			}
			if raw, ok := m.(map[string]any)[instantiateLabel]; ok {
				if instantiate, err = l.toBool(raw, p.val); err != nil {
					return false, err
				}
			}
		default:
			return false, l.errAt(p.keyNode, "unknown metadata key %q (expected name, labels)", p.key)
		}
	}
	return instantiate, nil
}

// loadContext sets the file's !Context values: the file's context section,
// overridden by Options.Context, plus authentik's built-in keys.
func (l *loader) loadContext(n *yaml.Node) error {
	l.ctx = map[string]any{"goauthentik.io/enterprise/licensed": false}
	for k, v := range l.opts.Context {
		l.ctx[k] = normalize(v)
	}
	if n == nil {
		return nil
	}
	n = deref(n)
	if n.ShortTag() == "!!null" {
		return nil
	}
	if n.Kind != yaml.MappingNode || isCustomTag(n) {
		return l.errAt(n, "context must be a mapping")
	}
	pairs, err := l.mappingPairs(n, 0)
	if err != nil {
		return err
	}
	for _, p := range pairs {
		if _, override := l.opts.Context[p.key]; override {
			continue
		}
		v, err := l.resolve(p.val, 0)
		if err != nil {
			return err
		}
		l.ctx[p.key] = plain(v)
	}
	return nil
}

// scanIDs records every entry id up front, so duplicates are found even in
// skipped entries and !KeyOf can say when an id is defined only later.
func (l *loader) scanIDs(entries *yaml.Node) error {
	for _, e := range entries.Content {
		e = deref(e)
		if e.Kind != yaml.MappingNode {
			continue // reported by loadEntry
		}
		for i := 0; i+1 < len(e.Content); i += 2 {
			if e.Content[i].Value != "id" || e.Content[i].Kind != yaml.ScalarNode {
				continue
			}
			v := deref(e.Content[i+1])
			if v.Kind != yaml.ScalarNode || isCustomTag(v) || v.ShortTag() == "!!null" {
				return l.errAt(v, "id must be a plain string")
			}
			if prev, ok := l.ids[v.Value]; ok {
				return l.errAt(v, "duplicate id %q (first used at line %d)", v.Value, prev.line)
			}
			l.ids[v.Value] = &entryRef{line: v.Line}
		}
	}
	return nil
}

const (
	statePresent     = "present"
	stateCreated     = "created"
	stateMustCreated = "must_created"
	stateAbsent      = "absent"
)

func (l *loader) loadEntry(e *yaml.Node) error {
	if e.Kind != yaml.MappingNode || isCustomTag(e) {
		return l.errAt(e, "an entry must be a mapping with model, identifiers and attrs")
	}
	pairs, err := l.mappingPairs(e, 0)
	if err != nil {
		return err
	}
	var modelNode, identNode, attrsNode, stateNode, idNode, condNode *yaml.Node
	for _, p := range pairs {
		switch p.key {
		case "model":
			modelNode = p.val
		case "identifiers":
			identNode = p.val
		case "attrs":
			attrsNode = p.val
		case "state":
			stateNode = p.val
		case "id":
			idNode = p.val
		case "conditions":
			condNode = p.val
		default:
			return l.errAt(p.keyNode, "unknown entry key %q (expected model, identifiers, attrs, state, id, conditions)", p.key)
		}
	}
	if modelNode == nil {
		return l.errAt(e, "entry has no model")
	}
	modelNode = deref(modelNode)
	if modelNode.Kind != yaml.ScalarNode || isCustomTag(modelNode) {
		return l.errAt(modelNode, "model must be a plain string like authentik_core.user")
	}
	spec, ok := lookupModel(l.specs, modelNode.Value)
	if !ok {
		return l.errAt(modelNode, "unknown model %q: not supported by the stand-in core", modelNode.Value)
	}
	state := statePresent
	if stateNode != nil {
		s := deref(stateNode)
		if s.Kind != yaml.ScalarNode || isCustomTag(s) {
			return l.errAt(s, "state must be one of present, created, must_created, absent")
		}
		switch s.Value {
		case statePresent, stateCreated, stateMustCreated, stateAbsent:
			state = s.Value
		default:
			return l.errAt(s, "bad state %q: must be one of present, created, must_created, absent", s.Value)
		}
	}
	var ref *entryRef
	if idNode != nil {
		ref = l.ids[deref(idNode).Value]
	}
	done := func(obj *object, why string) {
		if ref != nil {
			ref.obj, ref.done, ref.why = obj, true, why
		}
	}

	if identNode == nil {
		return l.errAt(e, "entry has no identifiers")
	}
	identPairs, err := l.fieldPairs(spec, identNode, "identifiers")
	if err != nil {
		return err
	}
	if len(identPairs) == 0 {
		return l.errAt(identNode, "identifiers must not be empty")
	}
	var attrPairs []pair
	if attrsNode != nil {
		if attrPairs, err = l.fieldPairs(spec, attrsNode, "attrs"); err != nil {
			return err
		}
	}

	if condNode != nil {
		ok, err := l.conditions(condNode)
		if err != nil {
			return err
		}
		if !ok {
			done(nil, "was skipped because its conditions are false")
			return nil
		}
	}

	ident, identLines, err := l.convertPairs(spec, identPairs)
	if err != nil {
		return err
	}
	attrs, attrLines, err := l.convertPairs(spec, attrPairs)
	if err != nil {
		return err
	}

	existing, err := l.match(spec, ident, e)
	if err != nil {
		return err
	}
	switch {
	case state == stateAbsent:
		if existing != nil {
			existing.removed = true
		}
		done(nil, "has state: absent")
		return nil
	case existing != nil && state == stateMustCreated:
		return l.errAt(modelNode, "%s already exists (defined at %s) but state is must_created", spec.name, existing.where())
	case existing != nil && state == stateCreated:
		done(existing, "")
		return nil
	case existing != nil:
		l.update(existing, ident, identLines)
		l.update(existing, attrs, attrLines)
		done(existing, "")
		return nil
	}
	obj := &object{
		spec:   spec,
		key:    objectKey(spec.name, ident),
		fields: map[string]any{},
		lines:  map[string]position{},
		file:   l.file,
		line:   modelNode.Line,
	}
	seq := spec.seq
	if seq == "" {
		seq = spec.name
	}
	l.seqs[seq]++
	obj.num = l.seqs[seq]
	obj.seq = len(l.objects)
	obj.set(ident, identLines)
	obj.set(attrs, attrLines)
	l.objects = append(l.objects, obj)
	l.byPK[pkKey(spec.name, obj.pk())] = obj
	for name := range spec.fields {
		l.reindex(obj, name)
	}
	done(obj, "")
	return nil
}

func pkKey(model string, pk any) string {
	return model + "\x00" + canon(pkValue(pk))
}

// update sets fields of an existing object and keeps the index current.
func (l *loader) update(o *object, vals map[string]any, lines map[string]position) {
	o.set(vals, lines)
	for k := range vals {
		l.reindex(o, k)
	}
}

func (l *loader) reindex(o *object, field string) {
	byField := l.index[o.spec]
	if byField == nil {
		byField = map[string]map[string][]*object{}
		l.index[o.spec] = byField
	}
	byValue := byField[field]
	if byValue == nil {
		byValue = map[string][]*object{}
		byField[field] = byValue
	}
	c := canon(o.get(field))
	if objs := byValue[c]; len(objs) == 0 || objs[len(objs)-1] != o {
		byValue[c] = append(objs, o)
	}
}

// lookup returns the live objects of spec whose fields equal every value
// of conds (canonical forms), in creation order.
func (l *loader) lookup(spec *modelSpec, conds map[string]string) []*object {
	keys := sortedKeys(conds)
	if len(keys) == 0 {
		return nil
	}
	var out []*object
	seen := map[*object]bool{}
	for _, o := range l.index[spec][keys[0]][conds[keys[0]]] {
		if o.removed || seen[o] {
			continue
		}
		seen[o] = true
		ok := true
		for _, k := range keys {
			if canon(o.get(k)) != conds[k] {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, o)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	return out
}

// position is a place in a blueprint file.
type position struct {
	file string
	line int
}

func (o *object) set(vals map[string]any, lines map[string]position) {
	for k, v := range vals {
		o.fields[k] = v
		o.lines[k] = lines[k]
	}
}

// fieldPairs checks that n is a mapping of fields the model has.
func (l *loader) fieldPairs(spec *modelSpec, n *yaml.Node, what string) ([]pair, error) {
	n = deref(n)
	if n.ShortTag() == "!!null" {
		return nil, nil
	}
	if n.Kind != yaml.MappingNode || isCustomTag(n) {
		return nil, l.errAt(n, "%s must be a mapping of field names to values", what)
	}
	pairs, err := l.mappingPairs(n, 0)
	if err != nil {
		return nil, err
	}
	for _, p := range pairs {
		if _, ok := spec.fields[p.key]; !ok {
			return nil, l.errAt(p.keyNode, "unknown field %q in %s of %s (known: %s)", p.key, what, spec.name, knownFields(spec))
		}
	}
	return pairs, nil
}

func knownFields(spec *modelSpec) string {
	names := make([]string, 0, len(spec.fields))
	for k := range spec.fields {
		names = append(names, k)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

func (l *loader) convertPairs(spec *modelSpec, pairs []pair) (map[string]any, map[string]position, error) {
	vals := map[string]any{}
	lines := map[string]position{}
	for _, p := range pairs {
		f := spec.fields[p.key]
		raw, err := l.resolve(p.val, 0)
		if err != nil {
			return nil, nil, err
		}
		v, err := l.convert(f, raw, p.val)
		if err != nil {
			return nil, nil, err
		}
		vals[p.key] = v
		lines[p.key] = position{file: l.file, line: p.val.Line}
	}
	return vals, lines, nil
}

func (l *loader) conditions(n *yaml.Node) (bool, error) {
	n = deref(n)
	if n.Kind != yaml.SequenceNode || isCustomTag(n) {
		return false, l.errAt(n, "conditions must be a list")
	}
	all := true
	for _, c := range n.Content {
		v, err := l.resolve(c, 0)
		if err != nil {
			return false, err
		}
		if !truthy(v) {
			all = false
		}
	}
	return all, nil
}

// match finds the live object of spec whose fields equal every identifier,
// as authentik's importer queries by identifiers.
func (l *loader) match(spec *modelSpec, ident map[string]any, at *yaml.Node) (*object, error) {
	conds := make(map[string]string, len(ident))
	for k, v := range ident {
		conds[k] = canon(v)
	}
	found := l.lookup(spec, conds)
	switch len(found) {
	case 0:
		return nil, nil
	case 1:
		return found[0], nil
	default:
		return nil, l.errAt(at, "identifiers match %d %s objects (defined at %s and %s); make them more specific",
			len(found), spec.name, found[0].where(), found[1].where())
	}
}

// get returns a field's value, or its default when the blueprints never set it.
func (o *object) get(name string) any {
	if v, ok := o.fields[name]; ok {
		return v
	}
	return o.spec.fields[name].def
}

// normalize converts Go values from Options.Context to the types YAML
// values resolve to (int64, float64, []any, map[string]any), so fields
// accept them alike.
func normalize(v any) any {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if u := rv.Uint(); u <= math.MaxInt64 {
			return int64(u)
		}
		return float64(rv.Uint())
	case reflect.Float32, reflect.Float64:
		return rv.Float()
	case reflect.String:
		return rv.String()
	case reflect.Bool:
		return rv.Bool()
	case reflect.Slice, reflect.Array:
		out := make([]any, rv.Len())
		for i := range out {
			out[i] = normalize(rv.Index(i).Interface())
		}
		return out
	case reflect.Map:
		if rv.Type().Key().Kind() != reflect.String {
			return v
		}
		out := make(map[string]any, rv.Len())
		iter := rv.MapRange()
		for iter.Next() {
			out[iter.Key().String()] = normalize(iter.Value().Interface())
		}
		return out
	default:
		return v
	}
}

// countNodes counts a document's nodes without following aliases.
func countNodes(n *yaml.Node) int {
	count := 1
	for _, c := range n.Content {
		count += countNodes(c)
	}
	return count
}
