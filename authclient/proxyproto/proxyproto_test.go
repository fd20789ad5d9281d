package proxyproto

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func v2(cmd, fam byte, payload []byte) []byte {
	b := append([]byte{}, v2Signature...)
	b = append(b, 0x20|cmd, fam, 0, 0)
	binary.BigEndian.PutUint16(b[14:], uint16(len(payload)))
	return append(b, payload...)
}

func v2IPv4() []byte {
	p := []byte{192, 0, 2, 1, 198, 51, 100, 2, 0x30, 0x39, 0x01, 0xbb}
	return v2(1, 0x11, append(p, 0x04, 0x00, 0x01, 'x')) // plus a TLV
}

func v2IPv6() []byte {
	src := netip.MustParseAddr("2001:db8::1").As16()
	dst := netip.MustParseAddr("2001:db8::2").As16()
	p := append(append(src[:], dst[:]...), 0x30, 0x39, 0x01, 0xbb)
	return v2(1, 0x21, p)
}

func TestReadHeader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      []byte
		src     string
		wantErr string
	}{
		{name: "v1 tcp4", in: []byte("PROXY TCP4 192.0.2.1 198.51.100.2 12345 443\r\n"), src: "192.0.2.1:12345"},
		{name: "v1 tcp6", in: []byte("PROXY TCP6 2001:db8::1 2001:db8::2 12345 443\r\n"), src: "[2001:db8::1]:12345"},
		{name: "v1 unknown", in: []byte("PROXY UNKNOWN whatever\r\n")},
		{name: "v2 ipv4 with tlv", in: v2IPv4(), src: "192.0.2.1:12345"},
		{name: "v2 ipv6", in: v2IPv6(), src: "[2001:db8::1]:12345"},
		{name: "v2 local", in: v2(0, 0x00, nil)},
		{name: "v2 unix", in: v2(1, 0x31, make([]byte, 216))},
		{name: "v1 no crlf", in: []byte("PROXY TCP4 192.0.2.1 198.51.100.2 12345 443\n"), wantErr: "CRLF"},
		{name: "v1 too long", in: []byte("PROXY TCP4 " + strings.Repeat("1", 200) + "\r\n"), wantErr: "longer"},
		{name: "v1 bad family", in: []byte("PROXY UDP4 192.0.2.1 198.51.100.2 1 2\r\n"), wantErr: "UDP4"},
		{name: "v1 v6 address in tcp4", in: []byte("PROXY TCP4 ::1 ::1 1 2\r\n"), wantErr: "IPv4"},
		{name: "v1 port leading zero", in: []byte("PROXY TCP4 192.0.2.1 198.51.100.2 0123 443\r\n"), wantErr: "port"},
		{name: "v1 port too big", in: []byte("PROXY TCP4 192.0.2.1 198.51.100.2 65536 443\r\n"), wantErr: "port"},
		{name: "v1 fields", in: []byte("PROXY TCP4 192.0.2.1\r\n"), wantErr: "fields"},
		{name: "v1 truncated", in: []byte("PROXY TCP4 192.0.2.1"), wantErr: "EOF"},
		{name: "v2 bad version", in: func() []byte { b := v2IPv4(); b[12] = 0x31; return b }(), wantErr: "version"},
		{name: "v2 bad command", in: v2(2, 0x11, make([]byte, 12)), wantErr: "command"},
		{name: "v2 short ipv4", in: v2(1, 0x11, make([]byte, 4)), wantErr: "too short"},
		{name: "v2 short ipv6", in: v2(1, 0x21, make([]byte, 12)), wantErr: "too short"},
		{name: "v2 bad family", in: v2(1, 0x51, make([]byte, 12)), wantErr: "family"},
		{name: "v2 truncated payload", in: v2IPv4()[:20], wantErr: "EOF"},
		{name: "v2 huge payload", in: func() []byte { b := v2(1, 0x11, nil); b[14], b[15] = 0xff, 0xff; return b }(), wantErr: "exceeds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := bufio.NewReader(io.MultiReader(bytes.NewReader(tt.in), strings.NewReader("rest")))
			h, err := ReadHeader(r)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			if tt.src == "" {
				assert.False(t, h.Src.IsValid())
			} else {
				assert.Equal(t, tt.src, h.Src.String())
			}
			rest, _ := io.ReadAll(r)
			assert.Equal(t, "rest", string(rest), "reads exactly the header")
		})
	}
}

