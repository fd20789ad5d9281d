package upstream

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestResponses checks what the client gets for responses the raw upstream
// writes byte for byte, and that the upstream connection is then reused
// (a second request on it gets its own answer).
func TestResponses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		method     string
		response   string
		edit       func(*Request)
		wantStatus int
		wantBody   string
		check      func(t *testing.T, resp *http.Response)
	}{{
		name:       "Content-Length body",
		response:   "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nhello world",
		wantStatus: http.StatusOK, wantBody: "hello world",
		check: func(t *testing.T, resp *http.Response) {
			assert.EqualValues(t, 11, resp.ContentLength)
			assert.Equal(t, "text/plain", resp.Header.Get("Content-Type"))
		},
	}, {
		name:       "chunked body",
		response:   "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
		wantStatus: http.StatusOK, wantBody: "hello world",
		check: func(t *testing.T, resp *http.Response) {
			assert.EqualValues(t, -1, resp.ContentLength)
			assert.Equal(t, []string{"chunked"}, resp.TransferEncoding)
		},
	}, {
		name:       "empty Content-Length body",
		response:   "HTTP/1.1 201 Created\r\nContent-Length: 0\r\nLocation: /x\r\n\r\n",
		wantStatus: http.StatusCreated,
		check: func(t *testing.T, resp *http.Response) {
			assert.Equal(t, "/x", resp.Header.Get("Location"))
		},
	}, {
		name:       "HEAD keeps the length, no body",
		method:     http.MethodHead,
		response:   "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nContent-Type: text/html\r\n\r\n",
		wantStatus: http.StatusOK,
		check: func(t *testing.T, resp *http.Response) {
			assert.EqualValues(t, 1234, resp.ContentLength)
		},
	}, {
		name:       "204",
		response:   "HTTP/1.1 204 No Content\r\nX-App: 1\r\n\r\n",
		wantStatus: http.StatusNoContent,
		check: func(t *testing.T, resp *http.Response) {
			assert.Equal(t, "1", resp.Header.Get("X-App"))
		},
	}, {
		name:       "304",
		response:   "HTTP/1.1 304 Not Modified\r\nEtag: \"v1\"\r\n\r\n",
		wantStatus: http.StatusNotModified,
		check: func(t *testing.T, resp *http.Response) {
			assert.Equal(t, `"v1"`, resp.Header.Get("Etag"))
		},
	}, {
		name:       "404 with body",
		response:   "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found",
		wantStatus: http.StatusNotFound, wantBody: "not found",
	}, {
		name: "hop-by-hop and Connection-listed response fields removed",
		response: "HTTP/1.1 200 OK\r\nConnection: X-Hop, keep-alive\r\nX-Hop: secret\r\nKeep-Alive: timeout=5\r\n" +
			"Proxy-Connection: keep-alive\r\nProxy-Authenticate: Basic\r\nUpgrade: h2c\r\nTe: trailers\r\nX-App: yes\r\nContent-Length: 2\r\n\r\nok",
		wantStatus: http.StatusOK, wantBody: "ok",
		check: func(t *testing.T, resp *http.Response) {
			for _, k := range []string{"X-Hop", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Upgrade", "Te"} {
				assert.Empty(t, resp.Header.Values(k), k)
			}
			assert.NotContains(t, strings.ToLower(resp.Header.Get("Connection")), "x-hop")
			assert.Equal(t, "yes", resp.Header.Get("X-App"))
		},
	}, {
		name:     "ResponseHeader set over the upstream's",
		response: "HTTP/1.1 200 OK\r\nX-Powered-By: php\r\nX-App: yes\r\nContent-Length: 2\r\n\r\nok",
		edit: func(r *Request) {
			r.ResponseHeader = http.Header{"X-Powered-By": {"goauthentik.io"}, "X-Extra": {"a", "b"}}
		},
		wantStatus: http.StatusOK, wantBody: "ok",
		check: func(t *testing.T, resp *http.Response) {
			assert.Equal(t, []string{"goauthentik.io"}, resp.Header.Values("X-Powered-By"))
			assert.Equal(t, []string{"a", "b"}, resp.Header.Values("X-Extra"))
			assert.Equal(t, "yes", resp.Header.Get("X-App"))
		},
	}, {
		name:       "100 Continue dropped",
		response:   "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
		wantStatus: http.StatusOK, wantBody: "ok",
	}, {
		name:       "chunked with trailers",
		response:   "HTTP/1.1 200 OK\r\nTrailer: X-Sum\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-Sum: 42\r\n\r\n",
		wantStatus: http.StatusOK, wantBody: "ok",
		check: func(t *testing.T, resp *http.Response) {
			assert.Equal(t, "42", resp.Trailer.Get("X-Sum"))
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			method := tt.method
			if method == "" {
				method = http.MethodGet
			}
			up, _ := captureServer(t, func(cp *captured) string {
				if cp.req.URL.Path == "/second" {
					return "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond"
				}
				return tt.response
			})
			p := newProxy(t, up.URL(), Options{}, tt.edit)
			c := newClient(t)
			req, err := http.NewRequest(method, p.URL+"/first", nil)
			require.NoError(t, err)
			resp, err := c.Do(req)
			require.NoError(t, err)
			b, err := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			require.NoError(t, err)
			assert.Equal(t, tt.wantStatus, resp.StatusCode)
			assert.Equal(t, tt.wantBody, string(b))
			if tt.check != nil {
				tt.check(t, resp)
			}
			require.NoError(t, p.result(t))

			resp, body := get(t, c, p.URL+"/second")
			assert.Equal(t, http.StatusOK, resp.StatusCode)
			assert.Equal(t, "second", body)
			assert.EqualValues(t, 1, up.accepts.Load(), "the upstream connection was not reused")
		})
	}
}

