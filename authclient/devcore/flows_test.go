package devcore_test

import (
	"context"
	"encoding/hex"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	api "goauthentik.io/api/v3"

	"github.com/outpost-go/outposts/authclient/devcore/devcoretest"
	"github.com/outpost-go/outposts/authclient/totp"
)

const ldapQuery = "goauthentik.io/outpost/ldap=true"

// flowResult is what a simplified outpost flow executor concludes.
type flowResult struct {
	passed     bool
	errors     map[string][]string // field -> "code: message"
	denied     string
	components []string
}

// runFlow drives the default authentication flow like the outposts'
// solvers do, answering an MFA challenge with code when one is asked.
func runFlow(t *testing.T, cl *api.APIClient, slug, user, password, code string) flowResult {
	t.Helper()
	ctx := context.Background()
	var res flowResult
	ch, _, err := cl.FlowsAPI.FlowsExecutorGet(ctx, slug).Query(ldapQuery).Execute()
	require.NoError(t, err)
	for range 10 {
		var req api.FlowChallengeResponseRequest
		switch {
		case ch.RedirectChallenge != nil:
			res.components = append(res.components, "xak-flow-redirect")
			res.passed = true
			return res
		case ch.AccessDeniedChallenge != nil:
			res.components = append(res.components, "ak-stage-access-denied")
			res.denied = ch.AccessDeniedChallenge.GetErrorMessage()
			return res
		case ch.IdentificationChallenge != nil:
			res.components = append(res.components, "ak-stage-identification")
			if e := ch.IdentificationChallenge.ResponseErrors; e != nil {
				res.errors = flatErrors(*e)
				return res
			}
			r := api.NewIdentificationChallengeResponseRequest()
			r.SetComponent("ak-stage-identification")
			r.SetUidField(user)
			r.SetPassword(password)
			req.IdentificationChallengeResponseRequest = r
		case ch.PasswordChallenge != nil:
			res.components = append(res.components, "ak-stage-password")
			if e := ch.PasswordChallenge.ResponseErrors; e != nil {
				res.errors = flatErrors(*e)
				return res
			}
			r := api.NewPasswordChallengeResponseRequest(password)
			r.SetComponent("ak-stage-password")
			req.PasswordChallengeResponseRequest = r
		case ch.AuthenticatorValidationChallenge != nil:
			av := ch.AuthenticatorValidationChallenge
			res.components = append(res.components, "ak-stage-authenticator-validate")
			if e := av.ResponseErrors; e != nil {
				res.errors = flatErrors(*e)
				return res
			}
			require.NotEmpty(t, av.DeviceChallenges)
			d := av.DeviceChallenges[0]
			r := api.NewAuthenticatorValidationChallengeResponseRequest()
			r.SetComponent("ak-stage-authenticator-validate")
			r.SetSelectedChallenge(*api.NewDeviceChallengeRequest(d.DeviceClass, d.DeviceUid, map[string]any{}, *api.NewNullableTime(nil)))
			r.SetCode(code)
			req.AuthenticatorValidationChallengeResponseRequest = r
		default:
			t.Fatalf("unexpected challenge %+v", ch)
		}
		ch, _, err = cl.FlowsAPI.FlowsExecutorSolve(ctx, slug).Query(ldapQuery).FlowChallengeResponseRequest(req).Execute()
		require.NoError(t, err)
	}
	t.Fatal("flow did not finish in 10 steps")
	return res
}

func flatErrors(e map[string][]api.ErrorDetail) map[string][]string {
	out := map[string][]string{}
	for k, list := range e {
		for _, d := range list {
			out[k] = append(out[k], d.Code+": "+d.String)
		}
	}
	return out
}

func bobCode(t *testing.T, at time.Time) string {
	key, err := hex.DecodeString("3132333435363738393031323334353637383930")
	require.NoError(t, err)
	return totp.Code(key, at, totp.Default)
}

func ldapProviderPK(t *testing.T, c *devcoretest.Core) int32 {
	t.Helper()
	l, _, err := apiClient(t, c, c.Token("ldap-outpost")).OutpostsAPI.OutpostsLdapList(context.Background()).Execute()
	require.NoError(t, err)
	return l.Results[0].Pk
}

