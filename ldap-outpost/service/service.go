// Package service is the LDAP outpost proper: authentik's LDAP providers
// served over the protocol layer in ldap/server. It routes each bind and
// search to the provider with the longest matching base DN, checks
// passwords through authentik flows (with a shared, invalidating bind cache
// and a shared failed-bind limiter), serves the directory from a snapshot
// (cached mode, shared between replicas through the cache) or from the core
// (direct mode), and picks TLS certificates by SNI.
package service

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"goauthentik.io/api/v3"

	"github.com/outpost-go/outposts/authclient/backoff"
	"github.com/outpost-go/outposts/authclient/cache"
	"github.com/outpost-go/outposts/authclient/certs"
	"github.com/outpost-go/outposts/authclient/core"
	"github.com/outpost-go/outposts/authclient/credcache"
	"github.com/outpost-go/outposts/authclient/flow"
	"github.com/outpost-go/outposts/authclient/proxyproto"
	"github.com/outpost-go/outposts/ldap-outpost/directory"
	"github.com/outpost-go/outposts/ldap-outpost/ldap/server"
)

// Defaults.
const (
	DefaultBindCacheTTL   = 5 * time.Minute
	DefaultSnapshotPeriod = time.Minute
	DefaultTimeLimit      = 2 * time.Minute
	// DefaultFirstLoadWait is how long a search of a cached provider waits
	// for its first snapshot before it is answered busy.
	DefaultFirstLoadWait = 10 * time.Second
	flowQuery            = "goauthentik.io/outpost/ldap=true"
	// warmUpQuery is what authentik's LDAP outpost sends when it warms the
	// core's flow plan cache.
	warmUpQuery  = flowQuery + "&goauthentik.io/outpost/ldap-warmup=true"
	localBindAge = 30 * time.Second
)

// Options configure a Service.
type Options struct {
	Client   *core.Client
	Cache    cache.Cache // shared cache (Redis or in-process)
	Registry prometheus.Registerer
	Logger   zerolog.Logger
	// OutpostName labels the metrics.
	OutpostName func() string
	Version     string

	ListenLDAP  string // "" disables
	ListenLDAPS string // "" disables
	// TrustedProxies enables the PROXY protocol for these peers.
	TrustedProxies []netip.Prefix

	MaxConns    int
	IdleTimeout time.Duration
	MaxInFlight int
	MaxMessage  int

	// BindCacheTTL bounds how long a successful bind is reused.
	BindCacheTTL time.Duration
	// SnapshotPeriod is how often cached directories fetch changes.
	SnapshotPeriod time.Duration
	Limiter        credcache.LimiterOptions
	// UserLookupTTL is how long a user fetched from the core to validate a
	// cached bind (bind mode cached, search mode direct) is reused; 0 means
	// 5 s, negative means never (every cached bind asks the core).
	UserLookupTTL time.Duration
	// PageTimeout bounds the wait for each page of a directory read
	// (DefaultPageTimeout when 0); a whole read has no deadline.
	PageTimeout time.Duration
	// FirstLoadWait is how long a search of a cached provider without a
	// snapshot yet waits for it before it is answered busy
	// (DefaultFirstLoadWait when 0, negative: not at all).
	FirstLoadWait time.Duration
	// FlowWarmUp is the root config's cache_timeout_flows: this often the
	// bind flow of every bind-mode-direct provider is fetched once, so the
	// core's flow plan cache stays warm. 0 disables it.
	FlowWarmUp time.Duration
}

// Service serves LDAP for an outpost's providers.
type Service struct {
	opts     Options
	log      zerolog.Logger
	metrics  *Metrics
	dir      directoryClient
	executor *flow.Executor
	binds    *credcache.Cache
	limiter  *credcache.Limiter
	users    *userLookup
	srv      *server.Server

	providers atomic.Pointer[[]*provider] // longest base DN first
	tlsCerts  atomic.Pointer[certs.Selector]
	keyPairs  *certs.Store
	self      *tls.Certificate
	refreshMu sync.Mutex

	ready chan struct{} // closed once the listeners are up (tests)
	addrs struct {
		sync.Mutex
		ldap, ldaps net.Addr
	}
}

