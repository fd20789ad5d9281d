package shipcheck

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/outpost-go/outposts/authclient/config"
)

const regenerate = "(cd tools/shipcheck && GOWORK=off go run ./cmd/configdoc -o ../../docs/configuration.md)"

// TestConfigurationDocIsCurrent fails when docs/configuration.md no longer
// matches the code.
func TestConfigurationDocIsCurrent(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	want, err := ConfigReference(root)
	require.NoError(t, err)
	got, err := os.ReadFile(filepath.Join(root, "docs", "configuration.md"))
	require.NoError(t, err)
	assert.Equal(t, want, string(got), "docs/configuration.md is stale; regenerate it: %s", regenerate)
}

func TestConfigReferenceContents(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	doc, err := ConfigReference(root)
	require.NoError(t, err)
	for _, v := range config.Vars() {
		assert.Contains(t, doc, "| `"+v.Name+"` |")
	}
	// One variable per place the code reads from: shared, RADIUS, RAC.
	for _, name := range []string{"AUTHENTIK_LISTEN__TRUSTED_PROXY_CIDRS", "AUTHENTIK_LISTEN__RADIUS_ACCOUNTING", "GUACD_ADDRESS"} {
		assert.Contains(t, doc, "| `"+name+"` |")
	}
	assert.NotContains(t, doc, "AUTHENTIK_BLUEPRINTS_DIR", "devcore's settings are not outpost settings")
}

func TestScanEnv(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(rel, src string) {
		p := filepath.Join(dir, rel)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(src), 0o644))
	}
	write("a/a.go", "package a\n\n// EnvB is b.\nconst EnvB = \"B_VAR\"\n\nconst (\n\tEnvA = \"A_VAR\" // a\n\tenvHidden = \"HIDDEN\"\n\tEnvNum = 3\n\tOther = \"OTHER\"\n)\n")
	write("a/a_test.go", "package a\n\nconst EnvTest = \"TEST_ONLY\"\n")
	write("skipme/s.go", "package s\n\nconst EnvS = \"S_VAR\"\n")
	write("a/testdata/t.go", "package t\n\nconst EnvT = \"T_VAR\"\n")
	write("bad/bad.go", "package bad\n\nconst EnvBad = ")

	_, err := ScanEnv(dir, nil)
	require.Error(t, err, "a file that does not parse is an error")

	got, err := ScanEnv(dir, func(rel string) bool { return rel == "skipme" || rel == "bad" })
	require.NoError(t, err)
	assert.Equal(t, []EnvConst{
		{Name: "A_VAR", Ident: "a.EnvA", Dir: "a", Doc: "a"},
		{Name: "B_VAR", Ident: "a.EnvB", Dir: "a", Doc: "EnvB is b."},
	}, got)
}