func TestFlowOutcomes(t *testing.T) {
	t.Parallel()
	c := startCore(t)
	ldapPK := ldapProviderPK(t, c)
	invalidPassword := map[string][]string{"password": {"invalid: Invalid password"}}
	tests := []struct {
		name, user, password string
		code                 func() string
		passed               bool
		errors               map[string][]string
		access, search       bool
		accessMsg            bool
	}{
		{name: "password user", user: "alice", password: "alice-pw", passed: true, access: true, search: true},
		{name: "by email", user: "alice@example.com", password: "alice-pw", passed: true, access: true, search: true},
		{name: "totp user", user: "bob", password: "bob-pw", code: func() string { return bobCode(t, time.Now()) }, passed: true, access: true},
		{name: "wrong password", user: "alice", password: "nope", errors: invalidPassword},
		{name: "unknown user", user: "mallory", password: "nope", errors: invalidPassword},
		{name: "inactive", user: "carol", password: "carol-pw", errors: invalidPassword},
		{name: "wrong code", user: "dave", password: "dave-pw", code: func() string { return "00000000" }, errors: map[string][]string{"code": {"invalid: Invalid Token."}}},
		{name: "denied by binding", user: "eve", password: "eve-pw", passed: true, access: false, accessMsg: true},
		{name: "superuser via group", user: "root", password: "root-pw", passed: true, access: true, search: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cl := flowClient(t, c, c.Token("ldap-outpost"), "10.9.8.7")
			code := ""
			if tt.code != nil {
				code = tt.code()
			}
			res := runFlow(t, cl, "default-authentication-flow", tt.user, tt.password, code)
			assert.Equal(t, tt.passed, res.passed, "%+v", res)
			assert.Equal(t, tt.errors, res.errors)
			if !tt.passed {
				_, resp, err := cl.CoreAPI.CoreUsersMeRetrieve(context.Background()).Execute()
				require.Error(t, err)
				assert.Equal(t, http.StatusForbidden, resp.StatusCode)
				return
			}
			me, _, err := cl.CoreAPI.CoreUsersMeRetrieve(context.Background()).Execute()
			require.NoError(t, err)
			assert.Contains(t, []string{tt.user, "alice"}, me.User.Username)
			check, _, err := cl.OutpostsAPI.OutpostsLdapAccessCheck(context.Background(), ldapPK).AppSlug("ldap-app").Execute()
			require.NoError(t, err)
			assert.Equal(t, tt.access, check.Access.Passing)
			assert.Equal(t, tt.search, check.GetHasSearchPermission())
			if tt.accessMsg {
				assert.NotEmpty(t, check.Access.Messages)
			}
			assert.Equal(t, "10.9.8.7", c.Server.LastClientIP(me.User.Username))
		})
	}
}

func TestFlowStages(t *testing.T) {
	t.Parallel()
	c := startCore(t)
	cl := flowClient(t, c, c.Token("ldap-outpost"), "")
	res := runFlow(t, cl, "default-authentication-flow", "bob", "bob-pw", bobCode(t, time.Now()))
	require.True(t, res.passed)
	assert.Equal(t, []string{"ak-stage-identification", "ak-stage-password", "ak-stage-authenticator-validate", "xak-flow-redirect"}, res.components)

	// The invalidation flow logs the session out.
	out := runFlow(t, cl, "default-invalidation-flow", "", "", "")
	require.True(t, out.passed)
	_, resp, err := cl.CoreAPI.CoreUsersMeRetrieve(context.Background()).Execute()
	require.Error(t, err)
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
}

func TestStaticTokenSingleUse(t *testing.T) {
	t.Parallel()
	c := startCore(t)
	first := runFlow(t, flowClient(t, c, c.Token("ldap-outpost"), ""), "default-authentication-flow", "dave", "dave-pw", "aaaa1111")
	assert.True(t, first.passed)
	second := runFlow(t, flowClient(t, c, c.Token("ldap-outpost"), ""), "default-authentication-flow", "dave", "dave-pw", "aaaa1111")
	assert.False(t, second.passed)
	assert.Equal(t, []string{"invalid: Invalid Token."}, second.errors["code"])
	third := runFlow(t, flowClient(t, c, c.Token("ldap-outpost"), ""), "default-authentication-flow", "dave", "dave-pw", "bbbb2222")
	assert.True(t, third.passed)
}

func TestTOTPReplay(t *testing.T) {
	t.Parallel()
	c := startCore(t)
	code := bobCode(t, time.Now())
	first := runFlow(t, flowClient(t, c, c.Token("ldap-outpost"), ""), "default-authentication-flow", "bob", "bob-pw", code)
	require.True(t, first.passed)
	// django-otp refuses a time step that was already used.
	again := runFlow(t, flowClient(t, c, c.Token("ldap-outpost"), ""), "default-authentication-flow", "bob", "bob-pw", code)
	assert.False(t, again.passed)
	assert.Contains(t, again.errors["code"][0], "Invalid Token.")
}

