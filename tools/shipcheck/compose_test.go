package shipcheck

import (
	"bufio"
	"context"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/outpost-go/outposts/authclient/config"
)

// loadCompose loads compose.yaml as `docker compose` would with the given
// profiles and environment (nothing else from the machine leaks in).
func loadCompose(t *testing.T, root string, env map[string]string, profiles ...string) *types.Project {
	t.Helper()
	p, err := loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  root,
		ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(root, "compose.yaml")}},
		Environment: env,
	}, func(o *loader.Options) {
		o.SetProjectName("outposts", true)
		o.Profiles = profiles
	})
	require.NoError(t, err, "compose.yaml with profiles %v", profiles)
	return p
}

// dotEnv reads KEY=VALUE lines, as compose reads .env.
func dotEnv(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer func() { _ = f.Close() }()
	out := map[string]string{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		require.True(t, ok, "%s: %q is not KEY=VALUE", path, line)
		out[k] = v
	}
	require.NoError(t, s.Err())
	return out
}

func serviceNames(p *types.Project) []string {
	return slices.Sorted(maps.Keys(p.Services))
}

func TestComposeProfiles(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)

	defaults := dotEnv(t, filepath.Join(root, ".env"))
	assert.Equal(t, "demo", defaults["COMPOSE_PROFILES"], "the committed .env makes the demo the default")

	demo := loadCompose(t, root, nil, "demo")
	assert.ElementsMatch(t, append([]string{"devcore", "redis", "guacd", "whoami", "nginx"}, Outposts...), serviceNames(demo))

	real := loadCompose(t, root, nil, "authentik")
	assert.ElementsMatch(t, append([]string{"server", "worker", "postgresql", "redis", "guacd"}, Outposts...), serviceNames(real))
	for _, name := range []string{"server", "worker"} {
		img := real.Services[name].Image
		assert.True(t, strings.HasPrefix(img, "ghcr.io/goauthentik/server:2026.5"), "%s runs authentik 2026.5, not %s", name, img)
	}

	// With .env.example, as a user would copy it.
	example := dotEnv(t, filepath.Join(root, ".env.example"))
	assert.Equal(t, "authentik", example["COMPOSE_PROFILES"])
	withExample := loadCompose(t, root, example, "authentik")
	for _, m := range Outposts {
		env := withExample.Services[m].Environment
		require.NotNil(t, env[config.EnvHost], m)
		assert.Equal(t, example["AUTHENTIK_HOST"], *env[config.EnvHost], "%s follows .env's AUTHENTIK_HOST", m)
	}
}

// TestComposeOutpostAlone: `docker compose up --no-deps ldap-outpost` with
// no profile at all must load, and no outpost may need a demo-only service.
func TestComposeOutpostAlone(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	none := loadCompose(t, root, map[string]string{
		config.EnvHost: "https://authentik.example.com/", "LDAP_OUTPOST_TOKEN": "x",
	})
	for _, m := range Outposts {
		svc, ok := none.Services[m]
		require.True(t, ok, "%s runs without any profile", m)
		assert.Empty(t, svc.Profiles, m)
		for dep, d := range svc.DependsOn {
			if _, enabled := none.Services[dep]; !enabled {
				assert.False(t, d.Required, "%s depends on %s, which is not always there: mark it required: false", m, dep)
			}
		}
	}
	assert.Equal(t, "https://authentik.example.com/", *none.Services["ldap-outpost"].Environment[config.EnvHost])
}

func TestComposeBuilds(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	p := loadCompose(t, root, nil, "*")
	built := map[string]bool{}
	for name, svc := range p.Services {
		if svc.Build != nil {
			info, err := os.Stat(svc.Build.Context)
			require.NoError(t, err, "%s: build context", name)
			assert.True(t, info.IsDir())
			assert.Equal(t, root, svc.Build.Context, "%s is built from the repository root", name)
			df := svc.Build.Dockerfile
			if !filepath.IsAbs(df) {
				df = filepath.Join(svc.Build.Context, df)
			}
			_, err = os.Stat(df)
			assert.NoError(t, err, "%s: Dockerfile %s", name, svc.Build.Dockerfile)
			built[filepath.Dir(df)] = true
		}
		for _, v := range svc.Volumes {
			if v.Type == types.VolumeTypeBind && strings.HasSuffix(v.Source, ".conf") {
				_, err := os.Stat(v.Source)
				assert.NoError(t, err, "%s mounts %s", name, v.Source)
			}
		}
	}
	for _, img := range images() {
		assert.True(t, built[filepath.Join(root, img.module)], "compose builds %s/Dockerfile", img.module)
	}
}

