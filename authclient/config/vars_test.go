package config

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVarsNamesWhatLoadReads keeps the table honest: Load asks getenv for
// exactly the variables Vars lists.
func TestVarsNamesWhatLoadReads(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	read := map[string]bool{}
	base := minimal(nil)
	_, err := LoadWith(func(k string) string {
		mu.Lock()
		read[k] = true
		mu.Unlock()
		return base[k]
	}, noFiles)
	require.NoError(t, err)

	listed := map[string]bool{}
	for _, v := range Vars() {
		assert.False(t, listed[v.Name], "%s listed twice", v.Name)
		listed[v.Name] = true
		assert.NotEmpty(t, v.Default, v.Name)
		assert.NotEmpty(t, v.Description, v.Name)
		assert.True(t, read[v.Name], "Vars lists %s but Load does not read it", v.Name)
	}
	for name := range read {
		assert.True(t, listed[name], "Load reads %s but Vars does not list it", name)
	}
}

// TestVarsCoversEveryEnvConstant: a new Env* constant needs a row.
func TestVarsCoversEveryEnvConstant(t *testing.T) {
	t.Parallel()
	listed := map[string]bool{}
	for _, v := range Vars() {
		listed[v.Name] = true
	}
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	fset := token.NewFileSet()
	seen := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		require.NoError(t, err)
		f, err := parser.ParseFile(fset, name, src, 0)
		require.NoError(t, err)
		ast.Inspect(f, func(n ast.Node) bool {
			vs, ok := n.(*ast.ValueSpec)
			if !ok {
				return true
			}
			for i, id := range vs.Names {
				if !strings.HasPrefix(id.Name, "Env") || i >= len(vs.Values) {
					continue
				}
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					continue
				}
				seen++
				value := strings.Trim(lit.Value, "\"`")
				assert.True(t, listed[value], "constant %s (%s) has no row in Vars", id.Name, value)
			}
			return true
		})
	}
	assert.Equal(t, len(listed), seen, "every row of Vars is an Env* constant")
}

func TestVarsReturnsACopy(t *testing.T) {
	t.Parallel()
	a := Vars()
	a[0].Name = "changed"
	assert.Equal(t, EnvHost, Vars()[0].Name)
}
