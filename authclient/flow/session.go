package flow

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/golang-jwt/jwt/v5"
	api "goauthentik.io/api/v3"
)

// sessionCookie is the core's session cookie.
const sessionCookie = "authentik_session"

// Session is one attempt's client: its cookie jar (holding the core session
// once a flow passed), the outpost token and the forwarded client address.
// Its methods act as the authenticated user. A Session is safe for
// concurrent use.
type Session struct {
	exec     *Executor
	api      *api.APIClient
	jar      http.CookieJar
	clientIP string
}

// CheckLDAPAccess asks whether the session's user may use the LDAP
// provider's application, and whether they may search the full directory.
// A denial is a *Failure with ReasonAccessDenied whose Message carries the
// policies' messages.
func (s *Session) CheckLDAPAccess(ctx context.Context, providerPK int32, appSlug string) (hasSearch bool, err error) {
	res, resp, err := s.api.OutpostsAPI.OutpostsLdapAccessCheck(ctx, providerPK).AppSlug(appSlug).Execute()
	if err != nil {
		return false, classify(err, statusOf(resp), ReasonAccessCheckFail, ReasonAccessCheckFail, "check ldap access")
	}
	if res == nil {
		return false, fail(ReasonAccessCheckFail, nil, "check ldap access: empty response")
	}
	if err := accessResult(res.Access); err != nil {
		return false, err
	}
	return res.GetHasSearchPermission(), nil
}

// CheckRadiusAccess asks whether the session's user may use the RADIUS
// provider's application and returns the RADIUS attributes the core
// computed for them (encoded as the core sends them).
func (s *Session) CheckRadiusAccess(ctx context.Context, providerPK int32, appSlug string) (attributes string, err error) {
	res, resp, err := s.api.OutpostsAPI.OutpostsRadiusAccessCheck(ctx, providerPK).AppSlug(appSlug).Execute()
	if err != nil {
		return "", classify(err, statusOf(resp), ReasonAccessCheckFail, ReasonAccessCheckFail, "check radius access")
	}
	if res == nil {
		return "", fail(ReasonAccessCheckFail, nil, "check radius access: empty response")
	}
	if err := accessResult(res.Access); err != nil {
		return "", err
	}
	return res.GetAttributes(), nil
}

// CheckApplicationAccess is the provider-independent check older outposts
// use (core/applications/{slug}/check_access/).
func (s *Session) CheckApplicationAccess(ctx context.Context, appSlug string) error {
	res, resp, err := s.api.CoreAPI.CoreApplicationsCheckAccessRetrieve(ctx, appSlug).Execute()
	if err != nil {
		return classify(err, statusOf(resp), ReasonAccessCheckFail, ReasonAccessCheckFail, "check application access")
	}
	if res == nil {
		return fail(ReasonAccessCheckFail, nil, "check application access: empty response")
	}
	return accessResult(*res)
}

func accessResult(r api.PolicyTestResult) error {
	if r.Passing {
		return nil
	}
	msg := "access denied"
	if len(r.Messages) > 0 {
		msg += ": " + strings.Join(r.Messages, "; ")
	}
	return fail(ReasonAccessDenied, nil, "%s", msg)
}

// Me returns the session's user.
func (s *Session) Me(ctx context.Context) (*api.SessionUser, error) {
	u, resp, err := s.api.CoreAPI.CoreUsersMeRetrieve(ctx).Execute()
	if err != nil {
		return nil, classify(err, statusOf(resp), ReasonUserInfoFail, ReasonUserInfoFail, "get current user")
	}
	if u == nil {
		return nil, fail(ReasonUserInfoFail, nil, "get current user: empty response")
	}
	return u, nil
}

// Logout runs the invalidation flow (DefaultInvalidationFlow when flowSlug
// is empty) with this session, ending it in the core, as an LDAP unbind
// does. The core logs the user out when the flow is fetched, so one GET is
// enough whatever challenge it answers with.
func (s *Session) Logout(ctx context.Context, flowSlug string) error {
	if flowSlug == "" {
		flowSlug = DefaultInvalidationFlow
	}
	_, resp, err := s.api.FlowsAPI.FlowsExecutorGet(ctx, flowSlug).Query("").Execute()
	if err != nil {
		return classify(err, statusOf(resp), ReasonFlowError, ReasonUnavailable, "run invalidation flow "+flowSlug)
	}
	return nil
}

// ID is the core's session id (the "sid" claim of the authentik_session
// JWT), which the core names in SESSION_END messages; "" when the core
// set no such cookie or it is not a JWT. The JWT is not verified: it is only
// used to match the core's own messages.
func (s *Session) ID() string {
	c := s.cookie()
	if c == "" {
		return ""
	}
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(c, claims); err != nil {
		return ""
	}
	sid, _ := claims["sid"].(string)
	return sid
}

func (s *Session) cookie() string {
	u, err := url.Parse(s.exec.apiURL + "/")
	if err != nil {
		return ""
	}
	for _, c := range s.jar.Cookies(u) {
		if c.Name == sessionCookie {
			return c.Value
		}
	}
	return ""
}

// ClientIP is the client address forwarded to the core ("" when none).
func (s *Session) ClientIP() string { return s.clientIP }
