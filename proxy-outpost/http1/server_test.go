package http1

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/outpost-go/outposts/authclient/outpost/outposttest"
)

// TestLoopServes checks which requests the loop serves itself and which
// it hands to Fallback.
func TestLoopServes(t *testing.T) {
	t.Parallel()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("X-Served-By", servedBy(r))
	})
	addr, _ := startHTTP1(t, h, func(s *Server) { s.BufferSize = 1024 })
	cases := []struct {
		name, raw, method, want string
	}{
		{"GET", get("/"), "GET", "loop"},
		{"HEAD", "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n", "HEAD", "loop"},
		{"POST with Content-Length", post("/", "body"), "POST", "loop"},
		{"bare LF", "GET / HTTP/1.1\nHost: a\n\n", "GET", "loop"},
		{"many headers", get("/", strings.Repeat("X-A: b\r\n", 50)), "GET", "loop"},
		{"HTTP/1.0", "GET / HTTP/1.0\r\n\r\n", "GET", "fallback"},
		{"chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "POST", "fallback"},
		{"Expect", post("/", "x", "Expect: 100-continue\r\n"), "POST", "fallback"},
		{"CONNECT", "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", "CONNECT", "fallback"},
		{"empty Host", "GET / HTTP/1.1\r\nHost:\r\n\r\n", "GET", "fallback"},
		{"header larger than the buffer", get("/", "X-Big: "+strings.Repeat("b", 1100)+"\r\n"), "GET", "fallback"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := run(t, addr, one(tc.raw, tc.method))
			require.Len(t, o.Responses, 1)
			require.Empty(t, o.Responses[0].Err)
			require.Equal(t, http.StatusOK, o.Responses[0].Status)
			check(t, func(t assert.TestingT) {
				assert.Equal(t, tc.want, o.Responses[0].Header.Get("X-Served-By"))
			})
		})
	}
}

// TestPipelining writes several requests at once: the answers come in
// order, and nothing after a Connection: close one.
func TestPipelining(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		raw     string
		methods []string
		bodies  []string
		after   string // "open" or "closed" after the responses
	}{
		{
			name:    "GETs",
			raw:     get("/echo?1") + get("/echo?2") + get("/echo?3") + get("/echo?4") + get("/echo?5"),
			methods: []string{"GET", "GET", "GET", "GET", "GET"},
			bodies: []string{
				"GET /echo?1 HTTP/1.1 host=example.com cl=0", "GET /echo?2 HTTP/1.1 host=example.com cl=0",
				"GET /echo?3 HTTP/1.1 host=example.com cl=0", "GET /echo?4 HTTP/1.1 host=example.com cl=0",
				"GET /echo?5 HTTP/1.1 host=example.com cl=0",
			},
			after: "open",
		},
		{
			name:    "mixed methods and bodies",
			raw:     post("/read-body", "one") + "HEAD /small HTTP/1.1\r\nHost: a\r\n\r\n" + post("/ignore-body", "skipped") + get("/chunked") + post("/read-body", "two"),
			methods: []string{"POST", "HEAD", "POST", "GET", "POST"},
			bodies:  []string{`read 3 "one" err=<nil>`, "", "ignored", strings.Repeat("0123456789", 1000), `read 3 "two" err=<nil>`},
			after:   "open",
		},
		{
			name:    "Connection: close in the middle",
			raw:     get("/echo?1") + get("/echo?2", "Connection: close\r\n") + get("/echo?3"),
			methods: []string{"GET", "GET"},
			bodies:  []string{"GET /echo?1 HTTP/1.1 host=example.com cl=0", "GET /echo?2 HTTP/1.1 host=example.com cl=0"},
			after:   "closed",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			addr, _ := startHTTP1(t, diffHandler, nil)
			c := dial(t, addr)
			c.writeNow(tc.raw)
			for i, m := range tc.methods {
				r := c.read(m)
				require.Empty(t, r.Err, "response %d", i)
				assert.Equal(t, http.StatusOK, r.Status, "response %d", i)
				assert.Equal(t, tc.bodies[i], r.Body, "response %d", i)
			}
			wait := 200 * time.Millisecond
			if tc.after == "closed" {
				wait = ioTimeout
			}
			assert.Equal(t, tc.after, c.state(wait))
		})
	}
}

