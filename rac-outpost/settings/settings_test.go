package settings_test

import (
	"errors"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/outpost-go/outposts/rac-outpost/settings"
)

func TestLoad(t *testing.T) {
	t.Parallel()
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	files := func(name string) ([]byte, error) {
		if name == "/missing" {
			return nil, os.ErrNotExist
		}
		return []byte("not pem"), nil
	}

	s, err := settings.Load(env(nil), files)
	require.NoError(t, err)
	assert.Equal(t, "localhost:4822", s.Guacd.Address)
	assert.Nil(t, s.Guacd.TLS)
	assert.Equal(t, 10*time.Second, s.CheckInterval)
	assert.Equal(t, "UTC", s.Timezone)

	s, err = settings.Load(env(map[string]string{
		"GUACD_ADDRESS": "guacd.internal:4823", "GUACD_TLS": "true", "GUACD_TLS_INSECURE": "true",
		"GUACD_CHECK_INTERVAL": "2s", "RAC_KEEPALIVE_INTERVAL": "50ms", "TZ": "Europe/Berlin",
	}), files)
	require.NoError(t, err)
	assert.Equal(t, "guacd.internal:4823", s.Guacd.Address)
	require.NotNil(t, s.Guacd.TLS)
	assert.Equal(t, "guacd.internal", s.Guacd.TLS.ServerName)
	assert.True(t, s.Guacd.TLS.InsecureSkipVerify)
	assert.Equal(t, 2*time.Second, s.CheckInterval)
	assert.Equal(t, 50*time.Millisecond, s.KeepAlive)
	assert.Equal(t, "Europe/Berlin", s.Timezone)

	for _, bad := range []map[string]string{
		{"GUACD_ADDRESS": "guacd"},
		{"GUACD_ADDRESS": "guacd:99999"},
		{"GUACD_ADDRESS": ":4822"},
		{"GUACD_TLS": "maybe"},
		{"GUACD_TLS_CA": "/etc/ca.pem"},
		{"GUACD_TLS": "true", "GUACD_TLS_CA": "/missing"},
		{"GUACD_TLS": "true", "GUACD_TLS_CA": "/etc/notpem"},
		{"GUACD_CHECK_INTERVAL": "-1s"},
		{"RAC_KEEPALIVE_INTERVAL": "soon"},
		{"TZ": "Mars/Olympus"},
	} {
		_, err := settings.Load(env(bad), files)
		var se *settings.Error
		assert.True(t, errors.As(err, &se), "%v: %v", bad, err)
	}
}
