package devcore

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/outpost-go/outposts/authclient/devcore/model"
	"github.com/outpost-go/outposts/authclient/events"
)

// callbackSignature is the query marker the proxy outpost's callback URL
// carries (authentik's OUTPOST_CALLBACK_SIGNATURE).
const callbackSignature = "X-authentik-auth-callback"

// oidcRoutes registers the OIDC provider and the browser login pages.
func (s *Server) oidcRoutes(r chi.Router) {
	r.Get("/application/o/authorize/", s.handleAuthorize)
	r.Post("/application/o/authorize/", s.handleAuthorize)
	r.Post("/application/o/token/", s.handleToken)
	r.Get("/application/o/userinfo/", s.handleUserinfo)
	r.Post("/application/o/userinfo/", s.handleUserinfo)
	r.Post("/application/o/introspect/", s.handleIntrospect)
	r.Get("/application/o/{slug}/.well-known/openid-configuration", s.handleDiscovery)
	r.Get("/application/o/{slug}/jwks/", s.handleJWKS)
	r.Get("/application/o/{slug}/end-session/", s.handleEndSession)
	r.Post("/application/o/{slug}/end-session/", s.handleEndSession)
	r.Get("/if/flow/{slug}/", s.handleFlowPage)
	r.Post("/if/flow/{slug}/", s.handleFlowPage)
}

func pkceS256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// allowedRedirects are the redirect URIs set_oauth_defaults gives a proxy
// provider (strict matching): urljoin(external_host,
// "outpost.goauthentik.io/callback") and external_host, each with the
// callback marker. The path-joined form authentik's Go outpost builds is
// accepted too; it differs from urljoin only when external_host has a path
// without a trailing slash.
func allowedRedirects(pp *model.ProxyProvider) []string {
	sig := "?" + callbackSignature + "=true"
	out := []string{pp.ExternalHost + sig}
	base, err := url.Parse(pp.ExternalHost)
	if err != nil || base.Host == "" {
		return out
	}
	joined := *base
	joined.RawQuery, joined.Fragment = "", ""
	if joined.Path == "" {
		joined.Path = "/"
	}
	ref := &url.URL{Path: "outpost.goauthentik.io/callback"}
	out = append(out, joined.ResolveReference(ref).String()+sig)
	pj := *base
	pj.RawQuery, pj.Fragment, pj.RawPath = "", "", ""
	pj.Path = path.Join("/", base.Path, "outpost.goauthentik.io/callback")
	if s := pj.String() + sig; !slices.Contains(out, s) {
		out = append(out, s)
	}
	return out
}

func redirectAllowed(pp *model.ProxyProvider, uri string) bool {
	return uri != "" && slices.Contains(allowedRedirects(pp), uri)
}

// authorizeParams is a parsed authorization request.
type authorizeParams struct {
	clientID     string
	redirectURI  string
	responseType string
	scopes       []string
	state        string
	nonce        string
	challenge    string
	method       string
	prompt       []string
	// problem is an RFC 6749 error code for a malformed request; it is
	// sent to the redirect URI once that is known to be valid.
	problem string
}

var authorizeSingle = []string{
	"client_id", "redirect_uri", "response_type", "scope", "state", "nonce",
	"code_challenge", "code_challenge_method", "prompt",
}

// parseAuthorizeParams reads the authorization request's parameters.
func parseAuthorizeParams(q url.Values) authorizeParams {
	p := authorizeParams{
		clientID:     q.Get("client_id"),
		redirectURI:  q.Get("redirect_uri"),
		responseType: q.Get("response_type"),
		scopes:       splitScopes(q.Get("scope")),
		state:        q.Get("state"),
		nonce:        q.Get("nonce"),
		challenge:    q.Get("code_challenge"),
		method:       q.Get("code_challenge_method"),
		prompt:       strings.Fields(q.Get("prompt")),
	}
	for _, k := range authorizeSingle {
		if len(q[k]) > 1 {
			p.problem = "invalid_request"
			return p
		}
	}
	switch {
	case p.responseType != "code":
		p.problem = "unsupported_response_type"
	case p.challenge != "" && p.method == "":
		// RFC 7636 §4.3: the method defaults to plain.
		p.method = "plain"
	case p.challenge == "" && p.method != "":
		p.problem = "invalid_request"
	}
	if p.challenge != "" && p.method != "plain" && p.method != "S256" {
		p.problem = "invalid_request"
	}
	return p
}

