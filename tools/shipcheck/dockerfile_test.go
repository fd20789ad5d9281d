package shipcheck

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	dfparser "github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/outpost-go/outposts/authclient/config"
)

const runtimeBase = "gcr.io/distroless/static-debian12:nonroot"

// image is one Dockerfile we ship.
type image struct {
	module, binary string
	outpost        bool
}

func images() []image {
	out := []image{{module: "authclient", binary: "devcore"}}
	for _, m := range Outposts {
		out = append(out, image{module: m, binary: m, outpost: true})
	}
	return out
}

func port(t *testing.T, hostport string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(hostport)
	require.NoError(t, err)
	n, err := strconv.Atoi(p)
	require.NoError(t, err)
	return n
}

// exposedPorts are the ports each image must EXPOSE: authentik's defaults,
// read from authclient/config rather than repeated here.
func exposedPorts(t *testing.T, module string) []string {
	t.Helper()
	tcp := func(addr string) string { return strconv.Itoa(port(t, addr)) }
	metrics := tcp(config.DefaultListenMetrics)
	switch module {
	case "ldap-outpost":
		return []string{tcp(config.DefaultListenLDAP), tcp(config.DefaultListenLDAPS), metrics}
	case "radius-outpost":
		auth := port(t, config.DefaultListenRADIUS)
		// Accounting defaults to the auth port plus one (radiusd.LoadSettings).
		return []string{fmt.Sprintf("%d/udp", auth), fmt.Sprintf("%d/udp", auth+1), metrics}
	case "proxy-outpost":
		return []string{tcp(config.DefaultListenHTTP), tcp(config.DefaultListenHTTPS), metrics}
	case "rac-outpost":
		return []string{metrics}
	case "authclient":
		return []string{tcp(config.DefaultListenHTTP)}
	}
	t.Fatalf("no ports known for %s", module)
	return nil
}

// parsedDockerfile is a Dockerfile run through BuildKit's parser, with the
// lint warnings BuildKit would print.
type parsedDockerfile struct {
	stages   []instructions.Stage
	warnings []string
}

func parseDockerfile(t *testing.T, path string) parsedDockerfile {
	t.Helper()
	src, err := os.ReadFile(path)
	require.NoError(t, err)
	res, err := dfparser.Parse(bytes.NewReader(src))
	require.NoError(t, err, "BuildKit cannot parse %s", path)
	var p parsedDockerfile
	for _, w := range res.Warnings {
		p.warnings = append(p.warnings, w.Short)
	}
	lint := linter.New(&linter.Config{Warn: func(rule, _, _, msg string, _ []dfparser.Range) {
		p.warnings = append(p.warnings, rule+": "+msg)
	}})
	p.stages, _, err = instructions.Parse(res.AST, lint)
	require.NoError(t, err, "BuildKit cannot read the instructions of %s", path)
	return p
}

func TestDockerfiles(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	for _, img := range images() {
		t.Run(img.module, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(root, img.module, "Dockerfile")
			p := parseDockerfile(t, path)
			assert.Empty(t, p.warnings, "BuildKit lint warnings")
			require.GreaterOrEqual(t, len(p.stages), 2, "multi-stage: a build stage and the runtime stage")

			build, final := p.stages[0], p.stages[len(p.stages)-1]
			assert.Equal(t, runtimeBase, final.BaseName, "runtime stage base")

			var cgoOff, goBuild bool
			for _, c := range build.Commands {
				switch c := c.(type) {
				case *instructions.EnvCommand:
					for _, kv := range c.Env {
						if kv.Key == "CGO_ENABLED" && kv.Value == "0" {
							cgoOff = true
						}
					}
				case *instructions.RunCommand:
					line := strings.Join(c.CmdLine, " ")
					if strings.Contains(line, "CGO_ENABLED=0") {
						cgoOff = true
					}
					if strings.Contains(line, "go build") {
						goBuild = true
						assert.Contains(t, line, "-trimpath")
						assert.Contains(t, line, "./cmd/"+img.binary)
						if img.outpost {
							assert.Contains(t, line, "-X main.version=${VERSION}", "the version is injected at build time")
						}
					}
				case *instructions.CopyCommand:
					if c.From == "" {
						for _, src := range c.SourcePaths {
							_, err := os.Stat(filepath.Join(root, src))
							assert.NoError(t, err, "COPY source %s must exist in the repository root context", src)
						}
					}
				}
			}
			assert.True(t, cgoOff, "the build stage sets CGO_ENABLED=0")
			assert.True(t, goBuild, "the build stage runs go build")

			var user, entrypoint string
			var health []string
			labels := map[string]string{}
			var exposed []string
			for _, c := range final.Commands {
				switch c := c.(type) {
				case *instructions.UserCommand:
					user = c.User
				case *instructions.HealthCheckCommand:
					health = c.Health.Test
				case *instructions.EntrypointCommand:
					entrypoint = strings.Join(c.CmdLine, " ")
					assert.False(t, c.PrependShell, "ENTRYPOINT in exec form (distroless has no shell)")
				case *instructions.LabelCommand:
					for _, kv := range c.Labels {
						labels[kv.Key] = strings.Trim(kv.Value, `"`)
					}
				case *instructions.ExposeCommand:
					exposed = append(exposed, c.Ports...)
				}
			}
			assert.NotEmpty(t, user, "the runtime stage sets USER")
			name, _, _ := strings.Cut(user, ":")
			assert.NotContains(t, []string{"root", "0"}, name, "USER is not root")
			assert.Equal(t, "/"+img.binary, entrypoint)
			if img.outpost {
				assert.Equal(t, []string{"CMD", "/" + img.binary, "healthcheck"}, health,
					"HEALTHCHECK in exec form through the healthcheck subcommand")
			}
			for _, key := range []string{"title", "description", "version", "revision", "source"} {
				assert.NotEmpty(t, labels["org.opencontainers.image."+key], "OCI label %s", key)
			}
			assert.Equal(t, img.binary, labels["org.opencontainers.image.title"])
			assert.Equal(t, "${VERSION}", labels["org.opencontainers.image.version"])
			slices.Sort(exposed)
			want := exposedPorts(t, img.module)
			slices.Sort(want)
			assert.Equal(t, want, exposed, "EXPOSE")
		})
	}
}

// TestVersionIsSettable: -ldflags -X only sets a package-level string
// variable; on a constant it is silently ignored, and the image would
// report the development version.
func TestVersionIsSettable(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	for _, m := range Outposts {
		t.Run(m, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(root, m, "cmd", m, "main.go")
			f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
			require.NoError(t, err)
			kind := ""
			for _, d := range f.Decls {
				gd, ok := d.(*ast.GenDecl)
				if !ok {
					continue
				}
				for _, s := range gd.Specs {
					vs, ok := s.(*ast.ValueSpec)
					if ok && slices.ContainsFunc(vs.Names, func(id *ast.Ident) bool { return id.Name == "version" }) {
						kind = gd.Tok.String()
					}
				}
			}
			assert.Equal(t, "var", kind, "%s declares `var version` (found %q) so the Dockerfile's -X main.version works", path, kind)
		})
	}
}
