package upstream

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRequestHead checks the request head the upstream receives, byte for
// byte where it matters.
func TestRequestHead(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		request string // raw client request to the proxy
		edit    func(*Request)
		check   func(t *testing.T, cp *captured, upstreamHost string)
	}{{
		name:    "method, path, query, Host and client fields",
		request: "GET /a/b%20c/?x=1&y=%2F HTTP/1.1\r\nHost: client.example\r\nX-Keep: yes\r\nAccept: */*\r\nCookie: a=1\r\nCookie: b=2\r\n\r\n",
		check: func(t *testing.T, cp *captured, upstreamHost string) {
			lines := headLines(cp.head)
			assert.Equal(t, "GET /a/b%20c/?x=1&y=%2F HTTP/1.1", lines[0])
			assert.Equal(t, "Host: "+upstreamHost, lines[1], "Host comes first")
			assert.Equal(t, []string{upstreamHost}, fieldValues(cp.head, "Host"))
			assert.Equal(t, []string{"yes"}, fieldValues(cp.head, "X-Keep"))
			assert.Equal(t, []string{"*/*"}, fieldValues(cp.head, "Accept"))
			assert.Equal(t, []string{"a=1", "b=2"}, fieldValues(cp.head, "Cookie"))
			assert.Empty(t, fieldValues(cp.head, "Content-Length"), "no body, no length for GET")
			assert.Empty(t, fieldValues(cp.head, "Transfer-Encoding"))
			assert.True(t, strings.HasSuffix(cp.head, "\r\n\r\n"))
		},
	}, {
		name:    "Request.Host replaces the Host",
		request: "GET / HTTP/1.1\r\nHost: client.example\r\n\r\n",
		edit:    func(r *Request) { r.Host = "app.internal:8443" },
		check: func(t *testing.T, cp *captured, _ string) {
			assert.Equal(t, []string{"app.internal:8443"}, fieldValues(cp.head, "Host"))
			assert.Equal(t, "app.internal:8443", cp.req.Host)
		},
	}, {
		name: "hop-by-hop and Connection-listed fields dropped",
		request: "GET /hop HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, X-Listed, x-other-listed\r\nKeep-Alive: timeout=5\r\n" +
			"Proxy-Connection: keep-alive\r\nProxy-Authorization: Basic Zm9vOmJhcg==\r\nTe: gzip, deflate\r\n" +
			"Trailer: X-Sum\r\nUpgrade: h2c\r\nX-Listed: secret\r\nX-Other-Listed: secret2\r\nX-Kept: 1\r\n\r\n",
		check: func(t *testing.T, cp *captured, _ string) {
			for _, k := range []string{"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade", "X-Listed", "X-Other-Listed"} {
				assert.Empty(t, fieldValues(cp.head, k), "%s forwarded:\n%s", k, cp.head)
			}
			assert.Equal(t, []string{"1"}, fieldValues(cp.head, "X-Kept"))
		},
	}, {
		name:    "Te without trailers dropped",
		request: "GET / HTTP/1.1\r\nHost: h\r\nTe: deflate, gzip\r\n\r\n",
		check: func(t *testing.T, cp *captured, _ string) {
			assert.Empty(t, fieldValues(cp.head, "Te"))
		},
	}, {
		name:    "Te: Trailers token in any case",
		request: "GET / HTTP/1.1\r\nHost: h\r\nTe: deflate\r\nTe: Trailers\r\n\r\n",
		check: func(t *testing.T, cp *captured, _ string) {
			assert.Equal(t, []string{"trailers"}, fieldValues(cp.head, "Te"))
		},
	}, {
		name:    "Te: trailers token",
		request: "GET / HTTP/1.1\r\nHost: h\r\nTe: deflate, trailers\r\n\r\n",
		check: func(t *testing.T, cp *captured, _ string) {
			assert.Equal(t, []string{"trailers"}, fieldValues(cp.head, "Te"))
		},
	}, {
		name:    "Expect dropped",
		request: "GET / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n",
		check: func(t *testing.T, cp *captured, _ string) {
			assert.Empty(t, fieldValues(cp.head, "Expect"))
		},
	}, {
		name:    "Drop honoured",
		request: "GET / HTTP/1.1\r\nHost: h\r\nX-Secret: s\r\nAuthorization: Bearer t\r\nX-Kept: k\r\n\r\n",
		edit: func(r *Request) {
			r.Drop = func(k string) bool { return k == "X-Secret" || k == "Authorization" }
		},
		check: func(t *testing.T, cp *captured, _ string) {
			assert.Empty(t, fieldValues(cp.head, "X-Secret"))
			assert.Empty(t, fieldValues(cp.head, "Authorization"))
			assert.Equal(t, []string{"k"}, fieldValues(cp.head, "X-Kept"))
		},
	}, {
		name:    "Header replaces the client's field and adds new ones",
		request: "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 6.6.6.6\r\nx-user: mallory\r\nX-Kept: k\r\n\r\n",
		edit: func(r *Request) {
			r.Header = http.Header{
				"X-Forwarded-For": {"1.2.3.4"},
				"X-User":          {"alice"},
				"X-Groups":        {"a", "b"},
			}
		},
		check: func(t *testing.T, cp *captured, _ string) {
			assert.Equal(t, []string{"1.2.3.4"}, fieldValues(cp.head, "X-Forwarded-For"))
			assert.Equal(t, []string{"alice"}, fieldValues(cp.head, "X-User"))
			assert.Equal(t, []string{"a", "b"}, fieldValues(cp.head, "X-Groups"))
			assert.Equal(t, []string{"k"}, fieldValues(cp.head, "X-Kept"))
		},
	}, {
		name:    "Forwarded sent, the client's dropped by Drop",
		request: "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Proto: https\r\n\r\n",
		edit: func(r *Request) {
			r.Forwarded = Forwarded{For: "1.2.3.4", Host: "app.example", Proto: "http"}
			r.Drop = func(k string) bool { return strings.HasPrefix(k, "X-Forwarded-") }
		},
		check: func(t *testing.T, cp *captured, _ string) {
			assert.Equal(t, []string{"1.2.3.4"}, fieldValues(cp.head, "X-Forwarded-For"))
			assert.Equal(t, []string{"app.example"}, fieldValues(cp.head, "X-Forwarded-Host"))
			assert.Equal(t, []string{"http"}, fieldValues(cp.head, "X-Forwarded-Proto"))
		},
	}, {
		name:    "Forwarded: Header replaces a value, empty ones are not sent",
		request: "GET / HTTP/1.1\r\nHost: h\r\n\r\n",
		edit: func(r *Request) {
			r.Forwarded = Forwarded{Host: "app.example", Proto: "https"}
			r.Header = http.Header{"X-Forwarded-Host": {"from-attributes"}}
		},
		check: func(t *testing.T, cp *captured, _ string) {
			assert.Empty(t, fieldValues(cp.head, "X-Forwarded-For"))
			assert.Equal(t, []string{"from-attributes"}, fieldValues(cp.head, "X-Forwarded-Host"))
			assert.Equal(t, []string{"https"}, fieldValues(cp.head, "X-Forwarded-Proto"))
		},
	}, {
		name:    "Fields are sent as rendered, the client's dropped by Drop",
		request: "GET / HTTP/1.1\r\nHost: h\r\nX-User: mallory\r\nX-Kept: k\r\n\r\n",
		edit: func(r *Request) {
			r.Fields = []byte("X-User: alice\r\nX-Groups: a|b\r\n")
			r.Drop = func(k string) bool { return k == "X-User" }
		},
		check: func(t *testing.T, cp *captured, _ string) {
			assert.Equal(t, []string{"alice"}, fieldValues(cp.head, "X-User"))
			assert.Equal(t, []string{"a|b"}, fieldValues(cp.head, "X-Groups"))
			assert.Equal(t, []string{"k"}, fieldValues(cp.head, "X-Kept"))
		},
	}, {
		name:    "CR and LF in added values never split the head",
		request: "GET / HTTP/1.1\r\nHost: h\r\n\r\n",
		edit: func(r *Request) {
			r.Host = "app\r\nX-Host-Injected: 1"
			r.Header = http.Header{
				"X-User":   {"alice\r\nX-Injected: 1", "\nbob\r"},
				"Bad Name": {"dropped"},
				"X-Lf":     {"a\nb"},
			}
		},
		check: func(t *testing.T, cp *captured, _ string) {
			assert.Equal(t, []string{"app  X-Host-Injected: 1"}, fieldValues(cp.head, "Host"))
			assert.Equal(t, []string{"alice  X-Injected: 1", "bob"}, fieldValues(cp.head, "X-User"))
			assert.Equal(t, []string{"a b"}, fieldValues(cp.head, "X-Lf"))
			assert.Empty(t, fieldValues(cp.head, "X-Injected"))
			assert.Empty(t, fieldValues(cp.head, "X-Host-Injected"))
			assert.NotContains(t, cp.head, "Bad Name")
			assert.NotContains(t, strings.TrimSuffix(cp.head, "\r\n\r\n"), "\r\n\r\n")
			for _, l := range headLines(cp.head) {
				assert.NotContains(t, l, "\n")
				assert.NotContains(t, l, "\r")
			}
		},
	}, {
		name:    "Content-Length body",
		request: "POST /p HTTP/1.1\r\nHost: h\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nhello world",
		check: func(t *testing.T, cp *captured, _ string) {
			assert.Equal(t, "POST /p HTTP/1.1", headLines(cp.head)[0])
			assert.Equal(t, []string{"11"}, fieldValues(cp.head, "Content-Length"))
			assert.Empty(t, fieldValues(cp.head, "Transfer-Encoding"))
			assert.Equal(t, "hello world", string(cp.body))
		},
	}, {
		name:    "unknown-length body chunked",
		request: "PUT /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
		check: func(t *testing.T, cp *captured, _ string) {
			assert.Equal(t, []string{"chunked"}, fieldValues(cp.head, "Transfer-Encoding"))
			assert.Empty(t, fieldValues(cp.head, "Content-Length"))
			assert.Equal(t, "hello world", string(cp.body))
		},
	}, {
		name:    "empty chunked body",
		request: "POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		check: func(t *testing.T, cp *captured, _ string) {
			assert.Empty(t, cp.body)
			assert.Len(t, append(fieldValues(cp.head, "Content-Length"), fieldValues(cp.head, "Transfer-Encoding")...), 1,
				"exactly one framing field:\n%s", cp.head)
		},
	}, {
		name:    "GET with a body",
		request: "GET /g HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc",
		check: func(t *testing.T, cp *captured, _ string) {
			assert.Equal(t, []string{"3"}, fieldValues(cp.head, "Content-Length"))
			assert.Equal(t, "abc", string(cp.body))
		},
	}, {
		name:    "DELETE without a body has no length",
		request: "DELETE /d HTTP/1.1\r\nHost: h\r\n\r\n",
		check: func(t *testing.T, cp *captured, _ string) {
			assert.Empty(t, fieldValues(cp.head, "Content-Length"))
			assert.Empty(t, fieldValues(cp.head, "Transfer-Encoding"))
		},
	}}
	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodPatch} {
		for _, cl := range []string{"", "Content-Length: 0\r\n"} {
			tests = append(tests, struct {
				name    string
				request string
				edit    func(*Request)
				check   func(t *testing.T, cp *captured, upstreamHost string)
			}{
				name:    "bodiless " + method + " " + strconv.Quote(cl),
				request: method + " /x HTTP/1.1\r\nHost: h\r\n" + cl + "\r\n",
				check: func(t *testing.T, cp *captured, _ string) {
					assert.Equal(t, []string{"0"}, fieldValues(cp.head, "Content-Length"))
					assert.Empty(t, fieldValues(cp.head, "Transfer-Encoding"))
					assert.Empty(t, cp.body)
				},
			})
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			up, got := captureServer(t, nil)
			p := newProxy(t, up.URL(), Options{}, tt.edit)
			resp, body := rawDo(t, p.Listener.Addr().String(), tt.request)
			require.Equal(t, http.StatusOK, resp.StatusCode, body)
			assert.Equal(t, "ok", body)
			require.NoError(t, p.result(t))
			tt.check(t, recvCaptured(t, got), up.ln.Addr().String())
		})
	}
}

