package application

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"net/url"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"goauthentik.io/api/v3"

	"github.com/outpost-go/outposts/proxy-outpost/internal/fields"
	"github.com/outpost-go/outposts/proxy-outpost/session"
)

func ptr[T any](v T) *T { return &v }

func testConfig(mode api.ProxyMode, external, cookieDomain, skip string) api.ProxyOutpostConfig {
	return api.ProxyOutpostConfig{
		Pk: 1, Name: "p", ExternalHost: external, InternalHost: ptr("http://127.0.0.1:1"),
		ClientId: ptr("cid"), ClientSecret: ptr("secret"), CookieSecret: ptr("cookie-secret"),
		Mode: &mode, CookieDomain: ptr(cookieDomain), SkipPathRegex: ptr(skip),
		OidcConfiguration: api.OpenIDConnectConfiguration{
			Issuer: "http://core/application/o/p/", AuthorizationEndpoint: "http://core/application/o/authorize/",
			TokenEndpoint: "http://core/application/o/token/", JwksUri: "http://core/application/o/p/jwks/",
			EndSessionEndpoint: "http://core/application/o/p/end-session/", IntrospectionEndpoint: "http://core/application/o/introspect/",
		},
		ScopesToRequest: []string{"openid", "ak_proxy"}, AssignedApplicationSlug: "app",
		BasicAuthEnabled: ptr(true), BasicAuthPasswordAttribute: ptr("pw"), BasicAuthUserAttribute: ptr("user"),
	}
}

func newTestApp(t *testing.T, cfg api.ProxyOutpostConfig, deps Deps) *App {
	t.Helper()
	deps.Logger = zerolog.Nop()
	a, err := New(cfg, deps)
	require.NoError(t, err)
	return a
}

func TestCheckRedirect(t *testing.T) {
	t.Parallel()
	ext, _ := url.Parse("https://app.example.com")
	tests := []struct {
		name string
		mode api.ProxyMode
		rd   string
		want string
	}{
		{name: "same host", mode: api.PROXYMODE_PROXY, rd: "https://app.example.com/x?y=1", want: "https://app.example.com/x?y=1"},
		{name: "path only", mode: api.PROXYMODE_FORWARD_SINGLE, rd: "/x?y=1#frag", want: "https://app.example.com/x?y=1"},
		{name: "host case", mode: api.PROXYMODE_PROXY, rd: "https://APP.example.com/", want: "https://APP.example.com/"},
		{name: "other host", mode: api.PROXYMODE_PROXY, rd: "https://evil.example/"},
		{name: "suffix host", mode: api.PROXYMODE_PROXY, rd: "https://app.example.com.evil.example/"},
		{name: "scheme relative", mode: api.PROXYMODE_PROXY, rd: "//evil.example/"},
		{name: "backslash", mode: api.PROXYMODE_PROXY, rd: `/\evil.example`},
		{name: "userinfo", mode: api.PROXYMODE_PROXY, rd: "https://app.example.com@evil.example/"},
		{name: "userinfo on app", mode: api.PROXYMODE_PROXY, rd: "https://x@app.example.com/"},
		{name: "javascript", mode: api.PROXYMODE_PROXY, rd: "javascript:alert(1)"},
		{name: "control char", mode: api.PROXYMODE_PROXY, rd: "/x\r\nSet-Cookie: a=b"},
		{name: "tab in scheme", mode: api.PROXYMODE_PROXY, rd: "java\tscript:alert(1)"},
		{name: "relative path", mode: api.PROXYMODE_PROXY, rd: "x/y"},
		{name: "empty", mode: api.PROXYMODE_PROXY, rd: ""},
		{name: "domain: sub", mode: api.PROXYMODE_FORWARD_DOMAIN, rd: "https://wiki.example.com/a", want: "https://wiki.example.com/a"},
		{name: "domain: apex", mode: api.PROXYMODE_FORWARD_DOMAIN, rd: "http://example.com/", want: "http://example.com/"},
		{name: "domain: lookalike", mode: api.PROXYMODE_FORWARD_DOMAIN, rd: "https://evilexample.com/"},
		{name: "domain: suffix attack", mode: api.PROXYMODE_FORWARD_DOMAIN, rd: "https://example.com.evil.example/"},
		{name: "domain: ftp", mode: api.PROXYMODE_FORWARD_DOMAIN, rd: "ftp://wiki.example.com/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := CheckRedirect(tt.rd, tt.mode, ext, ".example.com")
			assert.Equal(t, tt.want != "", ok)
			assert.Equal(t, tt.want, got)
		})
	}
}

