// Package http1 serves plain HTTP/1.1 keep-alive connections on a lean
// loop: one goroutine per connection reads a request (the common head
// with parseRequest, which takes only what it parses exactly as
// http.ReadRequest does, anything else with http.ReadRequest), runs the
// handler and writes the response, with no goroutine, timer or context
// per request.
//
// net/http's server starts a background read on every request (to notice
// a client hanging up) and stops it again afterwards; behind a reverse
// proxy that sends a few small requests per connection per millisecond,
// that machinery cost more than the outpost's own work. This loop keeps
// net/http's parser and hands over every connection it would not serve
// exactly like net/http: before reading a request it finds the whole
// header block in its buffer, and a block that is too large, does not
// parse, fails net/http's header checks, is not HTTP/1.1, or asks for
// something the loop does not do (Transfer-Encoding, Expect, CONNECT)
// goes, unread, to a net/http Server that serves the connection from then
// on, errors included.
package http1

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/outpost-go/outposts/proxy-outpost/internal/head"
	"github.com/outpost-go/outposts/proxy-outpost/internal/rawio"
)

// Defaults for Server's zero values.
const (
	DefaultReadHeaderTimeout = 30 * time.Second
	// DefaultBufferSize is the read buffer per connection; a request
	// whose header block does not fit in it is served by net/http.
	DefaultBufferSize = 8 << 10
)

// maxDrain is how much of an unread request body is discarded to keep the
// connection; beyond it the connection is closed (net/http's rule too).
const maxDrain = 256 << 10

// Server serves HTTP/1.1 connections with Handler, handing those it does
// not serve to Fallback.
type Server struct {
	Handler http.Handler
	// Fallback serves the connections handed over (give it the same
	// Handler). Serve runs it; Shutdown shuts it down.
	Fallback *http.Server
	// ReadHeaderTimeout bounds reading a request's header block once its
	// first byte arrived.
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes a kept-alive connection that sends nothing for
	// that long (at least half of it: see serveOne). Zero, the default
	// as in net/http, keeps it open: the reverse proxy in front decides
	// when its idle connections close, and closing them here would race
	// its reuse of them (a request sent just as the connection closes
	// fails, and a POST is not retried).
	IdleTimeout time.Duration
	// BufferSize is the per-connection read buffer.
	BufferSize int
	// ErrorLog receives handler panics; nil uses the log package.
	ErrorLog *log.Logger

	handoff     *handoffListener
	start       sync.Once
	fallbackErr chan error

	mu        sync.Mutex
	conns     map[*conn]struct{}
	listeners map[net.Listener]struct{}
	closing   atomic.Bool
	active    sync.WaitGroup
	date      atomic.Pointer[dateValue]
}

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = http.ErrServerClosed

func (s *Server) init() {
	s.start.Do(func() {
		s.conns = map[*conn]struct{}{}
		s.listeners = map[net.Listener]struct{}{}
		s.handoff = newHandoffListener()
		s.fallbackErr = make(chan error, 1)
		if s.Fallback != nil {
			go func() { s.fallbackErr <- s.Fallback.Serve(s.handoff) }()
		}
	})
}

// Serve accepts connections on ln until Shutdown or an accept error.
func (s *Server) Serve(ln net.Listener) error {
	s.init()
	s.mu.Lock()
	if s.closing.Load() {
		// Checked under mu: Shutdown sets closing, then closes the
		// listeners registered under mu.
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
	}()
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.closing.Load() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff)
				continue
			}
			return fmt.Errorf("http1: accept: %w", err)
		}
		backoff = 0
		c := s.newConn(nc)
		if c == nil {
			_ = nc.Close()
			continue
		}
		go c.serve()
	}
}

