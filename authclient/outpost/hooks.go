package outpost

import (
	"context"
	"maps"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// ReadyPath answers 204 when every readiness check passes and 503 with one
// line per failing check otherwise. It is served next to /metrics and the
// ping, which stays a pure liveness check: a dependency being down (guacd
// for RAC) must take an instance out of rotation, not restart it.
const ReadyPath = "/outpost.goauthentik.io/ready"

// readyTimeout bounds one run of the readiness checks.
const readyTimeout = 5 * time.Second

// hooks are what a server adds to the runtime's own behaviour.
type hooks struct {
	mu    sync.Mutex
	hello func() map[string]any
	ready map[string]func(ctx context.Context) error
}

// SetHelloArgs makes every HELLO carry fn's args as well (RAC reports
// active_connections, which the core uses to pick the least-loaded
// instance). fn is called for every HELLO and must be cheap. The runtime's
// own args win over fn's.
func (rt *Runtime) SetHelloArgs(fn func() map[string]any) {
	rt.hooks.mu.Lock()
	defer rt.hooks.mu.Unlock()
	rt.hooks.hello = fn
}

// AddReadyCheck adds a readiness check under name, served at ReadyPath on
// the metrics listener.
func (rt *Runtime) AddReadyCheck(name string, check func(ctx context.Context) error) {
	rt.hooks.mu.Lock()
	defer rt.hooks.mu.Unlock()
	if rt.hooks.ready == nil {
		rt.hooks.ready = map[string]func(context.Context) error{}
	}
	rt.hooks.ready[name] = check
}

func (rt *Runtime) helloArgs(base map[string]any) map[string]any {
	rt.hooks.mu.Lock()
	fn := rt.hooks.hello
	rt.hooks.mu.Unlock()
	if fn == nil {
		return base
	}
	out := fn()
	if out == nil {
		return base
	}
	out = maps.Clone(out)
	maps.Copy(out, base)
	return out
}

// Ready runs the readiness checks and returns the failures by name.
func (rt *Runtime) Ready(ctx context.Context) map[string]error {
	rt.hooks.mu.Lock()
	checks := maps.Clone(rt.hooks.ready)
	rt.hooks.mu.Unlock()
	failed := map[string]error{}
	for name, check := range checks {
		if err := check(ctx); err != nil {
			failed[name] = err
		}
	}
	return failed
}

func (rt *Runtime) withReady(next http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", next)
	mux.HandleFunc("GET "+ReadyPath, func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		failed := rt.Ready(ctx)
		if len(failed) == 0 {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		lines := make([]string, 0, len(failed))
		for name, err := range failed {
			lines = append(lines, name+": "+err.Error())
		}
		sort.Strings(lines)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(strings.Join(lines, "\n") + "\n"))
	})
	return mux
}
