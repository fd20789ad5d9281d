// Package server runs LDAP connections: it reads requests, answers every
// operation (the handler's answer, or a proper error for what the handler
// does not do), and enforces the connection-level limits.
//
// Per connection, requests are read in order. Bind, StartTLS, Unbind and
// Abandon are handled on the reading goroutine (RFC 4511 requires binds and
// StartTLS to run with no other operation outstanding); searches, compares
// and other extended operations run concurrently, at most MaxInFlight at a
// time (more get busy (51)). Each operation has its own context, cancelled
// by an Abandon naming it, by a later bind, or when the connection ends.
//
// The idle timeout resets whenever a request arrives and does not fire while
// an operation is still running. Malformed operations get protocolError and
// the connection goes on; only a byte stream that is not LDAP at all (or a
// message over the size limit) ends it, after a Notice of Disconnection
// (RFC 4511 §4.4.1).
package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/outpost-go/outposts/ldap-outpost/ldap/message"
)

// Defaults for Options left zero.
const (
	DefaultMaxConns     = 10000
	DefaultIdleTimeout  = 10 * time.Minute
	DefaultMaxInFlight  = 16
	DefaultWriteTimeout = 30 * time.Second
	flushThreshold      = 32 << 10
)

// ConnInfo describes a connection to the handler.
type ConnInfo struct {
	ID         uint64
	RemoteAddr net.Addr
	// Listener is the name given to Serve ("ldap", "ldaps").
	Listener string
	tls      atomic.Pointer[tls.ConnectionState]
}

// TLS returns the connection's TLS state, nil while it is in clear text.
func (c *ConnInfo) TLS() *tls.ConnectionState { return c.tls.Load() }

// Handler creates the per-connection session.
type Handler interface {
	Open(info *ConnInfo) Session
}

// Session answers one connection's operations. Bind, Unbind and Close are
// never called concurrently with other methods; Search, Compare and
// Extended may run concurrently with each other.
type Session interface {
	Bind(ctx context.Context, req *message.Request) message.Result
	Search(ctx context.Context, req *message.Request, w *SearchWriter) message.Result
	Compare(ctx context.Context, req *message.Request) message.Result
	// Extended gets every extended operation except StartTLS.
	Extended(ctx context.Context, req *message.Request) message.Result
	// Unbind is the client's unbind request; Close follows.
	Unbind(ctx context.Context)
	// Close is called once when the connection ends, however it ends.
	Close()
}

// Options configure a Server.
type Options struct {
	Handler Handler
	// StartTLS serves the StartTLS extended operation on clear-text
	// connections; nil means StartTLS is unavailable.
	StartTLS *tls.Config
	// MaxConns bounds open connections across every listener.
	MaxConns     int
	IdleTimeout  time.Duration
	MaxInFlight  int
	MaxMessage   int
	WriteTimeout time.Duration
	Logger       zerolog.Logger
	// Connections and InFlight are updated when set.
	Connections prometheus.Gauge
	InFlight    prometheus.Gauge
}

// Server serves LDAP on any number of listeners.
type Server struct {
	opts   Options
	nextID atomic.Uint64
	conns  atomic.Int64

	mu     sync.Mutex
	active map[*conn]struct{}
}

// New returns a Server; zero limits get their defaults.
func New(opts Options) *Server {
	if opts.MaxConns <= 0 {
		opts.MaxConns = DefaultMaxConns
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if opts.MaxInFlight <= 0 {
		opts.MaxInFlight = DefaultMaxInFlight
	}
	if opts.MaxMessage <= 0 {
		opts.MaxMessage = message.DefaultMaxSize
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = DefaultWriteTimeout
	}
	return &Server{opts: opts, active: map[*conn]struct{}{}}
}

// Serve accepts connections on ln until ctx is done, then closes ln and
// every connection it accepted (after a Notice of Disconnection) and
// returns nil. implicitTLS says ln hands out TLS connections (LDAPS).
func (s *Server) Serve(ctx context.Context, ln net.Listener, name string) error {
	var wg sync.WaitGroup
	stop := context.AfterFunc(ctx, func() { _ = ln.Close() })
	defer stop()
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				s.closeAll(name)
				wg.Wait()
				return nil
			}
			// Out of file descriptors and the like: wait and go on rather
			// than stop serving.
			var ne net.Error
			if errors.As(err, &ne) && !errors.Is(err, net.ErrClosed) {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.opts.Logger.Warn().Err(err).Dur("retry_in", delay).Msg("accept failed")
				select {
				case <-time.After(delay):
				case <-ctx.Done():
				}
				continue
			}
			wg.Wait()
			return fmt.Errorf("accept on %s: %w", name, err)
		}
		delay = 0
		if s.conns.Add(1) > int64(s.opts.MaxConns) {
			s.conns.Add(-1)
			go refuse(c, s.opts.WriteTimeout)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.serveConn(ctx, c, name)
		}()
	}
}

