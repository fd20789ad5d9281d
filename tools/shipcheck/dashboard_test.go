package shipcheck

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestGrafanaDashboardUsesRealMetrics: every metric a panel queries is one
// the outposts register, with _bucket/_count/_sum only on histograms.
func TestGrafanaDashboardUsesRealMetrics(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	metrics, err := ScanMetrics(root, append([]string{"authclient"}, Outposts...)...)
	require.NoError(t, err)
	require.Contains(t, metrics, "authentik_outpost_connection")
	require.Contains(t, metrics, "authentik_outpost_cache_backend", "Namespace + Name are joined")

	src, err := os.ReadFile(filepath.Join(root, "docs", "grafana-dashboard.json"))
	require.NoError(t, err)
	var dash struct {
		Title  string `json:"title"`
		UID    string `json:"uid"`
		Panels []struct {
			Title   string `json:"title"`
			Type    string `json:"type"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	require.NoError(t, json.Unmarshal(src, &dash))
	assert.NotEmpty(t, dash.Title)
	assert.NotEmpty(t, dash.UID)

	ident := regexp.MustCompile(`authentik_outpost_[a-z_]+`)
	used := map[string]bool{}
	for _, p := range dash.Panels {
		if p.Type == "row" {
			continue
		}
		require.NotEmpty(t, p.Targets, "panel %q has a query", p.Title)
		for _, tg := range p.Targets {
			for _, name := range ident.FindAllString(tg.Expr, -1) {
				base, suffix := name, ""
				for _, s := range []string{"_bucket", "_count", "_sum"} {
					if trimmed, ok := strings.CutSuffix(name, s); ok {
						if _, known := metrics[trimmed]; known {
							base, suffix = trimmed, s
						}
					}
				}
				m, ok := metrics[base]
				if !assert.True(t, ok, "panel %q queries %s, which no outpost registers", p.Title, name) {
					continue
				}
				used[base] = true
				if suffix != "" {
					assert.Contains(t, []string{"Histogram", "Summary"}, m.Kind, "panel %q: %s is a %s", p.Title, name, m.Kind)
				}
				if suffix == "_bucket" {
					assert.Equal(t, "Histogram", m.Kind)
				}
			}
		}
	}
	// Every outpost has at least one of its own metrics on the dashboard.
	for _, prefix := range []string{"ldap", "radius", "proxy", "rac", "cache", "flow"} {
		found := false
		for name := range used {
			found = found || strings.HasPrefix(name, "authentik_outpost_"+prefix+"_")
		}
		assert.True(t, found, "the dashboard shows %s metrics", prefix)
	}
}
