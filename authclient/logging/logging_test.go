package logging

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func lines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var got []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &m), line)
		got = append(got, m)
	}
	return got
}

func TestLevel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want zerolog.Level
	}{
		{"trace", zerolog.TraceLevel},
		{"DEBUG", zerolog.DebugLevel},
		{"info", zerolog.InfoLevel},
		{"", zerolog.InfoLevel},
		{"warning", zerolog.WarnLevel},
		{"Warn", zerolog.WarnLevel},
		{" error ", zerolog.ErrorLevel},
		{"fatal", zerolog.DebugLevel},
		{"verbose", zerolog.DebugLevel},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, Level(tt.in), tt.in)
	}
}

func TestNewJSON(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	l := Named(New(&buf, "info", false), "authentik.outpost.ldap")
	l.Info().Str("bindDN", "cn=alice").Msg("Bind request")
	l.Warn().Msg("careful")
	l.Debug().Msg("hidden")
	l.Error().Err(errors.New("boom")).Msg(`quote " and "message": inside`)
	l.Info().Send()

	got := lines(t, buf.String())
	require.Len(t, got, 4)

	first := got[0]
	assert.Equal(t, "Bind request", first["event"])
	assert.Equal(t, "info", first["level"])
	assert.Equal(t, "authentik.outpost.ldap", first["logger"])
	assert.Equal(t, "cn=alice", first["bindDN"])
	assert.NotContains(t, first, "message")
	assert.NotContains(t, first, "time")
	ts, ok := first["timestamp"].(string)
	require.True(t, ok)
	_, err := time.Parse(time.RFC3339Nano, ts)
	require.NoError(t, err)

	assert.Equal(t, "warning", got[1]["level"], "logrus spelling")
	assert.Equal(t, "careful", got[1]["event"])
	assert.Equal(t, `quote " and "message": inside`, got[2]["event"])
	assert.Equal(t, "boom", got[2]["error"])
	assert.NotContains(t, got[3], "event")
}

func TestLevelsFilter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		level string
		want  []string
	}{
		{"trace", []string{"trace", "debug", "info", "warning", "error"}},
		{"info", []string{"info", "warning", "error"}},
		{"warning", []string{"warning", "error"}},
		{"error", []string{"error"}},
		{"nonsense", []string{"debug", "info", "warning", "error"}},
	}
	for _, tt := range tests {
		t.Run(tt.level, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			l := New(&buf, tt.level, false)
			l.Trace().Msg("x")
			l.Debug().Msg("x")
			l.Info().Msg("x")
			l.Warn().Msg("x")
			l.Error().Msg("x")
			var levels []string
			for _, m := range lines(t, buf.String()) {
				levels = append(levels, m["level"].(string))
			}
			assert.Equal(t, tt.want, levels)
		})
	}
}

func TestSetLevel(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	l := New(&buf, "error", false)
	l.Info().Msg("before")
	SetLevel(&l, "debug")
	l.Debug().Msg("after")
	got := lines(t, buf.String())
	require.Len(t, got, 1)
	assert.Equal(t, "after", got[0]["event"])
}

func TestNewDebugConsole(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	l := Named(New(&buf, "debug", true), "authentik.outpost.radius")
	l.Debug().Str("client", "10.0.0.1").Msg("Access-Request")
	out := buf.String()
	assert.Contains(t, out, "Access-Request")
	assert.Contains(t, out, "logger=authentik.outpost.radius")
	assert.Contains(t, out, "client=10.0.0.1")
	assert.NotContains(t, out, "\x1b[", "no colours when not a terminal")
	assert.False(t, json.Valid([]byte(strings.TrimSpace(out))))
}

func TestRedact(t *testing.T) {
	t.Parallel()
	assert.Empty(t, Redact(""))
	assert.Equal(t, Redacted, Redact("hunter2"))

	tests := []struct{ in, want string }{
		{"redis://user:pw@cache:6379/0", "redis://user:%2A%2A%2A%2A%2A%2A%2A%2A@cache:6379/0"},
		{"redis://cache:6379", "redis://cache:6379"},
		{"https://x/cb?code=abc&state=s", "https://x/cb?code=%2A%2A%2A%2A%2A%2A%2A%2A&state=%2A%2A%2A%2A%2A%2A%2A%2A"},
		{"redis://u:p@c%zz", Redacted},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, RedactURL(tt.in), tt.in)
	}
}

// TestPasswordNeverLogged logs a failed bind the way components do and
// checks the password appears nowhere, in JSON or console form, at the
// most verbose level.
func TestPasswordNeverLogged(t *testing.T) {
	t.Parallel()
	const password = "Tr0ub4dor&3-secret"
	const totp = "492039"
	for _, debug := range []bool{false, true} {
		t.Run(fmt.Sprint("debug=", debug), func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			l := Named(New(&buf, "trace", debug), "authentik.outpost.ldap")
			// What an LDAP bind handler has: DN, username, client, and the
			// (password;totp) string it must not log.
			bindPassword := password + ";" + totp
			l.Info().
				Str("bindDN", "cn=alice,ou=users,dc=ldap,dc=goauthentik,dc=io").
				Str("username", "alice").
				Str("client", "192.0.2.10").
				Str("password", Redact(bindPassword)).
				Str("redis", RedactURL("redis://default:"+password+"@cache:6379/0")).
				Err(errors.New("flow: invalid credentials")).
				Msg("failed to bind user")
			out := buf.String()
			assert.Contains(t, out, "alice")
			assert.NotContains(t, out, password)
			assert.NotContains(t, out, totp)
		})
	}
}

// BenchmarkNew measures a typical line; the key-renaming writer adds one
// copy of the line and no allocations after warm-up.
func BenchmarkNew(b *testing.B) {
	l := Named(New(io.Discard, "info", false), "authentik.outpost.ldap")
	b.ReportAllocs()
	for b.Loop() {
		l.Info().Str("bindDN", "cn=alice,ou=users,dc=ldap").Str("client", "192.0.2.10").Msg("Bind request")
	}
}
