package config

// Var documents one environment variable that Load reads.
type Var struct {
	Name string
	// Default is shown to people: a value, or a note such as "(required)".
	Default     string
	Description string
}

// Vars returns every variable Load reads, in the order of the package
// documentation. It is the machine-readable form of that table:
// docs/configuration.md is generated from it (tools/shipcheck), and a test
// checks that it names exactly the variables Load asks for. The slice is
// new on every call, so callers may change it.
func Vars() []Var {
	return []Var{
		{EnvHost, "(required)", `URL of the authentik core, http:// or https://, e.g. https://authentik.company or https://company/authentik/ (a trailing "/" is added to the path).`},
		{EnvToken, "(required)", "The outpost's API token."},
		{EnvInsecure, "false", "Skip TLS certificate checks when talking to the core."},
		{EnvHostBrowser, "(unset)", "Proxy outpost: the core's URL as browsers reach it, when it differs from AUTHENTIK_HOST."},
		{EnvListenHTTP, DefaultListenHTTP, "Proxy outpost: HTTP listener."},
		{EnvListenHTTPS, DefaultListenHTTPS, "Proxy outpost: HTTPS listener."},
		{EnvListenLDAP, DefaultListenLDAP, "LDAP outpost: plain/StartTLS listener."},
		{EnvListenLDAPS, DefaultListenLDAPS, "LDAP outpost: LDAPS listener."},
		{EnvListenRADIUS, DefaultListenRADIUS, "RADIUS outpost: UDP listener."},
		{EnvListenMetrics, DefaultListenMetrics, "/metrics and the /outpost.goauthentik.io/ping health check."},
		{EnvListenDebug, DefaultListenDebug, "Debug (pprof) listener, only used when AUTHENTIK_DEBUG is true."},
		{EnvLogLevel, DefaultLogLevel, "trace, debug, info, warning (or warn), error; anything else means debug."},
		{EnvDebug, "false", "Human-readable console logs instead of JSON, and the debug listener."},
		{EnvBuildHash, "(empty)", "Build hash, reported in the version and User-Agent."},
		{EnvRedisURL, "(unset)", "Single Redis: redis://[user:password@]host[:port][/db], or rediss:// for TLS."},
		{EnvRedisAddrs, "(unset)", "Comma-separated host:port list. With AUTHENTIK_REDIS__MASTER_NAME these are Sentinels; otherwise two or more addresses mean a Redis Cluster and one means a single Redis."},
		{EnvRedisMasterName, "(unset)", "Sentinel master name; needs AUTHENTIK_REDIS__ADDRS."},
		{EnvRedisUsername, "(empty)", "Redis ACL user (used when the URL has none)."},
		{EnvRedisPassword, "(empty)", "Redis password (used when the URL has none)."},
		{EnvRedisSentinelPassword, "(empty)", "Password of the Sentinels themselves."},
		{EnvRedisDB, "0", "Database number (not with a Cluster; a /db in the URL wins)."},
		{EnvRedisTLS, "false", "Use TLS (rediss:// implies it)."},
		{EnvRedisTLSInsecure, "false", "Skip Redis TLS certificate checks."},
		{EnvRedisTimeout, DefaultRedisTimeout.String(), "Go duration (e.g. 50ms, 1s): the longest any request waits for Redis; a slower Redis is treated as a cache miss."},
		{EnvRedisKeyPrefix, DefaultRedisKeyPrefix, "Prefix of every key the outpost writes, so outposts can share one Redis."},
	}
}