func TestParseCIDRs(t *testing.T) {
	t.Parallel()
	got, err := ParseCIDRs(" 10.0.0.0/8, 192.0.2.7 ,,::1, 10.1.2.3/16, ::ffff:192.0.2.0/120")
	require.NoError(t, err)
	want := []string{"10.0.0.0/8", "192.0.2.7/32", "::1/128", "10.1.0.0/16", "192.0.2.0/24"}
	var s []string
	for _, p := range got {
		s = append(s, p.String())
	}
	assert.Equal(t, want, s)
	for _, in := range []string{"nonsense", "10.0.0.0/33", "host.example"} {
		_, err := ParseCIDRs(in)
		assert.Error(t, err, in)
	}
	p, err := TrustedFromEnv(func(string) string { return "" })
	require.NoError(t, err)
	assert.Empty(t, p)
	_, err = TrustedFromEnv(func(string) string { return "x" })
	assert.ErrorContains(t, err, EnvTrustedProxyCIDRs)
}

// echoServer accepts on ln and, per connection, writes RemoteAddr and then
// echoes one line, or the Read error.
func echoServer(t *testing.T, ln net.Listener) {
	t.Helper()
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				line, err := bufio.NewReader(c).ReadString('\n')
				if err != nil {
					_, _ = io.WriteString(c, "error "+err.Error()+"\n")
					return
				}
				_, _ = io.WriteString(c, c.RemoteAddr().String()+" "+line)
			}()
		}
	}()
}

func roundTrip(t *testing.T, addr string, send []byte) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	_, err = c.Write(send)
	require.NoError(t, err)
	out, _ := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(out)
}

func TestListener(t *testing.T) {
	t.Parallel()
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	other := []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
	hdr := "PROXY TCP4 203.0.113.9 198.51.100.2 40000 389\r\n"
	tests := []struct {
		name    string
		trusted []netip.Prefix
		opts    []Option
		send    string
		want    string // prefix of the answer
	}{
		{name: "trusted v1", trusted: loopback, send: hdr + "hello\n", want: "203.0.113.9:40000 hello"},
		{name: "trusted v2", trusted: loopback, send: string(v2IPv4()) + "hello\n", want: "192.0.2.1:12345 hello"},
		{name: "trusted without header", trusted: loopback, send: "hello\n", want: "error " + ErrNoHeader.Error()},
		{name: "trusted optional without header", trusted: loopback, opts: []Option{HeaderOptional()}, send: "hello\n", want: "127.0.0.1:"},
		{name: "trusted optional with header", trusted: loopback, opts: []Option{HeaderOptional()}, send: hdr + "hi\n", want: "203.0.113.9:40000 hi"},
		{name: "trusted bad header", trusted: loopback, send: "PROXY TCP4 x y 1 2\r\nhello\n", want: "error proxy protocol"},
		{name: "untrusted header not honoured", trusted: other, send: hdr + "hello\n", want: "127.0.0.1:"},
		{name: "off", send: hdr + "hello\n", want: "127.0.0.1:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			pl := NewListener(ln, tt.trusted, 5*time.Second, tt.opts...)
			echoServer(t, pl)
			got := roundTrip(t, ln.Addr().String(), []byte(tt.send))
			assert.True(t, strings.HasPrefix(got, tt.want), "got %q, want prefix %q", got, tt.want)
		})
	}
}

func TestListenerHeaderTimeout(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	pl := NewListener(ln, []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, 50*time.Millisecond)
	echoServer(t, pl)
	c, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	// Say nothing: the server gives up on the header and closes.
	out, _ := bufio.NewReader(c).ReadString('\n')
	assert.Contains(t, out, "timeout")

	// A slow client does not block Accept for others.
	got := roundTrip(t, ln.Addr().String(), []byte("PROXY TCP4 203.0.113.9 198.51.100.2 1 2\r\nx\n"))
	assert.Equal(t, "203.0.113.9:1 x", got)
}

func TestConnKeepsCallerDeadline(t *testing.T) {
	t.Parallel()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	c := &Conn{Conn: b, r: bufio.NewReader(b), timeout: time.Second}
	require.NoError(t, c.SetReadDeadline(time.Now().Add(-time.Second)))
	go func() { _, _ = a.Write([]byte("PROXY UNKNOWN\r\n")) }()
	_, err := c.Read(make([]byte, 1))
	// The header wait used its own deadline; afterwards the caller's
	// (already passed) deadline is back in force.
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	assert.True(t, ne.Timeout())
	h, err := c.Header()
	require.NoError(t, err)
	assert.Equal(t, 1, h.Version)
}