func refuse(c net.Conn, timeout time.Duration) {
	_ = c.SetWriteDeadline(time.Now().Add(timeout))
	_, _ = c.Write(message.NoticeOfDisconnection(message.Busy, "too many connections"))
	_ = c.Close()
}

func (s *Server) closeAll(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.active {
		if c.info.Listener == name {
			c.shutdown(message.Unavailable, "server shutting down")
		}
	}
}

func gaugeAdd(g prometheus.Gauge, v float64) {
	if g != nil {
		g.Add(v)
	}
}

type conn struct {
	s    *Server
	info *ConnInfo
	log  zerolog.Logger

	netConn net.Conn // replaced by StartTLS
	r       *bufio.Reader

	wmu sync.Mutex
	w   *bufio.Writer

	ctx    context.Context
	cancel context.CancelFunc

	opsMu sync.Mutex
	ops   map[int64]context.CancelFunc
	opsWG sync.WaitGroup
	slots chan struct{}

	closeOnce sync.Once
}

func (s *Server) serveConn(ctx context.Context, nc net.Conn, name string) {
	defer s.conns.Add(-1)
	gaugeAdd(s.opts.Connections, 1)
	defer gaugeAdd(s.opts.Connections, -1)

	info := &ConnInfo{ID: s.nextID.Add(1), Listener: name}
	c := &conn{s: s, info: info, netConn: nc, ops: map[int64]context.CancelFunc{}, slots: make(chan struct{}, s.opts.MaxInFlight)}
	c.ctx, c.cancel = context.WithCancel(ctx)
	defer c.cancel()
	if tc, ok := nc.(*tls.Conn); ok {
		_ = tc.SetDeadline(time.Now().Add(s.opts.WriteTimeout))
		if err := tc.HandshakeContext(c.ctx); err != nil {
			s.opts.Logger.Debug().Err(err).Str("listener", name).Msg("tls handshake failed")
			_ = nc.Close()
			return
		}
		_ = tc.SetDeadline(time.Time{})
		st := tc.ConnectionState()
		info.tls.Store(&st)
	}
	// RemoteAddr may read a PROXY header: after the TLS handshake it was
	// read already; otherwise it is read here, on this goroutine.
	info.RemoteAddr = nc.RemoteAddr()
	c.r = bufio.NewReaderSize(nc, 16<<10)
	c.w = bufio.NewWriterSize(nc, 64<<10)
	c.log = s.opts.Logger.With().Uint64("conn", info.ID).Str("client", addrString(info.RemoteAddr)).Logger()

	s.mu.Lock()
	s.active[c] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.active, c)
		s.mu.Unlock()
	}()

	sess := s.opts.Handler.Open(info)
	defer func() {
		c.cancel()
		c.opsWG.Wait()
		sess.Close()
		_ = c.netConn.Close()
	}()
	c.loop(sess)
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// shutdown tells the client why and closes the connection.
func (c *conn) shutdown(code message.ResultCode, why string) {
	c.closeOnce.Do(func() {
		c.wmu.Lock()
		_ = c.netConn.SetWriteDeadline(time.Now().Add(time.Second))
		if c.w != nil {
			_, _ = c.w.Write(message.NoticeOfDisconnection(code, why))
			_ = c.w.Flush()
		}
		c.wmu.Unlock()
		c.cancel()
		_ = c.netConn.Close()
	})
}

func (c *conn) inFlight() int { return len(c.slots) }

