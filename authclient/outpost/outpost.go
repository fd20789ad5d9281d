// Package outpost is the runtime every outpost binary shares: it starts an
// outpost in authentik's order, keeps its provider list current, and stops
// it gracefully.
//
// Start-up: the outpost instance (retried until the core answers), the
// root config, the control channel (in the background: a core that is not
// reachable yet does not block start-up), the provider list, the server's
// first Refresh, then the metrics server and the server itself. From then
// on the configuration is refreshed once right after start, every
// refresh_interval_s, on SIGUSR1 and on TRIGGER_UPDATE (after a per-process
// reload offset that staggers replicas).
package outpost

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"goauthentik.io/api/v3"

	"github.com/outpost-go/outposts/authclient/backoff"
	"github.com/outpost-go/outposts/authclient/cache"
	"github.com/outpost-go/outposts/authclient/config"
	"github.com/outpost-go/outposts/authclient/core"
	"github.com/outpost-go/outposts/authclient/events"
	"github.com/outpost-go/outposts/authclient/logging"
	"github.com/outpost-go/outposts/authclient/metrics"
)

// Server is the type-specific part of an outpost.
type Server[P any] interface {
	// Refresh hands the server the current provider list. It is called
	// once before Run and again after every configuration refresh, never
	// concurrently with itself.
	Refresh(ctx context.Context, providers []P) error
	// Run serves until ctx is done, then drains within
	// Runtime.ShutdownTimeout and returns. An error stops the outpost.
	Run(ctx context.Context) error
}

// Options configures Run.
type Options[P any] struct {
	// Type is the outpost type: ldap, proxy, radius or rac. It labels the
	// metrics; the type the core reports is not checked, as in authentik.
	Type string
	// Version is the outpost's version, without the build hash.
	Version string
	// Config is the loaded outpost configuration.
	Config config.Config
	// Logger is the root logger; the runtime names its children.
	Logger zerolog.Logger
	// Registry holds the outpost's metrics; nil means a new registry.
	Registry *prometheus.Registry
	// Cache is handed to the server through the Runtime.
	Cache cache.Cache
	// Providers fetches the provider list; nil for outposts without a list
	// (RAC), whose server is refreshed with an empty list.
	Providers func(ctx context.Context, c *core.Client) ([]P, error)
	// ReloadOffset is how long to wait after a TRIGGER_UPDATE before
	// refreshing. nil means a random 0–9 s chosen once per process, as
	// authentik does, so replicas do not all hit the core at once.
	ReloadOffset func() time.Duration
	// ShutdownTimeout bounds the graceful drain; 0 means 30 s.
	ShutdownTimeout time.Duration
	// Backoff paces the start-up retries; the zero value means
	// backoff.Default().
	Backoff backoff.Policy
	// HelloInterval is passed to the control channel; 0 means 10 s.
	HelloInterval time.Duration
}

// DefaultShutdownTimeout is the drain deadline when Options leaves it 0.
const DefaultShutdownTimeout = 30 * time.Second

// Refresh interval bounds, as authentik's outposts apply them to the
// outpost's refresh_interval_s.
const (
	DefaultRefreshInterval = 5 * time.Minute
	MinRefreshInterval     = 30 * time.Second
)

// RefreshInterval turns refresh_interval_s into the refresh period: 0 or
// less means 5 minutes, less than 30 s means 30 s.
func RefreshInterval(seconds int32) time.Duration {
	switch {
	case seconds <= 0:
		return DefaultRefreshInterval
	case time.Duration(seconds)*time.Second < MinRefreshInterval:
		return MinRefreshInterval
	default:
		return time.Duration(seconds) * time.Second
	}
}

// Runtime is what a Server is given: the parts the runtime built and the
// outpost's current state.
type Runtime struct {
	// Type and Version are Options.Type and Options.Version.
	Type    string
	Version string
	// Client is the REST client for the core.
	Client *core.Client
	// Config is the outpost configuration.
	Config config.Config
	// Logger is Options.Logger; servers name their own child loggers.
	Logger zerolog.Logger
	// Registry is where servers register their metrics.
	Registry *prometheus.Registry
	// Metrics holds the common outpost gauges.
	Metrics *metrics.Common
	// Cache is Options.Cache.
	Cache cache.Cache
	// Events is the control channel; servers register handlers on it in
	// their constructor (before it connects).
	Events *events.Client
	// RootConfig is GET /root/config/ as read at start-up.
	RootConfig *api.Config
	// InstanceUUID identifies this process to the core.
	InstanceUUID string
	// ShutdownTimeout is how long a server may take to drain.
	ShutdownTimeout time.Duration

	outpost atomic.Pointer[api.Outpost]
	refresh chan struct{}
	hooks   hooks
}

