package flow_test

import (
	"context"
	"encoding/hex"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	api "goauthentik.io/api/v3"

	"github.com/outpost-go/outposts/authclient/devcore/devcoretest"
	"github.com/outpost-go/outposts/authclient/flow"
	"github.com/outpost-go/outposts/authclient/outpost/outposttest"
	"github.com/outpost-go/outposts/authclient/totp"
)

const (
	authFlow  = "default-authentication-flow"
	ldapQuery = "goauthentik.io/outpost/ldap=true"
	totpKey   = "3132333435363738393031323334353637383930"
)

// testCore is a stand-in core serving testdata/flow.yaml.
type testCore struct {
	core               *devcoretest.Core
	host               *url.URL
	ldapPK, radiusPK   int32
	ldapApp, radiusApp string
}

func startCore(t *testing.T) *testCore {
	t.Helper()
	bp, err := os.ReadFile("testdata/flow.yaml")
	require.NoError(t, err)
	core := devcoretest.Start(t, devcoretest.WithBlueprint("flow.yaml", string(bp)))
	host, err := url.Parse(core.URL)
	require.NoError(t, err)
	tc := &testCore{core: core, host: host}

	ctx := context.Background()
	ldap, _, err := bearerClient(host, core.Token("flow-ldap")).OutpostsAPI.OutpostsLdapList(ctx).Execute()
	require.NoError(t, err)
	require.Len(t, ldap.Results, 1)
	tc.ldapPK, tc.ldapApp = ldap.Results[0].Pk, ldap.Results[0].ApplicationSlug
	radius, _, err := bearerClient(host, core.Token("flow-radius")).OutpostsAPI.OutpostsRadiusList(ctx).Execute()
	require.NoError(t, err)
	require.Len(t, radius.Results, 1)
	tc.radiusPK, tc.radiusApp = radius.Results[0].Pk, radius.Results[0].ApplicationSlug
	return tc
}

func bearerClient(host *url.URL, token string) *api.APIClient {
	cfg := api.NewConfiguration()
	cfg.Host, cfg.Scheme = host.Host, host.Scheme
	cfg.AddDefaultHeader("Authorization", "Bearer "+token)
	return api.NewAPIClient(cfg)
}

func (tc *testCore) executor(t *testing.T, outpost string, log zerolog.Logger) *flow.Executor {
	t.Helper()
	return flow.NewExecutor(flow.Options{Host: tc.host, Token: tc.core.Token(outpost), UserAgent: "flow-test", Logger: log})
}

func currentCode(t *testing.T) string {
	t.Helper()
	key, err := hex.DecodeString(totpKey)
	require.NoError(t, err)
	return totp.Code(key, time.Now(), totp.Default)
}

// wrongCode is a 6-digit code valid in none of the steps the core accepts.
func wrongCode(t *testing.T) string {
	t.Helper()
	key, err := hex.DecodeString(totpKey)
	require.NoError(t, err)
	now := time.Now()
	valid := map[string]bool{}
	for d := -2; d <= 2; d++ {
		valid[totp.Code(key, now.Add(time.Duration(d)*30*time.Second), totp.Default)] = true
	}
	for _, c := range []string{"000000", "111111", "222222", "333333", "444444", "555555"} {
		if !valid[c] {
			return c
		}
	}
	t.Fatal("no wrong code found")
	return ""
}

