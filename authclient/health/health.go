// Package health is the `healthcheck` subcommand that Docker's HEALTHCHECK
// runs inside an outpost container: it asks the outpost's own metrics
// server for the ping page.
package health

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/outpost-go/outposts/authclient/config"
)

// UserAgent is what authentik's healthcheck sends.
const UserAgent = "goauthentik.io/healthcheck"

// Timeout bounds one check.
const Timeout = 5 * time.Second

const pingPath = "/outpost.goauthentik.io/ping"

// Check sends HEAD http://<metricsAddr>/outpost.goauthentik.io/ping and
// returns nil when the answer's status is below 400. An unspecified listen
// host (empty, 0.0.0.0 or ::) is dialled on loopback: 127.0.0.1, or for ::
// first ::1 and then 127.0.0.1. The check takes at most Timeout.
func Check(ctx context.Context, metricsAddr string) error {
	hosts, port, err := targets(metricsAddr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()

	client := &http.Client{
		Transport: &http.Transport{
			// The target is this container's own port: never via a proxy.
			Proxy:             nil,
			DisableKeepAlives: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	defer client.CloseIdleConnections()

	var errs []error
	for _, host := range hosts {
		err := ping(ctx, client, "http://"+net.JoinHostPort(host, port)+pingPath)
		if err == nil {
			return nil
		}
		errs = append(errs, err)
		var se *statusError
		if errors.As(err, &se) || ctx.Err() != nil {
			// The server answered (or time is up): another address won't help.
			break
		}
	}
	return errors.Join(errs...)
}

type statusError struct {
	url    string
	status int
}

func (e *statusError) Error() string {
	return fmt.Sprintf("ping %s: status %d", e.url, e.status)
}

func ping(ctx context.Context, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, url, nil)
	if err != nil {
		return fmt.Errorf("ping %s: %w", url, err)
	}
	req.Header.Set("User-Agent", UserAgent)
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	_ = resp.Body.Close()
	if resp.StatusCode >= 400 {
		return &statusError{url: url, status: resp.StatusCode}
	}
	return nil
}

// targets returns the hosts to try, in order, and the port.
func targets(addr string) ([]string, string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, "", fmt.Errorf("metrics address %q: %w", addr, err)
	}
	if port == "" {
		return nil, "", fmt.Errorf("metrics address %q: no port", addr)
	}
	if host == "" {
		return []string{"127.0.0.1"}, port, nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		if ip.To4() != nil {
			return []string{"127.0.0.1"}, port, nil
		}
		// A Go server on [::] is dual-stack, so 127.0.0.1 also reaches it
		// where IPv6 loopback is missing.
		return []string{"::1", "127.0.0.1"}, port, nil
	}
	return []string{host}, port, nil
}

// Main runs the healthcheck subcommand: it reads AUTHENTIK_LISTEN__METRICS
// (default config.DefaultListenMetrics) through getenv and returns the exit
// code, 0 when healthy and 1 when not, after writing the reason to stderr.
// Only that one variable is read, so the check works even where the rest of
// the configuration (say a token file) is not readable.
func Main(ctx context.Context, getenv func(string) string, stderr io.Writer) int {
	addr, err := config.ListenMetrics(getenv)
	if err != nil {
		_, _ = fmt.Fprintf(stderr, "healthcheck: %v\n", err)
		return 1
	}
	if err := Check(ctx, addr); err != nil {
		_, _ = fmt.Fprintf(stderr, "healthcheck: unhealthy: %v\n", oneLine(err.Error()))
		return 1
	}
	return 0
}

func oneLine(s string) string {
	out := []rune{}
	for _, r := range s {
		if r == '\n' || r == '\r' {
			r = ';'
		}
		out = append(out, r)
	}
	return string(out)
}
