package radiusd_test

import (
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"goauthentik.io/api/v3"
	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2866"

	"github.com/outpost-go/outposts/authclient/credcache"
)

const (
	wait      = 10 * time.Second
	noReplyIn = 300 * time.Millisecond
	rejected  = "authentik_outpost_radius_requests_rejected_total"
	dropped   = "authentik_outpost_radius_packets_dropped_total"
)

func TestAccessAcceptAndReject(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	tests := []struct {
		name, user, password string
		want                 radius.Code
		reason               string
	}{
		{name: "alice", user: "alice", password: "alice-password", want: radius.CodeAccessAccept},
		{name: "wrong password", user: "alice", password: "nope", want: radius.CodeAccessReject, reason: "invalid_credentials"},
		{name: "unknown user", user: "mallory", password: "x", want: radius.CodeAccessReject, reason: "invalid_credentials"},
		{name: "inactive user", user: "dave", password: "dave-password", want: radius.CodeAccessReject, reason: "invalid_credentials"},
		{name: "denied by policy", user: "eve", password: "eve-password", want: radius.CodeAccessReject, reason: "access_denied"},
	}
	t.Run("requests", func(t *testing.T) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				req := accessRequest(t, demoSecret, tt.user, tt.password, false)
				p := checkReply(t, exchange(t, h.auth1, req, wait), req, demoSecret)
				assert.Equal(t, tt.want, p.Code)
				if tt.want == radius.CodeAccessReject {
					// The same message whatever the reason.
					assert.Equal(t, "Authentication failed", rfc2865.ReplyMessage_GetString(p))
				} else {
					assert.Empty(t, rfc2865.ReplyMessage_GetString(p))
				}
			})
		}
	})
	want := map[string]float64{}
	for _, tt := range tests {
		if tt.reason != "" {
			want[tt.reason]++
		}
	}
	for reason, n := range want {
		assert.Equal(t, n, metricValue(t, h.reg, rejected, map[string]string{"reason": reason, "app": "radius", "outpost_name": "radius-outpost"}), reason)
		assert.Equal(t, n, metricValue(t, h.reg, "authentik_outpost_radius_requests_rejected", map[string]string{"reason": reason}), reason)
	}
}

// check_access's attributes end up in the Access-Accept, from the core and
// from the cache alike.
func TestReplyAttributes(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{blueprint: `version: 1
entries:
  - model: authentik_core.group
    identifiers: {name: engineering}
    attrs:
      attributes:
        goauthentik.io/devcore/radius-reply:
          - {type: 11, value: "vlan-10"}
          - {type: 64, integer: 13}
          - {type: 26, vendor: 14122, vendor_type: 1, value: "wispr"}
`})
	for _, source := range []string{"core", "cache"} {
		req := accessRequest(t, demoSecret, "alice", "alice-password", false)
		p := checkReply(t, exchange(t, h.auth1, req, wait), req, demoSecret)
		require.Equal(t, radius.CodeAccessAccept, p.Code, source)
		assert.Equal(t, "vlan-10", rfc2865.FilterID_GetString(p), source)
		tt, ok := p.Lookup(64)
		require.True(t, ok, source)
		assert.Equal(t, []byte{0, 0, 0, 13}, []byte(tt), source)
		vsa, ok := p.Lookup(rfc2865.VendorSpecific_Type)
		require.True(t, ok, source)
		vendor, value, err := radius.VendorSpecific(vsa)
		require.NoError(t, err)
		assert.Equal(t, uint32(14122), vendor)
		assert.Equal(t, []byte{1, 7, 'w', 'i', 's', 'p', 'r'}, []byte(value))
	}
	assert.Equal(t, int64(1), h.auth.n.Load())
}

