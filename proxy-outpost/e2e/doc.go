// Package e2e holds the proxy outpost's end-to-end tests: the outpost
// against the stand-in core over loopback, with a real upstream, Redis,
// nginx, Caddy and headless Chromium in front of it.
package e2e
