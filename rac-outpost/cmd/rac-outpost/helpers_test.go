package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/outpost-go/outposts/authclient/devcore/devcoretest"
	"github.com/outpost-go/outposts/authclient/outpost/outposttest"
	"github.com/outpost-go/outposts/rac-outpost/guac"
	"github.com/outpost-go/outposts/rac-outpost/guacdtest"
	"github.com/outpost-go/outposts/rac-outpost/settings"
)

// racBlueprint is a RAC provider with one SSH endpoint, served by
// rac-outpost, for tests that need their own expiry or limit.
func racBlueprint(expiry string, maxConns int) string {
	return fmt.Sprintf(`version: 1
entries:
  - model: authentik_core.user
    id: alice
    identifiers: {username: alice}
    attrs: {name: Alice, password: alice-password}
  - model: authentik_providers_rac.racprovider
    id: rac-provider
    identifiers: {name: rac-provider}
    attrs:
      authorization_flow: !Find [authentik_flows.flow, [slug, default-provider-authorization-implicit-consent]]
      connection_expiry: %s
      settings: {color-scheme: gray-black}
  - model: authentik_providers_rac.endpoint
    identifiers: {name: ssh-localhost}
    attrs:
      provider: !KeyOf rac-provider
      protocol: ssh
      host: "127.0.0.1:22"
      auth_mode: prompt
      maximum_connections: %d
      settings: {font-size: 14}
  - model: authentik_core.application
    identifiers: {slug: rac}
    attrs: {name: RAC, provider: !KeyOf rac-provider}
  - model: authentik_outposts.outpost
    identifiers: {name: rac-outpost}
    attrs: {type: rac, providers: [!KeyOf rac-provider]}
`, expiry, maxConns)
}

// stack is devcore, the outpost (in-process) and a guacd stand-in.
type stack struct {
	core    *devcoretest.Core
	guacd   *guacdtest.Server
	metrics string
	log     *outposttest.Buffer
	stop    func() int
}

type stackOpts struct {
	core      []devcoretest.Option
	guacd     guacdtest.Options
	keepalive string
}

func startStack(t *testing.T, o stackOpts) *stack {
	t.Helper()
	core := devcoretest.Start(t, o.core...)
	g := guacdtest.Start(t, o.guacd)
	s := &stack{core: core, guacd: g, metrics: outposttest.FreeAddr(t)}
	env := map[string]string{
		"AUTHENTIK_HOST":            core.URL,
		"AUTHENTIK_TOKEN":           core.Token("rac-outpost"),
		"AUTHENTIK_LISTEN__METRICS": s.metrics,
		"GUACD_ADDRESS":             g.Addr,
		"GUACD_CHECK_INTERVAL":      "100ms",
		"TZ":                        "Europe/Berlin",
		"RAC_KEEPALIVE_INTERVAL":    o.keepalive,
	}
	set, err := settings.Load(func(k string) string { return env[k] }, nil)
	require.NoError(t, err)
	s.log, s.stop = outposttest.InProcess(t, program(set), env)
	require.Eventually(t, func() bool { return len(core.Server.Connected("rac-outpost")) == 1 }, outposttest.Wait, outposttest.Tick)
	return s
}

// activeConnections is the last HELLO's active_connections.
func (s *stack) activeConnections() float64 {
	inst := s.core.Server.Connected("rac-outpost")
	if len(inst) != 1 {
		return -1
	}
	v, _ := inst[0].Hello["active_connections"].(float64)
	return v
}

// browser is a cookie-keeping HTTP client logged in to the core.
type browser struct {
	t    *testing.T
	base string
	http *http.Client
}

func login(t *testing.T, base, user, password string) *browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	b := &browser{t: t, base: strings.TrimSuffix(base, "/"), http: &http.Client{Jar: jar, Timeout: 10 * time.Second}}
	flow := b.base + "/if/flow/default-authentication-flow/"
	for _, form := range []url.Values{nil, {"uid_field": {user}}, {"password": {password}}} {
		var resp *http.Response
		if form == nil {
			resp, err = b.http.Get(flow)
		} else {
			resp, err = b.http.PostForm(flow, form)
		}
		require.NoError(t, err)
		resp.Body.Close()
	}
	return b
}