// Outpost returns the outpost object as last read from the core. Callers
// must not modify it.
func (rt *Runtime) Outpost() *api.Outpost { return rt.outpost.Load() }

// Embedded reports whether this is authentik's embedded outpost.
func (rt *Runtime) Embedded() bool {
	m := rt.Outpost().Managed.Get()
	return m != nil && *m == "goauthentik.io/outposts/embedded"
}

// RequestRefresh asks for a configuration refresh as soon as the current
// one (if any) is done. Requests made while one is pending are merged.
func (rt *Runtime) RequestRefresh() {
	select {
	case rt.refresh <- struct{}{}:
	default:
	}
}

func (rt *Runtime) metricsOutpost() metrics.Outpost {
	name := ""
	if o := rt.Outpost(); o != nil {
		name = o.Name
	}
	return metrics.Outpost{
		Name:    name,
		Type:    rt.Type,
		UUID:    rt.InstanceUUID,
		Version: rt.Version,
		Build:   rt.Config.BuildHash,
	}
}

// Run starts the outpost and blocks until ctx is done (graceful shutdown;
// Run then returns nil) or the outpost cannot go on (Run returns why).
func Run[P any](ctx context.Context, opts Options[P], newServer func(rt *Runtime) (Server[P], error)) error {
	if opts.Type == "" {
		return errors.New("outpost: no type")
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = DefaultShutdownTimeout
	}
	if opts.Registry == nil {
		opts.Registry = metrics.NewRegistry()
	}
	if opts.Cache == nil {
		opts.Cache = cache.NewMemory(cache.DefaultMaxEntries)
	}
	if opts.ReloadOffset == nil {
		offset := time.Duration(rand.IntN(10)) * time.Second
		opts.ReloadOffset = func() time.Duration { return offset }
	}
	// Every logger the outpost uses derives from root, whose level the
	// core's log_level setting can change at runtime.
	root, level := dynamicLogger(opts.Logger)
	opts.Logger = root
	log := logging.Named(opts.Logger, "authentik.outpost")
	log.Info().Str("version", opts.Version).Str("hash", opts.Config.BuildHash).Str("type", opts.Type).
		Msg("Starting authentik outpost")

	client, err := core.New(opts.Config, opts.Version)
	if err != nil {
		return fmt.Errorf("outpost: %w", err)
	}
	client.Logger = logging.Named(opts.Logger, "authentik.outpost.ak-api-controller")

	rt := &Runtime{
		Type:            opts.Type,
		Version:         opts.Version,
		Client:          client,
		Config:          opts.Config,
		Logger:          opts.Logger,
		Registry:        opts.Registry,
		Metrics:         metrics.NewCommon(opts.Registry),
		Cache:           opts.Cache,
		InstanceUUID:    uuid.NewString(),
		ShutdownTimeout: opts.ShutdownTimeout,
		refresh:         make(chan struct{}, 1),
	}
	r := &runner[P]{opts: opts, rt: rt, log: log, level: level}

	// SIGUSR1 is registered before anything can take long, so a signal
	// sent during start-up is not fatal to the process.
	usr1, stopSignals := notifyRefresh()
	defer stopSignals()

	o, err := retry(ctx, opts.Backoff, client.Logger, "fetch outpost instance", client.Instance)
	if err != nil {
		return stopped(ctx, log, err)
	}
	rt.outpost.Store(o)
	r.applyLogLevel(o)
	rc, err := retry(ctx, opts.Backoff, client.Logger, "fetch root config", client.RootConfig)
	if err != nil {
		return stopped(ctx, log, err)
	}
	rt.RootConfig = rc
	log.Info().Str("outpost", o.Name).Str("instance_uuid", rt.InstanceUUID).Bool("embedded", rt.Embedded()).
		Msg("fetched outpost configuration")

	rt.Events = events.NewClient(events.ClientOptions{
		Host:         client.Host,
		Token:        client.Token,
		UserAgent:    client.UserAgent,
		Insecure:     client.Insecure,
		OutpostPK:    o.Pk,
		InstanceUUID: rt.InstanceUUID,
		Hello: func() map[string]any {
			return rt.helloArgs(events.HelloArgs(opts.Version, opts.Config.BuildHash, rt.InstanceUUID))
		},
		HelloInterval: opts.HelloInterval,
		OnConnection:  func(up bool) { rt.Metrics.SetConnected(rt.metricsOutpost(), up) },
		Logger:        logging.Named(opts.Logger, "authentik.outpost.events"),
	})
	rt.Events.Handle(events.TriggerUpdate, func(ctx context.Context, _ events.Message) {
		d := opts.ReloadOffset()
		log.Debug().Dur("offset", d).Msg("update triggered, refreshing after reload offset")
		if sleep(ctx, d) {
			rt.RequestRefresh()
		}
	})

	srv, err := newServer(rt)
	if err != nil {
		return fmt.Errorf("outpost: create %s server: %w", opts.Type, err)
	}

	// Everything started from here on is stopped through runCtx.
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := rt.Events.Run(runCtx); err != nil {
			log.Error().Err(err).Msg("control channel stopped")
		}
	})

	providers, err := r.providers(ctx)
	if err == nil {
		err = srv.Refresh(ctx, providers)
	}
	if err != nil {
		cancel()
		wg.Wait()
		return stopped(ctx, log, fmt.Errorf("outpost: initial refresh: %w", err))
	}
	rt.Metrics.SetInfo(rt.metricsOutpost())
	rt.Metrics.SetLastUpdate(rt.metricsOutpost(), time.Now())
	r.recordInstance(ctx)

	// failed carries the first error of a part that should run until
	// shutdown; any of them ending ends the outpost.
	failed := make(chan error, 3)
	if addr := opts.Config.Listen.Metrics; addr != "" {
		mlog := logging.Named(opts.Logger, "authentik.outpost.metrics")
		wg.Go(func() {
			err := metrics.Serve(runCtx, addr, rt.withReady(metrics.Handler(opts.Registry)), mlog)
			if err != nil && runCtx.Err() == nil {
				failed <- fmt.Errorf("outpost: metrics server: %w", err)
			}
		})
	}
	if addr := opts.Config.Listen.Debug; opts.Config.Debug && addr != "" {
		// The profiler only with AUTHENTIK_DEBUG, as in authentik: it
		// exposes internals and must not be reachable by default. A failure
		// here is logged, never fatal: it is a diagnostic aid.
		dlog := logging.Named(opts.Logger, "authentik.outpost.debug")
		wg.Go(func() {
			if err := metrics.Serve(runCtx, addr, debugHandler(), dlog); err != nil && runCtx.Err() == nil {
				dlog.Warn().Err(err).Str("listen", addr).Msg("debug server stopped")
			}
		})
	}
	srvDone := make(chan struct{})
	wg.Go(func() {
		defer close(srvDone)
		err := srv.Run(runCtx)
		if runCtx.Err() == nil {
			if err == nil {
				err = errors.New("stopped on its own")
			}
			failed <- fmt.Errorf("outpost: %s server: %w", opts.Type, err)
		} else if err != nil {
			log.Warn().Err(err).Msg("server did not stop cleanly")
		}
	})
	wg.Go(func() { r.loop(runCtx, srv, usr1) })

	var result error
	select {
	case <-ctx.Done():
		log.Info().Msg("shutting down")
	case result = <-failed:
		log.Error().Err(result).Msg("shutting down after failure")
	}
	cancel()

	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	// The server gets ShutdownTimeout to drain; a little grace on top lets
	// it report its own timeout before the runtime gives up on it.
	deadline := time.NewTimer(opts.ShutdownTimeout + time.Second)
	defer deadline.Stop()
	select {
	case <-done:
		log.Info().Msg("stopped")
	case <-deadline.C:
		select {
		case <-srvDone:
		default:
			log.Error().Dur("timeout", opts.ShutdownTimeout).Msg("server did not drain in time")
		}
		if result == nil {
			result = fmt.Errorf("outpost: shutdown did not finish within %s", opts.ShutdownTimeout)
		}
	}
	return result
}

