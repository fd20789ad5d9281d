package core_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/outpost-go/outposts/authclient/config"
	"github.com/outpost-go/outposts/authclient/core"
	"github.com/outpost-go/outposts/authclient/devcore/devcoretest"
)

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	require.NoError(t, err)
	return u
}

func TestNew(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		cfg       config.Config
		version   string
		wantUA    string
		wantHost  string
		wantErr   string
		wantPath  string
		wantTrust bool
	}{
		{
			name:    "plain",
			cfg:     config.Config{Host: mustURL(t, "https://ak.example.com/"), Token: "t"},
			version: "1.2.3", wantUA: "goauthentik.io/outpost/1.2.3", wantHost: "https://ak.example.com/", wantTrust: true,
		},
		{
			name:    "build hash",
			cfg:     config.Config{Host: mustURL(t, "https://ak.example.com/"), Token: "t", BuildHash: "abc"},
			version: "1.2.3", wantUA: "goauthentik.io/outpost/1.2.3+abc", wantHost: "https://ak.example.com/", wantTrust: true,
		},
		{
			name:    "sub-path without slash",
			cfg:     config.Config{Host: mustURL(t, "https://ak.example.com/authentik"), Token: "t", Insecure: true},
			version: "1", wantUA: "goauthentik.io/outpost/1", wantHost: "https://ak.example.com/authentik/",
		},
		{name: "no host", cfg: config.Config{Token: "t"}, wantErr: "AUTHENTIK_HOST"},
		{name: "no token", cfg: config.Config{Host: mustURL(t, "https://ak.example.com/")}, wantErr: "AUTHENTIK_TOKEN"},
		{name: "bad scheme", cfg: config.Config{Host: mustURL(t, "ftp://ak.example.com/"), Token: "t"}, wantErr: "scheme"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := core.New(tt.cfg, tt.version)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.wantUA, c.UserAgent)
			assert.Equal(t, tt.wantHost, c.Host.String())
			assert.Equal(t, tt.cfg.Token, c.Token)
			assert.Equal(t, !tt.wantTrust, c.Insecure)
			// The config's URL is not modified.
			assert.NotSame(t, tt.cfg.Host, c.Host)
		})
	}
}

// recordingProxy forwards /authentik/... to the core at its root, the way
// a reverse proxy serves authentik under a sub-path, and records the
// requests it sees.
type recordingProxy struct {
	mu   sync.Mutex
	reqs []*http.Request
	next http.Handler
}

func (p *recordingProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.reqs = append(p.reqs, r.Clone(context.Background()))
	p.mu.Unlock()
	if !strings.HasPrefix(r.URL.Path, "/authentik/") {
		http.NotFound(w, r)
		return
	}
	r.URL.Path = strings.TrimPrefix(r.URL.Path, "/authentik")
	p.next.ServeHTTP(w, r)
}

func (p *recordingProxy) requests() []*http.Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*http.Request(nil), p.reqs...)
}

func TestAgainstCoreUnderSubPath(t *testing.T) {
	t.Parallel()
	c := devcoretest.Start(t)
	proxy := &recordingProxy{next: httputil.NewSingleHostReverseProxy(mustURL(t, c.URL))}
	front := httptest.NewServer(proxy)
	t.Cleanup(front.Close)

	client, err := core.New(config.Config{Host: mustURL(t, front.URL+"/authentik/"), Token: c.Token("ldap-outpost"), BuildHash: "b1"}, "9.9.9")
	require.NoError(t, err)

	o, err := client.Instance(t.Context())
	require.NoError(t, err)
	assert.Equal(t, "ldap-outpost", o.Name)

	rc, err := client.RootConfig(t.Context())
	require.NoError(t, err)
	assert.NotNil(t, rc)

	ldap, err := client.LDAPProviders(t.Context())
	require.NoError(t, err)
	require.Len(t, ldap, 1)
	assert.Equal(t, "ldap-provider", ldap[0].Name)

	reqs := proxy.requests()
	require.Len(t, reqs, 3)
	assert.Equal(t, "/authentik/api/v3/outposts/instances/", reqs[0].URL.Path)
	assert.Equal(t, "/authentik/api/v3/root/config/", reqs[1].URL.Path)
	assert.Equal(t, "/authentik/api/v3/outposts/ldap/", reqs[2].URL.Path)
	assert.Equal(t, "1", reqs[2].URL.Query().Get("page"))
	assert.Equal(t, "100", reqs[2].URL.Query().Get("page_size"))
	for _, r := range reqs {
		assert.Equal(t, "Bearer "+c.Token("ldap-outpost"), r.Header.Get("Authorization"))
		assert.Equal(t, "goauthentik.io/outpost/9.9.9+b1", r.Header.Get("User-Agent"))
	}
}

