package relay_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/outpost-go/outposts/rac-outpost/guac"
	"github.com/outpost-go/outposts/rac-outpost/relay"
)

const wait = 10 * time.Second

type counter struct{ toClient, toGuacd, latencies atomic.Int64 }

func (c *counter) ToClient(n int)          { c.toClient.Add(int64(n)) }
func (c *counter) ToGuacd(n int)           { c.toGuacd.Add(int64(n)) }
func (c *counter) Latency(d time.Duration) { c.latencies.Add(1) }

type result struct {
	end relay.End
	err error
}

// setup starts a relay between a browser-side websocket and a guacd-side
// TCP connection and returns the far ends of both.
func setup(t *testing.T, ctx context.Context, opts relay.Options) (client *websocket.Conn, guacd net.Conn, done chan result) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	done = make(chan result, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			return
		}
		gc, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			return
		}
		end, err := relay.Run(ctx, ws, gc, nil, opts)
		done <- result{end, err}
	}))
	t.Cleanup(srv.Close)
	client, _, err = websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	require.NoError(t, err)
	t.Cleanup(func() { client.Close() })
	select {
	case guacd = <-accepted:
	case <-time.After(wait):
		t.Fatal("relay did not dial guacd")
	}
	t.Cleanup(func() { guacd.Close() })
	return client, guacd, done
}

func readMsg(t *testing.T, ws *websocket.Conn) string {
	t.Helper()
	_ = ws.SetReadDeadline(time.Now().Add(wait))
	_, data, err := ws.ReadMessage()
	require.NoError(t, err)
	return string(data)
}

func TestRelayBothWaysWithPingEcho(t *testing.T) {
	t.Parallel()
	obs := &counter{}
	client, guacd, done := setup(t, context.Background(), relay.Options{TunnelID: "$abc", Observer: obs})
	assert.Equal(t, "0.,4.$abc;", readMsg(t, client))

	_, err := guacd.Write([]byte("4.sync,3.100;4.size,1.0,3.640,3.480;"))
	require.NoError(t, err)
	got := ""
	for !strings.Contains(got, "4.size") {
		got += readMsg(t, client)
	}
	assert.Equal(t, "4.sync,3.100;4.size,1.0,3.640,3.480;", got)

	require.NoError(t, client.WriteMessage(websocket.TextMessage, []byte("0.,4.ping,13.1700000000000;4.sync,3.100;")))
	assert.Equal(t, "0.,4.ping,13.1700000000000;", readMsg(t, client), "ping echoed")
	r := guac.NewReader(guacd)
	_ = guacd.SetReadDeadline(time.Now().Add(wait))
	raw, err := r.ReadRaw()
	require.NoError(t, err)
	assert.Equal(t, "4.sync,3.100;", string(raw), "ping not forwarded to guacd")

	require.NoError(t, client.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")))
	raw, err = r.ReadRaw()
	require.NoError(t, err)
	assert.Equal(t, "10.disconnect;", string(raw))
	res := <-done
	assert.Equal(t, relay.EndClient, res.end)
	assert.NoError(t, res.err)
	assert.Positive(t, obs.toClient.Load())
	assert.Equal(t, int64(len("4.sync,3.100;")), obs.toGuacd.Load())
	assert.Positive(t, obs.latencies.Load())
}

func TestRelayEnds(t *testing.T) {
	t.Parallel()
	t.Run("guacd closes", func(t *testing.T) {
		t.Parallel()
		client, guacd, done := setup(t, context.Background(), relay.Options{})
		_, err := guacd.Write([]byte("5.error,7.Aborted,3.769;10.disconnect;"))
		require.NoError(t, err)
		require.NoError(t, guacd.Close())
		got := ""
		var cerr error
		for cerr == nil {
			_ = client.SetReadDeadline(time.Now().Add(wait))
			var data []byte
			_, data, cerr = client.ReadMessage()
			got += string(data)
		}
		assert.Equal(t, "5.error,7.Aborted,3.769;10.disconnect;", got)
		assert.True(t, websocket.IsCloseError(cerr, websocket.CloseNormalClosure), "got %v", cerr)
		res := <-done
		assert.Equal(t, relay.EndGuacd, res.end)
		assert.NoError(t, res.err)
	})
	t.Run("context cancelled", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(context.Background())
		client, guacd, done := setup(t, ctx, relay.Options{})
		cancel()
		_ = guacd.SetReadDeadline(time.Now().Add(wait))
		raw, err := guac.NewReader(guacd).ReadRaw()
		require.NoError(t, err)
		assert.Equal(t, "10.disconnect;", string(raw))
		_ = client.SetReadDeadline(time.Now().Add(wait))
		_, _, err = client.ReadMessage()
		assert.True(t, websocket.IsCloseError(err, websocket.CloseGoingAway), "got %v", err)
		assert.Equal(t, relay.EndStopped, (<-done).end)
	})
	t.Run("invalid instruction from client", func(t *testing.T) {
		t.Parallel()
		client, _, done := setup(t, context.Background(), relay.Options{})
		require.NoError(t, client.WriteMessage(websocket.TextMessage, []byte("4.sync,3.1")))
		res := <-done
		assert.Equal(t, relay.EndClient, res.end)
		assert.ErrorContains(t, res.err, "invalid instruction")
	})
}

