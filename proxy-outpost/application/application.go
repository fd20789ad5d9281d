// Package application is one proxy provider as the outpost serves it: its
// mode (proxy, forward_single, forward_domain), the OIDC login against
// authentik (authorization code with PKCE S256), its sessions, the
// identity headers it hands upstream, and the forward-auth answers each
// reverse proxy expects.
package application

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/rs/zerolog"
	"goauthentik.io/api/v3"
	"golang.org/x/oauth2"

	"github.com/outpost-go/outposts/authclient/cache"
	"github.com/outpost-go/outposts/proxy-outpost/idtoken"
	"github.com/outpost-go/outposts/proxy-outpost/internal/fields"
	"github.com/outpost-go/outposts/proxy-outpost/session"
)

// Outpost-owned paths.
const (
	PathPrefix   = "/outpost.goauthentik.io"
	PathStart    = PathPrefix + "/start"
	PathSignIn   = PathPrefix + "/sign_in"
	PathCallback = PathPrefix + "/callback"
	PathSignOut  = PathPrefix + "/sign_out"
	PathAuth     = PathPrefix + "/auth"
	PathNginx    = PathAuth + "/nginx"
	PathTraefik  = PathAuth + "/traefik"
	PathCaddy    = PathAuth + "/caddy"
	PathEnvoy    = PathAuth + "/envoy"
	PathDebug    = PathPrefix + "/debug"

	// CallbackMarker and LogoutMarker in the query make any path of the
	// protected host the callback or the sign-out, for reverse proxies
	// that do not route /outpost.goauthentik.io to the outpost.
	CallbackMarker = "X-authentik-auth-callback"
	LogoutMarker   = "X-authentik-logout"
)

// Deps are what the server gives every application.
type Deps struct {
	// OutpostName labels metrics and the X-authentik-meta-outpost header.
	OutpostName string
	// Version is the outpost version, for X-authentik-meta-version.
	Version string
	// HTTPClient is used for back-channel calls to the core (token,
	// introspection, JWKS).
	HTTPClient *http.Client
	// Cache is the shared cache; New namespaces it per provider.
	Cache cache.Cache
	// CacheNamespace prefixes this outpost's keys (for example "outpost",
	// "<uuid>"); the provider pk is added.
	CacheNamespace []string
	// HostBrowser rewrites browser-facing OIDC URLs (AUTHENTIK_HOST_BROWSER).
	HostBrowser *url.URL
	// Sessions sets the session lifetimes.
	Sessions session.Options
	// PayloadCache, when set, holds session payloads and serves the
	// revocation epoch reads (a session.Near in front of Cache); New
	// namespaces it like Cache.
	PayloadCache cache.Cache
	// Trusted reports whether the peer of r may set forwarding headers.
	// nil trusts nobody.
	Trusted func(r *http.Request) bool
	// Diagnostics enables the /outpost.goauthentik.io/debug endpoint.
	Diagnostics bool
	// Metrics records upstream timings; nil records nothing.
	Metrics *Metrics
	// Logger is the outpost logger; New names a child.
	Logger zerolog.Logger
}

// App serves one proxy provider.
type App struct {
	cfg  api.ProxyOutpostConfig
	deps Deps
	log  zerolog.Logger

	mode         api.ProxyMode
	external     *url.URL
	host         string // external host's host[:port], lower case
	cookieDomain string // without a leading dot, lower case
	cookieName   string
	secure       bool
	skip         []*regexp.Regexp

	oauth         oauth2.Config
	endSession    string
	introspectURL string
	clientID      string
	secret        string
	verifier      *idtoken.Verifier
	sessions      *session.Store
	headerCache   cache.Cache
	headerKey     []byte // keys headerCache entries
	versionHeader string // X-authentik-meta-version

	proxy *upstreamProxy
}

