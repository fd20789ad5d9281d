package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/outpost-go/outposts/authclient/devcore/devcoretest"
	"github.com/outpost-go/outposts/authclient/outpost/outposttest"
)

// wifiGuide holds the FreeRADIUS and eapol_test configuration these tests
// run, so the guide shows exactly what was tested.
const wifiGuide = "../../../docs/guides/radius-wifi.md"

// wifiReply stands in for a RADIUS provider property mapping: engineering
// members (alice) get Filter-Id "vlan-10" and a Session-Timeout, both in
// authentik's bundled dictionary, unlike the tunnel attributes.
const wifiReply = `version: 1
entries:
  - model: authentik_core.group
    identifiers: {name: engineering}
    attrs:
      attributes:
        goauthentik.io/devcore/radius-reply:
          - {type: 11, value: "vlan-10"}
          - {type: 27, integer: 3600}
`

// The controller's network in the guide's clients.conf becomes 127.0.0.2:
// the base configuration already defines a client for 127.0.0.1, and
// eapol_test can send from any loopback address.
const nasAddr = "127.0.0.2"

// localhostSecret is the secret of the base configuration's 127.0.0.1
// client, from which radclient talks to FreeRADIUS.
const localhostSecret = "localhost-secret"

// guideBlocks returns the guide's fenced blocks that start with a
// "# <name>" comment line, keyed by name.
func guideBlocks(t *testing.T) map[string]string {
	t.Helper()
	src, err := os.ReadFile(wifiGuide)
	require.NoError(t, err)
	blocks := map[string]string{}
	parts := strings.Split(string(src), "```")
	// Odd parts are the insides of fences: an info string line, then the body.
	for i := 1; i < len(parts); i += 2 {
		_, body, _ := strings.Cut(parts[i], "\n")
		first, _, _ := strings.Cut(body, "\n")
		if name, ok := strings.CutPrefix(first, "# "); ok {
			name, _, _ = strings.Cut(name, " ")
			blocks[name] = body
		}
	}
	return blocks
}

// edit replaces old with new in s and fails when old is missing, so a
// guide edit that breaks the substitution does not go unnoticed.
func edit(t *testing.T, s string, pairs ...string) string {
	t.Helper()
	for i := 0; i+1 < len(pairs); i += 2 {
		require.Contains(t, s, pairs[i], "the guide changed")
		s = strings.ReplaceAll(s, pairs[i], pairs[i+1])
	}
	return s
}

// writeCerts writes a CA and a server certificate for radius.example.com
// signed by it, as an administrator would issue them for FreeRADIUS.
func writeCerts(t *testing.T, dir string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(dir, 0o700))
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	ca := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Wi-Fi test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	ca, err = x509.ParseCertificate(caDER)
	require.NoError(t, err)

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	// Windows and Apple clients want the serverAuth usage on a RADIUS
	// server certificate.
	srv := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "radius.example.com"},
		DNSNames:     []string{"radius.example.com"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srv, ca, &key.PublicKey, caKey)
	require.NoError(t, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	for name, b := range map[string]*pem.Block{
		"ca.pem":     {Type: "CERTIFICATE", Bytes: caDER},
		"server.pem": {Type: "CERTIFICATE", Bytes: srvDER},
		"server.key": {Type: "PRIVATE KEY", Bytes: keyDER},
	} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(b), 0o600))
	}
}

