package devcore_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/outpost-go/outposts/authclient/devcore/devcoretest"
	"github.com/outpost-go/outposts/authclient/events"
	"github.com/outpost-go/outposts/authclient/totp"
)

// oidcExtra adds to the demo an RS256 provider (an RSA key given inline),
// an HS256 provider (no signing key) and an app password for alice.
const oidcExtra = `version: 1
entries:
  - model: authentik_crypto.certificatekeypair
    id: rsa
    identifiers: {name: test rsa key}
    attrs:
      certificate_data: |
%s
      key_data: |
%s
  - model: authentik_providers_proxy.proxyprovider
    id: rs
    identifiers: {name: rs-provider}
    attrs:
      authorization_flow: !Find [authentik_flows.flow, [slug, default-provider-authorization-implicit-consent]]
      invalidation_flow: !Find [authentik_flows.flow, [slug, default-provider-invalidation-flow]]
      external_host: https://rs.example.com/sub
      client_id: rs-client
      client_secret: rs-secret
      mode: forward_single
      signing_key: !KeyOf rsa
      access_token_validity: minutes=5
  - model: authentik_core.application
    id: rs-app
    identifiers: {slug: rs-app}
    attrs: {name: RS App, provider: !KeyOf rs}
  - model: authentik_providers_proxy.proxyprovider
    id: hs
    identifiers: {name: hs-provider}
    attrs:
      authorization_flow: !Find [authentik_flows.flow, [slug, default-provider-authorization-implicit-consent]]
      invalidation_flow: !Find [authentik_flows.flow, [slug, default-provider-invalidation-flow]]
      external_host: https://hs.example.com
      client_id: hs-client
      client_secret: hs-secret
      mode: forward_domain
      cookie_domain: example.com
  - model: authentik_core.application
    id: hs-app
    identifiers: {slug: hs-app}
    attrs: {name: HS App, provider: !KeyOf hs}
  - {model: authentik_policies.policybinding, identifiers: {target: !KeyOf rs-app, group: !Find [authentik_core.group, [name, engineering]]}, attrs: {order: 0}}
  - {model: authentik_policies.policybinding, identifiers: {target: !KeyOf hs-app, group: !Find [authentik_core.group, [name, engineering]]}, attrs: {order: 0}}
  - model: authentik_core.token
    identifiers: {identifier: alice-app-password}
    attrs:
      user: !Find [authentik_core.user, [username, alice]]
      intent: app_password
      key: alice-app-password-key
      expiring: false
`

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = prefix + l
	}
	return strings.Join(lines, "\n")
}

func rsaPEM(t testing.TB) (certPEM, keyPEM string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "test rsa key"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	certPEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	keyPEM = string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))
	return certPEM, keyPEM
}

func startOIDCCore(t *testing.T) *devcoretest.Core {
	t.Helper()
	cert, key := rsaPEM(t)
	extra := fmt.Sprintf(oidcExtra, indent(cert, "        "), indent(key, "        "))
	return devcoretest.Start(t, devcoretest.WithDemo(), devcoretest.WithBlueprint("oidc.yaml", extra))
}

// oidcClient describes one proxy provider as a relying party sees it.
type oidcClient struct {
	slug, id, secret, redirect string
}

func demoClient(t *testing.T, c *devcoretest.Core) oidcClient {
	t.Helper()
	for _, p := range c.Server.Directory().ProxyProviders {
		if p.Name == "proxy-provider" {
			return oidcClient{slug: "proxy", id: p.ClientID, secret: p.ClientSecret,
				redirect: p.ExternalHost + "/outpost.goauthentik.io/callback?X-authentik-auth-callback=true"}
		}
	}
	t.Fatal("demo proxy provider missing")
	return oidcClient{}
}

var (
	rsClient = oidcClient{slug: "rs-app", id: "rs-client", secret: "rs-secret",
		redirect: "https://rs.example.com/outpost.goauthentik.io/callback?X-authentik-auth-callback=true"}
	hsClient = oidcClient{slug: "hs-app", id: "hs-client", secret: "hs-secret",
		redirect: "https://hs.example.com/outpost.goauthentik.io/callback?X-authentik-auth-callback=true"}
)