// Shutdown stops accepting, closes idle connections, waits for the
// requests in flight (until ctx is done, then closes what is left) and
// shuts Fallback down within the same ctx.
func (s *Server) Shutdown(ctx context.Context) error {
	s.init()
	s.closing.Store(true)
	s.mu.Lock()
	for ln := range s.listeners {
		_ = ln.Close()
	}
	for c := range s.conns {
		c.closeIfIdle()
	}
	s.mu.Unlock()

	done := make(chan struct{})
	go func() { s.active.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		s.mu.Lock()
		for c := range s.conns {
			_ = c.nc.Close()
		}
		s.mu.Unlock()
	}
	if s.Fallback != nil {
		if ferr := s.Fallback.Shutdown(ctx); ferr != nil && err == nil {
			err = ferr
		}
	}
	_ = s.handoff.Close()
	return err
}

func (s *Server) newConn(nc net.Conn) *conn {
	size := s.BufferSize
	if size <= 0 {
		size = DefaultBufferSize
	}
	rw := rawio.Wrap(nc)
	c := &conn{s: s, nc: nc, br: bufio.NewReaderSize(rw, size), bw: bufio.NewWriterSize(rw, 4<<10)}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		return nil
	}
	s.conns[c] = struct{}{}
	s.active.Add(1)
	c.state.Store(stateIdle)
	return c
}

func (s *Server) forget(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.active.Done()
}

func (s *Server) logf(format string, args ...any) {
	if s.ErrorLog != nil {
		s.ErrorLog.Printf(format, args...)
		return
	}
	log.Printf(format, args...)
}

const (
	stateIdle int32 = iota
	stateActive
	stateClosed
)

type conn struct {
	s     *Server
	nc    net.Conn
	br    *bufio.Reader
	bw    *bufio.Writer
	state atomic.Int32
	// head is the current request's header block, kept so that the
	// connection can be handed over with the request unread.
	head       []byte
	remoteAddr string
	deadline   time.Time // the read deadline set, zero for none
	lastPost   bool      // the previous request was a POST
}

func (c *conn) setDeadline(t time.Time) {
	_ = c.nc.SetReadDeadline(t)
	c.deadline = t
}

// closeIfIdle closes c if it waits for a request (Shutdown).
func (c *conn) closeIfIdle() {
	if c.state.CompareAndSwap(stateIdle, stateClosed) {
		_ = c.nc.Close()
	}
}

// errHandOver ends the loop with the connection given to Fallback.
var errHandOver = errors.New("handed over")

func (c *conn) serve() {
	defer c.s.forget(c)
	c.remoteAddr = c.nc.RemoteAddr().String()
	for {
		err := c.serveOne()
		if err == nil {
			continue
		}
		if err == errHandOver {
			return
		}
		c.state.Store(stateClosed)
		_ = c.bw.Flush()
		_ = c.nc.Close()
		return
	}
}

