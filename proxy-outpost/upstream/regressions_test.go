package upstream

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/outpost-go/outposts/authclient/outpost/outposttest"
)

// TestRequestBodyReadError: when reading the client's body fails for a
// reason other than the client connection (http.MaxBytesReader, a
// malformed chunk), Forward must return that error at once. exchange
// instead waits for a response to a request the upstream has not fully
// received (the head may not even be flushed), so Forward hangs until the
// context ends; with no deadline, forever.
func TestRequestBodyReadError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		request string
		limit   int64 // http.MaxBytesReader limit, 0 for none
	}{
		{"MaxBytesReader, Content-Length body", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n" + strings.Repeat("x", 100), 10},
		{"MaxBytesReader, chunked body", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n64\r\n" + strings.Repeat("x", 100) + "\r\n0\r\n\r\n", 10},
		{"malformed chunk", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				_, _ = io.WriteString(w, "upstream read it all")
			}))
			t.Cleanup(up.Close)
			target := mustURL(t, up.URL)
			tr := New(Options{})
			t.Cleanup(tr.CloseIdleConnections)
			results := make(chan error, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.limit > 0 {
					r.Body = http.MaxBytesReader(w, r.Body, tt.limit)
				}
				err := tr.Forward(w, &Request{In: r, URL: target})
				results <- err
				if err != nil {
					http.Error(w, err.Error(), http.StatusBadGateway)
				}
			}))
			t.Cleanup(srv.Close)
			c, err := net.Dial("tcp", srv.Listener.Addr().String())
			require.NoError(t, err)
			// Runs before srv.Close: a Forward still waiting ends when the
			// client goes away.
			t.Cleanup(func() { _ = c.Close() })
			require.NoError(t, c.SetDeadline(time.Now().Add(outposttest.Wait))) // a hang guard only
			_, err = io.WriteString(c, tt.request)
			require.NoError(t, err)
			// No deadline and the client stays: with the bug, Forward
			// never returns.
			err = await(t, results, "Forward did not return: it waits for a response to a request the upstream never fully received")
			require.Error(t, err)
			if tt.limit > 0 {
				var tooLarge *http.MaxBytesError
				assert.ErrorAs(t, err, &tooLarge, "Forward returned another error than the body's")
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			require.NoError(t, err)
			body, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			assert.Equal(t, http.StatusBadGateway, resp.StatusCode, string(body))
		})
	}
}

// TestClientGoneDuringStreamingBody: the client hangs up in the middle of
// an event stream whose upstream is quiet. ReverseProxy's transport stops
// reading when the request's context ends; here the context is only
// watched until the response head, so copyBody sits in a read of the
// upstream connection until the upstream writes again: the handler and
// the upstream connection leak for as long as the stream is quiet.
func TestClientGoneDuringStreamingBody(t *testing.T) {
	t.Parallel()
	stop := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: one\n\n")
		w.(http.Flusher).Flush()
		select { // quiet until the proxy hangs up (or the test ends)
		case <-r.Context().Done():
		case <-stop:
		}
	}))
	t.Cleanup(up.Close)
	p := newProxy(t, mustURL(t, up.URL), Options{}, nil)
	t.Cleanup(func() { close(stop) }) // before the proxy's cleanup waits for its handler
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL, nil)
	require.NoError(t, err)
	resp, err := newClient(t).Do(req)
	require.NoError(t, err)
	first := make([]byte, len("data: one\n\n"))
	_, err = io.ReadFull(resp.Body, first)
	require.NoError(t, err)
	cancel()
	_ = resp.Body.Close()
	assert.Eventually(t, func() bool { return p.aborts.Load() == 1 }, 3*time.Second, 10*time.Millisecond,
		"Forward is still copying the body of a response nobody reads")
}

