// Package schemacheck validates JSON bodies against authentik's OpenAPI
// schema (the schema.yml shipped in the goauthentik.io/api/v3 Go module).
//
// The stand-in core (devcore) must return every field the generated client
// requires; the client itself reports only the first missing field. This
// package reports every problem in a body at once, each with its JSON path,
// so a conformance test shows the whole gap in one run.
package schemacheck

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// APIModule and APIVersion name the Go module whose schema.yml is the
// reference. Keep APIVersion in step with authclient/go.mod.
const (
	APIModule  = "goauthentik.io/api/v3"
	APIVersion = "v3.2026050.3"
)

// EnvSchemaPath overrides Find, e.g. to check against the schema.yml of a
// different authentik release.
const EnvSchemaPath = "AUTHENTIK_API_SCHEMA"

// apiPrefix is stripped from concrete paths; schema paths are relative to it.
const apiPrefix = "/api/v3"

// ErrNoOperation means the schema has no operation for a method and path.
var ErrNoOperation = errors.New("no such operation in schema")

// ErrUndocumentedStatus means the operation exists but does not document the
// response status.
var ErrUndocumentedStatus = errors.New("response status not documented")

// ErrUnknownComponent means ValidateComponent was given a name that is not
// in components/schemas.
var ErrUnknownComponent = errors.New("unknown schema component")

// Problem is one mismatch between a body and the schema.
type Problem struct {
	// Path is a JSON path into the body, "$" for the root.
	Path    string
	Message string
}

func (p *Problem) Error() string { return p.Path + ": " + p.Message }

// Schema is a loaded OpenAPI document.
type Schema struct {
	components map[string]any
	root       map[string]any
	ops        []operation
}

type operation struct {
	template string
	segments []string // paramSegment marks a path parameter
	literals int
	methods  map[string]map[string]any // lower-case method -> operation object
}

// Find returns the path of schema.yml in the goauthentik.io/api/v3 module.
// It honours EnvSchemaPath, then asks the go command where the module lives,
// then falls back to the module cache layout.
func Find() (string, error) {
	if p := os.Getenv(EnvSchemaPath); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("schema from %s: %w", EnvSchemaPath, err)
		}
		return p, nil
	}
	var tried []string
	if out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", APIModule).Output(); err == nil {
		if dir := strings.TrimSpace(string(out)); dir != "" {
			p := filepath.Join(dir, "schema.yml")
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
			tried = append(tried, p)
		}
	}
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		return "", fmt.Errorf("locate schema.yml: go env GOMODCACHE: %w", err)
	}
	p := filepath.Join(strings.TrimSpace(string(out)), APIModule+"@"+APIVersion, "schema.yml")
	if _, err := os.Stat(p); err != nil {
		tried = append(tried, p)
		return "", fmt.Errorf("locate schema.yml (tried %s; run `go mod download %s@%s`): %w",
			strings.Join(tried, ", "), APIModule, APIVersion, err)
	}
	return p, nil
}

// Load reads and indexes an OpenAPI 3 schema file.
func Load(path string) (*Schema, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read schema: %w", err)
	}
	s, err := parse(raw)
	if err != nil {
		return nil, fmt.Errorf("load schema %s: %w", path, err)
	}
	return s, nil
}

func parse(raw []byte) (*Schema, error) {
	var root map[string]any
	if err := yaml.Unmarshal(raw, &root); err != nil {
		return nil, fmt.Errorf("parse yaml: %w", err)
	}
	paths, ok := root["paths"].(map[string]any)
	if !ok {
		return nil, errors.New("no paths")
	}
	comps, _ := root["components"].(map[string]any)
	schemas, _ := comps["schemas"].(map[string]any)
	if schemas == nil {
		return nil, errors.New("no components/schemas")
	}
	s := &Schema{components: schemas, root: root}
	for tmpl, v := range paths {
		item, ok := v.(map[string]any)
		if !ok {
			continue
		}
		op := operation{template: tmpl, methods: map[string]map[string]any{}}
		for _, seg := range splitPath(tmpl) {
			if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
				op.segments = append(op.segments, paramSegment)
				continue
			}
			op.segments = append(op.segments, seg)
			op.literals++
		}
		for m, o := range item {
			if oo, ok := o.(map[string]any); ok {
				op.methods[strings.ToLower(m)] = oo
			}
		}
		s.ops = append(s.ops, op)
	}
	// Most literal segments first, so "/core/users/me/" beats
	// "/core/users/{id}/"; ties broken by template for determinism.
	sort.Slice(s.ops, func(i, j int) bool {
		if s.ops[i].literals != s.ops[j].literals {
			return s.ops[i].literals > s.ops[j].literals
		}
		return s.ops[i].template < s.ops[j].template
	})
	return s, nil
}

