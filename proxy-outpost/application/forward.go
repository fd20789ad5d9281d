package application

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/outpost-go/outposts/proxy-outpost/internal/fields"
)

// nginxForwardURL reads the URL nginx is authorising: X-Original-URI (a
// path, placed on the request host) first, else X-Original-URL.
func (a *App) nginxForwardURL(r *http.Request) (*url.URL, error) {
	if ou := fields.Value(r.Header, "X-Original-Uri"); ou != "" {
		u, err := url.ParseRequestURI(ou)
		if err != nil {
			return nil, ErrNoForwardURL
		}
		base := a.requestURL(r)
		u.Scheme, u.Host = base.Scheme, base.Host
		return u, nil
	}
	if ou := fields.Value(r.Header, "X-Original-Url"); ou != "" {
		u, err := url.Parse(ou)
		if err != nil || u.Host == "" {
			return nil, ErrNoForwardURL
		}
		return u, nil
	}
	return nil, ErrNoForwardURL
}

// traefikForwardURL reads X-Forwarded-Proto/Host/Uri (Traefik and Caddy).
// They are believed only from a trusted peer.
func (a *App) traefikForwardURL(r *http.Request) (*url.URL, error) {
	if !a.trusted(r) {
		return nil, ErrNoForwardURL
	}
	proto := firstValue(fields.Value(r.Header, "X-Forwarded-Proto"))
	host := firstValue(fields.Value(r.Header, "X-Forwarded-Host"))
	uri := fields.Value(r.Header, "X-Forwarded-Uri")
	if host == "" {
		return nil, ErrNoForwardURL
	}
	if proto != "https" {
		proto = "http"
	}
	if uri == "" {
		uri = "/"
	}
	u, err := url.ParseRequestURI(uri)
	if err != nil {
		return nil, ErrNoForwardURL
	}
	u.Scheme, u.Host = proto, host
	return u, nil
}

func (a *App) configError(w http.ResponseWriter, r *http.Request, proxy string) {
	a.log.Error().Str("proxy", proxy).Str("remote", r.RemoteAddr).Bool("trusted_peer", a.trusted(r)).
		Msg("failed to detect a forward URL; check the reverse proxy sets the forwarding headers and that its address is in AUTHENTIK_PROXY__TRUSTED_PROXIES")
	http.Error(w, "configuration error", http.StatusInternalServerError)
}

// handleNginx answers nginx's auth_request: 200 with the identity headers,
// or 401 (nginx redirects to /start itself).
func (a *App) handleNginx(w http.ResponseWriter, r *http.Request) {
	fwd, err := a.nginxForwardURL(r)
	if err != nil {
		a.configError(w, r, "nginx")
		return
	}
	d := a.decide(r.Context(), r, fwd)
	if d.Allowed {
		a.allow(w, r, d)
		w.WriteHeader(http.StatusOK)
		return
	}
	if strings.HasPrefix(fwd.Path, PathPrefix) {
		w.WriteHeader(http.StatusOK)
		return
	}
	a.unauthorized(w, r, fwd, d, false)
}

// handleTraefik answers Traefik's and Caddy's forward auth: 200 with the
// identity headers, or a 302 straight to authentik (the proxies pass a
// non-2xx answer to the browser). Callback and sign-out markers in the
// forwarded URL are handled here, so the callback may arrive on any path.
func (a *App) handleTraefik(w http.ResponseWriter, r *http.Request) {
	fwd, err := a.traefikForwardURL(r)
	if err != nil {
		a.configError(w, r, "traefik/caddy")
		return
	}
	q := fwd.Query()
	if _, ok := q[CallbackMarker]; ok {
		a.handleCallback(w, r, q)
		return
	}
	if _, ok := q[LogoutMarker]; ok {
		a.handleSignOut(w, r)
		return
	}
	d := a.decide(r.Context(), r, fwd)
	if d.Allowed {
		a.allow(w, r, d)
		w.WriteHeader(http.StatusOK)
		return
	}
	if strings.HasPrefix(fwd.Path, PathPrefix) {
		w.WriteHeader(http.StatusOK)
		return
	}
	a.unauthorized(w, r, fwd, d, true)
}

// handleEnvoy answers Envoy's ext_authz (HTTP service): the authorised
// path is what follows the prefix, the host is the request's.
func (a *App) handleEnvoy(w http.ResponseWriter, r *http.Request) {
	fwd := a.requestURL(r)
	fwd.Path = strings.TrimPrefix(r.URL.Path, PathEnvoy)
	if fwd.Path == "" {
		fwd.Path = "/"
	}
	fwd.RawPath = ""
	q := fwd.Query()
	if _, ok := q[CallbackMarker]; ok {
		a.handleCallback(w, r, q)
		return
	}
	if _, ok := q[LogoutMarker]; ok {
		a.handleSignOut(w, r)
		return
	}
	d := a.decide(r.Context(), r, fwd)
	if d.Allowed {
		a.allow(w, r, d)
		w.WriteHeader(http.StatusOK)
		return
	}
	if strings.HasPrefix(fwd.Path, PathPrefix) {
		w.WriteHeader(http.StatusOK)
		return
	}
	if d.HeaderAuthFailed || WantsJSON(r.Header) {
		a.unauthorized(w, r, fwd, d, false)
		return
	}
	start := *fwd
	start.Path, start.RawQuery = PathStart, url.Values{"rd": {fwd.String()}}.Encode()
	if a.mode == "forward_domain" {
		start.Scheme, start.Host = a.external.Scheme, a.external.Host
	}
	http.Redirect(w, r, start.String(), http.StatusFound)
}

// fieldAppender is a ResponseWriter that sends pre-rendered header
// fields (http1's): the identity headers of a session are rendered once,
// not put into the header map on every check.
type fieldAppender interface {
	AppendFields(block []byte)
}

// allow writes the identity headers of an allowed forward-auth decision.
func (a *App) allow(w http.ResponseWriter, r *http.Request, d Decision) {
	if d.claims == nil {
		return
	}
	h := w.Header()
	fa, rendered := w.(fieldAppender)
	if block := a.writeIdentity(h, d, rendered); block != nil {
		fa.AppendFields(block)
	}
	h["User-Agent"] = []string{fields.Value(r.Header, "User-Agent")}
}