func TestMFAAppendedToPassword(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{mfa: true})
	req := accessRequest(t, demoSecret, "carol", "carol-password;"+carolCode(), false)
	assert.Equal(t, radius.CodeAccessAccept, checkReply(t, exchange(t, h.auth1, req, wait), req, demoSecret).Code)

	req = accessRequest(t, demoSecret, "carol", "carol-password", false)
	assert.Equal(t, radius.CodeAccessReject, checkReply(t, exchange(t, h.auth1, req, wait), req, demoSecret).Code)

	// With mfa_support the cache never answers: the flow ran each time.
	for range 2 {
		req = accessRequest(t, demoSecret, "alice", "alice-password", false)
		assert.Equal(t, radius.CodeAccessAccept, checkReply(t, exchange(t, h.auth1, req, wait), req, demoSecret).Code)
	}
	assert.Equal(t, int64(4), h.auth.n.Load())
}

func TestMessageAuthenticator(t *testing.T) {
	t.Parallel()
	t.Run("required", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, harnessOpts{})
		req := accessRequest(t, demoSecret, "alice", "alice-password", true)
		reply := exchange(t, h.auth1, req, noReplyIn)
		h.waitMetric(dropped, map[string]string{"reason": "missing_message_authenticator"}, 1)
		assert.Nil(t, reply)
		assert.Zero(t, h.auth.n.Load(), "the flow never ran")
	})
	t.Run("opt-out", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, harnessOpts{allowNoMA: true})
		req := accessRequest(t, demoSecret, "alice", "alice-password", true)
		p := checkReply(t, exchange(t, h.auth1, req, wait), req, demoSecret)
		assert.Equal(t, radius.CodeAccessAccept, p.Code, "accepted, and the reply is still signed")
	})
	t.Run("wrong secret", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, harnessOpts{allowNoMA: true})
		req := accessRequest(t, "not-the-secret", "alice", "alice-password", false)
		reply := exchange(t, h.auth1, req, noReplyIn)
		h.waitMetric(dropped, map[string]string{"reason": "bad_message_authenticator"}, 1)
		assert.Nil(t, reply)
		assert.Zero(t, h.auth.n.Load())
	})
	t.Run("tampered", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, harnessOpts{})
		req := accessRequest(t, demoSecret, "alice", "alice-password", false)
		req[len(req)-1] ^= 1 // in the NAS-Identifier, after signing
		reply := exchange(t, h.auth1, req, noReplyIn)
		h.waitMetric(dropped, map[string]string{"reason": "bad_message_authenticator"}, 1)
		assert.Nil(t, reply)
	})
}

func TestUnknownClient(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{networks: "10.0.0.0/8, fd00::/8"})
	req := accessRequest(t, demoSecret, "alice", "alice-password", false)
	reply := exchange(t, h.auth1, req, noReplyIn)
	h.waitMetric(dropped, map[string]string{"reason": "unknown_client", "outpost_name": "radius-outpost"}, 1)
	assert.Nil(t, reply)
}

// The most specific network wins across providers, whatever their order
// (authentik #22853).
func TestLongestPrefixAcrossProviders(t *testing.T) {
	t.Parallel()
	catchAll := api.RadiusOutpostConfig{Pk: 999, Name: "a-catch-all", ApplicationSlug: "radius", AuthFlowSlug: "default-authentication-flow",
		ClientNetworks: ptr("0.0.0.0/0"), SharedSecret: ptr("catch-all-secret")}
	h := newHarness(t, harnessOpts{networks: "127.0.0.1/32", extraProvs: []api.RadiusOutpostConfig{catchAll}})
	req := accessRequest(t, demoSecret, "alice", "alice-password", false)
	assert.Equal(t, radius.CodeAccessAccept, checkReply(t, exchange(t, h.auth1, req, wait), req, demoSecret).Code)

	h2 := newHarness(t, harnessOpts{networks: "127.0.0.0/8", extraProvs: []api.RadiusOutpostConfig{
		{Pk: 998, Name: "z-host", ApplicationSlug: "radius", AuthFlowSlug: "default-authentication-flow",
			ClientNetworks: ptr("127.0.0.1"), SharedSecret: ptr("host-secret")},
	}})
	req = accessRequest(t, demoSecret, "alice", "alice-password", false)
	reply := exchange(t, h2.auth1, req, noReplyIn)
	h2.waitMetric(dropped, map[string]string{"reason": "bad_message_authenticator"}, 1)
	assert.Nil(t, reply, "the /32 provider's secret applies, not the /8's")
}