func FuzzCheckRedirect(f *testing.F) {
	for _, s := range []string{"https://app.example.com/x", "/x", "//evil", `/\evil`, "https://wiki.example.com/", "javascript:x", "https://a@b/"} {
		f.Add(s, true)
		f.Add(s, false)
	}
	ext, _ := url.Parse("https://app.example.com")
	f.Fuzz(func(t *testing.T, rd string, domain bool) {
		mode := api.PROXYMODE_PROXY
		if domain {
			mode = api.PROXYMODE_FORWARD_DOMAIN
		}
		got, ok := CheckRedirect(rd, mode, ext, "example.com")
		if !ok {
			return
		}
		u, err := url.Parse(got)
		if err != nil {
			t.Fatalf("accepted %q as unparsable %q", rd, got)
		}
		if u.Scheme != "http" && u.Scheme != "https" || u.User != nil || strings.ContainsAny(got, "\\\r\n\t") {
			t.Fatalf("accepted %q as %q", rd, got)
		}
		h := strings.ToLower(u.Hostname())
		if domain {
			if h != "example.com" && !strings.HasSuffix(h, ".example.com") {
				t.Fatalf("accepted %q outside the cookie domain: %q", rd, got)
			}
		} else if strings.ToLower(u.Host) != "app.example.com" {
			t.Fatalf("accepted %q off the external host: %q", rd, got)
		}
	})
}

func TestWantsJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		h    map[string]string
		want bool
	}{
		{h: map[string]string{"Accept": "text/html,application/xhtml+xml", "Sec-Fetch-Mode": "navigate"}},
		{h: map[string]string{}},
		{h: map[string]string{"Accept": "application/json"}, want: true},
		{h: map[string]string{"Accept": "application/json, text/html"}},
		{h: map[string]string{"X-Requested-With": "XMLHttpRequest"}, want: true},
		{h: map[string]string{"Sec-Fetch-Mode": "cors"}, want: true},
		{h: map[string]string{"Sec-Fetch-Mode": "no-cors"}, want: true},
	}
	for _, tt := range tests {
		h := http.Header{}
		for k, v := range tt.h {
			h.Set(k, v)
		}
		assert.Equal(t, tt.want, WantsJSON(h), "%v", tt.h)
	}
}

// TestDropForwarding: proxy mode forwards none of the client's identity
// headers, in any spelling, nor its forwarding headers (set anew).
func TestDropForwarding(t *testing.T) {
	t.Parallel()
	for _, k := range []string{"X-Authentik-Username", "X_authentik_username", "x-AUTHENTIK-meta-app", "X-authentik_Meta-Jwt",
		"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"} {
		assert.True(t, dropForwarding(k), k)
	}
	for _, k := range []string{"X-Other", "X-Authentik", "X-authentikx-a", "Authorization"} {
		assert.False(t, dropForwarding(k), k)
	}
	assert.True(t, dropForwardingAndAuthorization("Authorization"))
}

func TestIdentityHeaderMatchesCanonicalForm(t *testing.T) {
	t.Parallel()
	// The allocation-free check agrees with lower-casing and mapping '_'
	// to '-' first.
	for _, k := range []string{"", "X", "x-authentik-", "X-AUTHENTIK-A", "x_authentik_uid", "X-Authentik", "x-authentic-a", "Y-authentik-a", "x-authentik_", "X_Authentik-Meta"} {
		want := strings.HasPrefix(strings.ToLower(strings.ReplaceAll(k, "_", "-")), "x-authentik-")
		assert.Equal(t, want, isIdentityHeader(k), k)
	}
	for _, k := range IdentityHeaders {
		assert.True(t, isIdentityHeader(k), k)
	}
}

