// Command ldap-outpost is authentik's LDAP outpost.
//
// ldap-outpost             run the outpost (configured by AUTHENTIK_* variables)
// ldap-outpost healthcheck exit 0 when the running outpost answers its ping
// ldap-outpost --version   print the version
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"goauthentik.io/api/v3"

	"github.com/outpost-go/outposts/authclient/cache"
	"github.com/outpost-go/outposts/authclient/config"
	"github.com/outpost-go/outposts/authclient/core"
	"github.com/outpost-go/outposts/authclient/health"
	"github.com/outpost-go/outposts/authclient/logging"
	"github.com/outpost-go/outposts/authclient/metrics"
	"github.com/outpost-go/outposts/authclient/outpost"
	"github.com/outpost-go/outposts/authclient/proxyproto"
)

// version is this outpost's version; the build hash comes from
// GIT_BUILD_HASH.
const version = "0.1.0-dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole program; ctx ends on SIGINT or SIGTERM.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "healthcheck":
			return health.Main(ctx, getenv, stderr)
		case "--version", "-version", "version":
			_, _ = fmt.Fprintf(stdout, "ldap-outpost %s\n", core.FullVersion(version, getenv(config.EnvBuildHash)))
			return 0
		default:
			_, _ = fmt.Fprintf(stderr, "unknown argument %q; usage: ldap-outpost [healthcheck | --version]\n", args[0])
			return 2
		}
	}

	cfg, err := config.Load(getenv)
	if err != nil {
		return config.Exit(stderr, err)
	}
	reloadOffset, err := outpost.ReloadOffsetFromEnv(getenv)
	if err != nil {
		return config.Exit(stderr, err)
	}
	trusted, err := proxyproto.TrustedFromEnv(getenv)
	if err != nil {
		return config.Exit(stderr, err)
	}
	log := logging.New(stderr, cfg.LogLevel, cfg.Debug)

	reg := metrics.NewRegistry()
	c, closeCache, err := cache.New(ctx, cfg.Redis, log, reg)
	if err != nil {
		log.Error().Err(err).Msg("cannot set up the cache")
		return 1
	}
	defer func() {
		if err := closeCache(); err != nil {
			log.Warn().Err(err).Msg("closing the cache")
		}
	}()

	err = outpost.Run(ctx, outpost.Options[api.LDAPOutpostConfig]{
		Type:     "ldap",
		Version:  version,
		Config:   cfg,
		Logger:   log,
		Registry: reg,
		Cache:    c,
		Providers: func(ctx context.Context, c *core.Client) ([]api.LDAPOutpostConfig, error) {
			return c.LDAPProviders(ctx)
		},
		ReloadOffset: reloadOffset,
	}, func(rt *outpost.Runtime) (outpost.Server[api.LDAPOutpostConfig], error) {
		return newServer(rt, trusted)
	})
	if err != nil {
		log.Error().Err(err).Msg("outpost stopped")
		return 1
	}
	return 0
}
