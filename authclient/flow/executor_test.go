package flow

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAuthenticateWireFormat(t *testing.T) {
	t.Parallel()
	fc := newFakeCore(t, "/authentik/", script(chIdentification, chPassword, chValidate(`{"device_class":"totp","device_uid":"1","challenge":{},"last_used":null}`), chUserLogin, chRedirect))
	e := fc.executor(t, Options{UserAgent: "goauthentik.io/outpost/test"})

	s, err := authenticate(t, e, Request{Query: "goauthentik.io/outpost/ldap=true", Username: "alice", Password: "pw;123456", ClientIP: "192.0.2.7:5555", MFASupport: true})
	require.NoError(t, err)
	assert.Equal(t, "192.0.2.7", s.ClientIP())
	assert.Equal(t, "sess-1", s.ID())

	reqs := fc.requests()
	require.Len(t, reqs, 5)
	for i, r := range reqs {
		// The sub-path of the core's URL is kept (authentik's outposts drop it).
		assert.Equal(t, "/authentik/api/v3/flows/executor/default-authentication-flow/", r.Path, "request %d", i)
		assert.Equal(t, "goauthentik.io/outpost/ldap=true", r.Query.Get("query"))
		assert.Equal(t, "outpost-token", r.Header.Get(headerOutpostToken))
		assert.Equal(t, "192.0.2.7", r.Header.Get(headerRemoteIP))
		assert.Equal(t, "goauthentik.io/outpost/test", r.Header.Get("User-Agent"))
		assert.Empty(t, r.Header.Get("Authorization"), "never an Authorization header")
		if i > 0 {
			assert.Contains(t, r.Header.Get("Cookie"), sessionCookie+"=", "session cookie sent back")
		}
	}
	assert.Equal(t, http.MethodGet, reqs[0].Method)
	assert.Equal(t, map[string]any{"component": "ak-stage-identification", "uid_field": "alice", "password": "pw"}, reqs[1].Body)
	assert.Equal(t, map[string]any{"component": "ak-stage-password", "password": "pw"}, reqs[2].Body)
	assert.Equal(t, map[string]any{
		"component":          "ak-stage-authenticator-validate",
		"selected_challenge": map[string]any{"device_class": "totp", "device_uid": "1", "challenge": map[string]any{}, "last_used": nil},
		"code":               "123456",
	}, reqs[3].Body)
	assert.Equal(t, map[string]any{"component": "ak-stage-user-login", "remember_me": true}, reqs[4].Body)
}

