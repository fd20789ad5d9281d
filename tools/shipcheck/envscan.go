package shipcheck

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// EnvConst is an exported Env* string constant found in Go source: the
// name of an environment variable some package reads.
type EnvConst struct {
	// Name is the variable, e.g. GUACD_ADDRESS.
	Name string
	// Ident is where it is declared, e.g. settings.EnvGuacdAddress.
	Ident string
	// Dir is the package directory relative to the scanned root.
	Dir string
	// Doc is the constant's own comment, if it has one.
	Doc string
}

// ScanEnv returns the exported Env* string constants declared in the
// non-test Go files under root, skipping directories for which skip
// returns true (given the path relative to root). The result is sorted by
// variable name.
func ScanEnv(root string, skip func(rel string) bool) ([]EnvConst, error) {
	var out []EnvConst
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			base := d.Name()
			if rel != "." && (base == "testdata" || strings.HasPrefix(base, ".") || (skip != nil && skip(rel))) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
		if err != nil {
			return fmt.Errorf("parse %s: %w", rel, err)
		}
		out = append(out, envConsts(f, filepath.ToSlash(filepath.Dir(rel)))...)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("scan %s: %w", root, err)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].Ident < out[j].Ident
	})
	return out, nil
}

func envConsts(f *ast.File, dir string) []EnvConst {
	var out []EnvConst
	for _, decl := range f.Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, id := range vs.Names {
				if !strings.HasPrefix(id.Name, "Env") || !id.IsExported() || i >= len(vs.Values) {
					continue
				}
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					continue
				}
				name, err := strconv.Unquote(lit.Value)
				if err != nil || name == "" {
					continue
				}
				// A lone "const X = ..." carries its comment on the
				// declaration; in a group each spec has its own.
				var cg *ast.CommentGroup
				switch {
				case vs.Doc != nil:
					cg = vs.Doc
				case !gd.Lparen.IsValid() && gd.Doc != nil:
					cg = gd.Doc
				case vs.Comment != nil:
					cg = vs.Comment
				}
				doc := ""
				if cg != nil {
					doc = strings.Join(strings.Fields(cg.Text()), " ")
				}
				out = append(out, EnvConst{Name: name, Ident: f.Name.Name + "." + id.Name, Dir: dir, Doc: doc})
			}
		}
	}
	return out
}