// browser is an HTTP client with a cookie jar that stops at redirects so
// the test sees each hop.
type browser struct {
	t    *testing.T
	core string
	c    *http.Client
}

func newBrowser(t *testing.T, core *devcoretest.Core) *browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &browser{t: t, core: strings.TrimSuffix(core.URL, "/"), c: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       30 * time.Second,
	}}
}

type page struct {
	status   int
	location string
	body     string
	header   http.Header
}

func (b *browser) do(method, target string, form url.Values) page {
	b.t.Helper()
	if strings.HasPrefix(target, "/") {
		target = b.core + target
	}
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(context.Background(), method, target, body)
	require.NoError(b.t, err)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.c.Do(req)
	require.NoError(b.t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(b.t, err)
	return page{status: resp.StatusCode, location: resp.Header.Get("Location"), body: string(data), header: resp.Header}
}

type authRequest struct {
	client                 oidcClient
	state, nonce, verifier string
	method                 string // "", "S256" or "plain"
	scope                  string
}

func (a authRequest) url() string {
	q := url.Values{
		"client_id":     {a.client.id},
		"redirect_uri":  {a.client.redirect},
		"response_type": {"code"},
		"scope":         {orStr(a.scope, "openid profile email ak_proxy entitlements")},
		"state":         {a.state},
		"nonce":         {a.nonce},
	}
	switch a.method {
	case "S256":
		sum := sha256.Sum256([]byte(a.verifier))
		q.Set("code_challenge", base64.RawURLEncoding.EncodeToString(sum[:]))
		q.Set("code_challenge_method", "S256")
	case "plain":
		q.Set("code_challenge", a.verifier)
		q.Set("code_challenge_method", "plain")
	}
	return "/application/o/authorize/?" + q.Encode()
}

func orStr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// login runs authorize → login page → the given form posts → authorize
// and returns the last answer (a redirect to the client, or an error
// page).
func (b *browser) login(a authRequest, steps ...url.Values) page {
	b.t.Helper()
	p := b.do(http.MethodGet, a.url(), nil)
	require.Equal(b.t, http.StatusFound, p.status, p.body)
	require.True(b.t, strings.HasPrefix(p.location, "/if/flow/default-authentication-flow/?next="), p.location)
	loginURL := p.location
	p = b.do(http.MethodGet, loginURL, nil)
	require.Equal(b.t, http.StatusOK, p.status, p.body)
	require.Contains(b.t, p.body, `name="uid_field"`)
	for _, form := range steps {
		p = b.do(http.MethodPost, loginURL, form)
		if p.status != http.StatusOK {
			break
		}
	}
	if p.status != http.StatusFound {
		return p
	}
	require.True(b.t, strings.HasPrefix(p.location, "/application/o/authorize/"), p.location)
	return b.do(http.MethodGet, p.location, nil)
}

func codeFrom(t *testing.T, p page, a authRequest) string {
	t.Helper()
	require.Equal(t, http.StatusFound, p.status, p.body)
	require.True(t, strings.HasPrefix(p.location, a.client.redirect[:strings.Index(a.client.redirect, "?")]), p.location)
	u, err := url.Parse(p.location)
	require.NoError(t, err)
	assert.Equal(t, "true", u.Query().Get("X-authentik-auth-callback"))
	assert.Equal(t, a.state, u.Query().Get("state"))
	code := u.Query().Get("code")
	require.NotEmpty(t, code)
	return code
}

func postToken(t *testing.T, core *devcoretest.Core, form url.Values, basicID, basicSecret string) (int, map[string]any) {
	t.Helper()
	return postForm(t, core.URL+"application/o/token/", form, basicID, basicSecret)
}

func postForm(t *testing.T, target string, form url.Values, basicID, basicSecret string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, target, strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicID != "" {
		req.SetBasicAuth(url.QueryEscape(basicID), url.QueryEscape(basicSecret))
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(data, &m), string(data))
	return resp.StatusCode, m
}

func exchange(t *testing.T, core *devcoretest.Core, a authRequest, code, verifier string) (int, map[string]any) {
	t.Helper()
	form := url.Values{
		"grant_type":   {"authorization_code"},
		"code":         {code},
		"redirect_uri": {a.client.redirect},
	}
	if verifier != "" {
		form.Set("code_verifier", verifier)
	}
	form.Set("client_id", a.client.id)
	form.Set("client_secret", a.client.secret)
	return postToken(t, core, form, "", "")
}

// verifyJWT checks raw against the provider's JWKS, or the client secret
// for HS256, the way the proxy outpost does, and returns its claims.
func verifyJWT(t *testing.T, core *devcoretest.Core, cl oidcClient, raw, wantAlg string) jwt.MapClaims {
	t.Helper()
	disc := discovery(t, core, cl.slug)
	algs := disc["id_token_signing_alg_values_supported"].([]any)
	require.Equal(t, []any{wantAlg}, algs)
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(raw, claims, func(tok *jwt.Token) (any, error) {
		if wantAlg == "HS256" {
			return []byte(cl.secret), nil
		}
		return jwksKey(t, disc["jwks_uri"].(string), tok.Header["kid"])
	}, jwt.WithValidMethods([]string{wantAlg}), jwt.WithIssuer(disc["issuer"].(string)), jwt.WithAudience(cl.id), jwt.WithExpirationRequired())
	require.NoError(t, err)
	return claims
}

func discovery(t *testing.T, core *devcoretest.Core, slug string) map[string]any {
	t.Helper()
	status, body := rawGet(t, core.URL+"application/o/"+slug+"/.well-known/openid-configuration", "")
	require.Equal(t, http.StatusOK, status, body)
	return mustJSON(t, body)
}

// jwksKey decodes the JWKS entry with kid (RSA or EC) into a public key.
func jwksKey(t *testing.T, jwksURI string, kid any) (any, error) {
	status, body := rawGet(t, jwksURI, "")
	require.Equal(t, http.StatusOK, status)
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &set))
	for _, k := range set.Keys {
		if k["kid"] != kid {
			continue
		}
		dec := func(name string) *big.Int {
			b, err := base64.RawURLEncoding.DecodeString(k[name].(string))
			require.NoError(t, err)
			return new(big.Int).SetBytes(b)
		}
		// x5c must hold the same public key.
		x5c := k["x5c"].([]any)
		der, err := base64.StdEncoding.DecodeString(x5c[0].(string))
		require.NoError(t, err)
		cert, err := x509.ParseCertificate(der)
		require.NoError(t, err)
		switch k["kty"] {
		case "RSA":
			pub := &rsa.PublicKey{N: dec("n"), E: int(dec("e").Int64())}
			require.True(t, pub.Equal(cert.PublicKey))
			return pub, nil
		case "EC":
			certKey := cert.PublicKey.(*ecdsa.PublicKey)
			pub := &ecdsa.PublicKey{Curve: certKey.Curve, X: dec("x"), Y: dec("y")}
			require.True(t, pub.Equal(certKey))
			return pub, nil
		}
	}
	return nil, fmt.Errorf("kid %v not in JWKS", kid)
}