func ptr[T any](v T) *T { return &v }

func TestRetransmit(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{noCache: true})
	conn, err := net.Dial("udp", h.auth1)
	require.NoError(t, err)
	defer conn.Close()
	req := accessRequest(t, demoSecret, "alice", "alice-password", false)
	first := sendOn(t, conn, req, wait)
	checkReply(t, first, req, demoSecret)
	second := sendOn(t, conn, req, wait)
	assert.Equal(t, first, second, "the retransmit gets the same reply bytes")
	assert.Equal(t, int64(1), h.auth.n.Load(), "the flow ran once")
	assert.Equal(t, 1.0, metricValue(t, h.reg, "authentik_outpost_radius_duplicate_requests_total", map[string]string{"action": "replayed"}))

	// A new request (new authenticator, same identifier) is not a duplicate.
	p := radius.New(radius.CodeAccessRequest, []byte(demoSecret))
	p.Identifier = req[1]
	req2 := accessRequestP(t, p, "alice", "alice-password", false)
	checkReply(t, sendOn(t, conn, req2, wait), req2, demoSecret)
	assert.Equal(t, int64(2), h.auth.n.Load())
}

// A duplicate that arrives while the first is in flight is dropped; the
// reply goes out once.
func TestDuplicateInFlight(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{noCache: true})
	gate := make(chan struct{})
	h.auth.gate.Store(&gate)
	conn, err := net.Dial("udp", h.auth1)
	require.NoError(t, err)
	defer conn.Close()
	req := accessRequest(t, demoSecret, "alice", "alice-password", false)
	_, err = conn.Write(req)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return h.auth.n.Load() == 1 }, wait, 5*time.Millisecond)
	_, err = conn.Write(req)
	require.NoError(t, err)
	h.waitMetric(dropped, map[string]string{"reason": "duplicate_in_flight"}, 1)
	close(gate)
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(wait)))
	buf := make([]byte, 4096)
	n, err := conn.Read(buf)
	require.NoError(t, err)
	checkReply(t, buf[:n], req, demoSecret)
	assert.Equal(t, buf[:n], sendOn(t, conn, req, wait), "a later retransmit is replayed")
	assert.Equal(t, int64(1), h.auth.n.Load())
}

func TestStatusServer(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	for _, tc := range []struct {
		addr string
		want radius.Code
	}{{h.auth1, radius.CodeAccessAccept}, {h.acct, radius.CodeAccountingResponse}} {
		p := radius.New(radius.CodeStatusServer, []byte(demoSecret))
		req := encodeRequest(t, p, false)
		assert.Equal(t, tc.want, checkReply(t, exchange(t, tc.addr, req, wait), req, demoSecret).Code)
	}
	// Without a Message-Authenticator it is dropped (RFC 5997), even for a
	// provider that allows its absence on Access-Request.
	h2 := newHarness(t, harnessOpts{allowNoMA: true})
	req := encodeRequest(t, radius.New(radius.CodeStatusServer, []byte(demoSecret)), true)
	assert.Nil(t, exchange(t, h2.auth1, req, noReplyIn))
	h2.waitMetric(dropped, map[string]string{"reason": "missing_message_authenticator"}, 1)
}