func TestAgainstDevcore(t *testing.T) {
	t.Parallel()
	tc := startCore(t)
	logs := &outposttest.Buffer{}
	log := zerolog.New(logs).Level(zerolog.DebugLevel)
	ldap := tc.executor(t, "flow-ldap", log)
	radius := tc.executor(t, "flow-radius", log)
	ctx := context.Background()
	var secrets []string
	var secretsMu sync.Mutex
	auth := func(t *testing.T, e *flow.Executor, user, password string, mfa bool) (*flow.Session, error) {
		t.Helper()
		secretsMu.Lock()
		secrets = append(secrets, password)
		secretsMu.Unlock()
		return e.Authenticate(ctx, flow.Request{Flow: authFlow, Query: ldapQuery, Username: user, Password: password, ClientIP: "198.51.100.7", MFASupport: mfa})
	}

	t.Run("group", func(t *testing.T) {
		t.Run("password user, then me, access and logout", func(t *testing.T) {
			t.Parallel()
			s, err := auth(t, ldap, "alice", "alice-pw", true)
			require.NoError(t, err)
			assert.NotEmpty(t, s.ID(), "session id from the core's JWT cookie")
			assert.Equal(t, "198.51.100.7", tc.core.Server.LastClientIP("alice"))

			me, err := s.Me(ctx)
			require.NoError(t, err)
			assert.Equal(t, "alice", me.User.Username)

			_, err = s.CheckLDAPAccess(ctx, tc.ldapPK, tc.ldapApp)
			require.NoError(t, err)
			require.NoError(t, s.CheckApplicationAccess(ctx, tc.ldapApp))

			require.NoError(t, s.Logout(ctx, "default-invalidation-flow"))
			_, err = s.Me(ctx)
			assert.Equal(t, flow.ReasonUserInfoFail, flow.ReasonOf(err), "session ended: %v", err)
			assert.False(t, flow.IsUnavailable(err))
		})
		t.Run("radius access", func(t *testing.T) {
			t.Parallel()
			s, err := auth(t, radius, "alice", "alice-pw", true)
			require.NoError(t, err)
			attrs, err := s.CheckRadiusAccess(ctx, tc.radiusPK, tc.radiusApp)
			require.NoError(t, err)
			assert.Empty(t, attrs)
		})
		t.Run("totp inline code", func(t *testing.T) {
			t.Parallel()
			s, err := auth(t, ldap, "tina", "tina-pw;"+currentCode(t), true)
			require.NoError(t, err)
			me, err := s.Me(ctx)
			require.NoError(t, err)
			assert.Equal(t, "tina", me.User.Username)
		})
		t.Run("static inline code", func(t *testing.T) {
			t.Parallel()
			_, err := auth(t, ldap, "sam", "sam-pw;abcd1234", true)
			require.NoError(t, err)
		})
		t.Run("semicolon password without mfa support is not split", func(t *testing.T) {
			t.Parallel()
			_, err := auth(t, ldap, "semi", "semi;123456", false)
			require.NoError(t, err)
			_, err = auth(t, ldap, "semi", "semi;123456", true)
			assert.Equal(t, flow.ReasonInvalidCredentials, flow.ReasonOf(err))
		})

		failures := []struct {
			name, user, password string
			mfa                  bool
			reason               flow.Reason
		}{
			{"wrong password", "alice", "not-alice-pw", true, flow.ReasonInvalidCredentials},
			{"unknown user", "nobody", "whatever-pw", true, flow.ReasonInvalidCredentials},
			{"wrong totp code", "tom", "tom-pw;" + wrongCode(t), true, flow.ReasonInvalidCredentials},
			{"wrong static code", "sam", "sam-pw;zzzz9999", true, flow.ReasonInvalidCredentials},
			{"code without mfa support stays in the password", "tess", "tess-pw;" + wrongCode(t), false, flow.ReasonInvalidCredentials},
			{"mfa user without code", "tess", "tess-pw", true, flow.ReasonFlowError},
			// The core fails inactive users like a wrong password, so as not
			// to reveal that the account exists.
			{"inactive user", "ian", "ian-pw", true, flow.ReasonInvalidCredentials},
		}
		for _, tt := range failures {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				s, err := auth(t, ldap, tt.user, tt.password, tt.mfa)
				require.Error(t, err)
				assert.Nil(t, s)
				assert.Equal(t, tt.reason, flow.ReasonOf(err), "error: %v", err)
				assert.False(t, flow.IsUnavailable(err))
				assert.NotContains(t, err.Error(), tt.password)
			})
		}

		t.Run("user denied by the application binding", func(t *testing.T) {
			t.Parallel()
			s, err := auth(t, ldap, "olga", "olga-pw", true)
			require.NoError(t, err, "authentication itself passes")
			_, err = s.CheckLDAPAccess(ctx, tc.ldapPK, tc.ldapApp)
			assert.Equal(t, flow.ReasonAccessDenied, flow.ReasonOf(err), "error: %v", err)
			assert.Equal(t, flow.ReasonAccessDenied, flow.ReasonOf(s.CheckApplicationAccess(ctx, tc.ldapApp)))

			s, err = auth(t, radius, "olga", "olga-pw", true)
			require.NoError(t, err)
			_, err = s.CheckRadiusAccess(ctx, tc.radiusPK, tc.radiusApp)
			assert.Equal(t, flow.ReasonAccessDenied, flow.ReasonOf(err), "error: %v", err)
		})
		t.Run("check access of another outpost's provider", func(t *testing.T) {
			t.Parallel()
			s, err := auth(t, ldap, "alice", "alice-pw", true)
			require.NoError(t, err)
			_, err = s.CheckRadiusAccess(ctx, tc.radiusPK, tc.radiusApp)
			assert.Equal(t, flow.ReasonAccessCheckFail, flow.ReasonOf(err), "error: %v", err)
		})
		t.Run("bad outpost token", func(t *testing.T) {
			t.Parallel()
			e := flow.NewExecutor(flow.Options{Host: tc.host, Token: "not-a-token", Logger: log})
			_, err := e.Authenticate(ctx, flow.Request{Flow: authFlow, Username: "alice", Password: "alice-pw"})
			assert.Equal(t, flow.ReasonFlowError, flow.ReasonOf(err), "error: %v", err)
			assert.False(t, flow.IsUnavailable(err))
		})
		t.Run("warm up", func(t *testing.T) {
			t.Parallel()
			require.NoError(t, ldap.WarmUp(ctx, authFlow, ldapQuery))
			assert.Error(t, ldap.WarmUp(ctx, "no-such-flow", ldapQuery))
		})
	})

	out := logs.String()
	require.NotEmpty(t, out)
	for _, s := range secrets {
		assert.NotContains(t, out, s, "a password or code reached the log")
	}
	assert.NotContains(t, out, "abcd1234")
}

func TestDevcoreDown(t *testing.T) {
	t.Parallel()
	tc := startCore(t)
	e := tc.executor(t, "flow-ldap", zerolog.Nop())
	ctx := context.Background()
	req := flow.Request{Flow: authFlow, Query: ldapQuery, Username: "alice", Password: "alice-pw"}
	s, err := e.Authenticate(ctx, req)
	require.NoError(t, err)

	tc.core.Stop()
	_, err = e.Authenticate(ctx, req)
	require.Error(t, err)
	assert.Equal(t, flow.ReasonUnavailable, flow.ReasonOf(err), "error: %v", err)
	assert.True(t, flow.IsUnavailable(err))

	_, err = s.Me(ctx)
	assert.Equal(t, flow.ReasonUserInfoFail, flow.ReasonOf(err))
	assert.True(t, flow.IsUnavailable(err))
	_, err = s.CheckLDAPAccess(ctx, tc.ldapPK, tc.ldapApp)
	assert.Equal(t, flow.ReasonAccessCheckFail, flow.ReasonOf(err))
	assert.True(t, flow.IsUnavailable(err))
}
