// Command rac-outpost is authentik's RAC outpost: it connects browser
// sessions, relayed by the core, to remote desktops through guacd.
//
// rac-outpost             run the outpost (configured by AUTHENTIK_* and
//
//	GUACD_* variables; see README.md)
//
// rac-outpost healthcheck exit 0 when the running outpost answers its ping
// rac-outpost --version   print the version
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/outpost-go/outposts/authclient/outpost"
	"github.com/outpost-go/outposts/rac-outpost/settings"
)

// version is this outpost's version. It is a var so that release builds
// can set it with -ldflags "-X main.version=1.2.3" (see the Dockerfile);
// the build hash comes from GIT_BUILD_HASH.
var version = "0.1.0-dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv)
	stop()
	os.Exit(code)
}

// run reads the RAC settings (a bad one is one line on stderr and exit
// status 2, like the runtime's own settings) and runs the outpost.
func run(ctx context.Context, args []string, getenv func(string) string) int {
	s, err := settings.Load(getenv, nil)
	if err != nil && len(args) == 0 {
		_, _ = fmt.Fprintf(os.Stderr, "rac-outpost: invalid setting %v\n", err)
		return 2
	}
	return outpost.Main(ctx, args, getenv, os.Stdout, os.Stderr, program(s))
}

func program(s settings.Settings) outpost.Program[outpost.None] {
	return outpost.Program[outpost.None]{
		Name:    "rac-outpost",
		Type:    "rac",
		Version: version,
		// RAC has no provider list: the core sends each connection request
		// over the control channel (PROVIDER_SPECIFIC init_connection).
		Providers: nil,
		NewServer: func(rt *outpost.Runtime) (outpost.Server[outpost.None], error) {
			return newServer(rt, s)
		},
	}
}
