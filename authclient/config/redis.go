package config

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis says how to reach the optional shared cache.
type Redis struct {
	// URL is a single Redis: redis:// or rediss:// (TLS).
	URL string
	// Addrs are Sentinel addresses (with MasterName) or Cluster nodes.
	Addrs      []string
	MasterName string
	Username   string
	Password   string
	// SentinelPassword authenticates to the Sentinels themselves.
	SentinelPassword string
	DB               int
	TLS              bool
	TLSInsecure      bool
	// Timeout bounds every Redis call (dial, read, write, pool wait).
	Timeout   time.Duration
	KeyPrefix string
}

// Enabled reports whether a Redis is configured.
func (r Redis) Enabled() bool { return r.URL != "" || len(r.Addrs) > 0 }

// Mode names the topology Options will produce: "", "single", "sentinel"
// or "cluster". It is meant for logs.
func (r Redis) Mode() string {
	switch {
	case !r.Enabled():
		return ""
	case r.URL != "":
		return "single"
	case r.MasterName != "":
		return "sentinel"
	case len(r.Addrs) > 1:
		return "cluster"
	default:
		return "single"
	}
}

// Options returns options for redis.NewUniversalClient. That function picks
// the client from them: MasterName set gives a Sentinel (failover) client,
// otherwise two or more Addrs give a Cluster client, otherwise a single
// node. A URL always means a single node; its user, password and /db win
// over the separate variables, and rediss:// turns TLS on. Query options in
// the URL are checked but not used: every timeout is Timeout, and retries
// are off, so no cache call takes longer than Timeout.
func (r Redis) Options() (*redis.UniversalOptions, error) {
	if !r.Enabled() {
		return nil, errors.New("redis is not configured: set AUTHENTIK_REDIS__URL or AUTHENTIK_REDIS__ADDRS")
	}
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = DefaultRedisTimeout
	}
	o := &redis.UniversalOptions{
		Username:         r.Username,
		Password:         r.Password,
		SentinelPassword: r.SentinelPassword,
		DB:               r.DB,
		MasterName:       r.MasterName,
		Addrs:            append([]string(nil), r.Addrs...),

		DialTimeout:  timeout,
		ReadTimeout:  timeout,
		WriteTimeout: timeout,
		PoolTimeout:  timeout,
		// go-redis reads MaxRetries 0 as "the default, 3"; -1 means none.
		MaxRetries:            -1,
		DialerRetries:         1,
		ContextTimeoutEnabled: true,
	}
	useTLS := r.TLS
	serverName := ""
	if r.URL != "" {
		po, err := redis.ParseURL(r.URL)
		if err != nil {
			return nil, fmt.Errorf("redis url: %s", redactURLError(err, r.URL))
		}
		o.Addrs = []string{po.Addr}
		o.MasterName = ""
		if po.Username != "" {
			o.Username = po.Username
		}
		if po.Password != "" {
			o.Password = po.Password
		}
		if po.DB != 0 {
			o.DB = po.DB
		}
		if po.TLSConfig != nil {
			useTLS = true
		}
		if host, _, err := net.SplitHostPort(po.Addr); err == nil {
			serverName = host
		}
	}
	if useTLS {
		o.TLSConfig = &tls.Config{
			MinVersion: tls.VersionTLS12,
			ServerName: serverName,
			// Opt-in for self-signed Redis certificates (AUTHENTIK_REDIS__TLS_INSECURE).
			InsecureSkipVerify: r.TLSInsecure, //nolint:gosec // explicit operator choice
		}
	}
	return o, nil
}

// redactURLError keeps a Redis URL's credentials out of an error message.
func redactURLError(err error, rawURL string) string {
	msg := err.Error()
	u, perr := url.Parse(rawURL)
	if perr != nil {
		return "not a valid URL"
	}
	if u.User != nil {
		if p, ok := u.User.Password(); ok && p != "" {
			msg = strings.ReplaceAll(msg, p, "xxxxx")
		}
		if enc := u.User.String(); enc != "" {
			msg = strings.ReplaceAll(msg, enc, "xxxxx")
		}
	}
	return oneLine(msg)
}

func (l *loader) redis() Redis {
	r := Redis{
		URL:              l.text(EnvRedisURL, ""),
		MasterName:       l.text(EnvRedisMasterName, ""),
		Username:         l.text(EnvRedisUsername, ""),
		Password:         l.raw(EnvRedisPassword),
		SentinelPassword: l.raw(EnvRedisSentinelPassword),
		TLS:              l.bool(EnvRedisTLS),
		TLSInsecure:      l.bool(EnvRedisTLSInsecure),
		Timeout:          DefaultRedisTimeout,
		KeyPrefix:        l.text(EnvRedisKeyPrefix, DefaultRedisKeyPrefix),
	}
	if l.err != nil {
		return Redis{}
	}

	if r.URL != "" {
		u, err := url.Parse(r.URL)
		switch {
		case err != nil:
			l.fail(EnvRedisURL, "is not a valid URL")
		case u.Scheme != "redis" && u.Scheme != "rediss":
			l.fail(EnvRedisURL, "must start with redis:// or rediss://")
		default:
			if _, err := redis.ParseURL(r.URL); err != nil {
				l.fail(EnvRedisURL, "is not a valid Redis URL: %s", redactURLError(err, r.URL))
			}
		}
	}

	for _, a := range strings.Split(l.text(EnvRedisAddrs, ""), ",") {
		a = strings.TrimSpace(a)
		if a == "" || l.err != nil {
			continue
		}
		if err := checkHostPort(a); err != nil {
			l.fail(EnvRedisAddrs, "%s is not host:port: %v", quote(a), err)
		}
		r.Addrs = append(r.Addrs, a)
	}

	if v := l.text(EnvRedisDB, ""); v != "" && l.err == nil {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			l.fail(EnvRedisDB, "%s is not a database number", quote(v))
		}
		r.DB = n
	}

	if v := l.text(EnvRedisTimeout, ""); v != "" && l.err == nil {
		d, err := time.ParseDuration(v)
		switch {
		case err != nil:
			l.fail(EnvRedisTimeout, "%s is not a duration (e.g. 50ms or 1s)", quote(v))
		case d <= 0:
			l.fail(EnvRedisTimeout, "%s must be longer than zero", quote(v))
		default:
			r.Timeout = d
		}
	}

	switch {
	case l.err != nil:
	case r.URL != "" && len(r.Addrs) > 0:
		l.fail(EnvRedisAddrs, "cannot be used together with %s", EnvRedisURL)
	case r.URL != "" && r.MasterName != "":
		l.fail(EnvRedisMasterName, "needs %s (the Sentinel addresses), not %s", EnvRedisAddrs, EnvRedisURL)
	case r.MasterName != "" && len(r.Addrs) == 0:
		l.fail(EnvRedisMasterName, "needs %s (the Sentinel addresses)", EnvRedisAddrs)
	case r.Mode() == "cluster" && r.DB != 0:
		l.fail(EnvRedisDB, "must be 0 with a Redis Cluster (several %s without %s)", EnvRedisAddrs, EnvRedisMasterName)
	}
	if l.err != nil {
		return Redis{}
	}
	return r
}
