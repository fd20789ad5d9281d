package radiusd

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"goauthentik.io/api/v3"
	"layeh.com/radius"

	"github.com/outpost-go/outposts/authclient/credcache"
)

// Defaults for Options.
const (
	DefaultFreshFor    = time.Minute
	DefaultAuthTimeout = 20 * time.Second
	// coreDownFor is how long the core counts as down after it failed to
	// answer: requests meanwhile do not wait for it.
	coreDownFor = 5 * time.Second
)

// Listener says which requests a socket takes.
type Listener int

const (
	// Auth takes Access-Request and Status-Server (port 1812).
	Auth Listener = iota
	// Accounting takes Accounting-Request and Status-Server (port 1813).
	Accounting
)

func (l Listener) String() string {
	if l == Accounting {
		return "accounting"
	}
	return "auth"
}

// Options configure a Server.
type Options struct {
	Logger     zerolog.Logger
	Registerer prometheus.Registerer // nil: metrics not exported
	// OutpostName labels the metrics; it may change on refresh.
	OutpostName func() string
	Auth        Authenticator
	// Creds caches successful checks; nil disables cached authentication.
	Creds *credcache.Cache
	// Limiter limits failed attempts; nil disables it.
	Limiter *credcache.Limiter
	// AllowMissingMessageAuthenticator names the providers whose
	// Access-Requests may come without a Message-Authenticator.
	AllowMissingMessageAuthenticator []string
	// FreshFor is how long a cached success is used without asking the
	// core while the core answers; DefaultFreshFor when 0.
	FreshFor time.Duration
	// AuthTimeout bounds one flow run; DefaultAuthTimeout when 0.
	AuthTimeout time.Duration
	// ReplyCacheTTL is how long replies are kept for retransmits;
	// DefaultReplyCacheTTL when 0.
	ReplyCacheTTL time.Duration
	// Readers is the number of goroutines reading each socket; 0 means
	// twice GOMAXPROCS, at least 4.
	Readers int
	// Users, when set with Creds, lets WatchUsers follow user changes in
	// the core so that a password change or a deactivation voids cached
	// successes at once (see userWatch).
	Users UserLister
	// UserPoll is how often WatchUsers asks; DefaultUserPoll when 0.
	UserPoll time.Duration
}

// Server is the RADIUS server. Create it with New, give it providers with
// SetProviders and sockets with Serve.
type Server struct {
	log         zerolog.Logger
	warnLog     zerolog.Logger // sampled, for what a client can flood
	m           *metrics
	outpostName func() string
	auth        Authenticator
	creds       *credcache.Cache
	limiter     *credcache.Limiter
	users       *userWatch // nil: no user changes followed
	allowNoMA   map[string]bool
	freshFor    time.Duration
	authTimeout time.Duration
	replies     *replyCache
	readers     int
	reqBase     uint64
	reqSeq      atomic.Uint64

	providers    atomic.Pointer[providerSet]
	coreDownTill atomic.Int64 // unix nanoseconds
}

// New returns a Server without providers: until SetProviders, every client
// is unknown.
func New(opts Options) (*Server, error) {
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	if opts.OutpostName == nil {
		opts.OutpostName = func() string { return "" }
	}
	if opts.FreshFor <= 0 {
		opts.FreshFor = DefaultFreshFor
	}
	if opts.AuthTimeout <= 0 {
		opts.AuthTimeout = DefaultAuthTimeout
	}
	if opts.Auth == nil {
		return nil, errors.New("radius server: no authenticator")
	}
	if opts.Readers <= 0 {
		opts.Readers = max(4, 2*runtime.GOMAXPROCS(0))
	}
	var seed [8]byte
	_, _ = rand.Read(seed[:])
	allow := map[string]bool{}
	for _, n := range opts.AllowMissingMessageAuthenticator {
		allow[n] = true
	}
	s := &Server{
		log:         opts.Logger,
		warnLog:     opts.Logger.Sample(&zerolog.BurstSampler{Burst: 10, Period: time.Minute}),
		m:           m,
		outpostName: opts.OutpostName,
		auth:        opts.Auth,
		creds:       opts.Creds,
		limiter:     opts.Limiter,
		allowNoMA:   allow,
		freshFor:    opts.FreshFor,
		authTimeout: opts.AuthTimeout,
		replies:     newReplyCache(opts.ReplyCacheTTL),
		readers:     opts.Readers,
		reqBase:     binary.BigEndian.Uint64(seed[:]),
	}
	if opts.Users != nil && opts.Creds != nil {
		s.users = newUserWatch(opts.Users, opts.UserPoll, opts.Creds.TTL(), opts.Logger)
		s.users.changed = func(n int) { m.userChanges.WithLabelValues(s.outpostName()).Add(float64(n)) }
	}
	s.providers.Store(&providerSet{table: nil})
	return s, nil
}