func TestAccounting(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	for _, noMA := range []bool{true, false} {
		p := radius.New(radius.CodeAccountingRequest, []byte(demoSecret))
		require.NoError(t, rfc2866.AcctStatusType_Set(p, rfc2866.AcctStatusType_Value_Start))
		require.NoError(t, rfc2866.AcctSessionID_SetString(p, "sess-1"))
		require.NoError(t, rfc2865.UserName_SetString(p, "alice"))
		req := encodeRequest(t, p, noMA)
		reply := exchange(t, h.acct, req, wait)
		require.NotNil(t, reply)
		assert.True(t, radius.IsAuthenticResponse(reply, req, []byte(demoSecret)))
		resp, err := radius.Parse(reply, []byte(demoSecret))
		require.NoError(t, err)
		assert.Equal(t, radius.CodeAccountingResponse, resp.Code)
		assert.Empty(t, resp.Attributes, "no Message-Authenticator in an Accounting-Response to an Accounting-Request")
	}
	assert.Equal(t, 2.0, metricValue(t, h.reg, "authentik_outpost_radius_accounting_requests_total", map[string]string{"status_type": "start", "app": "radius"}))

	// Wrong secret: the request authenticator does not verify.
	p := radius.New(radius.CodeAccountingRequest, []byte("wrong"))
	require.NoError(t, rfc2866.AcctStatusType_Set(p, rfc2866.AcctStatusType_Value_Stop))
	assert.Nil(t, exchange(t, h.acct, encodeRequest(t, p, true), noReplyIn))
	h.waitMetric(dropped, map[string]string{"reason": "bad_authenticator"}, 1)

	// Access-Request on the accounting port is not served there.
	assert.Nil(t, exchange(t, h.acct, accessRequest(t, demoSecret, "alice", "alice-password", false), noReplyIn))
	h.waitMetric(dropped, map[string]string{"reason": "unsupported_code"}, 1)
}

func TestUnsupportedMethods(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	p := radius.New(radius.CodeAccessRequest, []byte(demoSecret))
	require.NoError(t, rfc2865.UserName_SetString(p, "alice"))
	require.NoError(t, rfc2865.CHAPPassword_Set(p, make([]byte, 17)))
	req := encodeRequest(t, p, false)
	reply := checkReply(t, exchange(t, h.auth1, req, wait), req, demoSecret)
	assert.Equal(t, radius.CodeAccessReject, reply.Code)
	assert.Equal(t, 1.0, metricValue(t, h.reg, rejected, map[string]string{"reason": "unsupported_method"}))
	assert.Zero(t, h.auth.n.Load())
}

func TestCachedAuthentication(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	accept := func(user, pw string) radius.Code {
		req := accessRequest(t, demoSecret, user, pw, false)
		return checkReply(t, exchange(t, h.auth1, req, wait), req, demoSecret).Code
	}
	require.Equal(t, radius.CodeAccessAccept, accept("alice", "alice-password"))
	require.Equal(t, radius.CodeAccessAccept, accept("alice", "alice-password"))
	assert.Equal(t, int64(1), h.auth.n.Load(), "the second check came from the cache")
	assert.Equal(t, radius.CodeAccessReject, accept("alice", "wrong"), "a wrong password is never a hit")

	// Core down: alice (cached) gets in, bob (never seen) does not.
	h.core.Stop()
	assert.Equal(t, radius.CodeAccessAccept, accept("alice", "alice-password"))
	assert.Equal(t, radius.CodeAccessReject, accept("bob", "bob-password"))
	assert.Equal(t, 1.0, metricValue(t, h.reg, rejected, map[string]string{"reason": "core_unavailable"}))
}

// SESSION_END for the session a success came from voids the cached success.
func TestSessionEndInvalidatesCache(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	accept := func() {
		req := accessRequest(t, demoSecret, "alice", "alice-password", false)
		require.Equal(t, radius.CodeAccessAccept, checkReply(t, exchange(t, h.auth1, req, wait), req, demoSecret).Code)
	}
	accept()
	accept()
	require.Equal(t, int64(1), h.auth.n.Load())
	sid := *h.auth.sid.Load()
	require.NotEmpty(t, sid, "the core named the session")
	h.srv.EndSession(t.Context(), sid)
	accept()
	assert.Equal(t, int64(2), h.auth.n.Load(), "the flow ran again")
}

