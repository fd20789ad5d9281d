package events_test

import (
	"context"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/outpost-go/outposts/authclient/backoff"
	"github.com/outpost-go/outposts/authclient/config"
	"github.com/outpost-go/outposts/authclient/core"
	"github.com/outpost-go/outposts/authclient/devcore"
	"github.com/outpost-go/outposts/authclient/devcore/devcoretest"
	"github.com/outpost-go/outposts/authclient/events"
)

const (
	wait = 30 * time.Second
	tick = 20 * time.Millisecond
)

// connState records OnConnection calls.
type connState struct {
	mu     sync.Mutex
	events []bool
}

func (s *connState) on(up bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, up)
}

func (s *connState) snapshot() []bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]bool(nil), s.events...)
}

type harness struct {
	core     *devcoretest.Core
	client   *events.Client
	conn     *connState
	instance string
	cancel   context.CancelFunc
	done     chan error
}

// start connects a client for the ldap demo outpost to a fresh core.
func start(t *testing.T, outpostName string, setup func(*events.Client)) *harness {
	t.Helper()
	c := devcoretest.Start(t)
	host, err := url.Parse(c.URL)
	require.NoError(t, err)
	rest, err := core.New(config.Config{Host: host, Token: c.Token(outpostName)}, "test")
	require.NoError(t, err)
	o, err := rest.Instance(t.Context())
	require.NoError(t, err)

	h := &harness{core: c, conn: &connState{}, instance: "9b1a3c52-41a8-4e0c-9d8c-3f0e2b6f7a11", done: make(chan error, 1)}
	h.client = events.NewClient(events.ClientOptions{
		Host:          host,
		Token:         rest.Token,
		UserAgent:     rest.UserAgent,
		OutpostPK:     o.Pk,
		InstanceUUID:  h.instance,
		Hello:         func() map[string]any { return events.HelloArgs("1.2.3", "abc", h.instance) },
		HelloInterval: 200 * time.Millisecond,
		Backoff:       backoff.Policy{Base: 50 * time.Millisecond, Max: 200 * time.Millisecond},
		OnConnection:  h.conn.on,
		Logger:        zerolog.New(zerolog.NewTestWriter(t)),
	})
	if setup != nil {
		setup(h.client)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- h.client.Run(ctx) }()
	t.Cleanup(h.stop)
	return h
}

func (h *harness) stop() {
	h.cancel()
	<-h.done
	h.done <- nil // later stop calls return at once
}

func (h *harness) instances(name string) []devcore.Instance {
	return h.core.Server.Connected(name)
}

func TestHelloCarriesEveryArg(t *testing.T) {
	t.Parallel()
	h := start(t, "ldap-outpost", nil)

	require.Eventually(t, func() bool {
		in := h.instances("ldap-outpost")
		return len(in) == 1 && len(in[0].Hello) > 0
	}, wait, tick)
	in := h.instances("ldap-outpost")[0]
	assert.Equal(t, h.instance, in.UUID)
	for _, key := range []string{"version", "buildHash", "uuid", "golangVersion", "opensslEnabled", "opensslVersion", "fipsEnabled", "hostname"} {
		assert.Contains(t, in.Hello, key)
	}
	assert.Equal(t, "1.2.3", in.Hello["version"])
	assert.Equal(t, "abc", in.Hello["buildHash"])
	assert.Equal(t, h.instance, in.Hello["uuid"])
	assert.Equal(t, []bool{true}, h.conn.snapshot())

	// HELLO is repeated: the core keeps seeing the instance.
	first := in.LastSeen
	require.Eventually(t, func() bool {
		in := h.instances("ldap-outpost")
		return len(in) == 1 && in[0].LastSeen.After(first)
	}, wait, tick)
	assert.True(t, h.client.Connected())
}

