// Package metrics serves an outpost's Prometheus metrics and the ping that
// health checks call, and holds the metrics every outpost type shares.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
)

// PingPath answers 204 while the outpost runs; Docker's healthcheck and
// load balancers call it.
const PingPath = "/outpost.goauthentik.io/ping"

// MetricsPath is where Prometheus scrapes.
const MetricsPath = "/metrics"

// NewRegistry returns a registry with the Go runtime and process
// collectors, like the default registry authentik's outposts use, but
// owned by the caller instead of a package global.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

// Outpost identifies the outpost in metric labels.
type Outpost struct {
	Name    string // the outpost's name in authentik
	Type    string // ldap, proxy, radius, rac
	UUID    string // the outpost's pk
	Version string
	Build   string
}

func (o Outpost) fullLabels() []string {
	return []string{o.Name, o.Type, o.UUID, o.Version, o.Build}
}

func (o Outpost) shortLabels() []string {
	return []string{o.Name, o.Type, o.UUID}
}

// Common holds the metrics every outpost exports, with the names, labels
// and help texts of authentik's internal/outpost/ak/metrics.go:
//
//	authentik_outpost_info{outpost_name,outpost_type,uuid,version,build}         1
//	authentik_outpost_last_update{outpost_name,outpost_type,uuid,version,build}  Unix seconds of the last successful refresh
//	authentik_outpost_connection{outpost_name,outpost_type,uuid}                 1 while the control channel is up, else 0
//
// A process runs one outpost: when the labels change (say the outpost was
// renamed), the series with the old labels is removed so dashboards do not
// show two outposts.
type Common struct {
	info       *prometheus.GaugeVec
	lastUpdate *prometheus.GaugeVec
	connection *prometheus.GaugeVec

	mu       sync.Mutex
	lastInfo []string
	lastUpd  []string
	lastConn []string
}

// NewCommon creates the common metrics and registers them with reg (nil:
// not registered). Registering twice with the same registry reuses the
// metrics already there instead of panicking.
func NewCommon(reg prometheus.Registerer) *Common {
	full := []string{"outpost_name", "outpost_type", "uuid", "version", "build"}
	short := []string{"outpost_name", "outpost_type", "uuid"}
	return &Common{
		info: register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "authentik_outpost_info",
			Help: "Outpost info",
		}, full)),
		lastUpdate: register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "authentik_outpost_last_update",
			Help: "Time of last update",
		}, full)),
		connection: register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "authentik_outpost_connection",
			Help: "Connection status",
		}, short)),
	}
}

// register registers c, or returns the equal collector already registered.
// Any other registration failure is a programming error (a clashing name
// with other labels) and panics like MustRegister.
func register(reg prometheus.Registerer, c *prometheus.GaugeVec) *prometheus.GaugeVec {
	if reg == nil {
		return c
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(*prometheus.GaugeVec); ok {
				return existing
			}
		}
		panic(fmt.Sprintf("register outpost metric: %v", err))
	}
	return c
}

// replace sets vec{labels} = v and drops the series last set, if different.
func (c *Common) replace(vec *prometheus.GaugeVec, last *[]string, labels []string, v float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	vec.WithLabelValues(labels...).Set(v)
	if *last != nil && !equal(*last, labels) {
		vec.DeleteLabelValues(*last...)
	}
	*last = labels
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// SetInfo sets authentik_outpost_info to 1 for o.
func (c *Common) SetInfo(o Outpost) {
	c.replace(c.info, &c.lastInfo, o.fullLabels(), 1)
}

// SetLastUpdate records a successful refresh at t.
func (c *Common) SetLastUpdate(o Outpost, t time.Time) {
	c.replace(c.lastUpdate, &c.lastUpd, o.fullLabels(), float64(t.Unix()))
}

// SetConnected records whether the control channel to the core is up.
func (c *Common) SetConnected(o Outpost, up bool) {
	v := 0.0
	if up {
		v = 1
	}
	c.replace(c.connection, &c.lastConn, o.shortLabels(), v)
}

// Handler serves GET/HEAD /metrics from g and GET/HEAD PingPath with 204;
// other methods on those paths get 405 and other paths 404.
func Handler(g prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	// A "GET" pattern also matches HEAD.
	mux.Handle("GET "+MetricsPath, promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET "+PingPath, func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	return mux
}

// shutdownTimeout bounds how long in-flight scrapes may take once ctx ends.
const shutdownTimeout = 5 * time.Second

// Serve listens on addr (host:port) and serves h until ctx is done, then
// shuts down gracefully and returns nil. Listening or serving failures are
// returned. Name the logger before passing it in (authentik uses
// "authentik.outpost.metrics").
func Serve(ctx context.Context, addr string, h http.Handler, log zerolog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics listen on %s: %w", addr, err)
	}
	return ServeListener(ctx, ln, h, log)
}

// ServeListener is Serve on a listener the caller opened (tests pass
// 127.0.0.1:0). It closes ln.
func ServeListener(ctx context.Context, ln net.Listener, h http.Handler, log zerolog.Logger) error {
	log = log.With().Str("listen", ln.Addr().String()).Logger()
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}

	shutdownErr := make(chan error, 1)
	served := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
		case <-served:
			shutdownErr <- nil
			return
		}
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
		defer cancel()
		shutdownErr <- srv.Shutdown(sctx)
	}()

	log.Info().Msg("Starting Metrics server")
	err := srv.Serve(ln)
	close(served)
	if errors.Is(err, http.ErrServerClosed) {
		if serr := <-shutdownErr; serr != nil {
			_ = srv.Close()
			return fmt.Errorf("metrics server shutdown: %w", serr)
		}
		log.Info().Msg("Metrics server stopped")
		return nil
	}
	<-shutdownErr
	return fmt.Errorf("metrics server: %w", err)
}
