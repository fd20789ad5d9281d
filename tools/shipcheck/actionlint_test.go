package shipcheck

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rhysd/actionlint"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

func workflowFiles(t *testing.T, root string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, ".github", "workflows", "*.yml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	return files
}

// TestWorkflowsPassActionlint runs actionlint (as a library, without
// shellcheck or pyflakes) over every workflow.
func TestWorkflowsPassActionlint(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	var out bytes.Buffer
	l, err := actionlint.NewLinter(&out, &actionlint.LinterOptions{})
	require.NoError(t, err)
	errs, err := l.LintFiles(workflowFiles(t, root), nil)
	require.NoError(t, err)
	for _, e := range errs {
		t.Errorf("%s:%d:%d: %s [%s]", e.Filepath, e.Line, e.Column, e.Message, e.Kind)
	}
}

func TestActionlintCatchesMistakes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	wf := filepath.Join(dir, ".github", "workflows", "bad.yml")
	require.NoError(t, os.MkdirAll(filepath.Dir(wf), 0o755))
	require.NoError(t, os.WriteFile(wf, []byte("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ matrix.nope }}\n"), 0o644))
	l, err := actionlint.NewLinter(&bytes.Buffer{}, &actionlint.LinterOptions{})
	require.NoError(t, err)
	errs, err := l.LintFiles([]string{wf}, nil)
	require.NoError(t, err)
	assert.NotEmpty(t, errs)
}

// workflow is the part of a workflow file the checks below read.
type workflow struct {
	On struct {
		Push struct {
			Paths []string `yaml:"paths"`
			Tags  []string `yaml:"tags"`
		} `yaml:"push"`
		PullRequest struct {
			Paths []string `yaml:"paths"`
		} `yaml:"pull_request"`
	} `yaml:"on"`
	Jobs map[string]struct {
		Uses     string            `yaml:"uses"`
		With     map[string]string `yaml:"with"`
		Services map[string]any    `yaml:"services"`
		Steps    []struct {
			Uses string         `yaml:"uses"`
			With map[string]any `yaml:"with"`
		} `yaml:"steps"`
	} `yaml:"jobs"`
}

func readWorkflow(t *testing.T, path string) workflow {
	t.Helper()
	src, err := os.ReadFile(path)
	require.NoError(t, err)
	var w workflow
	require.NoError(t, yaml.Unmarshal(src, &w), path)
	return w
}

// TestWorkflowsCoverEveryModule: each module has a CI workflow filtered to
// its paths (outposts also to authclient's), the shared one has Redis as a
// service, lints with the repository's golangci-lint config and builds the
// image; the release workflow takes every outpost's tags and pushes both
// architectures.
func TestWorkflowsCoverEveryModule(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	dir := filepath.Join(root, ".github", "workflows")
	for _, m := range append([]string{"authclient"}, Outposts...) {
		w := readWorkflow(t, filepath.Join(dir, "ci-"+m+".yml"))
		for _, paths := range [][]string{w.On.Push.Paths, w.On.PullRequest.Paths} {
			assert.Contains(t, paths, m+"/**", m)
			if m != "authclient" {
				assert.Contains(t, paths, "authclient/**", m)
			}
		}
		job, ok := w.Jobs["ci"]
		require.True(t, ok, m)
		assert.Equal(t, "./.github/workflows/module.yml", job.Uses)
		assert.Equal(t, m, job.With["module"])
	}

	mod := readWorkflow(t, filepath.Join(dir, "module.yml"))
	assert.Contains(t, mod.Jobs["test"].Services, "redis", "tests run with a Redis service container")
	var usesLint, usesBuild bool
	for _, job := range mod.Jobs {
		for _, s := range job.Steps {
			switch {
			case strings.HasPrefix(s.Uses, "golangci/golangci-lint-action@"):
				usesLint = true
				assert.Contains(t, s.With["args"], ".golangci.yml")
			case strings.HasPrefix(s.Uses, "docker/build-push-action@"):
				usesBuild = true
			}
		}
	}
	assert.True(t, usesLint, "lint with golangci-lint")
	assert.True(t, usesBuild, "build the image")
	_, err := os.Stat(filepath.Join(root, ".golangci.yml"))
	require.NoError(t, err)

	rel := readWorkflow(t, filepath.Join(dir, "release.yml"))
	for _, m := range Outposts {
		assert.Contains(t, rel.On.Push.Tags, m+"/v*")
	}
	var platforms string
	for _, s := range rel.Jobs["release"].Steps {
		if strings.HasPrefix(s.Uses, "docker/build-push-action@") {
			platforms, _ = s.With["platforms"].(string)
		}
	}
	got := strings.Split(platforms, ",")
	slices.Sort(got)
	assert.Equal(t, []string{"linux/amd64", "linux/arm64"}, got)
}
