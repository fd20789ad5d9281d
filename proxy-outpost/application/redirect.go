package application

import (
	"net/url"
	"strings"

	"goauthentik.io/api/v3"
)

// CheckRedirect validates a post-login redirect (the rd parameter). In
// proxy and forward_single mode it must point at the external host (a
// bare path is placed on it); in forward_domain mode its host must be the
// cookie domain or below it. Anything else, including scheme-relative and
// backslash tricks, userinfo, control characters and non-http(s) schemes,
// is refused: ok is false and the caller falls back to the external host.
func CheckRedirect(rd string, mode api.ProxyMode, external *url.URL, cookieDomain string) (string, bool) {
	if rd == "" || len(rd) > 8192 {
		return "", false
	}
	for i := 0; i < len(rd); i++ {
		if c := rd[i]; c < 0x20 || c == 0x7f || c == '\\' {
			return "", false
		}
	}
	u, err := url.Parse(rd)
	if err != nil || u.User != nil || u.Opaque != "" {
		return "", false
	}
	if u.Scheme == "" && u.Host == "" {
		// A path on the external host; "//evil" parses with a host and
		// never gets here, and a path must be absolute.
		if !strings.HasPrefix(u.Path, "/") || strings.HasPrefix(rd, "//") {
			return "", false
		}
		abs := *external
		abs.Path, abs.RawPath = u.Path, u.RawPath
		abs.RawQuery, abs.Fragment = u.RawQuery, ""
		return abs.String(), true
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return "", false
	}
	host := strings.ToLower(u.Host)
	switch mode {
	case api.PROXYMODE_FORWARD_DOMAIN:
		h := hostname(host)
		cd := strings.ToLower(strings.TrimPrefix(cookieDomain, "."))
		if cd == "" || (h != cd && !strings.HasSuffix(h, "."+cd)) {
			return "", false
		}
	default:
		if host != strings.ToLower(external.Host) {
			return "", false
		}
	}
	u.Fragment = ""
	return u.String(), true
}

func (a *App) checkRedirect(rd string) string {
	if s, ok := CheckRedirect(rd, a.mode, a.external, a.cookieDomain); ok {
		return s
	}
	if rd != "" {
		a.log.Warn().Str("rd", truncate(rd, 200)).Msg("refusing redirect outside the application, using the external host")
	}
	return a.external.String()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