func TestRadiusCheckAccess(t *testing.T) {
	t.Parallel()
	c := startCore(t)
	ctx := context.Background()
	radius, _, err := apiClient(t, c, c.Token("radius-outpost")).OutpostsAPI.OutpostsRadiusList(ctx).Execute()
	require.NoError(t, err)
	pk := radius.Results[0].Pk
	tests := []struct {
		user, password, code string
		passing              bool
	}{
		// policy_engine_mode all: staff passes, the negated binding on
		// dave fails him, the disabled binding on bob is ignored.
		{"bob", "bob-pw", "", true},
		{"dave", "dave-pw", "bbbb2222", false},
		{"alice", "alice-pw", "", true}, // engineers is a child of staff
		{"eve", "eve-pw", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.user, func(t *testing.T) {
			t.Parallel()
			cl := flowClient(t, c, c.Token("radius-outpost"), "")
			code := tt.code
			if tt.user == "bob" {
				code = bobCode(t, time.Now())
			}
			res := runFlow(t, cl, "default-authentication-flow", tt.user, tt.password, code)
			require.True(t, res.passed, "%+v", res)
			check, _, err := cl.OutpostsAPI.OutpostsRadiusAccessCheck(ctx, pk).AppSlug("radius-app").Execute()
			require.NoError(t, err)
			assert.Equal(t, tt.passing, check.Access.Passing, "%+v", check.Access.Messages)
			assert.Equal(t, "", check.GetAttributes())

			// POST answers the same (one authentik version has POST only).
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL+"api/v3/outposts/radius/"+itoa(pk)+"/check_access/?app_slug=radius-app", nil)
			require.NoError(t, err)
			req.Header.Set("X-authentik-outpost-token", c.Token("radius-outpost"))
			resp, err := cl.GetConfig().HTTPClient.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, http.StatusOK, resp.StatusCode)

			me, _, err := cl.CoreAPI.CoreUsersMeRetrieve(ctx).Execute()
			require.NoError(t, err)
			app, _, err := apiClient(t, c, c.Token("radius-outpost")).CoreAPI.CoreApplicationsCheckAccessRetrieve(ctx, "radius-app").ForUser(me.User.Pk).Execute()
			require.NoError(t, err)
			assert.Equal(t, tt.passing, app.Passing)
		})
	}
}

func TestExecutorRejects(t *testing.T) {
	t.Parallel()
	c := startCore(t)
	ctx := context.Background()
	_, resp, err := flowClient(t, c, "bogus", "").FlowsAPI.FlowsExecutorGet(ctx, "default-authentication-flow").Query("").Execute()
	require.Error(t, err)
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)

	_, resp, err = flowClient(t, c, "", "").FlowsAPI.FlowsExecutorGet(ctx, "no-such-flow").Query("").Execute()
	require.Error(t, err)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)

	// A require_outpost flow only plans for outposts.
	ch, _, err := flowClient(t, c, "", "").FlowsAPI.FlowsExecutorGet(ctx, "outpost-only-flow").Query("").Execute()
	require.NoError(t, err)
	require.NotNil(t, ch.AccessDeniedChallenge)
	ch, _, err = flowClient(t, c, c.Token("ldap-outpost"), "").FlowsAPI.FlowsExecutorGet(ctx, "outpost-only-flow").Query("").Execute()
	require.NoError(t, err)
	require.NotNil(t, ch.IdentificationChallenge)

	// The session cookie is set on the first response, for every path.
	cl := flowClient(t, c, "", "")
	_, resp, err = cl.FlowsAPI.FlowsExecutorGet(ctx, "default-authentication-flow").Query("").Execute()
	require.NoError(t, err)
	var found bool
	for _, ck := range resp.Cookies() {
		if ck.Name == "authentik_session" {
			found = true
			assert.Equal(t, "/", ck.Path)
			assert.True(t, ck.HttpOnly)
		}
	}
	assert.True(t, found)

	// check_access needs an authenticated session.
	_, resp, err = cl.OutpostsAPI.OutpostsLdapAccessCheck(ctx, ldapProviderPK(t, c)).AppSlug("ldap-app").Execute()
	require.Error(t, err)
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
}