// SetProviders replaces the providers. Unusable providers are left out and
// reported in the error; the usable ones are in service either way.
func (s *Server) SetProviders(list []api.RadiusOutpostConfig) error {
	set, err := buildProviders(list, s.allowNoMA)
	s.providers.Store(set)
	named := map[string]bool{}
	for _, p := range set.providers {
		named[p.Name] = true
		s.log.Debug().Str("provider", p.Name).Int32("pk", p.PK).Bool("require_message_authenticator", p.RequireMA).
			Bool("mfa_support", p.MFA).Int("networks", len(p.Networks)).Msg("radius provider")
	}
	for n := range s.allowNoMA {
		if !named[n] {
			// Most likely a typo, which would leave old NAS devices locked
			// out: say so.
			s.log.Warn().Str("provider", n).Str("setting", EnvAllowMissingMA).
				Msg("no radius provider has this name; the Message-Authenticator opt-out does not apply to anything")
		}
	}
	return err
}

// Providers returns the providers in service.
func (s *Server) Providers() []*Provider {
	return s.providers.Load().providers
}

// Serve reads requests from conn until ctx is done or conn fails, then waits
// for the requests being handled (their replies are dropped once conn is
// closed). Serve closes conn when ctx is done.
//
// A few reader goroutines read the socket and each answers what it read
// itself, with no hand-off and with stacks already grown, which keeps the
// cached path cheap. Before a request waits for the core, its reader starts
// a replacement (detach), so slow flows never hold up cached answers.
func (s *Server) Serve(ctx context.Context, conn net.PacketConn, kind Listener) error {
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	s.log.Info().Str("listen", conn.LocalAddr().String()).Stringer("kind", kind).Msg("serving radius")
	l := &readLoop{s: s, ctx: ctx, conn: conn, kind: kind}
	for range s.readers {
		l.wg.Go(l.read)
	}
	l.wg.Wait()
	if ctx.Err() != nil {
		return nil
	}
	return l.err
}

// readLoop is the set of readers of one socket.
type readLoop struct {
	s    *Server
	ctx  context.Context
	conn net.PacketConn
	kind Listener
	wg   sync.WaitGroup

	errOnce sync.Once
	err     error
}

func (l *readLoop) read() {
	buf := make([]byte, radius.MaxPacketLength+1)
	detached := false
	detach := func() {
		if !detached {
			detached = true
			l.wg.Go(l.read)
		}
	}
	for {
		n, addr, err := l.conn.ReadFrom(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && l.ctx.Err() == nil {
				continue
			}
			l.errOnce.Do(func() {
				l.err = fmt.Errorf("read radius %s packet: %w", l.kind, err)
				_ = l.conn.Close() // stops the other readers
			})
			return
		}
		src, ok := addrPort(addr)
		if !ok {
			continue
		}
		l.s.handle(l.ctx, l.conn, src, addr, buf[:n], l.kind, detach)
		if detached {
			return // a replacement reads now; buf was this request's
		}
	}
}

func addrPort(a net.Addr) (netip.AddrPort, bool) {
	if u, ok := a.(*net.UDPAddr); ok {
		ap := u.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), true
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), true
}

func (s *Server) drop(reason string) {
	s.m.dropped.WithLabelValues(s.outpostName(), reason).Inc()
}

// handle answers one datagram. Every path either writes one reply or drops
// the packet with a counted reason.
//
// b is only valid until handle returns, unless handle called detach (the
// caller then reads into another buffer).
func (s *Server) handle(ctx context.Context, conn net.PacketConn, src netip.AddrPort, addr net.Addr, b []byte, kind Listener, detach func()) {
	set := s.providers.Load()
	var p *Provider
	if set.table != nil {
		if i, ok := set.table.Lookup(src.Addr()); ok {
			p = set.providers[i]
		}
	}
	if p == nil {
		s.drop("unknown_client")
		s.warnLog.Warn().Stringer("client", src.Addr()).Msg("radius packet from a client no provider's client_networks contains; dropped")
		return
	}
	b, err := checkHeader(b)
	if err != nil {
		s.drop("malformed")
		s.warnLog.Debug().Err(err).Stringer("client", src.Addr()).Msg("malformed radius packet dropped")
		return
	}
	code := radius.Code(b[0])
	if !accepts(kind, code) {
		s.drop("unsupported_code")
		s.warnLog.Debug().Stringer("code", code).Stringer("client", src.Addr()).Stringer("listener", kind).Msg("radius packet code not served here; dropped")
		return
	}
	if reason := s.authenticate(p, b, code); reason != "" {
		s.drop(reason)
		s.warnLog.Warn().Str("reason", reason).Stringer("client", src.Addr()).Str("provider", p.Name).Stringer("code", code).
			Msg("radius packet failed authentication (wrong shared secret?); dropped")
		return
	}
	req, err := radius.Parse(b, p.Secret)
	if err != nil {
		s.drop("malformed")
		s.warnLog.Debug().Err(err).Stringer("client", src.Addr()).Msg("malformed radius packet dropped")
		return
	}

	if code == radius.CodeStatusServer {
		// RFC 5997 §3: Status-Server is not cached; each one gets a fresh
		// answer, which is the point of a health check.
		s.reply(conn, addr, p, req, s.statusServer(req, kind), nil)
		return
	}

	key := requestKey{src: src, code: b[0], id: b[1]}
	copy(key.auth[:], b[4:20])
	state, cached := s.replies.begin(key, time.Now())
	switch state {
	case dupInFlight:
		s.drop("duplicate_in_flight")
		s.m.duplicates.WithLabelValues(s.outpostName(), "dropped").Inc()
		return
	case dupAnswered:
		s.m.duplicates.WithLabelValues(s.outpostName(), "replayed").Inc()
		_, _ = conn.WriteTo(cached, addr)
		return
	}

	var resp *radius.Packet
	switch code {
	case radius.CodeAccessRequest:
		resp = s.accessRequest(ctx, p, req, src, detach)
	case radius.CodeAccountingRequest:
		resp = s.accountingRequest(p, req, src)
	}
	s.reply(conn, addr, p, req, resp, &key)
}

