// Command racbench measures the RAC relay against a direct TCP
// pass-through in one run (scripts/bench rac):
//
//   - latency: one instruction at a time goes client → path → guacd, which
//     echoes it back, alternating between the paths; the round trip crosses
//     the path twice, so the relay's added latency per instruction is half
//     the difference of the round trips, reported at p50 and p99;
//   - throughput: guacd streams blob instructions as fast as the path
//     takes them, for a fixed time.
//
// The direct path is a plain TCP proxy (io.Copy both ways); the relay path
// is the outpost's relay with the client on a websocket, as in production.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/outpost-go/outposts/rac-outpost/guac"
	"github.com/outpost-go/outposts/rac-outpost/relay"
)

func main() {
	n := flag.Int("n", 20000, "round trips per path for latency")
	dur := flag.Duration("duration", 3*time.Second, "streaming time per path for throughput")
	size := flag.Int("blob", 4096, "bytes of payload per streamed instruction")
	batch := flag.Int("batch", relay.DefaultBatch, "relay batch size in bytes")
	flag.Parse()
	if err := run(*n, *dur, *size, *batch); err != nil {
		fmt.Fprintln(os.Stderr, "racbench:", err)
		os.Exit(1)
	}
}

// client is the browser side of a path.
type client interface {
	send(b []byte) error
	// recv returns the next chunk of bytes (one websocket message, or what
	// one TCP read returned).
	recv() ([]byte, error)
	close()
}

type tcpClient struct {
	c   net.Conn
	buf []byte
}

func (t *tcpClient) send(b []byte) error { _, err := t.c.Write(b); return err }
func (t *tcpClient) recv() ([]byte, error) {
	n, err := t.c.Read(t.buf)
	return t.buf[:n], err
}
func (t *tcpClient) close() { _ = t.c.Close() }

type wsClient struct{ c *websocket.Conn }

func (w *wsClient) send(b []byte) error { return w.c.WriteMessage(websocket.TextMessage, b) }
func (w *wsClient) recv() ([]byte, error) {
	_, b, err := w.c.ReadMessage()
	return b, err
}
func (w *wsClient) close() { _ = w.c.Close() }

// guacd is the far end: mode "echo" echoes every instruction, "stream"
// sends blobs until the connection closes.
func guacd(mode string, blob int) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if mode == "stream" {
					ins := guac.New("blob", "1", strings.Repeat("A", blob)).Encode()
					for {
						if _, err := c.Write(ins); err != nil {
							return
						}
					}
				}
				r := guac.NewReader(c)
				for {
					raw, err := r.ReadRaw()
					if err != nil {
						return
					}
					if _, err := c.Write(raw); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String(), func() { _ = ln.Close() }, nil
}

// direct is a TCP pass-through to addr.
func direct(addr string) (client, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	go func() {
		in, err := ln.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", addr)
		if err != nil {
			_ = in.Close()
			return
		}
		go func() { _, _ = io.Copy(out, in); _ = out.Close() }()
		_, _ = io.Copy(in, out)
		_ = in.Close()
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return nil, nil, err
	}
	return &tcpClient{c: c, buf: make([]byte, 64*1024)}, func() { _ = ln.Close() }, nil
}

// relayed serves the relay on a websocket and connects a client to it.
func relayed(addr string, batch int) (client, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The buffers of the outpost's own dialer (cmd/rac-outpost).
		ws, err := (&websocket.Upgrader{WriteBufferSize: 64 << 10, ReadBufferSize: 64 << 10}).Upgrade(w, r, nil)
		if err != nil {
			return
		}
		gc, err := net.Dial("tcp", addr)
		if err != nil {
			_ = ws.Close()
			return
		}
		_, _ = relay.Run(context.Background(), ws, gc, nil, relay.Options{KeepAlive: -1, Batch: batch})
	})}
	go func() { _ = srv.Serve(ln) }()
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+ln.Addr().String()+"/", nil)
	if err != nil {
		return nil, nil, err
	}
	return &wsClient{c: ws}, func() { _ = srv.Close() }, nil
}

