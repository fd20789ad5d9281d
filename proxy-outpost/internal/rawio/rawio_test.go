package rawio

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pair is a loopback TCP connection: a wrapped end and the plain peer.
func pair(t *testing.T) (io.ReadWriter, *net.TCPConn, *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer func() { _ = ln.Close() }()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	peer := <-accepted
	require.NotNil(t, peer)
	t.Cleanup(func() { _ = nc.Close(); _ = peer.Close() })
	return Wrap(nc), nc.(*net.TCPConn), peer.(*net.TCPConn)
}

func TestWrapOnlyTCP(t *testing.T) {
	t.Parallel()
	a, b := net.Pipe()
	defer func() { _ = a.Close(); _ = b.Close() }()
	assert.Equal(t, io.ReadWriter(a), Wrap(a), "a connection without a socket is used as it is")
	rw, nc, _ := pair(t)
	if runtime.GOOS == "linux" {
		assert.IsType(t, &conn{}, rw)
	} else {
		assert.Equal(t, io.ReadWriter(nc), rw)
	}
}

func TestReadWrite(t *testing.T) {
	t.Parallel()
	rw, _, peer := pair(t)

	n, err := rw.Write([]byte("ping"))
	require.NoError(t, err)
	assert.Equal(t, 4, n)
	buf := make([]byte, 4)
	_, err = io.ReadFull(peer, buf)
	require.NoError(t, err)
	assert.Equal(t, "ping", string(buf))

	_, err = peer.Write([]byte("pong"))
	require.NoError(t, err)
	_, err = io.ReadFull(rw, buf)
	require.NoError(t, err)
	assert.Equal(t, "pong", string(buf))

	n, err = rw.Read(nil)
	assert.NoError(t, err, "an empty read returns at once")
	assert.Zero(t, n)
	n, err = rw.Write(nil)
	assert.NoError(t, err)
	assert.Zero(t, n)

	require.NoError(t, peer.CloseWrite())
	n, err = rw.Read(buf)
	assert.Zero(t, n)
	assert.Equal(t, io.EOF, err, "the peer's FIN is io.EOF, as net.Conn has it")
}

// A write larger than the socket buffers waits for the reader (the
// EAGAIN path) and arrives whole. The buffers are pinned to 64 KiB, so
// a 4 MiB write finds them full many times, whatever the reader's pace.
func TestWriteWaitsForRoom(t *testing.T) {
	t.Parallel()
	rw, nc, peer := pair(t)
	require.NoError(t, nc.SetWriteBuffer(64<<10))
	require.NoError(t, peer.SetReadBuffer(64<<10))
	want := bytes.Repeat([]byte("0123456789abcdef"), 1<<18) // 4 MiB
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(peer)
		got <- b
	}()
	n, err := rw.Write(want)
	require.NoError(t, err)
	assert.Equal(t, len(want), n)
	require.NoError(t, nc.CloseWrite())
	assert.True(t, bytes.Equal(want, <-got), "the bytes arrive whole and in order")
}

// Reads and writes of the same connection run at once (a spliced
// WebSocket, say).
func TestReadWhileWriting(t *testing.T) {
	t.Parallel()
	rw, _, peer := pair(t)
	go func() { _, _ = io.Copy(peer, peer) }() // echo
	const size = 1 << 20
	done := make(chan error, 1)
	go func() {
		_, err := rw.Write(bytes.Repeat([]byte{'x'}, size))
		done <- err
	}()
	got, err := io.ReadAll(io.LimitReader(rw, size))
	require.NoError(t, err)
	assert.Len(t, got, size)
	require.NoError(t, <-done)
}