// upgradeHandler hijacks /upgrade and echoes lines upper-cased until
// "quit"; other paths go to diffHandler.
func upgradeHandler(errs chan<- error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/upgrade":
			nc, brw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				errs <- err
				return
			}
			defer func() { _ = nc.Close() }()
			if _, err := w.Write([]byte("x")); !errors.Is(err, http.ErrHijacked) {
				errs <- fmt.Errorf("Write after Hijack: %v", err)
			}
			_ = nc.SetDeadline(time.Now().Add(ioTimeout))
			_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
			_ = brw.Flush()
			for {
				line, err := brw.ReadString('\n')
				if err != nil || line == "quit\n" {
					errs <- nil
					return
				}
				_, _ = brw.WriteString(strings.ToUpper(line))
				_ = brw.Flush()
			}
		case "/upgrade-direct":
			// Writes the 101 straight to the connection, as websocket
			// libraries do.
			nc, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				errs <- err
				return
			}
			_, _ = io.WriteString(nc, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\nraw\n")
			_ = nc.Close()
			errs <- nil
		case "/upgrade-writeheader":
			w.Header().Set("Upgrade", "echo")
			w.Header().Set("Connection", "Upgrade")
			w.WriteHeader(http.StatusSwitchingProtocols)
			nc, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				errs <- err
				return
			}
			_, _ = io.WriteString(nc, "raw\n")
			_ = nc.Close()
			errs <- nil
		default:
			diffHandler.ServeHTTP(w, r)
		}
	})
}

func TestHijack(t *testing.T) {
	t.Parallel()
	upgrade := "GET /upgrade HTTP/1.1\r\nHost: a\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n"
	cases := []struct {
		name  string
		first string // written with the upgrade request
		pre   []string
	}{
		{name: "alone"},
		{name: "bytes right after the request", first: "early\n"},
		{name: "after a served request", pre: []string{get("/echo?before")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			errs := make(chan error, 4)
			addr, _ := startHTTP1(t, upgradeHandler(errs), nil)
			c := dial(t, addr)
			for _, p := range tc.pre {
				c.writeNow(p)
				require.Empty(t, c.read("GET").Err)
			}
			c.writeNow(upgrade + tc.first)
			r := c.read("GET")
			require.Empty(t, r.Err)
			require.Equal(t, http.StatusSwitchingProtocols, r.Status)
			_ = c.c.SetReadDeadline(time.Now().Add(ioTimeout))
			if tc.first != "" {
				line, err := c.br.ReadString('\n')
				require.NoError(t, err)
				assert.Equal(t, strings.ToUpper(tc.first), line)
			}
			c.writeNow("hello\n")
			line, err := c.br.ReadString('\n')
			require.NoError(t, err)
			assert.Equal(t, "HELLO\n", line)
			c.writeNow("quit\n")
			select {
			case err := <-errs:
				require.NoError(t, err)
			case <-time.After(ioTimeout):
				t.Fatal("handler did not finish")
			}
			_, err = c.br.ReadByte()
			assert.ErrorIs(t, err, io.EOF, "the hijacker closed the connection")
		})
	}
}

