package config

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Config is everything an outpost reads from its environment.
type Config struct {
	// Host is the core's URL; its Path always ends with "/".
	Host *url.URL
	// HostBrowser is the core's URL as browsers see it; nil when unset.
	// Like Host, its Path ends with "/".
	HostBrowser *url.URL
	Token       string
	Insecure    bool
	Listen      Listen
	LogLevel    string
	Debug       bool
	BuildHash   string
	Redis       Redis
}

// Listen holds the listen addresses, each "host:port".
type Listen struct{ HTTP, HTTPS, LDAP, LDAPS, RADIUS, Metrics, Debug string }

// Default listen addresses (authentik/lib/default.yml; see the package doc
// for why 0.0.0.0 and not [::]).
const (
	DefaultListenHTTP    = "0.0.0.0:9000"
	DefaultListenHTTPS   = "0.0.0.0:9443"
	DefaultListenLDAP    = "0.0.0.0:3389"
	DefaultListenLDAPS   = "0.0.0.0:6636"
	DefaultListenRADIUS  = "0.0.0.0:1812"
	DefaultListenMetrics = "0.0.0.0:9300"
	DefaultListenDebug   = "0.0.0.0:9900"
)

// Other defaults.
const (
	DefaultLogLevel       = "info"
	DefaultRedisTimeout   = 50 * time.Millisecond
	DefaultRedisKeyPrefix = "ak-outpost"
)

// Environment variable names.
const (
	EnvHost                  = "AUTHENTIK_HOST"
	EnvHostBrowser           = "AUTHENTIK_HOST_BROWSER"
	EnvToken                 = "AUTHENTIK_TOKEN"
	EnvInsecure              = "AUTHENTIK_INSECURE"
	EnvListenHTTP            = "AUTHENTIK_LISTEN__HTTP"
	EnvListenHTTPS           = "AUTHENTIK_LISTEN__HTTPS"
	EnvListenLDAP            = "AUTHENTIK_LISTEN__LDAP"
	EnvListenLDAPS           = "AUTHENTIK_LISTEN__LDAPS"
	EnvListenRADIUS          = "AUTHENTIK_LISTEN__RADIUS"
	EnvListenMetrics         = "AUTHENTIK_LISTEN__METRICS"
	EnvListenDebug           = "AUTHENTIK_LISTEN__DEBUG"
	EnvLogLevel              = "AUTHENTIK_LOG_LEVEL"
	EnvDebug                 = "AUTHENTIK_DEBUG"
	EnvBuildHash             = "GIT_BUILD_HASH"
	EnvRedisURL              = "AUTHENTIK_REDIS__URL"
	EnvRedisAddrs            = "AUTHENTIK_REDIS__ADDRS"
	EnvRedisMasterName       = "AUTHENTIK_REDIS__MASTER_NAME"
	EnvRedisUsername         = "AUTHENTIK_REDIS__USERNAME"
	EnvRedisPassword         = "AUTHENTIK_REDIS__PASSWORD"
	EnvRedisSentinelPassword = "AUTHENTIK_REDIS__SENTINEL_PASSWORD"
	EnvRedisDB               = "AUTHENTIK_REDIS__DB"
	EnvRedisTLS              = "AUTHENTIK_REDIS__TLS"
	EnvRedisTLSInsecure      = "AUTHENTIK_REDIS__TLS_INSECURE"
	EnvRedisTimeout          = "AUTHENTIK_REDIS__TIMEOUT"
	EnvRedisKeyPrefix        = "AUTHENTIK_REDIS__KEY_PREFIX"
)

// Error is a configuration problem with one variable. Callers print it and
// exit (see Exit).
type Error struct {
	Var     string
	Problem string
}

func (e *Error) Error() string {
	return oneLine(e.Var + ": " + e.Problem)
}

// Exit prints err on one line to w and returns the exit code for a bad
// configuration, 2.
func Exit(w io.Writer, err error) int {
	msg := "unknown error"
	if err != nil {
		msg = err.Error()
	}
	_, _ = fmt.Fprintf(w, "configuration error: %s\n", oneLine(msg))
	return 2
}

func oneLine(s string) string {
	return strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s)
}

// Load reads the configuration through getenv. Files named by file://
// references are read from the local file system. The first problem found
// is returned as an *Error.
func Load(getenv func(string) string) (Config, error) {
	return LoadWith(getenv, readFileLimited)
}

