package server

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"goauthentik.io/api/v3"

	"github.com/outpost-go/outposts/authclient/cache"
	"github.com/outpost-go/outposts/authclient/config"
	"github.com/outpost-go/outposts/authclient/outpost/outposttest"

	"github.com/outpost-go/outposts/proxy-outpost/http1"
	"github.com/outpost-go/outposts/proxy-outpost/session"
)

// BenchmarkForwardOverHTTP is forward auth over real loopback HTTP with a
// valid session: the outpost's share of an nginx auth_request.
func BenchmarkForwardOverHTTP(b *testing.B) {
	s, err := New(testRuntime(), Settings{TrustedProxies: DefaultTrustedProxies})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Refresh(context.Background(), []api.ProxyOutpostConfig{provider(1, "app", api.PROXYMODE_FORWARD_SINGLE, "http://app.example.com", "")}); err != nil {
		b.Fatal(err)
	}
	a := s.Lookup("app.example.com")
	id, _ := a.Sessions().NewID()
	if err := a.Sessions().Save(context.Background(), id, &session.Session{Claims: session.Claims{Sub: "u", PreferredUsername: "alice", Groups: []string{"g"}}}); err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	c := &http.Client{Transport: tr}
	b.ReportAllocs()
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/outpost.goauthentik.io/auth/nginx", nil)
			req.Host = "app.example.com"
			req.Header.Set("X-Original-URL", "http://app.example.com/x")
			req.AddCookie(&http.Cookie{Name: a.CookieName(), Value: id.Cookie()})
			resp, err := c.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}

// scriptedConn sends the same request n times, one per read, and discards
// what is written: the outpost's own work per request, without the kernel.
type scriptedConn struct {
	req  []byte
	n    int
	pos  int
	done chan struct{}
}

func (c *scriptedConn) Read(p []byte) (int, error) {
	if c.n == 0 {
		select {
		case <-c.done:
		default:
			close(c.done)
		}
		return 0, io.EOF
	}
	k := copy(p, c.req[c.pos:])
	if c.pos += k; c.pos == len(c.req) {
		c.pos = 0
		c.n--
	}
	return k, nil
}

func (c *scriptedConn) Write(p []byte) (int, error) { return len(p), nil }
func (c *scriptedConn) Close() error                { return nil }
func (c *scriptedConn) LocalAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9000}
}
func (c *scriptedConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
}
func (c *scriptedConn) SetDeadline(time.Time) error      { return nil }
func (c *scriptedConn) SetReadDeadline(time.Time) error  { return nil }
func (c *scriptedConn) SetWriteDeadline(time.Time) error { return nil }

// oneConnListener hands out one connection, then waits to be closed.
type oneConnListener struct {
	c      chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.c:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *oneConnListener) Close() error { l.once.Do(func() { close(l.closed) }); return nil }
func (l *oneConnListener) Addr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9000}
}

// BenchmarkForwardLoop is the outpost's user-space work for one nginx
// auth_request with a valid session, on the plain-HTTP loop (http1) with
// the real handler: parsing, lookup, session, identity headers, response.
// The kernel's part (a read and a write per request) is not in it.
//
// Sessions are in Redis behind the local cache (the Near), as in
// scripts/bench proxy.
func BenchmarkForwardLoop(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := config.Redis{URL: "redis://" + outposttest.NeedRedis(b), KeyPrefix: "forward-loop-bench:" + strconv.FormatInt(time.Now().UnixNano(), 36)}
	c, closeCache, err := cache.New(ctx, cfg, zerolog.Nop(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = closeCache() }()
	rt := testRuntime()
	rt.Config.Redis, rt.Cache = cfg, c
	s, err := New(rt, Settings{TrustedProxies: DefaultTrustedProxies})
	if err != nil {
		b.Fatal(err)
	}
	go s.near.Run(ctx)
	for !s.near.Live() {
		time.Sleep(5 * time.Millisecond)
	}
	if err := s.Refresh(context.Background(), []api.ProxyOutpostConfig{provider(1, "app", api.PROXYMODE_FORWARD_SINGLE, "http://app.example.com", "")}); err != nil {
		b.Fatal(err)
	}
	a := s.Lookup("app.example.com")
	id, _ := a.Sessions().NewID()
	tok := strings.Repeat("t", 900)
	if err := a.Sessions().Save(context.Background(), id, &session.Session{
		Claims:   session.Claims{Sub: "u", PreferredUsername: "alice", Email: "alice@example.com", Name: "Alice", Groups: []string{"engineering", "staff"}},
		RawToken: tok, IDToken: tok, RefreshToken: "r"}); err != nil {
		b.Fatal(err)
	}
	// What the benchmark's nginx sends (scripts/bench proxy).
	req := "GET /outpost.goauthentik.io/auth/nginx HTTP/1.1\r\nHost: app.example.com\r\n" +
		"X-Original-URL: http://app.example.com/\r\nUser-Agent: wrk\r\n" +
		"Cookie: " + a.CookieName() + "=" + id.Cookie() + "\r\n\r\n"
	conn := &scriptedConn{req: []byte(req), n: b.N, done: make(chan struct{})}
	ln := &oneConnListener{c: make(chan net.Conn, 1), closed: make(chan struct{})}
	srv := &http1.Server{Handler: s.Handler()}
	b.ReportAllocs()
	b.ResetTimer()
	ln.c <- conn
	go func() { _ = srv.Serve(ln) }()
	<-conn.done
	b.StopTimer()
	_ = srv.Shutdown(context.Background())
}