// serveOne serves one request. It returns nil to go on with the next.
func (c *conn) serveOne() error {
	s := c.s
	idle := s.IdleTimeout
	if c.lastPost {
		// Like net/http, tolerate a few stray CR/LF bytes some clients
		// send after a POST body.
		c.lastPost = false
		buf, _ := c.br.Peek(min(4, c.br.Buffered()))
		skip := 0
		for skip < len(buf) && (buf[skip] == '\r' || buf[skip] == '\n') {
			skip++
		}
		_, _ = c.br.Discard(skip)
	}
	if c.br.Buffered() == 0 {
		// The idle deadline is re-armed only once half of it is used
		// up: setting a deadline takes the runtime's timer lock, and a
		// busy connection would do it for every request. So a
		// connection idles between IdleTimeout/2 and IdleTimeout.
		if idle > 0 {
			if now := time.Now(); c.deadline.Sub(now) < idle/2 {
				c.setDeadline(now.Add(idle))
			}
		} else if !c.deadline.IsZero() {
			// A header deadline from the last request must not end
			// the wait for the next one.
			c.setDeadline(time.Time{})
		}
		if _, err := c.br.Peek(1); err != nil {
			return err
		}
	}
	if !c.state.CompareAndSwap(stateIdle, stateActive) {
		return net.ErrClosed
	}
	if buf, _ := c.br.Peek(c.br.Buffered()); head.BlankLine(buf, 0) < 0 {
		// The rest of the header block is yet to come, within the
		// header timeout. (A block that came whole, the usual case,
		// spares the deadline.)
		hto := s.ReadHeaderTimeout
		if hto <= 0 {
			hto = DefaultReadHeaderTimeout
		}
		c.setDeadline(time.Now().Add(hto))
	}
	n, err := headerEnd(c.br)
	if errors.Is(err, errHeaderTooLarge) || errors.Is(err, io.ErrUnexpectedEOF) {
		// net/http answers both (431, 400); nothing of this request was
		// read, so there is no head to replay.
		c.head = c.head[:0]
		return c.handOver()
	}
	if err != nil {
		return err
	}
	peeked, _ := c.br.Peek(n)
	c.head = append(c.head[:0], peeked...)
	before := c.br.Buffered()
	req, ok := parseRequest(peeked)
	var perr error
	if ok {
		_, _ = c.br.Discard(n)
	} else {
		req, perr = http.ReadRequest(c.br)
	}
	consumed := before - c.br.Buffered()
	if perr != nil || !servable(req) {
		if consumed > n {
			return fmt.Errorf("http1: parser read past the header block")
		}
		_, _ = c.br.Discard(n - consumed)
		return c.handOver()
	}
	if !c.deadline.IsZero() && req.ContentLength > 0 {
		// The body is read at the handler's pace. (Without a body the
		// deadline stays: nothing reads the connection until the next
		// request, which re-arms it as needed.)
		c.setDeadline(time.Time{})
	}

	// The request's context is Background: nothing cancels it when the
	// client hangs up (that is the per-request read this loop saves); a
	// handler notices when it writes.
	req.RemoteAddr = c.remoteAddr
	c.lastPost = req.Method == http.MethodPost
	var rb *requestBody
	if req.ContentLength > 0 {
		rb = &requestBody{r: io.LimitedReader{R: c.br, N: req.ContentLength}}
		req.Body = rb
	} else {
		req.Body = http.NoBody
	}
	w := newResponse(c, req)
	if err := c.run(w, req); err != nil {
		return err
	}
	if w.hijacked {
		return errHandOver
	}
	if rb != nil && rb.r.N > 0 {
		if rb.r.N >= maxDrain {
			w.closeAfter = true
		} else if _, err := io.Copy(io.Discard, &rb.r); err != nil {
			w.closeAfter = true
		}
	}
	if err := w.finish(); err != nil {
		return err
	}
	if w.closeAfter {
		return errClose
	}
	if buf, _ := c.br.Peek(c.br.Buffered()); head.BlankLine(buf, 0) < 0 {
		// Flush unless a whole next request is already here: pipelined
		// requests share one flush, and nothing waits for bytes that may
		// never come.
		if err := c.bw.Flush(); err != nil {
			return err
		}
	}
	if !c.state.CompareAndSwap(stateActive, stateIdle) {
		return net.ErrClosed
	}
	if s.closing.Load() {
		// Shutdown set closing before it closed the idle connections, so
		// it may have missed this one.
		return errClose
	}
	return nil
}

var errClose = errors.New("connection: close")

// run calls the handler; a panic is logged (as net/http does, but for
// http.ErrAbortHandler) and closes the connection.
func (c *conn) run(w *response, req *http.Request) (err error) {
	defer func() {
		if v := recover(); v != nil {
			if v != http.ErrAbortHandler {
				c.s.logf("http1: panic serving %s: %v", c.remoteAddr, v)
			}
			err = fmt.Errorf("http1: handler panicked")
		}
	}()
	c.s.Handler.ServeHTTP(w, req)
	return nil
}

// handOver gives the connection, with the current request unread, to
// Fallback.
func (c *conn) handOver() error {
	if c.s.Fallback == nil {
		return errors.New("http1: no fallback server")
	}
	// Responses to pipelined requests before this one go first.
	if err := c.bw.Flush(); err != nil {
		return err
	}
	_ = c.nc.SetReadDeadline(time.Time{})
	c.state.Store(stateClosed)
	hc := &handedConn{Conn: c.nc, r: io.MultiReader(bytes.NewReader(c.head), c.br)}
	if !c.s.handoff.give(hc) {
		return net.ErrClosed
	}
	return errHandOver
}