// withQuery adds values to a URL's query, keeping what it has.
func withQuery(raw string, add url.Values) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	q := u.Query()
	for k, vs := range add {
		for _, v := range vs {
			if v != "" {
				q.Add(k, v)
			}
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func redirectError(w http.ResponseWriter, r *http.Request, p authorizeParams, code string) {
	http.Redirect(w, r, withQuery(p.redirectURI, url.Values{"error": {code}, "state": {p.state}}), http.StatusFound)
}

// loginFlowSlug is the flow a browser without a session is sent to: the
// provider's authentication flow, else the default one.
func (v *view) loginFlowSlug(pp *model.ProxyProvider) string {
	if slug := v.flowSlug(pp.AuthenticationFlow); slug != "" {
		return slug
	}
	if _, ok := v.flowBySlug["default-authentication-flow"]; ok {
		return "default-authentication-flow"
	}
	for _, f := range v.dir.Flows {
		if f.Designation == "authentication" {
			return f.Slug
		}
	}
	return "default-authentication-flow"
}

// handleAuthorize serves the authorization code flow for proxy providers.
func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	v := s.view.Load()
	q := r.URL.Query()
	if r.Method == http.MethodPost {
		if err := readForm(w, r); err != nil {
			renderPage(w, http.StatusBadRequest, pageData{Title: "Bad request", Messages: []string{"The request could not be read."}})
			return
		}
		q = r.Form
	}
	p := parseAuthorizeParams(q)
	pp := v.proxyByClientID(p.clientID)
	var app *model.Application
	if pp != nil {
		app = v.appForProvider(pp.PK, false)
	}
	if pp == nil || app == nil {
		renderPage(w, http.StatusBadRequest, pageData{Title: "Client ID Error",
			Messages: []string{"The client identifier (client_id) is missing or invalid."}})
		return
	}
	if !redirectAllowed(pp, p.redirectURI) {
		s.log.Warn().Str("provider", pp.Name).Str("redirect_uri", p.redirectURI).Msg("authorize: redirect_uri not allowed")
		renderPage(w, http.StatusBadRequest, pageData{Title: "Redirect URI Error",
			Messages: []string{"The request fails due to a missing, invalid, or mismatching redirection URI (redirect_uri)."}})
		return
	}
	if p.problem != "" {
		redirectError(w, r, p, p.problem)
		return
	}

	sess := s.sessions.lookup(r)
	var user *model.User
	if sess != nil {
		sess.mu.Lock()
		pk := sess.userPK
		sess.mu.Unlock()
		if u, ok := v.userByPK[pk]; ok && u.IsActive {
			user = u
		}
	}
	if user == nil {
		if slices.Contains(p.prompt, "none") {
			redirectError(w, r, p, "login_required")
			return
		}
		next := "/application/o/authorize/?" + q.Encode()
		http.Redirect(w, r, "/if/flow/"+v.loginFlowSlug(pp)+"/?"+url.Values{"next": {next}}.Encode(), http.StatusFound)
		return
	}
	if res := v.checkApplication(app, user); !res.Passing {
		s.log.Info().Str("app", app.Slug).Str("user", user.Username).Msg("authorize: access denied by policy")
		renderPage(w, http.StatusForbidden, pageData{Title: "Permission denied", PendingUser: user.Username,
			Messages: append([]string{"You do not have access to " + app.Name + "."}, res.Messages...)})
		return
	}
	now := s.cfg.Now()
	login, ok := s.oidc.login(sess.id)
	if !ok || login.at.IsZero() {
		login = loginInfo{at: now}
	}
	code, err := randomToken(32)
	if err != nil {
		renderPage(w, http.StatusInternalServerError, pageData{Title: "Error", Messages: []string{msgInternalError}})
		return
	}
	s.oidc.putCode(code, &authCode{
		grant: grant{
			providerPK: pp.PK,
			userPK:     user.PK,
			scopes:     intersectScopes(p.scopes),
			sid:        sess.id,
			authTime:   login.at,
			amr:        login.amr,
			nonce:      p.nonce,
			expires:    now.Add(codeTTL),
		},
		redirectURI: p.redirectURI,
		challenge:   p.challenge,
		method:      p.method,
	}, now)
	s.log.Info().Str("app", app.Slug).Str("user", user.Username).Msg("authorization code issued")
	http.Redirect(w, r, withQuery(p.redirectURI, url.Values{"code": {code}, "state": {p.state}}), http.StatusFound)
}

// postLogoutAllowed accepts a post_logout_redirect_uri on the provider's
// external host or, in forward_domain mode, under its cookie domain.
func postLogoutAllowed(pp *model.ProxyProvider, raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return false
	}
	ext, err := url.Parse(pp.ExternalHost)
	if err == nil && strings.EqualFold(ext.Scheme, u.Scheme) && strings.EqualFold(ext.Host, u.Host) {
		return true
	}
	if pp.Mode == "forward_domain" {
		cd := strings.ToLower(strings.TrimPrefix(pp.CookieDomain, "."))
		h := strings.ToLower(u.Hostname())
		return cd != "" && (h == cd || strings.HasSuffix(h, "."+cd))
	}
	return false
}