func TestAuthenticateOutcomes(t *testing.T) {
	t.Parallel()
	totp := `{"device_class":"totp","device_uid":"1","challenge":{},"last_used":null}`
	duo := `{"device_class":"duo","device_uid":"42","challenge":{},"last_used":null}`
	endless := make([]string, 30)
	for i := range endless {
		endless[i] = chPassword
	}
	tests := []struct {
		name     string
		bodies   []string
		password string
		mfa      bool
		reason   Reason
		message  string
	}{
		{name: "password error", bodies: []string{chIdentification, chPasswordError}, reason: ReasonInvalidCredentials, message: "flow error password: Invalid password"},
		{name: "access denied stage", bodies: []string{chIdentification, chAccessDenied}, reason: ReasonInvalidCredentials, message: "Account disabled"},
		{name: "unknown stage", bodies: []string{chIdentification, chConsent}, reason: ReasonFlowError, message: `unsupported challenge type "ak-stage-consent"`},
		{name: "endless flow", bodies: endless, reason: ReasonFlowError, message: "not finished after 10 steps"},
		{name: "code device without code", bodies: []string{chIdentification, chValidate(totp)}, reason: ReasonFlowError, message: "no compatible authenticator class found"},
		{name: "code device, mfa off", bodies: []string{chIdentification, chValidate(totp)}, password: "pw;123456", reason: ReasonFlowError, message: "no compatible authenticator class found"},
		{name: "no devices", bodies: []string{chIdentification, chValidate("")}, password: "pw;123456", mfa: true, reason: ReasonFlowError, message: "no compatible authenticator class found"},
		{name: "bad duo id", bodies: []string{chIdentification, chValidate(`{"device_class":"duo","device_uid":"x","challenge":{},"last_used":null}`)}, reason: ReasonFlowError, message: "duo device id"},
		{name: "duo wins", bodies: []string{chIdentification, chValidate(totp + "," + duo), chRedirect}, password: "pw;123456", mfa: true},
		{name: "empty body", bodies: []string{chIdentification, `{}`}, reason: ReasonFlowError, message: "no challenge"},
		{name: "malformed challenge", bodies: []string{chIdentification, `{"component":"ak-stage-password","response_errors":["x"]}`}, reason: ReasonFlowError},
		{name: "malformed device challenge", bodies: []string{chIdentification, chValidate(`{"device_class":"totp"}`)}, password: "pw;123456", mfa: true, reason: ReasonFlowError},
		{name: "not json", bodies: []string{"<html>"}, reason: ReasonFlowError},
		{name: "script exhausted is a 5xx", bodies: []string{chIdentification}, reason: ReasonUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fc := newFakeCore(t, "/", script(tt.bodies...))
			pw := tt.password
			if pw == "" {
				pw = "pw"
			}
			s, err := authenticate(t, fc.executor(t, Options{}), Request{Username: "alice", Password: pw, MFASupport: tt.mfa})
			if tt.reason == "" {
				require.NoError(t, err)
				require.NotNil(t, s)
				return
			}
			require.Error(t, err)
			assert.Nil(t, s)
			var f *Failure
			require.ErrorAs(t, err, &f)
			assert.Equal(t, tt.reason, f.Reason, "error: %v", err)
			assert.Equal(t, tt.reason, ReasonOf(err))
			assert.Contains(t, f.Message, tt.message)
			assert.Equal(t, tt.reason == ReasonUnavailable, IsUnavailable(err))
			assert.NotContains(t, err.Error(), pw)
		})
	}
}

func TestAuthenticateStepLimit(t *testing.T) {
	t.Parallel()
	endless := make([]string, 30)
	for i := range endless {
		endless[i] = chPassword
	}
	fc := newFakeCore(t, "/", script(endless...))
	_, err := authenticate(t, fc.executor(t, Options{}), Request{Username: "alice", Password: "pw"})
	require.Error(t, err)
	posts := 0
	for _, r := range fc.requests() {
		if r.Method == http.MethodPost {
			posts++
		}
	}
	assert.Equal(t, maxSteps, posts)
}

func TestDuoSelection(t *testing.T) {
	t.Parallel()
	fc := newFakeCore(t, "/", script(chIdentification, chValidate(
		`{"device_class":"totp","device_uid":"1","challenge":{},"last_used":null},{"device_class":"duo","device_uid":"42","challenge":{"x":"y"},"last_used":null},{"device_class":"static","device_uid":"3","challenge":{},"last_used":null}`), chRedirect))
	_, err := authenticate(t, fc.executor(t, Options{}), Request{Username: "alice", Password: "pw;123456", MFASupport: true})
	require.NoError(t, err)
	reqs := fc.requests()
	require.Len(t, reqs, 3)
	assert.Equal(t, map[string]any{
		"component":          "ak-stage-authenticator-validate",
		"selected_challenge": map[string]any{"device_class": "duo", "device_uid": "42", "challenge": map[string]any{"x": "y"}, "last_used": nil},
		"duo":                float64(42),
	}, reqs[2].Body)
}

