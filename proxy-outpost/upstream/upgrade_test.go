package upstream

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// echoUpgradeServer answers an upgrade request with response (a 101 head)
// and greeting, then echoes every byte back; it reports the request on got.
func echoUpgradeServer(t *testing.T, response, greeting string) (*rawServer, chan *captured) {
	got := make(chan *captured, 4)
	s := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
		cp, err := readRawRequest(br)
		if err != nil {
			return
		}
		got <- cp
		if _, err := io.WriteString(c, response+greeting); err != nil {
			return
		}
		_, _ = io.Copy(c, br)
	})
	return s, got
}

// dialUpgrade sends an upgrade request to the proxy and reads the
// response head; the connection stays open for the upgraded protocol.
func dialUpgrade(t *testing.T, addr, request string) (net.Conn, *bufio.Reader, *http.Response) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	require.NoError(t, c.SetDeadline(time.Now().Add(ioTimeout)))
	_, err = io.WriteString(c, request)
	require.NoError(t, err)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
	require.NoError(t, err)
	return c, br, resp
}

const wsRequest = "GET /socket?room=1 HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n" +
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"

const ws101 = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
	"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"

// TestUpgrade: bytes flow both ways after a 101, including bytes the
// upstream sent right behind its 101 and bytes the client sent right
// behind its request.
func TestUpgrade(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		request  string
		early    string // client bytes sent with the request
		response string
		greeting string
	}{
		{"websocket", wsRequest, "", ws101, ""},
		{"greeting behind the 101", wsRequest, "", ws101, "hello client"},
		{"client bytes behind the request", wsRequest, "early bird", ws101, ""},
		{"upgrade value in another case", strings.Replace(wsRequest, "Upgrade: websocket", "Upgrade: WebSocket", 1), "",
			strings.Replace(ws101, "Upgrade: websocket", "Upgrade: websocket", 1), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			up, got := echoUpgradeServer(t, tt.response, tt.greeting)
			p := newProxy(t, up.URL(), Options{}, func(r *Request) {
				r.ResponseHeader = http.Header{"X-Powered-By": {"test"}}
				r.Header = http.Header{"X-User": {"alice"}}
			})
			c, br, resp := dialUpgrade(t, p.Listener.Addr().String(), tt.request+tt.early)
			require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
			assert.True(t, strings.EqualFold(resp.Header.Get("Upgrade"), "websocket"))
			assert.Equal(t, "Upgrade", resp.Header.Get("Connection"))
			assert.Equal(t, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", resp.Header.Get("Sec-Websocket-Accept"))
			assert.Equal(t, "test", resp.Header.Get("X-Powered-By"))

			cp := recvCaptured(t, got)
			assert.Equal(t, "GET /socket?room=1 HTTP/1.1", headLines(cp.head)[0])
			assert.Equal(t, []string{"Upgrade"}, fieldValues(cp.head, "Connection"))
			assert.True(t, strings.EqualFold("websocket", strings.Join(fieldValues(cp.head, "Upgrade"), ",")), cp.head)
			assert.Equal(t, []string{"dGhlIHNhbXBsZSBub25jZQ=="}, fieldValues(cp.head, "Sec-Websocket-Key"))
			assert.Equal(t, []string{"alice"}, fieldValues(cp.head, "X-User"))

			want := tt.greeting + tt.early
			if want != "" {
				b := make([]byte, len(want))
				_, err := io.ReadFull(br, b)
				require.NoError(t, err)
				assert.Equal(t, want, string(b))
			}
			for _, msg := range []string{"ping", strings.Repeat("x", 100<<10), "\x00\x01binary\xff"} {
				_, err := io.WriteString(c, msg)
				require.NoError(t, err)
				b := make([]byte, len(msg))
				_, err = io.ReadFull(br, b)
				require.NoError(t, err)
				require.Equal(t, msg, string(b))
			}
			require.NoError(t, c.Close())
			require.NoError(t, p.result(t), "Forward returns once a side closes")
		})
	}
}

// TestUpgradeUpstreamCloses: when the upstream ends the upgraded
// connection, the client's ends too.
func TestUpgradeUpstreamCloses(t *testing.T) {
	t.Parallel()
	up := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := readRawRequest(br); err != nil {
			return
		}
		_, _ = io.WriteString(c, ws101+"bye")
	})
	p := newProxy(t, up.URL(), Options{}, nil)
	c, br, resp := dialUpgrade(t, p.Listener.Addr().String(), wsRequest)
	require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	rest, err := io.ReadAll(br)
	require.NoError(t, err, "EOF, not a timeout")
	assert.Equal(t, "bye", string(rest))
	require.NoError(t, c.Close()) // as a client does on EOF
	require.NoError(t, p.result(t))
}

// TestUpgradeRefused: a 101 the client did not ask for, or to another
// protocol, is an error (502 from the handler); a declined upgrade is an
// ordinary response.
func TestUpgradeRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		request    string
		response   string
		wantStatus int
	}{
		{"101 to another protocol", wsRequest, strings.Replace(ws101, "websocket", "h2c", 1), http.StatusBadGateway},
		{"101 without Upgrade", wsRequest, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n\r\n", http.StatusBadGateway},
		{"101 with a non-ASCII Upgrade", strings.Replace(wsRequest, "websocket", "w\xc3\xa9bsocket", 1),
			strings.Replace(ws101, "websocket", "w\xc3\xa9bsocket", 1), http.StatusBadGateway},
		{"101 the client did not ask for", "GET / HTTP/1.1\r\nHost: h\r\n\r\n", ws101, http.StatusBadGateway},
		{"101 when Upgrade came without Connection: upgrade", "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n", ws101, http.StatusBadGateway},
		{"upgrade declined", wsRequest, "HTTP/1.1 400 Bad Request\r\nContent-Length: 2\r\n\r\nno", http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			up, _ := echoUpgradeServer(t, tt.response, "")
			p := newProxy(t, up.URL(), Options{}, nil)
			resp, body := rawDo(t, p.Listener.Addr().String(), tt.request)
			assert.Equal(t, tt.wantStatus, resp.StatusCode, body)
			err := p.result(t)
			if tt.wantStatus == http.StatusBadGateway {
				require.Error(t, err)
				assert.Contains(t, err.Error(), "switched protocol")
			} else {
				require.NoError(t, err)
			}
		})
	}
}
