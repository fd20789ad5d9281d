package schemacheck

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// maxProblems bounds the report for bodies that are wrong everywhere (say a
// long list with the same missing field in each item).
const maxProblems = 200

// Compiled once; regexps are safe for concurrent use and never changed.
var (
	uuidPattern  = regexp.MustCompile(`^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$`)
	identPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

const msgNullNotAllowed = "null is not allowed"

func (s *Schema) validateBody(sch any, body []byte) error {
	val, err := decodeJSON(body)
	if err != nil {
		return &Problem{Path: "$", Message: "body is not a single JSON value: " + err.Error()}
	}
	ps := s.check(sch, val, "$", 0)
	if len(ps) == 0 {
		return nil
	}
	errs := make([]error, 0, min(len(ps), maxProblems)+1)
	for i, p := range ps {
		if i == maxProblems {
			errs = append(errs, fmt.Errorf("... and %d more problems", len(ps)-maxProblems))
			break
		}
		errs = append(errs, p)
	}
	return errors.Join(errs...)
}

func decodeJSON(body []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("trailing data after the JSON value")
	}
	return v, nil
}

// maxRefDepth bounds $ref/allOf chains that do not descend into the body, so
// a self-referencing schema cannot loop.
const maxRefDepth = 64

// check validates val against sch. depth counts schema steps taken without
// descending into val.
func (s *Schema) check(sch any, val any, path string, depth int) []*Problem {
	if depth > maxRefDepth {
		return []*Problem{{Path: path, Message: "schema nesting too deep (recursive $ref?)"}}
	}
	if m, ok := sch.(map[string]any); ok {
		if ref, ok := m["$ref"].(string); ok {
			target := s.resolve(ref)
			if target == nil {
				return []*Problem{{Path: path, Message: "schema has unresolvable $ref " + ref}}
			}
			return s.check(target, val, path, depth+1)
		}
	}
	m, ok := sch.(map[string]any)
	if !ok || len(m) == 0 {
		return nil // {} or a non-schema: anything goes
	}
	if val == nil {
		if s.acceptsNull(m, depth) {
			return nil
		}
		return []*Problem{{Path: path, Message: fmt.Sprintf("%s (expected %s)", msgNullNotAllowed, describe(m))}}
	}

	var ps []*Problem
	if all, ok := m["allOf"].([]any); ok {
		for _, sub := range all {
			ps = append(ps, s.check(sub, val, path, depth+1)...)
		}
	}
	if alts, kind := alternatives(m); alts != nil {
		ps = append(ps, s.checkAlternatives(m, kind, alts, val, path, depth)...)
	}
	if t, ok := m["type"].(string); ok && !typeMatches(t, val) {
		return append(ps, &Problem{Path: path, Message: fmt.Sprintf("expected %s, got %s", t, kindOf(val))})
	}
	if enum, ok := m["enum"].([]any); ok && !inEnum(enum, val) {
		ps = append(ps, &Problem{Path: path, Message: fmt.Sprintf("value %s not in enum %s", short(val), short(enum))})
	}
	switch v := val.(type) {
	case string:
		if f, ok := m["format"].(string); ok {
			if msg := checkFormat(f, v); msg != "" {
				ps = append(ps, &Problem{Path: path, Message: msg})
			}
		}
	case map[string]any:
		ps = append(ps, s.checkObject(m, v, path)...)
	case []any:
		if items, ok := m["items"]; ok {
			for i, item := range v {
				ps = append(ps, s.check(items, item, fmt.Sprintf("%s[%d]", path, i), 0)...)
			}
		}
	}
	return ps
}

func alternatives(m map[string]any) ([]any, string) {
	if alts, ok := m["oneOf"].([]any); ok {
		return alts, "oneOf"
	}
	if alts, ok := m["anyOf"].([]any); ok {
		return alts, "anyOf"
	}
	return nil, ""
}

// acceptsNull reports whether a null satisfies the schema: nullable, an enum
// listing null (drf-spectacular's NullEnum), a free-form schema, or
// composites whose parts accept it.
func (s *Schema) acceptsNull(m map[string]any, depth int) bool {
	if depth > maxRefDepth {
		return false
	}
	if n, _ := m["nullable"].(bool); n {
		return true
	}
	if enum, ok := m["enum"].([]any); ok {
		return inEnum(enum, nil)
	}
	sub := func(v any) bool {
		for range maxRefChain {
			mm, ok := v.(map[string]any)
			if !ok {
				return true
			}
			ref, ok := mm["$ref"].(string)
			if !ok {
				return len(mm) == 0 || s.acceptsNull(mm, depth+1)
			}
			v = s.resolve(ref)
			if v == nil {
				return false
			}
		}
		return false
	}
	if all, ok := m["allOf"].([]any); ok {
		for _, a := range all {
			if !sub(a) {
				return false
			}
		}
		return true
	}
	if alts, _ := alternatives(m); alts != nil {
		for _, a := range alts {
			if sub(a) {
				return true
			}
		}
		return false
	}
	_, typed := m["type"]
	_, props := m["properties"]
	return !typed && !props
}