func TestSkipPathSemantics(t *testing.T) {
	t.Parallel()
	u, _ := url.Parse("https://wiki.example.com/public/a?x=1")
	// The path in proxy and forward_single mode, the full URL in forward_domain.
	single := newTestApp(t, testConfig(api.PROXYMODE_FORWARD_SINGLE, "https://wiki.example.com", "", "^/public/\n(invalid\n\n^https://wiki"), Deps{})
	assert.Equal(t, "^/public/", single.skipMatch(u))
	assert.Len(t, single.skip, 2, "the invalid line is ignored")
	domain := newTestApp(t, testConfig(api.PROXYMODE_FORWARD_DOMAIN, "https://auth.example.com", "example.com", "^/public/\n^https://wiki\\.example\\.com/public/"), Deps{})
	assert.Equal(t, `^https://wiki\.example\.com/public/`, domain.skipMatch(u))
}

func FuzzSkipPathRegex(f *testing.F) {
	f.Add("^/public/\n^/api/health$", "/public/x")
	f.Add("(", "/")
	f.Add("\r\n\n", "https://x/")
	f.Fuzz(func(t *testing.T, regex, path string) {
		a, err := New(testConfig(api.PROXYMODE_FORWARD_DOMAIN, "https://auth.example.com", "example.com", regex), Deps{Logger: zerolog.Nop()})
		if err != nil {
			t.Fatal(err)
		}
		u, err := url.Parse(path)
		if err != nil {
			return
		}
		_ = a.skipMatch(u)
	})
}

func TestIdentityHeaders(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, testConfig(api.PROXYMODE_PROXY, "https://app.example.com", "", ""), Deps{OutpostName: "o", Version: "1.0"})
	h := http.Header{}
	a.setIdentityHeaders(h, &session.Claims{
		Sub: "uid", PreferredUsername: "alice", Email: "a@example.com", Name: "Alice", Groups: []string{"g1", "g2"},
		Entitlements: []string{"e1"},
		Proxy: &session.ProxyClaims{UserAttributes: map[string]any{
			"pw": "pass", "user": "alice-up",
			"additionalHeaders": map[string]any{"X-Num": 5.0, "Bad Name": "x", "X-Inject": "a\r\nb"},
		}},
	}, "raw")
	assert.Equal(t, "alice", h.Get("X-Authentik-Username"))
	assert.Equal(t, "g1|g2", h.Get("X-Authentik-Groups"))
	assert.Equal(t, "e1", h.Get("X-Authentik-Entitlements"))
	assert.Equal(t, "uid", h.Get("X-Authentik-Uid"))
	assert.Equal(t, "raw", h.Get("X-Authentik-Jwt"))
	assert.Equal(t, "goauthentik.io/outpost/1.0", h.Get("X-Authentik-Meta-Version"))
	assert.Equal(t, "Basic "+base64.StdEncoding.EncodeToString([]byte("alice-up:pass")), h.Get("Authorization"))
	assert.Equal(t, "5", h.Get("X-Num"))
	assert.Empty(t, h.Get("X-Inject"))
	for _, name := range IdentityHeaders {
		_, ok := h[http.CanonicalHeaderKey(name)]
		assert.True(t, ok, name)
	}
}

func TestUnknownStateGetsARestartPage(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, testConfig(api.PROXYMODE_PROXY, "https://app.example.com", "", ""), Deps{})
	w := httptest.NewRecorder()
	a.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "https://app.example.com/any?X-authentik-auth-callback=true&state=nope&code=x", nil))
	assert.Equal(t, http.StatusBadRequest, w.Code)
	assert.Contains(t, w.Body.String(), "/outpost.goauthentik.io/start?rd=")
}

