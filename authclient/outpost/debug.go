package outpost

import (
	"net/http"
	"net/http/pprof"
)

// debugHandler serves Go's profiler under /debug/pprof/ on
// AUTHENTIK_LISTEN__DEBUG. The handlers are mounted on a mux of their own:
// importing net/http/pprof also registers them on http.DefaultServeMux, which
// no server of ours uses.
func debugHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}
