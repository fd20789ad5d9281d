// Package relay carries Guacamole instructions between a browser-side
// websocket and guacd, both ways, until one side ends.
//
// What it adds over a plain copy (and over authentik's mirror, which drops
// every internal instruction):
//   - the browser's "0.,4.ping,<t>;" keepalives are echoed back, as
//     Apache Guacamole's own tunnel does, so the client's receive timeout
//     never fires on an idle session;
//   - websocket ping frames go out every KeepAlive, so proxies and NATs see
//     traffic on an idle connection, and a peer that answers nothing for
//     three periods is known to be gone;
//   - no queue sits between the two sides: a write blocks until the slower
//     side takes it, so a slow side slows the other down (TCP backpressure)
//     and no instruction is ever dropped;
//   - only whole instructions are forwarded, so a websocket message never
//     carries half an instruction.
package relay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/outpost-go/outposts/rac-outpost/guac"
)

// Defaults for Options.
const (
	DefaultKeepAlive    = 20 * time.Second
	DefaultWriteTimeout = 2 * time.Minute
	// DefaultBatch is how many bytes of instructions already received from
	// guacd go into one websocket message (Apache Guacamole uses 8 KiB).
	DefaultBatch = 8192
	// MinDeadAfter is the least silence that counts as a dead peer when
	// Options.DeadAfter is 0: a busy peer may be slow to answer a ping.
	MinDeadAfter = 30 * time.Second
	// MaxMessage bounds one message from the browser side.
	MaxMessage = 4 << 20
)

// disconnectText is what authentik's core sends the outpost when the
// browser has gone; it is not even a valid instruction.
const disconnectText = "0.authentik.disconnect"

// Observer receives the relay's measurements; every method must be cheap
// and safe for concurrent use.
type Observer interface {
	// ToClient and ToGuacd count forwarded bytes.
	ToClient(n int)
	ToGuacd(n int)
	// Latency is how long one batch of instructions took from being read
	// whole to being written to the other side.
	Latency(d time.Duration)
}

// Options configure Run.
type Options struct {
	// TunnelID is sent first as the internal instruction "0.,<id>;", which
	// the Guacamole JavaScript tunnel takes as its UUID; "" sends nothing.
	TunnelID string
	// KeepAlive is the interval of websocket ping frames; 0 means
	// DefaultKeepAlive, negative disables them.
	KeepAlive time.Duration
	// WriteTimeout bounds one write to either side: a peer that takes no
	// data for that long is gone. 0 means DefaultWriteTimeout.
	WriteTimeout time.Duration
	// DeadAfter is how long the websocket may stay silent, not even
	// answering pings, before the client counts as gone; 0 means three
	// keepalive periods but at least MinDeadAfter. Ignored without
	// keepalives.
	DeadAfter time.Duration
	// Batch is DefaultBatch when 0.
	Batch int
	// Observer may be nil.
	Observer Observer
}

// End says which side ended the relay.
type End string

// The ends of a relay.
const (
	EndClient  End = "client"  // the websocket closed or failed
	EndGuacd   End = "guacd"   // guacd closed or failed
	EndStopped End = "stopped" // ctx was cancelled (session end, shutdown)
)

type nopObserver struct{}

func (nopObserver) ToClient(int)          {}
func (nopObserver) ToGuacd(int)           {}
func (nopObserver) Latency(time.Duration) {}

// Run relays between ws and guacd until one side ends or ctx is done, then
// tells the other side (a disconnect instruction to guacd, a close frame
// to the websocket) and closes both. r reads guacd and may hold bytes read
// during the handshake. err is nil for an orderly end (a close frame, EOF
// or ctx), and says what failed otherwise.
func Run(ctx context.Context, ws *websocket.Conn, gc net.Conn, r *guac.Reader, opts Options) (End, error) {
	if opts.KeepAlive == 0 {
		opts.KeepAlive = DefaultKeepAlive
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = DefaultWriteTimeout
	}
	if opts.Batch <= 0 {
		opts.Batch = DefaultBatch
	}
	if opts.Observer == nil {
		opts.Observer = nopObserver{}
	}
	if r == nil {
		r = guac.NewReader(gc)
	}
	ws.SetReadLimit(MaxMessage)
	rl := &relay{ws: ws, gc: gc, opts: opts}
	if opts.KeepAlive > 0 {
		// A peer that answers neither data nor pings for DeadAfter is gone
		// (a silently dropped connection); an idle one still answers
		// pings, so idleness alone never ends a session.
		dead := opts.DeadAfter
		if dead <= 0 {
			dead = max(3*opts.KeepAlive, MinDeadAfter)
		}
		rl.alive = func() { _ = ws.SetReadDeadline(time.Now().Add(dead)) }
		rl.alive()
		ws.SetPongHandler(func(string) error { rl.alive(); return nil })
	} else {
		rl.alive = func() {}
	}

	if opts.TunnelID != "" {
		if err := rl.toClient(guac.New("", opts.TunnelID).Encode()); err != nil {
			rl.closeAll(EndClient)
			return EndClient, fmt.Errorf("send tunnel id: %w", err)
		}
	}

	type result struct {
		end End
		err error
	}
	done := make(chan result, 3)
	stopKeepAlive := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		err := rl.guacdToClient(r)
		done <- result{EndGuacd, err}
	})
	wg.Go(func() {
		err := rl.clientToGuacd()
		done <- result{EndClient, err}
	})
	if opts.KeepAlive > 0 {
		wg.Go(func() { rl.keepAlive(stopKeepAlive) })
	}

	var res result
	select {
	case res = <-done:
	case <-ctx.Done():
		res = result{EndStopped, nil}
	}
	close(stopKeepAlive)
	rl.closeAll(res.end)
	wg.Wait()
	return res.end, res.err
}

