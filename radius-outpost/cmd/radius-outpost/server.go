package main

import (
	"context"

	"github.com/rs/zerolog"
	"goauthentik.io/api/v3"

	"github.com/outpost-go/outposts/authclient/logging"
	"github.com/outpost-go/outposts/authclient/outpost"
)

// server is a placeholder for the RADIUS server: it takes the provider list
// and serves nothing yet.
type server struct {
	log zerolog.Logger
}

func newServer(rt *outpost.Runtime) (outpost.Server[api.RadiusOutpostConfig], error) {
	return &server{log: logging.Named(rt.Logger, "authentik.outpost.radius")}, nil
}

func (s *server) Refresh(_ context.Context, providers []api.RadiusOutpostConfig) error {
	s.log.Info().Int("providers", len(providers)).Msg("received providers")
	return nil
}

func (s *server) Run(ctx context.Context) error {
	<-ctx.Done()
	return nil
}
