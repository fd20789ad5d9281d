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
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ioTimeout bounds every network read and write of the tests.
const ioTimeout = 5 * time.Second

// discardLog is an ErrorLog that drops everything.
var discardLog = log.New(io.Discard, "", 0)

// syncBuffer is a bytes.Buffer safe for a logger writing from server
// goroutines while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startHTTP1 runs an http1.Server with h (and a Fallback net/http server
// with the same h) on a loopback port. configure may change the server
// before it starts.
func startHTTP1(t testing.TB, h http.Handler, configure func(*Server)) (string, *Server) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &Server{
		Handler:  h,
		Fallback: &http.Server{Handler: h, ErrorLog: discardLog},
		ErrorLog: discardLog,
	}
	if configure != nil {
		configure(s)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
		defer cancel()
		_ = s.Shutdown(ctx)
		select {
		case err := <-served:
			assert.ErrorIs(t, err, http.ErrServerClosed)
		case <-time.After(ioTimeout):
			t.Errorf("Serve did not return after Shutdown")
		}
	})
	return ln.Addr().String(), s
}

// startPlain runs a plain net/http server with h on a loopback port.
func startPlain(t testing.TB, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &http.Server{Handler: h, ErrorLog: discardLog}
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(func() { _ = s.Close() })
	return ln.Addr().String()
}

// client is a raw TCP connection to a server under test.
type client struct {
	t  testing.TB
	c  net.Conn
	br *bufio.Reader
}

func dial(t testing.TB, addr string) *client {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, ioTimeout)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return &client{t: t, c: c, br: bufio.NewReader(c)}
}

// write sends s in a goroutine (the server may not read it all) and
// returns a channel that gets the write error.
func (c *client) write(s string) <-chan error {
	done := make(chan error, 1)
	go func() {
		_ = c.c.SetWriteDeadline(time.Now().Add(ioTimeout))
		_, err := io.WriteString(c.c, s)
		done <- err
	}()
	return done
}

// writeNow sends s and fails the test on error.
func (c *client) writeNow(s string) {
	c.t.Helper()
	require.NoError(c.t, <-c.write(s))
}

// info is an informational (1xx) response.
type info struct {
	Status int
	Header http.Header
}

// result is a response reduced to what the tests compare.
type result struct {
	Err           string // "" or a category: "closed", "timeout", or the error
	Proto         string
	Status        int
	Header        http.Header // without Date
	ContentLength int64
	TE            []string
	Body          string
	Trailer       http.Header
	Info          []info
}

func (r result) String() string {
	if r.Err != "" {
		return "error: " + r.Err
	}
	var b strings.Builder
	for _, i := range r.Info {
		fmt.Fprintf(&b, "%d %v; ", i.Status, i.Header)
	}
	body := r.Body
	if len(body) > 80 {
		body = fmt.Sprintf("%q... (%d bytes)", body[:80], len(body))
	}
	fmt.Fprintf(&b, "%s %d CL=%d TE=%v header=%v trailer=%v body=%s", r.Proto, r.Status, r.ContentLength, r.TE, r.Header, r.Trailer, body)
	return b.String()
}

func errCategory(err error) string {
	var ne net.Error
	switch {
	case err == nil:
		return ""
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET), errors.Is(err, net.ErrClosed):
		return "closed"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	}
	return err.Error()
}

// read reads one response (and the 1xx before it) to a request with method.
func (c *client) read(method string) result {
	return c.readWithin(method, ioTimeout)
}

func (c *client) readWithin(method string, d time.Duration) result {
	_ = c.c.SetReadDeadline(time.Now().Add(d))
	var r result
	for {
		resp, err := http.ReadResponse(c.br, &http.Request{Method: method})
		if err != nil {
			r.Err = errCategory(err)
			return r
		}
		if resp.StatusCode >= 100 && resp.StatusCode < 200 && resp.StatusCode != http.StatusSwitchingProtocols {
			h := resp.Header.Clone()
			r.Info = append(r.Info, info{resp.StatusCode, h})
			continue
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			r.Err = "body: " + errCategory(err)
		}
		r.Proto = resp.Proto
		r.Status = resp.StatusCode
		r.Header = resp.Header.Clone()
		r.Header.Del("Date")
		r.ContentLength = resp.ContentLength
		r.TE = resp.TransferEncoding
		r.Body = string(body)
		r.Trailer = resp.Trailer
		return r
	}
}

// state reports whether the server closed the connection ("closed"),
// keeps it open ("open", after waiting d) or sent more ("data").
func (c *client) state(d time.Duration) string {
	_ = c.c.SetReadDeadline(time.Now().Add(d))
	if _, err := c.br.ReadByte(); err != nil {
		if errCategory(err) == "timeout" {
			return "open"
		}
		return errCategory(err)
	}
	return "data"
}

// exchange is one conversation: raw is written at once, a response is
// read per method, then a follow-up GET is sent on the same connection to
// see whether it was kept.
type exchange struct {
	raw     string
	methods []string
}

// outcome is what a server answered to an exchange.
type outcome struct {
	Responses []result
	FollowUp  result // the follow-up's response, Err "closed" if the connection was closed
}

const followUp = "GET /echo?follow-up HTTP/1.1\r\nHost: example.com\r\n\r\n"

func run(t testing.TB, addr string, steps ...exchange) outcome {
	t.Helper()
	c := dial(t, addr)
	var o outcome
	for _, ex := range steps {
		wrote := c.write(ex.raw)
		for _, m := range ex.methods {
			r := c.read(m)
			o.Responses = append(o.Responses, r)
			if r.Err != "" {
				break
			}
		}
		select {
		case <-wrote:
		case <-time.After(ioTimeout):
			t.Fatalf("writing the request did not finish")
		}
		if last := o.Responses[len(o.Responses)-1]; last.Err != "" {
			o.FollowUp = result{Err: "closed"}
			return o
		}
	}
	_ = <-c.write(followUp)
	o.FollowUp = c.read(http.MethodGet)
	return o
}

// check runs a block of assertions against t.
func check(t *testing.T, f func(assert.TestingT)) {
	t.Helper()
	f(t)
}

// servedBy tells which server runs the handler: net/http puts its
// *http.Server in the request's context, the loop does not.
func servedBy(r *http.Request) string {
	if r.Context().Value(http.ServerContextKey) != nil {
		return "fallback"
	}
	return "loop"
}

// loopServes reports whether the server at addr (running diffHandler or
// a handler delegating /served-by to it) serves a plain GET itself. The
// probe uses its own connection.
func loopServes(t *testing.T, addr string) bool {
	t.Helper()
	o := run(t, addr, one(get("/served-by")))
	require.Len(t, o.Responses, 1)
	return o.Responses[0].Body == "loop"
}

// requireLoop fails the test when the server at addr, running
// diffHandler or a handler answering /served-by the same way, hands a
// plain GET over instead of serving it: the comparison would then test
// net/http against itself.
func requireLoop(t *testing.T, addr string) {
	t.Helper()
	if !loopServes(t, addr) {
		t.Fatal("the loop handed a plain GET to net/http instead of serving it")
	}
}

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

// regexpDate matches a Date header line in a raw response.
var regexpDate = regexp.MustCompile("Date: [^\r]*\r\n")
