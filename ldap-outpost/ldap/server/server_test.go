package server

import (
	"bufio"
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/outpost-go/outposts/ldap-outpost/ldap/message"
)

// slowHandler binds anyone, and its searches send one entry, then wait
// until abandoned (or the release channel closes).
type slowHandler struct {
	release   chan struct{}
	abandoned atomic.Int32
	closed    atomic.Int32
	srv       *Server
}

func (h *slowHandler) Open(*ConnInfo) Session { return &slowSession{h: h} }

type slowSession struct{ h *slowHandler }

func (s *slowSession) Bind(context.Context, *message.Request) message.Result {
	return message.Result{Code: message.Success}
}

func (s *slowSession) Search(ctx context.Context, req *message.Request, w *SearchWriter) message.Result {
	_ = w.Entry("cn=x", []message.Attribute{{Name: "cn", Values: []string{"x"}}})
	w.Flush()
	select {
	case <-ctx.Done():
		s.h.abandoned.Add(1)
	case <-s.h.release:
	}
	return message.Result{Code: message.Success}
}

func (s *slowSession) Compare(context.Context, *message.Request) message.Result {
	return message.Result{Code: message.CompareTrue}
}

func (s *slowSession) Extended(context.Context, *message.Request) message.Result {
	return message.Result{Code: message.ProtocolError}
}
func (s *slowSession) Unbind(context.Context) {}
func (s *slowSession) Close()                 { s.h.closed.Add(1) }

func serve(t *testing.T, opts Options) (string, *slowHandler) {
	t.Helper()
	h := &slowHandler{release: make(chan struct{})}
	opts.Handler = h
	opts.Logger = zerolog.Nop()
	srv := New(opts)
	h.srv = srv
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln, "ldap") }()
	t.Cleanup(func() {
		close(h.release)
		cancel()
		require.NoError(t, <-done)
	})
	return ln.Addr().String(), h
}

type client struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	return &client{t: t, conn: c, r: bufio.NewReader(c)}
}

func (c *client) send(id int64, op *ber.Packet) {
	p := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
	p.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, id, ""))
	p.AppendChild(op)
	_, err := c.conn.Write(p.Bytes())
	require.NoError(c.t, err)
}

// read returns the next message's ID, operation and result code.
func (c *client) read() (int64, message.Op, int64) {
	c.t.Helper()
	f, err := message.ReadFrame(c.r, 0)
	require.NoError(c.t, err)
	p, err := ber.DecodePacketErr(f)
	require.NoError(c.t, err)
	op := p.Children[1]
	code := int64(-1)
	if len(op.Children) > 0 {
		if v, ok := op.Children[0].Value.(int64); ok {
			code = v
		}
	}
	return p.Children[0].Value.(int64), message.Op(op.Tag), code
}

func octets(s string) *ber.Packet {
	return ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, s, "")
}

func searchOp() *ber.Packet {
	s := ber.Encode(ber.ClassApplication, ber.TypeConstructed, 3, nil, "")
	s.AppendChild(octets("dc=x"))
	for _, v := range []int64{2, 0, 0, 0} {
		s.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, v, ""))
	}
	s.AppendChild(ber.NewBoolean(ber.ClassUniversal, ber.TypePrimitive, ber.TagBoolean, false, ""))
	s.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 7, "objectClass", ""))
	s.AppendChild(ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, ""))
	return s
}

func saslBind() *ber.Packet {
	b := ber.Encode(ber.ClassApplication, ber.TypeConstructed, 0, nil, "")
	b.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, int64(3), ""))
	b.AppendChild(octets(""))
	s := ber.Encode(ber.ClassContext, ber.TypeConstructed, 3, nil, "")
	s.AppendChild(octets("EXTERNAL"))
	b.AppendChild(s)
	return b
}

