package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestBadTrustedProxies(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), nil, envFunc(map[string]string{
		"AUTHENTIK_HOST": "http://127.0.0.1:1/", "AUTHENTIK_TOKEN": "t",
		"AUTHENTIK_LISTEN__TRUSTED_PROXY_CIDRS": "10.0.0.0/8, not-a-cidr",
	}), &stdout, &stderr)
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr.String(), "AUTHENTIK_LISTEN__TRUSTED_PROXY_CIDRS")
	assert.Contains(t, stderr.String(), "not-a-cidr")
}