// open follows /application/rac/<app>/<endpoint>/ and returns the token
// from the /if/rac/<token>/ page it lands on ("" if it did not) and the
// final status.
func (b *browser) open(app, endpoint string) (string, int) {
	b.t.Helper()
	resp, err := b.http.Get(b.base + "/application/rac/" + app + "/" + endpoint + "/")
	require.NoError(b.t, err)
	resp.Body.Close()
	path := resp.Request.URL.Path
	if !strings.HasPrefix(path, "/if/rac/") {
		return "", resp.StatusCode
	}
	return strings.TrimSuffix(strings.TrimPrefix(path, "/if/rac/"), "/"), resp.StatusCode
}

// tunnel opens the page's websocket tunnel, as guacamole-common-js does.
func (b *browser) tunnel(token string) *websocket.Conn {
	b.t.Helper()
	u, err := url.Parse(b.base)
	require.NoError(b.t, err)
	h := http.Header{}
	for _, c := range b.http.Jar.Cookies(u) {
		h.Add("Cookie", c.Name+"="+c.Value)
	}
	d := websocket.Dialer{Subprotocols: []string{"guacamole"}, HandshakeTimeout: 10 * time.Second}
	ws, resp, err := d.Dial("ws://"+u.Host+"/ws/rac/"+token+"/?screen_width=800&screen_height=600&screen_dpi=96", h)
	require.NoError(b.t, err)
	resp.Body.Close()
	b.t.Cleanup(func() { ws.Close() })
	return ws
}

// reader reads a tunnel's instructions in the background, answering
// guacd's syncs as the JavaScript client does.
type reader struct {
	ws     *websocket.Conn
	ins    chan guac.Instruction
	closed chan error
}

func read(t *testing.T, ws *websocket.Conn) *reader {
	t.Helper()
	r := &reader{ws: ws, ins: make(chan guac.Instruction, 1024), closed: make(chan error, 1)}
	go func() {
		for {
			_, data, err := ws.ReadMessage()
			if err != nil {
				r.closed <- err
				close(r.ins)
				return
			}
			all, err := guac.ParseAll(data)
			if err != nil {
				r.closed <- err
				close(r.ins)
				return
			}
			for _, i := range all {
				select {
				case r.ins <- i:
				default: // the test is not looking at this one
				}
			}
		}
	}()
	return r
}

// next waits for the next instruction with opcode (internal ones have
// opcode "").
func (r *reader) next(t *testing.T, opcode string) guac.Instruction {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), outposttest.Wait)
	defer cancel()
	for {
		select {
		case i, ok := <-r.ins:
			if !ok {
				t.Fatalf("tunnel closed while waiting for %q", opcode)
			}
			if i.Opcode == opcode {
				return i
			}
		case <-ctx.Done():
			t.Fatalf("no %q instruction", opcode)
		}
	}
}

// waitClosed waits until the tunnel is closed by the far side.
func (r *reader) waitClosed(t *testing.T) error {
	t.Helper()
	for {
		select {
		case _, ok := <-r.ins:
			if !ok {
				return <-r.closed
			}
		case <-time.After(outposttest.Wait):
			t.Fatal("tunnel was not closed")
		}
	}
}

func send(t *testing.T, ws *websocket.Conn, ins ...guac.Instruction) {
	t.Helper()
	var b []byte
	for _, i := range ins {
		b = append(b, i.Encode()...)
	}
	require.NoError(t, ws.WriteMessage(websocket.TextMessage, b))
}

// sessionID is the sid claim of the browser's authentik_session cookie,
// read without verification as outposts do.
func sessionID(t *testing.T, b *browser) string {
	t.Helper()
	u, err := url.Parse(b.base)
	require.NoError(t, err)
	for _, c := range b.http.Jar.Cookies(u) {
		if c.Name != "authentik_session" {
			continue
		}
		parts := strings.Split(c.Value, ".")
		require.Len(t, parts, 3)
		payload, err := base64.RawURLEncoding.DecodeString(parts[1])
		require.NoError(t, err)
		var claims struct {
			SID string `json:"sid"`
		}
		require.NoError(t, json.Unmarshal(payload, &claims))
		return claims.SID
	}
	t.Fatal("no session cookie")
	return ""
}
