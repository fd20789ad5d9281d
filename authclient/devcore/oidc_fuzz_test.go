package devcore

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/outpost-go/outposts/authclient/devcore/model"
)

// FuzzTokenRequest feeds arbitrary Authorization headers and form bodies to
// the token request parser, and the same through the token endpoint: the
// answer is a token or an RFC 6749 error, never a 500.
func FuzzTokenRequest(f *testing.F) {
	s := fuzzServer(f)
	h := s.Handler()
	f.Add("", "grant_type=authorization_code&code=abc&redirect_uri=https%3A%2F%2Fapp.example.com%2Foutpost.goauthentik.io%2Fcallback%3FX-authentik-auth-callback%3Dtrue&client_id=proxy-client&client_secret=proxy-secret&code_verifier=x")
	f.Add("Basic cHJveHktY2xpZW50OnByb3h5LXNlY3JldA==", "grant_type=refresh_token&refresh_token=zzz&scope=openid+offline_access")
	f.Add("", "grant_type=client_credentials&client_id=proxy-client&username=alice&password=alice-password&scope=openid+ak_proxy")
	f.Add("Basic !!!", "grant_type=password&client_id=proxy-client&client_secret=YWxpY2U6YWxpY2UtcGFzc3dvcmQ=")
	f.Add("Basic Og==", "grant_type=a&grant_type=b&client_id=x")
	f.Add("bearer x", "%zz&client_id=%00")
	f.Fuzz(func(t *testing.T, authorization, body string) {
		if form, err := url.ParseQuery(body); err == nil {
			req, oerr := parseTokenRequest(authorization, form)
			if oerr == nil && (req.clientID == "" || req.grantType == "") {
				t.Fatalf("accepted a request without client or grant: %q %q", authorization, body)
			}
			if oerr != nil && oauthDescriptions[oerr.code] == "" {
				t.Fatalf("undocumented error %q", oerr.code)
			}
		}
		req := httptest.NewRequest(http.MethodPost, "http://core.test/application/o/token/", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if !strings.ContainsAny(authorization, "\r\n\x00") {
			req.Header.Set("Authorization", authorization)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var m map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
			t.Fatalf("non-JSON answer %d %q", rec.Code, rec.Body.String())
		}
		switch rec.Code {
		case http.StatusOK:
			if m["access_token"] == nil || m["id_token"] == nil {
				t.Fatalf("token answer without tokens: %v", m)
			}
		case http.StatusBadRequest:
			if _, ok := oauthDescriptions[m["error"].(string)]; !ok {
				t.Fatalf("unknown error answer %v", m)
			}
		default:
			t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
		}
	})
}

// FuzzAuthorizeParams checks the authorization request parser and the
// redirect URI rules on arbitrary queries and external hosts.
func FuzzAuthorizeParams(f *testing.F) {
	f.Add("client_id=c&redirect_uri=https%3A%2F%2Fa%2Foutpost.goauthentik.io%2Fcallback%3FX-authentik-auth-callback%3Dtrue&response_type=code&scope=openid&state=s&code_challenge=abc&code_challenge_method=S256", "https://a")
	f.Add("response_type=token&code_challenge_method=plain", "https://a/sub")
	f.Add("response_type=code&code_challenge=x&code_challenge_method=S512&prompt=none+login", "http://[::1]:80/x/")
	f.Add("response_type=code&response_type=code", "%zz")
	f.Add("redirect_uri=%00&scope=%20%20", "")
	f.Fuzz(func(t *testing.T, query, externalHost string) {
		q, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		p := parseAuthorizeParams(q)
		if p.problem == "" {
			if p.responseType != "code" {
				t.Fatalf("accepted response_type %q", p.responseType)
			}
			if p.challenge != "" && p.method != "plain" && p.method != "S256" {
				t.Fatalf("accepted PKCE method %q", p.method)
			}
		}
		pp := &model.ProxyProvider{ExternalHost: externalHost, Mode: "forward_domain", CookieDomain: "example.com"}
		for _, allowed := range allowedRedirects(pp) {
			if !strings.HasSuffix(allowed, "?"+callbackSignature+"=true") {
				t.Fatalf("redirect %q lacks the callback marker", allowed)
			}
		}
		if redirectAllowed(pp, p.redirectURI) && p.redirectURI == "" {
			t.Fatal("empty redirect_uri allowed")
		}
		_ = postLogoutAllowed(pp, p.redirectURI)
		_ = withQuery(p.redirectURI, url.Values{"code": {"c"}, "state": {p.state}})
	})
}

// FuzzLoginForm posts arbitrary bodies and cookies to the HTML login page:
// it answers with a page or a redirect, never a 500.
func FuzzLoginForm(f *testing.F) {
	s := fuzzServer(f)
	h := s.Handler()
	f.Add("uid_field=alice", "", "next=%2Fapplication%2Fo%2Fauthorize%2F%3Fclient_id%3Dx")
	f.Add("password=alice-password&password=other", "a.b.c", "next=%2F%2Fevil.example.com")
	f.Add("code=123456&uid_field=", "", "next=https%3A%2F%2Fevil.example.com")
	f.Add("uid_field="+strings.Repeat("a", 2000), "", "")
	f.Add("%zz=%", "", "%")
	f.Fuzz(func(t *testing.T, body, cookie, query string) {
		form, err := url.ParseQuery(body)
		if err == nil {
			for k, v := range parseLoginForm(form) {
				if k != "uid_field" && k != "password" && k != "code" {
					t.Fatalf("unexpected field %q", k)
				}
				if len(v.(string)) > maxFormValue {
					t.Fatalf("field %q not bounded", k)
				}
			}
		}
		req := httptest.NewRequest(http.MethodPost, "http://core.test/if/flow/default-authentication-flow/", strings.NewReader(body))
		req.URL.RawQuery = query
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if cookie != "" && !strings.ContainsAny(cookie, "\r\n\x00;") {
			req.Header.Set("Cookie", sessionCookie+"="+cookie)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK, http.StatusBadRequest, http.StatusForbidden:
			if !strings.Contains(rec.Body.String(), "<html") {
				t.Fatalf("status %d without a page: %q", rec.Code, rec.Body.String())
			}
		case http.StatusFound:
			loc := rec.Header().Get("Location")
			if !strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, "//") || strings.Contains(loc, "\\") {
				t.Fatalf("open redirect to %q", loc)
			}
		default:
			t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
		}
	})
}