func TestForwardWithoutURLIsAConfigurationError(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, testConfig(api.PROXYMODE_FORWARD_SINGLE, "https://app.example.com", "", ""), Deps{})
	for _, p := range []string{PathNginx, PathTraefik, PathCaddy} {
		w := httptest.NewRecorder()
		a.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "http://outpost"+p, nil))
		assert.Equal(t, http.StatusInternalServerError, w.Code, p)
	}
}

// A peer that is not a trusted proxy cannot choose the URL being
// authorised (oauth2-proxy GHSA-7x63-xv5r-3p2x): its X-Forwarded-Uri is
// ignored, so skip_path_regex cannot be reached by spoofing it.
func TestSpoofedForwardedURIFromUntrustedPeer(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, testConfig(api.PROXYMODE_FORWARD_SINGLE, "https://app.example.com", "", "^/public/"), Deps{})
	r := httptest.NewRequest(http.MethodGet, "http://outpost"+PathTraefik, nil)
	r.Header.Set("X-Forwarded-Host", "app.example.com")
	r.Header.Set("X-Forwarded-Uri", "/public/x")
	w := httptest.NewRecorder()
	a.ServeHTTP(w, r)
	assert.NotEqual(t, http.StatusOK, w.Code)

	trusted := newTestApp(t, testConfig(api.PROXYMODE_FORWARD_SINGLE, "https://app.example.com", "", "^/public/"), Deps{Trusted: func(*http.Request) bool { return true }})
	w = httptest.NewRecorder()
	trusted.ServeHTTP(w, r)
	assert.Equal(t, http.StatusOK, w.Code)
}

func TestCookieNameAndFlags(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, testConfig(api.PROXYMODE_FORWARD_DOMAIN, "https://auth.example.com", ".Example.com", ""), Deps{})
	assert.Regexp(t, `^authentik_proxy_[0-9a-f]{8}$`, a.CookieName())
	w := httptest.NewRecorder()
	a.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "https://auth.example.com"+PathStart+"?rd=https://wiki.example.com/", nil))
	require.Equal(t, http.StatusFound, w.Code)
	c := w.Result().Cookies()
	require.Len(t, c, 1)
	assert.True(t, c[0].Secure)
	assert.True(t, c[0].HttpOnly)
	assert.Equal(t, http.SameSiteLaxMode, c[0].SameSite)
	assert.Equal(t, "example.com", c[0].Domain)
	loc, err := url.Parse(w.Header().Get("Location"))
	require.NoError(t, err)
	q := loc.Query()
	assert.Equal(t, "S256", q.Get("code_challenge_method"))
	assert.NotEmpty(t, q.Get("code_challenge"))
	assert.NotEmpty(t, q.Get("nonce"))
	assert.Equal(t, "https://auth.example.com/outpost.goauthentik.io/callback?X-authentik-auth-callback=true", q.Get("redirect_uri"))
}

func TestHostBrowser(t *testing.T) {
	t.Parallel()
	hb, _ := url.Parse("https://auth.example.com/")
	a := newTestApp(t, testConfig(api.PROXYMODE_PROXY, "https://app.example.com", "", ""), Deps{HostBrowser: hb})
	w := httptest.NewRecorder()
	a.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "https://app.example.com"+PathStart, nil))
	assert.True(t, strings.HasPrefix(w.Header().Get("Location"), "https://auth.example.com/application/o/authorize/?"), w.Header().Get("Location"))
	w = httptest.NewRecorder()
	a.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "https://app.example.com"+PathSignOut, nil))
	assert.Equal(t, "https://auth.example.com/application/o/p/end-session/", w.Header().Get("Location"))
}

