package shipcheck

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestParseSettingsTable(t *testing.T) {
	t.Parallel()
	rows := parseSettingsTable("| Variable | Default | Meaning |\n|---|---|---|\n" +
		"| `GUACD_ADDRESS` | `localhost:4822` | guacd's host:port |\n" +
		"| `GUACD_ADDRESS` | later | ignored |\n" +
		"| `A` / `B` | x | two names: skipped |\n" +
		"| plain | x | not code: skipped |\n" +
		"| `C` | only two |\n")
	assert.Equal(t, map[string]readmeRow{"GUACD_ADDRESS": {Default: "`localhost:4822`", Meaning: "guacd's host:port"}}, rows)
}

func FuzzParseSettingsTable(f *testing.F) {
	f.Add("| `X` | 1 | one |\n")
	f.Add("| `` | | |\n|`|`|`|")
	f.Fuzz(func(t *testing.T, src string) {
		for name, r := range parseSettingsTable(src) {
			if name == "" || strings.ContainsAny(name, "` /") || strings.Contains(r.Default, "\n") {
				t.Fatalf("bad row %q: %+v", name, r)
			}
		}
	})
}
