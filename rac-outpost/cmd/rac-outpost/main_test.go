package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/outpost-go/outposts/authclient/devcore/devcoretest"
	"github.com/outpost-go/outposts/authclient/events"
	"github.com/outpost-go/outposts/authclient/outpost/outposttest"
	"github.com/outpost-go/outposts/rac-outpost/guac"
	"github.com/outpost-go/outposts/rac-outpost/guacdtest"
	"github.com/outpost-go/outposts/rac-outpost/settings"
)

// TestWholePath runs a session through devcore, the outpost and the guacd
// stand-in with a Go client in the browser's place (the Chromium test
// does the same with guacamole-common-js).
func TestWholePath(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOpts{})
	b := login(t, s.core.URL, "alice", "alice-password")
	token, status := b.open("rac", "ssh-localhost")
	require.NotEmpty(t, token, "status %d", status)
	ws := b.tunnel(token)
	r := read(t, ws)

	first := r.next(t, "")
	require.Len(t, first.Args, 1, "the tunnel's uuid comes first")
	assert.Equal(t, []string{"0", "800", "600"}, r.next(t, "size").Args)
	assert.Equal(t, "rect", r.next(t, "rect").Opcode)
	assert.Equal(t, []string{"14", "0", "0", "128", "255", "255"}, r.next(t, "cfill").Args)
	r.next(t, "sync")

	// What the handshake carried: authentik's settings precedence, the
	// version, timezone and name.
	require.Len(t, s.guacd.Handshakes(), 1)
	hs := s.guacd.Handshakes()[0]
	assert.Equal(t, "ssh", hs.Select)
	assert.Equal(t, "127.0.0.1", hs.Connect["hostname"])
	assert.Equal(t, "22", hs.Connect["port"])
	assert.Equal(t, "VERSION_1_5_0", hs.Connect["VERSION_1_5_0"])
	assert.Equal(t, []string{"800", "600", "96"}, hs.Size)
	assert.Equal(t, "Europe/Berlin", hs.Timezone)
	assert.Equal(t, "authentik - alice", hs.Name)
	assert.Equal(t, []string{"image/webp", "image/png", "image/jpeg"}, hs.Image)

	// Size changes reach guacd and it redraws; pings are echoed, not
	// forwarded.
	send(t, ws, guac.New("size", "1024", "700"))
	assert.Equal(t, []string{"0", "1024", "700"}, r.next(t, "size").Args)
	send(t, ws, guac.New("", "ping", "12345"))
	assert.Equal(t, []string{"ping", "12345"}, r.next(t, "").Args)
	assert.Equal(t, 0, s.guacd.Received(""))

	require.Eventually(t, func() bool { return s.activeConnections() == 1 }, outposttest.Wait, outposttest.Tick)
	v, ok := outposttest.Scrape(s.metrics, "authentik_outpost_rac_active_sessions")
	assert.True(t, ok)
	assert.Equal(t, 1.0, v)
	v, ok = outposttest.Scrape(s.metrics, "authentik_outpost_rac_guacd_up")
	assert.True(t, ok)
	assert.Equal(t, 1.0, v)
	v, _ = outposttest.Scrape(s.metrics, "authentik_outpost_rac_bytes_total")
	assert.Positive(t, v)

	// The browser leaves: guacd's session and the count go at once.
	require.NoError(t, ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")))
	require.Eventually(t, func() bool { return s.guacd.Active() == 0 && s.activeConnections() == 0 }, outposttest.Wait, outposttest.Tick)
	assert.Equal(t, 1, s.guacd.Received("disconnect"))
	assert.Equal(t, 0, s.stop())
}

func TestDisconnects(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		end  func(t *testing.T, s *stack, ws *websocket.Conn)
		// guacdTold: guacd hears a disconnect instruction.
		guacdTold bool
	}{
		{"browser closes the tab", func(t *testing.T, s *stack, ws *websocket.Conn) { require.NoError(t, ws.Close()) }, true},
		{"guacd ends the session", func(t *testing.T, s *stack, ws *websocket.Conn) { s.guacd.DropAll() }, false},
		{"core goes away", func(t *testing.T, s *stack, ws *websocket.Conn) { s.core.Stop() }, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := startStack(t, stackOpts{})
			b := login(t, s.core.URL, "alice", "alice-password")
			token, _ := b.open("rac", "ssh-localhost")
			require.NotEmpty(t, token)
			ws := b.tunnel(token)
			r := read(t, ws)
			r.next(t, "sync")
			require.Equal(t, 1, s.guacd.Active())
			tc.end(t, s, ws)
			require.Eventually(t, func() bool { return s.guacd.Active() == 0 }, outposttest.Wait, outposttest.Tick)
			if tc.guacdTold {
				require.Eventually(t, func() bool { return s.guacd.Received("disconnect") == 1 }, outposttest.Wait, outposttest.Tick)
			}
			if tc.name == "guacd ends the session" {
				assert.Equal(t, []string{"Aborted. See logs.", "769"}, r.next(t, "error").Args, "the browser hears why")
				r.waitClosed(t)
				require.Eventually(t, func() bool { return s.activeConnections() == 0 }, outposttest.Wait, outposttest.Tick)
			}
			v, _ := outposttest.Scrape(s.metrics, "authentik_outpost_rac_active_sessions")
			assert.Equal(t, 0.0, v)
		})
	}
}