func TestTraefikHandler(t *testing.T) {
	t.Parallel()
	trust := Deps{Trusted: func(*http.Request) bool { return true }}
	a := newTestApp(t, testConfig(api.PROXYMODE_FORWARD_SINGLE, "https://app.example.com", "", "^/public/"), trust)
	fwd := func(uri string, h map[string]string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, "http://outpost"+PathTraefik, nil)
		r.Header.Set("X-Forwarded-Proto", "https")
		r.Header.Set("X-Forwarded-Host", "app.example.com")
		r.Header.Set("X-Forwarded-Uri", uri)
		for k, v := range h {
			r.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		a.ServeHTTP(w, r)
		return w
	}
	// Unauthenticated: straight to authentik, coming back to the URL.
	w := fwd("/private?x=1", nil)
	require.Equal(t, http.StatusFound, w.Code)
	assert.True(t, strings.HasPrefix(w.Header().Get("Location"), "http://core/application/o/authorize/?"))
	// API callers get JSON.
	w = fwd("/private", map[string]string{"Accept": "application/json"})
	assert.Equal(t, http.StatusUnauthorized, w.Code)
	assert.Contains(t, w.Body.String(), `"login_url":"https://app.example.com/outpost.goauthentik.io/start?rd=`)
	// skip_path_regex and the outpost's own paths pass.
	assert.Equal(t, http.StatusOK, fwd("/public/a", nil).Code)
	assert.Equal(t, http.StatusOK, fwd("/outpost.goauthentik.io/start", nil).Code)
	// The callback marker in the forwarded URL is the callback.
	w = fwd("/x?X-authentik-auth-callback=true&state=unknown&code=c", nil)
	assert.Equal(t, http.StatusBadRequest, w.Code)
	assert.Contains(t, w.Body.String(), "Log in again")
	// The logout marker signs out.
	w = fwd("/x?X-authentik-logout=true", nil)
	assert.Equal(t, http.StatusFound, w.Code)
	assert.Equal(t, "http://core/application/o/p/end-session/", w.Header().Get("Location"))
}

func TestEnvoyHandler(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, testConfig(api.PROXYMODE_FORWARD_SINGLE, "http://app.example.com", "", "^/public/"), Deps{})
	call := func(path string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, "http://app.example.com"+PathEnvoy+path, nil)
		w := httptest.NewRecorder()
		a.ServeHTTP(w, r)
		return w
	}
	w := call("/private?x=1")
	require.Equal(t, http.StatusFound, w.Code)
	assert.Equal(t, "http://app.example.com/outpost.goauthentik.io/start?rd="+url.QueryEscape("http://app.example.com/private?x=1"), w.Header().Get("Location"))
	assert.Equal(t, http.StatusOK, call("/public/logo.png").Code)
	assert.Equal(t, http.StatusOK, call("/outpost.goauthentik.io/callback").Code)
}

func TestDiagnostics(t *testing.T) {
	t.Parallel()
	off := newTestApp(t, testConfig(api.PROXYMODE_FORWARD_SINGLE, "https://app.example.com", "", ""), Deps{})
	w := httptest.NewRecorder()
	off.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "https://app.example.com"+PathDebug, nil))
	assert.Equal(t, http.StatusNotFound, w.Code)

	on := newTestApp(t, testConfig(api.PROXYMODE_FORWARD_SINGLE, "https://app.example.com", "", "^/public/"), Deps{Diagnostics: true, Trusted: func(*http.Request) bool { return true }})
	r := httptest.NewRequest(http.MethodGet, "https://app.example.com"+PathDebug, nil)
	r.Header.Set("X-Forwarded-Host", "app.example.com")
	r.Header.Set("X-Forwarded-Uri", "/public/x")
	r.AddCookie(&http.Cookie{Name: on.CookieName(), Value: "forged"})
	w = httptest.NewRecorder()
	on.ServeHTTP(w, r)
	require.Equal(t, http.StatusOK, w.Code)
	var got struct {
		Decision  Decision `json:"decision"`
		URLSource string   `json:"url_source"`
		Trusted   bool     `json:"trusted_peer"`
	}
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &got))
	assert.True(t, got.Decision.Allowed)
	assert.Equal(t, RuleSkipPath, got.Decision.Rule)
	assert.Equal(t, SessionInvalid, got.Decision.Session)
	assert.Equal(t, "x-forwarded", got.URLSource)
	assert.NotContains(t, w.Body.String(), "forged")
}