// stopped turns an error caused by ctx ending into a clean stop.
func stopped(ctx context.Context, log zerolog.Logger, err error) error {
	if ctx.Err() != nil {
		log.Info().Msg("stopped during start-up")
		return nil
	}
	return err
}

// retry calls fn until it succeeds, ctx is done, or the core says there is
// no outpost for the token (authentik exits in that case; no retry helps).
func retry[T any](ctx context.Context, p backoff.Policy, log zerolog.Logger, what string, fn func(context.Context) (T, error)) (T, error) {
	var out T
	attempt := 0
	err := backoff.Retry(ctx, p, func(ctx context.Context) error {
		v, err := fn(ctx)
		if err == nil {
			out = v
			return nil
		}
		if errors.Is(err, core.ErrNoOutpost) {
			return backoff.Permanent(err)
		}
		if ctx.Err() == nil {
			log.Warn().Err(err).Int("attempt", attempt).Msgf("%s failed, retrying", what)
		}
		attempt++
		return err
	})
	if err != nil {
		return out, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// runner holds what the refresh loop needs.
type runner[P any] struct {
	opts  Options[P]
	rt    *Runtime
	log   zerolog.Logger
	level *levelHook
}

// providers fetches the provider list; outposts without a list get nil.
func (r *runner[P]) providers(ctx context.Context) ([]P, error) {
	if r.opts.Providers == nil {
		return nil, nil
	}
	ps, err := r.opts.Providers(ctx, r.rt.Client)
	if err != nil {
		return nil, err
	}
	return ps, nil
}

// loop refreshes the configuration until ctx is done. The first refresh
// runs at once, as authentik's interval updater does.
func (r *runner[P]) loop(ctx context.Context, srv Server[P], usr1 <-chan struct{}) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		var reason string
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			reason = "interval"
		case <-r.rt.refresh:
			reason = "trigger"
		case <-usr1:
			reason = "signal"
		}
		r.refresh(ctx, srv, reason)
		// Go 1.23 timers: Reset needs no drain, and a fire that raced with
		// another trigger is discarded.
		t.Reset(RefreshInterval(r.rt.Outpost().RefreshIntervalS))
	}
}