func accepts(kind Listener, c radius.Code) bool {
	switch c {
	case radius.CodeStatusServer:
		return true
	case radius.CodeAccessRequest:
		return kind == Auth
	case radius.CodeAccountingRequest:
		return kind == Accounting
	}
	return false
}

// authenticate checks what can be checked before the packet is used and
// returns the drop reason, or "".
func (s *Server) authenticate(p *Provider, b []byte, code radius.Code) string {
	if code == radius.CodeAccountingRequest {
		if !radius.IsAuthenticRequest(b, p.Secret) {
			return "bad_authenticator"
		}
		present, valid, err := verifyMA(b, p.macs, true)
		if err != nil {
			return "malformed"
		}
		if present && !valid {
			return "bad_message_authenticator"
		}
		return ""
	}
	present, valid, err := verifyMA(b, p.macs, false)
	switch {
	case err != nil:
		return "malformed"
	case present && !valid:
		return "bad_message_authenticator"
	case !present && (code == radius.CodeStatusServer || p.RequireMA):
		return "missing_message_authenticator"
	}
	return ""
}

// reply signs and sends resp (nil: no reply) and records it for
// retransmits under key (nil: not cached).
func (s *Server) reply(conn net.PacketConn, addr net.Addr, p *Provider, req, resp *radius.Packet, key *requestKey) {
	if resp == nil {
		if key != nil {
			s.replies.abort(*key)
		}
		return
	}
	// Every reply is signed with a Message-Authenticator except the
	// Accounting-Response to an Accounting-Request: no standard defines
	// one there, its Response Authenticator already covers the packet, and
	// radclient discards a reply with an MA computed the RFC 3579 way
	// (docs/decisions/0008).
	withMA := !(resp.Code == radius.CodeAccountingResponse && req.Code == radius.CodeAccountingRequest)
	b, err := encodeResponse(resp, req.Authenticator, p.Secret, p.macs, withMA)
	if err != nil {
		s.log.Error().Err(err).Str("provider", p.Name).Msg("cannot encode radius reply")
		if key != nil {
			s.replies.abort(*key)
		}
		return
	}
	if key != nil {
		s.replies.finish(*key, b, time.Now())
	}
	if _, err := conn.WriteTo(b, addr); err != nil && !errors.Is(err, net.ErrClosed) {
		s.log.Debug().Err(err).Stringer("client", addr).Msg("cannot send radius reply")
	}
}

func (s *Server) statusServer(req *radius.Packet, kind Listener) *radius.Packet {
	if kind == Accounting {
		return req.Response(radius.CodeAccountingResponse)
	}
	return req.Response(radius.CodeAccessAccept)
}

// requestID names a request in the log: unique within the process (a
// counter from a random start), and cheaper than a UUID per packet.
func (s *Server) requestID() string {
	return strconv.FormatUint(s.reqBase+s.reqSeq.Add(1), 36)
}

// WatchUsers follows user changes in the core until ctx ends, when
// Options.Users is set; otherwise it returns at once.
func (s *Server) WatchUsers(ctx context.Context) {
	if s.users != nil {
		s.users.run(ctx)
	}
}

// EndSession forgets the cached success obtained with the core session
// sessionID; the outpost calls it for SESSION_END.
func (s *Server) EndSession(ctx context.Context, sessionID string) {
	if s.creds != nil {
		s.creds.InvalidateSession(ctx, sessionID)
	}
}