type relay struct {
	ws   *websocket.Conn
	gc   net.Conn
	opts Options

	wsMu sync.Mutex // one websocket writer at a time
	gcMu sync.Mutex
	// alive extends the websocket's read deadline.
	alive func()
}

func (rl *relay) toClient(data []byte) error {
	rl.wsMu.Lock()
	defer rl.wsMu.Unlock()
	_ = rl.ws.SetWriteDeadline(time.Now().Add(rl.opts.WriteTimeout))
	if err := rl.ws.WriteMessage(websocket.TextMessage, data); err != nil {
		return err
	}
	rl.opts.Observer.ToClient(len(data))
	return nil
}

func (rl *relay) toGuacd(data []byte) error {
	rl.gcMu.Lock()
	defer rl.gcMu.Unlock()
	_ = rl.gc.SetWriteDeadline(time.Now().Add(rl.opts.WriteTimeout))
	if _, err := rl.gc.Write(data); err != nil {
		return err
	}
	rl.opts.Observer.ToGuacd(len(data))
	return nil
}

// guacdToClient forwards guacd's instructions. Instructions guacd has
// already sent are batched into one message; the relay never waits for
// more to fill a batch.
func (rl *relay) guacdToClient(r *guac.Reader) error {
	var batch []byte
	for {
		raw, err := r.ReadRaw()
		if err != nil {
			return orderly(err)
		}
		start := time.Now()
		batch = append(batch[:0], raw...)
		for len(batch) < rl.opts.Batch && r.Buffered() > 0 {
			raw, err := r.ReadRaw()
			if err != nil {
				// Send what is whole, then report the error.
				if werr := rl.toClient(batch); werr != nil {
					return werr
				}
				return orderly(err)
			}
			batch = append(batch, raw...)
		}
		if err := rl.toClient(batch); err != nil {
			return fmt.Errorf("write to client: %w", err)
		}
		rl.opts.Observer.Latency(time.Since(start))
	}
}

// clientToGuacd forwards the browser's instructions, answering internal
// pings itself.
func (rl *relay) clientToGuacd() error {
	var out []byte
	for {
		typ, data, err := rl.ws.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) && (ce.Code == websocket.CloseNormalClosure || ce.Code == websocket.CloseGoingAway) {
				return nil
			}
			return orderly(err)
		}
		start := time.Now()
		rl.alive()
		if typ != websocket.TextMessage {
			continue
		}
		if bytes.Equal(data, []byte(disconnectText)) {
			return nil
		}
		parts, err := guac.Split(data)
		if err != nil {
			return fmt.Errorf("client sent an invalid instruction: %w", err)
		}
		out = out[:0]
		for _, p := range parts {
			if bytes.HasPrefix(p, []byte("0.,")) || bytes.Equal(p, []byte("0.;")) {
				ins, err := guac.Parse(p)
				if err == nil && len(ins.Args) > 0 && ins.Args[0] == "ping" {
					if err := rl.toClient(p); err != nil {
						return fmt.Errorf("echo ping: %w", err)
					}
				}
				continue // internal instructions are the tunnel's, not guacd's
			}
			out = append(out, p...)
		}
		if len(out) == 0 {
			continue
		}
		if err := rl.toGuacd(out); err != nil {
			return fmt.Errorf("write to guacd: %w", err)
		}
		rl.opts.Observer.Latency(time.Since(start))
	}
}

func (rl *relay) keepAlive(stop <-chan struct{}) {
	t := time.NewTicker(rl.opts.KeepAlive)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			// WriteControl may run concurrently with WriteMessage.
			if rl.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(rl.opts.WriteTimeout)) != nil {
				return
			}
		}
	}
}

// closeAll tells the side that did not end, then closes both.
func (rl *relay) closeAll(end End) {
	// A writer blocked on a slow guacd holds the lock; then guacd hears
	// the close instead of a disconnect instruction.
	if end != EndGuacd && rl.gcMu.TryLock() {
		_ = rl.gc.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = rl.gc.Write(guac.New("disconnect").Encode())
		rl.gcMu.Unlock()
	}
	if end != EndClient {
		msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
		if end == EndStopped {
			msg = websocket.FormatCloseMessage(websocket.CloseGoingAway, "session ended")
		}
		_ = rl.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
	}
	_ = rl.gc.Close()
	_ = rl.ws.Close()
}

// orderly turns the errors of a peer that simply went away into nil.
func orderly(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway, websocket.CloseNoStatusReceived) {
		return nil
	}
	return err
}