func TestAuthenticateUnavailable(t *testing.T) {
	t.Parallel()
	// A port nothing listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())

	host, err := url.Parse("http://" + addr + "/")
	require.NoError(t, err)
	e := NewExecutor(Options{Host: host, Token: "t"})
	_, err = e.Authenticate(context.Background(), Request{Flow: "f", Username: "alice", Password: "pw"})
	require.Error(t, err)
	assert.Equal(t, ReasonUnavailable, ReasonOf(err))
	assert.True(t, IsUnavailable(err))
	assert.ErrorIs(t, err, ErrUnavailable)

	assert.True(t, IsUnavailable(e.WarmUp(context.Background(), "f", "")))
}

func TestAuthenticateHTTPErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status      int
		reason      Reason
		unavailable bool
	}{
		{http.StatusForbidden, ReasonFlowError, false},
		{http.StatusNotFound, ReasonFlowError, false},
		{http.StatusBadGateway, ReasonUnavailable, true},
		{http.StatusServiceUnavailable, ReasonUnavailable, true},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.status), func(t *testing.T) {
			t.Parallel()
			fc := newFakeCore(t, "/", func(int, recordedReq) (int, string) { return tt.status, `{"detail":"nope"}` })
			_, err := authenticate(t, fc.executor(t, Options{}), Request{Username: "alice", Password: "pw"})
			assert.Equal(t, tt.reason, ReasonOf(err), "error: %v", err)
			assert.Equal(t, tt.unavailable, IsUnavailable(err))
		})
	}
}

func TestRequestValidation(t *testing.T) {
	t.Parallel()
	_, err := NewExecutor(Options{}).Authenticate(context.Background(), Request{Flow: "f"})
	assert.Equal(t, ReasonFlowError, ReasonOf(err))
	assert.Contains(t, err.Error(), "not an absolute URL")

	host, _ := url.Parse("http://127.0.0.1:1/")
	_, err = NewExecutor(Options{Host: host}).Authenticate(context.Background(), Request{})
	assert.Equal(t, ReasonFlowError, ReasonOf(err))
}

func TestClientIPNormalisation(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"":                "",
		"10.0.0.1":        "10.0.0.1",
		"10.0.0.1:1812":   "10.0.0.1",
		"[2001:db8::1]:1": "2001:db8::1",
		"2001:db8::1":     "2001:db8::1",
		"not an ip":       "",
		"1.2.3.4\r\nX: y": "",
	}
	for in, want := range tests {
		assert.Equal(t, want, normaliseIP(in), in)
	}

	fc := newFakeCore(t, "/", script(chIdentification, chRedirect))
	_, err := authenticate(t, fc.executor(t, Options{}), Request{Username: "alice", Password: "pw", ClientIP: "bogus\r\n"})
	require.NoError(t, err)
	for _, r := range fc.requests() {
		assert.NotContains(t, r.Header, http.CanonicalHeaderKey(headerRemoteIP))
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	require.Same(t, m.get, NewMetrics(reg).get, "second registration reuses the collectors")

	fc := newFakeCore(t, "/", script(chIdentification, chPassword, chRedirect))
	_, err := authenticate(t, fc.executor(t, Options{Metrics: m}), Request{Username: "alice", Password: "pw"})
	require.NoError(t, err)

	n, err := testutil.GatherAndCount(reg,
		"authentik_outpost_flow_timing_get_seconds", "authentik_outpost_flow_timing_post_seconds",
		"authentik_outpost_flow_timing_get", "authentik_outpost_flow_timing_post")
	require.NoError(t, err)
	// get: identification; post: password, redirect; for both families.
	assert.Equal(t, 6, n)
	assert.Equal(t, uint64(1), histogramCount(t, reg, "authentik_outpost_flow_timing_get_seconds", "ak-stage-identification"))
	assert.Equal(t, uint64(1), histogramCount(t, reg, "authentik_outpost_flow_timing_post", "xak-flow-redirect"))

	// A nil *Metrics is valid.
	fc2 := newFakeCore(t, "/", script(chIdentification, chRedirect))
	_, err = authenticate(t, fc2.executor(t, Options{}), Request{Username: "alice", Password: "pw"})
	require.NoError(t, err)
}