// TestCancelledRequestKeepsPool: one cancelled request must not cost the
// other pooled connections. After the cancelled exchange fails with
// errStale on a reused connection, Forward retries; every further pooled
// connection fails at once (the context is done, the AfterFunc sets a
// past deadline) and is closed, until the pool is empty and the dial
// fails.
func TestCancelledRequestKeepsPool(t *testing.T) {
	t.Parallel()
	const warm = 4
	var (
		mu      sync.Mutex
		arrived int
		all     = make(chan struct{})
	)
	up := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
		for {
			cp, err := readRawRequest(br)
			if err != nil {
				return
			}
			if cp.req.URL.Path == "/stall" {
				_, _ = io.Copy(io.Discard, br)
				return
			}
			mu.Lock()
			if arrived++; arrived == warm {
				close(all)
			}
			mu.Unlock()
			select { // answer once warm connections are all busy
			case <-all:
			case <-time.After(ioTimeout):
				return
			}
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	p := newProxy(t, up.URL(), Options{}, func(r *Request) {
		if r.In.URL.Path == "/stall" {
			ctx, cancel := context.WithTimeout(r.In.Context(), 100*time.Millisecond)
			_ = cancel // ends with the timeout
			r.In = r.In.WithContext(ctx)
		}
	})
	c := newClient(t)
	var wg sync.WaitGroup
	for range warm {
		wg.Go(func() { get(t, c, p.URL+"/warm") })
	}
	wg.Wait()
	for range warm {
		require.NoError(t, p.result(t))
	}
	require.Equal(t, warm, p.idleCount())

	resp, _ := get(t, c, p.URL+"/stall")
	assert.Equal(t, http.StatusBadGateway, resp.StatusCode)
	require.ErrorIs(t, p.result(t), context.DeadlineExceeded)
	assert.Equal(t, warm-1, p.idleCount(), "only the cancelled request's connection is gone")
}

// TestTrailerAnnounced: ReverseProxy announces the upstream's trailers in
// the response head (a Trailer field built from res.Trailer's keys).
// respond takes resp.Header["Trailer"], which http.ReadResponse has
// already moved into resp.Trailer for chunked responses, so the
// announcement is always empty: clients learn of trailers only at the end
// (HTTP/2 clients, gRPC-web and fetch() consumers need them announced).
func TestTrailerAnnounced(t *testing.T) {
	t.Parallel()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Checksum")
		_, _ = io.WriteString(w, "body")
		w.Header().Set("X-Checksum", "abc")
	}))
	t.Cleanup(up.Close)
	p := newProxy(t, mustURL(t, up.URL), Options{}, nil)
	resp, err := newClient(t).Get(p.URL)
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	_, announced := resp.Trailer["X-Checksum"]
	assert.True(t, announced, "the client was not told of the trailer before the body: %v", resp.Header)
	_, err = io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, "abc", resp.Trailer.Get("X-Checksum"))
}

// TestUpgradeHalfClose: a client that half-closes its side of an upgraded
// connection still gets the upstream's answer. switchProtocols calls
// closeWrite to pass the half-close on, but returns (closing both
// connections) as soon as one direction ends, so the answer is lost;
// ReverseProxy waits for the second direction when the first ended
// cleanly.
func TestUpgradeHalfClose(t *testing.T) {
	t.Parallel()
	up := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := readRawRequest(br); err != nil {
			return
		}
		_, _ = io.WriteString(c, ws101)
		in, err := io.ReadAll(br) // until the client's half-close arrives
		if err != nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
		_, _ = io.WriteString(c, "got "+string(in))
	})
	p := newProxy(t, up.URL(), Options{}, nil)
	c, br, resp := dialUpgrade(t, p.Listener.Addr().String(), wsRequest)
	require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	_, err := io.WriteString(c, "ping")
	require.NoError(t, err)
	require.NoError(t, c.(*net.TCPConn).CloseWrite())
	rest, err := io.ReadAll(br)
	require.NoError(t, err)
	assert.Equal(t, "got ping", string(rest))
}

// TestUnsolicitedBytesOnIdleConnection: an upstream that sends bytes on a
// connection after its response (a late extra response, a body on a 204
// or HEAD response written after a pause) leaves them in the pooled
// connection when they arrive after put checked Buffered(); the next
// request on that connection, possibly another user's, gets them as its
// response. net/http's Transport watches idle connections and drops one
// that receives anything ("Unsolicited response received on idle HTTP
// channel").
func TestUnsolicitedBytesOnIdleConnection(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	up := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
		for {
			if _, err := readRawRequest(br); err != nil {
				return
			}
			if n.Add(1) == 1 {
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst")
				time.Sleep(30 * time.Millisecond)
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 16\r\n\r\nsomeone's secret")
				continue
			}
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nright")
		}
	})
	p := newProxy(t, up.URL(), Options{}, nil)
	c := newClient(t)
	_, body := get(t, c, p.URL+"/alice")
	require.Equal(t, "first", body)
	time.Sleep(80 * time.Millisecond)
	_, body = get(t, c, p.URL+"/bob")
	assert.Equal(t, "right", body)
}

// noFlushWriter hides the ResponseWriter's Flush and Unwrap, like a
// middleware's wrapper that does not pass them on.
type noFlushWriter struct{ w http.ResponseWriter }

func (n noFlushWriter) Header() http.Header         { return n.w.Header() }
func (n noFlushWriter) Write(b []byte) (int, error) { return n.w.Write(b) }
func (n noFlushWriter) WriteHeader(code int)        { n.w.WriteHeader(code) }

// TestStreamingWithoutFlusher: ReverseProxy ignores a failed flush (its
// maxLatencyWriter drops Flush's error); copyBody returns it and respond
// aborts, so every response of unknown length (chunked) through a writer
// without Flush is cut after its first read.
func TestStreamingWithoutFlusher(t *testing.T) {
	t.Parallel()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "part one, ")
		w.(http.Flusher).Flush()
		_, _ = io.WriteString(w, "part two")
	}))
	t.Cleanup(up.Close)
	target := mustURL(t, up.URL)
	tr := New(Options{})
	t.Cleanup(tr.CloseIdleConnections)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := tr.Forward(noFlushWriter{w}, &Request{In: r, URL: target}); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
		}
	}))
	t.Cleanup(srv.Close)
	resp, err := newClient(t).Get(srv.URL)
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, "part one, part two", string(b))
}
