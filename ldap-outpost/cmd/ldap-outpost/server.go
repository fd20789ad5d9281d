package main

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"goauthentik.io/api/v3"

	"github.com/outpost-go/outposts/authclient/events"
	"github.com/outpost-go/outposts/authclient/logging"
	"github.com/outpost-go/outposts/authclient/outpost"
	"github.com/outpost-go/outposts/ldap-outpost/service"
)

// newServer builds the LDAP service from the runtime's parts.
// trusted are the proxies whose PROXY protocol headers are believed.
func newServer(rt *outpost.Runtime, trusted []netip.Prefix) (outpost.Server[api.LDAPOutpostConfig], error) {
	svc, err := service.New(service.Options{
		Client:   rt.Client,
		Cache:    rt.Cache,
		Registry: rt.Registry,
		Logger:   logging.Named(rt.Logger, "authentik.outpost.ldap"),
		OutpostName: func() string {
			if o := rt.Outpost(); o != nil {
				return o.Name
			}
			return ""
		},
		Version:        version,
		ListenLDAP:     rt.Config.Listen.LDAP,
		ListenLDAPS:    rt.Config.Listen.LDAPS,
		TrustedProxies: trusted,
		FlowWarmUp:     flowWarmUp(rt.RootConfig),
	})
	if err != nil {
		return nil, fmt.Errorf("ldap service: %w", err)
	}
	// Not ready until every cached directory has its first snapshot:
	// searches are answered busy until then. Liveness is not affected.
	rt.AddReadyCheck("ldap directory", svc.Ready)
	// The core ends a session (logout, revocation): binds cached with it
	// must not be reused.
	rt.Events.Handle(events.SessionEnd, func(ctx context.Context, msg events.Message) {
		if sid, ok := msg.Args["session_id"].(string); ok {
			svc.SessionEnd(ctx, sid)
		}
	})
	return svc, nil
}

// flowWarmUp is the root config's cache_timeout_flows (seconds), 0 when
// unknown or not positive.
func flowWarmUp(rc *api.Config) time.Duration {
	if rc == nil || rc.CacheTimeoutFlows <= 0 {
		return 0
	}
	return time.Duration(rc.CacheTimeoutFlows) * time.Second
}
