package http1

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

const htmlBody = "<html><body>hello</body></html>"

// diffHandler is the handler both servers run in the differential tests;
// the path picks the behaviour.
var diffHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	switch r.URL.Path {
	case "/empty":
	case "/small":
		_, _ = io.WriteString(w, htmlBody)
	case "/small-ct":
		h.Set("Content-Type", "text/x-test")
		_, _ = io.WriteString(w, "hello")
	case "/chunked":
		for range 100 {
			_, _ = io.WriteString(w, strings.Repeat("0123456789", 10))
		}
	case "/big-one-write":
		_, _ = io.WriteString(w, htmlBody+strings.Repeat("x", 8000))
	case "/mid": // between net/http's 2 KiB and the loop's 4 KiB buffer
		_, _ = io.WriteString(w, strings.Repeat("m", 3000))
	case "/declared":
		h.Set("Content-Type", "text/x-test")
		h.Set("Content-Length", "5")
		_, _ = io.WriteString(w, "hello")
	case "/declared-untyped":
		h.Set("Content-Length", fmt.Sprint(len(htmlBody)))
		_, _ = io.WriteString(w, htmlBody)
	case "/declared-short":
		h.Set("Content-Length", "10")
		_, _ = io.WriteString(w, "hello")
	case "/204":
		w.WriteHeader(http.StatusNoContent)
	case "/204-body":
		w.WriteHeader(http.StatusNoContent)
		_, _ = io.WriteString(w, "not allowed")
	case "/304":
		h.Set("ETag", `"v1"`)
		w.WriteHeader(http.StatusNotModified)
	case "/304-typed":
		h.Set("ETag", `"v1"`)
		h.Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusNotModified)
	case "/103":
		h.Add("Link", "</style.css>; rel=preload; as=style")
		w.WriteHeader(http.StatusEarlyHints)
		h.Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "after hints")
	case "/trailer-small":
		h.Set("Trailer", "X-Sum")
		_, _ = io.WriteString(w, "body")
		h.Set("X-Sum", "42")
	case "/trailer-flush":
		h.Set("Trailer", "X-Sum")
		_, _ = io.WriteString(w, "body")
		w.(http.Flusher).Flush()
		_, _ = io.WriteString(w, "more")
		h.Set("X-Sum", "42")
	case "/trailer-big":
		h.Set("Trailer", "X-Sum, X-Other")
		_, _ = io.WriteString(w, strings.Repeat("b", 5000))
		h.Set("X-Sum", "42")
		h.Set("X-Other", "7")
	case "/trailer-prefix-small":
		_, _ = io.WriteString(w, "body")
		h.Set(http.TrailerPrefix+"X-Late", "1")
	case "/trailer-prefix-flush":
		_, _ = io.WriteString(w, "body")
		w.(http.Flusher).Flush()
		h.Set(http.TrailerPrefix+"X-Late", "1")
	case "/flush":
		_, _ = io.WriteString(w, "first ")
		w.(http.Flusher).Flush()
		_, _ = io.WriteString(w, "second")
	case "/conn-close":
		h.Set("Connection", "close")
		_, _ = io.WriteString(w, "bye")
	case "/read-body":
		b, err := io.ReadAll(r.Body)
		fmt.Fprintf(w, "read %d %q err=%v", len(b), b, err)
	case "/ignore-body":
		_, _ = io.WriteString(w, "ignored")
	case "/close-body":
		_ = r.Body.Close()
		_, _ = io.WriteString(w, "closed")
	case "/served-by":
		_, _ = io.WriteString(w, servedBy(r))
	case "/late-header":
		w.WriteHeader(http.StatusOK)
		h.Set("X-Late", "1")
		_, _ = io.WriteString(w, "x")
	default: // echo
		fmt.Fprintf(w, "%s %s %s host=%s cl=%d", r.Method, r.RequestURI, r.Proto, r.Host, r.ContentLength)
	}
})

func get(path string, extra ...string) string {
	return "GET " + path + " HTTP/1.1\r\nHost: example.com\r\n" + strings.Join(extra, "") + "\r\n"
}

func post(path, body string, extra ...string) string {
	return fmt.Sprintf("POST %s HTTP/1.1\r\nHost: example.com\r\nContent-Length: %d\r\n%s\r\n%s", path, len(body), strings.Join(extra, ""), body)
}

type diffCase struct {
	name    string
	ex      exchange
	then    []exchange // more exchanges on the same connection
	loop    bool       // the case needs the loop to serve (requireLoop)
	differs string     // an intended difference: the outcomes must differ
	config  func(*Server)
}

func one(raw string, method ...string) exchange {
	if len(method) == 0 {
		method = []string{http.MethodGet}
	}
	return exchange{raw: raw, methods: method}
}