// TestExpectContinueBody: a client that waits for 100 Continue still gets
// its body to the upstream, which never sees Expect.
func TestExpectContinueBody(t *testing.T) {
	t.Parallel()
	up, got := captureServer(t, nil)
	p := newProxy(t, up.URL(), Options{}, nil)
	resp, err := newClient(t).Do(func() *http.Request {
		r, err := http.NewRequest(http.MethodPost, p.URL+"/e", strings.NewReader("payload"))
		require.NoError(t, err)
		r.Header.Set("Expect", "100-continue")
		return r
	}())
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	cp := recvCaptured(t, got)
	assert.Equal(t, "payload", string(cp.body))
	assert.Empty(t, fieldValues(cp.head, "Expect"))
}

// TestRequestBodies sends bodies through the proxy with a normal client
// and compares what the upstream (httptest) read.
func TestRequestBodies(t *testing.T) {
	t.Parallel()
	big := make([]byte, 1<<20+123)
	_, _ = rand.Read(big)
	tests := []struct {
		name    string
		body    func() io.Reader // a *bytes.Reader has a length, others not
		want    []byte
		chunked bool
	}{
		{"Content-Length 1 MiB", func() io.Reader { return bytes.NewReader(big) }, big, false},
		{"Content-Length 1 byte", func() io.Reader { return strings.NewReader("x") }, []byte("x"), false},
		{"unknown length 1 MiB", func() io.Reader { return io.MultiReader(bytes.NewReader(big)) }, big, true},
		{"unknown length, small pieces", func() io.Reader {
			return io.MultiReader(strings.NewReader("a"), strings.NewReader("bc"), strings.NewReader("def"))
		}, []byte("abcdef"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, err := io.ReadAll(r.Body)
				if err != nil {
					http.Error(w, err.Error(), http.StatusBadRequest)
					return
				}
				sum := sha256.Sum256(b)
				w.Header().Set("X-Chunked", strconv.FormatBool(len(r.TransferEncoding) > 0))
				w.Header().Set("X-Length", strconv.FormatInt(r.ContentLength, 10))
				_, _ = io.WriteString(w, hex.EncodeToString(sum[:]))
			}))
			t.Cleanup(up.Close)
			p := newProxy(t, mustURL(t, up.URL), Options{}, nil)
			resp, err := newClient(t).Post(p.URL+"/upload", "application/octet-stream", tt.body())
			require.NoError(t, err)
			defer func() { _ = resp.Body.Close() }()
			got, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, resp.StatusCode, string(got))
			sum := sha256.Sum256(tt.want)
			assert.Equal(t, hex.EncodeToString(sum[:]), string(got))
			assert.Equal(t, strconv.FormatBool(tt.chunked), resp.Header.Get("X-Chunked"))
			if !tt.chunked {
				assert.Equal(t, strconv.Itoa(len(tt.want)), resp.Header.Get("X-Length"))
			}
			require.NoError(t, p.result(t))
		})
	}
}

// TestEarlyResponseToLargeBody: an upstream that answers 413 without
// reading a large body; the client gets the 413, not a 502.
func TestEarlyResponseToLargeBody(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		size int
	}{
		{"fits in the socket buffers", 64 << 10},
		{"larger than what net/http drains", 16 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "too large", http.StatusRequestEntityTooLarge)
			}))
			t.Cleanup(up.Close)
			p := newProxy(t, mustURL(t, up.URL), Options{}, nil)

			c, err := net.Dial("tcp", p.Listener.Addr().String())
			require.NoError(t, err)
			t.Cleanup(func() { _ = c.Close() })
			require.NoError(t, c.SetDeadline(time.Now().Add(ioTimeout)))
			_, err = fmt.Fprintf(c, "POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n", tt.size)
			require.NoError(t, err)
			go func() { _, _ = c.Write(make([]byte, tt.size)) }() // may fail once the proxy gives up
			resp, err := http.ReadResponse(bufioReader(c), &http.Request{Method: http.MethodPost})
			require.NoError(t, err)
			b, _ := io.ReadAll(resp.Body)
			assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode, string(b))
			assert.Equal(t, "too large\n", string(b))
			assert.NoError(t, p.result(t))
		})
	}
}
