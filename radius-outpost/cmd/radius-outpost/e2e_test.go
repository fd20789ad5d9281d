package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/md5" //nolint:gosec
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2869"

	"github.com/outpost-go/outposts/authclient/devcore/devcoretest"
	"github.com/outpost-go/outposts/authclient/outpost/outposttest"
	"github.com/outpost-go/outposts/authclient/totp"
)

// demoSecret is the demo blueprint's radius-provider secret.
const demoSecret = "demo-radius-secret"

// freeUDP returns a loopback UDP address that was free a moment ago.
func freeUDP(t *testing.T) string {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := c.LocalAddr().String()
	require.NoError(t, c.Close())
	return addr
}

type outpostProc struct {
	auth, acct, metrics string
	log                 *outposttest.Buffer
}

// startBinary builds and runs the real radius-outpost against core until
// the test ends; its output is attached to the test log when the test fails.
func startBinary(t *testing.T, core *devcoretest.Core, env map[string]string) *outpostProc {
	t.Helper()
	bin := outposttest.Build(t, ".", "radius-outpost")
	p := &outpostProc{auth: freeUDP(t), acct: freeUDP(t), metrics: outposttest.FreeAddr(t)}
	full := map[string]string{
		"AUTHENTIK_HOST":                      core.URL,
		"AUTHENTIK_TOKEN":                     core.Token("radius-outpost"),
		"AUTHENTIK_LISTEN__RADIUS":            p.auth,
		"AUTHENTIK_LISTEN__RADIUS_ACCOUNTING": p.acct,
		"AUTHENTIK_LISTEN__METRICS":           p.metrics,
	}
	for k, v := range env {
		full[k] = v
	}
	p.log = outposttest.Start(t, bin, full).Log
	require.Eventually(t, func() bool {
		s := p.log.String()
		return strings.Contains(s, `"kind":"auth"`) && strings.Contains(s, `"kind":"accounting"`) && strings.Contains(s, `received providers`)
	}, outposttest.Wait, outposttest.Tick, "outpost did not start")
	return p
}

// radclient runs FreeRADIUS's radclient and returns its output and whether
// it exited 0. A request that should get no reply is given up after one
// second (the drop itself is asserted through metrics or the log); one that
// should get a reply is waited for long enough for a slow machine.
func radclient(t *testing.T, input, addr, command, secret string) (string, bool) {
	t.Helper()
	return radclientWait(t, input, addr, command, secret, "15")
}

func radclientNoReply(t *testing.T, input, addr, command, secret string) (string, bool) {
	t.Helper()
	return radclientWait(t, input, addr, command, secret, "1")
}

func radclientWait(t *testing.T, input, addr, command, secret, timeout string) (string, bool) {
	t.Helper()
	bin := outposttest.Need(t, "radclient", "freeradius-utils (apt-get install -y freeradius-utils)")
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-x", "-r", "1", "-t", timeout, addr, command, secret)
	cmd.Stdin = strings.NewReader(input)
	out, err := cmd.CombinedOutput()
	return string(out), err == nil
}

func (p *outpostProc) metric(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + p.metrics + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var sum float64
	for line := range strings.SplitSeq(string(body), "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(line, l)
		}
		if !ok {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		require.NoError(t, err)
		sum += v
	}
	return sum
}

// eventually waits until a counter has counted something: a dropped packet
// gets no reply, so only the metric tells when it was handled.
func (p *outpostProc) eventually(t *testing.T, name string, labels ...string) {
	t.Helper()
	require.Eventually(t, func() bool { return p.metric(t, name, labels...) >= 1 }, outposttest.Wait, outposttest.Tick,
		"%s%v never counted", name, labels)
}