// knownEnv is every variable an outpost binary reads: config.Vars, the
// shared runtime packages and the module's own packages, all read from code.
func knownEnv(t *testing.T, root, module string) map[string]bool {
	t.Helper()
	known := map[string]bool{}
	for _, v := range config.Vars() {
		known[v.Name] = true
	}
	shared, err := SharedEnv(root)
	require.NoError(t, err)
	own, err := ModuleEnv(root, module)
	require.NoError(t, err)
	for _, e := range append(shared, own...) {
		known[e.Name] = true
	}
	return known
}

func TestComposeOutpostSettings(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	p := loadCompose(t, root, nil, "demo")
	blueprint, err := os.ReadFile(filepath.Join(root, "authclient", "devcore", "blueprint", "demo", "demo.yaml"))
	require.NoError(t, err)

	listenVars := map[string]string{} // variable → default, from config
	for _, v := range config.Vars() {
		if strings.HasPrefix(v.Name, "AUTHENTIK_LISTEN__") {
			listenVars[v.Name] = v.Default
		}
	}
	for _, m := range Outposts {
		t.Run(m, func(t *testing.T) {
			svc := p.Services[m]
			known := knownEnv(t, root, m)
			for k := range svc.Environment {
				assert.True(t, known[k], "%s sets %s, which the binary does not read", m, k)
			}
			for _, k := range []string{config.EnvHost, config.EnvToken} {
				require.NotNil(t, svc.Environment[k], "%s sets %s", m, k)
			}
			token := *svc.Environment[config.EnvToken]
			assert.Equal(t, "demo-"+strings.TrimSuffix(m, "-outpost")+"-outpost-token", token)
			assert.Contains(t, string(blueprint), token, "the demo blueprint knows %s's token", m)
			assert.Equal(t, "http://devcore:9000/", *svc.Environment[config.EnvHost])

			// Every container port the service publishes is one it listens on
			// (from its listen variables or their defaults) and its image EXPOSEs.
			listening := map[string]bool{}
			for k, def := range listenVars {
				addr := def
				if v := svc.Environment[k]; v != nil {
					addr = *v
				}
				_, portStr, err := net.SplitHostPort(addr)
				require.NoError(t, err)
				listening[portStr] = true
			}
			if v := svc.Environment["AUTHENTIK_LISTEN__RADIUS_ACCOUNTING"]; v != nil {
				_, portStr, err := net.SplitHostPort(*v)
				require.NoError(t, err)
				listening[portStr] = true
			}
			exposed := exposedPorts(t, m)
			for _, pc := range svc.Ports {
				target := strconv.Itoa(int(pc.Target))
				assert.True(t, listening[target], "%s publishes %s, where it does not listen", m, target)
				want := target
				if pc.Protocol == "udp" {
					want += "/udp"
				}
				assert.Contains(t, exposed, want, "%s publishes %s, which its image does not EXPOSE", m, want)
			}
		})
	}

	rac := p.Services["rac-outpost"]
	require.NotNil(t, rac.Environment["GUACD_ADDRESS"])
	host, _, err := net.SplitHostPort(*rac.Environment["GUACD_ADDRESS"])
	require.NoError(t, err)
	assert.Contains(t, serviceNames(p), host, "GUACD_ADDRESS names the guacd service")
	assert.True(t, strings.HasPrefix(p.Services["guacd"].Image, "docker.io/guacamole/guacd:"), "the official guacd image")
}

// TestEnvExampleDocumentsEveryVariable: every ${VAR} compose.yaml reads is
// in .env.example, set or commented out.
func TestEnvExampleDocumentsEveryVariable(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	compose, err := os.ReadFile(filepath.Join(root, "compose.yaml"))
	require.NoError(t, err)
	example, err := os.ReadFile(filepath.Join(root, ".env.example"))
	require.NoError(t, err)
	re := regexp.MustCompile(`(?:^|[^$])\$\{([A-Z_][A-Z0-9_]*)`)
	seen := map[string]bool{}
	for _, m := range re.FindAllStringSubmatch(string(compose), -1) {
		name := m[1]
		if seen[name] {
			continue
		}
		seen[name] = true
		doc := regexp.MustCompile(fmt.Sprintf(`(?m)^#? ?%s=`, regexp.QuoteMeta(name)))
		assert.Regexp(t, doc, string(example), ".env.example documents %s", name)
	}
	assert.NotEmpty(t, seen)
}