// New builds the application for provider p.
func New(p api.ProxyOutpostConfig, deps Deps) (*App, error) {
	ext, err := url.Parse(p.ExternalHost)
	if err != nil || ext.Host == "" || (ext.Scheme != "http" && ext.Scheme != "https") {
		return nil, fmt.Errorf("provider %s: external_host %q is not an http(s) URL", p.Name, p.ExternalHost)
	}
	if deps.HTTPClient == nil {
		deps.HTTPClient = http.DefaultClient
	}
	mode := api.PROXYMODE_PROXY
	if p.Mode != nil {
		mode = *p.Mode
	}
	a := &App{
		cfg:          p,
		deps:         deps,
		log:          deps.Logger.With().Str("logger", "authentik.outpost.proxyv2.application").Str("name", p.Name).Logger(),
		mode:         mode,
		external:     ext,
		host:         strings.ToLower(ext.Host),
		cookieDomain: strings.ToLower(strings.TrimPrefix(deref(p.CookieDomain), ".")),
		secure:       ext.Scheme == "https",
		clientID:     deref(p.ClientId),
		secret:       deref(p.ClientSecret),
	}
	sum := sha256.Sum256([]byte(a.clientID))
	a.cookieName = "authentik_proxy_" + hex.EncodeToString(sum[:])[:8]

	for line := range strings.SplitSeq(deref(p.SkipPathRegex), "\n") {
		line = strings.TrimRight(line, "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		re, err := regexp.Compile(line)
		if err != nil {
			a.log.Warn().Err(err).Str("regex", line).Msg("failed to compile skip_path_regex line, ignoring it")
			continue
		}
		a.skip = append(a.skip, re)
	}

	oidc := p.OidcConfiguration
	scopes := slices.Clone(p.ScopesToRequest)
	if !slices.Contains(scopes, "offline_access") {
		// A refresh token keeps the session alive past the access token's
		// validity (authentik#5015).
		scopes = append(scopes, "offline_access")
	}
	a.oauth = oauth2.Config{
		ClientID:     a.clientID,
		ClientSecret: a.secret,
		Endpoint: oauth2.Endpoint{
			AuthURL:   browserURL(oidc.AuthorizationEndpoint, deps.HostBrowser),
			TokenURL:  oidc.TokenEndpoint,
			AuthStyle: oauth2.AuthStyleInParams,
		},
		RedirectURL: joinURL(ext, PathCallback) + "?" + CallbackMarker + "=true",
		Scopes:      scopes,
	}
	a.endSession = browserURL(oidc.EndSessionEndpoint, deps.HostBrowser)
	a.introspectURL = oidc.IntrospectionEndpoint
	issuers := []string{oidc.Issuer}
	if b := browserURL(oidc.Issuer, deps.HostBrowser); b != oidc.Issuer {
		issuers = append(issuers, b)
	}
	hs := ""
	if slices.Contains(oidc.IdTokenSigningAlgValuesSupported, "HS256") {
		hs = a.secret
	}
	a.verifier = idtoken.New(idtoken.Config{
		Issuers: issuers, ClientID: a.clientID, JWKSURL: oidc.JwksUri, HS256Secret: hs, HTTPClient: deps.HTTPClient,
	})

	secret := deref(p.CookieSecret)
	if secret == "" {
		// authentik always generates one; without it derive one from the
		// client secret so the store still has a key nobody outside knows.
		secret = "client:" + a.secret + ":" + a.clientID
	}
	base := deps.Cache
	if base == nil {
		base = cache.NewMemory(cache.DefaultMaxEntries)
	}
	ns := append(slices.Clone(deps.CacheNamespace), "provider", strconv.Itoa(int(p.Pk)))
	sopts := deps.Sessions
	if deps.PayloadCache != nil {
		sopts.Payloads = cache.Namespace(deps.PayloadCache, append(slices.Clone(ns), "session")...)
		// Revocation epochs are read on every request: the near cache
		// answers them locally and a revocation invalidates every replica.
		sopts.Epochs = sopts.Payloads
	}
	a.sessions, err = session.New(cache.Namespace(base, append(ns, "session")...), secret, sopts)
	if err != nil {
		return nil, fmt.Errorf("provider %s: %w", p.Name, err)
	}
	a.headerCache = cache.Namespace(base, append(ns, "header-auth")...)
	a.versionHeader = "goauthentik.io/outpost/" + deps.Version
	hk := sha256.Sum256([]byte("goauthentik.io/outpost/proxy/header-auth:" + secret))
	a.headerKey = hk[:]

	if mode == api.PROXYMODE_PROXY {
		a.proxy, err = newUpstreamProxy(a)
		if err != nil {
			return nil, fmt.Errorf("provider %s: %w", p.Name, err)
		}
	}
	return a, nil
}

// Name is the provider's name.
func (a *App) Name() string { return a.cfg.Name }

// Host is the external host's host[:port] the app is found by.
func (a *App) Host() string { return a.host }

// Mode is the provider's mode.
func (a *App) Mode() api.ProxyMode { return a.mode }

// CookieDomain is the cookie domain without a leading dot.
func (a *App) CookieDomain() string { return a.cookieDomain }

// CookieName is the session cookie's name.
func (a *App) CookieName() string { return a.cookieName }

// Certificate is the pk of the provider's TLS key pair, or "".
func (a *App) Certificate() string {
	if a.cfg.Certificate.IsSet() {
		if v := a.cfg.Certificate.Get(); v != nil {
			return *v
		}
	}
	return ""
}

// CloseIdleConnections closes the app's idle connections to its
// application (proxy mode), once a refresh replaced the app.
func (a *App) CloseIdleConnections() {
	if a.proxy != nil {
		a.proxy.tr.CloseIdleConnections()
	}
}

// Sessions is the app's session store.
func (a *App) Sessions() *session.Store { return a.sessions }

// EndSessionsOf revokes the sessions belonging to the authentik session
// sid (SESSION_END from the core).
func (a *App) EndSessionsOf(ctx context.Context, sid string) int {
	return a.sessions.RevokeSID(ctx, sid)
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// browserURL rewrites the scheme and host of u to hb's, for URLs the
// browser follows.
func browserURL(u string, hb *url.URL) string {
	if hb == nil || u == "" {
		return u
	}
	pu, err := url.Parse(u)
	if err != nil {
		return u
	}
	pu.Scheme, pu.Host = hb.Scheme, hb.Host
	return pu.String()
}

func joinURL(base *url.URL, path string) string {
	u := *base
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	u.RawQuery, u.Fragment, u.RawPath = "", "", ""
	return u.String()
}

func (a *App) trusted(r *http.Request) bool {
	return a.deps.Trusted != nil && a.deps.Trusted(r)
}

// requestURL is the URL the client asked for: scheme and host from
// forwarding headers only when the peer is trusted.
func (a *App) requestURL(r *http.Request) *url.URL {
	u := *r.URL
	u.Scheme = "http"
	if r.TLS != nil {
		u.Scheme = "https"
	}
	u.Host = r.Host
	if a.trusted(r) {
		if p := firstValue(fields.Value(r.Header, "X-Forwarded-Proto")); p == "http" || p == "https" {
			u.Scheme = p
		}
		if h := firstValue(fields.Value(r.Header, "X-Forwarded-Host")); h != "" {
			u.Host = h
		}
	}
	return &u
}

func firstValue(v string) string {
	if i := strings.IndexByte(v, ','); i >= 0 {
		v = v[:i]
	}
	return strings.TrimSpace(v)
}

// hostname strips the port from a host[:port].
func hostname(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return strings.ToLower(h)
	}
	return strings.ToLower(strings.Trim(hostport, "[]"))
}

// ErrNoForwardURL means a forward-auth request lacked the headers that say
// which URL is being authorised.
var ErrNoForwardURL = errors.New("no forward URL found")