// servable reports whether the loop serves req exactly as net/http would:
// the checks net/http's server makes after parsing, and nothing the loop
// leaves to net/http.
func servable(req *http.Request) bool {
	if req.ProtoMajor != 1 || req.ProtoMinor != 1 {
		return false
	}
	if req.Method == http.MethodConnect || req.Method == "PRI" {
		return false
	}
	if len(req.TransferEncoding) > 0 || req.Header["Transfer-Encoding"] != nil || req.Header["Expect"] != nil {
		return false
	}
	if req.ContentLength < 0 {
		return false
	}
	if req.Method == http.MethodOptions && req.RequestURI == "*" {
		// net/http answers it itself.
		return false
	}
	// http.ReadRequest has moved the Host field into req.Host (and
	// refused two). With an absolute-form target req.Host is the
	// target's, which hides whether a valid Host field came: net/http
	// decides those.
	if req.URL.Host != "" || req.Host == "" || !httpguts.ValidHostHeader(req.Host) {
		return false
	}
	for k, vv := range req.Header {
		if !httpguts.ValidHeaderFieldName(k) {
			return false
		}
		for _, v := range vv {
			if !httpguts.ValidHeaderFieldValue(v) {
				return false
			}
		}
	}
	return true
}

var errHeaderTooLarge = errors.New("header block larger than the buffer")

// headerEnd peeks until the buffer holds a whole header block (up to and
// including the empty line that ends it, LF or CRLF) and returns its
// length.
func headerEnd(br *bufio.Reader) (int, error) {
	from := 0
	for {
		buf, _ := br.Peek(br.Buffered())
		if i := head.BlankLine(buf, from); i >= 0 {
			return i, nil
		}
		if len(buf) >= br.Size() {
			return 0, errHeaderTooLarge
		}
		// A blank line can start up to two bytes before the end.
		from = max(0, len(buf)-2)
		if _, err := br.Peek(len(buf) + 1); err != nil {
			if len(buf) > 0 && (err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF)) {
				// A partial request then EOF: handed to net/http, which
				// answers 400.
				return 0, io.ErrUnexpectedEOF
			}
			return 0, err
		}
	}
}

// requestBody is a Content-Length request body read straight from the
// connection.
type requestBody struct {
	r      io.LimitedReader
	closed bool
}

func (b *requestBody) Read(p []byte) (int, error) {
	if b.closed {
		return 0, http.ErrBodyReadAfterClose
	}
	n, err := b.r.Read(p)
	if err == io.EOF && b.r.N > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func (b *requestBody) Close() error {
	b.closed = true
	return nil
}

// handedConn replays the bytes read ahead before reading the connection.
type handedConn struct {
	net.Conn
	r io.Reader
}

func (c *handedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// CloseWrite lets net/http half-close the connection before closing it
// (after a 431, or an unread large body), so the client reads the answer
// instead of a reset.
func (c *handedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// handoffListener is the listener Fallback accepts handed-over
// connections from.
type handoffListener struct {
	ch     chan net.Conn
	done   chan struct{}
	closer sync.Once
}

func newHandoffListener() *handoffListener {
	return &handoffListener{ch: make(chan net.Conn), done: make(chan struct{})}
}

func (l *handoffListener) give(c net.Conn) bool {
	select {
	case l.ch <- c:
		return true
	case <-l.done:
		return false
	}
}

func (l *handoffListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *handoffListener) Close() error {
	l.closer.Do(func() { close(l.done) })
	return nil
}

func (l *handoffListener) Addr() net.Addr { return handoffAddr{} }

type handoffAddr struct{}

func (handoffAddr) Network() string { return "handoff" }
func (handoffAddr) String() string  { return "handoff" }
