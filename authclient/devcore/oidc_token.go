package devcore

import (
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/outpost-go/outposts/authclient/devcore/model"
)

// maxOIDCForm bounds a token, introspection or login form body.
const maxOIDCForm = 64 << 10

// oauthError is an RFC 6749 error response; the descriptions are
// authentik's.
type oauthError struct {
	code   string
	status int
}

func (e *oauthError) Error() string { return e.code }

var oauthDescriptions = map[string]string{
	"invalid_request":        "The request is otherwise malformed",
	"invalid_client":         "Client authentication failed (e.g., unknown client, no client authentication included, or unsupported authentication method)",
	"invalid_grant":          "The provided authorization grant or refresh token is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client",
	"unauthorized_client":    "The client is not authorized to request an authorization code using this method",
	"unsupported_grant_type": "The authorization grant type is not supported by the authorization server",
	"invalid_scope":          "The requested scope is invalid, unknown, or malformed",
	"server_error":           "The authorization server encountered an unexpected condition that prevented it from fulfilling the request",
}

func errOAuth(code string) *oauthError { return &oauthError{code: code, status: http.StatusBadRequest} }

func writeOAuthError(w http.ResponseWriter, e *oauthError) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, e.status, map[string]string{"error": e.code, "error_description": oauthDescriptions[e.code]})
}

// tokenRequest is a parsed POST /application/o/token/.
type tokenRequest struct {
	clientID, clientSecret string
	grantType              string
	code, redirectURI      string
	codeVerifier           string
	refreshToken           string
	scope                  []string
	scopeGiven             bool
	username, password     string
}

// tokenParams are the form fields a token request may carry once.
var tokenParams = []string{
	"grant_type", "code", "redirect_uri", "code_verifier", "refresh_token", "scope",
	"client_id", "client_secret", "username", "password", "state",
}

// parseTokenRequest reads client authentication (HTTP Basic, else the
// form's client_id/client_secret, as authentik's extract_client_auth) and
// the grant parameters. A parameter given twice is an invalid request
// (RFC 6749 §3.2).
func parseTokenRequest(authorization string, form url.Values) (tokenRequest, *oauthError) {
	var req tokenRequest
	for _, p := range tokenParams {
		if len(form[p]) > 1 {
			return req, errOAuth("invalid_request")
		}
	}
	if id, secret, ok := parseBasic(authorization); ok {
		req.clientID, req.clientSecret = id, secret
	} else {
		req.clientID, req.clientSecret = form.Get("client_id"), form.Get("client_secret")
	}
	req.grantType = form.Get("grant_type")
	req.code = form.Get("code")
	req.redirectURI = form.Get("redirect_uri")
	req.codeVerifier = form.Get("code_verifier")
	req.refreshToken = form.Get("refresh_token")
	_, req.scopeGiven = form["scope"]
	req.scope = splitScopes(form.Get("scope"))
	req.username = form.Get("username")
	req.password = form.Get("password")
	if req.clientID == "" {
		return req, errOAuth("invalid_client")
	}
	if req.grantType == "" {
		return req, errOAuth("unsupported_grant_type")
	}
	return req, nil
}

// parseBasic decodes "Basic base64(id:secret)"; the parts are
// form-urlencoded per RFC 6749 §2.3.1, and taken raw when that fails.
func parseBasic(h string) (id, secret string, ok bool) {
	kind, cred, found := strings.Cut(strings.TrimSpace(h), " ")
	if !found || !strings.EqualFold(kind, "basic") {
		return "", "", false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
	if err != nil {
		return "", "", false
	}
	id, secret, found = strings.Cut(string(raw), ":")
	if !found || id == "" {
		return "", "", false
	}
	if u, err := url.QueryUnescape(id); err == nil {
		id = u
	}
	if u, err := url.QueryUnescape(secret); err == nil {
		secret = u
	}
	return id, secret, true
}

func secretEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

func (v *view) proxyByClientID(id string) *model.ProxyProvider {
	if id == "" {
		return nil
	}
	for _, pp := range v.dir.ProxyProviders {
		if pp.ClientID == id {
			return pp
		}
	}
	return nil
}

// oidcApp resolves /application/o/<slug>/ to its proxy provider.
func (v *view) oidcApp(slug string) (*model.Application, *model.ProxyProvider) {
	app, ok := v.appBySlug[slug]
	if !ok {
		return nil, nil
	}
	pp, ok := v.proxyByPK[app.Provider]
	if !ok {
		return nil, nil
	}
	return app, pp
}

func issuerFor(r *http.Request, app *model.Application) string {
	return baseURL(r) + "application/o/" + app.Slug + "/"
}

func accessValidity(pp *model.ProxyProvider) time.Duration {
	d, err := parseTimedelta(orDefault(pp.AccessTokenValidity, "hours=24"))
	if err != nil || d < time.Second {
		return 24 * time.Hour
	}
	return d
}

// readForm parses a bounded urlencoded body.
func readForm(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxOIDCForm)
	if err := r.ParseForm(); err != nil {
		return err
	}
	return nil
}

