package main

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/outpost-go/outposts/authclient/devcore/devcoretest"
	"github.com/outpost-go/outposts/authclient/outpost/outposttest"
)

// Two replicas share a Redis: a login through one is cached for both, and
// when the core goes down the other replica still lets that user in, and
// nobody else.
func TestReplicasShareCachedAuthentication(t *testing.T) {
	t.Parallel()
	outposttest.Need(t, "radclient", "freeradius-utils (apt-get install -y freeradius-utils)")
	redis := outposttest.StartRedis(t)
	// mfa_support off: only then may the cache answer (README).
	core := devcoretest.Start(t, devcoretest.WithDemo(), devcoretest.WithBlueprint("zz-radius-nomfa.yaml", `version: 1
entries:
  - model: authentik_providers_radius.radiusprovider
    identifiers: {name: radius-provider}
    attrs: {mfa_support: false}
`))
	env := map[string]string{"AUTHENTIK_REDIS__URL": redis.URL()}
	a := startBinary(t, core, env)
	b := startBinary(t, core, env)
	login := func(p *outpostProc, user string) string {
		out, _ := radclient(t, "Message-Authenticator = 0x00\nUser-Name = "+user+", User-Password = "+user+"-password", p.auth, "auth", demoSecret)
		return out
	}
	assert.Contains(t, login(a, "alice"), "Received Access-Accept")
	core.Stop()
	assert.Contains(t, login(b, "alice"), "Received Access-Accept", "cached by replica a, answered by b without the core")
	assert.Contains(t, login(b, "bob"), "Received Access-Reject", "never cached: rejected while the core is down")
	assert.Equal(t, 1.0, b.metric(t, "authentik_outpost_radius_credential_cache_total", `result="hit"`)+
		b.metric(t, "authentik_outpost_radius_credential_cache_total", `result="fallback"`))
	assert.Equal(t, 1.0, b.metric(t, "authentik_outpost_radius_requests_rejected_total", `reason="core_unavailable"`))
}

// The most specific network wins across providers, whatever their order
// (authentik #22853): "a-catch-all" sorts first by name and covers
// everything, but radius-provider's /32 holds the client.
func TestLongestPrefixAcrossProvidersBinary(t *testing.T) {
	t.Parallel()
	core := devcoretest.Start(t, devcoretest.WithDemo(), devcoretest.WithBlueprint("zz-radius-providers.yaml", `version: 1
entries:
  - model: authentik_providers_radius.radiusprovider
    id: catch-all
    identifiers: {name: a-catch-all}
    attrs:
      authorization_flow: !Find [authentik_flows.flow, [slug, default-authentication-flow]]
      invalidation_flow: !Find [authentik_flows.flow, [slug, default-invalidation-flow]]
      client_networks: "0.0.0.0/0, ::/0"
      shared_secret: catch-all-secret
  - model: authentik_core.application
    identifiers: {slug: catch-all}
    attrs: {name: Catch-all, provider: !KeyOf catch-all}
  - model: authentik_providers_radius.radiusprovider
    identifiers: {name: radius-provider}
    attrs: {client_networks: "10.0.0.0/8, 127.0.0.1/32"}
  - model: authentik_outposts.outpost
    identifiers: {name: radius-outpost}
    attrs:
      providers:
        - !KeyOf catch-all
        - !Find [authentik_providers_radius.radiusprovider, [name, radius-provider]]
`))
	p := startBinary(t, core, nil)
	assert.Contains(t, p.log.String(), `"providers":2`)
	out, ok := radclient(t, "Message-Authenticator = 0x00\nUser-Name = alice, User-Password = alice-password", p.auth, "auth", demoSecret)
	assert.True(t, ok, out)
	assert.Contains(t, out, "Received Access-Accept")
	out, ok = radclientNoReply(t, "Message-Authenticator = 0x00\nUser-Name = alice, User-Password = alice-password", p.auth, "auth", "catch-all-secret")
	assert.False(t, ok, out)
	p.eventually(t, "authentik_outpost_radius_packets_dropped_total", `reason="bad_message_authenticator"`)
}