func (c *conn) loop(sess Session) {
	for {
		_ = c.netConn.SetReadDeadline(time.Now().Add(c.s.opts.IdleTimeout))
		frame, err := message.ReadFrame(c.r, c.s.opts.MaxMessage)
		if err != nil {
			var ne net.Error
			var fe *message.FrameError
			switch {
			case errors.As(err, &ne) && ne.Timeout() && c.inFlight() > 0 && c.ctx.Err() == nil:
				continue // the client is waiting for us, not idle
			case errors.As(err, &ne) && ne.Timeout():
				c.shutdown(message.Unavailable, "idle timeout")
			case errors.As(err, &fe):
				c.log.Debug().Err(err).Msg("closing connection: not LDAP")
				c.shutdown(message.ProtocolError, fe.Reason)
			case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
			default:
				c.log.Debug().Err(err).Msg("read failed")
			}
			return
		}
		req, err := message.Decode(frame)
		if err != nil {
			var de *message.DecodeError
			if errors.As(err, &de) {
				if op, ok := message.ResponseOp(de.Op); ok {
					c.writeResult(de.ID, op, message.Result{Code: message.ProtocolError, Diagnostic: de.Reason})
				} else if de.Op != message.OpAbandonRequest && de.Op != message.OpUnbindRequest {
					// An operation we do not know: there is no response type
					// to answer with, so say so in a notice and go on.
					c.log.Debug().Err(err).Msg("unknown operation")
					c.writeRaw(message.AppendResult(nil, 0, message.OpExtendedResponse, message.Result{Code: message.ProtocolError, Diagnostic: de.Error()}))
				}
				continue
			}
			c.shutdown(message.ProtocolError, err.Error())
			return
		}
		if !c.dispatch(sess, req) {
			return
		}
	}
}

// dispatch handles one request; false ends the connection.
func (c *conn) dispatch(sess Session, req *message.Request) bool {
	switch req.Op {
	case message.OpUnbindRequest:
		c.abandonAll()
		sess.Unbind(c.ctx)
		return false
	case message.OpAbandonRequest:
		c.opsMu.Lock()
		cancel := c.ops[req.AbandonID]
		c.opsMu.Unlock()
		if cancel != nil {
			cancel()
		}
		return true
	case message.OpBindRequest:
		// RFC 4511 §4.2.1: outstanding operations end before a bind.
		c.abandonAll()
		res := sess.Bind(c.ctx, req)
		c.writeResult(req.ID, message.OpBindResponse, res)
		return true
	case message.OpExtendedRequest:
		if req.Extended.OID == message.OIDStartTLS {
			return c.startTLS(req)
		}
	case message.OpSearchRequest, message.OpCompareRequest:
	default:
		// Add, modify, delete, ModifyDN: this directory is read-only.
		respOp, _ := message.ResponseOp(req.Op)
		c.writeResult(req.ID, respOp, message.Result{
			Code:       message.UnwillingToPerform,
			Diagnostic: fmt.Sprintf("%s is not supported: this directory is read-only (authentik manages users and groups)", req.Op.Name()),
		})
		return true
	}
	c.async(sess, req)
	return true
}

func (c *conn) abandonAll() {
	c.opsMu.Lock()
	for _, cancel := range c.ops {
		cancel()
	}
	c.opsMu.Unlock()
	c.opsWG.Wait()
}

func (c *conn) async(sess Session, req *message.Request) {
	respOp, _ := message.ResponseOp(req.Op)
	select {
	case c.slots <- struct{}{}:
	default:
		c.writeResult(req.ID, respOp, message.Result{Code: message.Busy, Diagnostic: fmt.Sprintf("more than %d operations in flight on this connection", c.s.opts.MaxInFlight)})
		return
	}
	ctx, cancel := context.WithCancel(c.ctx)
	c.opsMu.Lock()
	if _, dup := c.ops[req.ID]; dup {
		// A client reusing an outstanding message ID: refuse the new one.
		c.opsMu.Unlock()
		cancel()
		<-c.slots
		c.writeResult(req.ID, respOp, message.Result{Code: message.ProtocolError, Diagnostic: "message ID already in use"})
		return
	}
	c.ops[req.ID] = cancel
	c.opsMu.Unlock()
	c.opsWG.Add(1)
	gaugeAdd(c.s.opts.InFlight, 1)
	go func() {
		defer func() {
			c.opsMu.Lock()
			delete(c.ops, req.ID)
			c.opsMu.Unlock()
			cancel()
			<-c.slots
			gaugeAdd(c.s.opts.InFlight, -1)
			c.opsWG.Done()
		}()
		var res message.Result
		switch req.Op {
		case message.OpSearchRequest:
			w := &SearchWriter{c: c, ctx: ctx, id: req.ID, typesOnly: req.Search.TypesOnly}
			res = sess.Search(ctx, req, w)
			if ctx.Err() != nil && c.ctx.Err() == nil {
				return // abandoned: no response (RFC 4511 §4.11)
			}
			w.flushWith(message.AppendResult(w.buf, req.ID, message.OpSearchResultDone, res))
			return
		case message.OpCompareRequest:
			res = sess.Compare(ctx, req)
		case message.OpExtendedRequest:
			res = sess.Extended(ctx, req)
		}
		if ctx.Err() != nil && c.ctx.Err() == nil {
			return
		}
		c.writeResult(req.ID, respOp, res)
	}()
}

