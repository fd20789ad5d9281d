package e2e_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/outpost-go/outposts/authclient/devcore/devcoretest"
	"github.com/outpost-go/outposts/authclient/outpost/outposttest"
)

// streamingUpstream serves a WebSocket echo on /ws and Server-Sent Events
// on /sse; each event waits for the previous one to be read, so the test
// proves responses are streamed, not buffered.
func streamingUpstream(t *testing.T) (*httptest.Server, chan struct{}) {
	t.Helper()
	next := make(chan struct{})
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ws":
			c, err := up.Upgrade(w, r, nil)
			if err != nil {
				return
			}
			defer func() { _ = c.Close() }()
			for {
				mt, msg, err := c.ReadMessage()
				if err != nil {
					return
				}
				_ = c.WriteMessage(mt, append([]byte(r.Header.Get("X-Authentik-Username")+":"), msg...))
			}
		case "/sse":
			w.Header().Set("Content-Type", "text/event-stream")
			for i := range 3 {
				_, _ = fmt.Fprintf(w, "data: event %d\n\n", i)
				w.(http.Flusher).Flush()
				select {
				case <-next:
				case <-r.Context().Done():
					return
				}
			}
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, next
}

func TestProxyModeStreams(t *testing.T) {
	t.Parallel()
	outposttest.NeedRedis(t)
	up, next := streamingUpstream(t)
	port := freePort(t)
	core := proxyCore(t, port, up.URL)
	startOutpost(t, core, port, "e2e-"+t.Name(), nil)
	app := fmt.Sprintf("http://app.localhost:%d", port)
	b := newBrowser(t)
	resp := b.login(app+"/sse-warmup", "alice", "alice-password", "")
	_ = resp.Body.Close()

	// WebSocket through the outpost, authenticated by the session cookie.
	d := websocket.Dialer{Jar: b.Jar, NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, fmt.Sprintf("127.0.0.1:%d", port))
	}, HandshakeTimeout: 10 * time.Second}
	ws, _, err := d.Dial(fmt.Sprintf("ws://app.localhost:%d/ws", port), nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = ws.Close() })
	require.NoError(t, ws.WriteMessage(websocket.TextMessage, []byte("ping")))
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, msg, err := ws.ReadMessage()
	require.NoError(t, err)
	assert.Equal(t, "alice:ping", string(msg))

	// Without a session there is no upgrade.
	anon := websocket.Dialer{NetDialContext: d.NetDialContext, HandshakeTimeout: 10 * time.Second}
	_, r, err := anon.Dial(fmt.Sprintf("ws://app.localhost:%d/ws", port), nil)
	require.Error(t, err)
	if r != nil {
		assert.NotEqual(t, http.StatusSwitchingProtocols, r.StatusCode)
	}

	// Server-Sent Events arrive one by one.
	resp, err = b.Get(app + "/sse")
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	rd := bufio.NewReader(resp.Body)
	for i := range 3 {
		line, err := rd.ReadString('\n')
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprintf("data: event %d\n", i), line)
		_, _ = rd.ReadString('\n')
		if i < 2 {
			next <- struct{}{}
		}
	}
	next <- struct{}{}
	_, err = io.ReadAll(rd)
	require.NoError(t, err)
}

// The HTTPS listener answers with the default certificate when the
// provider has none, and serves the application.
func TestHTTPSListener(t *testing.T) {
	t.Parallel()
	up := upstream(t)
	port, tlsPort := freePort(t), freePort(t)
	core := proxyCore(t, port, up.URL)
	startOutpost(t, core, port, "", map[string]string{"AUTHENTIK_LISTEN__HTTPS": fmt.Sprintf("127.0.0.1:%d", tlsPort)})
	c := &http.Client{
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, ServerName: "app.localhost"}}, // #nosec G402 -- self-signed default certificate
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("https://127.0.0.1:%d/", tlsPort), nil)
	require.NoError(t, err)
	req.Host = fmt.Sprintf("app.localhost:%d", port)
	resp, err := c.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusFound, resp.StatusCode)
	require.NotNil(t, resp.TLS)
	assert.Equal(t, "authentik Outpost default certificate", resp.TLS.PeerCertificates[0].Subject.CommonName)
	assert.True(t, strings.Contains(resp.Header.Get("Location"), "/application/o/authorize/"))
}

// A provider's certificate (from the core's certificatekeypairs) is served
// for its host by SNI; other names get the default certificate.
func TestHTTPSCertificatePerHost(t *testing.T) {
	t.Parallel()
	up := upstream(t)
	port, tlsPort := freePort(t), freePort(t)
	core := proxyCore(t, port, up.URL, devcoretest.WithBlueprint("zz-cert.yaml", `version: 1
entries:
  - model: authentik_crypto.certificatekeypair
    id: cert
    identifiers:
      name: app.localhost
  - model: authentik_providers_proxy.proxyprovider
    identifiers:
      name: proxy-provider
    attrs:
      certificate: !KeyOf cert
`))
	startOutpost(t, core, port, "", map[string]string{"AUTHENTIK_LISTEN__HTTPS": fmt.Sprintf("127.0.0.1:%d", tlsPort)})
	for _, tt := range []struct{ sni, cn string }{
		{"app.localhost", "app.localhost"},
		{"other.localhost", "authentik Outpost default certificate"},
	} {
		conn, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", tlsPort), &tls.Config{ServerName: tt.sni, InsecureSkipVerify: true}) // #nosec G402 -- the test inspects the certificate
		require.NoError(t, err, tt.sni)
		assert.Equal(t, tt.cn, conn.ConnectionState().PeerCertificates[0].Subject.CommonName, tt.sni)
		_ = conn.Close()
	}
}
