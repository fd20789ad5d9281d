// Package shipcheck checks, without a Docker engine, what the repository
// ships: the Dockerfiles, compose.yaml, the GitHub workflows, the release
// script and the generated configuration reference (docs/configuration.md).
//
// It is a module of its own, outside go.work, so that its heavy
// dependencies (compose-go, BuildKit's parser, actionlint) never reach
// authclient or the outposts; see docs/decisions/0006-shipping-checks.md.
// Run it from the repository root with
//
//	(cd tools/shipcheck && GOWORK=off go test -count=1 ./...)
//
// and regenerate the configuration reference with
//
//	(cd tools/shipcheck && GOWORK=off go run ./cmd/configdoc -o ../../docs/configuration.md)
package shipcheck
