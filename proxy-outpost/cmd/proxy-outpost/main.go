// Command proxy-outpost is authentik's proxy outpost.
//
// proxy-outpost             run the outpost (configured by AUTHENTIK_* variables; see README.md)
// proxy-outpost healthcheck exit 0 when the running outpost answers its ping
// proxy-outpost --version   print the version
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"goauthentik.io/api/v3"

	"github.com/outpost-go/outposts/authclient/config"
	"github.com/outpost-go/outposts/authclient/core"
	"github.com/outpost-go/outposts/authclient/outpost"
	"github.com/outpost-go/outposts/proxy-outpost/server"
)

// version is this outpost's version. It is a var so that release builds
// can set it with -ldflags "-X main.version=1.2.3" (see the Dockerfile);
// the build hash comes from GIT_BUILD_HASH.
var version = "0.1.0-dev"

// defaultGCPercent replaces Go's GOGC=100 when GOGC is unset. The live
// heap is a few MB (applications, the local session and epoch copies), so
// at 100 the collector ran every few hundred requests under load and took
// a visible share of the CPU of every forward-auth check; 400 trades a few
// tens of MB at most for that.
const defaultGCPercent = 400

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run reads the proxy-only settings (a bad one is one line on stderr and
// exit status 2, like the runtime's own settings) and runs the outpost.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	settings, err := server.SettingsFromEnv(getenv)
	if err != nil && len(args) == 0 {
		return config.Exit(stderr, err)
	}
	return outpost.Main(ctx, args, getenv, stdout, stderr, program(settings))
}

func program(settings server.Settings) outpost.Program[api.ProxyOutpostConfig] {
	return outpost.Program[api.ProxyOutpostConfig]{
		Name:    "proxy-outpost",
		Type:    "proxy",
		Version: version,
		Providers: func(ctx context.Context, c *core.Client) ([]api.ProxyOutpostConfig, error) {
			return c.ProxyProviders(ctx)
		},
		NewServer: func(rt *outpost.Runtime) (outpost.Server[api.ProxyOutpostConfig], error) {
			return server.New(rt, settings)
		},
	}
}