func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	v := s.view.Load()
	if err := readForm(w, r); err != nil {
		writeOAuthError(w, errOAuth("invalid_request"))
		return
	}
	req, oerr := parseTokenRequest(r.Header.Get("Authorization"), r.PostForm)
	if oerr != nil {
		writeOAuthError(w, oerr)
		return
	}
	pp := v.proxyByClientID(req.clientID)
	var app *model.Application
	if pp != nil {
		app = v.appForProvider(pp.PK, false)
	}
	if pp == nil || app == nil {
		writeOAuthError(w, errOAuth("invalid_client"))
		return
	}
	var resp map[string]any
	switch req.grantType {
	case "authorization_code":
		resp, oerr = s.grantCode(r, v, app, pp, req)
	case "refresh_token":
		resp, oerr = s.grantRefresh(r, v, app, pp, req)
	case "client_credentials", "password":
		resp, oerr = s.grantCredentials(r, v, app, pp, req)
	default:
		oerr = errOAuth("unsupported_grant_type")
	}
	if oerr != nil {
		s.log.Info().Str("client_id", pp.ClientID).Str("grant_type", req.grantType).Str("error", oerr.code).Msg("token request refused")
		writeOAuthError(w, oerr)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) grantCode(r *http.Request, v *view, app *model.Application, pp *model.ProxyProvider, req tokenRequest) (map[string]any, *oauthError) {
	if !secretEqual(req.clientSecret, pp.ClientSecret) {
		return nil, errOAuth("invalid_client")
	}
	if req.code == "" {
		return nil, errOAuth("invalid_grant")
	}
	if !redirectAllowed(pp, req.redirectURI) {
		return nil, errOAuth("invalid_client")
	}
	c := s.oidc.takeCode(req.code)
	now := s.cfg.Now()
	if c == nil || now.After(c.expires) || c.providerPK != pp.PK {
		return nil, errOAuth("invalid_grant")
	}
	if c.redirectURI != req.redirectURI {
		return nil, errOAuth("invalid_grant")
	}
	switch {
	case c.challenge != "" && req.codeVerifier == "":
		return nil, errOAuth("invalid_grant")
	case c.challenge != "":
		got := req.codeVerifier
		if c.method == "S256" {
			got = pkceS256(req.codeVerifier)
		}
		if !secretEqual(got, c.challenge) {
			return nil, errOAuth("invalid_grant")
		}
	case req.codeVerifier != "":
		// A verifier for a code issued without a challenge is a downgrade.
		return nil, errOAuth("invalid_grant")
	}
	return s.issue(r, v, app, pp, c.grant, true)
}

func (s *Server) grantRefresh(r *http.Request, v *view, app *model.Application, pp *model.ProxyProvider, req tokenRequest) (map[string]any, *oauthError) {
	if !secretEqual(req.clientSecret, pp.ClientSecret) {
		return nil, errOAuth("invalid_client")
	}
	if req.refreshToken == "" {
		return nil, errOAuth("invalid_grant")
	}
	old := s.oidc.lookup(s.oidc.refresh, req.refreshToken, s.cfg.Now())
	if old == nil || old.providerPK != pp.PK {
		return nil, errOAuth("invalid_grant")
	}
	scopes := intersectScopes(req.scope)
	if !req.scopeGiven || len(req.scope) == 0 {
		scopes = old.scopes
	}
	for _, sc := range scopes {
		if !slices.Contains(old.scopes, sc) {
			return nil, errOAuth("invalid_scope")
		}
	}
	if !slices.Contains(scopes, "offline_access") {
		return nil, errOAuth("invalid_scope")
	}
	// Rotation: authentik's default refresh_token_threshold is 0, so each
	// use replaces the refresh token.
	s.oidc.revokeRefresh(req.refreshToken)
	g := *old
	g.scopes = scopes
	return s.issue(r, v, app, pp, g, true)
}