func alice() []url.Values {
	return []url.Values{{"uid_field": {"alice"}}, {"password": {"alice-password"}}}
}

func TestOIDCDiscovery(t *testing.T) {
	t.Parallel()
	core := startOIDCCore(t)
	for _, tc := range []struct {
		slug, alg string
	}{{"proxy", "ES256"}, {"rs-app", "RS256"}, {"hs-app", "HS256"}} {
		d := discovery(t, core, tc.slug)
		base := core.URL + "application/o/"
		assert.Equal(t, base+tc.slug+"/", d["issuer"])
		assert.Equal(t, base+"authorize/", d["authorization_endpoint"])
		assert.Equal(t, base+"token/", d["token_endpoint"])
		assert.Equal(t, base+"userinfo/", d["userinfo_endpoint"])
		assert.Equal(t, base+"introspect/", d["introspection_endpoint"])
		assert.Equal(t, base+tc.slug+"/jwks/", d["jwks_uri"])
		assert.Equal(t, base+tc.slug+"/end-session/", d["end_session_endpoint"])
		assert.Equal(t, []any{tc.alg}, d["id_token_signing_alg_values_supported"])
		assert.Contains(t, d["code_challenge_methods_supported"], "S256")
	}
	// The outpost API advertises the same endpoints and algorithm.
	status, body := rawGet(t, core.URL+"api/v3/outposts/proxy/", "Bearer "+core.Token("proxy-outpost"))
	require.Equal(t, http.StatusOK, status)
	res := mustJSON(t, body)["results"].([]any)[0].(map[string]any)["oidc_configuration"].(map[string]any)
	assert.Equal(t, core.URL+"application/o/proxy/", res["issuer"])
	assert.Equal(t, []any{"ES256"}, res["id_token_signing_alg_values_supported"])

	status, _ = rawGet(t, core.URL+"application/o/nope/.well-known/openid-configuration", "")
	assert.Equal(t, http.StatusNotFound, status)
	status, body = rawGet(t, core.URL+"application/o/hs-app/jwks/", "")
	assert.Equal(t, http.StatusOK, status)
	assert.JSONEq(t, `{"keys":[]}`, body)
}

