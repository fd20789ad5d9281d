package shipcheck

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Metric is a Prometheus metric some outpost registers.
type Metric struct {
	Name string
	// Kind is Counter, Gauge, Histogram or Summary.
	Kind string
}

// metricDecl matches prometheus.NewXxx[Vec](prometheus.XxxOpts{ [Namespace: "a",] Name: "b" ...
var metricDecl = regexp.MustCompile(`prometheus\.New(Counter|Gauge|Histogram|Summary)(?:Vec)?\(\s*prometheus\.(?:Counter|Gauge|Histogram|Summary)Opts\{\s*(?:Namespace:\s*"([a-z_:]+)",\s*)?(?:Subsystem:\s*"([a-z_:]+)",\s*)?Name:\s*"([a-z_:]+)"`)

// ScanMetrics returns the metrics declared in the non-test Go files of the
// given module directories under root, by name.
func ScanMetrics(root string, modules ...string) (map[string]Metric, error) {
	out := map[string]Metric{}
	for _, m := range modules {
		err := filepath.WalkDir(filepath.Join(root, m), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) {
				return filepath.SkipDir
			}
			if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			src, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, g := range metricDecl.FindAllStringSubmatch(string(src), -1) {
				parts := []string{}
				for _, p := range g[2:5] {
					if p != "" {
						parts = append(parts, p)
					}
				}
				name := strings.Join(parts, "_")
				out[name] = Metric{Name: name, Kind: g[1]}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("scan metrics of %s: %w", m, err)
		}
	}
	return out, nil
}