// TestTrailers: trailers an httptest upstream sets reach the client.
func TestTrailers(t *testing.T) {
	t.Parallel()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Checksum")
		_, _ = io.WriteString(w, "body")
		w.(http.Flusher).Flush()
		w.Header().Set("X-Checksum", "abc")
		w.Header().Set(http.TrailerPrefix+"X-Late", "undeclared")
	}))
	t.Cleanup(up.Close)
	p := newProxy(t, mustURL(t, up.URL), Options{}, nil)
	resp, body := get(t, newClient(t), p.URL)
	assert.Equal(t, "body", body)
	assert.Equal(t, "abc", resp.Trailer.Get("X-Checksum"))
	assert.Equal(t, "undeclared", resp.Trailer.Get("X-Late"))
	require.NoError(t, p.result(t))
}

// TestEarlyHints: a 103 reaches the client before the upstream sends the
// final response, and its fields do not leak into the final response.
func TestEarlyHints(t *testing.T) {
	t.Parallel()
	gotHints := make(chan struct{})
	up := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := readRawRequest(br); err != nil {
			return
		}
		_, _ = io.WriteString(c, "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\nConnection: X-Hop\r\nX-Hop: 1\r\n\r\n")
		select {
		case <-gotHints:
		case <-time.After(ioTimeout):
			return
		}
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	})
	p := newProxy(t, up.URL(), Options{}, nil)
	var (
		mu     sync.Mutex
		hints  []textproto.MIMEHeader
		codes  []int
		closed bool
	)
	trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
		mu.Lock()
		defer mu.Unlock()
		codes = append(codes, code)
		hints = append(hints, h)
		if !closed {
			closed = true
			close(gotHints)
		}
		return nil
	}}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), http.MethodGet, p.URL, nil)
	require.NoError(t, err)
	resp, err := newClient(t).Do(req)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "ok", string(b))
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []int{http.StatusEarlyHints}, codes)
	assert.Equal(t, "</style.css>; rel=preload", hints[0].Get("Link"))
	assert.Empty(t, hints[0].Get("X-Hop"))
	assert.Empty(t, resp.Header.Get("Link"), "the hints are not part of the final response")
	require.NoError(t, p.result(t))
}

