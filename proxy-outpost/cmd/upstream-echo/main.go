// Command upstream-echo is a tiny application to put behind the proxy
// outpost in demos and benchmarks: it answers every request with the
// request's method, path, host and headers as JSON, so you can see the
// X-authentik-* headers the outpost adds.
//
//	upstream-echo [listen address]   (default 127.0.0.1:9081)
package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"time"
)

func main() {
	addr := "127.0.0.1:9081"
	if len(os.Args) > 1 {
		addr = os.Args[1]
	}
	srv := &http.Server{
		Addr:              addr,
		ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			_ = enc.Encode(map[string]any{"method": r.Method, "path": r.URL.Path, "query": r.URL.RawQuery, "host": r.Host, "headers": r.Header})
		}),
	}
	if err := srv.ListenAndServe(); err != nil {
		fmt.Fprintln(os.Stderr, "upstream-echo:", err)
		os.Exit(1)
	}
}
