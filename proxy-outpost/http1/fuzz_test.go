package http1

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// seenRequest is what a handler saw of a request, in a comparable form.
type seenRequest struct {
	Method, RequestURI, URL, Proto, Host string
	ProtoMajor, ProtoMinor               int
	Header                               string
	ContentLength                        int64
	TransferEncoding                     []string
	Close                                bool
	Body                                 string
}

func seen(r *http.Request, body []byte) seenRequest {
	keys := make([]string, 0, len(r.Header))
	for k := range r.Header {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var h strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&h, "%q=%q;", k, r.Header[k])
	}
	return seenRequest{
		Method: r.Method, RequestURI: r.RequestURI, URL: r.URL.String(), Proto: r.Proto, Host: r.Host,
		ProtoMajor: r.ProtoMajor, ProtoMinor: r.ProtoMinor, Header: h.String(),
		ContentLength: r.ContentLength, TransferEncoding: r.TransferEncoding, Close: r.Close, Body: string(body),
	}
}

// fuzzLog keeps, per client address, the requests the loop served.
type fuzzLog struct {
	mu     sync.Mutex
	served map[string][]seenRequest
}

func (l *fuzzLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if servedBy(r) == "loop" {
		l.mu.Lock()
		l.served[r.RemoteAddr] = append(l.served[r.RemoteAddr], seen(r, body))
		l.mu.Unlock()
	}
	fmt.Fprintf(w, "%s %s %s\n", r.Method, r.URL.Path, r.Proto)
	_ = r.Header.Write(w)
}

func (l *fuzzLog) take(addr string) []seenRequest {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.served[addr]
	delete(l.served, addr)
	return s
}

// parseAll parses data as http.ReadRequest does, request after request,
// reading each body.
func parseAll(data []byte, limit int) []seenRequest {
	br := bufio.NewReader(bytes.NewReader(data))
	var out []seenRequest
	for len(out) < limit {
		req, err := http.ReadRequest(br)
		if err != nil {
			break
		}
		body, _ := io.ReadAll(req.Body)
		out = append(out, seen(req, body))
		if req.Method == http.MethodPost {
			// net/http's server skips up to four CR/LF bytes after a
			// POST body (some clients send them), and so does the loop.
			for i := 0; i < 4; i++ {
				b, err := br.Peek(1)
				if err != nil || (b[0] != '\r' && b[0] != '\n') {
					break
				}
				_, _ = br.Discard(1)
			}
		}
	}
	return out
}

// FuzzServe writes arbitrary bytes to a connection of a running server,
// half-closes it and reads everything back: the server must neither panic
// nor hang, and every request the loop served itself must be the one
// http.ReadRequest parses from the same bytes.
func FuzzServe(f *testing.F) {
	for _, seed := range []string{
		get("/"),
		get("/a") + get("/b"),
		post("/p", "hello"),
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		"GET / HTTP/1.0\r\n\r\n",
		"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
	} {
		f.Add([]byte(seed))
	}
	fl := &fuzzLog{served: map[string][]seenRequest{}}
	addr, _ := startHTTP1(f, fl, func(s *Server) {
		s.BufferSize = 1024
		s.ReadHeaderTimeout = 2 * time.Second
		s.Fallback.ReadHeaderTimeout = 2 * time.Second
	})
	f.Fuzz(func(t *testing.T, data []byte) {
		nc, err := net.DialTimeout("tcp", addr, ioTimeout)
		if err != nil {
			t.Skipf("dial: %v", err) // resource exhaustion is not the server's fault
		}
		defer func() {
			// The server closes first; a reset from here ends its side
			// at once, so that tens of thousands of runs leave no
			// TIME_WAIT sockets to run out of ports with.
			_ = nc.(*net.TCPConn).SetLinger(0)
			_ = nc.Close()
		}()
		key := nc.LocalAddr().String()
		wrote := make(chan error, 1)
		go func() {
			_ = nc.SetWriteDeadline(time.Now().Add(ioTimeout))
			_, err := nc.Write(data)
			_ = nc.(*net.TCPConn).CloseWrite()
			wrote <- err
		}()
		_ = nc.SetReadDeadline(time.Now().Add(ioTimeout))
		_, err = io.Copy(io.Discard, nc)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("the server neither answered nor closed within %v for %q", ioTimeout, data)
		}
		<-wrote
		served := fl.take(key)
		if len(served) == 0 {
			return
		}
		parsed := parseAll(data, len(served))
		if len(parsed) < len(served) {
			t.Fatalf("the loop served %d requests, http.ReadRequest parses %d from %q\nserved: %+v", len(served), len(parsed), data, served)
		}
		for i := range served {
			if fmt.Sprintf("%+v", served[i]) != fmt.Sprintf("%+v", parsed[i]) {
				t.Fatalf("request %d of %q:\nloop served:  %+v\nReadRequest: %+v", i, data, served[i], parsed[i])
			}
		}
	})
}