func TestInternalHostSSLValidation(t *testing.T) {
	t.Parallel()
	up := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("user=" + r.Header.Get("X-Authentik-Username")))
	}))
	t.Cleanup(up.Close)
	for _, validate := range []bool{true, false} {
		cfg := testConfig(api.PROXYMODE_PROXY, "https://app.example.com", "", "")
		cfg.InternalHost = ptr(up.URL)
		cfg.InternalHostSslValidation = ptr(validate)
		a := newTestApp(t, cfg, Deps{})
		id, err := a.sessions.NewID()
		require.NoError(t, err)
		require.NoError(t, a.sessions.Save(t.Context(), id, &session.Session{Claims: session.Claims{Sub: "u", PreferredUsername: "alice"}}))
		r := httptest.NewRequest(http.MethodGet, "https://app.example.com/x", nil)
		r.AddCookie(&http.Cookie{Name: a.CookieName(), Value: id.Cookie()})
		r.Header.Set("X-Authentik-Username", "spoofed")
		w := httptest.NewRecorder()
		a.ServeHTTP(w, r)
		if validate {
			// The test server's certificate is not trusted.
			assert.Equal(t, http.StatusBadGateway, w.Code)
			continue
		}
		assert.Equal(t, http.StatusOK, w.Code)
		assert.Equal(t, "user=alice", w.Body.String())
		assert.Equal(t, "goauthentik.io", w.Header().Get("X-Powered-By"))
	}
}

// TestProxyModeIdentityHeaders: whatever identity headers a client sends,
// in any spelling and even when it names them in Connection (hop-by-hop,
// which ReverseProxy removes), the application receives the session's.
func TestProxyModeIdentityHeaders(t *testing.T) {
	t.Parallel()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{
			"user":       r.Header.Values("X-Authentik-Username"),
			"underscore": r.Header.Values("X_authentik_username"),
			"uid":        r.Header.Values("X-Authentik-Uid"),
			"other":      r.Header.Get("X-Other"),
		})
	}))
	t.Cleanup(up.Close)
	cfg := testConfig(api.PROXYMODE_PROXY, "http://app.example.com", "", "^/public")
	cfg.InternalHost = ptr(up.URL)
	a := newTestApp(t, cfg, Deps{})
	id, err := a.sessions.NewID()
	require.NoError(t, err)
	require.NoError(t, a.sessions.Save(t.Context(), id, &session.Session{Claims: session.Claims{Sub: "u1", PreferredUsername: "alice"}}))
	tests := []struct {
		name    string
		path    string
		session bool
		headers map[string]string
		user    []string
		uid     []string
	}{
		{name: "spoofed", path: "/x", session: true,
			headers: map[string]string{"X-Authentik-Username": "mallory", "X-Authentik-Uid": "m"}, user: []string{"alice"}, uid: []string{"u1"}},
		{name: "named in Connection", path: "/x", session: true,
			headers: map[string]string{"X-Authentik-Username": "mallory", "Connection": "X-Authentik-Username, X-Authentik-Uid"}, user: []string{"alice"}, uid: []string{"u1"}},
		{name: "underscore spelling", path: "/x", session: true,
			headers: map[string]string{"X_authentik_username": "mallory"}, user: []string{"alice"}, uid: []string{"u1"}},
		{name: "skipped path without session", path: "/public",
			headers: map[string]string{"X-Authentik-Username": "mallory", "X-Authentik-Uid": "m"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodGet, "http://app.example.com"+tt.path, nil)
			if tt.session {
				r.AddCookie(&http.Cookie{Name: a.CookieName(), Value: id.Cookie()})
			}
			r.Header.Set("X-Other", "kept")
			for k, v := range tt.headers {
				r.Header[k] = []string{v}
			}
			before := r.Header.Clone()
			w := httptest.NewRecorder()
			a.ServeHTTP(w, r)
			require.Equal(t, http.StatusOK, w.Code, w.Body.String())
			var got struct {
				User, Underscore, UID []string
				Other                 string
			}
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &got))
			assert.Equal(t, tt.user, got.User)
			assert.Empty(t, got.Underscore)
			assert.Equal(t, tt.uid, got.UID)
			assert.Equal(t, "kept", got.Other)
			assert.Equal(t, before, r.Header, "the incoming request is not changed")
		})
	}
}