func (c *conn) startTLS(req *message.Request) bool {
	fail := func(code message.ResultCode, why string) bool {
		c.writeResult(req.ID, message.OpExtendedResponse, message.Result{Code: code, Diagnostic: why, ResponseName: message.OIDStartTLS})
		return true
	}
	switch {
	case c.s.opts.StartTLS == nil:
		return fail(message.Unavailable, "StartTLS is not configured")
	case c.info.TLS() != nil:
		return fail(message.OperationsError, "TLS is already established")
	case c.inFlight() > 0:
		return fail(message.OperationsError, "operations are outstanding")
	case c.r.Buffered() > 0:
		return fail(message.ProtocolError, "data sent after StartTLS before its response")
	}
	c.writeResult(req.ID, message.OpExtendedResponse, message.Result{Code: message.Success, ResponseName: message.OIDStartTLS})
	tc := tls.Server(c.netConn, c.s.opts.StartTLS)
	_ = tc.SetDeadline(time.Now().Add(c.s.opts.WriteTimeout))
	if err := tc.HandshakeContext(c.ctx); err != nil {
		c.log.Debug().Err(err).Msg("StartTLS handshake failed")
		return false
	}
	_ = tc.SetDeadline(time.Time{})
	st := tc.ConnectionState()
	c.info.tls.Store(&st)
	c.wmu.Lock()
	c.netConn = tc
	c.r = bufio.NewReaderSize(tc, 16<<10)
	c.w = bufio.NewWriterSize(tc, 64<<10)
	c.wmu.Unlock()
	return true
}

func (c *conn) writeResult(id int64, op message.Op, res message.Result) {
	c.writeRaw(message.AppendResult(nil, id, op, res))
}

func (c *conn) writeRaw(b []byte) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.netConn.SetWriteDeadline(time.Now().Add(c.s.opts.WriteTimeout))
	if _, err := c.w.Write(b); err == nil {
		err = c.w.Flush()
		if err != nil {
			c.log.Debug().Err(err).Msg("write failed")
			c.cancel()
		}
	}
}

// ErrAbandoned is returned by SearchWriter.Entry once the search was
// abandoned or the connection ended.
var ErrAbandoned = errors.New("search abandoned")

// SearchWriter sends a search's entries, batching them into large writes.
type SearchWriter struct {
	c         *conn
	ctx       context.Context
	id        int64
	typesOnly bool
	buf       []byte
	sent      int
}

// Entry sends one entry (values left out for a typesOnly search).
func (w *SearchWriter) Entry(dn string, attrs []message.Attribute) error {
	if w.ctx.Err() != nil {
		return ErrAbandoned
	}
	w.buf = message.AppendEntry(w.buf, w.id, dn, attrs, w.typesOnly)
	w.sent++
	if len(w.buf) >= flushThreshold {
		w.flushWith(w.buf)
		w.buf = w.buf[:0]
	}
	return nil
}

// Flush sends the entries batched so far.
func (w *SearchWriter) Flush() {
	if len(w.buf) > 0 {
		w.flushWith(w.buf)
		w.buf = w.buf[:0]
	}
}

// Sent is how many entries were sent so far.
func (w *SearchWriter) Sent() int { return w.sent }

func (w *SearchWriter) flushWith(b []byte) {
	w.c.writeRaw(b)
}
