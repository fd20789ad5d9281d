package outpost_test

import (
	"bytes"
	"context"
	"errors"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"goauthentik.io/api/v3"

	"github.com/outpost-go/outposts/authclient/backoff"
	"github.com/outpost-go/outposts/authclient/cache"
	"github.com/outpost-go/outposts/authclient/config"
	"github.com/outpost-go/outposts/authclient/core"
	"github.com/outpost-go/outposts/authclient/devcore/devcoretest"
	"github.com/outpost-go/outposts/authclient/events"
	"github.com/outpost-go/outposts/authclient/metrics"
	"github.com/outpost-go/outposts/authclient/outpost"
	"github.com/outpost-go/outposts/authclient/outpost/outposttest"
)

const (
	wait = 30 * time.Second
	tick = 20 * time.Millisecond
)

// recorder is a Server that remembers what the runtime gave it.
type recorder[P any] struct {
	mu         sync.Mutex
	refreshes  [][]P
	running    bool
	stopped    bool
	rt         *outpost.Runtime
	refreshErr error
	runErr     error
	// ignoreStop makes Run block past ctx, like a server that cannot drain.
	ignoreStop chan struct{}
}

func (r *recorder[P]) Refresh(_ context.Context, providers []P) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.refreshErr != nil {
		return r.refreshErr
	}
	r.refreshes = append(r.refreshes, providers)
	return nil
}

func (r *recorder[P]) Run(ctx context.Context) error {
	r.mu.Lock()
	r.running = true
	runErr := r.runErr
	r.mu.Unlock()
	if runErr != nil {
		return runErr
	}
	<-ctx.Done()
	if r.ignoreStop != nil {
		<-r.ignoreStop
	}
	r.mu.Lock()
	r.stopped = true
	r.mu.Unlock()
	return nil
}

func (r *recorder[P]) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.refreshes)
}

func (r *recorder[P]) last() []P {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.refreshes) == 0 {
		return nil
	}
	return r.refreshes[len(r.refreshes)-1]
}

func (r *recorder[P]) isRunning() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.running
}

type running[P any] struct {
	core *devcoretest.Core
	srv  *recorder[P]
	reg  *prometheus.Registry
	rt   chan *outpost.Runtime
	log  *outposttest.Buffer
	stop context.CancelFunc
	done chan error
}

func cfgFor(t *testing.T, c *devcoretest.Core, name string) config.Config {
	t.Helper()
	host, err := url.Parse(c.URL)
	require.NoError(t, err)
	return config.Config{Host: host, Token: c.Token(name), LogLevel: "debug", Listen: config.Listen{Metrics: "127.0.0.1:0"}}
}

func ldapProviders(ctx context.Context, c *core.Client) ([]api.LDAPOutpostConfig, error) {
	return c.LDAPProviders(ctx)
}

// run starts the runtime in the background; t.Cleanup stops it.
func run[P any](t *testing.T, c *devcoretest.Core, opts outpost.Options[P], srv *recorder[P]) *running[P] {
	t.Helper()
	log := &outposttest.Buffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("runtime log:\n%s", log.String())
		}
	})
	r := &running[P]{core: c, srv: srv, reg: metrics.NewRegistry(), rt: make(chan *outpost.Runtime, 1), log: log, done: make(chan error, 1)}
	opts.Registry = r.reg
	opts.Logger = zerolog.New(log).Level(zerolog.DebugLevel)
	if opts.ReloadOffset == nil {
		opts.ReloadOffset = func() time.Duration { return 0 }
	}
	if opts.Backoff.Base == 0 {
		opts.Backoff = backoff.Policy{Base: 10 * time.Millisecond, Max: 100 * time.Millisecond}
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.stop = cancel
	go func() {
		r.done <- outpost.Run(ctx, opts, func(rt *outpost.Runtime) (outpost.Server[P], error) {
			srv.rt = rt
			r.rt <- rt
			return srv, nil
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(wait):
			t.Error("runtime did not stop")
		}
	})
	return r
}

// gauge returns the value of the named metric's only series, and whether
// it exists.
func gauge(t *testing.T, reg prometheus.Gatherer, name string) (float64, bool) {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		ms := mf.GetMetric()
		if len(ms) != 1 {
			return 0, false
		}
		return ms[0].GetGauge().GetValue(), true
	}
	return 0, false
}

func labels(t *testing.T, reg prometheus.Gatherer, name string) map[string]string {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			out := map[string]string{}
			for _, l := range mf.GetMetric()[0].GetLabel() {
				out[l.GetName()] = l.GetValue()
			}
			return out
		}
	}
	return nil
}

