package devcore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	api "goauthentik.io/api/v3"

	"github.com/outpost-go/outposts/authclient/devcore/devcoretest"
	"github.com/outpost-go/outposts/authclient/schemacheck"
)

// schema is authentik's schema.yml, loaded once for all tests.
var schema = sync.OnceValues(func() (*schemacheck.Schema, error) {
	path, err := schemacheck.Find()
	if err != nil {
		return nil, err
	}
	return schemacheck.Load(path)
})

// checkedTransport validates every JSON answer under /api/v3/ against
// schema.yml, so each test also checks the wire shapes.
type checkedTransport struct {
	t    *testing.T
	next http.RoundTripper
}

func (ct checkedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := ct.next.RoundTrip(req)
	if err != nil || !strings.HasPrefix(req.URL.Path, "/api/v3/") {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	sch, err := schema()
	if err != nil {
		ct.t.Errorf("load schema.yml: %v", err)
		return resp, nil
	}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		err := sch.ValidateResponse(req.Method, req.URL.Path, resp.StatusCode, body)
		// POST check_access is served for the one authentik version that
		// declares it; schema.yml documents only GET.
		postCheck := req.Method == http.MethodPost && strings.HasSuffix(req.URL.Path, "/check_access/")
		undocumented := resp.StatusCode >= 400 && errors.Is(err, schemacheck.ErrUndocumentedStatus)
		if err != nil && !undocumented && !(postCheck && errors.Is(err, schemacheck.ErrNoOperation)) {
			ct.t.Errorf("%s %s: %v", req.Method, req.URL, err)
		}
	}
	return resp, nil
}

// startCore starts a core serving testdata/core.yaml plus the defaults.
func startCore(t *testing.T) *devcoretest.Core {
	t.Helper()
	data, err := os.ReadFile("testdata/core.yaml")
	require.NoError(t, err)
	return devcoretest.Start(t, devcoretest.WithBlueprint("core.yaml", string(data)))
}

// apiClient is a generated client authenticated with token ("" = none).
func apiClient(t *testing.T, c *devcoretest.Core, token string) *api.APIClient {
	t.Helper()
	u, err := url.Parse(c.URL)
	require.NoError(t, err)
	cfg := api.NewConfiguration()
	cfg.Host = u.Host
	cfg.Scheme = u.Scheme
	cfg.Servers = api.ServerConfigurations{{URL: c.URL + "api/v3"}}
	cfg.HTTPClient = &http.Client{Transport: checkedTransport{t: t, next: http.DefaultTransport}}
	if token != "" {
		cfg.AddDefaultHeader("Authorization", "Bearer "+token)
	}
	return api.NewAPIClient(cfg)
}

// flowClient is a generated client like an outpost's flow executor: a
// cookie jar, the outpost token header and a delegated client IP.
func flowClient(t *testing.T, c *devcoretest.Core, outpostToken, remoteIP string) *api.APIClient {
	t.Helper()
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	u, err := url.Parse(c.URL)
	require.NoError(t, err)
	cfg := api.NewConfiguration()
	cfg.Host = u.Host
	cfg.Scheme = u.Scheme
	cfg.Servers = api.ServerConfigurations{{URL: c.URL + "api/v3"}}
	cfg.HTTPClient = &http.Client{Jar: jar, Transport: checkedTransport{t: t, next: http.DefaultTransport}}
	if outpostToken != "" {
		cfg.AddDefaultHeader("X-authentik-outpost-token", outpostToken)
	}
	if remoteIP != "" {
		cfg.AddDefaultHeader("X-authentik-remote-ip", remoteIP)
	}
	return api.NewAPIClient(cfg)
}

// rawGet does a plain GET and returns status and body.
func rawGet(t *testing.T, target, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, target, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, strings.TrimSpace(string(body))
}

func mustJSON(t *testing.T, body string) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(body), &m), body)
	return m
}

func itoa(n int32) string { return strconv.Itoa(int(n)) }
