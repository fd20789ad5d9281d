package server

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"goauthentik.io/api/v3"

	"github.com/outpost-go/outposts/authclient/outpost"
)

func ptr[T any](v T) *T { return &v }

func provider(pk int32, name string, mode api.ProxyMode, external, cookieDomain string) api.ProxyOutpostConfig {
	return api.ProxyOutpostConfig{
		Pk: pk, Name: name, ExternalHost: external, InternalHost: ptr("http://127.0.0.1:1"),
		ClientId: ptr("cid-" + name), ClientSecret: ptr("s"), CookieSecret: ptr("c"),
		Mode: &mode, CookieDomain: ptr(cookieDomain),
		OidcConfiguration: api.OpenIDConnectConfiguration{AuthorizationEndpoint: "http://core/authorize/"},
	}
}

func testRuntime() *outpost.Runtime {
	return &outpost.Runtime{Logger: zerolog.Nop(), Registry: prometheus.NewRegistry(), Version: "test"}
}

func newTestServer(t *testing.T, providers ...api.ProxyOutpostConfig) (*Server, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	s, err := New(&outpost.Runtime{Logger: zerolog.Nop(), Registry: reg, Version: "test"}, Settings{TrustedProxies: DefaultTrustedProxies})
	require.NoError(t, err)
	require.NoError(t, s.Refresh(t.Context(), providers))
	return s, reg
}

func TestLookup(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t,
		provider(1, "app", api.PROXYMODE_PROXY, "https://app.example.com", ""),
		provider(2, "port", api.PROXYMODE_FORWARD_SINGLE, "http://port.example.com:8080", ""),
		provider(3, "outer", api.PROXYMODE_FORWARD_DOMAIN, "https://auth.example.com", "example.com"),
		provider(4, "inner", api.PROXYMODE_FORWARD_DOMAIN, "https://auth.team.example.com", ".team.example.com"),
	)
	tests := []struct{ host, want string }{
		{"app.example.com", "app"},
		{"APP.example.com", "app"},
		{"app.example.com:443", "app"},
		{"port.example.com:8080", "port"},
		{"port.example.com", "port"},
		{"wiki.example.com", "outer"},
		{"example.com", "outer"},
		{"wiki.team.example.com", "inner"},
		{"auth.team.example.com", "inner"},
		{"evil.com", ""},
		{"example.com.evil.com", ""},
		{"", ""},
	}
	for _, tt := range tests {
		got := s.Lookup(tt.host)
		if tt.want == "" {
			assert.Nil(t, got, tt.host)
			continue
		}
		require.NotNil(t, got, tt.host)
		assert.Equal(t, tt.want, got.Name(), tt.host)
	}
}

func FuzzLookup(f *testing.F) {
	for _, h := range []string{"app.example.com", "x.example.com:1", "[::1]:80", "", ".", "example.com."} {
		f.Add(h)
	}
	reg := prometheus.NewRegistry()
	s, err := New(&outpost.Runtime{Logger: zerolog.Nop(), Registry: reg}, Settings{})
	if err != nil {
		f.Fatal(err)
	}
	if err := s.Refresh(f.Context(), []api.ProxyOutpostConfig{
		provider(1, "app", api.PROXYMODE_PROXY, "https://app.example.com", ""),
		provider(3, "outer", api.PROXYMODE_FORWARD_DOMAIN, "https://auth.example.com", "example.com"),
	}); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, host string) {
		a := s.Lookup(host)
		if a != nil && a.Name() == "outer" {
			h := strings.ToLower(host)
			if !strings.Contains(h, "example.com") {
				t.Fatalf("%q matched the cookie domain", host)
			}
		}
	})
}

func TestHandler(t *testing.T) {
	t.Parallel()
	s, reg := newTestServer(t,
		provider(1, "a", api.PROXYMODE_PROXY, "https://a.example.com", ""),
		provider(2, "b", api.PROXYMODE_PROXY, "https://b.example.com", ""),
	)
	h := s.Handler()

	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "http://anything/outpost.goauthentik.io/ping", nil))
	assert.Equal(t, http.StatusNoContent, w.Code)

	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "http://anything/outpost.goauthentik.io/static/style.css", nil))
	assert.Equal(t, http.StatusOK, w.Code)

	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "http://unknown.example.com/", nil))
	assert.Equal(t, http.StatusBadRequest, w.Code)
	var body map[string]string
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body))
	assert.Equal(t, "no app for hostname", body["Message"])
	assert.Equal(t, "unknown.example.com", body["Host"])

	// X-Forwarded-Host picks the app only from a trusted peer.
	r := httptest.NewRequest(http.MethodGet, "http://unknown.example.com/", nil)
	r.Header.Set("X-Forwarded-Host", "a.example.com")
	r.RemoteAddr = "203.0.113.9:1234"
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	assert.Equal(t, http.StatusBadRequest, w.Code)
	r.RemoteAddr = "127.0.0.1:1234"
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	assert.Equal(t, http.StatusFound, w.Code)

	n, err := testutil.GatherAndCount(reg, "authentik_outpost_proxy_request_duration_seconds", "authentik_outpost_proxy_requests")
	require.NoError(t, err)
	assert.Positive(t, n)
}

func TestSettingsFromEnv(t *testing.T) {
	t.Parallel()
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	s, err := SettingsFromEnv(env(nil))
	require.NoError(t, err)
	assert.Equal(t, DefaultTrustedProxies, s.TrustedProxies)
	assert.False(t, s.ProxyProtocol)
	s, err = SettingsFromEnv(env(map[string]string{EnvTrustedProxies: "10.1.0.0/16", EnvSessionIdle: "2h", EnvDiagnostics: "true"}))
	require.NoError(t, err)
	assert.True(t, s.ProxyProtocol)
	assert.True(t, s.Diagnostics)
	assert.Len(t, s.TrustedProxies, 1)
	for _, bad := range []map[string]string{{EnvTrustedProxies: "nope"}, {EnvSessionMax: "-1h"}, {EnvDiagnostics: "maybe"}} {
		_, err := SettingsFromEnv(env(bad))
		assert.Error(t, err, "%v", bad)
	}
}