// handleEndSession ends the browser's core session (or the one an
// id_token_hint names), tells proxy outposts, and shows a logged-out page
// or redirects to a valid post_logout_redirect_uri.
func (s *Server) handleEndSession(w http.ResponseWriter, r *http.Request) {
	v := s.view.Load()
	app, pp := v.oidcApp(chi.URLParam(r, "slug"))
	if pp == nil {
		renderPage(w, http.StatusNotFound, pageData{Title: "Not found", Messages: []string{"No such application."}})
		return
	}
	q := r.URL.Query()
	if r.Method == http.MethodPost {
		if err := readForm(w, r); err != nil {
			renderPage(w, http.StatusBadRequest, pageData{Title: "Bad request", Messages: []string{"The request could not be read."}})
			return
		}
		q = r.Form
	}
	ended := false
	if sess := s.sessions.lookup(r); sess != nil {
		ended = s.endCoreSession(sess.id)
	}
	if !ended {
		if hint := q.Get("id_token_hint"); hint != "" {
			if k, err := s.signerFor(v, pp); err == nil {
				if claims, err := k.verify(hint, true); err == nil {
					if sid, _ := claims["sid"].(string); sid != "" {
						ended = s.endCoreSession(sid)
					}
				}
			}
		}
	}
	// The session cookie no longer names a live session; drop it.
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	if to := q.Get("post_logout_redirect_uri"); to != "" && postLogoutAllowed(pp, to) {
		http.Redirect(w, r, withQuery(to, url.Values{"state": {q.Get("state")}}), http.StatusFound)
		return
	}
	renderPage(w, http.StatusOK, pageData{Title: "Logged out",
		Messages: []string{"You've logged out of " + app.Name + "."}})
}

// drop removes a session from the store and returns it.
func (st *sessionStore) drop(sid string) *session {
	st.mu.Lock()
	defer st.mu.Unlock()
	sess, ok := st.byID[sid]
	if !ok {
		return nil
	}
	st.removeLocked(sess)
	return sess
}

// endCoreSession ends session sid; it reports whether a session was
// authenticated. The caller must not hold the session's lock.
func (s *Server) endCoreSession(sid string) bool {
	sess := s.sessions.drop(sid)
	if sess == nil {
		return false
	}
	sess.mu.Lock()
	wasAuth := sess.userPK != 0
	sess.userPK = 0
	sess.plan = nil
	sess.mu.Unlock()
	if wasAuth {
		s.sessionEnded(sid)
	}
	return wasAuth
}

// sessionEnded revokes what the session held and sends SESSION_END to
// every connected proxy and RAC outpost instance, as authentik does when an
// AuthenticatedSession is deleted; outposts match it to the sid claim.
// It does not take the session's lock.
func (s *Server) sessionEnded(sid string) {
	s.oidc.endSession(sid)
	msg := events.Message{Instruction: events.SessionEnd, Args: map[string]any{"session_id": sid}}
	n := 0
	for _, o := range s.view.Load().dir.Outposts {
		// RAC outposts close the session's remote-desktop connections.
		if o.Type == "proxy" || o.Type == "rac" {
			n += s.hub.sendTo(o.PK, msg)
		}
	}
	s.log.Info().Int("instances", n).Msg("session ended; SESSION_END sent")
}
