package upstream

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// ioTimeout bounds every read and write the tests make.
const ioTimeout = 10 * time.Second

// rawServer is an upstream on a raw listener: handle gets every accepted
// connection, so a test controls the exact bytes on the wire.
type rawServer struct {
	ln      net.Listener
	accepts atomic.Int32

	mu     sync.Mutex
	closed bool
	conns  []net.Conn
	wg     sync.WaitGroup
}

func newRawServer(t testing.TB, handle func(c net.Conn, br *bufio.Reader)) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &rawServer{ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.accepts.Add(1)
			s.mu.Lock()
			if s.closed {
				s.mu.Unlock()
				_ = c.Close()
				return
			}
			s.conns = append(s.conns, c)
			s.wg.Add(1)
			s.mu.Unlock()
			go func() {
				defer s.wg.Done()
				defer func() { _ = c.Close() }()
				_ = c.SetDeadline(time.Now().Add(ioTimeout))
				handle(c, bufio.NewReader(c))
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		s.mu.Lock()
		s.closed = true
		for _, c := range s.conns {
			_ = c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

func (s *rawServer) URL() *url.URL {
	return &url.URL{Scheme: "http", Host: s.ln.Addr().String()}
}

// captured is one request as the upstream received it.
type captured struct {
	head string // the exact bytes of the request line and header fields
	req  *http.Request
	body []byte
}

// readRawRequest reads one request from br: the exact head, the parsed
// request and its body (Content-Length or chunked; trailers consumed).
func readRawRequest(br *bufio.Reader) (*captured, error) {
	var sb strings.Builder
	for {
		line, err := br.ReadString('\n')
		sb.WriteString(line)
		if err != nil {
			return nil, err
		}
		if line == "\r\n" || line == "\n" {
			break
		}
	}
	cp := &captured{head: sb.String()}
	req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(cp.head)))
	if err != nil {
		return cp, fmt.Errorf("parse %q: %w", cp.head, err)
	}
	cp.req = req
	switch {
	case len(req.TransferEncoding) > 0:
		body, err := io.ReadAll(httputil.NewChunkedReader(br))
		if err != nil {
			return cp, err
		}
		cp.body = body
		for { // trailer section
			line, err := br.ReadString('\n')
			if err != nil {
				return cp, err
			}
			if line == "\r\n" {
				break
			}
		}
	case req.ContentLength > 0:
		cp.body = make([]byte, req.ContentLength)
		if _, err := io.ReadFull(br, cp.body); err != nil {
			return cp, err
		}
	}
	return cp, nil
}

// captureServer is a raw upstream that reads requests on kept-alive
// connections, reports each on got and answers with respond's bytes
// ("HTTP/1.1 200 OK" with body "ok" when respond is nil).
func captureServer(t testing.TB, respond func(*captured) string) (*rawServer, chan *captured) {
	got := make(chan *captured, 64)
	s := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
		for {
			cp, err := readRawRequest(br)
			if err != nil {
				return
			}
			got <- cp
			resp := "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
			if respond != nil {
				resp = respond(cp)
			}
			if _, err := io.WriteString(c, resp); err != nil {
				return
			}
		}
	})
	return s, got
}

func recvCaptured(t testing.TB, got chan *captured) *captured {
	t.Helper()
	select {
	case cp := <-got:
		return cp
	case <-time.After(ioTimeout):
		t.Fatal("the upstream got no request")
		return nil
	}
}

// proxyServer is a client-facing httptest server whose handler forwards
// with Transport.Forward: its ResponseWriter supports Flush and Hijack.
type proxyServer struct {
	*httptest.Server
	tr      *Transport
	target  *url.URL
	results chan error // what each Forward returned (when it returned)
	panics  chan any   // panics other than http.ErrAbortHandler
	aborts  atomic.Int32
}

// newProxy forwards every request to target's scheme and host with the
// client's path and query; edit may change the upstream.Request.
func newProxy(t testing.TB, target *url.URL, opts Options, edit func(*Request)) *proxyServer {
	t.Helper()
	p := &proxyServer{tr: New(opts), target: target, results: make(chan error, 256), panics: make(chan any, 16)}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler { //nolint:errorlint // the sentinel is panicked as is
					p.aborts.Add(1)
				} else {
					p.panics <- v
				}
				panic(http.ErrAbortHandler)
			}
		}()
		u := *target
		u.Path, u.RawPath, u.RawQuery = r.URL.Path, r.URL.RawPath, r.URL.RawQuery
		req := &Request{In: r, URL: &u}
		if edit != nil {
			edit(req)
		}
		err := p.tr.Forward(w, req)
		p.results <- err
		if err != nil {
			http.Error(w, "bad gateway: "+err.Error(), http.StatusBadGateway)
		}
	}))
	t.Cleanup(func() {
		p.Close()
		p.tr.CloseIdleConnections()
		select {
		case v := <-p.panics:
			t.Errorf("handler panicked: %v", v)
		default:
		}
	})
	return p
}

// result is what the next Forward returned.
func (p *proxyServer) result(t testing.TB) error {
	t.Helper()
	select {
	case err := <-p.results:
		return err
	case <-time.After(ioTimeout):
		t.Fatal("Forward did not return")
		return nil
	}
}

func (p *proxyServer) idleCount() int {
	p.tr.mu.Lock()
	defer p.tr.mu.Unlock()
	n := 0
	for _, cs := range p.tr.idle {
		n += len(cs)
	}
	return n
}

func newClient(t testing.TB) *http.Client {
	tr := &http.Transport{DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Timeout: ioTimeout, Transport: tr}
}

// get does a GET and returns the response with its body read.
func get(t testing.TB, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(u)
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(b)
}

// rawDo writes raw request bytes to addr and reads the final response
// (1xx skipped) with its body.
func rawDo(t testing.TB, addr, request string) (*http.Response, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer func() { _ = c.Close() }()
	require.NoError(t, c.SetDeadline(time.Now().Add(ioTimeout)))
	_, err = io.WriteString(c, request)
	require.NoError(t, err)
	br := bufio.NewReader(c)
	method := strings.SplitN(request, " ", 2)[0]
	for {
		resp, err := http.ReadResponse(br, &http.Request{Method: method})
		require.NoError(t, err)
		if resp.StatusCode >= 200 {
			b, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			return resp, string(b)
		}
	}
}

// headLines splits a captured head into its lines (without CRLF).
func headLines(head string) []string {
	return strings.Split(strings.TrimSuffix(head, "\r\n\r\n"), "\r\n")
}

// fieldValues are the values of the head's lines named name.
func fieldValues(head, name string) []string {
	var vv []string
	for _, l := range headLines(head)[1:] {
		k, v, ok := strings.Cut(l, ":")
		if ok && strings.EqualFold(k, name) {
			vv = append(vv, strings.TrimSpace(v))
		}
	}
	return vv
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	require.NoError(t, err)
	return u
}

func bufioReader(r io.Reader) *bufio.Reader { return bufio.NewReader(r) }

func stringsReader(s string) io.Reader { return strings.NewReader(s) }

// cannedServer answers the first request of each connection with response
// (whatever bytes it holds), then closes.
func cannedServer(t testing.TB, response string) *rawServer {
	t.Helper()
	return newRawServer(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := readRawRequest(br); err != nil {
			return
		}
		_, _ = io.WriteString(c, response)
	})
}
