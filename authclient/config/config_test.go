package config

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func noFiles(string) ([]byte, error) { return nil, fs.ErrNotExist }

func minimal(extra map[string]string) map[string]string {
	m := map[string]string{EnvHost: "https://ak.example.com", EnvToken: "tok3n"}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

func TestLoadDefaults(t *testing.T) {
	t.Parallel()
	c, err := Load(env(minimal(nil)))
	require.NoError(t, err)
	assert.Equal(t, "https://ak.example.com/", c.Host.String())
	assert.Nil(t, c.HostBrowser)
	assert.Equal(t, "tok3n", c.Token)
	assert.False(t, c.Insecure)
	assert.Equal(t, Listen{
		HTTP: "0.0.0.0:9000", HTTPS: "0.0.0.0:9443", LDAP: "0.0.0.0:3389", LDAPS: "0.0.0.0:6636",
		RADIUS: "0.0.0.0:1812", Metrics: "0.0.0.0:9300", Debug: "0.0.0.0:9900",
	}, c.Listen)
	assert.Equal(t, "info", c.LogLevel)
	assert.False(t, c.Debug)
	assert.Empty(t, c.BuildHash)
	assert.False(t, c.Redis.Enabled())
	assert.Equal(t, 50*time.Millisecond, c.Redis.Timeout)
	assert.Equal(t, "ak-outpost", c.Redis.KeyPrefix)
}

func TestLoad(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		env   map[string]string
		check func(t *testing.T, c Config)
	}{
		{"host path gets slash", minimal(map[string]string{EnvHost: "https://x.example/authentik"}), func(t *testing.T, c Config) {
			assert.Equal(t, "/authentik/", c.Host.Path)
			assert.Equal(t, "https://x.example/authentik/", c.Host.String())
		}},
		{"host keeps slash and port", minimal(map[string]string{EnvHost: " http://10.0.0.1:9000/ak/ "}), func(t *testing.T, c Config) {
			assert.Equal(t, "http://10.0.0.1:9000/ak/", c.Host.String())
		}},
		{"host browser", minimal(map[string]string{EnvHostBrowser: "https://login.example.com"}), func(t *testing.T, c Config) {
			require.NotNil(t, c.HostBrowser)
			assert.Equal(t, "login.example.com", c.HostBrowser.Host)
		}},
		{"booleans", minimal(map[string]string{EnvInsecure: "TRUE", EnvDebug: " yes ", EnvRedisTLS: "1", EnvRedisTLSInsecure: "Off"}), func(t *testing.T, c Config) {
			assert.True(t, c.Insecure)
			assert.True(t, c.Debug)
			assert.True(t, c.Redis.TLS)
			assert.False(t, c.Redis.TLSInsecure)
		}},
		{"listen overrides", minimal(map[string]string{EnvListenMetrics: "[::]:9301", EnvListenLDAP: ":389", EnvListenRADIUS: "127.0.0.1:0"}), func(t *testing.T, c Config) {
			assert.Equal(t, "[::]:9301", c.Listen.Metrics)
			assert.Equal(t, ":389", c.Listen.LDAP)
			assert.Equal(t, "127.0.0.1:0", c.Listen.RADIUS)
		}},
		{"log level and build", minimal(map[string]string{EnvLogLevel: "trace", EnvBuildHash: "abc123"}), func(t *testing.T, c Config) {
			assert.Equal(t, "trace", c.LogLevel)
			assert.Equal(t, "abc123", c.BuildHash)
		}},
		{"token env reference", minimal(map[string]string{EnvToken: "env://OUTPOST_TOKEN", "OUTPOST_TOKEN": "from-env"}), func(t *testing.T, c Config) {
			assert.Equal(t, "from-env", c.Token)
		}},
		{"token env fallback", minimal(map[string]string{EnvToken: "env://MISSING?fallback-token"}), func(t *testing.T, c Config) {
			assert.Equal(t, "fallback-token", c.Token)
		}},
		{"redis url", minimal(map[string]string{EnvRedisURL: "rediss://u:p@cache:6380/2"}), func(t *testing.T, c Config) {
			assert.True(t, c.Redis.Enabled())
			assert.Equal(t, "single", c.Redis.Mode())
		}},
		{"redis sentinel", minimal(map[string]string{EnvRedisAddrs: "s1:26379, s2:26379,,", EnvRedisMasterName: "mymaster", EnvRedisDB: "3"}), func(t *testing.T, c Config) {
			assert.Equal(t, []string{"s1:26379", "s2:26379"}, c.Redis.Addrs)
			assert.Equal(t, "sentinel", c.Redis.Mode())
			assert.Equal(t, 3, c.Redis.DB)
		}},
		{"redis cluster", minimal(map[string]string{EnvRedisAddrs: "n1:7000,n2:7000,n3:7000"}), func(t *testing.T, c Config) {
			assert.Equal(t, "cluster", c.Redis.Mode())
		}},
		{"redis single addr", minimal(map[string]string{EnvRedisAddrs: "cache:6379"}), func(t *testing.T, c Config) {
			assert.Equal(t, "single", c.Redis.Mode())
		}},
		{"redis misc", minimal(map[string]string{EnvRedisURL: "redis://cache", EnvRedisTimeout: "250ms", EnvRedisKeyPrefix: "ldap-1", EnvRedisPassword: " spaced ", EnvRedisUsername: "bob"}), func(t *testing.T, c Config) {
			assert.Equal(t, 250*time.Millisecond, c.Redis.Timeout)
			assert.Equal(t, "ldap-1", c.Redis.KeyPrefix)
			assert.Equal(t, " spaced ", c.Redis.Password, "passwords are kept exactly")
			assert.Equal(t, "bob", c.Redis.Username)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := LoadWith(env(tt.env), noFiles)
			require.NoError(t, err)
			tt.check(t, c)
		})
	}
}

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"no host", map[string]string{EnvToken: "t"}, "AUTHENTIK_HOST: not set"},
		{"blank host", map[string]string{EnvHost: "  ", EnvToken: "t"}, "AUTHENTIK_HOST: not set"},
		{"no token", map[string]string{EnvHost: "https://x"}, "AUTHENTIK_TOKEN: not set"},
		{"host scheme", minimal(map[string]string{EnvHost: "ftp://x"}), `AUTHENTIK_HOST: "ftp://x" must start with http:// or https://`},
		{"host bare", minimal(map[string]string{EnvHost: "authentik.company"}), `AUTHENTIK_HOST: "authentik.company" must start with http:// or https://`},
		{"host no hostname", minimal(map[string]string{EnvHost: "https://"}), `AUTHENTIK_HOST: "https:" has no host name`},
		{"host query", minimal(map[string]string{EnvHost: "https://x/?a=b"}), `AUTHENTIK_HOST: "https://x/?a=b" must not have a query or fragment`},
		{"host bad port", minimal(map[string]string{EnvHost: "https://x:99999"}), `AUTHENTIK_HOST: "https://x:99999" has an invalid port`},
		{"host unparsable", minimal(map[string]string{EnvHost: "https://x y/%zz"}), "AUTHENTIK_HOST: is not a valid URL"},
		{"host browser", minimal(map[string]string{EnvHostBrowser: "login.example.com"}), `AUTHENTIK_HOST_BROWSER: "login.example.com" must start with http:// or https://`},
		{"insecure", minimal(map[string]string{EnvInsecure: "maybe"}), `AUTHENTIK_INSECURE: "maybe" is not a boolean (use true or false)`},
		{"debug t", minimal(map[string]string{EnvDebug: "t"}), `AUTHENTIK_DEBUG: "t" is not a boolean (use true or false)`},
		{"listen", minimal(map[string]string{EnvListenMetrics: "9300"}), `AUTHENTIK_LISTEN__METRICS: "9300" is not a listen address (host:port, e.g. 0.0.0.0:9300): missing port in address`},
		{"listen port", minimal(map[string]string{EnvListenLDAP: "0.0.0.0:ldap"}), `AUTHENTIK_LISTEN__LDAP: "0.0.0.0:ldap" is not a listen address (host:port, e.g. 0.0.0.0:3389): port "ldap" is not a number from 0 to 65535`},
		{"redis scheme", minimal(map[string]string{EnvRedisURL: "http://cache"}), "AUTHENTIK_REDIS__URL: must start with redis:// or rediss://"},
		{"redis db in url", minimal(map[string]string{EnvRedisURL: "redis://cache/x"}), `AUTHENTIK_REDIS__URL: is not a valid Redis URL: redis: invalid database number: "x"`},
		{"redis addrs", minimal(map[string]string{EnvRedisAddrs: "a:1,b"}), `AUTHENTIK_REDIS__ADDRS: "b" is not host:port: missing port in address`},
		{"redis url and addrs", minimal(map[string]string{EnvRedisURL: "redis://a", EnvRedisAddrs: "b:1"}), "AUTHENTIK_REDIS__ADDRS: cannot be used together with AUTHENTIK_REDIS__URL"},
		{"master without addrs", minimal(map[string]string{EnvRedisMasterName: "m"}), "AUTHENTIK_REDIS__MASTER_NAME: needs AUTHENTIK_REDIS__ADDRS (the Sentinel addresses)"},
		{"master with url", minimal(map[string]string{EnvRedisMasterName: "m", EnvRedisURL: "redis://a"}), "AUTHENTIK_REDIS__MASTER_NAME: needs AUTHENTIK_REDIS__ADDRS (the Sentinel addresses), not AUTHENTIK_REDIS__URL"},
		{"db", minimal(map[string]string{EnvRedisDB: "-1"}), `AUTHENTIK_REDIS__DB: "-1" is not a database number`},
		{"cluster db", minimal(map[string]string{EnvRedisAddrs: "a:1,b:2", EnvRedisDB: "1"}), "AUTHENTIK_REDIS__DB: must be 0 with a Redis Cluster (several AUTHENTIK_REDIS__ADDRS without AUTHENTIK_REDIS__MASTER_NAME)"},
		{"timeout", minimal(map[string]string{EnvRedisTimeout: "50"}), `AUTHENTIK_REDIS__TIMEOUT: "50" is not a duration (e.g. 50ms or 1s)`},
		{"timeout zero", minimal(map[string]string{EnvRedisTimeout: "0s"}), `AUTHENTIK_REDIS__TIMEOUT: "0s" must be longer than zero`},
		{"token file missing", minimal(map[string]string{EnvToken: "file:///run/secrets/nope"}), "AUTHENTIK_TOKEN: file reference without fallback: file does not exist"},
		{"long value cut", minimal(map[string]string{EnvInsecure: strings.Repeat("x", 200)}), `AUTHENTIK_INSECURE: "` + strings.Repeat("x", 80) + `"... is not a boolean (use true or false)`},
		{"newline stays one line", minimal(map[string]string{EnvInsecure: "a\nb"}), `AUTHENTIK_INSECURE: "a\nb" is not a boolean (use true or false)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := LoadWith(env(tt.env), noFiles)
			require.Error(t, err)
			var ce *Error
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, tt.want, err.Error())
			assert.NotContains(t, err.Error(), "\n")
		})
	}
}

func TestErrorsNeverShowSecrets(t *testing.T) {
	t.Parallel()
	const secret = "s3cr3t-Pa55"
	cases := []map[string]string{
		minimal(map[string]string{EnvHost: "https://user:" + secret + "@x y"}),
		minimal(map[string]string{EnvHost: "ftp://user:" + secret + "@x"}),
		minimal(map[string]string{EnvRedisURL: "redis://user:" + secret + "@cache/notadb"}),
		minimal(map[string]string{EnvRedisURL: "redis://user:" + secret + "@cache:6379/0?bogus=1"}),
		minimal(map[string]string{EnvRedisURL: "redis://user:" + secret + "@ca che%zz"}),
		minimal(map[string]string{EnvRedisURL: "http://user:" + secret + "@cache"}),
		minimal(map[string]string{EnvRedisURL: "redis://:" + secret + "@cache?dial_timeout=" + secret}),
	}
	for _, m := range cases {
		_, err := LoadWith(env(m), noFiles)
		require.Error(t, err, m)
		assert.NotContains(t, err.Error(), secret)
		var buf bytes.Buffer
		assert.Equal(t, 2, Exit(&buf, err))
		assert.NotContains(t, buf.String(), secret)
	}
}

func TestLoadFileReference(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tokenPath := filepath.Join(dir, "token")
	require.NoError(t, os.WriteFile(tokenPath, []byte("  file-token\n"), 0o600))
	bigPath := filepath.Join(dir, "big")
	require.NoError(t, os.WriteFile(bigPath, bytes.Repeat([]byte("a"), maxFileSize+1), 0o600))

	c, err := Load(env(minimal(map[string]string{EnvToken: "file://" + tokenPath, EnvRedisPassword: "file://" + tokenPath, EnvRedisURL: "redis://cache"})))
	require.NoError(t, err)
	assert.Equal(t, "file-token", c.Token)
	assert.Equal(t, "file-token", c.Redis.Password)

	_, err = Load(env(minimal(map[string]string{EnvToken: "file://" + bigPath})))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "larger than 1 MiB")
}

func TestResolve(t *testing.T) {
	t.Parallel()
	vars := map[string]string{"SET": "value", "EMPTY": "", "SPACED": " v "}
	files := map[string]string{"/run/s/token": "\n  abc \t\n", "/empty": ""}
	readFile := func(p string) ([]byte, error) {
		if v, ok := files[p]; ok {
			return []byte(v), nil
		}
		return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
	}
	tests := []struct {
		in      string
		want    string
		wantErr string
	}{
		{in: "plain", want: "plain"},
		{in: "", want: ""},
		{in: "https://ak.example.com/x?y", want: "https://ak.example.com/x?y"},
		{in: "env://SET", want: "value"},
		{in: "env://SET?fb", want: "value"},
		{in: "env://SPACED", want: " v "},
		{in: "env://MISSING", want: ""},
		{in: "env://MISSING?fb", want: "fb"},
		{in: "env://MISSING?a%20b&c", want: "a%20b&c"},
		{in: "env://EMPTY?fb", want: "fb"},
		{in: "ENV://SET", want: "value"},
		{in: "file:///run/s/token", want: "abc"},
		{in: "file:///run/s/token?fb", want: "abc"},
		{in: "file:///empty?fb", want: ""},
		{in: "file:///nope?fb", want: "fb"},
		{in: "file:///nope?", want: ""},
		{in: "file:///nope", wantErr: "file reference without fallback: open /nope: file does not exist"},
		{in: "env://bad host%", want: "env://bad host%"},
		{in: "redis://:pw@cache", want: "redis://:pw@cache"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := Resolve(tt.in, env(vars), readFile)
			if tt.wantErr != "" {
				require.EqualError(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestExit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want string
	}{
		{&Error{Var: EnvHost, Problem: "not set"}, "configuration error: AUTHENTIK_HOST: not set\n"},
		{errors.New("two\nlines"), "configuration error: two lines\n"},
		{nil, "configuration error: unknown error\n"},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		assert.Equal(t, 2, Exit(&buf, tt.err))
		assert.Equal(t, tt.want, buf.String())
	}
}

func TestListenMetrics(t *testing.T) {
	t.Parallel()
	addr, err := ListenMetrics(env(nil))
	require.NoError(t, err)
	assert.Equal(t, DefaultListenMetrics, addr)
	addr, err = ListenMetrics(env(map[string]string{EnvListenMetrics: "127.0.0.1:9301"}))
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:9301", addr)
	_, err = ListenMetrics(env(map[string]string{EnvListenMetrics: "nope"}))
	require.Error(t, err)
}
