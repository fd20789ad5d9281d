package config

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRedisOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		r     Redis
		check func(t *testing.T, o *redis.UniversalOptions)
	}{
		{"url", Redis{URL: "redis://u:p@cache:6380/2", Timeout: time.Second}, func(t *testing.T, o *redis.UniversalOptions) {
			assert.Equal(t, []string{"cache:6380"}, o.Addrs)
			assert.Equal(t, "u", o.Username)
			assert.Equal(t, "p", o.Password)
			assert.Equal(t, 2, o.DB)
			assert.Nil(t, o.TLSConfig)
			assert.Equal(t, time.Second, o.DialTimeout)
			assert.Equal(t, time.Second, o.ReadTimeout)
			assert.Equal(t, time.Second, o.WriteTimeout)
			assert.Equal(t, time.Second, o.PoolTimeout)
			assert.Equal(t, -1, o.MaxRetries, "no retries")
			assert.True(t, o.ContextTimeoutEnabled)
		}},
		{"rediss", Redis{URL: "rediss://cache", TLSInsecure: true}, func(t *testing.T, o *redis.UniversalOptions) {
			require.NotNil(t, o.TLSConfig)
			assert.Equal(t, "cache", o.TLSConfig.ServerName)
			assert.True(t, o.TLSConfig.InsecureSkipVerify)
			assert.Equal(t, DefaultRedisTimeout, o.ReadTimeout)
		}},
		{"url falls back to separate credentials", Redis{URL: "redis://cache", Username: "bob", Password: "pw", DB: 4, TLS: true}, func(t *testing.T, o *redis.UniversalOptions) {
			assert.Equal(t, "bob", o.Username)
			assert.Equal(t, "pw", o.Password)
			assert.Equal(t, 4, o.DB)
			require.NotNil(t, o.TLSConfig)
			assert.False(t, o.TLSConfig.InsecureSkipVerify)
		}},
		{"sentinel", Redis{Addrs: []string{"s1:26379", "s2:26379"}, MasterName: "m", Password: "pw", SentinelPassword: "spw", DB: 1}, func(t *testing.T, o *redis.UniversalOptions) {
			assert.Equal(t, "m", o.MasterName)
			assert.Equal(t, []string{"s1:26379", "s2:26379"}, o.Addrs)
			assert.Equal(t, "spw", o.SentinelPassword)
			assert.Equal(t, 1, o.DB)
		}},
		{"cluster", Redis{Addrs: []string{"n1:7000", "n2:7000"}}, func(t *testing.T, o *redis.UniversalOptions) {
			assert.Empty(t, o.MasterName)
			assert.Len(t, o.Addrs, 2)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o, err := tt.r.Options()
			require.NoError(t, err)
			tt.check(t, o)
		})
	}

	_, err := Redis{}.Options()
	require.Error(t, err)
}

// TestRedisClientKinds checks that NewUniversalClient builds the client the
// doc comment promises for each topology.
func TestRedisClientKinds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		r    Redis
		want any
	}{
		{Redis{URL: "redis://127.0.0.1:1"}, &redis.Client{}},
		{Redis{Addrs: []string{"127.0.0.1:1"}}, &redis.Client{}},
		{Redis{Addrs: []string{"127.0.0.1:1", "127.0.0.1:2"}}, &redis.ClusterClient{}},
		{Redis{Addrs: []string{"127.0.0.1:1"}, MasterName: "m"}, &redis.Client{}},
	}
	for _, tt := range tests {
		o, err := tt.r.Options()
		require.NoError(t, err)
		c := redis.NewUniversalClient(o)
		assert.IsType(t, tt.want, c, tt.r.Mode())
		require.NoError(t, c.Close())
	}
}

// TestRedisReal talks to the Redis on 127.0.0.1:6379 through Load and
// Options, and checks that a dead Redis fails within the timeout rather than
// hanging.
func TestRedisReal(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("redis-server"); err != nil && os.Getenv("CI") != "true" {
		t.Skip("redis-server not installed (apt-get install redis-server)")
	}
	c, err := Load(env(minimal(map[string]string{EnvRedisURL: "redis://127.0.0.1:6379/0", EnvRedisTimeout: "2s"})))
	require.NoError(t, err)
	o, err := c.Redis.Options()
	require.NoError(t, err)
	client := redis.NewUniversalClient(o)
	t.Cleanup(func() { _ = client.Close() })
	if err := client.Ping(t.Context()).Err(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("redis on 127.0.0.1:6379: %v", err)
		}
		t.Skipf("no redis on 127.0.0.1:6379 (%v): start redis-server", err)
	}

	// A port nobody listens on: the error comes back, no retry loop.
	dead, err := Redis{URL: "redis://127.0.0.1:1", Timeout: 50 * time.Millisecond}.Options()
	require.NoError(t, err)
	deadClient := redis.NewUniversalClient(dead)
	t.Cleanup(func() { _ = deadClient.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	require.Error(t, deadClient.Get(ctx, "k").Err())
	require.NoError(t, ctx.Err(), "a dead redis must fail well within the test's own deadline")
}
