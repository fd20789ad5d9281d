package application

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"goauthentik.io/api/v3"
	"golang.org/x/oauth2"

	"github.com/outpost-go/outposts/proxy-outpost/internal/fields"
	"github.com/outpost-go/outposts/proxy-outpost/session"
)

// Rules a decision can rest on.
const (
	RuleSession     = "session"
	RuleBearer      = "intercept_header_auth:bearer"
	RuleBasic       = "intercept_header_auth:basic"
	RuleSkipPath    = "skip_path_regex"
	RuleOutpostPath = "outpost_path"
	RuleNone        = "none"
)

// Decision is why a request was allowed or not.
type Decision struct {
	App     string       `json:"app"`
	Mode    string       `json:"mode"`
	URL     string       `json:"url"`
	Allowed bool         `json:"allowed"`
	Rule    string       `json:"rule"`
	Detail  string       `json:"detail,omitempty"`
	Session SessionState `json:"session"`
	User    string       `json:"user,omitempty"`
	// HeaderAuthFailed is set when credentials were presented and refused:
	// the answer is 401, never a login redirect.
	HeaderAuthFailed bool `json:"header_auth_failed,omitempty"`

	claims   *session.Claims
	rawToken string
	sess     *session.Session // set when a session decided
}

// decide authorises a request for target: a valid session, then
// Authorization header credentials (intercept_header_auth), then
// skip_path_regex.
func (a *App) decide(ctx context.Context, r *http.Request, target *url.URL) Decision {
	// URL is for the diagnostics endpoint, which fills it: formatting it
	// on every request cost more than the session lookup.
	d := Decision{App: a.cfg.Name, Mode: string(a.mode), Rule: RuleNone}
	sess, _, state := a.currentSession(ctx, r)
	d.Session = state
	if sess != nil {
		d.Allowed, d.Rule, d.claims, d.rawToken, d.sess = true, RuleSession, &sess.Claims, sess.RawToken, sess
		d.User = sess.Claims.PreferredUsername
		return d
	}
	if deref(a.cfg.InterceptHeaderAuth) {
		if authz := fields.Value(r.Header, "Authorization"); authz != "" {
			claims, token, rule, err := a.headerAuth(ctx, authz)
			if err == nil {
				d.Allowed, d.Rule, d.claims, d.rawToken = true, rule, claims, token
				d.User = claims.PreferredUsername
				return d
			}
			d.HeaderAuthFailed, d.Detail = true, err.Error()
		}
	}
	if re := a.skipMatch(target); re != "" {
		d.Allowed, d.Rule, d.Detail = true, RuleSkipPath, re
	}
	return d
}

// skipMatch tests skip_path_regex against the path (proxy, forward_single)
// or the full URL (forward_domain), as authentik does.
func (a *App) skipMatch(u *url.URL) string {
	if len(a.skip) == 0 {
		return ""
	}
	s := u.Path
	if a.mode == api.PROXYMODE_FORWARD_DOMAIN {
		s = u.String()
	}
	for _, re := range a.skip {
		if re.MatchString(s) {
			return re.String()
		}
	}
	return ""
}

// headerAuthTTL is how long a checked Authorization header is trusted.
const headerAuthTTL = 60 * time.Second

type cachedAuth struct {
	Claims session.Claims `json:"claims"`
	Token  string         `json:"token"`
	Rule   string         `json:"rule"`
}

// headerAuth checks Bearer tokens by introspection and Basic credentials
// by a client_credentials grant. Results are cached under a hash of the
// header, never the header itself.
func (a *App) headerAuth(ctx context.Context, authz string) (*session.Claims, string, string, error) {
	// Keyed with a secret so that someone reading the cache cannot test
	// password guesses against the keys.
	m := hmac.New(sha256.New, a.headerKey)
	m.Write([]byte(authz))
	key := base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	if b, ok := a.headerCache.Get(ctx, key); ok {
		var c cachedAuth
		if json.Unmarshal(b, &c) == nil && c.Claims.Sub != "" {
			return &c.Claims, c.Token, c.Rule, nil
		}
	}
	scheme, cred, _ := strings.Cut(authz, " ")
	cred = strings.TrimSpace(cred)
	var (
		claims *session.Claims
		token  string
		rule   string
		err    error
	)
	switch strings.ToLower(scheme) {
	case "bearer":
		rule = RuleBearer
		claims, err = a.introspect(ctx, cred)
		token = cred
	case "basic":
		rule = RuleBasic
		claims, token, err = a.clientCredentials(ctx, cred)
	default:
		return nil, "", "", fmt.Errorf("unsupported authorization scheme %q", scheme)
	}
	if err != nil {
		return nil, "", "", err
	}
	if b, err := json.Marshal(cachedAuth{Claims: *claims, Token: token, Rule: rule}); err == nil {
		ttl := headerAuthTTL
		if claims.Exp > 0 {
			ttl = min(ttl, time.Until(time.Unix(claims.Exp, 0)))
		}
		a.headerCache.Set(ctx, key, b, ttl)
	}
	return claims, token, rule, nil
}

func (a *App) introspect(ctx context.Context, token string) (*session.Claims, error) {
	if token == "" || a.introspectURL == "" {
		return nil, fmt.Errorf("bearer token refused")
	}
	form := url.Values{"client_id": {a.clientID}, "client_secret": {a.secret}, "token": {token}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.introspectURL, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("introspect: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := a.deps.HTTPClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("introspect: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("introspect: status %d", resp.StatusCode)
	}
	var res struct {
		Active bool `json:"active"`
		session.Claims
	}
	if err := json.Unmarshal(body, &res); err != nil {
		return nil, fmt.Errorf("introspect: %w", err)
	}
	if !res.Active || res.Sub == "" {
		return nil, fmt.Errorf("bearer token is not active")
	}
	return &res.Claims, nil
}

func (a *App) clientCredentials(ctx context.Context, cred string) (*session.Claims, string, error) {
	raw, err := base64.StdEncoding.DecodeString(cred)
	if err != nil {
		return nil, "", fmt.Errorf("basic credentials are not base64")
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	if !ok || user == "" {
		return nil, "", fmt.Errorf("basic credentials have no username")
	}
	form := url.Values{
		"grant_type": {"client_credentials"}, "client_id": {a.clientID}, "client_secret": {a.secret},
		"username": {user}, "password": {pass}, "scope": {strings.Join(a.cfg.ScopesToRequest, " ")},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.oauth.Endpoint.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, "", fmt.Errorf("client_credentials: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := a.deps.HTTPClient.Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("client_credentials: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("basic credentials refused (status %d)", resp.StatusCode)
	}
	var res struct {
		AccessToken string `json:"access_token"`
		IDToken     string `json:"id_token"`
	}
	if err := json.Unmarshal(body, &res); err != nil {
		return nil, "", fmt.Errorf("client_credentials: %w", err)
	}
	tok := (&oauth2.Token{AccessToken: res.AccessToken}).WithExtra(map[string]any{"id_token": res.IDToken})
	claims, _, err := a.claimsFromToken(ctx, tok, "")
	if err != nil {
		return nil, "", err
	}
	return &claims, res.AccessToken, nil
}