// TestHijackPipelined: a request served before an upgrade in the same
// write gets its response before the upgrade's.
func TestHijackPipelined(t *testing.T) {
	t.Parallel()
	errs := make(chan error, 4)
	addr, _ := startHTTP1(t, upgradeHandler(errs), nil)
	requireLoop(t, addr)
	c := dial(t, addr)
	c.writeNow(get("/echo?first") + "GET /upgrade-direct HTTP/1.1\r\nHost: a\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
	first := c.readWithin("GET", 2*time.Second)
	second := c.readWithin("GET", 2*time.Second)
	check(t, func(t assert.TestingT) {
		assert.Equal(t, 200, first.Status, "first: %v", first)
		assert.Equal(t, "GET /echo?first HTTP/1.1 host=example.com cl=0", first.Body)
		assert.Equal(t, http.StatusSwitchingProtocols, second.Status, "second: %v", second)
	})
}

// TestHijackAfterWriteHeader compares with net/http a handler that calls
// WriteHeader(101) and then hijacks: net/http sends the status line and
// header on Hijack.
func TestHijackAfterWriteHeader(t *testing.T) {
	t.Parallel()
	errs := make(chan error, 4)
	h := upgradeHandler(errs)
	loop, _ := startHTTP1(t, h, nil)
	requireLoop(t, loop)
	plain := startPlain(t, h)
	answer := func(addr string) string {
		c := dial(t, addr)
		c.writeNow("GET /upgrade-writeheader HTTP/1.1\r\nHost: a\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
		_ = c.c.SetReadDeadline(time.Now().Add(ioTimeout))
		b, _ := io.ReadAll(c.br)
		return regexpDate.ReplaceAllString(string(b), "")
	}
	// Field order is not compared: net/http sorts, the loop does not.
	sortHead := func(s string) string {
		head, body, _ := strings.Cut(s, "\r\n\r\n")
		lines := strings.Split(head, "\r\n")
		slices.Sort(lines[1:])
		return strings.Join(lines, "\r\n") + "\r\n\r\n" + body
	}
	want, got := sortHead(answer(plain)), sortHead(answer(loop))
	assert.Equal(t, want, got, "a status written with WriteHeader before Hijack is sent, as net/http does")
}

// TestPanic: a panicking handler loses its connection, the server goes
// on; http.ErrAbortHandler is not logged.
func TestPanic(t *testing.T) {
	t.Parallel()
	var logBuf syncBuffer
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/panic":
			_, _ = io.WriteString(w, "partial")
			panic("boom-value")
		case "/abort":
			panic(http.ErrAbortHandler)
		default:
			diffHandler.ServeHTTP(w, r)
		}
	})
	addr, _ := startHTTP1(t, h, func(s *Server) { s.ErrorLog = log.New(&logBuf, "", 0) })
	requireLoop(t, addr)
	other := dial(t, addr)
	other.writeNow(get("/echo?before"))
	require.Equal(t, http.StatusOK, other.read("GET").Status)
	for _, path := range []string{"/panic", "/abort"} {
		c := dial(t, addr)
		c.writeNow(get(path))
		r := c.read("GET")
		assert.Equal(t, "closed", r.Err, "%s: the connection is closed without a response: %v", path, r)
		other.writeNow(get("/echo?after"))
		r = other.read("GET")
		assert.Equal(t, http.StatusOK, r.Status, "the other connection still works")
		assert.Equal(t, "GET /echo?after HTTP/1.1 host=example.com cl=0", r.Body)
	}
	fresh := dial(t, addr)
	fresh.writeNow(get("/echo"))
	assert.Equal(t, http.StatusOK, fresh.read("GET").Status, "new connections are served")
	logged := logBuf.String()
	assert.Contains(t, logged, "boom-value")
	assert.Equal(t, 1, strings.Count(logged, "panic"), "only the first panic is logged: %q", logged)
	assert.NotContains(t, logged, http.ErrAbortHandler.Error())
}

// blocker is a handler that blocks /block until released.
type blocker struct {
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func newBlocker() *blocker {
	return &blocker{entered: make(chan struct{}, 8), release: make(chan struct{})}
}

func (b *blocker) free() { b.once.Do(func() { close(b.release) }) }

// waitEntered waits until a request is in the blocking handler.
func (b *blocker) waitEntered(t *testing.T) {
	t.Helper()
	select {
	case <-b.entered:
	case <-time.After(ioTimeout):
		t.Fatal("handler not entered")
	}
}

func (b *blocker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/block" {
		b.entered <- struct{}{}
		<-b.release
		_, _ = io.WriteString(w, "done")
		return
	}
	diffHandler.ServeHTTP(w, r)
}

// newServer starts an http1.Server without the cleanup of startHTTP1:
// the test shuts it down itself.
func newServer(t *testing.T, h http.Handler, configure func(*Server)) (*Server, string, <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	return serveOn(t, ln, h, configure)
}

// serveOn is newServer on the listener ln.
func serveOn(t *testing.T, ln net.Listener, h http.Handler, configure func(*Server)) (*Server, string, <-chan error) {
	t.Helper()
	s := &Server{Handler: h, Fallback: &http.Server{Handler: h, ErrorLog: discardLog}, ErrorLog: discardLog}
	if configure != nil {
		configure(s)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_ = s.Shutdown(ctx)
	})
	return s, ln.Addr().String(), served
}

// neverFires is a timeout that does not fire while a test runs.
const neverFires = time.Hour

// watchedListener hands out connections that tell how far the server has
// read them, so that a test waits for the event "the server has read
// what was sent and waits for more" instead of guessing how long it
// takes.
type watchedListener struct {
	net.Listener
	conns chan *watchedConn
}

func (l *watchedListener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	c := &watchedConn{Conn: nc}
	select {
	case l.conns <- c:
	default: // nobody watches this one
	}
	return c, nil
}

type watchedConn struct {
	net.Conn
	got     atomic.Int64 // bytes the server has read
	reading atomic.Int64 // got when the server last began a Read
}

