// Package devcoretest starts a devcore stand-in core for tests, the way
// net/http/httptest starts a server: one call, a free loopback port, and
// t.Cleanup stops it.
package devcoretest

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/outpost-go/outposts/authclient/devcore"
	"github.com/outpost-go/outposts/authclient/devcore/blueprint"
)

// Option configures Start.
type Option func(*options)

type options struct {
	dir        string
	blueprints []blueprint.File
	demo       bool
	env        map[string]string
}

// WithBlueprintDir serves the blueprints in dir (plus the default flows).
// Editing files there hot-reloads the core.
func WithBlueprintDir(dir string) Option {
	return func(o *options) { o.dir = dir }
}

// WithBlueprint adds a blueprint file written into the core's temporary
// blueprint directory (plus the default flows).
func WithBlueprint(name, yamlText string) Option {
	return func(o *options) {
		o.blueprints = append(o.blueprints, blueprint.File{Name: name, Data: []byte(yamlText)})
	}
}

// WithDemo serves the embedded demo blueprint; it is the default when no
// other blueprint option is given.
func WithDemo() Option {
	return func(o *options) { o.demo = true }
}

// WithEnv sets the environment blueprints see through !Env; the process
// environment is not consulted, so tests stay hermetic.
func WithEnv(env map[string]string) Option {
	return func(o *options) { o.env = env }
}

// Core is a running stand-in core.
type Core struct {
	// URL is "http://127.0.0.1:<port>/".
	URL    string
	Server *devcore.Server
	// Dir is the blueprint directory the core watches; writing to it
	// triggers a reload.
	Dir string

	t    testing.TB
	addr string
	log  *testLog

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan error
}

// Start starts a core on a free loopback port. t.Cleanup stops it.
func Start(t testing.TB, opts ...Option) *Core {
	t.Helper()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if o.dir == "" && len(o.blueprints) == 0 {
		o.demo = true
	}
	dir := o.dir
	if dir == "" {
		dir = t.TempDir()
	}
	if o.demo {
		demo := blueprint.Demo()
		writeBlueprint(t, dir, "demo.yaml", demo.Data)
	}
	for _, f := range o.blueprints {
		writeBlueprint(t, dir, f.Name, f.Data)
	}
	env := o.env
	log := &testLog{t: t}
	t.Cleanup(log.close)
	srv, err := devcore.New(context.Background(), devcore.Config{
		BlueprintsDir: dir,
		StateDir:      t.TempDir(),
		Getenv:        func(k string) string { return env[k] },
		Logger:        zerolog.New(log).Level(zerolog.InfoLevel).With().Timestamp().Str("component", "devcore").Logger(),
		// Poll quickly so hot-reload tests do not wait long.
		ReloadInterval: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("devcoretest: start core: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("devcoretest: listen: %v", err)
	}
	c := &Core{
		URL:    "http://" + ln.Addr().String() + "/",
		Server: srv,
		Dir:    dir,
		t:      t,
		addr:   ln.Addr().String(),
		log:    log,
	}
	c.serve(ln)
	t.Cleanup(c.Stop)
	return c
}

func writeBlueprint(t testing.TB, dir, name string, data []byte) {
	t.Helper()
	path := filepath.Join(dir, filepath.Clean("/"+name))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatalf("devcoretest: create blueprint dir: %v", err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatalf("devcoretest: write blueprint %s: %v", name, err)
	}
}

func (c *Core) serve(ln net.Listener) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Server.Serve(ctx, ln) }()
	c.mu.Lock()
	c.cancel, c.done = cancel, done
	c.mu.Unlock()
}

// Token is the API token of the named outpost; the test fails if there is
// no such outpost.
func (c *Core) Token(outpostName string) string {
	c.t.Helper()
	tok, ok := c.Server.OutpostToken(outpostName)
	if !ok {
		c.t.Fatalf("devcoretest: no outpost named %q", outpostName)
	}
	return tok
}

// Stop stops listening and drops every websocket, simulating a core outage.
// The port stays reserved for Restart only in the sense that nothing else
// in this process asks for it; Stop is idempotent.
func (c *Core) Stop() {
	c.mu.Lock()
	cancel, done := c.cancel, c.done
	c.cancel, c.done = nil, nil
	c.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	if err := <-done; err != nil {
		c.log.Write([]byte(fmt.Sprintf("devcoretest: serve: %v\n", err)))
	}
}

// Restart listens again on the same port after Stop.
func (c *Core) Restart(t testing.TB) {
	t.Helper()
	c.mu.Lock()
	running := c.cancel != nil
	c.mu.Unlock()
	if running {
		return
	}
	var ln net.Listener
	var err error
	// The old socket may linger briefly after close; retry for a moment.
	for range 50 {
		if ln, err = net.Listen("tcp", c.addr); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("devcoretest: listen again on %s: %v", c.addr, err)
	}
	c.serve(ln)
}

// testLog forwards log lines to t.Log until the test's cleanup runs; the
// testing package panics on logging after a test has finished.
type testLog struct {
	mu     sync.Mutex
	t      testing.TB
	closed bool
}

func (l *testLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed {
		l.t.Log(string(p))
	}
	return len(p), nil
}

func (l *testLog) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
}