func TestOIDCCodeFlow(t *testing.T) {
	t.Parallel()
	core := startOIDCCore(t)
	demo := demoClient(t, core)
	for _, tc := range []struct {
		name   string
		client oidcClient
		alg    string
		method string
	}{
		{"es256 s256", demo, "ES256", "S256"},
		{"rs256 plain", rsClient, "RS256", "plain"},
		{"hs256 no pkce", hsClient, "HS256", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := newBrowser(t, core)
			a := authRequest{client: tc.client, state: "st-" + tc.name, nonce: "n-" + tc.name,
				verifier: strings.Repeat("v", 43) + tc.alg, method: tc.method}
			code := codeFrom(t, b.login(a, alice()...), a)
			verifier := ""
			if tc.method != "" {
				verifier = a.verifier
			}
			status, tok := exchange(t, core, a, code, verifier)
			require.Equal(t, http.StatusOK, status, tok)
			assert.Equal(t, "Bearer", tok["token_type"])
			assert.NotContains(t, tok, "refresh_token")

			claims := verifyJWT(t, core, tc.client, tok["id_token"].(string), tc.alg)
			assert.Equal(t, a.nonce, claims["nonce"])
			assert.Equal(t, "alice", claims["preferred_username"])
			assert.Equal(t, "alice@example.com", claims["email"])
			assert.Equal(t, []any{"pwd"}, claims["amr"])
			assert.NotEmpty(t, claims["sid"])
			assert.Contains(t, claims["groups"], "engineering")
			assert.Equal(t, []any{}, claims["entitlements"])
			akProxy := claims["ak_proxy"].(map[string]any)
			assert.Equal(t, false, akProxy["is_superuser"])
			attrs := akProxy["user_attributes"].(map[string]any)
			assert.Equal(t, "Staff Engineer", attrs["title"])
			assert.Equal(t, "Engineering", attrs["department"], "group attributes are merged in")

			// The access token is a JWT too, which the outpost verifies.
			access := verifyJWT(t, core, tc.client, tok["access_token"].(string), tc.alg)
			assert.Equal(t, tc.client.id, access["azp"])
			assert.Equal(t, claims["sub"], access["sub"])

			// Codes are single use.
			status, body := exchange(t, core, a, code, verifier)
			assert.Equal(t, http.StatusBadRequest, status)
			assert.Equal(t, "invalid_grant", body["error"])

			// userinfo and introspection.
			st, ui := rawGet(t, core.URL+"application/o/userinfo/", "Bearer "+tok["access_token"].(string))
			require.Equal(t, http.StatusOK, st, ui)
			info := mustJSON(t, ui)
			assert.Equal(t, claims["sub"], info["sub"])
			assert.Equal(t, "alice", info["preferred_username"])
			st, _ = rawGet(t, core.URL+"application/o/userinfo/", "Bearer nope")
			assert.Equal(t, http.StatusUnauthorized, st)

			intro := url.Values{"token": {tok["access_token"].(string)}}
			st, in := postForm(t, core.URL+"application/o/introspect/", intro, tc.client.id, tc.client.secret)
			require.Equal(t, http.StatusOK, st)
			assert.Equal(t, true, in["active"])
			assert.Equal(t, "alice", in["preferred_username"])
			assert.Equal(t, tc.client.id, in["client_id"])
			_, in = postForm(t, core.URL+"application/o/introspect/", url.Values{"token": {"garbage"}}, tc.client.id, tc.client.secret)
			assert.Equal(t, map[string]any{"active": false}, in)
			_, in = postForm(t, core.URL+"application/o/introspect/", intro, tc.client.id, "wrong")
			assert.Equal(t, map[string]any{"active": false}, in)
		})
	}
}