// TestStreamingResponse: a response of unknown length or an event stream
// arrives as the upstream writes it: the client reads the first event
// before the upstream sends the second.
func TestStreamingResponse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		contentType   string
		contentLength string
	}{
		{"unknown length, plain text", "text/plain", ""},
		{"unknown length, event stream", "text/event-stream", ""},
		{"event stream with a length", "text/event-stream", "24"},
		{"event stream with parameters and a length", "Text/Event-Stream; charset=utf-8", "24"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			next := make(chan struct{})
			up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tt.contentType)
				if tt.contentLength != "" {
					w.Header().Set("Content-Length", tt.contentLength)
				}
				_, _ = io.WriteString(w, "data: one\n\n") // 11 bytes
				w.(http.Flusher).Flush()
				select {
				case <-next:
				case <-time.After(ioTimeout):
					return
				}
				_, _ = io.WriteString(w, "data: two\n\n\n\n") // 13 bytes
			}))
			t.Cleanup(up.Close)
			p := newProxy(t, mustURL(t, up.URL), Options{}, nil)
			resp, err := newClient(t).Get(p.URL + "/events")
			require.NoError(t, err)
			defer func() { _ = resp.Body.Close() }()
			br := bufio.NewReader(resp.Body)
			first := make([]byte, len("data: one\n\n"))
			_, err = io.ReadFull(br, first)
			require.NoError(t, err, "the first event did not arrive on its own")
			assert.Equal(t, "data: one\n\n", string(first))
			close(next)
			rest, err := io.ReadAll(br)
			require.NoError(t, err)
			assert.Equal(t, "data: two\n\n\n\n", string(rest))
			require.NoError(t, p.result(t))
		})
	}
}

// TestObserve: Observe gets the time to the response header, once.
func TestObserve(t *testing.T) {
	t.Parallel()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(20 * time.Millisecond)
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(up.Close)
	var (
		mu   sync.Mutex
		took []time.Duration
	)
	p := newProxy(t, mustURL(t, up.URL), Options{}, func(r *Request) {
		r.Observe = func(d time.Duration) { mu.Lock(); took = append(took, d); mu.Unlock() }
	})
	_, body := get(t, newClient(t), p.URL)
	assert.Equal(t, "ok", body)
	require.NoError(t, p.result(t))
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, took, 1)
	assert.GreaterOrEqual(t, took[0], 20*time.Millisecond)
}

func TestIsEventStream(t *testing.T) {
	t.Parallel()
	tests := []struct {
		ct   string
		want bool
	}{
		{"text/event-stream", true},
		{"TEXT/EVENT-STREAM", true},
		{"text/event-stream;charset=utf-8", true},
		{"text/event-stream \t; charset=utf-8", true},
		{"text/event-streams", false},
		{"text/event-stream-x", false},
		{"text/event", false},
		{"", false},
		{"application/json", false},
		{" text/event-stream", false},
	}
	for _, tt := range tests {
		t.Run(tt.ct, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, isEventStream(tt.ct))
		})
	}
}

func TestUpgradeType(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		h    http.Header
		want string
	}{
		{"websocket", http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}}, "websocket"},
		{"token list", http.Header{"Connection": {"keep-alive, upgrade"}, "Upgrade": {"WebSocket"}}, "WebSocket"},
		{"second Connection line", http.Header{"Connection": {"keep-alive", "Upgrade"}, "Upgrade": {"websocket"}}, "websocket"},
		{"Upgrade without Connection", http.Header{"Upgrade": {"websocket"}}, ""},
		{"Connection without Upgrade", http.Header{"Connection": {"upgrade"}}, ""},
		{"not a token", http.Header{"Connection": {"upgraded"}, "Upgrade": {"websocket"}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, upgradeType(tt.h))
		})
	}
}
