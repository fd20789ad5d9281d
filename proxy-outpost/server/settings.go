package server

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/outpost-go/outposts/authclient/proxyproto"
)

// Environment variables the proxy outpost reads in addition to the shared
// AUTHENTIK_* settings.
const (
	// EnvTrustedProxies lists the peers whose X-Forwarded-* and PROXY
	// protocol headers are believed (authentik's listen.trusted_proxy_cidrs).
	EnvTrustedProxies = proxyproto.EnvTrustedProxyCIDRs
	// EnvSessionIdle is the sliding idle timeout of a session (Go duration).
	EnvSessionIdle = "AUTHENTIK_PROXY__SESSION_IDLE_TIMEOUT"
	// EnvSessionMax is the absolute lifetime of a session (Go duration).
	EnvSessionMax = "AUTHENTIK_PROXY__SESSION_MAX_LIFETIME"
	// EnvDiagnostics enables /outpost.goauthentik.io/debug.
	EnvDiagnostics = "AUTHENTIK_PROXY__DIAGNOSTICS"
)

// DefaultTrustedProxies are believed when EnvTrustedProxies is unset:
// loopback and the private ranges, never everyone.
var DefaultTrustedProxies = []netip.Prefix{
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("::1/128"),
	netip.MustParsePrefix("fc00::/7"),
}

// Settings are the proxy outpost's own settings.
type Settings struct {
	// TrustedProxies may set forwarding headers.
	TrustedProxies []netip.Prefix
	// ProxyProtocol reads PROXY protocol headers from TrustedProxies
	// (only when EnvTrustedProxies is set explicitly).
	ProxyProtocol bool
	SessionIdle   time.Duration
	SessionMax    time.Duration
	Diagnostics   bool
}

// SettingsFromEnv reads Settings; a bad value is an error naming the
// variable.
func SettingsFromEnv(getenv func(string) string) (Settings, error) {
	s := Settings{TrustedProxies: DefaultTrustedProxies}
	if v := strings.TrimSpace(getenv(EnvTrustedProxies)); v != "" {
		p, err := proxyproto.ParseCIDRs(v)
		if err != nil {
			return s, fmt.Errorf("%s: %w", EnvTrustedProxies, err)
		}
		s.TrustedProxies, s.ProxyProtocol = p, true
	}
	for _, d := range []struct {
		name string
		dst  *time.Duration
	}{{EnvSessionIdle, &s.SessionIdle}, {EnvSessionMax, &s.SessionMax}} {
		if v := strings.TrimSpace(getenv(d.name)); v != "" {
			x, err := time.ParseDuration(v)
			if err != nil || x <= 0 {
				return s, fmt.Errorf("%s: %q is not a positive duration such as 12h", d.name, v)
			}
			*d.dst = x
		}
	}
	if v := strings.TrimSpace(getenv(EnvDiagnostics)); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return s, fmt.Errorf("%s: %q is not true or false", EnvDiagnostics, v)
		}
		s.Diagnostics = b
	}
	return s, nil
}