// New builds a Service.
func New(opts Options) (*Service, error) {
	if opts.BindCacheTTL <= 0 {
		opts.BindCacheTTL = DefaultBindCacheTTL
	}
	if opts.SnapshotPeriod <= 0 {
		opts.SnapshotPeriod = DefaultSnapshotPeriod
	}
	if opts.FirstLoadWait == 0 {
		opts.FirstLoadWait = DefaultFirstLoadWait
	}
	if opts.UserLookupTTL == 0 {
		opts.UserLookupTTL = defaultUserLookupTTL
	}
	if opts.OutpostName == nil {
		opts.OutpostName = func() string { return "" }
	}
	if opts.Cache == nil {
		opts.Cache = cache.NewMemory(0)
	}
	self, err := certs.SelfSigned("authentik LDAP outpost (self-signed)", "localhost")
	if err != nil {
		return nil, err
	}
	secret := credcache.DeriveKey(opts.Client.Token)
	s := &Service{
		opts:    opts,
		log:     opts.Logger,
		metrics: NewMetrics(opts.Registry),
		dir:     directoryClient{c: opts.Client, backoff: backoff.Default(), pageTimeout: opts.PageTimeout},
		executor: flow.NewExecutor(flow.Options{
			Host: opts.Client.Host, Token: opts.Client.Token, UserAgent: opts.Client.UserAgent,
			Transport: opts.Client.Transport, Metrics: flow.NewMetrics(opts.Registry), Logger: opts.Logger,
		}),
		// The in-process layer keeps Redis off the hot path; a success voided
		// on another replica is still honoured here for at most
		// localBindAge (SESSION_END reaches every replica at once).
		binds:    credcache.New(cache.Namespace(opts.Cache, "ldap"), secret, opts.BindCacheTTL).WithLocal(cache.DefaultMaxEntries*10, localBindAge),
		limiter:  credcache.NewLimiter(cache.Namespace(opts.Cache, "ldap"), secret, opts.Limiter),
		users:    newUserLookup(opts.Client, opts.UserLookupTTL),
		keyPairs: certs.NewStore(opts.Client),
		self:     self,
		ready:    make(chan struct{}),
	}
	empty := []*provider{}
	s.providers.Store(&empty)
	s.tlsCerts.Store(certs.NewSelector(self, nil))
	s.srv = server.New(server.Options{
		Handler:     s,
		StartTLS:    s.tlsConfig(),
		MaxConns:    opts.MaxConns,
		IdleTimeout: opts.IdleTimeout,
		MaxInFlight: opts.MaxInFlight,
		MaxMessage:  opts.MaxMessage,
		Logger:      opts.Logger,
		Connections: s.metrics.Connections,
		InFlight:    s.metrics.InFlight,
	})
	return s, nil
}

func (s *Service) tlsConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			return s.tlsCerts.Load().GetCertificate(hello)
		},
	}
}

