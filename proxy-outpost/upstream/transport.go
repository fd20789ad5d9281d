// Package upstream is proxy mode's path to the application: it forwards a
// client's request over a pool of kept-alive HTTP/1.1 connections and
// streams the response back, on the handler's own goroutine.
//
// It replaces httputil.ReverseProxy over net/http's Transport, which on a
// small machine spent more than the outpost's own work on every proxied
// request: a deep copy of the request and its headers, hop-by-hop
// deletions on the copy, sorted header writing, and two goroutines per
// upstream connection handing each exchange over channels. Here the
// request head is written once, straight from the client's headers, and
// the response is read on the same goroutine: a plain Content-Length
// response by a strict parser that takes only what http.ReadResponse
// would read the same way (parse.go, fuzzed against it), any other by
// http.ReadResponse itself. The behaviour a client or an application sees is
// ReverseProxy's: hop-by-hop headers dropped both ways, trailers, 1xx
// Early Hints, streaming responses flushed as they arrive, and protocol
// upgrades (WebSocket) spliced after the 101.
package upstream

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync"
	"syscall"
	"time"

	"github.com/outpost-go/outposts/proxy-outpost/internal/rawio"
)

// Defaults for Options' zero values.
const (
	DefaultMaxIdlePerHost = 128
	DefaultIdleTimeout    = 90 * time.Second
	DefaultDialTimeout    = 30 * time.Second
)

// Options configure a Transport.
type Options struct {
	// TLSConfig is used for https upstreams; ServerName defaults to the
	// upstream's host name. HTTP/2 is never negotiated.
	TLSConfig *tls.Config
	// MaxIdlePerHost bounds the idle connections kept per upstream.
	MaxIdlePerHost int
	// IdleTimeout closes connections idle longer than this.
	IdleTimeout time.Duration
	// DialTimeout bounds connecting and the TLS handshake.
	DialTimeout time.Duration
}

// Transport holds the kept-alive connections to the upstreams and forwards
// requests over them.
type Transport struct {
	opts   Options
	dialer net.Dialer

	mu   sync.Mutex
	idle map[poolKey][]*conn
}

// poolKey is the upstream a connection belongs to.
type poolKey struct{ scheme, host string }

// New returns a Transport.
func New(opts Options) *Transport {
	if opts.MaxIdlePerHost <= 0 {
		opts.MaxIdlePerHost = DefaultMaxIdlePerHost
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = DefaultDialTimeout
	}
	return &Transport{
		opts:   opts,
		dialer: net.Dialer{Timeout: opts.DialTimeout, KeepAlive: 30 * time.Second},
		idle:   map[poolKey][]*conn{},
	}
}

type conn struct {
	key      poolKey
	nc       net.Conn
	raw      syscall.RawConn // nc's socket, for idleOK; nil without one
	peekFn   func(fd uintptr) bool
	idle     bool // the last peek's answer
	br       *bufio.Reader
	bw       *bufio.Writer
	lastUsed time.Time
	reused   bool
	broken   bool // a cancelled request set a deadline in the past
}

// get takes an idle connection to u, or dials one.
func (t *Transport) get(ctx context.Context, u *url.URL) (*conn, error) {
	key := poolKey{u.Scheme, u.Host}
	now := time.Now()
	t.mu.Lock()
	for {
		cs := t.idle[key]
		if len(cs) == 0 {
			break
		}
		c := cs[len(cs)-1]
		cs[len(cs)-1] = nil
		t.idle[key] = cs[:len(cs)-1]
		if now.Sub(c.lastUsed) < t.opts.IdleTimeout {
			t.mu.Unlock()
			if !c.idleOK() {
				_ = c.nc.Close()
				t.mu.Lock()
				continue
			}
			c.reused = true
			return c, nil
		}
		_ = c.nc.Close()
	}
	t.mu.Unlock()
	return t.dial(ctx, key, u)
}

func (t *Transport) dial(ctx context.Context, key poolKey, u *url.URL) (*conn, error) {
	addr := u.Host
	if u.Port() == "" {
		port := "80"
		if u.Scheme == "https" {
			port = "443"
		}
		addr = net.JoinHostPort(u.Hostname(), port)
	}
	nc, err := t.dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if u.Scheme == "https" {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if t.opts.TLSConfig != nil {
			cfg = t.opts.TLSConfig.Clone()
		}
		if cfg.ServerName == "" {
			cfg.ServerName = u.Hostname()
		}
		cfg.NextProtos = []string{"http/1.1"}
		hctx, cancel := context.WithTimeout(ctx, t.opts.DialTimeout)
		defer cancel()
		tc := tls.Client(nc, cfg)
		if err := tc.HandshakeContext(hctx); err != nil {
			_ = nc.Close()
			return nil, fmt.Errorf("tls: %w", err)
		}
		nc = tc
	}
	rw := rawio.Wrap(nc)
	return &conn{key: key, nc: nc, raw: rawConn(nc), br: bufio.NewReader(rw), bw: bufio.NewWriter(rw)}, nil
}

// put returns c to the pool, or closes it when the pool is full or c has
// bytes nobody asked for.
func (t *Transport) put(c *conn) {
	if c.br.Buffered() > 0 {
		_ = c.nc.Close()
		return
	}
	c.lastUsed = time.Now()
	t.mu.Lock()
	if cs := t.idle[c.key]; len(cs) < t.opts.MaxIdlePerHost {
		t.idle[c.key] = append(cs, c)
		t.mu.Unlock()
		return
	}
	t.mu.Unlock()
	_ = c.nc.Close()
}

// CloseIdleConnections closes the pooled connections.
func (t *Transport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle = map[poolKey][]*conn{}
	t.mu.Unlock()
	for _, cs := range idle {
		for _, c := range cs {
			_ = c.nc.Close()
		}
	}
}

// errStale marks a pooled connection the upstream had closed: nothing of
// the request reached the application, so it may be sent again.
var errStale = errors.New("upstream closed an idle connection")