func (s *Schema) checkAlternatives(m map[string]any, kind string, alts []any, val any, path string, depth int) []*Problem {
	if disc, ok := m["discriminator"].(map[string]any); ok {
		prop, _ := disc["propertyName"].(string)
		obj, isObj := val.(map[string]any)
		if prop != "" && isObj {
			dv, ok := obj[prop].(string)
			if !ok {
				return []*Problem{{Path: childPath(path, prop), Message: "discriminator property is missing or not a string"}}
			}
			target := ""
			if mapping, ok := disc["mapping"].(map[string]any); ok {
				target, _ = mapping[dv].(string)
			}
			if target == "" {
				// OpenAPI's implicit mapping: the value is a schema name.
				for _, a := range alts {
					if am, ok := a.(map[string]any); ok {
						if ref, _ := am["$ref"].(string); strings.HasSuffix(ref, "/"+dv) {
							target = ref
						}
					}
				}
			}
			if target == "" {
				return []*Problem{{Path: childPath(path, prop), Message: fmt.Sprintf("discriminator value %q matches no %s alternative", dv, kind)}}
			}
			return s.check(map[string]any{"$ref": target}, val, path, depth+1)
		}
	}
	// Without a discriminator, passing any one alternative is enough: the
	// schema's oneOf lists (e.g. enum | BlankEnum | NullEnum) never need the
	// stricter "exactly one" to be told apart.
	var best []*Problem
	for i, a := range alts {
		ps := s.check(a, val, path, depth+1)
		if len(ps) == 0 {
			return nil
		}
		if i == 0 || len(ps) < len(best) {
			best = ps
		}
	}
	head := &Problem{Path: path, Message: fmt.Sprintf("value matches none of %d %s alternatives; problems with the closest one follow", len(alts), kind)}
	return append([]*Problem{head}, best...)
}

func (s *Schema) checkObject(m map[string]any, obj map[string]any, path string) []*Problem {
	var ps []*Problem
	props, _ := m["properties"].(map[string]any)
	if req, ok := m["required"].([]any); ok {
		for _, r := range req {
			name, ok := r.(string)
			if !ok {
				continue
			}
			if _, present := obj[name]; present {
				continue
			}
			// OpenAPI: a required writeOnly property is required in
			// requests only.
			if psch, ok := props[name]; ok {
				if pm, ok := s.deref(psch).(map[string]any); ok {
					if wo, _ := pm["writeOnly"].(bool); wo {
						continue
					}
				}
			}
			ps = append(ps, &Problem{Path: childPath(path, name), Message: "required property is missing"})
		}
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	addl, hasAddl := m["additionalProperties"]
	for _, k := range keys {
		if sub, ok := props[k]; ok {
			ps = append(ps, s.check(sub, obj[k], childPath(path, k), 0)...)
			continue
		}
		if !hasAddl {
			continue
		}
		switch a := addl.(type) {
		case bool:
			if !a {
				ps = append(ps, &Problem{Path: childPath(path, k), Message: "additional property not allowed"})
			}
		case map[string]any:
			ps = append(ps, s.check(a, obj[k], childPath(path, k), 0)...)
		}
	}
	return ps
}

func typeMatches(t string, val any) bool {
	switch t {
	case "string":
		_, ok := val.(string)
		return ok
	case "boolean":
		_, ok := val.(bool)
		return ok
	case "number":
		_, ok := val.(json.Number)
		return ok
	case "integer":
		n, ok := val.(json.Number)
		// The generated client decodes integers into int32/int64 fields,
		// which reject fractions and exponents ("1.0", "1e3").
		return ok && !strings.ContainsAny(string(n), ".eE")
	case "array":
		_, ok := val.([]any)
		return ok
	case "object":
		_, ok := val.(map[string]any)
		return ok
	}
	return true // unknown type keyword: do not guess
}

func kindOf(val any) string {
	switch v := val.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case bool:
		return "boolean"
	case json.Number:
		if strings.ContainsAny(string(v), ".eE") {
			return "number " + string(v)
		}
		return "integer " + string(v)
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", val)
}

func inEnum(enum []any, val any) bool {
	for _, e := range enum {
		if enumEqual(e, val) {
			return true
		}
	}
	return false
}

func enumEqual(e, val any) bool {
	switch ev := e.(type) {
	case nil:
		return val == nil
	case string:
		v, ok := val.(string)
		return ok && v == ev
	case bool:
		v, ok := val.(bool)
		return ok && v == ev
	case int, int64, float64, uint64:
		n, ok := val.(json.Number)
		if !ok {
			return false
		}
		f, err := strconv.ParseFloat(string(n), 64)
		if err != nil {
			return false
		}
		var want float64
		switch x := ev.(type) {
		case int:
			want = float64(x)
		case int64:
			want = float64(x)
		case uint64:
			want = float64(x)
		case float64:
			want = x
		}
		return f == want || (math.IsNaN(f) && math.IsNaN(want))
	}
	return false
}

func checkFormat(format, v string) string {
	switch format {
	case "uuid":
		if !uuidPattern.MatchString(v) {
			return fmt.Sprintf("%s is not a uuid", short(v))
		}
	case "date-time":
		// Go's RFC 3339 parser is what the generated client uses for
		// time.Time; anything it takes is fine here.
		if _, err := time.Parse(time.RFC3339Nano, v); err != nil {
			return fmt.Sprintf("%s is not an RFC 3339 date-time", short(v))
		}
	case "date":
		if _, err := time.Parse(time.DateOnly, v); err != nil {
			return fmt.Sprintf("%s is not a date (YYYY-MM-DD)", short(v))
		}
	}
	return ""
}

func childPath(parent, key string) string {
	if identPattern.MatchString(key) {
		return parent + "." + key
	}
	return parent + "[" + strconv.Quote(key) + "]"
}

func short(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	const limit = 80
	if len(b) > limit {
		return string(b[:limit]) + "..."
	}
	return string(b)
}

func describe(m map[string]any) string {
	if t, ok := m["type"].(string); ok {
		return t
	}
	if _, ok := m["allOf"]; ok {
		return "allOf"
	}
	if _, kind := alternatives(m); kind != "" {
		return kind
	}
	if _, ok := m["enum"]; ok {
		return "enum value"
	}
	return "a value"
}