func (c *watchedConn) Read(p []byte) (int, error) {
	c.reading.Store(c.got.Load())
	n, err := c.Conn.Read(p)
	c.got.Add(int64(n))
	return n, err
}

// waitReading waits until the server has read the first n bytes the
// client sent and begun another read: it waits for more.
func (c *watchedConn) waitReading(t *testing.T, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return c.reading.Load() >= int64(n) }, outposttest.Wait, outposttest.Tick,
		"the server did not read the %d bytes sent and wait for more", n)
}

// newWatchedServer is newServer on a watchedListener. It returns the
// address and a channel with the server's side of the accepted
// connections.
func newWatchedServer(t *testing.T, h http.Handler, configure func(*Server)) (string, <-chan *watchedConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	wl := &watchedListener{Listener: ln, conns: make(chan *watchedConn, 16)}
	_, addr, _ := serveOn(t, wl, h, configure)
	return addr, wl.conns
}

// shutdownUnbounded calls shutdown with a context that never ends, so
// that it returns only by doing its work; the guard only detects a hang,
// reported with why.
func shutdownUnbounded(t *testing.T, shutdown func(context.Context) error, why string) {
	t.Helper()
	shut := make(chan error, 1)
	go func() { shut <- shutdown(context.Background()) }()
	select {
	case err := <-shut:
		require.NoError(t, err)
	case <-time.After(outposttest.Wait):
		t.Fatalf("Shutdown did not return: %s", why)
	}
}

// accepted is the server's side of the next connection accepted.
func accepted(t *testing.T, conns <-chan *watchedConn) *watchedConn {
	t.Helper()
	select {
	case c := <-conns:
		return c
	case <-time.After(outposttest.Wait):
		t.Fatal("the server accepted no connection")
		return nil
	}
}

func TestShutdownClosesIdle(t *testing.T) {
	t.Parallel()
	s, addr, served := newServer(t, diffHandler, nil)
	c := dial(t, addr)
	c.writeNow(get("/echo"))
	require.Equal(t, http.StatusOK, c.read("GET").Status)
	never := dial(t, addr) // connected, never sends a request
	_ = never

	// Shutdown returns only once it has closed the idle connections itself.
	shutdownUnbounded(t, s.Shutdown, "it waits for the idle connections instead of closing them")
	assert.Equal(t, "closed", c.state(ioTimeout))
	assert.Equal(t, "closed", never.state(ioTimeout))
	select {
	case err := <-served:
		assert.ErrorIs(t, err, http.ErrServerClosed)
	case <-time.After(ioTimeout):
		t.Fatal("Serve did not return")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer func() { _ = ln.Close() }()
	assert.ErrorIs(t, s.Serve(ln), http.ErrServerClosed, "Serve after Shutdown")
}

func TestShutdownWaitsForInFlight(t *testing.T) {
	t.Parallel()
	b := newBlocker()
	t.Cleanup(b.free)
	s, addr, served := newServer(t, b, nil)
	c := dial(t, addr)
	c.writeNow(get("/block"))
	b.waitEntered(t)
	// With a context that never ends, Shutdown returns only once the
	// request in flight is done.
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned with a request in flight: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	b.free()
	r := c.read("GET")
	require.Empty(t, r.Err)
	assert.Equal(t, http.StatusOK, r.Status)
	assert.Equal(t, "done", r.Body)

	var shutErr error
	select {
	case shutErr = <-shut:
	case <-time.After(outposttest.Wait):
		t.Fatal("Shutdown did not return after the in-flight request ended")
	}
	check(t, func(t assert.TestingT) {
		assert.NoError(t, shutErr)
		assert.Equal(t, "closed", c.state(ioTimeout), "the connection is closed after the in-flight response")
	})
	select {
	case err := <-served:
		assert.ErrorIs(t, err, http.ErrServerClosed)
	case <-time.After(ioTimeout):
		t.Fatal("Serve did not return")
	}
}

func TestShutdownContextExpired(t *testing.T) {
	t.Parallel()
	b := newBlocker()
	t.Cleanup(b.free)
	s, addr, _ := newServer(t, b, nil)
	loop := loopServes(t, addr)
	c := dial(t, addr)
	c.writeNow(get("/block"))
	b.waitEntered(t)
	ctx, cancel := contextWithTimeout(50 * time.Millisecond)
	defer cancel()
	err := s.Shutdown(ctx)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	b.free()
	if loop {
		// The loop closes what is left when ctx is done (net/http's
		// Shutdown leaves active connections alone).
		assert.Equal(t, "closed", c.read("GET").Err)
	}
}

func TestReadHeaderTimeout(t *testing.T) {
	t.Parallel()
	const d = 200 * time.Millisecond
	addr, _ := startHTTP1(t, diffHandler, func(s *Server) {
		s.ReadHeaderTimeout = d
		s.Fallback.ReadHeaderTimeout = d
	})
	cases := []struct{ name, raw, rest string }{
		{"half a header block", "GET /echo HTTP/1.1\r\nHost: a\r\n", "\r\n"},
		{"one byte", "G", "ET /echo HTTP/1.1\r\nHost: a\r\n\r\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// The header timeout closes the connection (the wait only
			// detects a hang).
			c := dial(t, addr)
			c.writeNow(tc.raw)
			assert.Equal(t, "closed", c.state(outposttest.Wait), "the header timeout did not close the connection")

			// Nothing but that timeout closes it: with one that does not
			// fire during the test, the server that has read the partial
			// block waits for the rest and answers the request.
			waddr, conns := newWatchedServer(t, diffHandler, func(s *Server) {
				s.ReadHeaderTimeout = neverFires
				s.Fallback.ReadHeaderTimeout = neverFires
			})
			c = dial(t, waddr)
			sc := accepted(t, conns)
			c.writeNow(tc.raw)
			sc.waitReading(t, len(tc.raw))
			c.writeNow(tc.rest)
			r := c.read(http.MethodGet)
			require.Empty(t, r.Err, "the connection was closed before its header timeout")
			assert.Equal(t, http.StatusOK, r.Status)
			assert.Equal(t, "GET /echo HTTP/1.1 host=a cl=0", r.Body)
		})
	}
	t.Run("slow body is not cut by the header timeout", func(t *testing.T) {
		t.Parallel()
		c := dial(t, addr)
		c.writeNow("POST /read-body HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\n\r\nabc")
		time.Sleep(2 * d)
		c.writeNow("def")
		r := c.read("POST")
		require.Empty(t, r.Err)
		assert.Equal(t, `read 6 "abcdef" err=<nil>`, r.Body)
	})
}

