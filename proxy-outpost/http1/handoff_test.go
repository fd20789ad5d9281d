package http1

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHandoff sends what the loop hands to Fallback and checks that the
// answers, and whether the connection is kept for a follow-up request,
// are those of a plain net/http server.
func TestHandoff(t *testing.T) {
	t.Parallel()
	small := func(s *Server) { s.BufferSize = 1024 }
	bigHeader := "X-Big: " + strings.Repeat("h", 2000) + "\r\n"
	cases := []diffCase{
		{name: "HTTP/1.0", ex: one("GET /echo HTTP/1.0\r\n\r\n")},
		{name: "HTTP/1.0 keep-alive", ex: one("GET /echo HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")},
		{name: "HTTP/1.0 keep-alive, chunked response", ex: one("GET /chunked HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")},
		{name: "chunked request body", ex: one("POST /read-body HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")},
		{name: "chunked request body with trailer", ex: one("POST /read-body HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n")},
		{name: "unsupported Transfer-Encoding", ex: one("POST /read-body HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n")},
		{name: "Content-Length and Transfer-Encoding", ex: one("POST /read-body HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")},
		{name: "Expect: 100-continue", ex: one(post("/read-body", "continued", "Expect: 100-continue\r\n"))},
		{name: "Expect: 100-continue, body not read", ex: one(post("/ignore-body", "continued", "Expect: 100-continue\r\n"))},
		{name: "unknown Expect", ex: one(post("/read-body", "x", "Expect: teapot\r\n"))},
		{name: "header block larger than BufferSize", ex: one(get("/echo", bigHeader)), config: small},
		{name: "large header block with body", ex: one(post("/read-body", "payload", bigHeader)), config: small},
		{name: "malformed request line", ex: one("GARBAGE\r\n\r\n")},
		{name: "malformed HTTP version", ex: one("GET / HTTP/x.y\r\nHost: a\r\n\r\n")},
		{name: "HTTP/1.2", ex: one("GET /echo HTTP/1.2\r\nHost: a\r\n\r\n")},
		{name: "invalid header name", ex: one(get("/echo", "Bad Name: x\r\n"))},
		{name: "invalid header value", ex: one(get("/echo", "X-Ctl: a\x01b\r\n"))},
		{name: "header without colon", ex: one(get("/echo", "NoColon\r\n"))},
		{name: "leading space before first header", ex: one("GET /echo HTTP/1.1\r\n Host: a\r\n\r\n")},
		{name: "obs-fold", ex: one(get("/echo", "X-Folded: a\r\n  b\r\n"))},
		{name: "missing Host", ex: one("GET /echo HTTP/1.1\r\n\r\n")},
		{name: "empty Host", ex: one("GET /echo HTTP/1.1\r\nHost:\r\n\r\n")},
		{name: "two Host headers", ex: one("GET /echo HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")},
		{name: "malformed Host", ex: one("GET /echo HTTP/1.1\r\nHost: a b\r\n\r\n")},
		{name: "two different Content-Lengths", ex: one("POST /read-body HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab")},
		{name: "negative Content-Length", ex: one("POST /read-body HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n")},
		{name: "CONNECT", ex: one("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")},
		{name: "HTTP/2 preface", ex: one("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")},
		{name: "bare LF line endings", ex: one("GET /echo HTTP/1.1\nHost: a\n\n")},
		{name: "request after a handed-over one", ex: one("GET /echo HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"),
			then: []exchange{one(get("/echo?second")), one(post("/read-body", "third"))}},
		{name: "handed-over request after a served one", ex: one(get("/echo?first")),
			then: []exchange{one("GET /echo?second HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")}},
		{name: "too large header block after a served request", ex: one(get("/echo?first")),
			then: []exchange{one(get("/echo?second", bigHeader))}, config: small, loop: true},
		{name: "pipelined: served request then handed-over one", ex: one(get("/echo?first")+"GET /echo?second HTTP/1.0\r\n\r\n", "GET", "GET"), loop: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { compareWithNetHTTP(t, diffHandler, tc) })
	}
}

// TestPartialRequestAtEOF: a client sends part of a header block and
// closes its write side. net/http answers 400; the loop closes silently
// (its comment says net/http answers nothing either).
func TestPartialRequestAtEOF(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, raw string
	}{
		{"request line only", "GET /echo HTTP/1.1\r\n"},
		{"half a header", "GET /echo HTTP/1.1\r\nHost: a\r\nX-Half: "},
		{"partial request line", "GET /ec"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			loop, _ := startHTTP1(t, diffHandler, nil)
			requireLoop(t, loop)
			plain := startPlain(t, diffHandler)
			answer := func(addr string) string {
				c := dial(t, addr)
				c.writeNow(tc.raw)
				require.NoError(t, c.c.(interface{ CloseWrite() error }).CloseWrite())
				return c.read(http.MethodGet).String()
			}
			want, got := answer(plain), answer(loop)
			check(t, func(t assert.TestingT) {
				assert.Equal(t, want, got)
			})
		})
	}
}

// TestHandoffConnectionsTracked: a handed-over connection belongs to
// Fallback, which Shutdown shuts down too.
func TestHandoffShutdown(t *testing.T) {
	t.Parallel()
	addr, s := startHTTP1(t, diffHandler, nil)
	c := dial(t, addr)
	c.writeNow("GET /echo HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
	r := c.read(http.MethodGet)
	require.Empty(t, r.Err)
	require.Equal(t, http.StatusOK, r.Status)
	// Shutdown returns only once Fallback has closed the idle handed-over
	// connection.
	shutdownUnbounded(t, s.Shutdown, "Fallback does not close the idle handed-over connection")
	assert.Equal(t, "closed", c.state(ioTimeout), "the idle handed-over connection is closed by Fallback.Shutdown")
}