func histogramCount(t *testing.T, reg *prometheus.Registry, name, stage string) uint64 {
	t.Helper()
	families, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["stage"] == stage && labels["flow"] == "default-authentication-flow" {
				return m.GetHistogram().GetSampleCount()
			}
		}
	}
	return 0
}

func TestSessionCallsFake(t *testing.T) {
	t.Parallel()
	var checkStatus int
	var checkBody string
	fc := newFakeCore(t, "/ak/", func(n int, r recordedReq) (int, string) {
		switch {
		case strings.Contains(r.Path, "/flows/executor/"):
			if r.Method == http.MethodGet && n == 0 {
				return http.StatusOK, chIdentification
			}
			return http.StatusOK, chRedirect
		case strings.Contains(r.Path, "/check_access/"):
			return checkStatus, checkBody
		}
		return http.StatusNotFound, `{"detail":"not found"}`
	})
	s, err := authenticate(t, fc.executor(t, Options{}), Request{Username: "alice", Password: "pw", ClientIP: "192.0.2.1"})
	require.NoError(t, err)
	ctx := context.Background()

	checkStatus, checkBody = http.StatusOK, `{"has_search_permission":false,"access":{"passing":false,"messages":["not in group","outside hours"],"log_messages":[]}}`
	_, err = s.CheckLDAPAccess(ctx, 1, "app")
	assert.Equal(t, ReasonAccessDenied, ReasonOf(err))
	assert.Contains(t, err.Error(), "not in group; outside hours")
	assert.False(t, IsUnavailable(err))

	checkStatus, checkBody = http.StatusOK, `{"attributes":"AQ==","access":{"passing":true,"messages":[],"log_messages":[]}}`
	attrs, err := s.CheckRadiusAccess(ctx, 2, "app")
	require.NoError(t, err)
	assert.Equal(t, "AQ==", attrs)

	checkStatus, checkBody = http.StatusInternalServerError, `{"detail":"boom"}`
	_, err = s.CheckRadiusAccess(ctx, 2, "app")
	assert.Equal(t, ReasonAccessCheckFail, ReasonOf(err))
	assert.True(t, IsUnavailable(err), "a 5xx during the check is the core failing")

	checkStatus, checkBody = http.StatusForbidden, `{"detail":"no"}`
	err = s.CheckApplicationAccess(ctx, "app")
	assert.Equal(t, ReasonAccessCheckFail, ReasonOf(err))
	assert.False(t, IsUnavailable(err))

	checkStatus, checkBody = http.StatusOK, `{"passing":true}`
	err = s.CheckApplicationAccess(ctx, "app")
	assert.Equal(t, ReasonAccessCheckFail, ReasonOf(err), "missing required keys are a decode failure")

	_, err = s.Me(ctx)
	assert.Equal(t, ReasonUserInfoFail, ReasonOf(err))

	require.NoError(t, s.Logout(ctx, ""))
	reqs := fc.requests()
	last := reqs[len(reqs)-1]
	assert.Equal(t, "/ak/api/v3/flows/executor/default-invalidation-flow/", last.Path)
	assert.Contains(t, last.Header.Get("Cookie"), sessionCookie+"="+testJWT)
	for _, r := range reqs {
		assert.Equal(t, "192.0.2.1", r.Header.Get(headerRemoteIP), r.Path)
		assert.Empty(t, r.Header.Get("Authorization"), r.Path)
	}
	checkPaths := []string{}
	for _, r := range reqs {
		if strings.Contains(r.Path, "check_access") {
			checkPaths = append(checkPaths, r.Path+"?"+r.Query.Encode())
		}
	}
	assert.Equal(t, []string{
		"/ak/api/v3/outposts/ldap/1/check_access/?app_slug=app",
		"/ak/api/v3/outposts/radius/2/check_access/?app_slug=app",
		"/ak/api/v3/outposts/radius/2/check_access/?app_slug=app",
		"/ak/api/v3/core/applications/app/check_access/?",
		"/ak/api/v3/core/applications/app/check_access/?",
	}, checkPaths)
}