func TestOIDCCodeErrors(t *testing.T) {
	t.Parallel()
	core := startOIDCCore(t)
	demo := demoClient(t, core)
	b := newBrowser(t, core)
	a := authRequest{client: demo, state: "s", nonce: "n", verifier: strings.Repeat("a", 50), method: "S256"}
	first := b.login(a, alice()...)
	code := codeFrom(t, first, a)

	// Now logged in: the next authorize goes straight to the client.
	code2 := codeFrom(t, b.do(http.MethodGet, a.url(), nil), a)
	code3 := codeFrom(t, b.do(http.MethodGet, a.url(), nil), a)

	status, body := exchange(t, core, a, code, "wrong-verifier-"+strings.Repeat("x", 40))
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, "invalid_grant", body["error"])
	// The failed exchange consumed the code.
	status, _ = exchange(t, core, a, code, a.verifier)
	assert.Equal(t, http.StatusBadRequest, status)

	// A missing verifier for a PKCE code fails.
	status, body = exchange(t, core, a, code2, "")
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, "invalid_grant", body["error"])

	// Wrong client secret, with client_secret_basic.
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code3}, "redirect_uri": {demo.redirect}, "code_verifier": {a.verifier}}
	status, body = postToken(t, core, form, demo.id, "wrong")
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, "invalid_client", body["error"])

	// Unknown grant type, unknown client, duplicate parameters.
	status, body = postToken(t, core, url.Values{"grant_type": {"magic"}}, demo.id, demo.secret)
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, "unsupported_grant_type", body["error"])
	status, body = postToken(t, core, url.Values{"grant_type": {"authorization_code"}}, "nobody", "x")
	assert.Equal(t, "invalid_client", body["error"])
	status, body = postToken(t, core, url.Values{"grant_type": {"authorization_code", "refresh_token"}}, demo.id, demo.secret)
	assert.Equal(t, "invalid_request", body["error"])

	// client_secret_basic works.
	code4 := codeFrom(t, b.do(http.MethodGet, a.url(), nil), a)
	form.Set("code", code4)
	status, body = postToken(t, core, form, demo.id, demo.secret)
	assert.Equal(t, http.StatusOK, status, body)

	// redirect_uri not allowed: a 400 page, no redirect.
	bad := a
	bad.client.redirect = "https://evil.example.com/outpost.goauthentik.io/callback?X-authentik-auth-callback=true"
	p := b.do(http.MethodGet, bad.url(), nil)
	assert.Equal(t, http.StatusBadRequest, p.status)
	assert.Empty(t, p.location)
	assert.Contains(t, p.body, "Redirect URI Error")
	unknown := a
	unknown.client.id = "nobody"
	p = b.do(http.MethodGet, unknown.url(), nil)
	assert.Equal(t, http.StatusBadRequest, p.status)
	assert.Contains(t, p.body, "client_id")

	// A bad PKCE method goes back to the client as an error.
	q := url.Values{"client_id": {demo.id}, "redirect_uri": {demo.redirect}, "response_type": {"code"},
		"scope": {"openid"}, "state": {"x"}, "code_challenge": {"abc"}, "code_challenge_method": {"S512"}}
	p = b.do(http.MethodGet, "/application/o/authorize/?"+q.Encode(), nil)
	require.Equal(t, http.StatusFound, p.status)
	assert.Contains(t, p.location, "error=invalid_request")
	assert.Contains(t, p.location, "state=x")
}

