package upstream

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestConnectionReuse: sequential requests of every kind share one
// upstream connection.
func TestConnectionReuse(t *testing.T) {
	t.Parallel()
	up, got := captureServer(t, func(cp *captured) string {
		switch cp.req.URL.Path {
		case "/chunked":
			return "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
		case "/nocontent":
			return "HTTP/1.1 204 No Content\r\n\r\n"
		case "/head":
			return "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"
		}
		return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(cp.body)+2, "ok"+string(cp.body))
	})
	p := newProxy(t, up.URL(), Options{}, nil)
	c := newClient(t)
	for i := range 30 {
		var (
			req  *http.Request
			want string
			err  error
		)
		switch i % 6 {
		case 0:
			req, err = http.NewRequest(http.MethodGet, p.URL+"/plain", nil)
			want = "ok"
		case 1:
			req, err = http.NewRequest(http.MethodPost, p.URL+"/post", strings.NewReader("body"))
			want = "okbody"
		case 2:
			req, err = http.NewRequest(http.MethodPut, p.URL+"/put", io.MultiReader(strings.NewReader("chunk")))
			want = "okchunk"
		case 3:
			req, err = http.NewRequest(http.MethodGet, p.URL+"/chunked", nil)
			want = "abc"
		case 4:
			req, err = http.NewRequest(http.MethodGet, p.URL+"/nocontent", nil)
		case 5:
			req, err = http.NewRequest(http.MethodHead, p.URL+"/head", nil)
		}
		require.NoError(t, err)
		resp, err := c.Do(req)
		require.NoError(t, err, "request %d", i)
		b, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		require.NoError(t, err)
		require.Less(t, resp.StatusCode, 300, "request %d", i)
		require.Equal(t, want, string(b), "request %d", i)
		require.NoError(t, p.result(t))
		<-got
	}
	assert.EqualValues(t, 1, up.accepts.Load())
	assert.Equal(t, 1, p.idleCount())
}

// TestConcurrentRequests: parallel requests each get their own answer and
// the pool keeps at most MaxIdlePerHost connections.
func TestConcurrentRequests(t *testing.T) {
	t.Parallel()
	up, _ := captureServer(t, func(cp *captured) string {
		return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(cp.req.URL.Path), cp.req.URL.Path)
	})
	p := newProxy(t, up.URL(), Options{MaxIdlePerHost: 3}, nil)
	c := newClient(t)
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Go(func() {
			for j := range 5 {
				path := fmt.Sprintf("/r%d-%d", i, j)
				resp, err := c.Get(p.URL + path)
				if !assert.NoError(t, err) {
					return
				}
				b, _ := io.ReadAll(resp.Body)
				_ = resp.Body.Close()
				assert.Equal(t, path, string(b))
			}
		})
	}
	wg.Wait()
	assert.LessOrEqual(t, p.idleCount(), 3)
	assert.LessOrEqual(t, int(up.accepts.Load()), 60)
}

// TestIdleTimeout: a connection idle longer than IdleTimeout is not used.
func TestIdleTimeout(t *testing.T) {
	t.Parallel()
	up, _ := captureServer(t, nil)
	p := newProxy(t, up.URL(), Options{IdleTimeout: 30 * time.Millisecond}, nil)
	c := newClient(t)
	get(t, c, p.URL)
	get(t, c, p.URL)
	assert.EqualValues(t, 1, up.accepts.Load())
	time.Sleep(60 * time.Millisecond)
	get(t, c, p.URL)
	assert.EqualValues(t, 2, up.accepts.Load())
}

// TestUpstreamClosesConnections: an upstream that closes its connections
// (saying so, or silently some time after answering) does not fail
// bodiless requests: a stale pooled connection is retried on a fresh one.
func TestUpstreamClosesConnections(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		response string
		after    time.Duration // how long after answering the upstream closes
		method   string
		wantPool int // idle connections after each request
	}{
		{"Connection: close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", 0, http.MethodGet, 0},
		{"HTTP/1.0 without keep-alive", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", 0, http.MethodGet, 0},
		{"close-delimited body", "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nok", 0, http.MethodGet, 0},
		{"silent close right after answering", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", time.Millisecond, http.MethodGet, 1},
		{"silent close after a delay", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 20 * time.Millisecond, http.MethodGet, 1},
		{"silent close, HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n", 10 * time.Millisecond, http.MethodHead, 1},
		{"silent close, bodiless POST", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 10 * time.Millisecond, http.MethodPost, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			closed := make(chan struct{}, 16)
			up := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
				defer func() { closed <- struct{}{} }()
				if _, err := readRawRequest(br); err != nil {
					return
				}
				_, _ = io.WriteString(c, tt.response)
				time.Sleep(tt.after)
			})
			p := newProxy(t, up.URL(), Options{}, nil)
			c := newClient(t)
			const n = 4
			for i := range n {
				req, err := http.NewRequest(tt.method, p.URL, nil)
				require.NoError(t, err)
				resp, err := c.Do(req)
				require.NoError(t, err, "request %d", i)
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				require.Equal(t, http.StatusOK, resp.StatusCode, "request %d", i)
				require.NoError(t, p.result(t))
				assert.Equal(t, tt.wantPool, p.idleCount())
				select { // the upstream has closed before the next request
				case <-closed:
				case <-time.After(ioTimeout):
					t.Fatal("the upstream did not close")
				}
				time.Sleep(5 * time.Millisecond) // let the FIN arrive
			}
			assert.EqualValues(t, n, up.accepts.Load())
		})
	}
}