func TestMessagesAreDispatched(t *testing.T) {
	t.Parallel()
	var triggers, specific, ends atomic.Int32
	var gotArgs atomic.Value
	h := start(t, "ldap-outpost", func(c *events.Client) {
		c.Handle(events.TriggerUpdate, func(context.Context, events.Message) { triggers.Add(1) })
		c.Handle(events.ProviderSpecific, func(_ context.Context, m events.Message) {
			gotArgs.Store(m.Args)
			specific.Add(1)
		})
		c.Handle(events.SessionEnd, func(context.Context, events.Message) { ends.Add(1) })
	})
	require.Eventually(t, func() bool { return len(h.instances("ldap-outpost")) == 1 }, wait, tick)

	h.core.Server.TriggerUpdate()
	require.Eventually(t, func() bool { return triggers.Load() == 1 }, wait, tick)

	n := h.core.Server.Send("ldap-outpost", events.Message{
		Instruction: events.ProviderSpecific,
		Args:        map[string]any{"sub_type": "logout", "session_id": "s1"},
	})
	require.Equal(t, 1, n)
	require.Eventually(t, func() bool { return specific.Load() == 1 }, wait, tick)
	assert.Equal(t, map[string]any{"sub_type": "logout", "session_id": "s1"}, gotArgs.Load())

	h.core.Server.Send("ldap-outpost", events.Message{Instruction: events.SessionEnd, Args: map[string]any{"session_id": "s1"}})
	require.Eventually(t, func() bool { return ends.Load() == 1 }, wait, tick)
	// ACKs for every HELLO arrive all the time and reach no handler.
	assert.Equal(t, int32(1), triggers.Load())
}

func TestReconnectsAfterCoreRestart(t *testing.T) {
	t.Parallel()
	h := start(t, "radius-outpost", nil)
	require.Eventually(t, func() bool { return len(h.instances("radius-outpost")) == 1 }, wait, tick)

	h.core.Stop()
	require.Eventually(t, func() bool {
		ev := h.conn.snapshot()
		return len(ev) >= 2 && !ev[len(ev)-1]
	}, wait, tick)
	assert.False(t, h.client.Connected())

	h.core.Restart(t)
	require.Eventually(t, func() bool {
		in := h.instances("radius-outpost")
		return len(in) == 1 && len(in[0].Hello) > 0
	}, wait, tick)
	assert.Equal(t, h.instance, h.instances("radius-outpost")[0].UUID)
	ev := h.conn.snapshot()
	assert.Equal(t, []bool{true, false, true}, ev)
}

func TestRunClosesOnCancel(t *testing.T) {
	t.Parallel()
	h := start(t, "proxy-outpost", nil)
	require.Eventually(t, func() bool { return len(h.instances("proxy-outpost")) == 1 }, wait, tick)
	h.stop()
	// The core sees the close frame and drops the instance.
	require.Eventually(t, func() bool { return len(h.instances("proxy-outpost")) == 0 }, wait, tick)
	assert.Equal(t, []bool{true, false}, h.conn.snapshot())
	assert.ErrorIs(t, h.client.Send(events.Message{Instruction: events.Hello}), events.ErrNotConnected)
}

func TestBadTokenKeepsRetrying(t *testing.T) {
	t.Parallel()
	c := devcoretest.Start(t)
	host, err := url.Parse(c.URL)
	require.NoError(t, err)
	rest, err := core.New(config.Config{Host: host, Token: c.Token("ldap-outpost")}, "test")
	require.NoError(t, err)
	o, err := rest.Instance(t.Context())
	require.NoError(t, err)

	conn := &connState{}
	client := events.NewClient(events.ClientOptions{
		Host:         host,
		Token:        "not-a-token",
		OutpostPK:    o.Pk,
		InstanceUUID: "0d6a2f8e-5d55-4b8e-8d0a-2c1f7b8e9a10",
		Backoff:      backoff.Policy{Base: 10 * time.Millisecond, Max: 20 * time.Millisecond},
		OnConnection: conn.on,
		Logger:       zerolog.New(zerolog.NewTestWriter(t)),
	})
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	require.NoError(t, client.Run(ctx))
	assert.Empty(t, conn.snapshot())
	assert.Empty(t, c.Server.Connected("ldap-outpost"))
}

func TestInsecureTLS(t *testing.T) {
	t.Parallel()
	c := devcoretest.Start(t)
	front := httptest.NewTLSServer(c.Server.Handler())
	t.Cleanup(front.Close)
	host, err := url.Parse(front.URL + "/")
	require.NoError(t, err)
	rest, err := core.New(config.Config{Host: host, Token: c.Token("ldap-outpost"), Insecure: true}, "test")
	require.NoError(t, err)
	o, err := rest.Instance(t.Context())
	require.NoError(t, err)

	conn := &connState{}
	client := events.NewClient(events.ClientOptions{
		Host: host, Token: rest.Token, Insecure: true, OutpostPK: o.Pk,
		InstanceUUID: "5f0c8a51-6b8e-4a43-9a55-3d1c1d2e7b90",
		OnConnection: conn.on,
		Logger:       zerolog.New(zerolog.NewTestWriter(t)),
	})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- client.Run(ctx) }()
	require.Eventually(t, func() bool { return len(c.Server.Connected("ldap-outpost")) == 1 }, wait, tick)
	cancel()
	require.NoError(t, <-done)
}
