package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/outpost-go/outposts/authclient/devcore/devcoretest"
	"github.com/outpost-go/outposts/authclient/outpost/outposttest"
)

// TestChromiumWholePath: headless Chromium logs in, opens the RAC page,
// and guacamole-common-js connects through devcore, the outpost and the
// guacd stand-in; it renders what guacd draws, resizes, and closing the
// tab ends the guacd session and frees the slot.
func TestChromiumWholePath(t *testing.T) {
	t.Parallel()
	devcoretest.ChromiumPath(t)
	s := startStack(t, stackOpts{})
	browser := devcoretest.StartChromium(t)

	browser.Navigate(s.core.URL + "application/rac/rac/ssh-localhost/")
	browser.WaitFor("the username field", `document.getElementById("uid_field") ? "yes" : ""`)
	browser.Eval(`document.getElementById("uid_field").value = "alice"; document.getElementById("submit").click(); ""`)
	browser.WaitFor("the password field", `document.getElementById("password") ? "yes" : ""`)
	browser.Eval(`document.getElementById("password").value = "alice-password"; document.getElementById("submit").click(); ""`)

	browser.WaitFor("the client to connect", `window.rac && window.rac.state === "connected" ? "yes" : ""`)
	require.True(t, strings.Contains(browser.Eval("location.pathname"), "/if/rac/"))
	// The stand-in fills the screen with rgb(0, 128, 255); the display
	// shows it once guacd's sync arrives.
	browser.WaitFor("the rectangle to be drawn", `window.rac.pixel(10, 10).join(",") === "0,128,255,255" ? "yes" : ""`)
	counts := browser.Eval(`["size","rect","cfill","sync"].map(o => o + "=" + (window.rac.instructions[o] || 0)).join(" ")`)
	for _, op := range []string{"size", "rect", "cfill", "sync"} {
		assert.NotContains(t, counts, op+"=0", counts)
	}
	require.Len(t, s.guacd.Handshakes(), 1)
	hs := s.guacd.Handshakes()[0]
	assert.Equal(t, "authentik - alice", hs.Name)
	assert.Equal(t, "96", hs.Size[2])

	// A size change goes to guacd, which resizes and redraws.
	browser.Eval(`window.rac.resize(640, 480); ""`)
	browser.WaitFor("the display to resize", `window.rac.size().join("x") === "640x480" ? "yes" : ""`)
	// The JavaScript client answers guacd's syncs: traffic flows both ways.
	require.Eventually(t, func() bool { return s.guacd.Received("sync") > 0 }, outposttest.Wait, outposttest.Tick)
	require.Eventually(t, func() bool { return s.activeConnections() == 1 }, outposttest.Wait, outposttest.Tick)

	// Closing the tab (leaving the page) ends everything at once.
	browser.Navigate("about:blank")
	require.Eventually(t, func() bool { return s.guacd.Active() == 0 && s.activeConnections() == 0 }, outposttest.Wait, outposttest.Tick,
		fmt.Sprintf("guacd sessions %d", s.guacd.Active()))
}