func TestRadclient(t *testing.T) {
	t.Parallel()
	outposttest.Need(t, "radclient", "freeradius-utils (apt-get install -y freeradius-utils)")
	core := devcoretest.Start(t)
	p := startBinary(t, core, nil)
	withMA := "Message-Authenticator = 0x00\n"

	tests := []radclientCase{
		{name: "accept", input: withMA + `User-Name = "alice", User-Password = "alice-password"`, secret: demoSecret, wantOK: true, wantOut: "Access-Accept"},
		{name: "reject", input: withMA + `User-Name = "alice", User-Password = "wrong"`, secret: demoSecret, wantOut: "Access-Reject"},
		{name: "reject message", input: withMA + `User-Name = "nobody", User-Password = "x"`, secret: demoSecret, wantOut: `Reply-Message = "Authentication failed"`},
		{name: "mfa appended", input: withMA + `User-Name = "carol", User-Password = "carol-password;` + totpNow + `"`, secret: demoSecret, wantOK: true, wantOut: "Access-Accept"},
		{name: "mfa missing", input: withMA + `User-Name = "carol", User-Password = "carol-password"`, secret: demoSecret, wantOut: "Access-Reject"},
		{name: "wrong secret", input: withMA + `User-Name = "alice", User-Password = "alice-password"`, secret: "wrong-secret", wantOut: "No reply from server"},
		{name: "missing message authenticator", input: `User-Name = "alice", User-Password = "alice-password"`, secret: demoSecret, wantOut: "No reply from server"},
	}
	// The group returns when all its parallel subtests are done.
	t.Run("clients", func(t *testing.T) { radclientCases(t, p, tests) })
	p.eventually(t, "authentik_outpost_radius_packets_dropped_total", `reason="missing_message_authenticator"`)
	p.eventually(t, "authentik_outpost_radius_packets_dropped_total", `reason="bad_message_authenticator"`)
	assert.GreaterOrEqual(t, p.metric(t, "authentik_outpost_radius_requests_rejected_total", `reason="invalid_credentials"`, `app="radius"`), 2.0)
	assert.Equal(t, 1.0, p.metric(t, "authentik_outpost_radius_accounting_requests_total", `status_type="start"`))
}

type radclientCase struct {
	name, input, secret string
	wantOK              bool
	wantOut             string
}

func radclientCases(t *testing.T, p *outpostProc, tests []radclientCase) {
	withMA := "Message-Authenticator = 0x00\n"
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			send := radclient
			if tt.wantOut == "No reply from server" {
				send = radclientNoReply
			}
			// The code is computed at the last moment: on a loaded machine
			// the subtest may start after the code of the table's time expired.
			input := strings.ReplaceAll(tt.input, totpNow, carolCode())
			out, ok := send(t, input, p.auth, "auth", tt.secret)
			assert.Equal(t, tt.wantOK, ok, out)
			assert.Contains(t, out, tt.wantOut)
			assert.NotContains(t, out, "invalid Message-Authenticator", "radclient checked our reply's signature")
		})
	}
	t.Run("radtest", func(t *testing.T) {
		t.Parallel()
		bin := outposttest.Need(t, "radtest", "freeradius-utils (apt-get install -y freeradius-utils)")
		out, err := exec.CommandContext(t.Context(), bin, "bob", "bob-password", p.auth, "0", demoSecret).CombinedOutput()
		require.NoError(t, err, "%s", out)
		assert.Contains(t, string(out), "Access-Accept")
	})
	t.Run("status-server", func(t *testing.T) {
		t.Parallel()
		for addr, want := range map[string]string{p.auth: "Access-Accept", p.acct: "Accounting-Response"} {
			out, ok := radclient(t, withMA+"Response-Packet-Type = "+want, addr, "status", demoSecret)
			assert.True(t, ok, out)
			assert.Contains(t, out, "Received "+want, out)
		}
	})
	t.Run("accounting", func(t *testing.T) {
		t.Parallel()
		// radclient checks every reply's Response Authenticator (MD5 over
		// the reply, the request's authenticator and the secret) and
		// discards a reply that fails it: "Received" means it verified
		// ours. Accounting-Response carries no Message-Authenticator
		// (docs/decisions/0008).
		out, ok := radclient(t, `Acct-Status-Type = Start, Acct-Session-Id = "s1", User-Name = "alice", NAS-IP-Address = 127.0.0.1`, p.acct, "acct", demoSecret)
		assert.True(t, ok, out)
		assert.Contains(t, out, "Received Accounting-Response")
		assert.NotContains(t, out, "verification failed")
		assert.NotContains(t, out, "Message-Authenticator")
	})
}

