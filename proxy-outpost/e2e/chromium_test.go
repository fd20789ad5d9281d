package e2e_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/outpost-go/outposts/authclient/devcore/devcoretest"
	"github.com/outpost-go/outposts/authclient/outpost/outposttest"
)

// A real browser logs in with a password and a TOTP code through the
// core's login page, comes back to the application, and the upstream sees
// who it is.
func TestChromiumLogin(t *testing.T) {
	t.Parallel()
	outposttest.NeedRedis(t)
	up := upstream(t)
	port := freePort(t)
	core := proxyCore(t, port, up.URL)
	startOutpost(t, core, port, "e2e-"+t.Name(), nil)
	// Started last, so its cleanup closes its connections first.
	d := devcoretest.StartChromium(t, "--host-resolver-rules=MAP *.localhost 127.0.0.1")
	app := fmt.Sprintf("http://app.localhost:%d/dashboard", port)

	d.Navigate(app)
	// Fill each stage the login page shows until we are back on the app.
	fill := `(function(){
	  if (location.host.indexOf("app.localhost") === 0) return "done";
	  const f = document.getElementById("flow-form"); if (!f || f.dataset.sent) return "";
	  const set = (id, v) => { const e = document.getElementById(id); if (e) e.value = v; };
	  set("uid_field", "carol"); set("password", "carol-password"); set("code", %q);
	  f.dataset.sent = "1"; HTMLFormElement.prototype.submit.call(f); return "";
	})()`
	deadline := time.Now().Add(30 * time.Second)
	for d.Eval(fmt.Sprintf(fill, totpNow(t))) != "done" {
		require.True(t, time.Now().Before(deadline), "login did not finish: %s %s", d.Eval("location.href"), d.Eval("document.body ? document.body.innerText : ''"))
		time.Sleep(100 * time.Millisecond)
	}
	body := d.WaitFor("the application page", `document.body && document.body.innerText.indexOf("X-Authentik-Username") >= 0 ? document.body.innerText : ""`)
	var e echo
	require.NoError(t, json.Unmarshal([]byte(body), &e), body)
	assert.Equal(t, "/dashboard", e.Path)
	assert.Equal(t, "carol", e.header("X-Authentik-Username"))
	assert.Contains(t, e.header("X-Authentik-Groups"), "backend")
	assert.Equal(t, "carol@example.com", e.header("X-Authentik-Email"))

	// The session cookie is HttpOnly: page scripts cannot read it.
	assert.NotContains(t, d.Eval("document.cookie"), "authentik_proxy_")
}