// TestRelayBackpressure has guacd send far more than the socket buffers
// hold while the client reads nothing; the relay must hold guacd back, not
// drop, and deliver everything in order once the client reads.
func TestRelayBackpressure(t *testing.T) {
	t.Parallel()
	client, guacd, _ := setup(t, context.Background(), relay.Options{})
	// 20 MB: more than loopback socket buffers hold.
	const n = 5000
	payload := strings.Repeat("x", 4000)
	sent := make(chan error, 1)
	var written atomic.Int64
	go func() {
		for i := range n {
			ins := guac.New("blob", fmt.Sprint(i), payload).Encode()
			if _, err := guacd.Write(ins); err != nil {
				sent <- err
				return
			}
			written.Add(1)
		}
		sent <- nil
	}()
	// With the client not reading, guacd's writes stall well short of n.
	require.Eventually(t, func() bool {
		before := written.Load()
		time.Sleep(200 * time.Millisecond)
		return written.Load() == before
	}, wait, 10*time.Millisecond)
	assert.Less(t, written.Load(), int64(n), "guacd was not held back")

	next := 0
	for next < n {
		for _, ins := range mustParseAll(t, readMsg(t, client)) {
			if ins.Opcode == "" {
				continue
			}
			require.Equal(t, fmt.Sprint(next), ins.Args[0], "instructions out of order or dropped")
			next++
		}
	}
	require.NoError(t, <-sent)
}

func mustParseAll(t *testing.T, s string) []guac.Instruction {
	t.Helper()
	all, err := guac.ParseAll([]byte(s))
	require.NoError(t, err)
	return all
}

func TestRelayKeepAlivePings(t *testing.T) {
	t.Parallel()
	// DeadAfter stays at its 30 s floor: a busy test machine may be slow
	// to answer, and that must not count as a dead client.
	client, _, done := setup(t, context.Background(), relay.Options{KeepAlive: 20 * time.Millisecond})
	pings := make(chan struct{}, 10)
	client.SetPingHandler(func(data string) error {
		select {
		case pings <- struct{}{}:
		default:
		}
		return client.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	go func() {
		for {
			if _, _, err := client.ReadMessage(); err != nil {
				return
			}
		}
	}()
	// Ten periods idle, pings answered: still up.
	for range 10 {
		select {
		case <-pings:
		case <-time.After(wait):
			t.Fatal("no websocket ping")
		}
	}
	select {
	case res := <-done:
		t.Fatalf("an idle client that answers pings was dropped: %v", res)
	default:
	}
}

// TestRelayDeadPeer: a client that stops answering pings (a connection
// dropped without a close) ends the relay; one that answers stays up.
func TestRelayDeadPeer(t *testing.T) {
	t.Parallel()
	client, guacd, done := setup(t, context.Background(), relay.Options{KeepAlive: 20 * time.Millisecond, DeadAfter: 100 * time.Millisecond})
	// Not reading means pings go unanswered.
	_ = client
	select {
	case res := <-done:
		assert.Equal(t, relay.EndClient, res.end)
	case <-time.After(wait):
		t.Fatal("relay did not notice the dead client")
	}
	_ = guacd.SetReadDeadline(time.Now().Add(wait))
	raw, err := guac.NewReader(guacd).ReadRaw()
	require.NoError(t, err)
	assert.Equal(t, "10.disconnect;", string(raw))
}
