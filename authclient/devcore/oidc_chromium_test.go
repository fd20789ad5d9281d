package devcore_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/outpost-go/outposts/authclient/devcore/devcoretest"
)

// relyingParty is a tiny OIDC client standing in for the proxy outpost: it
// starts the code flow with PKCE and, on the callback, exchanges the code
// and shows whom the ID token names.
type relyingParty struct {
	srv              *httptest.Server
	core             string
	clientID, secret string
}

func (rp *relyingParty) redirectURI() string {
	return rp.srv.URL + "/outpost.goauthentik.io/callback?X-authentik-auth-callback=true"
}

func (rp *relyingParty) handler(w http.ResponseWriter, r *http.Request) {
	const verifier = "chromium-test-verifier-0123456789abcdefghijklmnop"
	switch r.URL.Path {
	case "/start":
		sum := sha256.Sum256([]byte(verifier))
		q := url.Values{
			"client_id": {rp.clientID}, "redirect_uri": {rp.redirectURI()}, "response_type": {"code"},
			"scope": {"openid profile email ak_proxy"}, "state": {"st"}, "nonce": {"nn"},
			"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
		}
		http.Redirect(w, r, rp.core+"application/o/authorize/?"+q.Encode(), http.StatusFound)
	case "/outpost.goauthentik.io/callback":
		if r.URL.Query().Get("state") != "st" {
			http.Error(w, "bad state", http.StatusBadRequest)
			return
		}
		form := url.Values{"grant_type": {"authorization_code"}, "code": {r.URL.Query().Get("code")},
			"redirect_uri": {rp.redirectURI()}, "code_verifier": {verifier},
			"client_id": {rp.clientID}, "client_secret": {rp.secret}}
		resp, err := http.PostForm(rp.core+"application/o/token/", form)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		var tok map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != http.StatusOK {
			http.Error(w, fmt.Sprintf("token exchange failed: %d %v", resp.StatusCode, tok), http.StatusBadGateway)
			return
		}
		// The signature is checked by the other tests; here the
		// browser round trip is what counts.
		parts := strings.Split(tok["id_token"].(string), ".")
		payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
		var claims map[string]any
		_ = json.Unmarshal(payload, &claims)
		fmt.Fprintf(w, `<!DOCTYPE html><html><body><p id="who">%s</p></body></html>`, html.EscapeString(fmt.Sprint(claims["preferred_username"])))
	default:
		http.NotFound(w, r)
	}
}

func TestOIDCChromiumLogin(t *testing.T) {
	t.Parallel()
	rp := &relyingParty{clientID: "browser-client", secret: "browser-secret"}
	rp.srv = httptest.NewServer(http.HandlerFunc(rp.handler))
	t.Cleanup(rp.srv.Close)
	extra := fmt.Sprintf(`version: 1
entries:
  - model: authentik_providers_proxy.proxyprovider
    id: p
    identifiers: {name: browser-provider}
    attrs:
      authorization_flow: !Find [authentik_flows.flow, [slug, default-provider-authorization-implicit-consent]]
      external_host: %s
      client_id: browser-client
      client_secret: browser-secret
      signing_key: !Find [authentik_crypto.certificatekeypair, [name, devcore proxy signing key]]
  - model: authentik_core.application
    id: app
    identifiers: {slug: browser-app}
    attrs: {name: Browser App, provider: !KeyOf p}
  - {model: authentik_policies.policybinding, identifiers: {target: !KeyOf app, group: !Find [authentik_core.group, [name, engineering]]}, attrs: {order: 0}}
`, rp.srv.URL)
	core := devcoretest.Start(t, devcoretest.WithDemo(), devcoretest.WithBlueprint("zz-browser.yaml", extra)) // loads after demo.yaml
	rp.core = core.URL
	// Started after the core so that its cleanup, which runs first, closes
	// the browser's connections before the core shuts down.
	browser := devcoretest.StartChromium(t)

	for _, tc := range []struct {
		user, password, want string
	}{
		{"alice", "alice-password", "alice"},
		{"eve", "eve-password", "Permission denied"},
	} {
		// Each user starts without cookies.
		browser.Call("Network.clearBrowserCookies", map[string]any{}, true)
		browser.Call("Page.navigate", map[string]any{"url": rp.srv.URL + "/start"}, true)
		browser.WaitFor("the username field", `document.getElementById("uid_field") ? "yes" : ""`)
		browser.Eval(fmt.Sprintf(`document.getElementById("uid_field").value = %q; document.getElementById("submit").click(); ""`, tc.user))
		browser.WaitFor("the password field", `document.getElementById("password") ? "yes" : ""`)
		browser.Eval(fmt.Sprintf(`document.getElementById("password").value = %q; document.getElementById("submit").click(); ""`, tc.password))
		if tc.want == "Permission denied" {
			got := browser.WaitFor("the denial page", `document.getElementById("title") && document.getElementById("title").innerText.startsWith("Permission") ? document.getElementById("title").innerText : ""`)
			require.Equal(t, tc.want, got)
			continue
		}
		got := browser.WaitFor("the relying party's page", `document.getElementById("who") ? document.getElementById("who").innerText : ""`)
		require.Equal(t, tc.want, got)
		require.True(t, strings.HasPrefix(browser.Eval("location.href"), rp.srv.URL+"/outpost.goauthentik.io/callback?"))
	}
}
