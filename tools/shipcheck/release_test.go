package shipcheck

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// releaseRepo is a throwaway git repository holding a copy of
// scripts/release and two modules.
type releaseRepo struct {
	t   *testing.T
	dir string
	env []string
}

func newReleaseRepo(t *testing.T) *releaseRepo {
	t.Helper()
	requireTool(t, "git", "git")
	root := repoRoot(t)
	r := &releaseRepo{t: t, dir: t.TempDir()}
	r.env = append(os.Environ(),
		"GIT_AUTHOR_NAME=test", "GIT_AUTHOR_EMAIL=test@example.com",
		"GIT_COMMITTER_NAME=test", "GIT_COMMITTER_EMAIL=test@example.com",
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	script, err := os.ReadFile(filepath.Join(root, "scripts", "release"))
	require.NoError(t, err)
	r.write("scripts/release", string(script))
	require.NoError(t, os.Chmod(filepath.Join(r.dir, "scripts", "release"), 0o755))
	r.git("init", "-q", "-b", "main")
	r.write("ldap-outpost/main.go", "package main\n")
	r.write("radius-outpost/main.go", "package main\n")
	r.write("authclient/lib.go", "package authclient\n")
	r.git("add", ".")
	r.git("commit", "-q", "-m", "initial import")
	return r
}

func (r *releaseRepo) write(rel, content string) {
	r.t.Helper()
	p := filepath.Join(r.dir, rel)
	require.NoError(r.t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(r.t, os.WriteFile(p, []byte(content), 0o644))
}

func (r *releaseRepo) git(args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir, cmd.Env = r.dir, r.env
	out, err := cmd.CombinedOutput()
	require.NoError(r.t, err, "git %v: %s", args, out)
	return strings.TrimSpace(string(out))
}

func (r *releaseRepo) commit(rel, content, msg string) {
	r.t.Helper()
	r.write(rel, content)
	r.git("add", rel)
	r.git("commit", "-q", "-m", msg)
}

// release runs the script and returns its output and whether it succeeded.
func (r *releaseRepo) release(args ...string) (string, bool) {
	r.t.Helper()
	cmd := exec.Command(filepath.Join(r.dir, "scripts", "release"), args...)
	cmd.Dir, cmd.Env = r.dir, r.env
	out, err := cmd.CombinedOutput()
	return string(out), err == nil
}

func (r *releaseRepo) changelog(module string) string {
	r.t.Helper()
	b, err := os.ReadFile(filepath.Join(r.dir, module, "CHANGELOG.md"))
	require.NoError(r.t, err)
	return string(b)
}

func TestReleaseRefusesBadInput(t *testing.T) {
	t.Parallel()
	r := newReleaseRepo(t)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no arguments", nil, "usage"},
		{"unknown module", []string{"ftp-outpost", "1.0.0"}, "unknown module"},
		{"authclient is not released alone", []string{"authclient", "1.0.0"}, "unknown module"},
		{"two parts", []string{"ldap-outpost", "1.2"}, "is not a version"},
		{"leading zero", []string{"ldap-outpost", "01.2.3"}, "is not a version"},
		{"words", []string{"ldap-outpost", "latest"}, "is not a version"},
		{"trailing junk", []string{"ldap-outpost", "1.2.3;rm"}, "is not a version"},
	} {
		out, ok := r.release(tc.args...)
		assert.False(t, ok, tc.name)
		assert.Contains(t, out, tc.want, tc.name)
	}
	assert.Empty(t, r.git("tag", "--list"), "nothing was tagged")

	r.write("ldap-outpost/main.go", "package main // edited\n")
	out, ok := r.release("ldap-outpost", "1.0.0")
	assert.False(t, ok)
	assert.Contains(t, out, "work tree has changes")
	assert.Empty(t, r.git("tag", "--list"))
}

func TestReleaseTagsAndWritesChangelog(t *testing.T) {
	t.Parallel()
	r := newReleaseRepo(t)
	r.commit("ldap-outpost/search.go", "package main\n", `ldap: paged search with a \backslash`)
	r.commit("radius-outpost/x.go", "package main\n", "radius: unrelated change")
	r.commit("authclient/cache.go", "package authclient\n", "authclient: cache fix")

	out, ok := r.release("ldap-outpost", "v1.0.0")
	require.True(t, ok, out)
	assert.Contains(t, out, "git push origin HEAD ldap-outpost/v1.0.0")
	assert.Equal(t, "ldap-outpost/v1.0.0", r.git("tag", "--list"))
	assert.Equal(t, r.git("rev-parse", "HEAD"), r.git("rev-parse", "ldap-outpost/v1.0.0^{commit}"), "the tag is on the changelog commit")
	assert.Empty(t, r.git("status", "--porcelain"), "the tree is clean afterwards")

	log := r.changelog("ldap-outpost")
	assert.Contains(t, log, "## 1.0.0 (")
	assert.Contains(t, log, `- ldap: paged search with a \backslash`)
	assert.Contains(t, log, "- authclient: cache fix", "authclient changes flow into the outpost's changelog")
	assert.NotContains(t, log, "radius: unrelated change")

	// Same or lower versions are refused, per module.
	for _, v := range []string{"1.0.0", "0.9.9", "1.0.0-rc.1"} {
		out, ok := r.release("ldap-outpost", v)
		assert.False(t, ok, v)
		assert.True(t, strings.Contains(out, "already exists") || strings.Contains(out, "not above"), "%s: %s", v, out)
	}
	out, ok = r.release("radius-outpost", "0.1.0")
	require.True(t, ok, "modules have their own versions: %s", out)

	// A pre-release, then its release; the newest entry comes first and
	// lists only what changed since the last tag.
	r.commit("ldap-outpost/bind.go", "package main\n", "ldap: bind cache")
	out, ok = r.release("ldap-outpost", "1.1.0-rc.1")
	require.True(t, ok, out)
	out, ok = r.release("ldap-outpost", "1.1.0")
	require.True(t, ok, out)
	log = r.changelog("ldap-outpost")
	i110, irc, i100 := strings.Index(log, "## 1.1.0 ("), strings.Index(log, "## 1.1.0-rc.1 ("), strings.Index(log, "## 1.0.0 (")
	require.True(t, i110 >= 0 && irc >= 0 && i100 >= 0, log)
	assert.Less(t, i110, irc)
	assert.Less(t, irc, i100)
	rc := log[irc:i100]
	assert.Contains(t, rc, "- ldap: bind cache")
	assert.NotContains(t, rc, "paged search")
	assert.Contains(t, log[i110:irc], "No changes besides the version")
	assert.Equal(t, 1, strings.Count(log, "# Changelog of ldap-outpost"))
}
