package proxyproto

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// v2Signature starts every v2 header.
var v2Signature = []byte("\r\n\r\n\x00\r\nQUIT\n")

const (
	v1Prefix    = "PROXY "
	v1MaxLength = 107 // including CRLF (spec §2.1)
	// v2MaxPayload bounds the TLV area we are willing to skip; the spec
	// allows 65535 but real balancers send a few hundred bytes.
	v2MaxPayload = 4096
)

// ErrNoHeader means a trusted peer sent no PROXY header where one is required.
var ErrNoHeader = errors.New("proxy protocol: no header from a trusted proxy")

// HeaderError is a malformed PROXY header.
type HeaderError struct{ Reason string }

func (e *HeaderError) Error() string { return "proxy protocol: " + e.Reason }

func bad(format string, args ...any) error {
	return &HeaderError{Reason: fmt.Sprintf(format, args...)}
}

// Header is what a PROXY header says. Src and Dst are invalid for a v1
// "UNKNOWN" or a v2 LOCAL/unspecified header: the connection's own
// addresses apply.
type Header struct {
	Version int
	Src     netip.AddrPort
	Dst     netip.AddrPort
}

// hasHeader reports whether r starts with something that must be a PROXY
// header. It only peeks beyond the first byte when that byte can start one,
// so a client that speaks first with a short message is never stalled.
func hasHeader(r *bufio.Reader) (bool, error) {
	b, err := r.Peek(1)
	if err != nil {
		return false, err
	}
	switch b[0] {
	case 'P':
		b, err = r.Peek(len(v1Prefix))
		if err != nil {
			return false, err
		}
		return string(b) == v1Prefix, nil
	case '\r':
		b, err = r.Peek(len(v2Signature))
		if err != nil {
			return false, err
		}
		return bytes.Equal(b, v2Signature), nil
	}
	return false, nil
}

// ReadHeader reads one v1 or v2 header from r. It never reads past the
// header, so what follows stays in r for the server.
func ReadHeader(r *bufio.Reader) (Header, error) {
	b, err := r.Peek(1)
	if err != nil {
		return Header{}, err
	}
	if b[0] == 'P' {
		return readV1(r)
	}
	return readV2(r)
}

func readV1(r *bufio.Reader) (Header, error) {
	var line []byte
	for len(line) < v1MaxLength {
		c, err := r.ReadByte()
		if err != nil {
			return Header{}, fmt.Errorf("proxy protocol v1: %w", err)
		}
		line = append(line, c)
		if c == '\n' {
			break
		}
	}
	if !bytes.HasSuffix(line, []byte("\r\n")) {
		return Header{}, bad("v1 header longer than %d bytes or not ended by CRLF", v1MaxLength)
	}
	s := string(line[:len(line)-2])
	if !strings.HasPrefix(s, v1Prefix) {
		return Header{}, bad("v1 header does not start with %q", v1Prefix)
	}
	f := strings.Split(s[len(v1Prefix):], " ")
	if f[0] == "UNKNOWN" {
		// The rest of the line is to be ignored (spec §2.1).
		return Header{Version: 1}, nil
	}
	if len(f) != 5 {
		return Header{}, bad("v1 header has %d fields, want 6", len(f)+1)
	}
	var want6 bool
	switch f[0] {
	case "TCP4":
	case "TCP6":
		want6 = true
	default:
		return Header{}, bad("v1 protocol %q is not TCP4, TCP6 or UNKNOWN", f[0])
	}
	src, err := v1AddrPort(f[1], f[3], want6)
	if err != nil {
		return Header{}, err
	}
	dst, err := v1AddrPort(f[2], f[4], want6)
	if err != nil {
		return Header{}, err
	}
	return Header{Version: 1, Src: src, Dst: dst}, nil
}

func v1AddrPort(addr, port string, want6 bool) (netip.AddrPort, error) {
	a, err := netip.ParseAddr(addr)
	if err != nil || a.Zone() != "" || a.Is6() != want6 {
		return netip.AddrPort{}, bad("v1 address %q is not a plain IPv%s address", addr, map[bool]string{false: "4", true: "6"}[want6])
	}
	// Ports are decimal without leading zeros (spec §2.1).
	if port == "" || (len(port) > 1 && port[0] == '0') {
		return netip.AddrPort{}, bad("v1 port %q is invalid", port)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return netip.AddrPort{}, bad("v1 port %q is invalid", port)
	}
	return netip.AddrPortFrom(a, uint16(p)), nil
}

func readV2(r *bufio.Reader) (Header, error) {
	var fixed [16]byte
	if _, err := ioReadFull(r, fixed[:]); err != nil {
		return Header{}, fmt.Errorf("proxy protocol v2: %w", err)
	}
	if !bytes.Equal(fixed[:12], v2Signature) {
		return Header{}, bad("v2 signature mismatch")
	}
	if fixed[12]>>4 != 2 {
		return Header{}, bad("v2 version nibble is %d", fixed[12]>>4)
	}
	cmd := fixed[12] & 0x0f
	if cmd > 1 {
		return Header{}, bad("v2 command %d is neither LOCAL nor PROXY", cmd)
	}
	fam := fixed[13]
	n := int(binary.BigEndian.Uint16(fixed[14:16]))
	if n > v2MaxPayload {
		return Header{}, bad("v2 payload of %d bytes exceeds %d", n, v2MaxPayload)
	}
	payload := make([]byte, n)
	if _, err := ioReadFull(r, payload); err != nil {
		return Header{}, fmt.Errorf("proxy protocol v2 payload: %w", err)
	}
	h := Header{Version: 2}
	if cmd == 0 {
		// LOCAL: the balancer's own health check; addresses are ignored.
		return h, nil
	}
	switch fam >> 4 {
	case 1: // AF_INET
		if n < 12 {
			return Header{}, bad("v2 IPv4 payload of %d bytes is too short", n)
		}
		h.Src = netip.AddrPortFrom(netip.AddrFrom4([4]byte(payload[0:4])), binary.BigEndian.Uint16(payload[8:10]))
		h.Dst = netip.AddrPortFrom(netip.AddrFrom4([4]byte(payload[4:8])), binary.BigEndian.Uint16(payload[10:12]))
	case 2: // AF_INET6
		if n < 36 {
			return Header{}, bad("v2 IPv6 payload of %d bytes is too short", n)
		}
		h.Src = netip.AddrPortFrom(netip.AddrFrom16([16]byte(payload[0:16])), binary.BigEndian.Uint16(payload[32:34]))
		h.Dst = netip.AddrPortFrom(netip.AddrFrom16([16]byte(payload[16:32])), binary.BigEndian.Uint16(payload[34:36]))
	case 0, 3: // unspecified, AF_UNIX: nothing usable as an IP address
	default:
		return Header{}, bad("v2 address family %d is unknown", fam>>4)
	}
	if t := fam & 0x0f; t > 2 {
		return Header{}, bad("v2 transport %d is unknown", t)
	}
	return h, nil
}

func ioReadFull(r *bufio.Reader, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := r.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// tcpAddr turns an AddrPort into the net.Addr servers expect.
func tcpAddr(ap netip.AddrPort) net.Addr {
	return net.TCPAddrFromAddrPort(netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()))
}