// parseFields reads "Name: value\r\n" lines as a header.
func parseFields(t *testing.T, block []byte) http.Header {
	t.Helper()
	h, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(append(block, "\r\n"...)))).ReadMIMEHeader()
	require.NoError(t, err)
	return http.Header(h)
}

// TestIdentityFieldsMatchTheMap: the rendered identity fields are what the
// header map path sends, sanitised the same way.
func TestIdentityFieldsMatchTheMap(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, testConfig(api.PROXYMODE_PROXY, "https://app.example.com", "", ""), Deps{OutpostName: "o", Version: "1.0"})
	tests := []struct {
		name   string
		claims session.Claims
		token  string
	}{
		{"plain", session.Claims{Sub: "uid", PreferredUsername: "alice", Email: "a@example.com", Name: "Alice", Groups: []string{"g1", "g2"}, Entitlements: []string{"e1"}}, "raw"},
		{"empty", session.Claims{Sub: "uid"}, ""},
		{"CR LF and spaces", session.Claims{Sub: "u", PreferredUsername: " alice\r\nX-Admin: 1 ", Name: "a\nb", Groups: []string{"x\r"}}, "t\r\nX-Injected: 1"},
		{"attributes besides", session.Claims{Sub: "u", PreferredUsername: "bob", Proxy: &session.ProxyClaims{UserAttributes: map[string]any{
			"additionalHeaders": map[string]any{"X-Other": "o"}}}}, "raw"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			block := a.identityFields(&tt.claims, tt.token)
			require.NotNil(t, block)
			assert.NotContains(t, strings.TrimSuffix(string(block), "\r\n"), "\r\n\r\n")
			h := http.Header{}
			a.setIdentityHeaders(h, &tt.claims, tt.token)
			var buf bytes.Buffer
			bw := bufio.NewWriter(&buf)
			fields.WriteAll(bw, h, func(k string) bool { return !isIdentityHeader(k) })
			require.NoError(t, bw.Flush())
			assert.Equal(t, parseFields(t, buf.Bytes()), parseFields(t, block))
		})
	}
	t.Run("additionalHeaders replacing an identity header", func(t *testing.T) {
		t.Parallel()
		c := session.Claims{Sub: "u", PreferredUsername: "bob", Proxy: &session.ProxyClaims{UserAttributes: map[string]any{
			"additionalHeaders": map[string]any{"x-authentik-username": "robert"}}}}
		assert.Nil(t, a.identityFields(&c, ""), "only the map can replace the value")
	})
}

// appendRecorder is a ResponseWriter that takes pre-rendered fields, as
// http1's does.
type appendRecorder struct {
	*httptest.ResponseRecorder
	fields []byte
}

func (r *appendRecorder) AppendFields(b []byte) { r.fields = append(r.fields, b...) }

