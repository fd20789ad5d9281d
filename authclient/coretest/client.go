package coretest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outpost-go/outposts/authclient/schemacheck"
)

// maxBody bounds what the suite reads from one response.
const maxBody = 16 << 20

const userAgent = "goauthentik.io/outpost/coretest"

// core is the target plus what every check needs.
type core struct {
	target  Target
	base    *url.URL // scheme://host/<prefix>/ with a trailing slash
	schema  *schemacheck.Schema
	timeout time.Duration

	mu sync.Mutex
	// totpSteps is the last TOTP time step used per key (see totpCode).
	totpSteps map[string]int64
}

func newCore(target Target, schema *schemacheck.Schema) (*core, error) {
	u, err := url.Parse(target.URL)
	if err != nil {
		return nil, fmt.Errorf("parse Target.URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("Target.URL %q: want http(s)://host[:port]/", target.URL)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	u.RawQuery, u.Fragment = "", ""
	timeout := target.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	return &core{target: target, base: u, schema: schema, timeout: timeout, totpSteps: map[string]int64{}}, nil
}

// caller makes requests the way one kind of outpost call does: with a
// Bearer token (REST), or with a cookie jar and the outpost token header
// (flow executor and the session-authorised calls after it).
type caller struct {
	c            *core
	http         *http.Client
	bearer       string
	outpostToken string
	remoteIP     string
	header       http.Header // extra headers, e.g. X-authentik-outpost-ldap-query
}

// with returns a copy of cl that also sends header k: v.
func (cl *caller) with(k, v string) *caller {
	cp := *cl
	cp.header = cl.header.Clone()
	if cp.header == nil {
		cp.header = http.Header{}
	}
	cp.header.Set(k, v)
	return &cp
}

// bearer returns a caller authenticating with Authorization: Bearer token;
// an empty token sends no Authorization header.
func (c *core) bearer(token string) *caller {
	return &caller{c: c, http: c.httpClient(nil), bearer: token}
}

// session returns a caller with a fresh cookie jar that sends
// X-authentik-outpost-token and X-authentik-remote-ip like an outpost's
// flow executor (and no Authorization header).
func (c *core) session(t *testing.T, outpostToken string) *caller {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	ip := c.target.RemoteIP
	if ip == "" {
		ip = "192.0.2.10"
	}
	return &caller{c: c, http: c.httpClient(jar), outpostToken: outpostToken, remoteIP: ip}
}

func (c *core) httpClient(jar http.CookieJar) *http.Client {
	return &http.Client{
		Transport: c.target.Transport,
		Jar:       jar,
		Timeout:   c.timeout,
		// Redirects are part of what is checked (trailing slashes), so
		// they are never followed.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// apiURL is the absolute URL of path (relative to /api/v3, starting with
// "/") with query q.
func (c *core) apiURL(path string, q url.Values) *url.URL {
	u := *c.base
	u.Path = strings.TrimSuffix(c.base.Path, "/") + "/api/v3" + path
	u.RawQuery = q.Encode()
	return &u
}

// response is one exchange, kept raw for schema validation.
type response struct {
	method string
	path   string // relative to /api/v3, without query
	url    string
	status int
	header http.Header
	body   []byte
}

func (r *response) String() string { return r.method + " " + r.url }

// do sends one request. body, if not nil, is sent as JSON.
func (cl *caller) do(t *testing.T, method, path string, q url.Values, body any) *response {
	t.Helper()
	resp, err := cl.try(method, path, q, body)
	require.NoError(t, err)
	return resp
}

func (cl *caller) try(method, path string, q url.Values, body any) (*response, error) {
	u := cl.c.apiURL(path, q)
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("encode request body: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), cl.c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, fmt.Errorf("build %s %s: %w", method, u, err)
	}
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range cl.header {
		req.Header[k] = v
	}
	if cl.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+cl.bearer)
	}
	if cl.outpostToken != "" {
		req.Header.Set("X-authentik-outpost-token", cl.outpostToken)
	}
	if cl.remoteIP != "" {
		req.Header.Set("X-authentik-remote-ip", cl.remoteIP)
	}
	res, err := cl.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, u, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("%s %s: read body: %w", method, u, err)
	}
	if len(b) > maxBody {
		return nil, fmt.Errorf("%s %s: body over %d bytes", method, u, maxBody)
	}
	return &response{method: method, path: path, url: u.String(), status: res.StatusCode, header: res.Header, body: b}, nil
}

// expect checks the status, then validates the body against the schema for
// that status. It fails the test now when the status is wrong (nothing
// after it would make sense) and records schema problems without stopping.
func (cl *caller) expect(t *testing.T, r *response, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: status %d, want %d; body: %s", r, r.status, status, clip(r.body))
	}
	if err := cl.c.schema.ValidateResponse(r.method, r.path, r.status, r.body); err != nil {
		t.Errorf("%s: body does not match schema.yml:\n%v", r, err)
	}
}

// call is do + expect + decode into the generated client type T: what an
// outpost's generated client would do with the response.
func call[T any](t *testing.T, cl *caller, method, path string, q url.Values, body any) (T, *response) {
	t.Helper()
	r := cl.do(t, method, path, q, body)
	cl.expect(t, r, http.StatusOK)
	var out T
	if err := json.Unmarshal(r.body, &out); err != nil {
		t.Fatalf("%s: generated client type %T rejects the body: %v\nbody: %s", r, out, err, clip(r.body))
	}
	return out, r
}

// expectDenied checks a 403 with a GenericError body, as the generated
// client and authentik's DRF views produce.
func (cl *caller) expectDenied(t *testing.T, r *response) {
	t.Helper()
	cl.expect(t, r, http.StatusForbidden)
	var e struct {
		Detail *string `json:"detail"`
	}
	if err := json.Unmarshal(r.body, &e); err != nil || e.Detail == nil || *e.Detail == "" {
		t.Errorf(`%s: 403 body should be JSON {"detail": "..."}, got %s`, r, clip(r.body))
	}
}

// rawObject decodes a JSON object without the generated types, to look at
// what they cannot show (null versus [] versus absent).
func rawObject(t *testing.T, r *response, b []byte) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: not a JSON object: %v", r, err)
	}
	return m
}

func isNull(raw json.RawMessage) bool {
	return raw == nil || bytes.Equal(bytes.TrimSpace(raw), []byte("null"))
}

// isSecretField names fields redacted from bodies quoted in failure
// messages: test logs of a run against a real authentik must not carry its
// secrets (data is view_private_key's PEM).
func isSecretField(k string) bool {
	switch k {
	case "shared_secret", "client_secret", "cookie_secret", "key", "token", "password", "data":
		return true
	}
	return false
}

// clip quotes a body for a failure message: secrets redacted, length capped.
func clip(b []byte) string {
	var v any
	if err := json.Unmarshal(b, &v); err == nil {
		if red, err := json.Marshal(redact(v)); err == nil {
			b = red
		}
	}
	const limit = 2000
	if len(b) > limit {
		return string(b[:limit]) + "...(clipped)"
	}
	return string(b)
}

func redact(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if s, ok := val.(string); ok && isSecretField(k) && s != "" {
				x[k] = "<redacted>"
				continue
			}
			x[k] = redact(val)
		}
	case []any:
		for i := range x {
			x[i] = redact(x[i])
		}
	}
	return v
}
