// Package coretest is the conformance suite for the authentik core API that
// outposts use. Every implementation of that API runs the same suite: the
// stand-in core (devcore) in CI, and a real authentik when one is
// configured. A behaviour that only one of them shows is a bug in the other,
// or in the suite.
//
// Each call is checked three ways: the raw body against the schema.yml of
// goauthentik.io/api/v3 (schemacheck), the body decoded with the generated
// client's types (what outposts actually do), and the semantics outposts
// rely on (pagination, filters, sessions, 403s).
package coretest

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/outpost-go/outposts/authclient/schemacheck"
)

// Outpost types, as the API's Outpost.type spells them.
const (
	TypeLDAP   = "ldap"
	TypeRadius = "radius"
	TypeProxy  = "proxy"
	TypeRAC    = "rac"
)

// Credentials are a fixture user's login.
type Credentials struct {
	Username string
	Password string
	// TOTPKey is the user's TOTP secret, hex-encoded as authentik's
	// TOTPDevice.key stores it. When set, the suite expects the login flow
	// to ask for a code and answers with a 6-digit, 30-second code.
	TOTPKey string
}

// Target describes the core under test.
type Target struct {
	// URL is the core's base URL, e.g. "http://127.0.0.1:9000/". A path is
	// a prefix in front of api/v3/, as for AUTHENTIK_HOST.
	URL string
	// Tokens are outpost API tokens keyed by outpost type (TypeLDAP, ...).
	// Each token's outpost must be of that type. Types without a token are
	// skipped.
	Tokens map[string]string
	// User logs in with a password through the LDAP and RADIUS providers'
	// flows and has access to their applications. Required for the flow,
	// session and directory checks.
	User Credentials
	// MFAUser, if set, logs in like User but also needs a TOTP code
	// (TOTPKey must be set).
	MFAUser *Credentials
	// DeniedUser, if set, passes the flow but is denied access to the LDAP
	// and RADIUS applications by policy.
	DeniedUser *Credentials
	// LDAPProvider, RadiusProvider and ProxyProvider name the provider to
	// use from each outpost's list; empty means the first one.
	LDAPProvider   string
	RadiusProvider string
	ProxyProvider  string
	// RemoteIP is sent as X-authentik-remote-ip on flow calls, as outposts
	// do for their clients. Empty means 192.0.2.10.
	RemoteIP string
	// SchemaPath is the schema.yml to check against; empty means
	// schemacheck.Find.
	SchemaPath string
	// Transport is used for every request (e.g. to skip TLS verification
	// for a real authentik); nil means http.DefaultTransport.
	Transport http.RoundTripper
	// Timeout bounds each request; zero means 30s.
	Timeout time.Duration
}

// Run runs the whole suite against target as subtests of t.
func Run(t *testing.T, target Target) {
	t.Helper()
	require.NotEmpty(t, target.URL, "Target.URL")
	path := target.SchemaPath
	if path == "" {
		var err error
		path, err = schemacheck.Find()
		require.NoError(t, err, "locate schema.yml")
	}
	schema, err := schemacheck.Load(path)
	require.NoError(t, err)
	c, err := newCore(target, schema)
	require.NoError(t, err)

	t.Run("TrailingSlash", func(t *testing.T) { testTrailingSlash(t, c) })
	t.Run("Unauthenticated", func(t *testing.T) { testUnauthenticated(t, c) })
	for _, typ := range []string{TypeLDAP, TypeRadius, TypeProxy, TypeRAC} {
		t.Run("Outpost="+typ, func(t *testing.T) {
			token, ok := target.Tokens[typ]
			if !ok || token == "" {
				t.Skipf("no %s outpost token in Target.Tokens", typ)
			}
			testOutpost(t, c, typ, token)
		})
	}
}
