//go:build unix

package upstream

import (
	"crypto/tls"
	"net"
	"syscall"
	"unsafe"
)

// idleOK reports whether an idle connection is still open and has
// received nothing since its last response; net/http's Transport drops
// such a connection too ("Unsolicited response received on idle HTTP
// channel").
func (c *conn) idleOK() bool {
	if c.br.Buffered() > 0 {
		return false
	}
	if c.raw == nil {
		return true
	}
	if c.peekFn == nil {
		// Made once per connection: a closure per call would allocate.
		c.peekFn = c.peek
	}
	_ = c.raw.Read(c.peekFn)
	return c.idle
}

// peek sets idle: nothing to read on the socket, and not closed.
func (c *conn) peek(fd uintptr) bool {
	var b [1]byte
	// Raw: it returns at once (rawio says why that matters).
	_, _, err := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), 1, syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
	c.idle = err == syscall.EAGAIN
	return true
}

// rawConn is nc's socket for idleOK, looked up once per connection
// (SyscallConn allocates), or nil when nc has none.
func rawConn(nc net.Conn) syscall.RawConn {
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}