func TestIdleTimeout(t *testing.T) {
	t.Parallel()
	const d = 200 * time.Millisecond
	addr, _ := startHTTP1(t, diffHandler, func(s *Server) {
		s.IdleTimeout = d
		s.Fallback.IdleTimeout = d
	})
	c := dial(t, addr)
	c.writeNow(get("/echo"))
	require.Equal(t, http.StatusOK, c.read("GET").Status)
	// The idle timeout closes the connection (the wait only detects a
	// hang).
	assert.Equal(t, "closed", c.state(outposttest.Wait), "the idle timeout did not close the connection")

	// Nothing but that timeout closes an idle connection, and one that
	// keeps sending within it is kept: with an idle timeout that does not
	// fire during the test, every request sent once the server went idle
	// (it waits to read the next one) is answered on the same connection.
	waddr, conns := newWatchedServer(t, diffHandler, func(s *Server) {
		s.IdleTimeout = neverFires
		s.Fallback.IdleTimeout = neverFires
	})
	c = dial(t, waddr)
	sc := accepted(t, conns)
	sent := 0
	for i := range 3 {
		sc.waitReading(t, sent)
		req := get("/echo")
		c.writeNow(req)
		sent += len(req)
		require.Equal(t, http.StatusOK, c.read("GET").Status, "request %d: the idle connection was closed", i+1)
	}
}

// TestResponseNotHeldBack: the loop skips the flush while more input is
// buffered; a partial next request (or stray bytes) must not hold the
// previous response back until the header timeout.
func TestResponseNotHeldBack(t *testing.T) {
	t.Parallel()
	addr, _ := startHTTP1(t, diffHandler, func(s *Server) { s.ReadHeaderTimeout = 3 * time.Second })
	requireLoop(t, addr)
	cases := []struct{ name, extra string }{
		{"partial next request", "GET /echo HTTP/1.1\r\nHo"},
		{"CRLF after the body", "\r\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := dial(t, addr)
			c.writeNow(post("/read-body", "abc") + tc.extra)
			r := c.readWithin("POST", time.Second)
			check(t, func(t assert.TestingT) {
				assert.Empty(t, r.Err)
				assert.Equal(t, `read 3 "abc" err=<nil>`, r.Body)
			})
		})
	}
}