// Refresh replaces the provider list. Problems with one provider (a bad
// base DN, a certificate or directory that cannot be read) are logged, not
// returned. Cached directories of providers that
// stay are kept (and updated); new cached providers start from the snapshot
// another replica shared, if any, then catch up with the core.
func (s *Service) Refresh(ctx context.Context, cfgs []api.LDAPOutpostConfig) error {
	s.refreshMu.Lock()
	defer s.refreshMu.Unlock()
	old := map[int32]*provider{}
	for _, p := range *s.providers.Load() {
		old[p.cfg.Pk] = p
	}
	next := make([]*provider, 0, len(cfgs))
	// A provider's certificate is served for its tls_server_name; the
	// first provider certificate, else the self-signed one, to every other
	// client. authentik's SNI check compares pointers and never matches;
	// this one compares names.
	byName := map[string]*tls.Certificate{}
	var fallback *tls.Certificate
	var keyPairs []string
	var errs []error
	for _, cfg := range cfgs {
		p, err := newProvider(cfg)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if o := old[cfg.Pk]; o != nil && o.dirCfg == p.dirCfg {
			if snap := o.snap.Load(); snap != nil {
				p.setSnapshot(snap)
			} else {
				p.loaded = o.loaded
			}
			p.refreshes.Store(o.refreshes.Load())
		}
		if p.cachedSearch() && p.snap.Load() == nil {
			if warm := p.loadShared(ctx, s.sharedCache(p)); warm != nil {
				p.setSnapshot(warm)
				p.refreshes.Store(1)
				s.log.Info().Str("app", p.app).Int("entries", warm.Len()).Msg("directory loaded from the shared cache")
			}
		}
		if id := cfg.Certificate.Get(); id != nil && *id != "" {
			keyPairs = append(keyPairs, *id)
			// On a failed fetch the copy fetched before is still served.
			cert, err := s.keyPairs.Get(ctx, *id)
			if err != nil {
				errs = append(errs, fmt.Errorf("provider %s: %w", cfg.Name, err))
			}
			if cert != nil {
				if fallback == nil {
					fallback = cert
				}
				if name := cfg.GetTlsServerName(); name != "" {
					byName[name] = cert
				}
			}
		}
		next = append(next, p)
	}
	sort.SliceStable(next, func(i, j int) bool { return len(next[i].base) > len(next[j].base) })
	s.providers.Store(&next)
	s.keyPairs.Retain(keyPairs...)
	if fallback == nil {
		fallback = s.self
	}
	s.tlsCerts.Store(certs.NewSelector(fallback, byName))
	s.log.Info().Int("providers", len(next)).Msg("received providers")
	// Providers are served from here on, from the snapshot they kept or
	// loaded. Like authentik's outpost, start-up waits for the first
	// snapshot, however long a full read takes while pages keep coming
	// (only a stalled core fails it, see DefaultPageTimeout). A search of a
	// provider that has none yet (added by a later refresh, or whose read
	// failed) waits for it a little and is then answered busy: reading the
	// whole directory from the core for every search would take as long as
	// the load itself and multiply the load on the core. The readiness
	// check (Ready) fails meanwhile, so a load balancer sends searches to a
	// replica that has a snapshot; one another replica shared was taken
	// above.
	for _, p := range next {
		if !p.cachedSearch() {
			continue
		}
		if err := p.refresh(ctx, s.dir, s.sharedCache(p), s.log, s.metrics); err != nil {
			errs = append(errs, fmt.Errorf("provider %s: refresh directory: %w", p.cfg.Name, err))
		}
	}
	// A provider that cannot be fully set up is still served as far as it
	// can be (direct reads, self-signed certificate): failing the refresh
	// would stop the whole outpost at start-up.
	if err := errors.Join(errs...); err != nil {
		s.log.Warn().Err(err).Msg("providers partly set up")
	}
	return nil
}

func (s *Service) sharedCache(p *provider) cache.Cache {
	return cache.Namespace(s.opts.Cache, "ldap", "provider", p.scope(), "directory")
}

// SessionEnd forgets cached binds made with the core session sid.
func (s *Service) SessionEnd(ctx context.Context, sid string) {
	if sid != "" {
		s.binds.InvalidateSession(ctx, sid)
	}
}

// Addrs returns the listeners' addresses once Run has opened them.
func (s *Service) Addrs(ctx context.Context) (ldapAddr, ldapsAddr net.Addr, err error) {
	select {
	case <-s.ready:
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
	s.addrs.Lock()
	defer s.addrs.Unlock()
	return s.addrs.ldap, s.addrs.ldaps, nil
}

// Run serves the listeners until ctx is done.
func (s *Service) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type listener struct {
		name string
		ln   net.Listener
	}
	var lns []listener
	closeAll := func() {
		for _, l := range lns {
			_ = l.ln.Close()
		}
	}
	if s.opts.ListenLDAP != "" {
		ln, err := net.Listen("tcp", s.opts.ListenLDAP)
		if err != nil {
			return fmt.Errorf("listen ldap: %w", err)
		}
		s.addrs.ldap = ln.Addr()
		lns = append(lns, listener{"ldap", proxyproto.NewListener(ln, s.opts.TrustedProxies, 0)})
	}
	if s.opts.ListenLDAPS != "" {
		ln, err := net.Listen("tcp", s.opts.ListenLDAPS)
		if err != nil {
			closeAll()
			return fmt.Errorf("listen ldaps: %w", err)
		}
		s.addrs.ldaps = ln.Addr()
		lns = append(lns, listener{"ldaps", tls.NewListener(proxyproto.NewListener(ln, s.opts.TrustedProxies, 0), s.tlsConfig())})
	}
	close(s.ready)
	for _, l := range lns {
		s.log.Info().Str("listen", l.ln.Addr().String()).Str("listener", l.name).Msg("starting LDAP server")
	}

	var wg sync.WaitGroup
	errc := make(chan error, len(lns))
	for _, l := range lns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.srv.Serve(ctx, l.ln, l.name); err != nil {
				errc <- err
				cancel()
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.refreshLoop(ctx)
	}()
	if s.opts.FlowWarmUp > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.warmUpLoop(ctx)
		}()
	}
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
		return nil
	}
}