func TestFailureError(t *testing.T) {
	t.Parallel()
	inner := errors.New("inner")
	f := &Failure{Reason: ReasonFlowError, Message: "msg", Err: inner}
	assert.Equal(t, "flow_error: msg: inner", f.Error())
	assert.ErrorIs(t, f, inner)
	assert.Equal(t, "access_denied: no", (&Failure{Reason: ReasonAccessDenied, Message: "no"}).Error())
	assert.Equal(t, Reason(""), ReasonOf(inner))
}

func TestNoSecretsInLogs(t *testing.T) {
	t.Parallel()
	const password, code = "hunter2-very-secret", "987654"
	echo := `{"component":"ak-stage-password","pending_user":"alice","pending_user_avatar":"data:,","response_errors":{"password":[{"string":"wrong: hunter2-very-secret / 987654","code":"invalid"}]}}`
	fc := newFakeCore(t, "/", script(chIdentification, echo))
	log, buf := debugLogger(t)
	_, err := authenticate(t, fc.executor(t, Options{Logger: log}), Request{Username: "alice", Password: password + ";" + code, MFASupport: true})
	require.Error(t, err)
	assert.Equal(t, ReasonInvalidCredentials, ReasonOf(err))
	assert.NotContains(t, err.Error(), password)
	assert.NotContains(t, err.Error(), code)
	assert.NotEmpty(t, buf.String())
	assert.NotContains(t, buf.String(), password)
	assert.NotContains(t, buf.String(), code)
}

func TestBeforeAnswer(t *testing.T) {
	t.Parallel()
	refused := errors.New("refused")
	tests := []struct {
		name  string
		first string // the flow's first challenge
		hook  error
		calls int
		posts int
		err   error
	}{
		{"allowed: called once, before the first answer", chIdentification, nil, 1, 3, nil},
		{"refused: nothing is posted", chIdentification, refused, 1, 0, refused},
		{"not called when no answer is sent", chAccessDenied, nil, 0, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fc := newFakeCore(t, "/", script(tt.first, chPassword, chUserLogin, chRedirect))
			calls := 0
			_, err := authenticate(t, fc.executor(t, Options{}), Request{Username: "alice", Password: "pw",
				BeforeAnswer: func(context.Context) error {
					calls++
					// Only the first challenge has been fetched.
					assert.Len(t, fc.requests(), 1)
					return tt.hook
				}})
			switch {
			case tt.err != nil:
				assert.ErrorIs(t, err, tt.err)
			case tt.first == chAccessDenied:
				assert.Equal(t, ReasonInvalidCredentials, ReasonOf(err))
			default:
				assert.NoError(t, err)
			}
			assert.Equal(t, tt.calls, calls)
			posts := 0
			for _, r := range fc.requests() {
				if r.Method == http.MethodPost {
					posts++
				}
			}
			assert.Equal(t, tt.posts, posts)
		})
	}
}