func TestStartsAndRefreshes(t *testing.T) {
	t.Parallel()
	c := devcoretest.Start(t)
	srv := &recorder[api.LDAPOutpostConfig]{}
	r := run(t, c, outpost.Options[api.LDAPOutpostConfig]{
		Type: "ldap", Version: "1.0.0", Config: cfgFor(t, c, "ldap-outpost"), Providers: ldapProviders,
	}, srv)

	rt := <-r.rt
	require.Eventually(t, srv.isRunning, wait, tick)
	require.GreaterOrEqual(t, srv.count(), 1)
	require.NotEmpty(t, srv.last())
	assert.Equal(t, "ldap-provider", srv.last()[0].Name)
	assert.Equal(t, "ldap-outpost", rt.Outpost().Name)
	assert.NotNil(t, rt.RootConfig)
	assert.NotNil(t, rt.Cache)
	assert.False(t, rt.Embedded())

	// The core sees the instance, with its HELLO.
	require.Eventually(t, func() bool {
		in := c.Server.Connected("ldap-outpost")
		return len(in) == 1 && in[0].UUID == rt.InstanceUUID && in[0].Hello["version"] == "1.0.0"
	}, wait, tick)

	// The common metrics are there, labelled with this instance.
	v, ok := gauge(t, r.reg, "authentik_outpost_info")
	require.True(t, ok)
	assert.Equal(t, 1.0, v)
	assert.Equal(t, map[string]string{
		"outpost_name": "ldap-outpost", "outpost_type": "ldap", "uuid": rt.InstanceUUID, "version": "1.0.0", "build": "",
	}, labels(t, r.reg, "authentik_outpost_info"))
	require.Eventually(t, func() bool {
		v, ok := gauge(t, r.reg, "authentik_outpost_connection")
		return ok && v == 1
	}, wait, tick)
	last, ok := gauge(t, r.reg, "authentik_outpost_last_update")
	require.True(t, ok)
	assert.Positive(t, last)

	// The refresh right after start, then one per trigger.
	require.Eventually(t, func() bool { return srv.count() >= 2 }, wait, tick)
	before := srv.count()
	c.Server.TriggerUpdate()
	require.Eventually(t, func() bool { return srv.count() > before }, wait, tick)

	before = srv.count()
	rt.RequestRefresh()
	require.Eventually(t, func() bool { return srv.count() > before }, wait, tick)

	// The instance is recorded in the cache on every refresh.
	_, found := cache.Namespace(rt.Cache, "outpost", rt.Outpost().Pk, "instance").Get(t.Context(), rt.InstanceUUID)
	assert.True(t, found)

	r.stop()
	require.NoError(t, <-r.done)
	r.done <- nil
	srv.mu.Lock()
	assert.True(t, srv.stopped)
	srv.mu.Unlock()
}

func TestWaitsForCore(t *testing.T) {
	t.Parallel()
	c := devcoretest.Start(t)
	cfg := cfgFor(t, c, "radius-outpost")
	c.Stop()

	srv := &recorder[api.RadiusOutpostConfig]{}
	r := run(t, c, outpost.Options[api.RadiusOutpostConfig]{
		Type: "radius", Version: "1.0.0", Config: cfg,
		Providers: func(ctx context.Context, c *core.Client) ([]api.RadiusOutpostConfig, error) {
			return c.RadiusProviders(ctx)
		},
	}, srv)

	require.Eventually(t, func() bool { return bytes.Contains([]byte(r.log.String()), []byte("retrying")) }, wait, tick)
	assert.False(t, srv.isRunning())
	c.Restart(t)
	require.Eventually(t, srv.isRunning, wait, tick)
	require.NotEmpty(t, srv.last())
	require.Eventually(t, func() bool { return len(c.Server.Connected("radius-outpost")) == 1 }, wait, tick)
}

func TestReconnectGauge(t *testing.T) {
	t.Parallel()
	c := devcoretest.Start(t)
	srv := &recorder[api.ProxyOutpostConfig]{}
	r := run(t, c, outpost.Options[api.ProxyOutpostConfig]{
		Type: "proxy", Version: "1.0.0", Config: cfgFor(t, c, "proxy-outpost"),
		Providers: func(ctx context.Context, c *core.Client) ([]api.ProxyOutpostConfig, error) {
			return c.ProxyProviders(ctx)
		},
	}, srv)
	connected := func(want float64) func() bool {
		return func() bool {
			v, ok := gauge(t, r.reg, "authentik_outpost_connection")
			return ok && v == want
		}
	}
	require.Eventually(t, connected(1), wait, tick)
	c.Stop()
	require.Eventually(t, connected(0), wait, tick)
	c.Restart(t)
	require.Eventually(t, connected(1), wait, tick)
}

func TestNoProviderList(t *testing.T) {
	t.Parallel()
	c := devcoretest.Start(t)
	srv := &recorder[outpost.None]{}
	var specific sync.WaitGroup
	specific.Add(1)
	log := &outposttest.Buffer{}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- outpost.Run(ctx, outpost.Options[outpost.None]{
			Type: "rac", Version: "1.0.0", Config: cfgFor(t, c, "rac-outpost"), Logger: zerolog.New(log),
		}, func(rt *outpost.Runtime) (outpost.Server[outpost.None], error) {
			rt.Events.Handle(events.ProviderSpecific, func(context.Context, events.Message) { specific.Done() })
			return srv, nil
		})
	}()
	require.Eventually(t, srv.isRunning, wait, tick)
	assert.Nil(t, srv.last())
	require.Eventually(t, func() bool {
		return c.Server.Send("rac-outpost", events.Message{Instruction: events.ProviderSpecific, Args: map[string]any{"sub_type": "init_connection"}}) == 1
	}, wait, tick)
	specific.Wait()
	cancel()
	require.NoError(t, <-done)
}

