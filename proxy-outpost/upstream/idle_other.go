//go:build !unix

package upstream

import (
	"net"
	"syscall"
)

// idleOK cannot look at the socket without reading here; the outpost's
// images are Linux (idle_unix.go).
func (c *conn) idleOK() bool { return c.br.Buffered() == 0 }

func rawConn(net.Conn) syscall.RawConn { return nil }
