package flow

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
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
	client   *http.Client // api's, for the requests sent without it
	jar      http.CookieJar
	clientIP string
}

// CheckLDAPAccess asks whether the session's user may use the LDAP
// provider's application, and whether they may search the full directory.
// A denial is a *Failure with ReasonAccessDenied whose Message carries the
// policies' messages.
func (s *Session) CheckLDAPAccess(ctx context.Context, providerPK int32, appSlug string) (hasSearch bool, err error) {
	// Decoded here rather than by the generated client (see challenge);
	// the fields it requires are required here too.
	var res struct {
		Access *struct {
			Passing  *bool    `json:"passing"`
			Messages []string `json:"messages"`
		} `json:"access"`
		HasSearchPermission *bool `json:"has_search_permission"`
	}
	path := "/outposts/ldap/" + strconv.Itoa(int(providerPK)) + "/check_access/?app_slug=" + url.QueryEscape(appSlug)
	status, err := s.getJSON(ctx, path, &res)
	if err != nil {
		return false, classify(err, status, ReasonAccessCheckFail, ReasonAccessCheckFail, "check ldap access")
	}
	if res.Access == nil || res.Access.Passing == nil || res.HasSearchPermission == nil {
		return false, fail(ReasonAccessCheckFail, nil, "check ldap access: incomplete response")
	}
	if err := accessResult(api.PolicyTestResult{Passing: *res.Access.Passing, Messages: res.Access.Messages}); err != nil {
		return false, err
	}
	return *res.HasSearchPermission, nil
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

// User is who a session belongs to, as users/me reports them.
type User struct {
	PK       int32
	Username string
	IsActive bool
}

// User returns the session's user, like Me but decoding only what an
// outpost needs to remember a bind: the generated client decodes the whole
// user (groups, settings, permissions) several times over, which was a
// tenth of a direct LDAP bind's CPU.
func (s *Session) User(ctx context.Context) (User, error) {
	var body struct {
		User struct {
			PK       *int32 `json:"pk"`
			Username string `json:"username"`
			IsActive bool   `json:"is_active"`
		} `json:"user"`
	}
	status, err := s.getJSON(ctx, "/core/users/me/", &body)
	if err != nil {
		return User{}, classify(err, status, ReasonUserInfoFail, ReasonUserInfoFail, "get current user")
	}
	if body.User.PK == nil {
		return User{}, fail(ReasonUserInfoFail, nil, "get current user: no user in the response")
	}
	return User{PK: *body.User.PK, Username: body.User.Username, IsActive: body.User.IsActive}, nil
}

// getJSON sends a GET for path (under the API root) with the session's
// client and headers and decodes a 200 answer into out. The status is 0
// when no answer came.
func (s *Session) getJSON(ctx context.Context, path string, out any) (int, error) {
	req, err := s.newRequest(ctx, http.MethodGet, s.exec.apiURL+path, nil)
	if err != nil {
		return 0, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		return resp.StatusCode, fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 8<<20)).Decode(out); err != nil {
		return resp.StatusCode, fmt.Errorf("GET %s: decode: %w", path, err)
	}
	return resp.StatusCode, nil
}

// newRequest is a request with the headers the generated client sends:
// the outpost token, the client address, the User-Agent.
func (s *Session) newRequest(ctx context.Context, method, u string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	cfg := s.api.GetConfig()
	for k, v := range cfg.DefaultHeader {
		req.Header.Set(k, v)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", cfg.UserAgent)
	return req, nil
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