func TestErrors(t *testing.T) {
	t.Parallel()
	deadlines := []struct {
		name string
		set  func(*net.TCPConn, time.Time) error
		call func(io.ReadWriter) error
		op   string
	}{
		{"read deadline", (*net.TCPConn).SetReadDeadline, func(rw io.ReadWriter) error { _, err := rw.Read(make([]byte, 1)); return err }, "read"},
		{"write deadline", (*net.TCPConn).SetWriteDeadline, func(rw io.ReadWriter) error { _, err := rw.Write([]byte("x")); return err }, "write"},
	}
	for _, tc := range deadlines {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rw, nc, _ := pair(t)
			require.NoError(t, tc.set(nc, time.Now().Add(-time.Second)))
			err := tc.call(rw)
			var ne net.Error
			require.ErrorAs(t, err, &ne)
			assert.True(t, ne.Timeout())
			assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
			var oe *net.OpError
			require.ErrorAs(t, err, &oe, "a *net.OpError, as net.Conn returns")
			assert.Equal(t, tc.op, oe.Op)
		})
	}
	t.Run("closed", func(t *testing.T) {
		t.Parallel()
		rw, nc, _ := pair(t)
		require.NoError(t, nc.Close())
		_, err := rw.Read(make([]byte, 1))
		assert.ErrorIs(t, err, net.ErrClosed)
		_, err = rw.Write([]byte("x"))
		assert.ErrorIs(t, err, net.ErrClosed)
	})
	t.Run("close unblocks a waiting read", func(t *testing.T) {
		t.Parallel()
		rw, nc, _ := pair(t)
		errc := make(chan error, 1)
		go func() {
			_, err := rw.Read(make([]byte, 1))
			errc <- err
		}()
		time.Sleep(10 * time.Millisecond) // let it wait in the poller
		require.NoError(t, nc.Close())
		select {
		case err := <-errc:
			assert.ErrorIs(t, err, net.ErrClosed)
		case <-time.After(30 * time.Second):
			t.Fatal("Close did not end the read")
		}
	})
	t.Run("peer reset", func(t *testing.T) {
		t.Parallel()
		rw, _, peer := pair(t)
		require.NoError(t, peer.SetLinger(0))
		require.NoError(t, peer.Close()) // RST
		var err error
		for range 100 {
			// The first write may still be accepted; a later one meets
			// the reset.
			if _, err = rw.Write([]byte("x")); err != nil {
				break
			}
			time.Sleep(time.Millisecond)
		}
		var oe *net.OpError
		require.ErrorAs(t, err, &oe)
		assert.Equal(t, "write", oe.Op)
		var se *os.SyscallError
		assert.ErrorAs(t, err, &se, "the errno comes as net.Conn's do")
		assert.False(t, errors.Is(err, net.ErrClosed))
	})
}

func BenchmarkWriteRead(b *testing.B) {
	for _, tc := range []struct {
		name string
		wrap func(net.Conn) io.ReadWriter
	}{
		{"net.Conn", func(c net.Conn) io.ReadWriter { return c }},
		{"rawio", Wrap},
	} {
		b.Run(tc.name, func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(b, err)
			defer func() { _ = ln.Close() }()
			go func() {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				_, _ = io.Copy(c, c)
			}()
			nc, err := net.Dial("tcp", ln.Addr().String())
			require.NoError(b, err)
			defer func() { _ = nc.Close() }()
			rw := tc.wrap(nc)
			msg := bytes.Repeat([]byte{'x'}, 512)
			buf := make([]byte, len(msg))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := rw.Write(msg); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(rw, buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// Concurrent writers take turns, as on a net.Conn: every write arrives
// whole.
func TestConcurrentWrites(t *testing.T) {
	t.Parallel()
	rw, nc, peer := pair(t)
	const writers, size = 8, 64 << 10
	done := make(chan error, writers)
	for i := range writers {
		go func() {
			_, err := rw.Write(bytes.Repeat([]byte{byte('a' + i)}, size))
			done <- err
		}()
	}
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(peer)
		got <- b
	}()
	for range writers {
		require.NoError(t, <-done)
	}
	require.NoError(t, nc.CloseWrite())
	b := <-got
	require.Len(t, b, writers*size)
	for off := 0; off < len(b); off += size {
		chunk := b[off : off+size]
		assert.Equal(t, bytes.Repeat(chunk[:1], size), chunk, "write at %d interleaved with another", off)
	}
}
