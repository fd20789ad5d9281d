// Command ldap-outpost is authentik's LDAP outpost.
//
// ldap-outpost             run the outpost (configured by AUTHENTIK_* variables; see README.md)
// ldap-outpost healthcheck exit 0 when the running outpost answers its ping
// ldap-outpost --version   print the version
package main

import (
	"context"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"syscall"

	"goauthentik.io/api/v3"

	"github.com/outpost-go/outposts/authclient/config"
	"github.com/outpost-go/outposts/authclient/core"
	"github.com/outpost-go/outposts/authclient/outpost"
	"github.com/outpost-go/outposts/authclient/proxyproto"
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

// run reads the LDAP-only settings (a bad one is one line on stderr and exit
// status 2, like the runtime's own settings) and runs the outpost.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	trusted, err := proxyproto.TrustedFromEnv(getenv)
	if err != nil && len(args) == 0 {
		return config.Exit(stderr, err)
	}
	return outpost.Main(ctx, args, getenv, stdout, stderr, program(trusted))
}

func program(trusted []netip.Prefix) outpost.Program[api.LDAPOutpostConfig] {
	return outpost.Program[api.LDAPOutpostConfig]{
		Name:    "ldap-outpost",
		Type:    "ldap",
		Version: version,
		Providers: func(ctx context.Context, c *core.Client) ([]api.LDAPOutpostConfig, error) {
			return c.LDAPProviders(ctx)
		},
		NewServer: func(rt *outpost.Runtime) (outpost.Server[api.LDAPOutpostConfig], error) {
			return newServer(rt, trusted)
		},
	}
}