func TestOIDCLoginOutcomes(t *testing.T) {
	t.Parallel()
	core := startOIDCCore(t)
	demo := demoClient(t, core)

	t.Run("wrong password", func(t *testing.T) {
		t.Parallel()
		b := newBrowser(t, core)
		a := authRequest{client: demo, state: "s"}
		p := b.login(a, url.Values{"uid_field": {"alice"}}, url.Values{"password": {"nope"}})
		assert.Equal(t, http.StatusOK, p.status)
		assert.Contains(t, p.body, "Invalid password")
		assert.Contains(t, p.body, `name="password"`)
	})
	t.Run("denied user", func(t *testing.T) {
		t.Parallel()
		b := newBrowser(t, core)
		a := authRequest{client: demo, state: "s"}
		p := b.login(a, url.Values{"uid_field": {"eve"}}, url.Values{"password": {"eve-password"}})
		assert.Equal(t, http.StatusForbidden, p.status)
		assert.Contains(t, p.body, "Permission denied")
		assert.Empty(t, p.location)
	})
	t.Run("inactive user", func(t *testing.T) {
		t.Parallel()
		b := newBrowser(t, core)
		a := authRequest{client: demo, state: "s"}
		p := b.login(a, url.Values{"uid_field": {"dave"}}, url.Values{"password": {"dave-password"}})
		assert.Equal(t, http.StatusOK, p.status)
		assert.Contains(t, p.body, "Invalid password")
	})
	t.Run("totp user", func(t *testing.T) {
		t.Parallel()
		b := newBrowser(t, core)
		a := authRequest{client: demo, state: "s", nonce: "n", verifier: strings.Repeat("c", 43), method: "S256"}
		key, err := hex.DecodeString("3132333435363738393031323334353637383930")
		require.NoError(t, err)
		p := b.login(a, url.Values{"uid_field": {"carol"}}, url.Values{"password": {"carol-password"}},
			url.Values{"code": {"000000"}})
		require.Equal(t, http.StatusOK, p.status)
		assert.Contains(t, p.body, "Invalid Token")
		loginURL := ""
		// Retry the code stage on the same login page.
		p = b.do(http.MethodGet, a.url(), nil)
		require.Equal(t, http.StatusFound, p.status)
		loginURL = p.location
		p = b.do(http.MethodGet, loginURL, nil)
		p = b.do(http.MethodPost, loginURL, url.Values{"uid_field": {"carol"}})
		p = b.do(http.MethodPost, loginURL, url.Values{"password": {"carol-password"}})
		require.Contains(t, p.body, `name="code"`)
		p = b.do(http.MethodPost, loginURL, url.Values{"code": {totp.Code(key, time.Now(), totp.Params{Digits: 6, Step: 30 * time.Second})}})
		require.Equal(t, http.StatusFound, p.status, p.body)
		p = b.do(http.MethodGet, p.location, nil)
		code := codeFrom(t, p, a)
		status, tok := exchange(t, core, a, code, a.verifier)
		require.Equal(t, http.StatusOK, status, tok)
		claims := verifyJWT(t, core, demo, tok["id_token"].(string), "ES256")
		assert.Equal(t, "carol", claims["preferred_username"])
		assert.Equal(t, []any{"pwd", "mfa"}, claims["amr"])
	})
	t.Run("prompt none without session", func(t *testing.T) {
		t.Parallel()
		b := newBrowser(t, core)
		a := authRequest{client: demo, state: "s"}
		p := b.do(http.MethodGet, a.url()+"&prompt=none", nil)
		require.Equal(t, http.StatusFound, p.status)
		assert.Contains(t, p.location, "error=login_required")
	})
}

