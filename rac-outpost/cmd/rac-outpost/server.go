package main

import (
	"context"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/outpost-go/outposts/authclient/events"
	"github.com/outpost-go/outposts/authclient/logging"
	"github.com/outpost-go/outposts/authclient/outpost"
)

// server is a placeholder for the RAC server: it answers no connection yet,
// but logs and counts the connection requests the core sends.
type server struct {
	log      zerolog.Logger
	requests *prometheus.CounterVec
}

func newServer(rt *outpost.Runtime) (outpost.Server[outpost.None], error) {
	s := &server{
		log: logging.Named(rt.Logger, "authentik.outpost.rac"),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authentik_outpost_rac_provider_messages_total",
			Help: "PROVIDER_SPECIFIC messages received, by sub_type (init_connection or other); none is handled yet.",
		}, []string{"sub_type"}),
	}
	if err := rt.Registry.Register(s.requests); err != nil {
		return nil, fmt.Errorf("register rac metrics: %w", err)
	}
	rt.Events.Handle(events.ProviderSpecific, s.providerSpecific)
	return s, nil
}

func (s *server) providerSpecific(_ context.Context, msg events.Message) {
	subType, _ := msg.Args["sub_type"].(string)
	if subType == "init_connection" {
		s.requests.WithLabelValues(subType).Inc()
		s.log.Warn().Msg("init_connection not implemented yet")
		return
	}
	// Other sub-types are not RAC's; one label keeps the series bounded.
	s.requests.WithLabelValues("other").Inc()
	s.log.Debug().Str("sub_type", subType).Msg("ignoring provider-specific message")
}

func (s *server) Refresh(context.Context, []outpost.None) error { return nil }

func (s *server) Run(ctx context.Context) error {
	<-ctx.Done()
	return nil
}
