// Package rawio reads and writes TCP sockets with system calls the Go
// scheduler does not see.
//
// A read or write on a net.Conn tells the scheduler it enters a system
// call, so that the thread's processor can go to another thread if the
// call blocks. A socket is non-blocking, so its calls do not block, but
// on loopback a write runs the receiver's TCP processing and wake-up
// inline: on a small machine it takes longer than the scheduler's
// monitor waits before handing the processor over (20 µs). Every such
// hand-off wakes another thread and leaves the writing one to park when
// its call returns, and the monitor, finding work each time, keeps
// polling at its shortest interval. Proxy mode makes four such calls per
// request; making them raw keeps each connection's goroutine on its
// thread through the call, as an event loop would (docs/decisions/0011).
//
// The readiness waits still go through the runtime's poller, so deadlines,
// Close and the poller's wake-ups work as for any net.Conn.
package rawio

import (
	"io"
	"net"
)

// Wrap returns the reader and writer the connection's buffers should use:
// raw system calls on the socket of a *net.TCPConn (on Linux), nc itself
// for anything else.
func Wrap(nc net.Conn) io.ReadWriter {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return nc
	}
	return wrap(tc)
}