func TestProviderLists(t *testing.T) {
	t.Parallel()
	c := devcoretest.Start(t)
	newClient := func(name string) *core.Client {
		client, err := core.New(config.Config{Host: mustURL(t, c.URL), Token: c.Token(name)}, "1")
		require.NoError(t, err)
		return client
	}

	radius, err := newClient("radius-outpost").RadiusProviders(t.Context())
	require.NoError(t, err)
	require.Len(t, radius, 1)
	assert.Equal(t, "radius-provider", radius[0].Name)

	proxy, err := newClient("proxy-outpost").ProxyProviders(t.Context())
	require.NoError(t, err)
	require.Len(t, proxy, 1)
	assert.Equal(t, "proxy-provider", proxy[0].Name)

	// A plain request through HTTPClient carries the outpost User-Agent.
	ldap := newClient("ldap-outpost")
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, c.URL+"api/v3/outposts/instances/", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+ldap.Token)
	resp, err := ldap.HTTPClient.Do(req)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}

func TestBadToken(t *testing.T) {
	t.Parallel()
	c := devcoretest.Start(t)
	client, err := core.New(config.Config{Host: mustURL(t, c.URL), Token: "wrong"}, "1")
	require.NoError(t, err)

	_, err = client.Instance(t.Context())
	var se *core.StatusError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, http.StatusForbidden, se.StatusCode)

	// Provider pages are not retried when the token is refused.
	_, err = client.LDAPProviders(t.Context())
	require.ErrorAs(t, err, &se)
}

// An empty instance list is an error path only a broken core produces, so
// it is served by hand.
func TestNoOutpost(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"pagination":{"next":0,"previous":0,"count":0,"current":1,"total_pages":1,"start_index":0,"end_index":0},"results":[],"autocomplete":{}}`))
	}))
	t.Cleanup(srv.Close)
	client, err := core.New(config.Config{Host: mustURL(t, srv.URL+"/"), Token: "t"}, "1")
	require.NoError(t, err)
	_, err = client.Instance(t.Context())
	assert.True(t, errors.Is(err, core.ErrNoOutpost), "got %v", err)
}

func TestInsecure(t *testing.T) {
	t.Parallel()
	c := devcoretest.Start(t)
	// The same core behind a self-signed certificate.
	tlsFront := httptest.NewTLSServer(c.Server.Handler())
	t.Cleanup(tlsFront.Close)
	tests := []struct {
		name     string
		insecure bool
		wantErr  bool
	}{
		{name: "verified by default", insecure: false, wantErr: true},
		{name: "AUTHENTIK_INSECURE skips verification", insecure: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			client, err := core.New(config.Config{Host: mustURL(t, tlsFront.URL+"/"), Token: c.Token("ldap-outpost"), Insecure: tt.insecure}, "1")
			require.NoError(t, err)
			o, err := client.Instance(t.Context())
			if tt.wantErr {
				require.ErrorContains(t, err, "certificate")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, "ldap-outpost", o.Name)
		})
	}
}
