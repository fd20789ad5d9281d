// Package config reads an outpost's settings from its environment, the way
// authentik's outposts do.
//
// Load takes a getenv function (os.Getenv in main, a map in tests) and
// returns a Config or an *Error naming the one variable that is wrong. main
// does:
//
//	cfg, err := config.Load(os.Getenv)
//	if err != nil {
//		os.Exit(config.Exit(os.Stderr, err))
//	}
//
// # Variables
//
//	| Variable                          | Default            | Meaning |
//	|-----------------------------------|--------------------|---------|
//	| AUTHENTIK_HOST                    | (required)         | URL of the authentik core, http:// or https://, e.g. https://authentik.company or https://company/authentik/ (a trailing "/" is added to the path). |
//	| AUTHENTIK_TOKEN                   | (required)         | The outpost's API token. |
//	| AUTHENTIK_INSECURE                | false              | Skip TLS certificate checks when talking to the core. |
//	| AUTHENTIK_HOST_BROWSER            | (unset)            | Proxy outpost: the core's URL as browsers reach it, when it differs from AUTHENTIK_HOST. |
//	| AUTHENTIK_LISTEN__HTTP            | 0.0.0.0:9000       | Proxy outpost: HTTP listener. |
//	| AUTHENTIK_LISTEN__HTTPS           | 0.0.0.0:9443       | Proxy outpost: HTTPS listener. |
//	| AUTHENTIK_LISTEN__LDAP            | 0.0.0.0:3389       | LDAP outpost: plain/StartTLS listener. |
//	| AUTHENTIK_LISTEN__LDAPS           | 0.0.0.0:6636       | LDAP outpost: LDAPS listener. |
//	| AUTHENTIK_LISTEN__RADIUS          | 0.0.0.0:1812       | RADIUS outpost: UDP listener. |
//	| AUTHENTIK_LISTEN__METRICS         | 0.0.0.0:9300       | /metrics and the /outpost.goauthentik.io/ping health check. |
//	| AUTHENTIK_LISTEN__DEBUG           | 0.0.0.0:9900       | Debug (pprof) listener, only used when AUTHENTIK_DEBUG is true. |
//	| AUTHENTIK_LOG_LEVEL               | info               | trace, debug, info, warning (or warn), error; anything else means debug. |
//	| AUTHENTIK_DEBUG                   | false              | Human-readable console logs instead of JSON, and the debug listener. |
//	| GIT_BUILD_HASH                    | (empty)            | Build hash, reported in the version and User-Agent. |
//	| AUTHENTIK_REDIS__URL              | (unset)            | Single Redis: redis://[user:password@]host[:port][/db], or rediss:// for TLS. |
//	| AUTHENTIK_REDIS__ADDRS            | (unset)            | Comma-separated host:port list. With AUTHENTIK_REDIS__MASTER_NAME these are Sentinels; otherwise two or more addresses mean a Redis Cluster and one means a single Redis. |
//	| AUTHENTIK_REDIS__MASTER_NAME      | (unset)            | Sentinel master name; needs AUTHENTIK_REDIS__ADDRS. |
//	| AUTHENTIK_REDIS__USERNAME         | (empty)            | Redis ACL user (used when the URL has none). |
//	| AUTHENTIK_REDIS__PASSWORD         | (empty)            | Redis password (used when the URL has none). |
//	| AUTHENTIK_REDIS__SENTINEL_PASSWORD| (empty)            | Password of the Sentinels themselves. |
//	| AUTHENTIK_REDIS__DB               | 0                  | Database number (not with a Cluster; a /db in the URL wins). |
//	| AUTHENTIK_REDIS__TLS              | false              | Use TLS (rediss:// implies it). |
//	| AUTHENTIK_REDIS__TLS_INSECURE     | false              | Skip Redis TLS certificate checks. |
//	| AUTHENTIK_REDIS__TIMEOUT          | 50ms               | Go duration (e.g. 50ms, 1s): the longest any request waits for Redis; a slower Redis is treated as a cache miss. |
//	| AUTHENTIK_REDIS__KEY_PREFIX       | ak-outpost         | Prefix of every key the outpost writes, so outposts can share one Redis. |
//
// Redis is optional: it is used only when AUTHENTIK_REDIS__URL or
// AUTHENTIK_REDIS__ADDRS is set (Redis.Enabled).
//
// # Listen defaults
//
// The listen defaults are those of authentik/lib/default.yml as read from
// goauthentik/authentik ("0.0.0.0:<port>"). Reports say authentik 2026.5
// binds "[::]" by default; we keep 0.0.0.0 because it also works on hosts
// and containers without IPv6, where "[::]" fails with EAFNOSUPPORT. Set the
// variable to "[::]:9300" (etc.) to listen on IPv6 too.
//
// # Values from the environment or a file
//
// Every variable's value may be a reference, resolved as authentik does
// (see Resolve):
//
//	env://NAME?fallback       the value of variable NAME, or fallback when NAME is unset or empty
//	file:///path?fallback     the file's content with surrounding white space trimmed, or fallback when it cannot be read
//
// e.g. AUTHENTIK_TOKEN=file:///run/secrets/outpost_token.
//
// # Booleans
//
// true, false, 1, 0, yes, no, on, off, in any case, with surrounding white
// space ignored; empty means the default. authentik's Go outposts parse
// booleans with strconv.ParseBool (true/false/1/0/t/f) and its Python side
// accepts only "true"; we accept the common spellings of both and reject
// anything else (including "t" and "f") with an error, rather than silently
// reading a typo as false.
//
// # Errors
//
// An *Error names the variable and what is wrong with it on one line, e.g.
// "AUTHENTIK_HOST: not set" or `AUTHENTIK_INSECURE: "maybe" is not a
// boolean`. It never contains the value of a secret (the token, passwords,
// or a Redis URL, which may hold a password).
package config