// compareWithNetHTTP runs the exchange against an http1.Server and a plain
// net/http server with the same handler and compares what they answered.
func compareWithNetHTTP(t *testing.T, h http.Handler, tc diffCase) {
	t.Parallel()
	loop, _ := startHTTP1(t, h, tc.config)
	plain := startPlain(t, h)
	steps := append([]exchange{tc.ex}, tc.then...)
	got := run(t, loop, steps...)
	want := run(t, plain, steps...)
	if tc.loop {
		requireLoop(t, loop)
	}
	if tc.differs != "" {
		assert.NotEqual(t, want, got, "intended difference (%s) did not show", tc.differs)
		t.Logf("intended difference: %s\nnet/http: %v\nhttp1:    %v", tc.differs, want.Responses, got.Responses)
		return
	}
	check(t, func(t assert.TestingT) {
		if assert.Equal(t, len(want.Responses), len(got.Responses), "responses") {
			for i := range want.Responses {
				assert.Equal(t, want.Responses[i].String(), got.Responses[i].String(), "response %d", i)
			}
		}
		assert.Equal(t, want.FollowUp.String(), got.FollowUp.String(), "follow-up on the same connection")
	})
}

func TestDifferential(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("B", 300<<10)
	cases := []diffCase{
		{name: "empty 200", ex: one(get("/empty"))},
		{name: "small body sniffed", ex: one(get("/small"))},
		{name: "small body with Content-Type", ex: one(get("/small-ct"))},
		{name: "chunked body over 4 KiB", ex: one(get("/chunked"))},
		{name: "declared Content-Length", ex: one(get("/declared"))},
		{name: "declared Content-Length, short body", ex: one(get("/declared-short"))},
		{name: "HEAD empty", ex: one("HEAD /empty HTTP/1.1\r\nHost: example.com\r\n\r\n", "HEAD")},
		{name: "HEAD with typed body", ex: one("HEAD /small-ct HTTP/1.1\r\nHost: example.com\r\n\r\n", "HEAD")},
		{name: "HEAD declared", ex: one("HEAD /declared HTTP/1.1\r\nHost: example.com\r\n\r\n", "HEAD")},
		{name: "HEAD chunked body", ex: one("HEAD /chunked HTTP/1.1\r\nHost: example.com\r\n\r\n", "HEAD")},
		{name: "HEAD untyped small body", ex: one("HEAD /small HTTP/1.1\r\nHost: example.com\r\n\r\n", "HEAD")},
		{name: "204", ex: one(get("/204"))},
		{name: "204 with a body written", ex: one(get("/204-body"))},
		{name: "304", ex: one(get("/304"))},
		{name: "304 with Content-Type", ex: one(get("/304-typed"))},
		{name: "103 Early Hints then 200", ex: one(get("/103"))},
		{name: "trailer declared, flushed", ex: one(get("/trailer-flush"))},
		{name: "trailer declared, body over 4 KiB", ex: one(get("/trailer-big"))},
		{name: "TrailerPrefix after flush", ex: one(get("/trailer-prefix-flush"))},
		{name: "trailer declared, small body", ex: one(get("/trailer-small"))},
		// net/http drops these trailers too (the prefix key came after
		// the header was fixed): not a difference.
		{name: "TrailerPrefix, small body", ex: one(get("/trailer-prefix-small"))},
		{name: "flush mid-body", ex: one(get("/flush"))},
		{name: "handler sets Connection: close", ex: one(get("/conn-close"))},
		{name: "request Connection: close", ex: one(get("/echo", "Connection: close\r\n"))},
		{name: "POST body read", ex: one(post("/read-body", "hello, body"))},
		{name: "POST body not read, drained", ex: one(post("/ignore-body", strings.Repeat("d", 10<<10)))},
		{name: "POST body closed by handler", ex: one(post("/close-body", "small"))},
		{name: "POST body over 256 KiB not read, closed", ex: one(post("/ignore-body", big))},
		{name: "POST body of exactly 256 KiB not read", ex: one(post("/ignore-body", strings.Repeat("e", 256<<10)))},
		{name: "query and escaped path", ex: one(get("/echo/a%2Fb?x=1&y=%20"))},
		{name: "absolute-form with Host", ex: one("GET http://example.com/echo HTTP/1.1\r\nHost: example.com\r\n\r\n")},
		{name: "header after WriteHeader", ex: one(get("/late-header")),
			differs: "header fields changed after WriteHeader and before the first Write are still sent (net/http copies the header at WriteHeader; the loop saves that copy)"},
		{name: "body over 4 KiB in one Write is sniffed", ex: one(get("/big-one-write"))},
		{name: "declared Content-Length without Content-Type is sniffed", ex: one(get("/declared-untyped"))},
		{name: "OPTIONS *", ex: one("OPTIONS * HTTP/1.1\r\nHost: example.com\r\n\r\n")},
		{name: "absolute-form without Host header", ex: one("GET http://example.com/echo HTTP/1.1\r\n\r\n")},
		{name: "absolute-form with malformed Host header", ex: one("GET http://example.com/echo HTTP/1.1\r\nHost: a b\r\n\r\n")},
		{name: "CRLF after a POST body", ex: one(post("/read-body", "abc")+"\r\n"+get("/echo"), "POST", "GET"),
			config: func(s *Server) { s.ReadHeaderTimeout = time.Second }},
		{name: "body between 2 and 4 KiB", ex: one(get("/mid")),
			loop: true, differs: "the loop buffers 4 KiB before chunking, net/http 2 KiB: Content-Length instead of chunked"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { compareWithNetHTTP(t, diffHandler, tc) })
	}
}
