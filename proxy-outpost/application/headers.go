package application

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/outpost-go/outposts/proxy-outpost/internal/fields"
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

// identityValues are the values of IdentityHeaders for c, in order.
func (a *App) identityValues(c *session.Claims, rawToken string) [12]string {
	return [...]string{
		c.PreferredUsername,
		strings.Join(c.Groups, "|"),
		strings.Join(c.Entitlements, "|"),
		c.Email,
		c.Name,
		c.Sub,
		rawToken,
		a.cfg.OidcConfiguration.JwksUri,
		a.deps.OutpostName,
		a.cfg.Name,
		a.cfg.AssignedApplicationSlug,
		a.versionHeader,
	}
}

// setIdentityHeaders writes the identity of c into h, as authentik's
// addHeaders does: the X-authentik-* set, an optional Basic Authorization
// built from user attributes, and additionalHeaders from the ak_proxy
// user attributes.
func (a *App) setIdentityHeaders(h http.Header, c *session.Claims, rawToken string) {
	// One backing array for the twelve values and canonical keys written
	// straight into the map: Header.Set would canonicalise (allocate) each
	// key and allocate each value slice, on every request.
	vals := a.identityValues(c, rawToken)
	backing := vals[:]
	for i, k := range canonicalIdentityHeaders {
		h[k] = backing[i : i+1 : i+1]
	}
	a.setAttributeHeaders(h, c)
}

// setAttributeHeaders writes the headers built from user attributes: the
// optional Basic Authorization and additionalHeaders.
func (a *App) setAttributeHeaders(h http.Header, c *session.Claims) {
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

// identityFields renders the X-authentik-* fields of c as header lines,
// byte for byte what writing setIdentityHeaders' map would send. It
// returns nil when additionalHeaders replace one of them: then only the
// map gets it right.
func (a *App) identityFields(c *session.Claims, rawToken string) []byte {
	if c.Proxy != nil {
		if extra, ok := c.Proxy.UserAttributes["additionalHeaders"].(map[string]any); ok {
			for k := range extra {
				if isIdentityHeader(k) {
					return nil
				}
			}
		}
	}
	vals := a.identityValues(c, rawToken)
	var buf bytes.Buffer
	bw := bufio.NewWriterSize(&buf, 2048)
	for i, k := range canonicalIdentityHeaders {
		fields.Write(bw, k, vals[i:i+1])
	}
	_ = bw.Flush()
	return buf.Bytes()
}

// writeIdentity writes the identity of an allowed decision into h. When
// rendered is set (the writer sends pre-rendered fields), the X-authentik-*
// fields are returned as bytes instead, rendered once per decoded session,
// unless additionalHeaders replace one of them.
func (a *App) writeIdentity(h http.Header, d Decision, rendered bool) []byte {
	if rendered {
		var block []byte
		if d.sess != nil {
			block = d.sess.Rendered(func(s *session.Session) []byte { return a.identityFields(&s.Claims, s.RawToken) })
		} else {
			block = a.identityFields(d.claims, d.rawToken)
		}
		if block != nil {
			a.setAttributeHeaders(h, d.claims)
			return block
		}
	}
	a.setIdentityHeaders(h, d.claims, d.rawToken)
	return nil
}

// canonicalIdentityHeaders are IdentityHeaders in canonical form, in the
// same order.
var canonicalIdentityHeaders = func() []string {
	out := make([]string, len(IdentityHeaders))
	for i, k := range IdentityHeaders {
		out[i] = http.CanonicalHeaderKey(k)
	}
	return out
}()

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

// isIdentityHeader reports whether k starts with x-authentik- in any case,
// with '_' for any '-', without allocating (it runs on every header of
// every proxied request).
func isIdentityHeader(k string) bool {
	const prefix = "x-authentik-"
	if len(k) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		c := k[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		} else if c == '_' {
			c = '-'
		}
		if c != prefix[i] {
			return false
		}
	}
	return true
}
