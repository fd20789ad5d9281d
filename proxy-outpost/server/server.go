// Package server is the proxy outpost's front: the HTTP and HTTPS
// listeners (PROXY protocol from trusted peers, a certificate per host by
// SNI), routing a request to its application by host, the outpost-wide
// endpoints (ping, static), request metrics, and the control-channel
// messages that end sessions.
package server

import (
	"context"
	"crypto/tls"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	"goauthentik.io/api/v3"

	"github.com/outpost-go/outposts/authclient/cache"
	"github.com/outpost-go/outposts/authclient/certs"
	"github.com/outpost-go/outposts/authclient/events"
	"github.com/outpost-go/outposts/authclient/logging"
	"github.com/outpost-go/outposts/authclient/outpost"
	"github.com/outpost-go/outposts/authclient/proxyproto"
	"github.com/outpost-go/outposts/proxy-outpost/application"
	"github.com/outpost-go/outposts/proxy-outpost/http1"
	"github.com/outpost-go/outposts/proxy-outpost/internal/fields"
	"github.com/outpost-go/outposts/proxy-outpost/session"
)

//go:embed static
var staticFiles embed.FS

// Server is the proxy outpost server.
type Server struct {
	rt       *outpost.Runtime
	settings Settings
	log      zerolog.Logger
	metrics  *application.Metrics
	keyPairs *certs.Store
	defCert  *tls.Certificate
	tlsCerts atomic.Pointer[certs.Selector]
	// near fronts the shared cache for session payloads; nil without Redis.
	near      *session.Near
	nearClose func() error

	apps atomic.Pointer[routes]

	mu        sync.Mutex
	listeners []net.Listener
}

// routes is one immutable snapshot of the applications.
type routes struct {
	byHost  map[string]*application.App
	byName  map[string]*application.App // host without port
	domains []*application.App          // forward_domain apps, longest cookie domain first
	all     []*application.App
}

// New builds the server; it registers its control-channel handlers.
func New(rt *outpost.Runtime, settings Settings) (*Server, error) {
	s := &Server{
		rt:       rt,
		settings: settings,
		log:      logging.Named(rt.Logger, "authentik.outpost.proxyv2"),
		metrics:  application.NewMetrics(rt.Registry),
	}
	def, err := certs.SelfSigned("authentik Outpost default certificate", "*")
	if err != nil {
		return nil, fmt.Errorf("proxy server: %w", err)
	}
	s.keyPairs, s.defCert = certs.NewStore(rt.Client), def
	s.tlsCerts.Store(certs.NewSelector(def, nil))
	if rt.Config.Redis.Enabled() && rt.Cache != nil {
		opts, err := rt.Config.Redis.Options()
		if err != nil {
			return nil, fmt.Errorf("proxy server: %w", err)
		}
		client := redis.NewUniversalClient(opts)
		prefix := rt.Config.Redis.KeyPrefix
		if prefix != "" && !strings.HasSuffix(prefix, ":") {
			prefix += ":"
		}
		s.near = session.NewNear(rt.Cache, client, session.NearOptions{
			Channel: prefix + "outpost:" + s.outpostUUID() + ":proxy:session-invalidation",
			Log:     s.log,
		})
		s.nearClose = client.Close
	}
	s.apps.Store(&routes{byHost: map[string]*application.App{}, byName: map[string]*application.App{}})
	if rt.Events != nil {
		rt.Events.Handle(events.SessionEnd, s.handleSessionEnd)
		rt.Events.Handle(events.ProviderSpecific, s.handleProviderSpecific)
	}
	return s, nil
}

// nearCache is the session payload cache, or nil to use the shared one.
func (s *Server) nearCache() cache.Cache {
	if s.near == nil {
		return nil
	}
	return s.near
}

func (s *Server) outpostName() string {
	if o := s.rt.Outpost(); o != nil {
		return o.Name
	}
	return ""
}

func (s *Server) outpostUUID() string {
	if o := s.rt.Outpost(); o != nil {
		return o.Pk
	}
	return ""
}

