package shipcheck

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDocsLinksResolve: every relative link in docs/*.md names a file or
// directory of the repository.
func TestDocsLinksResolve(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	files, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	for _, f := range files {
		src, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, m := range link.FindAllStringSubmatch(string(src), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "#") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			target, _, _ = strings.Cut(target, "#")
			_, err := os.Stat(filepath.Join(filepath.Dir(f), target))
			assert.NoError(t, err, "%s links to %s", filepath.Base(f), m[1])
		}
	}
	for _, name := range []string{"architecture.md", "operations.md", "releasing.md", "configuration.md", "grafana-dashboard.json"} {
		_, err := os.Stat(filepath.Join(root, "docs", name))
		assert.NoError(t, err)
	}
}
