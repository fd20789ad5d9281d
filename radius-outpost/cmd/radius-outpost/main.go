// Command radius-outpost is authentik's RADIUS outpost.
//
// radius-outpost             run the outpost (configured by AUTHENTIK_* variables; see README.md)
// radius-outpost healthcheck exit 0 when the running outpost answers its ping
// radius-outpost --version   print the version
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"

	"goauthentik.io/api/v3"

	"github.com/outpost-go/outposts/authclient/config"
	"github.com/outpost-go/outposts/authclient/core"
	"github.com/outpost-go/outposts/authclient/outpost"
	"github.com/outpost-go/outposts/radius-outpost/radiusd"
)

// version is this outpost's version. It is a var so that release builds
// can set it with -ldflags "-X main.version=1.2.3" (see the Dockerfile);
// the build hash comes from GIT_BUILD_HASH.
var version = "0.1.0-dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run reads the RADIUS settings (a bad one is one line on stderr and exit
// status 2, like the runtime's own settings) and runs the outpost.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	listen := getenv(config.EnvListenRADIUS)
	if listen == "" {
		listen = config.DefaultListenRADIUS
	}
	settings, err := radiusd.LoadSettings(getenv, listen)
	if err != nil && len(args) == 0 {
		return config.Exit(stderr, err)
	}
	return outpost.Main(ctx, args, getenv, stdout, stderr, program(settings))
}

func program(settings radiusd.Settings) outpost.Program[api.RadiusOutpostConfig] {
	return outpost.Program[api.RadiusOutpostConfig]{
		Name:    "radius-outpost",
		Type:    "radius",
		Version: version,
		Providers: func(ctx context.Context, c *core.Client) ([]api.RadiusOutpostConfig, error) {
			return c.RadiusProviders(ctx)
		},
		NewServer: newServer(settings),
	}
}
