package proxyproto

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// EnvTrustedProxyCIDRs lists the proxies whose PROXY headers are believed
// (authentik's listen.trusted_proxy_cidrs), comma-separated.
const EnvTrustedProxyCIDRs = "AUTHENTIK_LISTEN__TRUSTED_PROXY_CIDRS"

// DefaultTimeout bounds the wait for a header when the caller gives none.
const DefaultTimeout = 5 * time.Second

// ParseCIDRs parses a comma-separated list of CIDRs or single addresses
// ("10.0.0.0/8, 192.0.2.7, ::1"). Empty items are skipped.
func ParseCIDRs(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if !strings.Contains(item, "/") {
			a, err := netip.ParseAddr(item)
			if err != nil {
				return nil, fmt.Errorf("%q is neither a CIDR nor an address", item)
			}
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(item)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR: %w", item, err)
		}
		out = append(out, netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-unmapBits(p)).Masked())
	}
	return out, nil
}

// unmapBits is how many prefix bits the ::ffff:0:0/96 part of an
// IPv4-mapped prefix takes.
func unmapBits(p netip.Prefix) int {
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		return 96
	}
	return 0
}

// TrustedFromEnv reads EnvTrustedProxyCIDRs through getenv. An empty result
// means the PROXY protocol is off.
func TrustedFromEnv(getenv func(string) string) ([]netip.Prefix, error) {
	p, err := ParseCIDRs(getenv(EnvTrustedProxyCIDRs))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", EnvTrustedProxyCIDRs, err)
	}
	return p, nil
}

// Option changes a listener's behaviour.
type Option func(*listener)

// HeaderOptional lets trusted peers omit the header; their own address is
// then the client's.
func HeaderOptional() Option { return func(l *listener) { l.optional = true } }

type listener struct {
	net.Listener
	trusted  []netip.Prefix
	timeout  time.Duration
	optional bool
}

// NewListener wraps ln so connections from trusted peers are read as PROXY
// protocol connections (see the package doc). timeout bounds the wait for
// the header (DefaultTimeout when <= 0). With no trusted prefixes it
// returns ln unchanged.
func NewListener(ln net.Listener, trusted []netip.Prefix, timeout time.Duration, opts ...Option) net.Listener {
	if len(trusted) == 0 {
		return ln
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	l := &listener{Listener: ln, trusted: trusted, timeout: timeout}
	for _, o := range opts {
		o(l)
	}
	return l
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if !l.isTrusted(c.RemoteAddr()) {
		return c, nil
	}
	return &Conn{Conn: c, r: bufio.NewReader(c), timeout: l.timeout, optional: l.optional}, nil
}

func (l *listener) isTrusted(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return false
	}
	ip, ok := netip.AddrFromSlice(ta.IP)
	if !ok {
		return false
	}
	ip = ip.Unmap()
	for _, p := range l.trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// Conn is a connection from a trusted proxy.
type Conn struct {
	net.Conn
	r        *bufio.Reader
	timeout  time.Duration
	optional bool

	once   sync.Once
	hdr    Header
	hdrErr error

	mu           sync.Mutex
	readDeadline time.Time // the caller's, restored after the header
}

// Header returns the PROXY header (reading it if needed). The Header is
// zero when the peer sent none and was allowed not to.
func (c *Conn) Header() (Header, error) {
	c.once.Do(c.readHeader)
	return c.hdr, c.hdrErr
}

func (c *Conn) readHeader() {
	_ = c.Conn.SetReadDeadline(time.Now().Add(c.timeout))
	defer func() {
		c.mu.Lock()
		_ = c.Conn.SetReadDeadline(c.readDeadline)
		c.mu.Unlock()
	}()
	ok, err := hasHeader(c.r)
	switch {
	case err != nil:
		c.hdrErr = fmt.Errorf("proxy protocol: read header: %w", err)
	case !ok && !c.optional:
		c.hdrErr = ErrNoHeader
	case ok:
		c.hdr, c.hdrErr = ReadHeader(c.r)
	}
}

// Read reads the header first, then the connection's data.
func (c *Conn) Read(b []byte) (int, error) {
	if _, err := c.Header(); err != nil {
		return 0, err
	}
	return c.r.Read(b)
}

// RemoteAddr is the client's address as the proxy reported it, or the
// peer's address when there is no usable header.
func (c *Conn) RemoteAddr() net.Addr {
	if h, err := c.Header(); err == nil && h.Src.IsValid() {
		return tcpAddr(h.Src)
	}
	return c.Conn.RemoteAddr()
}

// LocalAddr is the address the client connected to, as the proxy reported it.
func (c *Conn) LocalAddr() net.Addr {
	if h, err := c.Header(); err == nil && h.Dst.IsValid() {
		return tcpAddr(h.Dst)
	}
	return c.Conn.LocalAddr()
}

// SetDeadline keeps the read deadline so the header wait cannot lose it.
func (c *Conn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	c.readDeadline = t
	c.mu.Unlock()
	return c.Conn.SetDeadline(t)
}

// SetReadDeadline keeps the deadline so the header wait cannot lose it.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.readDeadline = t
	c.mu.Unlock()
	return c.Conn.SetReadDeadline(t)
}

// IsHeaderError reports whether err comes from a missing or bad header.
func IsHeaderError(err error) bool {
	var he *HeaderError
	return errors.Is(err, ErrNoHeader) || errors.As(err, &he)
}
