package application

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/outpost-go/outposts/proxy-outpost/session"
)

// IdentityHeaders are the headers authentik sends upstream, always all of
// them (empty when unknown) so a reverse proxy that copies them replaces
// whatever the client sent.
var IdentityHeaders = []string{
	"X-authentik-username",
	"X-authentik-groups",
	"X-authentik-entitlements",
	"X-authentik-email",
	"X-authentik-name",
	"X-authentik-uid",
	"X-authentik-jwt",
	"X-authentik-meta-jwks",
	"X-authentik-meta-outpost",
	"X-authentik-meta-provider",
	"X-authentik-meta-app",
	"X-authentik-meta-version",
}

// setIdentityHeaders writes the identity of c into h, as authentik's
// addHeaders does: the X-authentik-* set, an optional Basic Authorization
// built from user attributes, and additionalHeaders from the ak_proxy
// user attributes.
func (a *App) setIdentityHeaders(h http.Header, c *session.Claims, rawToken string) {
	h.Set("X-authentik-username", c.PreferredUsername)
	h.Set("X-authentik-groups", strings.Join(c.Groups, "|"))
	h.Set("X-authentik-entitlements", strings.Join(c.Entitlements, "|"))
	h.Set("X-authentik-email", c.Email)
	h.Set("X-authentik-name", c.Name)
	h.Set("X-authentik-uid", c.Sub)
	h.Set("X-authentik-jwt", rawToken)
	h.Set("X-authentik-meta-jwks", a.cfg.OidcConfiguration.JwksUri)
	h.Set("X-authentik-meta-outpost", a.deps.OutpostName)
	h.Set("X-authentik-meta-provider", a.cfg.Name)
	h.Set("X-authentik-meta-app", a.cfg.AssignedApplicationSlug)
	h.Set("X-authentik-meta-version", "goauthentik.io/outpost/"+a.deps.Version)
	if c.Proxy == nil {
		return
	}
	attrs := c.Proxy.UserAttributes
	if deref(a.cfg.BasicAuthEnabled) {
		password, _ := attrs[deref(a.cfg.BasicAuthPasswordAttribute)].(string)
		username, ok := attrs[deref(a.cfg.BasicAuthUserAttribute)].(string)
		if !ok {
			username = c.Email
		}
		if password != "" {
			h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(username+":"+password)))
		}
	}
	if extra, ok := attrs["additionalHeaders"].(map[string]any); ok {
		for k, v := range extra {
			if !validHeaderName(k) {
				continue
			}
			s := headerValue(v)
			if strings.ContainsAny(s, "\r\n\x00") {
				continue
			}
			h.Set(k, s)
		}
	}
}

func headerValue(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case nil:
		return ""
	default:
		return fmt.Sprint(x)
	}
}

func validHeaderName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 {
			continue
		}
		return false
	}
	return true
}

// StripIdentityHeaders removes every X-authentik-* header a client sent,
// and their underscore spellings (X_authentik_*), which some servers
// treat as the same header.
func StripIdentityHeaders(h http.Header) {
	for k := range h {
		n := strings.ToLower(strings.ReplaceAll(k, "_", "-"))
		if strings.HasPrefix(n, "x-authentik-") {
			delete(h, k)
		}
	}
}