// splitPath splits "/a/b/" into [a b ""]: the trailing empty segment keeps
// "/a/b" and "/a/b/" apart, as authentik's router does.
func splitPath(p string) []string {
	return strings.Split(strings.TrimPrefix(p, "/"), "/")
}

// Operation returns the schema path template matching a concrete path, e.g.
// "/core/users/{id}/" for "/api/v3/core/users/7/".
func (s *Schema) Operation(method, path string) (string, error) {
	op, _, err := s.find(method, path)
	if err != nil {
		return "", err
	}
	return op.template, nil
}

func (s *Schema) find(method, path string) (*operation, map[string]any, error) {
	if i := strings.IndexAny(path, "?#"); i >= 0 {
		path = path[:i]
	}
	if rest, ok := strings.CutPrefix(path, apiPrefix); ok && strings.HasPrefix(rest, "/") {
		path = rest
	}
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	segs := splitPath(path)
	m := strings.ToLower(method)
	pathFound := false
	for i := range s.ops {
		op := &s.ops[i]
		if !op.matches(segs) {
			continue
		}
		pathFound = true
		if o, ok := op.methods[m]; ok {
			return op, o, nil
		}
	}
	if pathFound {
		return nil, nil, fmt.Errorf("%s %s: method not in schema: %w", method, path, ErrNoOperation)
	}
	return nil, nil, fmt.Errorf("%s %s: %w", method, path, ErrNoOperation)
}

// paramSegment stands for a path parameter; a concrete path segment can
// never be "{}" after splitting on "/".
const paramSegment = "{}"

func (op *operation) matches(segs []string) bool {
	if len(segs) != len(op.segments) {
		return false
	}
	for i, want := range op.segments {
		if want == paramSegment {
			// A parameter never matches an empty segment (the trailing one).
			if segs[i] == "" {
				return false
			}
			continue
		}
		if segs[i] != want {
			return false
		}
	}
	return true
}

// ValidateResponse checks a response body against the schema of the
// operation matching method and path (concrete, relative to /api/v3 or
// starting with /api/v3; a query string is ignored) for the given status.
// All problems are returned joined; each is a *Problem.
func (s *Schema) ValidateResponse(method, path string, status int, body []byte) error {
	op, o, err := s.find(method, path)
	if err != nil {
		return err
	}
	responses, _ := o["responses"].(map[string]any)
	resp, ok := pickStatus(responses, status)
	if !ok {
		return fmt.Errorf("%s %s (%s): status %d: %w", method, path, op.template, status, ErrUndocumentedStatus)
	}
	respObj, _ := s.deref(resp).(map[string]any)
	content, _ := respObj["content"].(map[string]any)
	media, ok := content["application/json"].(map[string]any)
	if !ok {
		if len(bytes.TrimSpace(body)) == 0 {
			return nil
		}
		return fmt.Errorf("%s %s (%s): status %d has no JSON body in schema, got %d bytes",
			method, path, op.template, status, len(body))
	}
	sch, ok := media["schema"]
	if !ok {
		return nil
	}
	if err := s.validateBody(sch, body); err != nil {
		return fmt.Errorf("%s %s (%s) %d: %w", method, path, op.template, status, err)
	}
	return nil
}

// ValidateComponent checks a body against components/schemas/<name>.
func (s *Schema) ValidateComponent(name string, body []byte) error {
	sch, ok := s.components[name]
	if !ok {
		return fmt.Errorf("%q: %w", name, ErrUnknownComponent)
	}
	if err := s.validateBody(sch, body); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

func pickStatus(responses map[string]any, status int) (any, bool) {
	if r, ok := responses[fmt.Sprint(status)]; ok {
		return r, true
	}
	if r, ok := responses[fmt.Sprintf("%dXX", status/100)]; ok {
		return r, true
	}
	r, ok := responses["default"]
	return r, ok
}

// deref follows a $ref (any JSON pointer into the document) if v is one.
func (s *Schema) deref(v any) any {
	for range maxRefChain {
		m, ok := v.(map[string]any)
		if !ok {
			return v
		}
		ref, ok := m["$ref"].(string)
		if !ok {
			return v
		}
		v = s.resolve(ref)
	}
	return nil
}

const maxRefChain = 32

func (s *Schema) resolve(ref string) any {
	if name, ok := strings.CutPrefix(ref, "#/components/schemas/"); ok {
		return s.components[name]
	}
	ptr, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil
	}
	var cur any = s.root
	for _, tok := range strings.Split(ptr, "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[tok]
	}
	return cur
}