func TestSessionUser(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		status      int
		body        string
		want        User
		reason      Reason
		unavailable bool
	}{
		{"user", http.StatusOK, `{"user":{"pk":7,"username":"alice","is_active":true,"groups":[{"pk":"g","name":"x"}],"settings":{}}}`, User{PK: 7, Username: "alice", IsActive: true}, "", false},
		{"inactive", http.StatusOK, `{"user":{"pk":8,"username":"bob","is_active":false}}`, User{PK: 8, Username: "bob"}, "", false},
		{"no user", http.StatusOK, `{"user":{}}`, User{}, ReasonUserInfoFail, false},
		{"not json", http.StatusOK, `<html>`, User{}, ReasonUserInfoFail, false},
		{"forbidden", http.StatusForbidden, `{"detail":"no"}`, User{}, ReasonUserInfoFail, false},
		{"core failing", http.StatusBadGateway, `{"detail":"boom"}`, User{}, ReasonUserInfoFail, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fc := newFakeCore(t, "/ak/", func(n int, r recordedReq) (int, string) {
				switch {
				case strings.Contains(r.Path, "/flows/executor/") && n == 0:
					return http.StatusOK, chIdentification
				case strings.Contains(r.Path, "/flows/executor/"):
					return http.StatusOK, chRedirect
				case r.Path == "/ak/api/v3/core/users/me/":
					return tt.status, tt.body
				}
				return http.StatusNotFound, `{"detail":"not found"}`
			})
			s, err := authenticate(t, fc.executor(t, Options{UserAgent: "ua-test"}), Request{Username: "alice", Password: "pw", ClientIP: "192.0.2.1"})
			require.NoError(t, err)
			u, err := s.User(context.Background())
			assert.Equal(t, tt.reason, ReasonOf(err), "error: %v", err)
			assert.Equal(t, tt.unavailable, IsUnavailable(err))
			assert.Equal(t, tt.want, u)

			reqs := fc.requests()
			last := reqs[len(reqs)-1]
			assert.Equal(t, "/ak/api/v3/core/users/me/", last.Path)
			assert.Equal(t, "outpost-token", last.Header.Get(headerOutpostToken))
			assert.Equal(t, "192.0.2.1", last.Header.Get(headerRemoteIP))
			assert.Equal(t, "ua-test", last.Header.Get("User-Agent"))
			assert.Empty(t, last.Header.Get("Authorization"))
			assert.Contains(t, last.Header.Get("Cookie"), sessionCookie+"="+testJWT)
		})
	}
}

func TestCheckLDAPAccess(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		status      int
		body        string
		search      bool
		reason      Reason
		unavailable bool
	}{
		{"search", http.StatusOK, `{"has_search_permission":true,"access":{"passing":true,"messages":[],"log_messages":[]}}`, true, "", false},
		{"no search", http.StatusOK, `{"has_search_permission":false,"access":{"passing":true,"messages":[]}}`, false, "", false},
		{"denied", http.StatusOK, `{"has_search_permission":true,"access":{"passing":false,"messages":["no"]}}`, false, ReasonAccessDenied, false},
		{"incomplete", http.StatusOK, `{"access":{"passing":true}}`, false, ReasonAccessCheckFail, false},
		{"no access result", http.StatusOK, `{"has_search_permission":true}`, false, ReasonAccessCheckFail, false},
		{"forbidden", http.StatusForbidden, `{"detail":"no"}`, false, ReasonAccessCheckFail, false},
		{"core failing", http.StatusServiceUnavailable, `{"detail":"boom"}`, false, ReasonAccessCheckFail, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fc := newFakeCore(t, "/", func(n int, r recordedReq) (int, string) {
				switch {
				case strings.Contains(r.Path, "/flows/executor/") && n == 0:
					return http.StatusOK, chIdentification
				case strings.Contains(r.Path, "/flows/executor/"):
					return http.StatusOK, chRedirect
				case r.Path == "/api/v3/outposts/ldap/3/check_access/" && r.Query.Get("app_slug") == "my app":
					return tt.status, tt.body
				}
				return http.StatusNotFound, `{"detail":"not found"}`
			})
			s, err := authenticate(t, fc.executor(t, Options{}), Request{Username: "alice", Password: "pw"})
			require.NoError(t, err)
			search, err := s.CheckLDAPAccess(context.Background(), 3, "my app")
			assert.Equal(t, tt.reason, ReasonOf(err), "error: %v", err)
			assert.Equal(t, tt.unavailable, IsUnavailable(err))
			assert.Equal(t, tt.search, search)
		})
	}
}
