package flow_test

import (
	"context"
	"errors"
	"net/url"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/outpost-go/outposts/authclient/flow"
)

// An LDAP bind: run the provider's bind flow, check access to its
// application, fetch the user; fall back to a cache when the core is down.
func ExampleExecutor_Authenticate() {
	host, _ := url.Parse("https://authentik.example.com/")
	e := flow.NewExecutor(flow.Options{
		Host:    host,
		Token:   "outpost-token",
		Metrics: flow.NewMetrics(prometheus.NewRegistry()),
		Logger:  zerolog.Nop(),
	})
	ctx := context.Background()
	s, err := e.Authenticate(ctx, flow.Request{
		Flow:       "default-authentication-flow",
		Query:      "goauthentik.io/outpost/ldap=true",
		Username:   "alice",
		Password:   "secret;123456", // password plus inline TOTP code
		ClientIP:   "192.0.2.10",
		MFASupport: true,
	})
	if flow.IsUnavailable(err) {
		return // serve from cache
	}
	var f *flow.Failure
	if errors.As(err, &f) {
		_ = f.Reason // e.g. flow.ReasonInvalidCredentials → LDAP result 49
		return
	}
	if _, err := s.CheckLDAPAccess(ctx, 1, "ldap-app"); err != nil {
		return // flow.ReasonAccessDenied → LDAP result 50
	}
	me, err := s.Me(ctx)
	if err != nil {
		return
	}
	_ = me.User.Pk
	// On unbind:
	_ = s.Logout(ctx, "default-invalidation-flow")
}