func TestRunFailures(t *testing.T) {
	t.Parallel()
	errBoom := errors.New("boom")
	tests := []struct {
		name    string
		srv     *recorder[api.LDAPOutpostConfig]
		opts    func(*outpost.Options[api.LDAPOutpostConfig])
		wantErr string
	}{
		{name: "initial refresh fails", srv: &recorder[api.LDAPOutpostConfig]{refreshErr: errBoom}, wantErr: "initial refresh: boom"},
		{name: "server fails", srv: &recorder[api.LDAPOutpostConfig]{runErr: errBoom}, wantErr: "ldap server: boom"},
		{
			name: "server does not drain",
			srv:  &recorder[api.LDAPOutpostConfig]{ignoreStop: make(chan struct{})},
			opts: func(o *outpost.Options[api.LDAPOutpostConfig]) {
				o.ShutdownTimeout = 10 * time.Millisecond
			},
			wantErr: "shutdown did not finish",
		},
		{name: "no type", srv: &recorder[api.LDAPOutpostConfig]{}, opts: func(o *outpost.Options[api.LDAPOutpostConfig]) { o.Type = "" }, wantErr: "no type"},
		{
			name: "metrics address unusable",
			srv:  &recorder[api.LDAPOutpostConfig]{},
			opts: func(o *outpost.Options[api.LDAPOutpostConfig]) {
				o.Config.Listen.Metrics = "256.0.0.1:1"
			},
			wantErr: "metrics server",
		},
	}
	c := devcoretest.Start(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts := outpost.Options[api.LDAPOutpostConfig]{
				Type: "ldap", Version: "1.0.0", Config: cfgFor(t, c, "ldap-outpost"), Providers: ldapProviders,
				Logger: zerolog.New(zerolog.NewTestWriter(t)),
			}
			if tt.opts != nil {
				tt.opts(&opts)
			}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			if tt.srv.ignoreStop != nil {
				defer close(tt.srv.ignoreStop)
				go func() {
					// Stop once the server runs; it will not drain.
					for !tt.srv.isRunning() {
						time.Sleep(tick)
					}
					cancel()
				}()
			}
			err := outpost.Run(ctx, opts, func(*outpost.Runtime) (outpost.Server[api.LDAPOutpostConfig], error) { return tt.srv, nil })
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}

func TestStopDuringStartup(t *testing.T) {
	t.Parallel()
	c := devcoretest.Start(t)
	cfg := cfgFor(t, c, "ldap-outpost")
	c.Stop()
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	err := outpost.Run(ctx, outpost.Options[api.LDAPOutpostConfig]{
		Type: "ldap", Version: "1", Config: cfg, Providers: ldapProviders, Logger: zerolog.New(zerolog.NewTestWriter(t)),
	}, func(*outpost.Runtime) (outpost.Server[api.LDAPOutpostConfig], error) {
		return nil, errors.New("must not be reached")
	})
	require.NoError(t, err)
}

func TestRefreshInterval(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   int32
		want time.Duration
	}{
		{in: -5, want: 5 * time.Minute},
		{in: 0, want: 5 * time.Minute},
		{in: 1, want: 30 * time.Second},
		{in: 29, want: 30 * time.Second},
		{in: 30, want: 30 * time.Second},
		{in: 600, want: 10 * time.Minute},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, outpost.RefreshInterval(tt.in), "refresh_interval_s %d", tt.in)
	}
}

func TestReloadOffsetFromEnv(t *testing.T) {
	t.Parallel()
	tests := []struct {
		value   string
		want    time.Duration
		unset   bool
		wantErr bool
	}{
		{value: "", unset: true},
		{value: "250ms", want: 250 * time.Millisecond},
		{value: "0s", want: 0},
		{value: "-1s", wantErr: true},
		{value: "soon", wantErr: true},
	}
	for _, tt := range tests {
		f, err := outpost.ReloadOffsetFromEnv(func(k string) string {
			if k == outpost.EnvReloadOffset {
				return tt.value
			}
			return ""
		})
		if tt.wantErr {
			assert.Error(t, err, tt.value)
			continue
		}
		require.NoError(t, err, tt.value)
		if tt.unset {
			assert.Nil(t, f)
			continue
		}
		assert.Equal(t, tt.want, f(), tt.value)
	}
}

func FuzzReloadOffsetFromEnv(f *testing.F) {
	for _, s := range []string{"", "0", "100ms", "9s", "-1s", "1h2m3.5s", "soon", "9999999999999h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		fn, err := outpost.ReloadOffsetFromEnv(func(string) string { return v })
		if err != nil || fn == nil {
			return
		}
		if d := fn(); d < 0 {
			t.Fatalf("%q gave negative offset %s", v, d)
		}
	})
}