// Refresh rebuilds the applications from the provider list. Sessions live
// in the cache, so rebuilding loses none.
func (s *Server) Refresh(ctx context.Context, providers []api.ProxyOutpostConfig) error {
	var tr http.RoundTripper
	if s.rt.Client != nil {
		tr = s.rt.Client.Transport
	}
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	deps := application.Deps{
		OutpostName:    s.outpostName(),
		Version:        s.rt.Version,
		HTTPClient:     hc,
		Cache:          s.rt.Cache,
		CacheNamespace: []string{"outpost", s.outpostUUID()},
		HostBrowser:    s.rt.Config.HostBrowser,
		Sessions:       session.Options{IdleTimeout: s.settings.SessionIdle, MaxLifetime: s.settings.SessionMax},
		PayloadCache:   s.nearCache(),
		Trusted:        s.Trusted,
		Diagnostics:    s.settings.Diagnostics,
		Metrics:        s.metrics,
		Logger:         s.rt.Logger,
	}
	if deps.Cache == nil {
		deps.Cache = cache.NewMemory(cache.DefaultMaxEntries)
	}
	next := &routes{byHost: map[string]*application.App{}, byName: map[string]*application.App{}}
	byName := map[string]*tls.Certificate{}
	var keyPairs []string
	for _, p := range providers {
		a, err := application.New(p, deps)
		if err != nil {
			s.log.Warn().Err(err).Str("provider", p.Name).Msg("skipping provider")
			continue
		}
		if kp := a.Certificate(); kp != "" {
			keyPairs = append(keyPairs, kp)
			// On a failed fetch the copy fetched before is still served.
			cert, err := s.keyPairs.Get(ctx, kp)
			if err != nil {
				s.log.Warn().Err(err).Str("provider", p.Name).Bool("previous", cert != nil).Msg("failed to fetch the provider's certificate")
			}
			if cert != nil {
				byName[hostOnly(a.Host())] = cert
			}
		}
		next.byHost[a.Host()] = a
		if _, ok := next.byName[hostOnly(a.Host())]; !ok {
			next.byName[hostOnly(a.Host())] = a
		}
		next.all = append(next.all, a)
		if a.Mode() == api.PROXYMODE_FORWARD_DOMAIN && a.CookieDomain() != "" {
			next.domains = append(next.domains, a)
		}
	}
	s.keyPairs.Retain(keyPairs...)
	s.tlsCerts.Store(certs.NewSelector(s.defCert, byName))
	// Longest cookie domain first, so the most specific one wins.
	for i := 1; i < len(next.domains); i++ {
		for j := i; j > 0 && len(next.domains[j].CookieDomain()) > len(next.domains[j-1].CookieDomain()); j-- {
			next.domains[j], next.domains[j-1] = next.domains[j-1], next.domains[j]
		}
	}
	prev := s.apps.Swap(next)
	for _, a := range prev.all {
		// Requests still in flight on a replaced app finish on their
		// connections; the idle ones would wait for the GC.
		a.CloseIdleConnections()
	}
	s.log.Info().Int("providers", len(next.all)).Msg("applications updated")
	return nil
}

// Lookup finds the application for a host: exact host[:port], then the
// host without port, then the longest matching cookie domain of a
// forward_domain app, then the only app if there is just one.
func (s *Server) Lookup(host string) *application.App {
	rs := s.apps.Load()
	return rs.lookup(host)
}

func (rs *routes) lookup(host string) *application.App {
	h := strings.ToLower(host)
	if a, ok := rs.byHost[h]; ok {
		return a
	}
	name := h
	if hn, _, err := net.SplitHostPort(h); err == nil {
		name = hn
	}
	name = strings.Trim(name, "[]")
	if a, ok := rs.byName[name]; ok {
		return a
	}
	for _, a := range rs.domains {
		cd := a.CookieDomain()
		if name == cd || strings.HasSuffix(name, "."+cd) {
			return a
		}
	}
	if len(rs.all) == 1 {
		return rs.all[0]
	}
	return nil
}

func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return strings.Trim(h, "[]")
	}
	return strings.Trim(hostport, "[]")
}

// Trusted reports whether r's peer may set forwarding headers.
func (s *Server) Trusted(r *http.Request) bool {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	addr := ap.Addr().Unmap()
	for _, p := range s.settings.TrustedProxies {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// requestHost is the host the client asked for.
func (s *Server) requestHost(r *http.Request) string {
	if s.Trusted(r) {
		if h := fields.Value(r.Header, "X-Forwarded-Host"); h != "" {
			if i := strings.IndexByte(h, ','); i >= 0 {
				h = h[:i]
			}
			return strings.TrimSpace(h)
		}
	}
	return r.Host
}

// Handler serves every request of the HTTP and HTTPS listeners.
func (s *Server) Handler() http.Handler {
	poweredBy := []string{"authentik_proxy2"}
	static := http.StripPrefix(application.PathPrefix+"/static/", http.FileServer(http.FS(mustSub(staticFiles, "static"))))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		host := s.requestHost(r)
		typ := "app"
		defer func() {
			s.metrics.ObserveRequest(s.outpostName(), r.Method, host, typ, time.Since(start))
		}()
		switch {
		case r.URL.Path == application.PathPrefix+"/ping":
			typ = "ping"
			w.WriteHeader(http.StatusNoContent)
			return
		case strings.HasPrefix(r.URL.Path, application.PathPrefix+"/static/"):
			typ = "static"
			static.ServeHTTP(w, r)
			return
		}
		a := s.Lookup(host)
		if a == nil {
			typ = "unknown_host"
			s.log.Warn().Str("host", host).Str("remote", r.RemoteAddr).Msg("no app for hostname")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_ = json.NewEncoder(w).Encode(map[string]string{
				"Message": "no app for hostname",
				"Host":    host,
				"Detail":  "Check the outpost settings and make sure '" + host + "' is included.",
			})
			return
		}
		// Shared and never changed: Header.Set would allocate it per request.
		w.Header()["X-Powered-By"] = poweredBy
		a.ServeHTTP(w, r)
	})
}

