package devcoretest_test

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/outpost-go/outposts/authclient/devcore/devcoretest"
)

const outpostBlueprint = `version: 1
entries:
  - model: authentik_outposts.outpost
    identifiers: {name: test-outpost}
    attrs: {type: ldap}
  - model: authentik_core.token
    identifiers: {identifier: ak-outpost-test-outpost-api}
    attrs:
      key: !Env [TEST_OUTPOST_TOKEN, fallback]
`

func get(t *testing.T, c *devcoretest.Core, token string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, c.URL+"api/v3/outposts/instances/", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

func TestStartOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		opts  func(t *testing.T) []devcoretest.Option
		token string
	}{
		{"blueprint with env", func(*testing.T) []devcoretest.Option {
			return []devcoretest.Option{
				devcoretest.WithBlueprint("outpost.yaml", outpostBlueprint),
				devcoretest.WithEnv(map[string]string{"TEST_OUTPOST_TOKEN": "from-env"}),
			}
		}, "from-env"},
		{"blueprint dir", func(t *testing.T) []devcoretest.Option {
			dir := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(dir, "o.yaml"), []byte(outpostBlueprint), 0o644))
			return []devcoretest.Option{devcoretest.WithBlueprintDir(dir)}
		}, "fallback"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := devcoretest.Start(t, tt.opts(t)...)
			assert.Equal(t, tt.token, c.Token("test-outpost"))
			assert.Equal(t, http.StatusOK, get(t, c, tt.token))

			c.Stop()
			c.Stop() // idempotent
			c.Restart(t)
			c.Restart(t) // no-op while running
			assert.Equal(t, http.StatusOK, get(t, c, tt.token))
		})
	}
}
