//go:build linux

package rawio

import (
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"unsafe"
)

// conn is a TCP socket read and written with raw system calls. As with a
// net.Conn, a read and a write may run at once, and concurrent reads (or
// writes) take turns: each direction has its own state, under its own
// lock. The callbacks are made once, so a call does not allocate.
type conn struct {
	nc net.Conn
	rc syscall.RawConn
	r  op
	w  op
}

// op is one direction's call in progress.
type op struct {
	mu  sync.Mutex
	p   []byte
	n   int
	err syscall.Errno
	fn  func(fd uintptr) bool
}

func wrap(tc *net.TCPConn) io.ReadWriter {
	rc, err := tc.SyscallConn()
	if err != nil {
		return tc
	}
	c := &conn{nc: tc, rc: rc}
	c.r.fn = c.read
	c.w.fn = c.write
	return c
}

func (c *conn) read(fd uintptr) bool {
	for {
		n, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(unsafe.SliceData(c.r.p))), uintptr(len(c.r.p)))
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		}
		c.r.n, c.r.err = int(n), e
		return true
	}
}

// Read reads as net.Conn's Read does: io.EOF for the end of the stream,
// the poller's error (a deadline, a closed connection) as a *net.OpError.
func (c *conn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c.r.mu.Lock()
	defer c.r.mu.Unlock()
	c.r.p, c.r.n, c.r.err = p, 0, 0
	err := c.rc.Read(c.r.fn)
	n, errno := c.r.n, c.r.err
	c.r.p = nil
	switch {
	case err != nil:
		return 0, c.opError("read", err)
	case errno != 0:
		return 0, c.opError("read", errno)
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

func (c *conn) write(fd uintptr) bool {
	for c.w.n < len(c.w.p) {
		rest := c.w.p[c.w.n:]
		n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(unsafe.SliceData(rest))), uintptr(len(rest)))
		switch e {
		case 0:
			c.w.n += int(n)
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false
		default:
			c.w.err = e
			return true
		}
	}
	return true
}

// Write writes all of p, waiting for the socket when its buffer is full.
func (c *conn) Write(p []byte) (int, error) {
	c.w.mu.Lock()
	defer c.w.mu.Unlock()
	c.w.p, c.w.n, c.w.err = p, 0, 0
	var err error
	if len(p) > 0 {
		err = c.rc.Write(c.w.fn)
	}
	n, errno := c.w.n, c.w.err
	c.w.p = nil
	switch {
	case err != nil:
		return n, c.opError("write", err)
	case errno != 0:
		return n, c.opError("write", errno)
	}
	return n, nil
}

func (c *conn) opError(op string, err error) error {
	if oe, ok := err.(*net.OpError); ok {
		// The poller's errors come as "raw-read" and "raw-write".
		oe.Op = op
		return oe
	}
	if errno, ok := err.(syscall.Errno); ok {
		err = &net.OpError{Op: op, Net: "tcp", Source: c.nc.LocalAddr(), Addr: c.nc.RemoteAddr(), Err: os.NewSyscallError(op, errno)}
	}
	return err
}