func TestOperations(t *testing.T) {
	t.Parallel()
	addr, h := serve(t, Options{MaxInFlight: 2})
	c := dial(t, addr)

	t.Log("modify DN, compare and an unknown extended op are answered; the connection stays")
	modDN := ber.Encode(ber.ClassApplication, ber.TypeConstructed, 12, nil, "")
	modDN.AppendChild(octets("cn=a"))
	modDN.AppendChild(octets("cn=b"))
	modDN.AppendChild(ber.NewBoolean(ber.ClassUniversal, ber.TypePrimitive, ber.TagBoolean, true, ""))
	c.send(1, modDN)
	id, op, code := c.read()
	assert.Equal(t, []any{int64(1), message.OpModifyDNResponse, int64(53)}, []any{id, op, code})

	cmp := ber.Encode(ber.ClassApplication, ber.TypeConstructed, 14, nil, "")
	cmp.AppendChild(octets("cn=a"))
	ava := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
	ava.AppendChild(octets("cn"))
	ava.AppendChild(octets("a"))
	cmp.AppendChild(ava)
	c.send(2, cmp)
	id, op, code = c.read()
	assert.Equal(t, []any{int64(2), message.OpCompareResponse, int64(6)}, []any{id, op, code})

	t.Log("a malformed bind gets protocolError, and the connection goes on")
	bad := ber.Encode(ber.ClassApplication, ber.TypeConstructed, 0, nil, "")
	bad.AppendChild(octets("x"))
	c.send(3, bad)
	id, op, code = c.read()
	assert.Equal(t, []any{int64(3), message.OpBindResponse, int64(2)}, []any{id, op, code})

	t.Log("abandon cancels a search in flight; no response for it")
	c.send(4, searchOp())
	id, op, _ = c.read()
	assert.Equal(t, []any{int64(4), message.OpSearchResultEntry}, []any{id, op})
	c.send(5, ber.NewInteger(ber.ClassApplication, ber.TypePrimitive, 16, int64(4), ""))
	require.Eventually(t, func() bool { return h.abandoned.Load() == 1 }, 10*time.Second, 10*time.Millisecond)

	t.Log("in-flight bound: the third concurrent search gets busy")
	c.send(6, searchOp())
	c.send(7, searchOp())
	c.send(8, searchOp())
	got := map[int64]message.Op{}
	var busy int64
	for len(got) < 3 {
		id, op, code := c.read()
		got[id] = op
		if op == message.OpSearchResultDone && code == 51 {
			busy = id
		}
	}
	assert.Equal(t, int64(8), busy)

	t.Log("a bind abandons what is outstanding")
	c.send(9, saslBind())
	id, op, code = c.read()
	assert.Equal(t, []any{int64(9), message.OpBindResponse, int64(0)}, []any{id, op, code}, "the handler answers SASL binds (the service says 7)")
	assert.Equal(t, int32(3), h.abandoned.Load())
}

func TestNotLDAPGetsNotice(t *testing.T) {
	t.Parallel()
	addr, _ := serve(t, Options{MaxMessage: 64})
	c := dial(t, addr)
	_, err := c.conn.Write([]byte("GET / HTTP/1.1\r\n\r\n"))
	require.NoError(t, err)
	id, op, code := c.read()
	assert.Equal(t, []any{int64(0), message.OpExtendedResponse, int64(2)}, []any{id, op, code})

	c = dial(t, addr)
	c.send(1, saslBind()) // fits
	_, op, _ = c.read()
	assert.Equal(t, message.OpBindResponse, op)
	big := ber.Encode(ber.ClassApplication, ber.TypeConstructed, 0, nil, "")
	big.AppendChild(octets(string(make([]byte, 200))))
	c.send(2, big)
	id, op, code = c.read()
	assert.Equal(t, []any{int64(0), message.OpExtendedResponse, int64(2)}, []any{id, op, code}, "over the size limit")
}

func TestLimits(t *testing.T) {
	t.Parallel()
	addr, h := serve(t, Options{MaxConns: 1, IdleTimeout: 200 * time.Millisecond})
	c := dial(t, addr)
	c.send(1, saslBind())
	_, _, _ = c.read()

	t.Log("a second connection is refused with busy")
	c2 := dial(t, addr)
	id, op, code := c2.read()
	assert.Equal(t, []any{int64(0), message.OpExtendedResponse, int64(51)}, []any{id, op, code})

	t.Log("an idle connection is closed with a notice")
	id, op, code = c.read()
	assert.Equal(t, []any{int64(0), message.OpExtendedResponse, int64(52)}, []any{id, op, code})
	// The server frees the connection's slot after the session's Close, so
	// wait for the slot too, or the next dial may be refused as busy.
	require.Eventually(t, func() bool { return h.closed.Load() == 1 && h.srv.conns.Load() == 0 }, 10*time.Second, 10*time.Millisecond)

	t.Log("a running search keeps the connection from idling out")
	c3 := dial(t, addr)
	c3.send(1, searchOp())
	_, op, _ = c3.read()
	assert.Equal(t, message.OpSearchResultEntry, op)
	time.Sleep(500 * time.Millisecond)
	c3.send(2, ber.NewInteger(ber.ClassApplication, ber.TypePrimitive, 16, int64(1), ""))
	c3.send(3, saslBind())
	id, op, _ = c3.read()
	assert.Equal(t, []any{int64(3), message.OpBindResponse}, []any{id, op})
}
