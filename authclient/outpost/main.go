package outpost

import (
	"context"
	"fmt"
	"io"

	"github.com/outpost-go/outposts/authclient/cache"
	"github.com/outpost-go/outposts/authclient/config"
	"github.com/outpost-go/outposts/authclient/core"
	"github.com/outpost-go/outposts/authclient/health"
	"github.com/outpost-go/outposts/authclient/logging"
	"github.com/outpost-go/outposts/authclient/metrics"
)

// Program describes one outpost binary: what Main needs beyond the
// environment to run it.
type Program[P any] struct {
	// Name is the binary's name, e.g. "ldap-outpost"; it appears in usage
	// and --version output.
	Name string
	// Type is the outpost type: ldap, proxy, radius or rac.
	Type string
	// Version is the outpost's version, without the build hash.
	Version string
	// Providers fetches the typed provider list; nil when the core has no
	// list endpoint for the type (RAC).
	Providers func(ctx context.Context, c *core.Client) ([]P, error)
	// NewServer builds the type-specific server once the runtime is up.
	NewServer func(rt *Runtime) (Server[P], error)
}

// Main is the whole life of an outpost binary, shared by all four so that
// each cmd/<name>/main.go only says what is particular to it: the
// `healthcheck` and `--version` subcommands, configuration (a bad setting is
// one line on stderr and exit status 2), logging, metrics, the cache, and Run.
// ctx ends the outpost; main binds it to SIGINT and SIGTERM. The result is
// the process exit code.
func Main[P any](ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, p Program[P]) int {
	if len(args) > 0 {
		switch args[0] {
		case "healthcheck":
			return health.Main(ctx, getenv, stderr)
		case "--version", "-version", "version":
			_, _ = fmt.Fprintf(stdout, "%s %s\n", p.Name, core.FullVersion(p.Version, getenv(config.EnvBuildHash)))
			return 0
		default:
			_, _ = fmt.Fprintf(stderr, "unknown argument %q; usage: %s [healthcheck | --version]\n", args[0], p.Name)
			return 2
		}
	}

	cfg, err := config.Load(getenv)
	if err != nil {
		return config.Exit(stderr, err)
	}
	reloadOffset, err := ReloadOffsetFromEnv(getenv)
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

	err = Run(ctx, Options[P]{
		Type:         p.Type,
		Version:      p.Version,
		Config:       cfg,
		Logger:       log,
		Registry:     reg,
		Cache:        c,
		Providers:    p.Providers,
		ReloadOffset: reloadOffset,
	}, p.NewServer)
	if err != nil {
		log.Error().Err(err).Msg("outpost stopped")
		return 1
	}
	return 0
}