// A stale cached success goes back to the core, and is used only when the
// core does not answer.
func TestCachedAuthenticationStale(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{freshFor: time.Nanosecond})
	accept := func(user, pw string) radius.Code {
		req := accessRequest(t, demoSecret, user, pw, false)
		return checkReply(t, exchange(t, h.auth1, req, wait), req, demoSecret).Code
	}
	require.Equal(t, radius.CodeAccessAccept, accept("alice", "alice-password"))
	require.Equal(t, radius.CodeAccessAccept, accept("alice", "alice-password"))
	assert.Equal(t, int64(2), h.auth.n.Load())
	h.core.Stop()
	assert.Equal(t, radius.CodeAccessAccept, accept("alice", "alice-password"))
	assert.Equal(t, 1.0, metricValue(t, h.reg, "authentik_outpost_radius_credential_cache_total", map[string]string{"result": "fallback"}))
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{limiter: &credcache.LimiterOptions{UserFailures: 2, ClientFailures: 100, Window: time.Hour}})
	send := func(pw string) radius.Code {
		req := accessRequest(t, demoSecret, "bob", pw, false)
		return checkReply(t, exchange(t, h.auth1, req, wait), req, demoSecret).Code
	}
	assert.Equal(t, radius.CodeAccessReject, send("guess-1"))
	assert.Equal(t, radius.CodeAccessReject, send("guess-2"))
	flows := h.auth.n.Load()
	assert.Equal(t, radius.CodeAccessReject, send("bob-password"), "blocked even with the right password")
	assert.Equal(t, flows, h.auth.n.Load(), "a blocked attempt does not reach the core")
	assert.Equal(t, 1.0, metricValue(t, h.reg, rejected, map[string]string{"reason": "rate_limited"}))
}

// Behind a Wi-Fi controller every station shares the NAS's address: the
// client limit counts stations (Calling-Station-Id), so one station's wrong
// passwords do not lock out the others.
func TestRateLimitPerStation(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{limiter: &credcache.LimiterOptions{UserFailures: 100, ClientFailures: 2, Window: time.Hour}})
	send := func(station, user, pw string) radius.Code {
		p := radius.New(radius.CodeAccessRequest, []byte(demoSecret))
		if station != "" {
			require.NoError(t, rfc2865.CallingStationID_SetString(p, station))
		}
		req := accessRequestP(t, p, user, pw, false)
		return checkReply(t, exchange(t, h.auth1, req, wait), req, demoSecret).Code
	}
	const noisy, quiet = "AA-BB-CC-00-00-01", "AA-BB-CC-00-00-02"
	assert.Equal(t, radius.CodeAccessReject, send(noisy, "bob", "guess-1"))
	assert.Equal(t, radius.CodeAccessReject, send(noisy, "carol", "guess-2"))
	assert.Equal(t, radius.CodeAccessReject, send(noisy, "alice", "alice-password"), "the noisy station is blocked")
	assert.Equal(t, radius.CodeAccessAccept, send(quiet, "alice", "alice-password"), "another station on the same NAS is not")

	// Without Calling-Station-Id the NAS address is the client.
	assert.Equal(t, radius.CodeAccessReject, send("", "bob", "guess-3"))
	assert.Equal(t, radius.CodeAccessReject, send("", "carol", "guess-4"))
	assert.Equal(t, radius.CodeAccessReject, send("", "alice", "alice-password"), "the NAS without station ids is blocked")
	assert.Equal(t, radius.CodeAccessAccept, send(quiet, "alice", "alice-password"))
}

func TestMetricsDuration(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{})
	req := accessRequest(t, demoSecret, "alice", "alice-password", false)
	checkReply(t, exchange(t, h.auth1, req, wait), req, demoSecret)
	for _, name := range []string{"authentik_outpost_radius_request_duration_seconds", "authentik_outpost_radius_requests"} {
		assert.Equal(t, 1.0, metricValue(t, h.reg, name, map[string]string{"outpost_name": "radius-outpost", "app": "radius"}), name)
	}
}
