package config

import (
	"errors"
	"strings"
	"testing"
)

func FuzzResolve(f *testing.F) {
	for _, s := range []string{"", "plain", "env://X", "env://X?fb", "env://MISSING?fb", "file:///f", "file:///missing?fb", "file:///missing", "env://a b%", "ENV://X", "file://host/f?"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, value string) {
		getenv := func(k string) string {
			if k == "X" {
				return "x-value"
			}
			return ""
		}
		readFile := func(p string) ([]byte, error) {
			if p == "/f" {
				return []byte(" file-value \n"), nil
			}
			return nil, errors.New("no such file")
		}
		got, err := Resolve(value, getenv, readFile)
		if err != nil && got != "" {
			t.Fatalf("error with a value: %q, %v", got, err)
		}
		if !strings.HasPrefix(strings.ToLower(value), "env:") && !strings.HasPrefix(strings.ToLower(value), "file:") && got != value {
			t.Fatalf("non-reference %q changed to %q", value, got)
		}
	})
}

func FuzzLoad(f *testing.F) {
	f.Add("https://ak.example.com", "token", "true", "0.0.0.0:9300", "", "", "50ms")
	f.Add("https://x/authentik", "env://T?fb", "maybe", "9300", "redis://u:p@c:6379/1", "", "1s")
	f.Add("ftp://x", "", "", "[::]:9300", "rediss://c", "a:1,b:2", "x")
	f.Add("http://[::1]:9000/", "file:///t", "1", ":0", "http://c", "s:26379", "-1s")
	f.Fuzz(func(t *testing.T, host, token, insecure, metrics, redisURL, addrs, timeout string) {
		vars := map[string]string{
			EnvHost: host, EnvToken: token, EnvInsecure: insecure, EnvListenMetrics: metrics,
			EnvRedisURL: redisURL, EnvRedisAddrs: addrs, EnvRedisTimeout: timeout, EnvRedisPassword: token,
		}
		c, err := LoadWith(env(vars), noFiles)
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("not an *Error: %T %v", err, err)
			}
			if strings.ContainsAny(err.Error(), "\r\n") {
				t.Fatalf("error is not one line: %q", err.Error())
			}
			return
		}
		if c.Host == nil || !strings.HasSuffix(c.Host.Path, "/") || c.Token == "" {
			t.Fatalf("bad config from valid load: %+v", c)
		}
		if c.Redis.Enabled() {
			if _, err := c.Redis.Options(); err != nil {
				t.Fatalf("Load accepted redis settings Options rejects: %v", err)
			}
		}
	})
}
