package e2e_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// X-Forwarded-* from a peer that is not a trusted proxy are replaced
// (authentik CVE-2023-36456): the upstream sees the real peer.
func TestForwardedHeadersFromUntrustedPeer(t *testing.T) {
	t.Parallel()
	up := upstream(t)
	tests := []struct {
		name    string
		trusted string
		wantXFF string
	}{
		{name: "untrusted peer", trusted: "192.0.2.1/32", wantXFF: "127.0.0.1"},
		{name: "trusted peer", trusted: "127.0.0.0/8", wantXFF: "203.0.113.7, 127.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			port := freePort(t)
			core := proxyCore(t, port, up.URL)
			startOutpost(t, core, port, "", map[string]string{"AUTHENTIK_LISTEN__TRUSTED_PROXY_CIDRS": tt.trusted})
			req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("http://app.localhost:%d/x", port), nil)
			require.NoError(t, err)
			req.SetBasicAuth("alice", "alice-password")
			req.Header.Set("X-Forwarded-For", "203.0.113.7")
			req.Header.Set("X-Real-Ip", "203.0.113.7")
			resp, err := newBrowser(t).Do(req)
			require.NoError(t, err)
			e := decodeEcho(t, resp)
			assert.Equal(t, "alice", e.header("X-Authentik-Username"))
			assert.Equal(t, tt.wantXFF, e.header("X-Forwarded-For"))
			assert.Empty(t, e.header("Authorization"), "the outpost's credentials are not passed on")
		})
	}
}

// With Redis unreachable the outpost still logs users in, from its
// in-process store.
func TestRedisUnreachable(t *testing.T) {
	t.Parallel()
	up := upstream(t)
	port := freePort(t)
	core := proxyCore(t, port, up.URL)
	startOutpost(t, core, port, "", map[string]string{
		"AUTHENTIK_REDIS__URL":     fmt.Sprintf("redis://127.0.0.1:%d/0", freePort(t)),
		"AUTHENTIK_REDIS__TIMEOUT": "100ms",
	})
	b := newBrowser(t)
	e := decodeEcho(t, b.login(fmt.Sprintf("http://app.localhost:%d/", port), "bob", "bob-password", ""))
	assert.Equal(t, "bob", e.header("X-Authentik-Username"))
}
