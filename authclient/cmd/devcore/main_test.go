package main

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReadSettings(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	file := filepath.Join(tmp, "file")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	tests := []struct {
		name    string
		env     map[string]string
		badVar  string
		listen  string
		level   zerolog.Level
		bpDir   string
		stateOK bool
	}{
		{name: "defaults", env: map[string]string{"AUTHENTIK_STATE_DIR": filepath.Join(tmp, "s1")}, listen: "127.0.0.1:9000", level: zerolog.InfoLevel},
		{name: "all set", env: map[string]string{
			"AUTHENTIK_LISTEN__HTTP": "0.0.0.0:1234", "AUTHENTIK_BLUEPRINTS_DIR": tmp,
			"AUTHENTIK_STATE_DIR": filepath.Join(tmp, "s2"), "AUTHENTIK_LOG_LEVEL": "warning",
		}, listen: "0.0.0.0:1234", level: zerolog.WarnLevel, bpDir: tmp},
		{name: "bad listen", env: map[string]string{"AUTHENTIK_LISTEN__HTTP": "nope"}, badVar: "AUTHENTIK_LISTEN__HTTP"},
		{name: "missing blueprints", env: map[string]string{"AUTHENTIK_BLUEPRINTS_DIR": filepath.Join(tmp, "none")}, badVar: "AUTHENTIK_BLUEPRINTS_DIR"},
		{name: "blueprints is a file", env: map[string]string{"AUTHENTIK_BLUEPRINTS_DIR": file}, badVar: "AUTHENTIK_BLUEPRINTS_DIR"},
		{name: "state under a file", env: map[string]string{"AUTHENTIK_STATE_DIR": filepath.Join(file, "x")}, badVar: "AUTHENTIK_STATE_DIR"},
		{name: "bad level", env: map[string]string{"AUTHENTIK_STATE_DIR": filepath.Join(tmp, "s3"), "AUTHENTIK_LOG_LEVEL": "loud"}, badVar: "AUTHENTIK_LOG_LEVEL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := readSettings(func(k string) string { return tt.env[k] })
			if tt.badVar != "" {
				var se *settingError
				require.True(t, errors.As(err, &se), "%v", err)
				assert.Equal(t, tt.badVar, se.name)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.listen, s.listen)
			assert.Equal(t, tt.level, s.level)
			assert.Equal(t, tt.bpDir, s.blueprints)
		})
	}
}
