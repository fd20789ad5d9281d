package radiusd_test

import (
	"context"
	"crypto/hmac"
	"crypto/md5" //nolint:gosec
	"encoding/hex"
	"net"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"goauthentik.io/api/v3"
	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2869"

	"github.com/outpost-go/outposts/authclient/cache"
	"github.com/outpost-go/outposts/authclient/config"
	"github.com/outpost-go/outposts/authclient/core"
	"github.com/outpost-go/outposts/authclient/credcache"
	"github.com/outpost-go/outposts/authclient/devcore/devcoretest"
	"github.com/outpost-go/outposts/authclient/flow"
	"github.com/outpost-go/outposts/authclient/totp"
	"github.com/outpost-go/outposts/radius-outpost/radiusd"
)

const demoSecret = "demo-radius-secret"

// carolKey is the demo user carol's TOTP key (demo blueprint).
var carolKey, _ = hex.DecodeString("3132333435363738393031323334353637383930")

func carolCode() string { return totp.Code(carolKey, time.Now(), totp.Default) }

// countingAuth counts the flows a server runs.
// countingAuth counts the flows a server runs and, when gate is set, holds
// each until gate is closed.
type countingAuth struct {
	radiusd.Authenticator
	n    atomic.Int64
	gate atomic.Pointer[chan struct{}]
	sid  atomic.Pointer[string] // of the last success
}

func (c *countingAuth) Authenticate(ctx context.Context, r radiusd.AuthRequest) (radiusd.AuthResult, error) {
	c.n.Add(1)
	if g := c.gate.Load(); g != nil {
		<-*g
	}
	res, err := c.Authenticator.Authenticate(ctx, r)
	if err == nil {
		c.sid.Store(&res.SessionID)
	}
	return res, err
}

type harness struct {
	t     testing.TB
	core  *devcoretest.Core
	srv   *radiusd.Server
	auth  *countingAuth
	reg   *prometheus.Registry
	auth1 string // auth listener address
	acct  string // accounting listener address
	log   *strings.Builder
}

type harnessOpts struct {
	mfa        bool
	allowNoMA  bool
	networks   string
	noCache    bool
	limiter    *credcache.LimiterOptions
	replyTTL   time.Duration
	freshFor   time.Duration
	extraProvs []api.RadiusOutpostConfig
	blueprint  string // added after the demo blueprint
}

// newHarness serves the demo core's radius provider (with the given
// overrides) on two loopback UDP sockets, in process.
func newHarness(t testing.TB, o harnessOpts) *harness {
	t.Helper()
	var c *devcoretest.Core
	if o.blueprint != "" {
		c = devcoretest.Start(t, devcoretest.WithDemo(), devcoretest.WithBlueprint("zz-test.yaml", o.blueprint))
	} else {
		c = devcoretest.Start(t)
	}
	u, err := url.Parse(c.URL)
	require.NoError(t, err)
	token := c.Token("radius-outpost")
	client, err := core.New(config.Config{Host: u, Token: token}, "test")
	require.NoError(t, err)
	providers, err := client.RadiusProviders(t.Context())
	require.NoError(t, err)
	require.Len(t, providers, 1)
	p := providers[0]
	p.MfaSupport = &o.mfa
	if o.networks != "" {
		p.ClientNetworks = &o.networks
	}
	list := append([]api.RadiusOutpostConfig{p}, o.extraProvs...)

	reg := prometheus.NewRegistry()
	auth := &countingAuth{Authenticator: radiusd.FlowAuthenticator{Executor: flow.NewExecutor(flow.Options{Host: u, Token: token})}}
	mem := cache.NewMemory(1000)
	key := credcache.DeriveKey(token)
	opts := radiusd.Options{
		Logger:        zerolog.New(zerolog.NewTestWriter(t)).With().Timestamp().Logger(),
		Registerer:    reg,
		OutpostName:   func() string { return "radius-outpost" },
		Auth:          auth,
		ReplyCacheTTL: o.replyTTL,
		FreshFor:      o.freshFor,
	}
	if !o.noCache {
		opts.Creds = credcache.New(mem, key, time.Hour)
	}
	if o.limiter != nil {
		opts.Limiter = credcache.NewLimiter(mem, key, *o.limiter)
	}
	if o.allowNoMA {
		opts.AllowMissingMessageAuthenticator = []string{p.Name}
	}
	srv, err := radiusd.New(opts)
	require.NoError(t, err)
	require.NoError(t, srv.SetProviders(list))

	h := &harness{t: t, core: c, srv: srv, auth: auth, reg: reg}
	h.auth1 = h.serve(radiusd.Auth)
	h.acct = h.serve(radiusd.Accounting)
	return h
}