// refresh re-reads the outpost and its providers and hands them to the
// server. A failure is logged; the next trigger tries again.
func (r *runner[P]) refresh(ctx context.Context, srv Server[P], reason string) {
	log := r.log.With().Str("reason", reason).Logger()
	interval := RefreshInterval(r.rt.Outpost().RefreshIntervalS)
	// A core that is down must not hold the loop past the next tick.
	fetchCtx, cancel := context.WithTimeout(ctx, interval)
	defer cancel()

	o, err := r.rt.Client.Instance(fetchCtx)
	if err != nil {
		if ctx.Err() == nil {
			log.Warn().Err(err).Msg("refresh: failed to fetch outpost, keeping current configuration")
		}
		return
	}
	r.rt.outpost.Store(o)
	r.applyLogLevel(o)
	r.rt.Metrics.SetInfo(r.rt.metricsOutpost())

	providers, err := r.providers(fetchCtx)
	if err != nil {
		if ctx.Err() == nil {
			log.Warn().Err(err).Msg("refresh: failed to fetch providers, keeping current providers")
		}
		return
	}
	if err := srv.Refresh(ctx, providers); err != nil {
		if ctx.Err() == nil {
			log.Error().Err(err).Msg("refresh: server rejected the new configuration")
		}
		return
	}
	r.rt.Metrics.SetLastUpdate(r.rt.metricsOutpost(), time.Now())
	r.recordInstance(ctx)
	log.Debug().Int("providers", len(providers)).Msg("refreshed configuration")
}

// instanceRecord is what recordInstance stores.
type instanceRecord struct {
	Version    string `json:"version"`
	Build      string `json:"build"`
	LastUpdate int64  `json:"last_update"`
}

// recordInstance notes in the cache that this instance refreshed, under
// outpost:<pk>:instance:<uuid>, for twice the refresh interval. With Redis
// every replica and an operator can see which instances of the outpost are
// current. It also means the cache is used on every refresh, so a Redis
// outage is noticed (and the fallback logged) even by an idle outpost.
func (r *runner[P]) recordInstance(ctx context.Context) {
	o := r.rt.Outpost()
	v, err := json.Marshal(instanceRecord{Version: r.rt.Version, Build: r.rt.Config.BuildHash, LastUpdate: time.Now().Unix()})
	if err != nil {
		return
	}
	c := cache.Namespace(r.rt.Cache, "outpost", o.Pk, "instance")
	c.Set(ctx, r.rt.InstanceUUID, v, 2*RefreshInterval(o.RefreshIntervalS))
}

// applyLogLevel follows the outpost's log_level setting, as authentik does
// for outposts it does not manage itself.
func (r *runner[P]) applyLogLevel(o *api.Outpost) {
	if m := o.Managed.Get(); m != nil && *m != "" {
		return
	}
	level, ok := o.Config["log_level"].(string)
	if !ok || level == "" {
		return
	}
	if l := parseLevel(level); l != r.level.get() {
		// Logged before the change so the line shows even when the new
		// level would hide it.
		r.log.Info().Str("level", l.String()).Msg("log level set by the outpost's configuration")
		r.level.set(l)
	}
}

// EnvReloadOffset overrides the wait between a TRIGGER_UPDATE and the
// refresh it causes, as a Go duration ("200ms"). It is meant for tests,
// which should not wait up to 9 s; deployments leave it unset so that
// replicas keep refreshing at different moments.
const EnvReloadOffset = "AUTHENTIK_OUTPOST_RELOAD_OFFSET"

// ReloadOffsetFromEnv reads EnvReloadOffset through getenv. It returns nil
// (authentik's random offset) when the variable is unset.
func ReloadOffsetFromEnv(getenv func(string) string) (func() time.Duration, error) {
	v := getenv(EnvReloadOffset)
	if v == "" {
		return nil, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return nil, fmt.Errorf("%s: %q is not a non-negative duration such as 500ms", EnvReloadOffset, v)
	}
	return func() time.Duration { return d }, nil
}

// None is the provider type of outposts that have no provider list (RAC):
// their Options leave Providers nil and their Refresh gets an empty list.
type None struct{}