// TestRequestBody covers the body the handler reads.
func TestRequestBody(t *testing.T) {
	t.Parallel()
	type seen struct {
		body      string
		err       error
		afterErr  error
		bodyIsNil bool
	}
	got := make(chan seen, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var s seen
		s.bodyIsNil = r.Body == nil
		b, err := io.ReadAll(r.Body)
		s.body, s.err = string(b), err
		_ = r.Body.Close()
		_, s.afterErr = r.Body.Read(make([]byte, 1))
		got <- s
	})
	addr, _ := startHTTP1(t, h, nil)
	c := dial(t, addr)
	c.writeNow(post("/", "payload"))
	r := c.read("POST")
	require.Empty(t, r.Err)
	s := <-got
	assert.False(t, s.bodyIsNil)
	assert.Equal(t, "payload", s.body)
	assert.NoError(t, s.err)
	assert.ErrorIs(t, s.afterErr, http.ErrBodyReadAfterClose)

	// Truncated body: the client half-closes in the middle.
	c = dial(t, addr)
	c.writeNow("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc")
	require.NoError(t, c.c.(*net.TCPConn).CloseWrite())
	s = <-got
	assert.Equal(t, "abc", s.body)
	assert.ErrorIs(t, s.err, io.ErrUnexpectedEOF)
	r = c.read("POST")
	require.Empty(t, r.Err)
	assert.Equal(t, "closed", c.state(ioTimeout))
}

// TestResponseWriterMisc covers ResponseWriter details that are not
// differential.
func TestResponseWriterMisc(t *testing.T) {
	t.Parallel()
	results := make(chan string, 8)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/invalid-code":
			defer func() { results <- fmt.Sprint(recover() != nil) }()
			w.WriteHeader(99)
		case "/too-long":
			w.Header().Set("Content-Length", "2")
			_, err := io.WriteString(w, "abc")
			results <- fmt.Sprint(errors.Is(err, http.ErrContentLength))
		case "/deadline":
			rc := http.NewResponseController(w)
			results <- fmt.Sprint(rc.SetReadDeadline(time.Now().Add(time.Second)) == nil && rc.SetWriteDeadline(time.Now().Add(time.Second)) == nil)
		}
	})
	addr, _ := startHTTP1(t, h, nil)
	for _, path := range []string{"/invalid-code", "/too-long", "/deadline"} {
		c := dial(t, addr)
		c.writeNow(get(path))
		_ = c.read("GET")
		select {
		case v := <-results:
			assert.Equal(t, "true", v, path)
		case <-time.After(ioTimeout):
			t.Fatalf("%s: no result", path)
		}
	}
}

// TestHandedConnCloseWrite: net/http half-closes a connection it gives up
// with unread input (closeWriteAndWait) so that the client reads the
// answer before a reset; on a handed-over connection it cannot, as
// handedConn hides CloseWrite.
func TestHandedConnCloseWrite(t *testing.T) {
	t.Parallel()
	hc := &handedConn{Conn: &net.TCPConn{}}
	_, ok := any(hc).(interface{ CloseWrite() error })
	check(t, func(t assert.TestingT) {
		assert.True(t, ok)
	})
}

// TestAppendFields: pre-rendered fields go out with the header, after the
// map's, whether the body fits the buffer or not; once the header went out
// they are not sent.
func TestAppendFields(t *testing.T) {
	t.Parallel()
	type appender interface{ AppendFields([]byte) }
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Map", "m")
		w.(appender).AppendFields([]byte("X-User: alice\r\n"))
		w.(appender).AppendFields([]byte("X-Groups: a|b\r\n"))
		switch r.URL.Path {
		case "/large":
			_, _ = w.Write([]byte(strings.Repeat("x", 3*bufferBeforeChunking)))
		case "/late":
			w.(http.Flusher).Flush()
			w.(appender).AppendFields([]byte("X-Late: 1\r\n"))
		}
	})
	addr, _ := startHTTP1(t, h, nil)
	for _, path := range []string{"/", "/large", "/late"} {
		t.Run(path, func(t *testing.T) {
			t.Parallel()
			o := run(t, addr, one(get(path), "GET"))
			require.Len(t, o.Responses, 1)
			resp := o.Responses[0]
			require.Empty(t, resp.Err)
			assert.Equal(t, []string{"alice"}, resp.Header.Values("X-User"))
			assert.Equal(t, []string{"a|b"}, resp.Header.Values("X-Groups"))
			assert.Equal(t, "m", resp.Header.Get("X-Map"))
			assert.Empty(t, resp.Header.Values("X-Late"))
		})
	}
}
