package clients_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// guide returns one of the repository's guides (docs/guides).
func guide(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "guides", name))
	require.NoError(t, err)
	return string(b)
}

// TestGuidesShowTestedConfig keeps the guides and the tests in step: each
// guide shows exactly the configuration its test uses.
func TestGuidesShowTestedConfig(t *testing.T) {
	t.Parallel()
	t.Run("sssd", func(t *testing.T) {
		g := guide(t, "ldap-sssd.md")
		assert.Contains(t, g, "```ini\n"+readTestdata(t, "sssd.conf")+"```")
		assert.Contains(t, g, readTestdata(t, "pam-authentik-test"))
	})
	t.Run("nextcloud", func(t *testing.T) {
		assert.Contains(t, guide(t, "ldap-nextcloud.md"), "```sh\n"+readTestdata(t, "nextcloud-occ.sh")+"```")
	})
	t.Run("gitea", func(t *testing.T) {
		g := guide(t, "ldap-gitea.md")
		src := reflect.ValueOf(giteaGuideSource())
		for i := range src.NumField() {
			f := src.Type().Field(i)
			var v string
			switch x := src.Field(i).Interface().(type) {
			case string:
				v = x
			case int:
				v = strconv.Itoa(x)
			case uint32:
				v = strconv.FormatUint(uint64(x), 10)
			case bool:
				continue
			}
			// The guide's table escapes "|" for Markdown.
			cell := "`" + strings.ReplaceAll(v, "|", `\|`) + "`"
			if v != "" {
				assert.True(t, strings.Contains(g, cell), "the guide's table shows %s as %s", f.Name, cell)
			}
		}
	})
}