func mustSub(f fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		panic(err) // the embedded directory exists at compile time
	}
	return sub
}

func (s *Server) handleSessionEnd(ctx context.Context, msg events.Message) {
	sid, _ := msg.Args["session_id"].(string)
	if sid == "" {
		return
	}
	n := 0
	for _, a := range s.apps.Load().all {
		n += a.EndSessionsOf(ctx, sid)
	}
	s.log.Info().Int("sessions", n).Msg("authentik session ended, outpost sessions revoked")
}

func (s *Server) handleProviderSpecific(ctx context.Context, msg events.Message) {
	if st, _ := msg.Args["sub_type"].(string); st != "logout" {
		return
	}
	s.handleSessionEnd(ctx, msg)
}

// Run serves the HTTP and HTTPS listeners until ctx is done.
func (s *Server) Run(ctx context.Context) error {
	httpAddr, httpsAddr := s.rt.Config.Listen.HTTP, s.rt.Config.Listen.HTTPS
	ln, err := s.listen(httpAddr)
	if err != nil {
		return err
	}
	lns, err := s.listen(httpsAddr)
	if err != nil {
		_ = ln.Close()
		return err
	}
	return s.Serve(ctx, ln, lns)
}

func (s *Server) listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	if s.settings.ProxyProtocol {
		ln = proxyproto.NewListener(ln, s.settings.TrustedProxies, proxyproto.DefaultTimeout, proxyproto.HeaderOptional())
	}
	return ln, nil
}

// Serve serves plain HTTP on ln and HTTPS on lns (either may be nil)
// until ctx is done, then drains within the runtime's shutdown timeout.
func (s *Server) Serve(ctx context.Context, ln, lns net.Listener) error {
	if s.near != nil {
		nearCtx, stopNear := context.WithCancel(ctx)
		nearDone := make(chan struct{})
		go func() { s.near.Run(nearCtx); close(nearDone) }()
		defer func() {
			stopNear()
			<-nearDone
			_ = s.nearClose()
		}()
	}
	h := s.Handler()
	errLog := zerologWriter{log: s.log}
	var servers []*http.Server
	errc := make(chan error, 2)
	var plain *http1.Server
	if ln != nil {
		// Plain HTTP is what reverse proxies in front of the outpost
		// speak: served on the lean loop, with net/http for the
		// connections it hands over (see package http1).
		plain = &http1.Server{Handler: h, ReadHeaderTimeout: readHeaderTimeout, ErrorLog: errLog.std(),
			Fallback: &http.Server{Handler: h, ReadHeaderTimeout: readHeaderTimeout, ErrorLog: errLog.std()}}
		s.log.Info().Str("listen", ln.Addr().String()).Msg("Starting HTTP server")
		go func() { errc <- plain.Serve(ln) }()
	}
	if lns != nil {
		srv := &http.Server{Handler: h, ReadHeaderTimeout: readHeaderTimeout, ErrorLog: errLog.std(),
			TLSConfig: &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
				return s.tlsCerts.Load().GetCertificate(hello)
			}}}
		servers = append(servers, srv)
		s.log.Info().Str("listen", lns.Addr().String()).Msg("Starting HTTPS server")
		go func() { errc <- srv.ServeTLS(lns, "", "") }()
	}
	select {
	case <-ctx.Done():
	case err := <-errc:
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("proxy server: %w", err)
		}
	}
	timeout := s.rt.ShutdownTimeout
	if timeout <= 0 {
		timeout = outpost.DefaultShutdownTimeout
	}
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if plain != nil {
		_ = plain.Shutdown(sctx)
	}
	for _, srv := range servers {
		_ = srv.Shutdown(sctx)
	}
	return nil
}

// readHeaderTimeout bounds reading a request's header block.
const readHeaderTimeout = 30 * time.Second