// unansweredServer answers the first request on each connection, then
// reads the next one (body included) and closes without answering, as
// an upstream closing an idle connection just as a request arrives does.
// It reports every request it read on got.
func unansweredServer(t *testing.T) (*rawServer, chan *captured) {
	got := make(chan *captured, 16)
	s := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
		for i := 0; ; i++ {
			cp, err := readRawRequest(br)
			if err != nil {
				return
			}
			got <- cp
			if i == 1 {
				return
			}
			resp := "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
			if cp.req.Method == http.MethodHead {
				resp = strings.TrimSuffix(resp, "ok")
			}
			_, _ = io.WriteString(c, resp)
		}
	})
	return s, got
}

// TestRetryUnansweredBodiless: a bodiless request the upstream closed a
// pooled connection on, without a byte of answer, is sent again on a
// fresh connection.
func TestRetryUnansweredBodiless(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		method string
		header http.Header
	}{
		{method: http.MethodGet},
		{method: http.MethodHead},
		{method: http.MethodOptions},
		{method: http.MethodDelete, header: http.Header{"Idempotency-Key": {"k1"}}},
	} {
		method := tc.method
		t.Run(method, func(t *testing.T) {
			t.Parallel()
			up, got := unansweredServer(t)
			p := newProxy(t, up.URL(), Options{}, nil)
			c := newClient(t)
			for i := range 2 {
				req, err := http.NewRequest(method, fmt.Sprintf("%s/r%d", p.URL, i), nil)
				require.NoError(t, err)
				for k, v := range tc.header {
					req.Header[k] = v
				}
				resp, err := c.Do(req)
				require.NoError(t, err)
				_ = resp.Body.Close()
				assert.Equal(t, http.StatusOK, resp.StatusCode, "request %d", i)
				require.NoError(t, p.result(t))
			}
			assert.EqualValues(t, 2, up.accepts.Load())
			var paths []string
			for range 3 {
				paths = append(paths, recvCaptured(t, got).req.URL.Path)
			}
			assert.Equal(t, []string{"/r0", "/r1", "/r1"}, paths, "the second request was sent twice")
		})
	}
}

// TestStaleConnectionNotReplayed: a request that may not arrive twice
// (one with a body, or a bodiless POST or DELETE without an
// Idempotency-Key, as net/http's Transport decides) the upstream closed a
// pooled connection on is not sent again: the handler gets an error.
func TestStaleConnectionNotReplayed(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, method, body string
	}{
		{name: "POST with a body", method: http.MethodPost, body: "must not be sent twice"},
		{name: "bodiless POST", method: http.MethodPost},
		{name: "bodiless DELETE", method: http.MethodDelete},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			staleNotReplayed(t, tc.method, tc.body)
		})
	}
}

func staleNotReplayed(t *testing.T, method, reqBody string) {
	up, got := unansweredServer(t)
	p := newProxy(t, up.URL(), Options{}, nil)
	c := newClient(t)
	_, body := get(t, c, p.URL)
	assert.Equal(t, "ok", body)
	require.NoError(t, p.result(t))

	var rb io.Reader
	if reqBody != "" {
		rb = strings.NewReader(reqBody)
	}
	req, err := http.NewRequest(method, p.URL+"/post", rb)
	require.NoError(t, err)
	resp, err := c.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusBadGateway, resp.StatusCode)
	err = p.result(t)
	require.Error(t, err)
	assert.ErrorIs(t, err, errStale)
	assert.EqualValues(t, 1, up.accepts.Load(), "no second attempt")
	assert.Equal(t, 0, p.idleCount())
	recvCaptured(t, got)
	assert.Equal(t, reqBody, string(recvCaptured(t, got).body))
	select {
	case cp := <-got:
		t.Errorf("sent again: %q", cp.head)
	default:
	}
}

// TestCloseIdleConnections closes the pooled connections.
func TestCloseIdleConnections(t *testing.T) {
	t.Parallel()
	closed := make(chan struct{}, 4)
	up := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
		defer func() { closed <- struct{}{} }()
		for {
			if _, err := readRawRequest(br); err != nil {
				return
			}
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	p := newProxy(t, up.URL(), Options{}, nil)
	get(t, newClient(t), p.URL)
	require.Equal(t, 1, p.idleCount())
	p.tr.CloseIdleConnections()
	assert.Equal(t, 0, p.idleCount())
	select {
	case <-closed:
	case <-time.After(ioTimeout):
		t.Fatal("the pooled connection was not closed")
	}
}