// startWiFiFreeRADIUS runs FreeRADIUS with the guide's files, proxying
// inner PAP to the outpost at outpost, and returns its auth address and
// its certificate directory.
func startWiFiFreeRADIUS(t *testing.T, blocks map[string]string, outpost string) (addr, certs string) {
	t.Helper()
	addr = freeUDP(t)
	port := strconv.Itoa(udpPort(t, addr))
	files := map[string]string{
		"clients.conf": edit(t, blocks["/etc/freeradius/3.0/clients.conf"],
			"ipaddr = 192.0.2.0/24", "ipaddr = "+nasAddr+"/32"),
		"proxy.conf": edit(t, blocks["/etc/freeradius/3.0/proxy.conf"],
			"ipaddr = 192.0.2.10", "ipaddr = 127.0.0.1",
			"port = 1812", "port = "+strconv.Itoa(udpPort(t, outpost)),
			"secret = provider-shared-secret", "secret = "+demoSecret),
		"mods-enabled/eap": blocks["/etc/freeradius/3.0/mods-available/eap"],
		"sites-enabled/default": edit(t, blocks["/etc/freeradius/3.0/sites-available/default"],
			"ipaddr = *", "ipaddr = 127.0.0.1",
			"port = 1812", "port = "+port),
		"sites-enabled/inner-tunnel": blocks["/etc/freeradius/3.0/sites-available/inner-tunnel"],
	}
	// The parts of Debian's radiusd.conf the guide relies on, and the
	// stock "always" module (reject, ok...) Debian enables by default.
	rest := `proxy_requests = yes
certdir = ${confdir}/certs
$INCLUDE clients.conf
$INCLUDE proxy.conf
modules {
	$INCLUDE /etc/freeradius/3.0/mods-available/always
	$INCLUDE mods-enabled/
}
$INCLUDE sites-enabled/
`
	dir := writeFreeRADIUS(t, udpPort(t, addr), localhostSecret, rest, nil)
	certs = filepath.Join(dir, "certs")
	writeCerts(t, certs)
	for name, body := range files {
		require.NotEmpty(t, body, "the guide has no block for %s", name)
		path := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o700))
		require.NoError(t, os.WriteFile(path, []byte(body), 0o600))
	}
	startFreeRADIUS(t, dir)
	return addr, certs
}

// eapolTest runs wpa_supplicant's eapol_test as an access point and its
// client would: the RADIUS attributes are those a Wi-Fi controller sends.
func eapolTest(t *testing.T, conf, server, secret string) (string, bool) {
	t.Helper()
	bin := outposttest.Need(t, "eapol_test", "eapoltest (apt-get install -y eapoltest)")
	path := filepath.Join(t.TempDir(), "eapol_test.conf")
	require.NoError(t, os.WriteFile(path, []byte(conf), 0o600))
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-c", path,
		"-a", "127.0.0.1", "-p", strconv.Itoa(udpPort(t, server)), "-s", secret, "-A", nasAddr, "-t", "30",
		"-M", "02:00:00:00:00:01",
		"-N", "30:s:AA-BB-CC-DD-EE-FF:Corp-WiFi", // Called-Station-Id: the AP's MAC and the SSID
		"-N", "32:s:ap-lobby", // NAS-Identifier
		"-N", "61:d:19", // NAS-Port-Type = Wireless-802.11
	)
	out, err := cmd.CombinedOutput()
	return string(out), err == nil
}

