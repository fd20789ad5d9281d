package main

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/rs/zerolog"
	"goauthentik.io/api/v3"

	"github.com/outpost-go/outposts/authclient/backoff"
	"github.com/outpost-go/outposts/authclient/cache"
	"github.com/outpost-go/outposts/authclient/credcache"
	"github.com/outpost-go/outposts/authclient/events"
	"github.com/outpost-go/outposts/authclient/flow"
	"github.com/outpost-go/outposts/authclient/logging"
	"github.com/outpost-go/outposts/authclient/outpost"
	"github.com/outpost-go/outposts/radius-outpost/radiusd"
)

// localCredEntries bounds the in-process copy of the credential cache
// (a few hundred bytes each).
const localCredEntries = 50000

// server connects the outpost runtime to the RADIUS server: providers in
// from refreshes, SESSION_END in from the control channel, UDP sockets out.
type server struct {
	log      zerolog.Logger
	settings radiusd.Settings
	radius   *radiusd.Server
}

// newServer returns the runtime's constructor for the given settings.
func newServer(settings radiusd.Settings) func(rt *outpost.Runtime) (outpost.Server[api.RadiusOutpostConfig], error) {
	return func(rt *outpost.Runtime) (outpost.Server[api.RadiusOutpostConfig], error) {
		log := logging.Named(rt.Logger, "authentik.outpost.radius")
		exec := flow.NewExecutor(flow.Options{
			Host:     rt.Config.Host,
			Token:    rt.Config.Token,
			Insecure: rt.Config.Insecure,
			Metrics:  flow.NewMetrics(rt.Registry),
			Logger:   rt.Logger,
		})
		// Every replica of this outpost derives the same key from the
		// token (credcache package doc).
		key := credcache.DeriveKey(rt.Config.Token)
		shared := cache.Namespace(rt.Cache, "radius")
		opts := radiusd.Options{
			Logger:     log,
			Registerer: rt.Registry,
			OutpostName: func() string {
				if o := rt.Outpost(); o != nil {
					return o.Name
				}
				return ""
			},
			Auth:                             radiusd.FlowAuthenticator{Executor: exec},
			Limiter:                          credcache.NewLimiter(shared, key, settings.Limits),
			AllowMissingMessageAuthenticator: settings.AllowMissingMA,
			FreshFor:                         settings.CacheFresh,
		}
		if settings.CacheTTL > 0 {
			// Entries within the fresh window are answered without asking
			// the core anyway; keeping them in process too spares the
			// shared cache a round trip per request (credcache.WithLocal).
			opts.Creds = credcache.New(shared, key, settings.CacheTTL).WithLocal(localCredEntries, settings.CacheFresh)
			if settings.UserPoll > 0 {
				opts.Users = radiusd.CoreUsers{Client: rt.Client, Backoff: backoff.Default()}
				opts.UserPoll = settings.UserPoll
			}
		}
		srv, err := radiusd.New(opts)
		if err != nil {
			return nil, err
		}
		rt.Events.Handle(events.SessionEnd, func(ctx context.Context, msg events.Message) {
			if sid, ok := msg.Args["session_id"].(string); ok {
				srv.EndSession(ctx, sid)
			}
		})
		// The runtime's resolved address is the authority for the auth
		// socket; settings derived the accounting one from the same value.
		s := settings
		s.ListenAuth = rt.Config.Listen.RADIUS
		return &server{log: log, settings: s, radius: srv}, nil
	}
}

// Refresh serves the new providers. A provider that cannot be used is
// logged and left out; the others keep serving.
func (s *server) Refresh(_ context.Context, providers []api.RadiusOutpostConfig) error {
	if err := s.radius.SetProviders(providers); err != nil {
		s.log.Error().Err(err).Msg("some radius providers cannot be served")
	}
	s.log.Info().Int("providers", len(s.radius.Providers())).Msg("received providers")
	return nil
}

// Run serves the auth socket and, unless disabled, the accounting socket.
func (s *server) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	listeners := []struct {
		addr string
		kind radiusd.Listener
	}{{s.settings.ListenAuth, radiusd.Auth}, {s.settings.ListenAccounting, radiusd.Accounting}}
	type socket struct {
		conn net.PacketConn
		kind radiusd.Listener
	}
	var sockets []socket
	for _, l := range listeners {
		if l.addr == "" {
			continue
		}
		conn, err := (&net.ListenConfig{}).ListenPacket(ctx, "udp", l.addr)
		if err != nil {
			for _, sk := range sockets {
				_ = sk.conn.Close()
			}
			return fmt.Errorf("listen radius %s on %s: %w", l.kind, l.addr, err)
		}
		sockets = append(sockets, socket{conn, l.kind})
	}
	go s.radius.WatchUsers(ctx)
	errs := make(chan error, len(sockets))
	for _, sk := range sockets {
		go func() { errs <- s.radius.Serve(ctx, sk.conn, sk.kind) }()
	}
	var first error
	for range sockets {
		if err := <-errs; err != nil && first == nil {
			first = err
			cancel() // one socket failed: stop the other too
		}
	}
	if first != nil && !errors.Is(first, context.Canceled) {
		return first
	}
	return nil
}