// refreshLoop keeps cached directories current between outpost refreshes.
func (s *Service) refreshLoop(ctx context.Context) {
	t := time.NewTicker(s.opts.SnapshotPeriod)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, p := range *s.providers.Load() {
			if !p.cachedSearch() {
				continue
			}
			err := p.refresh(ctx, s.dir, s.sharedCache(p), s.log, s.metrics)
			if err != nil && ctx.Err() == nil {
				s.log.Warn().Err(err).Str("app", p.app).Msg("directory refresh failed; serving the previous snapshot")
			}
		}
	}
}

// Ready fails while a cached provider has no snapshot yet: its searches
// are answered busy.
func (s *Service) Ready(context.Context) error {
	var errs []error
	for _, p := range *s.providers.Load() {
		if p.cachedSearch() && p.snap.Load() == nil {
			errs = append(errs, fmt.Errorf("provider %s: directory not loaded yet", p.cfg.Name))
		}
	}
	return errors.Join(errs...)
}

// errLoading answers a search of a cached provider without a snapshot.
var errLoading = errors.New("directory still loading")

// firstSnapshot waits up to FirstLoadWait for p's first snapshot.
func (s *Service) firstSnapshot(ctx context.Context, p *provider) (*directory.Snapshot, error) {
	if snap := p.snap.Load(); snap != nil {
		return snap, nil
	}
	if s.opts.FirstLoadWait < 0 {
		return nil, errLoading
	}
	t := time.NewTimer(s.opts.FirstLoadWait)
	defer t.Stop()
	select {
	case <-p.loaded.ch:
		// The snapshot may have gone to a provider object that replaced p.
		for _, q := range *s.providers.Load() {
			if q.cfg.Pk == p.cfg.Pk {
				if snap := q.snap.Load(); snap != nil {
					return snap, nil
				}
			}
		}
		if snap := p.snap.Load(); snap != nil {
			return snap, nil
		}
		return nil, errLoading
	case <-t.C:
		return nil, errLoading
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %w", errLoading, ctx.Err())
	}
}

// warmUpLoop keeps the core's flow plan cache warm for direct binds, as
// authentik's outpost does: the first bind after the plan expired would
// otherwise pay for planning the flow.
func (s *Service) warmUpLoop(ctx context.Context) {
	t := time.NewTicker(s.opts.FlowWarmUp)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		flows := map[string]bool{}
		for _, p := range *s.providers.Load() {
			if p.cachedBind() || p.cfg.BindFlowSlug == "" || flows[p.cfg.BindFlowSlug] {
				continue
			}
			flows[p.cfg.BindFlowSlug] = true
			if err := s.executor.WarmUp(ctx, p.cfg.BindFlowSlug, warmUpQuery); err != nil && ctx.Err() == nil {
				s.log.Warn().Err(err).Str("app", p.app).Msg("failed to warm up flow cache")
			}
		}
	}
}

// route returns the provider with the longest base DN containing d.
func (s *Service) route(within func(p *provider) bool) *provider {
	for _, p := range *s.providers.Load() {
		if within(p) {
			return p
		}
	}
	return nil
}

// Open implements server.Handler.
func (s *Service) Open(info *server.ConnInfo) server.Session {
	return &session{svc: s, info: info, log: s.log.With().Uint64("conn", info.ID).Str("client", clientIP(info.RemoteAddr)).Logger()}
}

func clientIP(a net.Addr) string {
	if a == nil {
		return ""
	}
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

// providerConfigs returns the configurations of ps (tests).
func providerConfigs(ps []*provider) []api.LDAPOutpostConfig {
	out := make([]api.LDAPOutpostConfig, 0, len(ps))
	for _, p := range ps {
		out = append(out, p.cfg)
	}
	return out
}
