// Command rac-outpost is authentik's RAC outpost.
//
// rac-outpost             run the outpost (configured by AUTHENTIK_* variables)
// rac-outpost healthcheck exit 0 when the running outpost answers its ping
// rac-outpost --version   print the version
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/outpost-go/outposts/authclient/outpost"
)

// version is this outpost's version; the build hash comes from
// GIT_BUILD_HASH.
const version = "0.1.0-dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := outpost.Main(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr, program())
	stop()
	os.Exit(code)
}

func program() outpost.Program[outpost.None] {
	return outpost.Program[outpost.None]{
		Name:    "rac-outpost",
		Type:    "rac",
		Version: version,
		// RAC has no provider list: the core sends each connection request
		// over the control channel (PROVIDER_SPECIFIC).
		Providers: nil,
		NewServer: newServer,
	}
}
