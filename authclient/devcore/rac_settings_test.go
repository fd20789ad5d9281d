package devcore

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/outpost-go/outposts/authclient/devcore/model"
)

// TestRACSettingsPrecedence: each layer overrides the ones before it, in
// authentik's order, and the drive parameters win over everything.
func TestRACSettingsPrecedence(t *testing.T) {
	t.Parallel()
	src := racSettingsSources{
		Defaults:         map[string]any{"hostname": "h", "port": "22", "a": "defaults", "b": "defaults", "c": "defaults", "d": "defaults", "e": "defaults", "f": "defaults"},
		Provider:         map[string]any{"b": "provider", "c": "provider", "d": "provider", "e": "provider", "f": "provider", "nested": map[string]any{"x": 1.0, "y": 1.0}},
		Endpoint:         map[string]any{"c": "endpoint", "d": "endpoint", "e": "endpoint", "f": "endpoint", "nested": map[string]any{"y": 2.0}},
		ProviderMappings: []map[string]any{{"d": "provider mapping 1", "e": "provider mapping 1"}, {"d": "provider mapping 2"}},
		EndpointMappings: []map[string]any{{"e": "endpoint mapping", "f": "endpoint mapping"}},
		Token:            map[string]any{"f": "token", "drive-path": "/evil", "enable-drive": true, "list": []any{"a"}, "gone": nil},
		Forced:           map[string]any{"drive-path": "/tmp/connection/t", "create-drive-path": "true"},
	}
	got := src.merge()
	assert.Equal(t, map[string]string{
		"hostname": "h", "port": "22",
		"a": "defaults", "b": "provider", "c": "endpoint", "d": "provider mapping 2", "e": "endpoint mapping", "f": "token",
		"nested":            `{"x":1,"y":2}`,
		"drive-path":        "/tmp/connection/t",
		"create-drive-path": "true",
		"enable-drive":      "true",
		"list":              `["a"]`,
	}, got)
	// The sources are not modified.
	assert.Equal(t, map[string]any{"x": 1.0, "y": 1.0}, src.Provider["nested"])
}

func TestRACDefaults(t *testing.T) {
	t.Parallel()
	cases := []struct {
		host, protocol string
		want           map[string]any
	}{
		{"10.0.0.5:3389", "rdp", map[string]any{"hostname": "10.0.0.5", "port": "3389", "resize-method": "display-update", "client-name": "authentik - alice"}},
		{"server", "ssh", map[string]any{"hostname": "server", "client-name": "authentik - alice"}},
		{"[2001:db8::1]:5900", "vnc", map[string]any{"hostname": "2001:db8::1", "port": "5900", "client-name": "authentik - alice"}},
		{"[2001:db8::1]", "vnc", map[string]any{"hostname": "2001:db8::1", "client-name": "authentik - alice"}},
	}
	for _, tc := range cases {
		assert.Equal(t, tc.want, racDefaults(&model.RACEndpoint{Host: tc.host, Protocol: tc.protocol}, "alice"), tc.host)
	}
}