// LoadWith is Load with the function that reads file:// references.
func LoadWith(getenv func(string) string, readFile func(string) ([]byte, error)) (Config, error) {
	l := loader{getenv: getenv, readFile: readFile}
	var c Config

	c.Host = l.url(EnvHost, true)
	c.Token = l.required(EnvToken)
	c.Insecure = l.bool(EnvInsecure)
	c.HostBrowser = l.url(EnvHostBrowser, false)
	c.Listen = Listen{
		HTTP:    l.listen(EnvListenHTTP, DefaultListenHTTP),
		HTTPS:   l.listen(EnvListenHTTPS, DefaultListenHTTPS),
		LDAP:    l.listen(EnvListenLDAP, DefaultListenLDAP),
		LDAPS:   l.listen(EnvListenLDAPS, DefaultListenLDAPS),
		RADIUS:  l.listen(EnvListenRADIUS, DefaultListenRADIUS),
		Metrics: l.listen(EnvListenMetrics, DefaultListenMetrics),
		Debug:   l.listen(EnvListenDebug, DefaultListenDebug),
	}
	c.LogLevel = l.text(EnvLogLevel, DefaultLogLevel)
	c.Debug = l.bool(EnvDebug)
	c.BuildHash = l.text(EnvBuildHash, "")
	c.Redis = l.redis()

	if l.err != nil {
		return Config{}, l.err
	}
	return c, nil
}

// ListenMetrics returns AUTHENTIK_LISTEN__METRICS (resolved and checked) or
// its default, without requiring the rest of the configuration. The
// healthcheck subcommand uses it: it must work even when, say, the token
// file is only readable by the running outpost.
func ListenMetrics(getenv func(string) string) (string, error) {
	l := loader{getenv: getenv, readFile: readFileLimited}
	addr := l.listen(EnvListenMetrics, DefaultListenMetrics)
	if l.err != nil {
		return "", l.err
	}
	return addr, nil
}

// loader keeps the first error so that Load reads straight down the list.
type loader struct {
	getenv   func(string) string
	readFile func(string) ([]byte, error)
	err      error
}

func (l *loader) fail(name, format string, args ...any) {
	if l.err == nil {
		l.err = &Error{Var: name, Problem: fmt.Sprintf(format, args...)}
	}
}

// raw returns the resolved value of name, untrimmed.
func (l *loader) raw(name string) string {
	if l.err != nil {
		return ""
	}
	v, err := Resolve(l.getenv(name), l.getenv, l.readFile)
	if err != nil {
		l.fail(name, "%v", err)
		return ""
	}
	return v
}

// text returns the trimmed value of name, or def when it is empty.
func (l *loader) text(name, def string) string {
	v := strings.TrimSpace(l.raw(name))
	if v == "" {
		return def
	}
	return v
}

// required returns the trimmed value of name and fails when it is empty.
// It never shows the value, so it suits the token.
func (l *loader) required(name string) string {
	v := l.text(name, "")
	if l.err == nil && v == "" {
		l.fail(name, "not set")
	}
	return v
}

func (l *loader) bool(name string) bool {
	v := l.text(name, "")
	if v == "" {
		return false
	}
	b, ok := parseBool(v)
	if !ok {
		l.fail(name, "%s is not a boolean (use true or false)", quote(v))
	}
	return b
}

func parseBool(v string) (bool, bool) {
	switch strings.ToLower(v) {
	case "true", "1", "yes", "on":
		return true, true
	case "false", "0", "no", "off":
		return false, true
	}
	return false, false
}

func (l *loader) url(name string, required bool) *url.URL {
	v := l.text(name, "")
	if l.err != nil {
		return nil
	}
	if v == "" {
		if required {
			l.fail(name, "not set")
		}
		return nil
	}
	u, err := url.Parse(v)
	if err != nil {
		// url.Parse's message repeats the URL, which may hold credentials.
		l.fail(name, "is not a valid URL")
		return nil
	}
	shown := quote(u.Redacted())
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		l.fail(name, "%s must start with http:// or https://", shown)
	case u.Host == "" || u.Hostname() == "":
		l.fail(name, "%s has no host name", shown)
	case u.Opaque != "":
		l.fail(name, "%s is not an absolute URL", shown)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		l.fail(name, "%s must not have a query or fragment", shown)
	}
	if p := u.Port(); l.err == nil && p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			l.fail(name, "%s has an invalid port", shown)
		}
	}
	if l.err != nil {
		return nil
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
		if u.RawPath != "" {
			u.RawPath += "/"
		}
	}
	return u
}

func (l *loader) listen(name, def string) string {
	v := l.text(name, def)
	if l.err != nil {
		return def
	}
	if err := checkHostPort(v); err != nil {
		l.fail(name, "%s is not a listen address (host:port, e.g. %s): %v", quote(v), def, err)
		return def
	}
	return v
}

func checkHostPort(v string) error {
	_, port, err := net.SplitHostPort(v)
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) {
			return errors.New(ae.Err)
		}
		return err
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("port %s is not a number from 0 to 65535", quote(port))
	}
	return nil
}

// quote shows a (non-secret) value in an error: quoted, escaped so the
// message stays on one line, and cut short when long.
func quote(v string) string {
	const maxLen = 80
	if len(v) > maxLen {
		cut := maxLen
		for cut > 0 && !utf8.RuneStart(v[cut]) {
			cut--
		}
		return strconv.Quote(v[:cut]) + "..."
	}
	return strconv.Quote(v)
}
