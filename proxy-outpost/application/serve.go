package application

import (
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/url"
	"strings"

	"goauthentik.io/api/v3"
)

// ServeHTTP serves a request the server routed to this application.
func (a *App) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	var q url.Values
	if r.URL.RawQuery != "" {
		q = r.URL.Query()
	}
	switch {
	case p == PathStart || p == PathSignIn:
		a.handleStart(w, r)
	case p == PathCallback:
		a.handleCallback(w, r, q)
	case p == PathSignOut:
		a.handleSignOut(w, r)
	case p == PathDebug && a.deps.Diagnostics:
		a.handleDebug(w, r)
	case a.mode != api.PROXYMODE_PROXY && (p == PathNginx || p == PathAuth && !q.Has("traefik")):
		a.handleNginx(w, r)
	case a.mode != api.PROXYMODE_PROXY && (p == PathTraefik || p == PathCaddy || p == PathAuth):
		a.handleTraefik(w, r)
	case a.mode != api.PROXYMODE_PROXY && (p == PathEnvoy || strings.HasPrefix(p, PathEnvoy+"/")):
		a.handleEnvoy(w, r)
	case q.Has(CallbackMarker):
		a.handleCallback(w, r, q)
	case q.Has(LogoutMarker):
		a.handleSignOut(w, r)
	case a.mode == api.PROXYMODE_PROXY:
		a.handleProxy(w, r)
	default:
		http.NotFound(w, r)
	}
}

// WantsJSON reports whether a request looks like an XHR/fetch or API call,
// which should get a 401 it can act on instead of a redirect to a login
// page it cannot follow.
func WantsJSON(h http.Header) bool {
	if h.Get("X-Requested-With") != "" {
		return true
	}
	if m := h.Get("Sec-Fetch-Mode"); m != "" && m != "navigate" {
		return true
	}
	accept := h.Get("Accept")
	return strings.Contains(accept, "application/json") && !strings.Contains(accept, "text/html")
}

// loginURL is where a client should go to log in and come back to target.
func (a *App) loginURL(target *url.URL) string {
	u := *a.external
	if a.mode == api.PROXYMODE_FORWARD_SINGLE || a.mode == api.PROXYMODE_PROXY {
		// The login starts on the host the user is on.
		u.Scheme, u.Host = target.Scheme, target.Host
	}
	u.Path = PathStart
	u.RawQuery = url.Values{"rd": {target.String()}}.Encode()
	return u.String()
}

// unauthorized answers an unauthenticated request: 401 when credentials
// were refused or the caller is an XHR/API client (JSON naming the login
// URL), a login redirect when redirect is true, else a plain 401 (nginx).
func (a *App) unauthorized(w http.ResponseWriter, r *http.Request, target *url.URL, d Decision, redirect bool) {
	w.Header().Set("Cache-Control", "no-store")
	if d.HeaderAuthFailed || WantsJSON(r.Header) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_ = json.NewEncoder(w).Encode(map[string]string{
			"error":     "unauthenticated",
			"message":   "authentication required",
			"login_url": a.loginURL(target),
		})
		return
	}
	if redirect {
		a.beginLogin(w, r, target.String())
		return
	}
	http.Error(w, "unauthorized request", http.StatusUnauthorized)
}

// handleDebug reports, for the operator, how this request is decided.
// It is off unless diagnostics are enabled and reveals no secret.
func (a *App) handleDebug(w http.ResponseWriter, r *http.Request) {
	target := a.requestURL(r)
	source := "request"
	if u, err := a.traefikForwardURL(r); err == nil {
		target, source = u, "x-forwarded"
	} else if u, err := a.nginxForwardURL(r); err == nil {
		target, source = u, "x-original"
	}
	d := a.decide(r.Context(), r, target)
	d.URL = target.String()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"decision":              d,
		"url_source":            source,
		"trusted_peer":          a.trusted(r),
		"remote_addr":           r.RemoteAddr,
		"cookie_name":           a.cookieName,
		"cookie_present":        hasCookie(r, a.cookieName),
		"external_host":         a.external.String(),
		"cookie_domain":         a.cookieDomain,
		"skip_path_regex_count": len(a.skip),
	})
}

func hasCookie(r *http.Request, name string) bool {
	_, err := r.Cookie(name)
	return err == nil
}

type page struct {
	Title, Message, Link, LinkText string
}

// html renders the page. It escapes by hand rather than with html/template:
// a template keeps every exported method of every reachable type alive in
// the linker, which more than doubled the binary (the whole generated API
// client stayed in).
func (p page) html() string {
	var b strings.Builder
	e := html.EscapeString
	b.WriteString(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>` + e(p.Title) + `</title>
<link rel="stylesheet" href="/outpost.goauthentik.io/static/style.css"></head>
<body><main><h1>` + e(p.Title) + `</h1><p>` + e(p.Message) + `</p>`)
	if p.Link != "" {
		b.WriteString(`<p><a href="` + e(p.Link) + `">` + e(p.LinkText) + `</a></p>`)
	}
	b.WriteString("</main></body></html>\n")
	return b.String()
}

func (a *App) errorPage(w http.ResponseWriter, r *http.Request, status int, msg string) {
	a.writePage(w, status, page{Title: http.StatusText(status), Message: msg, Link: a.external.String(), LinkText: "Back to the application"})
}

// restartPage answers a callback whose state is unknown, used or belongs
// to another browser session with a way to start over, instead of a bare
// 400.
func (a *App) restartPage(w http.ResponseWriter, r *http.Request, msg string) {
	a.writePage(w, http.StatusBadRequest, page{Title: "Login expired", Message: msg,
		Link: a.loginURL(a.external), LinkText: "Log in again"})
}

func (a *App) writePage(w http.ResponseWriter, status int, p page) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, p.html())
}