// WPA-Enterprise: the access point speaks EAP to FreeRADIUS, which
// terminates EAP-TTLS and proxies the inner PAP request to the outpost.
// Every file comes from the guide; only addresses, ports, secrets and
// certificate paths are changed.
func TestWiFiEAPTTLS(t *testing.T) {
	t.Parallel()
	outposttest.Need(t, "eapol_test", "eapoltest (apt-get install -y eapoltest)")
	blocks := guideBlocks(t)
	core := devcoretest.Start(t, devcoretest.WithDemo(), devcoretest.WithBlueprint("zz-wifi.yaml", wifiReply))
	p := startBinary(t, core, nil)
	proxy, certs := startWiFiFreeRADIUS(t, blocks, p.auth)

	const secret = "controller-to-freeradius-secret"
	require.Contains(t, blocks["/etc/freeradius/3.0/clients.conf"], "secret = "+secret)
	supplicant := blocks["eapol_test.conf"]
	tests := []struct {
		name, identity, password string
		// method replaces the guide's TTLS/PAP lines: a client set up
		// for a method that cannot work here.
		method string
		ok     bool
		want   []string
	}{
		{name: "accept with vlan", identity: "alice", password: "alice-password", ok: true, want: []string{
			"Attribute 1 (User-Name) length=7\n      Value: 'alice'",
			"Attribute 64 (Tunnel-Type) length=6\n      Value: 0000000d",         // VLAN
			"Attribute 65 (Tunnel-Medium-Type) length=6\n      Value: 00000006",  // IEEE-802
			"Attribute 81 (Tunnel-Private-Group-Id) length=4\n      Value: 3130", // "10"
			"Attribute 27 (Session-Timeout) length=6\n      Value: 3600",
		}},
		{name: "wrong password", identity: "alice", password: "wrong"},
		{name: "mfa appended", identity: "carol", password: "carol-password;" + totpNow, ok: true},
		{name: "mfa missing", identity: "carol", password: "carol-password"},
		// Refused by FreeRADIUS without asking the outpost: no NT hash.
		{name: "peap-mschapv2 client", identity: "alice", password: "alice-password", method: "eap=PEAP\n\tphase2=\"auth=MSCHAPV2\""},
		{name: "ttls inner eap-mschapv2", identity: "alice", password: "alice-password", method: "eap=TTLS\n\tphase2=\"autheap=MSCHAPV2\""},
	}
	asked := 0
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conf := edit(t, supplicant,
				`identity="alice"`, fmt.Sprintf("identity=%q", tt.identity),
				`password="alice-password"`, fmt.Sprintf("password=%q", strings.ReplaceAll(tt.password, totpNow, carolCode())),
				"/etc/freeradius/3.0/certs/ca.pem", filepath.Join(certs, "ca.pem"))
			if tt.method != "" {
				conf = edit(t, conf, "eap=TTLS\n\tidentity", tt.method+"\n\tidentity", "\tphase2=\"auth=PAP\"\n", "")
			} else {
				asked++
			}
			out, ok := eapolTest(t, conf, proxy, secret)
			assert.Equal(t, tt.ok, ok, out)
			if tt.ok {
				// The access point got the session keys, and they match the client's.
				assert.Contains(t, out, "MPPE keys OK: 1  mismatch: 0")
			} else {
				assert.Contains(t, out, "(Access-Reject)")
				assert.Contains(t, out, "EAP Failure")
			}
			// eapol_test prints the Access-Accept's attributes, then the keys.
			_, accept, _ := strings.Cut(out, "(Access-Accept)")
			accept, _, _ = strings.Cut(accept, "Received RADIUS packet matched")
			for _, w := range tt.want {
				assert.Contains(t, accept, w)
			}
			// The mapping's Filter-Id became the VLAN; the controller does not see it.
			assert.NotContains(t, accept, "Attribute 11 ")
		})
	}

	// PAP from the access point would carry the password outside any
	// tunnel: FreeRADIUS refuses it without asking the outpost.
	out, ok := radclient(t, "Message-Authenticator = 0x00\nUser-Name = \"alice\", User-Password = \"alice-password\"", proxy, "auth", localhostSecret)
	assert.False(t, ok, out)
	assert.Contains(t, out, "Received Access-Reject")

	assert.Equal(t, float64(asked), p.metric(t, "authentik_outpost_radius_request_duration_seconds_count"), "the outpost answered every inner PAP request and nothing else")
}

// Captive portal (guest SSID): the controller sends PAP straight to the
// outpost with the attributes of a wireless login, signed with a
// Message-Authenticator, and gets the provider's reply attributes.
func TestWiFiCaptivePortal(t *testing.T) {
	t.Parallel()
	outposttest.Need(t, "radclient", "freeradius-utils (apt-get install -y freeradius-utils)")
	blocks := guideBlocks(t)
	core := devcoretest.Start(t, devcoretest.WithDemo(), devcoretest.WithBlueprint("zz-wifi.yaml", wifiReply))
	p := startBinary(t, core, nil)
	request := blocks["captive-portal.txt"]
	require.NotEmpty(t, request, "the guide has no captive-portal.txt block")

	out, ok := radclient(t, request, p.auth, "auth", demoSecret)
	assert.True(t, ok, out)
	_, accept, found := strings.Cut(out, "Received Access-Accept")
	require.True(t, found, out)
	assert.Contains(t, accept, `Filter-Id = "vlan-10"`)
	assert.Contains(t, accept, "Session-Timeout = 3600")
	assert.NotContains(t, out, "invalid Message-Authenticator", "radclient checked our reply's signature")

	out, ok = radclient(t, edit(t, request, `User-Password = "alice-password"`, `User-Password = "wrong"`), p.auth, "auth", demoSecret)
	assert.False(t, ok, out)
	assert.Contains(t, out, "Received Access-Reject")
	assert.Contains(t, out, `Reply-Message = "Authentication failed"`)

	// Without a Message-Authenticator the request is dropped (Blast-RADIUS).
	out, ok = radclientNoReply(t, edit(t, request, "Message-Authenticator = 0x00\n", ""), p.auth, "auth", demoSecret)
	assert.False(t, ok, out)
	p.eventually(t, "authentik_outpost_radius_packets_dropped_total", `reason="missing_message_authenticator"`)
}