// grantCredentials is authentik's client_credentials (and password) grant
// with username and password, which the proxy outpost uses for HTTP Basic
// credentials. authentik accepts only an app password token there;
// devcore also accepts the user's password when the user has no MFA
// device, since the flow would ask such a user for nothing more.
func (s *Server) grantCredentials(r *http.Request, v *view, app *model.Application, pp *model.ProxyProvider, req tokenRequest) (map[string]any, *oauthError) {
	username, password := req.username, req.password
	if username == "" {
		if secretEqual(req.clientSecret, pp.ClientSecret) {
			// authentik would create a service account here; devcore
			// does not mint users.
			return nil, errOAuth("invalid_grant")
		}
		raw, err := base64.StdEncoding.DecodeString(req.clientSecret)
		if err != nil {
			return nil, errOAuth("invalid_grant")
		}
		u, p, ok := strings.Cut(string(raw), ":")
		if !ok {
			return nil, errOAuth("invalid_grant")
		}
		username, password = u, p
	}
	var user *model.User
	for _, u := range v.dir.Users {
		if u.Username == username {
			user = u
			break
		}
	}
	if user == nil || !user.IsActive || !s.credentialOK(v, user, password) {
		return nil, errOAuth("invalid_grant")
	}
	if !v.checkApplication(app, user).Passing {
		return nil, errOAuth("invalid_grant")
	}
	now := s.cfg.Now()
	g := grant{
		providerPK: pp.PK,
		userPK:     user.PK,
		scopes:     intersectScopes(req.scope),
		authTime:   now,
	}
	return s.issue(r, v, app, pp, g, false)
}

// credentialOK accepts an unexpired app password token of u, or u's
// password when u has no confirmed MFA device.
func (s *Server) credentialOK(v *view, u *model.User, password string) bool {
	if password == "" {
		return false
	}
	now := s.cfg.Now()
	for _, t := range v.dir.Tokens {
		if t.Intent != "app_password" || t.User != u.PK || t.Key == "" {
			continue
		}
		if t.Expiring && !t.Expires.IsZero() && t.Expires.Before(now) {
			continue
		}
		if secretEqual(t.Key, password) {
			return true
		}
	}
	if hasMFADevice(v, u) {
		return false
	}
	return passwordOK(u, password)
}

func hasMFADevice(v *view, u *model.User) bool {
	for _, d := range v.dir.TOTPDevices {
		if d.User == u.PK && d.Confirmed {
			return true
		}
	}
	for _, d := range v.dir.StaticDevices {
		if d.User == u.PK && d.Confirmed {
			return true
		}
	}
	return false
}

// issue mints an access token (a JWT carrying the ID token's claims plus
// azp and uid, as authentik's to_access_token), an ID token and, with
// offline_access, a refresh token.
func (s *Server) issue(r *http.Request, v *view, app *model.Application, pp *model.ProxyProvider, g grant, allowRefresh bool) (map[string]any, *oauthError) {
	u, ok := v.userByPK[g.userPK]
	if !ok || !u.IsActive {
		return nil, errOAuth("invalid_grant")
	}
	signer, err := s.signerFor(v, pp)
	if err != nil {
		s.log.Error().Err(err).Str("provider", pp.Name).Msg("no signing key")
		return nil, &oauthError{code: "server_error", status: http.StatusInternalServerError}
	}
	now := s.cfg.Now()
	validity := accessValidity(pp)
	g.providerPK = pp.PK
	g.expires = now.Add(validity)
	issuer := issuerFor(r, app)
	claims := v.idTokenClaims(issuer, pp, u, &g, now)
	idToken, err := signer.sign(claims)
	if err != nil {
		return nil, &oauthError{code: "server_error", status: http.StatusInternalServerError}
	}
	uid, err := randomToken(20)
	if err != nil {
		return nil, &oauthError{code: "server_error", status: http.StatusInternalServerError}
	}
	accessClaims := maps.Clone(claims)
	accessClaims["azp"] = pp.ClientID
	accessClaims["uid"] = uid
	access, err := signer.sign(accessClaims)
	if err != nil {
		return nil, &oauthError{code: "server_error", status: http.StatusInternalServerError}
	}
	ag := g
	ag.claims = claims
	s.oidc.putToken(s.oidc.access, access, &ag, now)
	resp := map[string]any{
		"access_token": access,
		"token_type":   "Bearer",
		"scope":        strings.Join(g.scopes, " "),
		"expires_in":   int64(validity / time.Second),
		"id_token":     idToken,
	}
	if allowRefresh && slices.Contains(g.scopes, "offline_access") {
		refresh, err := randomToken(48)
		if err != nil {
			return nil, &oauthError{code: "server_error", status: http.StatusInternalServerError}
		}
		rg := g
		rg.expires = now.Add(refreshTTL)
		rg.claims = claims
		s.oidc.putToken(s.oidc.refresh, refresh, &rg, now)
		resp["refresh_token"] = refresh
	}
	return resp, nil
}