// totpNow in a password stands for carol's current code, computed just
// before use: on a loaded machine a code from the test's start may have
// expired by the time its case runs.
const totpNow = "<totp>"

func carolCode() string {
	key, _ := hex.DecodeString("3132333435363738393031323334353637383930")
	return totp.Code(key, time.Now(), totp.Default)
}

func TestRadclientMessageAuthenticatorOptOut(t *testing.T) {
	t.Parallel()
	core := devcoretest.Start(t)
	p := startBinary(t, core, map[string]string{"AUTHENTIK_RADIUS__ALLOW_MISSING_MESSAGE_AUTHENTICATOR": "radius-provider"})
	out, ok := radclient(t, `User-Name = "alice", User-Password = "alice-password"`, p.auth, "auth", demoSecret)
	assert.True(t, ok, out)
	assert.Contains(t, out, "Access-Accept")
	assert.Contains(t, out, "Message-Authenticator", "the reply is signed anyway")
}

func TestUnknownClientGetsNoReply(t *testing.T) {
	t.Parallel()
	core := devcoretest.Start(t, devcoretest.WithDemo(), devcoretest.WithBlueprint("zz-radius-networks.yaml", `version: 1
entries:
  - model: authentik_providers_radius.radiusprovider
    identifiers: {name: radius-provider}
    attrs: {client_networks: "10.0.0.0/8, fd00::/8"}
`))
	p := startBinary(t, core, nil)
	out, ok := radclientNoReply(t, "Message-Authenticator = 0x00\nUser-Name = alice, User-Password = alice-password", p.auth, "auth", demoSecret)
	assert.False(t, ok)
	assert.Contains(t, out, "No reply from server")
	p.eventually(t, "authentik_outpost_radius_packets_dropped_total", `reason="unknown_client"`)
	require.Eventually(t, func() bool { return strings.Contains(p.log.String(), "no provider's client_networks contains") },
		outposttest.Wait, outposttest.Tick, "the unknown client was not logged")
}

// A retransmit (the same bytes again) is answered from the reply cache: the
// flow runs once.
func TestRetransmitAnsweredFromReplyCache(t *testing.T) {
	t.Parallel()
	core := devcoretest.Start(t)
	p := startBinary(t, core, nil)
	pkt := radius.New(radius.CodeAccessRequest, []byte(demoSecret))
	pkt.Attributes = append(pkt.Attributes, &radius.AVP{Type: rfc2869.MessageAuthenticator_Type, Attribute: make([]byte, 16)})
	require.NoError(t, rfc2865.UserName_SetString(pkt, "alice"))
	require.NoError(t, rfc2865.UserPassword_SetString(pkt, "alice-password"))
	b, err := pkt.Encode()
	require.NoError(t, err)
	m := hmac.New(md5.New, []byte(demoSecret))
	m.Write(b)
	copy(b[22:38], m.Sum(nil))

	conn, err := net.Dial("udp", p.auth)
	require.NoError(t, err)
	defer conn.Close()
	var replies [][]byte
	for range 3 {
		_, err := conn.Write(b)
		require.NoError(t, err)
		require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
		buf := make([]byte, 4096)
		n, err := conn.Read(buf)
		require.NoError(t, err)
		replies = append(replies, buf[:n])
	}
	assert.Equal(t, byte(radius.CodeAccessAccept), replies[0][0])
	assert.True(t, bytes.Equal(replies[0], replies[1]) && bytes.Equal(replies[1], replies[2]))
	assert.Equal(t, 1.0, p.metric(t, "authentik_outpost_radius_request_duration_seconds_count"), "the request was handled once")
	assert.Equal(t, 2.0, p.metric(t, "authentik_outpost_radius_duplicate_requests_total", `action="replayed"`))
}
