package radiusd

import (
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/outpost-go/outposts/authclient/config"
	"github.com/outpost-go/outposts/authclient/credcache"
)

// Environment variables of the RADIUS outpost beyond authentik's (the
// RADIUS listener itself is AUTHENTIK_LISTEN__RADIUS, read by package
// config). authentik's API has no field for these: they are outpost-side.
const (
	EnvListenAccounting = "AUTHENTIK_LISTEN__RADIUS_ACCOUNTING"
	EnvAllowMissingMA   = "AUTHENTIK_RADIUS__ALLOW_MISSING_MESSAGE_AUTHENTICATOR"
	EnvCacheTTL         = "AUTHENTIK_RADIUS__CACHE_TTL"
	EnvCacheFresh       = "AUTHENTIK_RADIUS__CACHE_FRESH"
	EnvLimitUser        = "AUTHENTIK_RADIUS__RATE_LIMIT_USER"
	EnvLimitClient      = "AUTHENTIK_RADIUS__RATE_LIMIT_CLIENT"
	EnvLimitWindow      = "AUTHENTIK_RADIUS__RATE_LIMIT_WINDOW"
	EnvUserPoll         = "AUTHENTIK_RADIUS__USER_POLL"
)

// DefaultCacheTTL is how long a successful PAP check is remembered: also
// how long users keep getting in while the core is down.
const DefaultCacheTTL = time.Hour

// Settings are the outpost-side RADIUS settings.
type Settings struct {
	// ListenAuth is AUTHENTIK_LISTEN__RADIUS.
	ListenAuth string
	// ListenAccounting is AUTHENTIK_LISTEN__RADIUS_ACCOUNTING, by default
	// the auth address with the port plus one (1812 → 1813); "" or "off"
	// disables accounting.
	ListenAccounting string
	// AllowMissingMA lists provider names whose Access-Requests may lack a
	// Message-Authenticator (comma-separated).
	AllowMissingMA []string
	// CacheTTL is the credential cache lifetime; 0 disables cached
	// authentication.
	CacheTTL time.Duration
	// CacheFresh is Options.FreshFor.
	CacheFresh time.Duration
	// Limits are the failed-attempt limits.
	Limits credcache.LimiterOptions
	// UserPoll is how often the core is asked for changed users (see
	// Options.Users); 0 disables it.
	UserPoll time.Duration
}

// LoadSettings reads the settings; listenAuth is the resolved
// AUTHENTIK_LISTEN__RADIUS. Errors are *config.Error.
func LoadSettings(getenv func(string) string, listenAuth string) (Settings, error) {
	s := Settings{ListenAuth: listenAuth, CacheTTL: DefaultCacheTTL, CacheFresh: DefaultFreshFor, UserPoll: DefaultUserPoll}
	acct := strings.TrimSpace(getenv(EnvListenAccounting))
	switch {
	case acct == "":
		a, err := nextPort(listenAuth)
		if err != nil {
			return Settings{}, &config.Error{Var: config.EnvListenRADIUS, Problem: err.Error()}
		}
		s.ListenAccounting = a
	case strings.EqualFold(acct, "off"):
		s.ListenAccounting = ""
	default:
		if _, _, err := net.SplitHostPort(acct); err != nil {
			return Settings{}, &config.Error{Var: EnvListenAccounting, Problem: "want host:port or off: " + err.Error()}
		}
		s.ListenAccounting = acct
	}
	for n := range strings.SplitSeq(getenv(EnvAllowMissingMA), ",") {
		if n = strings.TrimSpace(n); n != "" {
			s.AllowMissingMA = append(s.AllowMissingMA, n)
		}
	}
	var err error
	if s.CacheTTL, err = duration(getenv, EnvCacheTTL, s.CacheTTL); err != nil {
		return Settings{}, err
	}
	if s.CacheFresh, err = duration(getenv, EnvCacheFresh, s.CacheFresh); err != nil {
		return Settings{}, err
	}
	if s.UserPoll, err = duration(getenv, EnvUserPoll, s.UserPoll); err != nil {
		return Settings{}, err
	}
	if s.Limits.Window, err = duration(getenv, EnvLimitWindow, credcache.DefaultWindow); err != nil {
		return Settings{}, err
	}
	if s.Limits.UserFailures, err = count(getenv, EnvLimitUser, credcache.DefaultUserFailures); err != nil {
		return Settings{}, err
	}
	if s.Limits.ClientFailures, err = count(getenv, EnvLimitClient, credcache.DefaultClientFailures); err != nil {
		return Settings{}, err
	}
	if s.Limits.Window <= 0 {
		return Settings{}, &config.Error{Var: EnvLimitWindow, Problem: "must be positive"}
	}
	return s, nil
}

func nextPort(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65534 {
		return "", &config.Error{Var: EnvListenAccounting, Problem: "cannot derive the accounting port from " + addr + "; set it"}
	}
	if p == 0 {
		return net.JoinHostPort(host, "0"), nil
	}
	return net.JoinHostPort(host, strconv.Itoa(p+1)), nil
}

// duration parses a Go duration ("90s", "1h") or a number of seconds; it
// must not be negative.
func duration(getenv func(string) string, name string, def time.Duration) (time.Duration, error) {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		n, nerr := strconv.ParseInt(v, 10, 64)
		if nerr != nil || n > int64(1<<31) {
			return 0, &config.Error{Var: name, Problem: "want a duration such as 90s or 1h, or seconds"}
		}
		d = time.Duration(n) * time.Second
	}
	if d < 0 {
		return 0, &config.Error{Var: name, Problem: "must not be negative"}
	}
	return d, nil
}

// count parses a failure limit: a positive number, or 0 for "off".
func count(getenv func(string) string, name string, def int64) (int64, error) {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, &config.Error{Var: name, Problem: "want a number of failures (0 turns the limit off)"}
	}
	if n == 0 {
		return -1, nil // LimiterOptions: negative disables
	}
	return n, nil
}