type path struct {
	name string
	open func(addr string) (client, func(), error)
}

// latency measures n round trips on every path, alternating between the
// paths one round trip at a time, so that noise from the rest of the
// machine falls on all of them alike.
func latency(paths []path, n int) (map[string][]time.Duration, error) {
	addr, stop, err := guacd("echo", 0)
	if err != nil {
		return nil, err
	}
	defer stop()
	clients := make([]client, len(paths))
	for i, p := range paths {
		c, closePath, err := p.open(addr)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.name, err)
		}
		defer closePath()
		defer c.close()
		clients[i] = c
	}
	out := map[string][]time.Duration{}
	for i := range n + n/10 {
		ins := guac.New("sync", strconv.Itoa(i)).Encode()
		for j, c := range clients {
			start := time.Now()
			if err := c.send(ins); err != nil {
				return nil, fmt.Errorf("%s: %w", paths[j].name, err)
			}
			got := 0
			for got < len(ins) {
				b, err := c.recv()
				if err != nil {
					return nil, fmt.Errorf("%s: %w", paths[j].name, err)
				}
				got += len(b)
			}
			if i >= n/10 { // the first tenth warms up
				out[paths[j].name] = append(out[paths[j].name], time.Since(start))
			}
		}
	}
	for _, l := range out {
		slices.Sort(l)
	}
	return out, nil
}

func throughput(p path, d time.Duration, blob int) (float64, error) {
	addr, stop, err := guacd("stream", blob)
	if err != nil {
		return 0, err
	}
	defer stop()
	c, closePath, err := p.open(addr)
	if err != nil {
		return 0, err
	}
	defer closePath()
	defer c.close()
	var total atomic.Int64
	start := time.Now()
	for time.Since(start) < d {
		b, err := c.recv()
		if err != nil {
			return 0, err
		}
		total.Add(int64(len(b)))
	}
	return float64(total.Load()) / time.Since(start).Seconds() / 1e6, nil
}

func quantile(s []time.Duration, q float64) time.Duration {
	return s[int(q*float64(len(s)-1))]
}

func run(n int, d time.Duration, blob, batch int) error {
	paths := []path{
		{"direct TCP", direct},
		{"relay (ws)", func(addr string) (client, func(), error) { return relayed(addr, batch) }},
	}
	lat, err := latency(paths, n)
	if err != nil {
		return fmt.Errorf("latency: %w", err)
	}
	tput := map[string]float64{}
	for _, p := range paths {
		t, err := throughput(p, d, blob)
		if err != nil {
			return fmt.Errorf("%s throughput: %w", p.name, err)
		}
		tput[p.name] = t
	}
	fmt.Printf("round trips: %d per path; throughput: %s per path, %d-byte blobs\n\n", n, d, blob)
	fmt.Printf("%-12s %12s %12s %14s\n", "path", "rtt p50", "rtt p99", "MB/s")
	for _, p := range paths {
		l := lat[p.name]
		fmt.Printf("%-12s %12s %12s %14.1f\n", p.name, quantile(l, .5), quantile(l, .99), tput[p.name])
	}
	d50 := (quantile(lat["relay (ws)"], .5) - quantile(lat["direct TCP"], .5)) / 2
	d99 := (quantile(lat["relay (ws)"], .99) - quantile(lat["direct TCP"], .99)) / 2
	fmt.Printf("\nadded by the relay per instruction (half the round-trip difference): p50 %s, p99 %s (target p99 < 1ms: %s)\n",
		d50, d99, map[bool]string{true: "met", false: "NOT met"}[d99 < time.Millisecond])
	fmt.Printf("relay throughput: %.0f%% of direct TCP\n", 100*tput["relay (ws)"]/tput["direct TCP"])
	return nil
}
