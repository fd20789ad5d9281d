package radiusd_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/outpost-go/outposts/authclient/config"
	"github.com/outpost-go/outposts/radius-outpost/radiusd"
)

func TestLoadSettings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		env     map[string]string
		listen  string
		check   func(t *testing.T, s radiusd.Settings)
		wantErr string
	}{
		{name: "defaults", listen: "0.0.0.0:1812", check: func(t *testing.T, s radiusd.Settings) {
			assert.Equal(t, "0.0.0.0:1813", s.ListenAccounting)
			assert.Empty(t, s.AllowMissingMA)
			assert.Equal(t, time.Hour, s.CacheTTL)
			assert.Equal(t, time.Minute, s.CacheFresh)
			assert.Equal(t, int64(5), s.Limits.UserFailures)
			assert.Equal(t, int64(20), s.Limits.ClientFailures)
			assert.Equal(t, 5*time.Minute, s.Limits.Window)
			assert.Equal(t, 10*time.Second, s.UserPoll)
		}},
		{name: "ipv6 derived", listen: "[::1]:11812", check: func(t *testing.T, s radiusd.Settings) {
			assert.Equal(t, "[::1]:11813", s.ListenAccounting)
		}},
		{name: "port 0 stays 0", listen: "127.0.0.1:0", check: func(t *testing.T, s radiusd.Settings) {
			assert.Equal(t, "127.0.0.1:0", s.ListenAccounting)
		}},
		{name: "explicit", listen: "0.0.0.0:1812", env: map[string]string{
			"AUTHENTIK_LISTEN__RADIUS_ACCOUNTING":                   "127.0.0.1:2813",
			"AUTHENTIK_RADIUS__ALLOW_MISSING_MESSAGE_AUTHENTICATOR": " old-switches , legacy ap,,",
			"AUTHENTIK_RADIUS__CACHE_TTL":                           "0",
			"AUTHENTIK_RADIUS__CACHE_FRESH":                         "90",
			"AUTHENTIK_RADIUS__RATE_LIMIT_USER":                     "0",
			"AUTHENTIK_RADIUS__RATE_LIMIT_CLIENT":                   "50",
			"AUTHENTIK_RADIUS__RATE_LIMIT_WINDOW":                   "1h",
			"AUTHENTIK_RADIUS__USER_POLL":                           "0",
		}, check: func(t *testing.T, s radiusd.Settings) {
			assert.Zero(t, s.UserPoll, "0 turns polling off")
			assert.Equal(t, "127.0.0.1:2813", s.ListenAccounting)
			assert.Equal(t, []string{"old-switches", "legacy ap"}, s.AllowMissingMA)
			assert.Zero(t, s.CacheTTL)
			assert.Equal(t, 90*time.Second, s.CacheFresh)
			assert.Equal(t, int64(-1), s.Limits.UserFailures, "0 turns it off")
			assert.Equal(t, int64(50), s.Limits.ClientFailures)
			assert.Equal(t, time.Hour, s.Limits.Window)
		}},
		{name: "accounting off", listen: "0.0.0.0:1812", env: map[string]string{"AUTHENTIK_LISTEN__RADIUS_ACCOUNTING": "off"}, check: func(t *testing.T, s radiusd.Settings) {
			assert.Empty(t, s.ListenAccounting)
		}},
		{name: "bad accounting", listen: "0.0.0.0:1812", env: map[string]string{"AUTHENTIK_LISTEN__RADIUS_ACCOUNTING": "1813"}, wantErr: "AUTHENTIK_LISTEN__RADIUS_ACCOUNTING"},
		{name: "underivable", listen: "0.0.0.0:65535", wantErr: "AUTHENTIK_LISTEN__RADIUS_ACCOUNTING"},
		{name: "bad ttl", listen: "0.0.0.0:1812", env: map[string]string{"AUTHENTIK_RADIUS__CACHE_TTL": "soon"}, wantErr: "AUTHENTIK_RADIUS__CACHE_TTL"},
		{name: "negative ttl", listen: "0.0.0.0:1812", env: map[string]string{"AUTHENTIK_RADIUS__CACHE_TTL": "-1s"}, wantErr: "AUTHENTIK_RADIUS__CACHE_TTL"},
		{name: "bad limit", listen: "0.0.0.0:1812", env: map[string]string{"AUTHENTIK_RADIUS__RATE_LIMIT_USER": "-3"}, wantErr: "AUTHENTIK_RADIUS__RATE_LIMIT_USER"},
		{name: "bad poll", listen: "0.0.0.0:1812", env: map[string]string{"AUTHENTIK_RADIUS__USER_POLL": "often"}, wantErr: "AUTHENTIK_RADIUS__USER_POLL"},
		{name: "zero window", listen: "0.0.0.0:1812", env: map[string]string{"AUTHENTIK_RADIUS__RATE_LIMIT_WINDOW": "0s"}, wantErr: "AUTHENTIK_RADIUS__RATE_LIMIT_WINDOW"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := radiusd.LoadSettings(func(k string) string { return tt.env[k] }, tt.listen)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			tt.check(t, s)
		})
	}
}

func FuzzLoadSettings(f *testing.F) {
	f.Add("0.0.0.0:1812", "", "", "", "", "", "")
	f.Add("[::1]:1812", "off", "a,b", "1h", "90", "5", "5m")
	f.Add("127.0.0.1:65535", "x:1", ",,", "-1s", "soon", "-1", "0")
	f.Fuzz(func(t *testing.T, listen, acct, allow, ttl, fresh, limit, window string) {
		env := map[string]string{
			radiusd.EnvListenAccounting: acct,
			radiusd.EnvAllowMissingMA:   allow,
			radiusd.EnvCacheTTL:         ttl,
			radiusd.EnvCacheFresh:       fresh,
			radiusd.EnvLimitUser:        limit,
			radiusd.EnvLimitWindow:      window,
		}
		s, err := radiusd.LoadSettings(func(k string) string { return env[k] }, listen)
		if err != nil {
			var ce *config.Error
			require.ErrorAs(t, err, &ce)
			return
		}
		assert.GreaterOrEqual(t, s.CacheTTL, time.Duration(0))
		assert.Positive(t, s.Limits.Window)
		for _, n := range s.AllowMissingMA {
			assert.NotEmpty(t, n)
		}
	})
}