// TestForwardAuthRenderedIdentity: with a writer that takes rendered
// fields, a forward-auth answer carries the same identity as with the map,
// and an additionalHeaders value replacing an identity header still wins.
func TestForwardAuthRenderedIdentity(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, testConfig(api.PROXYMODE_FORWARD_SINGLE, "https://app.example.com", "", ""), Deps{OutpostName: "o", Version: "1.0"})
	login := func(attrs map[string]any) *http.Request {
		id, err := a.sessions.NewID()
		require.NoError(t, err)
		require.NoError(t, a.sessions.Save(t.Context(), id, &session.Session{Claims: session.Claims{Sub: "u1", PreferredUsername: "alice",
			Groups: []string{"g"}, Proxy: &session.ProxyClaims{UserAttributes: attrs}}, RawToken: "tok"}))
		r := httptest.NewRequest(http.MethodGet, "http://app.example.com"+PathNginx, nil)
		r.Header.Set("X-Original-URL", "https://app.example.com/x")
		r.Header.Set("User-Agent", "ua")
		r.AddCookie(&http.Cookie{Name: a.CookieName(), Value: id.Cookie()})
		return r
	}
	serve := func(r *http.Request) (http.Header, http.Header) {
		w := &appendRecorder{ResponseRecorder: httptest.NewRecorder()}
		a.ServeHTTP(w, r)
		require.Equal(t, http.StatusOK, w.Code)
		plain := httptest.NewRecorder()
		a.ServeHTTP(plain, r)
		require.Equal(t, http.StatusOK, plain.Code)
		got := w.Header().Clone()
		for k, vv := range parseFields(t, w.fields) {
			got[k] = append(got[k], vv...)
		}
		return got, plain.Header()
	}

	r := login(map[string]any{"pw": "pass", "additionalHeaders": map[string]any{"X-Team": "blue"}})
	got, want := serve(r)
	assert.Equal(t, want, got)
	assert.Equal(t, []string{"alice"}, got.Values("X-Authentik-Username"))
	assert.Equal(t, []string{"tok"}, got.Values("X-Authentik-Jwt"))
	assert.Equal(t, []string{"blue"}, got.Values("X-Team"))
	assert.Equal(t, []string{"ua"}, got.Values("User-Agent"))
	assert.NotEmpty(t, got.Get("Authorization"))
	// Rendered once, the same for the next check.
	again, _ := serve(r)
	assert.Equal(t, got, again)

	got, want = serve(login(map[string]any{"additionalHeaders": map[string]any{"X-authentik-username": "robert"}}))
	assert.Equal(t, want, got)
	assert.Equal(t, []string{"robert"}, got.Values("X-Authentik-Username"))
}

// TestCookieID: the session cookie is found among others as net/http's
// parser reads cookies; a value the store refuses never counts.
func TestCookieID(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, testConfig(api.PROXYMODE_FORWARD_SINGLE, "https://app.example.com", "", ""), Deps{})
	id, err := a.sessions.NewID()
	require.NoError(t, err)
	name, v := a.CookieName(), id.Cookie()
	// One character in the middle changed: the last one may carry unused
	// bits, and a fixed replacement may equal it.
	mid := len(v) / 2
	swap := byte('A')
	if v[mid] == swap {
		swap = 'B'
	}
	tampered := v[:mid] + string(swap) + v[mid+1:]
	tests := []struct {
		name    string
		cookies []string
		want    SessionState
	}{
		{"no cookie", nil, SessionNone},
		{"other cookies only", []string{"a=1; b=2"}, SessionNone},
		{"alone", []string{name + "=" + v}, SessionValid},
		{"among others", []string{"a=1; " + name + "=" + v + "; b=2"}, SessionValid},
		{"second line", []string{"a=1", name + "=" + v}, SessionValid},
		{"quoted", []string{name + `="` + v + `"`}, SessionValid},
		{"spaces around", []string{"a=1 ;  " + name + "=" + v + "  "}, SessionValid},
		{"invalid value", []string{name + "=garbage"}, SessionInvalid},
		{"tampered", []string{name + "=" + tampered}, SessionInvalid},
		{"invalid then valid", []string{name + "=garbage; " + name + "=" + v}, SessionValid},
		{"name prefix only", []string{name + "x=" + v}, SessionNone},
		{"no value", []string{name}, SessionNone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodGet, "http://app.example.com/", nil)
			r.Header["Cookie"] = tt.cookies
			got, state := a.cookieID(r)
			assert.Equal(t, tt.want, state)
			if tt.want == SessionValid {
				assert.Equal(t, id.Key(), got.Key())
			} else {
				assert.True(t, got.IsZero())
			}
		})
	}
}