// TestSessionEnd logs the user out: the core sends SESSION_END and closes
// the browser's tunnel; the outpost ends the user's connections.
func TestSessionEnd(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOpts{core: []devcoretest.Option{devcoretest.WithBlueprint("rac.yaml", racBlueprint("hours=8", 5))}})
	alice := login(t, s.core.URL, "alice", "alice-password")
	other := login(t, s.core.URL, "alice", "alice-password")
	var readers []*reader
	for _, b := range []*browser{alice, alice, other} {
		token, _ := b.open("rac", "ssh-localhost")
		require.NotEmpty(t, token)
		r := read(t, b.tunnel(token))
		r.next(t, "sync")
		readers = append(readers, r)
	}
	require.Eventually(t, func() bool { return s.activeConnections() == 3 }, outposttest.Wait, outposttest.Tick)

	resp, err := alice.http.Get(alice.base + "/if/flow/default-invalidation-flow/")
	require.NoError(t, err)
	resp.Body.Close()
	readers[0].waitClosed(t)
	readers[1].waitClosed(t)
	require.Eventually(t, func() bool { return s.guacd.Active() == 1 && s.activeConnections() == 1 }, outposttest.Wait, outposttest.Tick)

	// The other session's connection is untouched.
	send(t, readers[2].ws, guac.New("", "ping", "1"))
	readers[2].next(t, "")
}

// TestSessionEndMessage sends SESSION_END straight to the outpost, as a
// core whose browser side is elsewhere would.
func TestSessionEndMessage(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOpts{})
	b := login(t, s.core.URL, "alice", "alice-password")
	token, _ := b.open("rac", "ssh-localhost")
	r := read(t, b.tunnel(token))
	r.next(t, "sync")
	sid := sessionID(t, b)
	require.Equal(t, 1, s.core.Server.Send("rac-outpost", events.Message{Instruction: events.SessionEnd, Args: map[string]any{"session_id": "someone-else"}}))
	require.Equal(t, 1, s.core.Server.Send("rac-outpost", events.Message{Instruction: events.SessionEnd, Args: map[string]any{"session_id": sid}}))
	r.waitClosed(t)
	require.Eventually(t, func() bool { return s.guacd.Active() == 0 }, outposttest.Wait, outposttest.Tick)
}

func TestTokenExpiry(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOpts{core: []devcoretest.Option{devcoretest.WithBlueprint("rac.yaml", racBlueprint("seconds=2", -1))}})
	b := login(t, s.core.URL, "alice", "alice-password")
	token, _ := b.open("rac", "ssh-localhost")
	require.NotEmpty(t, token)
	r := read(t, b.tunnel(token))
	r.next(t, "sync")
	r.waitClosed(t)
	require.Eventually(t, func() bool { return s.guacd.Active() == 0 }, outposttest.Wait, outposttest.Tick)

	resp, err := b.http.Get(b.base + "/if/rac/" + token + "/")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	u := strings.Replace(b.base, "http://", "ws://", 1) + "/ws/rac/" + token + "/"
	_, resp, err = websocket.DefaultDialer.Dial(u, nil)
	require.Error(t, err)
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
}

// TestMaximumConnections: the limit counts live sessions, so closing the
// tab frees the slot at once, long before the token would expire.
func TestMaximumConnections(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOpts{})
	b := login(t, s.core.URL, "alice", "alice-password")
	token, _ := b.open("rac", "ssh-localhost")
	require.NotEmpty(t, token)
	ws := b.tunnel(token)
	read(t, ws).next(t, "sync")

	second, status := b.open("rac", "ssh-localhost")
	assert.Empty(t, second)
	assert.Equal(t, http.StatusForbidden, status)
	// A token made before the first tab connected is refused at connect.
	r := read(t, b.tunnel(token))
	assert.Equal(t, []string{"Maximum connection limit reached.", "797"}, r.next(t, "error").Args)

	require.NoError(t, ws.Close())
	require.Eventually(t, func() bool {
		tok, _ := b.open("rac", "ssh-localhost")
		return tok != ""
	}, outposttest.Wait, outposttest.Tick)
}