func (h *harness) serve(kind radiusd.Listener) string {
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(h.t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.srv.Serve(ctx, conn, kind) }()
	h.t.Cleanup(func() {
		cancel()
		require.NoError(h.t, <-done)
	})
	return conn.LocalAddr().String()
}

// accessRequest builds an Access-Request, with a Message-Authenticator
// unless noMA.
func accessRequest(t testing.TB, secret, user, password string, noMA bool) []byte {
	t.Helper()
	return accessRequestP(t, radius.New(radius.CodeAccessRequest, []byte(secret)), user, password, noMA)
}

func accessRequestP(t testing.TB, p *radius.Packet, user, password string, noMA bool) []byte {
	t.Helper()
	require.NoError(t, rfc2865.UserName_SetString(p, user))
	require.NoError(t, rfc2865.UserPassword_SetString(p, password))
	require.NoError(t, rfc2865.NASIdentifier_SetString(p, "test-nas"))
	return encodeRequest(t, p, noMA)
}

func encodeRequest(t testing.TB, p *radius.Packet, noMA bool) []byte {
	t.Helper()
	if !noMA {
		p.Attributes = append(radius.Attributes{{Type: rfc2869.MessageAuthenticator_Type, Attribute: make([]byte, 16)}}, p.Attributes...)
	}
	b, err := p.Encode()
	require.NoError(t, err)
	if !noMA {
		signMA(b, p.Secret, p.Code == radius.CodeAccountingRequest)
		if p.Code == radius.CodeAccountingRequest {
			// The request authenticator covers the MA: recompute it.
			clear(b[4:20])
			h := md5.New() //nolint:gosec
			h.Write(b)
			h.Write(p.Secret)
			copy(b[4:20], h.Sum(nil))
		}
	}
	return b
}

// signMA fills in a Message-Authenticator that is the first attribute.
func signMA(b, secret []byte, zeroAuth bool) {
	c := append([]byte(nil), b...)
	if zeroAuth {
		clear(c[4:20])
	}
	m := hmac.New(md5.New, secret)
	m.Write(c)
	copy(b[22:38], m.Sum(nil))
}

// exchange sends b and returns the reply, or nil when none came within
// wait. A nil reply is only asserted after a metric proved the packet was
// handled, so no test depends on timing.
func exchange(t testing.TB, addr string, b []byte, wait time.Duration) []byte {
	t.Helper()
	conn, err := net.Dial("udp", addr)
	require.NoError(t, err)
	defer conn.Close()
	return sendOn(t, conn, b, wait)
}

func sendOn(t testing.TB, conn net.Conn, b []byte, wait time.Duration) []byte {
	t.Helper()
	_, err := conn.Write(b)
	require.NoError(t, err)
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(wait)))
	buf := make([]byte, 4096)
	n, err := conn.Read(buf)
	if err != nil {
		return nil
	}
	return buf[:n]
}

// checkReply verifies the reply's authenticators and returns it parsed.
func checkReply(t testing.TB, reply, req []byte, secret string) *radius.Packet {
	t.Helper()
	require.NotNil(t, reply, "no reply")
	require.True(t, radius.IsAuthenticResponse(reply, req, []byte(secret)), "bad response authenticator")
	// The Message-Authenticator is first, computed with the request
	// authenticator.
	require.Equal(t, byte(rfc2869.MessageAuthenticator_Type), reply[20])
	c := append([]byte(nil), reply...)
	copy(c[4:20], req[4:20])
	clear(c[22:38])
	m := hmac.New(md5.New, []byte(secret))
	m.Write(c)
	require.Equal(t, m.Sum(nil), reply[22:38], "bad Message-Authenticator in reply")
	p, err := radius.Parse(reply, []byte(secret))
	require.NoError(t, err)
	require.Equal(t, req[1], p.Identifier)
	return p
}

func metricValue(t testing.TB, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if !matches(m, labels) {
				continue
			}
			switch {
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			case m.Histogram != nil:
				sum += float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return sum
}

func matches(m *dto.Metric, labels map[string]string) bool {
	for k, v := range labels {
		found := false
		for _, l := range m.GetLabel() {
			if l.GetName() == k && l.GetValue() == v {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func (h *harness) waitMetric(name string, labels map[string]string, atLeast float64) {
	h.t.Helper()
	require.Eventually(h.t, func() bool { return metricValue(h.t, h.reg, name, labels) >= atLeast },
		10*time.Second, 10*time.Millisecond, "metric %s%v never reached %v", name, labels, atLeast)
}
