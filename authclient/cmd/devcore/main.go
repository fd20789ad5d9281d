// Command devcore runs the stand-in authentik core: the REST, flow and
// websocket surface the outposts use, backed by blueprint files. It is for
// tests and the quickstart; production uses real authentik.
//
// Settings (environment):
//
//	AUTHENTIK_LISTEN__HTTP     listen address (default 127.0.0.1:9000)
//	AUTHENTIK_BLUEPRINTS_DIR   blueprint directory (empty: the embedded demo)
//	AUTHENTIK_STATE_DIR        where generated tokens are kept (default ./.state/devcore)
//	AUTHENTIK_LOG_LEVEL        trace, debug, info, warning, error (default info)
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/rs/zerolog"

	"github.com/outpost-go/outposts/authclient/devcore"
)

// settingError names the environment variable that is missing or invalid.
type settingError struct {
	name string
	err  error
}

func (e *settingError) Error() string { return e.name + ": " + e.err.Error() }

type settings struct {
	listen, blueprints, state string
	level                     zerolog.Level
}

func readSettings(getenv func(string) string) (settings, error) {
	s := settings{
		listen:     getenv("AUTHENTIK_LISTEN__HTTP"),
		blueprints: getenv("AUTHENTIK_BLUEPRINTS_DIR"),
		state:      getenv("AUTHENTIK_STATE_DIR"),
		level:      zerolog.InfoLevel,
	}
	if s.listen == "" {
		s.listen = "127.0.0.1:9000"
	}
	if _, _, err := net.SplitHostPort(s.listen); err != nil {
		return s, &settingError{"AUTHENTIK_LISTEN__HTTP", fmt.Errorf("want host:port: %w", err)}
	}
	if s.blueprints != "" {
		info, err := os.Stat(s.blueprints)
		if err != nil {
			return s, &settingError{"AUTHENTIK_BLUEPRINTS_DIR", err}
		}
		if !info.IsDir() {
			return s, &settingError{"AUTHENTIK_BLUEPRINTS_DIR", fmt.Errorf("%s is not a directory", s.blueprints)}
		}
	}
	if s.state == "" {
		s.state = filepath.Join(".", ".state", "devcore")
	}
	if err := os.MkdirAll(s.state, 0o700); err != nil {
		return s, &settingError{"AUTHENTIK_STATE_DIR", err}
	}
	if raw := getenv("AUTHENTIK_LOG_LEVEL"); raw != "" {
		if raw == "warning" {
			raw = "warn"
		}
		lvl, err := zerolog.ParseLevel(raw)
		if err != nil {
			return s, &settingError{"AUTHENTIK_LOG_LEVEL", err}
		}
		s.level = lvl
	}
	return s, nil
}

func main() {
	os.Exit(run())
}

func run() int {
	cfg, err := readSettings(os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "devcore:", err)
		return 2
	}
	log := zerolog.New(os.Stderr).Level(cfg.level).With().Timestamp().Str("logger", "devcore").Logger()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	srv, err := devcore.New(ctx, devcore.Config{
		BlueprintsDir: cfg.blueprints,
		StateDir:      cfg.state,
		Getenv:        os.Getenv,
		Logger:        log,
	})
	if err != nil {
		var se *settingError
		if errors.As(err, &se) {
			fmt.Fprintln(os.Stderr, "devcore:", err)
			return 2
		}
		log.Error().Err(err).Msg("cannot load blueprints")
		return 1
	}
	for _, name := range srv.Blueprints() {
		log.Info().Str("blueprint", name).Msg("blueprint loaded")
	}
	for _, o := range srv.Directory().Outposts {
		log.Info().Str("outpost", o.Name).Str("type", o.Type).Str("pk", o.PK).Msg("outpost configured")
	}
	log.Info().Str("file", filepath.Join(cfg.state, "tokens.json")).Msg("generated outpost tokens are kept here")

	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "devcore: AUTHENTIK_LISTEN__HTTP:", err)
		return 2
	}
	log.Info().Str("listen", ln.Addr().String()).Msg("devcore serving")
	if err := srv.Serve(ctx, ln); err != nil {
		log.Error().Err(err).Msg("serve failed")
		return 1
	}
	log.Info().Msg("devcore stopped")
	return 0
}