// TestIdleNoDrop keeps a session idle for "2 minutes" with the timers
// shortened 60 times (guacd keepalives and websocket pings every 100 ms
// instead of about 5 s, the browser pinging as guacamole-common-js does):
// the session must still be up, with every ping answered. (The relay's
// websocket ping frames are covered by relay's TestRelayKeepAlivePings.)
func TestIdleNoDrop(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOpts{guacd: guacdtest.Options{Keepalive: 100 * time.Millisecond}, keepalive: "100ms"})
	b := login(t, s.core.URL, "alice", "alice-password")
	token, _ := b.open("rac", "ssh-localhost")
	ws := b.tunnel(token)
	r := read(t, ws)
	r.next(t, "sync")
	deadline := time.Now().Add(2 * time.Second)
	echoed := 0
	for time.Now().Before(deadline) {
		send(t, ws, guac.New("", "ping", "1"))
		r.next(t, "")
		echoed++
		r.next(t, "nop") // guacd's keepalive got through
		time.Sleep(50 * time.Millisecond)
	}
	assert.Positive(t, echoed)
	assert.Equal(t, 1, s.guacd.Active())
	assert.Equal(t, 0, s.guacd.Received(""))
}

// TestGuacdDown: the browser hears that the gateway is unavailable, and
// readiness and the health metric say so.
func TestGuacdDown(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOpts{})
	s.guacd.Close()
	require.Eventually(t, func() bool {
		v, ok := outposttest.Scrape(s.metrics, "authentik_outpost_rac_guacd_up")
		return ok && v == 0
	}, outposttest.Wait, outposttest.Tick)
	resp, err := http.Get("http://" + s.metrics + "/outpost.goauthentik.io/ready")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Equal(t, http.StatusNoContent, outposttest.Ping(s.metrics), "liveness is unaffected")

	b := login(t, s.core.URL, "alice", "alice-password")
	token, _ := b.open("rac", "ssh-localhost")
	r := read(t, b.tunnel(token))
	assert.Equal(t, []string{"Remote desktop gateway unavailable", "519"}, r.next(t, "error").Args)
	r.waitClosed(t)
	require.Eventually(t, func() bool { return s.activeConnections() == 0 }, outposttest.Wait, outposttest.Tick)
}

func TestBadInitConnection(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOpts{})
	for _, args := range []map[string]any{
		{"sub_type": "init_connection"},
		{"sub_type": "init_connection", "dest_channel_id": "c1", "protocol": "telnet"},
		{"sub_type": "logout"},
	} {
		require.Equal(t, 1, s.core.Server.Send("rac-outpost", events.Message{Instruction: events.ProviderSpecific, Args: args}))
	}
	require.Eventually(t, func() bool {
		v, ok := outposttest.Scrape(s.metrics, `authentik_outpost_rac_sessions_total`)
		return ok && v == 2
	}, outposttest.Wait, outposttest.Tick)
	assert.Equal(t, 0.0, s.activeConnections())
}

// TestLoadSpreading runs two replicas of the outpost: each connection has
// its own id, active_connections counts it at once, and the core sends
// the next connection to the replica with fewer.
func TestLoadSpreading(t *testing.T) {
	t.Parallel()
	core := devcoretest.Start(t, devcoretest.WithBlueprint("rac.yaml", racBlueprint("hours=8", 10)))
	g := guacdtest.Start(t, guacdtest.Options{})
	for range 2 {
		env := map[string]string{
			"AUTHENTIK_HOST":            core.URL,
			"AUTHENTIK_TOKEN":           core.Token("rac-outpost"),
			"AUTHENTIK_LISTEN__METRICS": outposttest.FreeAddr(t),
			"GUACD_ADDRESS":             g.Addr,
		}
		set, err := settings.Load(func(k string) string { return env[k] }, nil)
		require.NoError(t, err)
		outposttest.InProcess(t, program(set), env)
	}
	loads := func() []float64 {
		var out []float64
		for _, inst := range core.Server.Connected("rac-outpost") {
			v, _ := inst.Hello["active_connections"].(float64)
			out = append(out, v)
		}
		return out
	}
	require.Eventually(t, func() bool { return assert.ObjectsAreEqual([]float64{0, 0}, loads()) }, outposttest.Wait, outposttest.Tick)

	b := login(t, core.URL, "alice", "alice-password")
	for i := 1; i <= 4; i++ {
		token, _ := b.open("rac", "ssh-localhost")
		require.NotEmpty(t, token)
		read(t, b.tunnel(token)).next(t, "sync")
		// Each replica's HELLO is current before the next connection.
		require.Eventually(t, func() bool {
			l := loads()
			return len(l) == 2 && l[0]+l[1] == float64(i)
		}, outposttest.Wait, outposttest.Tick)
	}
	assert.Equal(t, []float64{2, 2}, loads())
	assert.Equal(t, 4, g.Active())
	ids := map[string]bool{}
	for _, hs := range g.Handshakes() {
		ids[hs.ID] = true
	}
	assert.Len(t, ids, 4)
}

func TestBadSettingExits2(t *testing.T) {
	t.Parallel()
	env := map[string]string{"GUACD_ADDRESS": "no-port"}
	assert.Equal(t, 2, run(t.Context(), nil, func(k string) string { return env[k] }))
}