// randomToken is n random bytes, base64url without padding.
func randomToken(n int) (string, error) {
	b, err := randomBytes(n)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// bearerToken extracts "Bearer <token>".
func bearerToken(r *http.Request) string {
	kind, cred, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	if !ok || !strings.EqualFold(kind, "bearer") {
		return ""
	}
	return strings.TrimSpace(cred)
}

func (s *Server) handleUserinfo(w http.ResponseWriter, r *http.Request) {
	v := s.view.Load()
	tok := bearerToken(r)
	var g *grant
	if tok != "" {
		g = s.oidc.lookup(s.oidc.access, tok, s.cfg.Now())
	}
	var u *model.User
	if g != nil {
		u = v.userByPK[g.userPK]
	}
	if u == nil || !u.IsActive {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{
			"error": "invalid_token", "error_description": "The access token is invalid or has expired",
		})
		return
	}
	out := v.scopeClaims(u, g.scopes, g.sid)
	out["sub"] = userUID(u.PK)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, out)
}

// handleIntrospect is RFC 7662 as authentik serves it: the provider
// authenticates with its client credentials; anything unknown, expired or
// belonging to another provider is just inactive.
func (s *Server) handleIntrospect(w http.ResponseWriter, r *http.Request) {
	v := s.view.Load()
	inactive := map[string]any{"active": false}
	if err := readForm(w, r); err != nil {
		writeJSON(w, http.StatusOK, inactive)
		return
	}
	id, secret, ok := parseBasic(r.Header.Get("Authorization"))
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	pp := v.proxyByClientID(id)
	tok := r.PostForm.Get("token")
	if pp == nil || !secretEqual(secret, pp.ClientSecret) || tok == "" {
		writeJSON(w, http.StatusOK, inactive)
		return
	}
	now := s.cfg.Now()
	g := s.oidc.lookup(s.oidc.access, tok, now)
	if g == nil {
		g = s.oidc.lookup(s.oidc.refresh, tok, now)
	}
	if g == nil || g.providerPK != pp.PK {
		writeJSON(w, http.StatusOK, inactive)
		return
	}
	if u, ok := v.userByPK[g.userPK]; !ok || !u.IsActive {
		writeJSON(w, http.StatusOK, inactive)
		return
	}
	out := maps.Clone(g.claims)
	out["active"] = true
	out["client_id"] = pp.ClientID
	out["scope"] = strings.Join(g.scopes, " ")
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleJWKS(w http.ResponseWriter, r *http.Request) {
	v := s.view.Load()
	_, pp := v.oidcApp(chi.URLParam(r, "slug"))
	if pp == nil {
		writeDetail(w, http.StatusNotFound, msgNotFound)
		return
	}
	keys := []any{}
	k, err := s.signerFor(v, pp)
	if err != nil && !errors.Is(err, errNoSigningKey) {
		s.log.Error().Err(err).Str("provider", pp.Name).Msg("signing key unusable")
	}
	if err == nil {
		if jwk := k.jwk(); jwk != nil {
			keys = append(keys, jwk)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"keys": keys})
}

// handleDiscovery serves the provider's openid-configuration; the URLs
// are the ones oidcConfiguration gives outposts.
func (s *Server) handleDiscovery(w http.ResponseWriter, r *http.Request) {
	v := s.view.Load()
	app, pp := v.oidcApp(chi.URLParam(r, "slug"))
	if pp == nil {
		writeDetail(w, http.StatusNotFound, msgNotFound)
		return
	}
	c := oidcConfiguration(baseURL(r), app.Slug, s.signingAlg(v, pp))
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                c.Issuer,
		"authorization_endpoint":                c.AuthorizationEndpoint,
		"token_endpoint":                        c.TokenEndpoint,
		"userinfo_endpoint":                     c.UserinfoEndpoint,
		"end_session_endpoint":                  c.EndSessionEndpoint,
		"introspection_endpoint":                c.IntrospectionEndpoint,
		"jwks_uri":                              c.JwksUri,
		"response_types_supported":              []string{"code"},
		"response_modes_supported":              []string{"query"},
		"grant_types_supported":                 []string{"authorization_code", "refresh_token", "client_credentials", "password"},
		"id_token_signing_alg_values_supported": c.IdTokenSigningAlgValuesSupported,
		"subject_types_supported":               c.SubjectTypesSupported,
		"token_endpoint_auth_methods_supported": c.TokenEndpointAuthMethodsSupported,
		"scopes_supported":                      scopesAllowed,
		"code_challenge_methods_supported":      []string{"plain", "S256"},
		"claims_supported": []string{
			"sub", "iss", "aud", "exp", "iat", "auth_time", "acr", "amr", "nonce", "sid",
			"email", "email_verified", "name", "given_name", "preferred_username", "nickname",
			"groups", "entitlements", "roles", "ak_proxy",
		},
		"claims_parameter_supported":  false,
		"request_parameter_supported": false,
	})
}
