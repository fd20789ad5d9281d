package shipcheck

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	// maxImageBytes is the limit per image ("under 25 MB").
	maxImageBytes = 25_000_000
	// baseImageBytes is what gcr.io/distroless/static-debian12 adds: the
	// distroless project gives "around 2 MiB"; 3 MiB leaves room for growth
	// of its CA bundle and tzdata. No Docker engine runs on the machines the
	// tests run on, so the base cannot be pulled and weighed here.
	baseImageBytes = 3 << 20
)

// ldflagsRE finds the -ldflags value of the go build line of a Dockerfile.
var ldflagsRE = regexp.MustCompile(`-ldflags\s+"([^"]*)"`)

// TestImageSize builds each image's binary the way its Dockerfile's build
// stage does (same -trimpath and -ldflags, CGO off, GOWORK off) and checks that binary plus the runtime base stays under
// the image size limit. The binary is the only layer we add, so this is the
// image's size short of an engine to build it. Only linux/amd64 is built:
// a cold cross-compile for arm64 costs minutes of CI time for a binary whose
// size is within a few percent of amd64's (IMAGE_SIZE_ARCHES=amd64,arm64
// checks both).
func TestImageSize(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every image's binary for two platforms")
	}
	t.Parallel()
	root := repoRoot(t)
	arches := []string{"amd64"}
	if v := os.Getenv("IMAGE_SIZE_ARCHES"); v != "" {
		arches = strings.Split(v, ",")
	}
	goBin, err := exec.LookPath("go")
	require.NoError(t, err)
	for _, img := range images() {
		flags := dockerBuildFlags(t, filepath.Join(root, img.module, "Dockerfile"))
		for _, arch := range arches {
			// Sequential: each go build already uses every core.
			t.Run(img.module+"/"+arch, func(t *testing.T) {
				out := filepath.Join(t.TempDir(), img.binary)
				args := append([]string{"build"}, flags...)
				args = append(args, "-o", out, "./cmd/"+img.binary)
				cmd := exec.Command(goBin, args...)
				cmd.Dir = filepath.Join(root, img.module)
				cmd.Env = append(os.Environ(), "GOWORK=off", "CGO_ENABLED=0", "GOFLAGS=-buildvcs=false",
					"GOOS=linux", "GOARCH="+arch)
				b, err := cmd.CombinedOutput()
				require.NoError(t, err, "go %s\n%s", strings.Join(args, " "), b)
				st, err := os.Stat(out)
				require.NoError(t, err)
				size := st.Size() + baseImageBytes
				t.Logf("%s linux/%s: binary %.1f MB, image about %.1f MB", img.binary, arch,
					float64(st.Size())/1e6, float64(size)/1e6)
				assert.Less(t, size, int64(maxImageBytes),
					"%s linux/%s: binary %d bytes + base %d bytes is over the %d byte image limit",
					img.binary, arch, st.Size(), baseImageBytes, maxImageBytes)
			})
		}
	}
}

// dockerBuildFlags returns the go build flags of a Dockerfile's build stage,
// with the build arguments given placeholder values.
func dockerBuildFlags(t *testing.T, path string) []string {
	t.Helper()
	p := parseDockerfile(t, path)
	require.NotEmpty(t, p.stages)
	for _, c := range p.stages[0].Commands {
		run, ok := c.(*instructions.RunCommand)
		if !ok {
			continue
		}
		line := strings.Join(run.CmdLine, " ")
		if !strings.Contains(line, "go build") {
			continue
		}
		var flags []string
		if strings.Contains(line, "-trimpath") {
			flags = append(flags, "-trimpath")
		}
		if m := ldflagsRE.FindStringSubmatch(line); m != nil {
			ld := strings.NewReplacer("${VERSION}", "1.0.0", "$VERSION", "1.0.0").Replace(m[1])
			flags = append(flags, "-ldflags", ld)
		}
		return flags
	}
	require.FailNow(t, fmt.Sprintf("%s: no go build in the build stage", path))
	return nil
}