func TestOIDCRefresh(t *testing.T) {
	t.Parallel()
	core := startOIDCCore(t)
	b := newBrowser(t, core)
	a := authRequest{client: hsClient, state: "s", scope: "openid profile ak_proxy offline_access"}
	code := codeFrom(t, b.login(a, alice()...), a)
	status, tok := exchange(t, core, a, code, "")
	require.Equal(t, http.StatusOK, status, tok)
	rt, _ := tok["refresh_token"].(string)
	require.NotEmpty(t, rt)

	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
	status, tok2 := postToken(t, core, form, hsClient.id, hsClient.secret)
	require.Equal(t, http.StatusOK, status, tok2)
	claims := verifyJWT(t, core, hsClient, tok2["id_token"].(string), "HS256")
	assert.Equal(t, "alice", claims["preferred_username"])
	assert.NotEqual(t, rt, tok2["refresh_token"])
	// Rotation: the old refresh token is spent.
	status, body := postToken(t, core, form, hsClient.id, hsClient.secret)
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, "invalid_grant", body["error"])
}

func TestOIDCClientCredentials(t *testing.T) {
	t.Parallel()
	core := startOIDCCore(t)
	demo := demoClient(t, core)
	for _, tc := range []struct {
		name, user, password string
		ok                   bool
	}{
		{"password", "alice", "alice-password", true},
		{"app password", "alice", "alice-app-password-key", true},
		{"wrong password", "alice", "nope", false},
		{"mfa user password", "carol", "carol-password", false},
		{"denied user", "eve", "eve-password", false},
		{"inactive user", "dave", "dave-password", false},
		{"unknown user", "zed", "x", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			form := url.Values{"grant_type": {"client_credentials"}, "client_id": {demo.id},
				"username": {tc.user}, "password": {tc.password}, "scope": {"openid profile email ak_proxy"}}
			status, tok := postToken(t, core, form, "", "")
			if !tc.ok {
				assert.Equal(t, http.StatusBadRequest, status)
				assert.Equal(t, "invalid_grant", tok["error"])
				return
			}
			require.Equal(t, http.StatusOK, status, tok)
			claims := verifyJWT(t, core, demo, tok["id_token"].(string), "ES256")
			assert.Equal(t, tc.user, claims["preferred_username"])
			assert.Nil(t, claims["sid"], "no session: sid is null, as authentik's ak_proxy mapping gives")
			intro := url.Values{"token": {tok["access_token"].(string)}, "client_id": {demo.id}, "client_secret": {demo.secret}}
			_, in := postForm(t, core.URL+"application/o/introspect/", intro, "", "")
			assert.Equal(t, true, in["active"])
		})
	}
}

func TestOIDCEndSession(t *testing.T) {
	t.Parallel()
	core := startOIDCCore(t)
	demo := demoClient(t, core)
	conn, _, err := dialOutpost(t, core, "proxy-outpost", core.Token("proxy-outpost"))
	require.NoError(t, err)

	b := newBrowser(t, core)
	a := authRequest{client: demo, state: "s", scope: "openid profile ak_proxy offline_access"}
	code := codeFrom(t, b.login(a, alice()...), a)
	status, tok := exchange(t, core, a, code, "")
	require.Equal(t, http.StatusOK, status, tok)
	claims := verifyJWT(t, core, demo, tok["id_token"].(string), "ES256")
	sid := claims["sid"].(string)

	// A post_logout_redirect_uri off the external host is ignored.
	p := b.do(http.MethodGet, "/application/o/proxy/end-session/?post_logout_redirect_uri="+url.QueryEscape("https://evil.example.com/"), nil)
	assert.Equal(t, http.StatusOK, p.status)
	assert.Contains(t, p.body, "logged out of Proxy")

	m := readUntil(t, conn, events.SessionEnd)
	assert.Equal(t, sid, m.Args["session_id"])

	// Tokens bound to the session are revoked.
	st, _ := rawGet(t, core.URL+"application/o/userinfo/", "Bearer "+tok["access_token"].(string))
	assert.Equal(t, http.StatusUnauthorized, st)
	_, in := postForm(t, core.URL+"application/o/introspect/", url.Values{"token": {tok["access_token"].(string)}}, demo.id, demo.secret)
	assert.Equal(t, false, in["active"])
	st, body := postToken(t, core, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}}, demo.id, demo.secret)
	assert.Equal(t, http.StatusBadRequest, st)
	assert.Equal(t, "invalid_grant", body["error"])

	// The browser must log in again.
	p = b.do(http.MethodGet, a.url(), nil)
	require.Equal(t, http.StatusFound, p.status)
	assert.True(t, strings.HasPrefix(p.location, "/if/flow/"), p.location)

	// Log in again and end the session through id_token_hint alone, with
	// a valid post-logout redirect.
	code = codeFrom(t, b.login(a, alice()...), a)
	_, tok = exchange(t, core, a, code, "")
	other := newBrowser(t, core)
	ext := strings.TrimSuffix(demo.redirect, "/outpost.goauthentik.io/callback?X-authentik-auth-callback=true")
	q := url.Values{"id_token_hint": {tok["id_token"].(string)}, "post_logout_redirect_uri": {ext + "/bye"}, "state": {"z"}}
	p = other.do(http.MethodPost, "/application/o/proxy/end-session/", q)
	require.Equal(t, http.StatusFound, p.status)
	assert.Equal(t, ext+"/bye?state=z", p.location)
	m = readUntil(t, conn, events.SessionEnd)
	assert.NotEqual(t, sid, m.Args["session_id"])
	p = b.do(http.MethodGet, a.url(), nil)
	assert.True(t, strings.HasPrefix(p.location, "/if/flow/"), p.location)
}

func TestOIDCInvalidationFlowEndsSession(t *testing.T) {
	t.Parallel()
	core := startOIDCCore(t)
	demo := demoClient(t, core)
	conn, _, err := dialOutpost(t, core, "proxy-outpost", core.Token("proxy-outpost"))
	require.NoError(t, err)
	b := newBrowser(t, core)
	a := authRequest{client: demo, state: "s"}
	codeFrom(t, b.login(a, alice()...), a)
	p := b.do(http.MethodGet, "/if/flow/default-invalidation-flow/", nil)
	assert.Equal(t, http.StatusFound, p.status)
	m := readUntil(t, conn, events.SessionEnd)
	assert.NotEmpty(t, m.Args["session_id"])
}

func TestOIDCRedirectURIs(t *testing.T) {
	t.Parallel()
	core := startOIDCCore(t)
	b := newBrowser(t, core)
	// The RS provider's external host has a path: urljoin drops it, the
	// outpost's path.Join keeps it; both are accepted, nothing else.
	for _, tc := range []struct {
		uri string
		ok  bool
	}{
		{"https://rs.example.com/outpost.goauthentik.io/callback?X-authentik-auth-callback=true", true},
		{"https://rs.example.com/sub/outpost.goauthentik.io/callback?X-authentik-auth-callback=true", true},
		{"https://rs.example.com/sub?X-authentik-auth-callback=true", true},
		{"https://rs.example.com/sub/outpost.goauthentik.io/callback", false},
		{"https://rs.example.com.evil.com/outpost.goauthentik.io/callback?X-authentik-auth-callback=true", false},
		{"", false},
	} {
		a := authRequest{client: rsClient, state: "s"}
		a.client.redirect = tc.uri
		p := b.do(http.MethodGet, a.url(), nil)
		if tc.ok {
			assert.Equal(t, http.StatusFound, p.status, tc.uri)
		} else {
			assert.Equal(t, http.StatusBadRequest, p.status, tc.uri)
		}
	}
}
