// Package flow authenticates users the way authentik's LDAP and RADIUS
// outposts do: by driving an authentik flow through the flow-executor API
// with the user's username and password (plus an optional inline MFA code),
// then checking application access and fetching the user with the session
// the flow produced.
//
// Each attempt uses its own HTTP client and cookie jar, authenticates to the
// core with the outpost token in X-authentik-outpost-token (never an
// Authorization header, which would make the core treat the request as the
// outpost's own) and forwards the end user's address in X-authentik-remote-ip
// so the core's policies and events see the real client.
package flow

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/netip"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/rs/zerolog"
	api "goauthentik.io/api/v3"
)

const (
	componentIdentification        = "ak-stage-identification"
	componentPassword              = "ak-stage-password"
	componentAuthenticatorValidate = "ak-stage-authenticator-validate"
	componentUserLogin             = "ak-stage-user-login"
	componentAccessDenied          = "ak-stage-access-denied"
	componentRedirect              = "xak-flow-redirect"

	headerOutpostToken = "X-authentik-outpost-token"
	headerRemoteIP     = "X-authentik-remote-ip"

	// maxSteps bounds the challenges answered in one attempt, so a
	// misconfigured or hostile flow cannot keep an outpost busy.
	maxSteps = 10

	// DefaultInvalidationFlow is the flow Logout runs when given no slug.
	DefaultInvalidationFlow = "default-invalidation-flow"

	defaultUserAgent = "goauthentik.io/outpost"

	// maxChallenge bounds a challenge read from the core.
	maxChallenge = 1 << 20
)

// Options configure an Executor.
type Options struct {
	// Host is the core's URL; its path ends with "/". A sub-path
	// ("https://example.com/authentik/") is honoured.
	Host *url.URL
	// Token is the outpost's API token.
	Token     string
	UserAgent string
	// Insecure skips TLS verification of the core's certificate. Ignored
	// when Transport is set.
	Insecure bool
	// Transport is the base transport; nil means a clone of
	// http.DefaultTransport. It is shared by all attempts (connection reuse);
	// cookies are not, each attempt gets its own jar.
	Transport http.RoundTripper
	Metrics   *Metrics
	Logger    zerolog.Logger
}

// Executor runs authentication flows against one core. It is safe for
// concurrent use.
type Executor struct {
	apiURL    string
	hostErr   error
	token     string
	userAgent string
	transport http.RoundTripper
	metrics   *Metrics
	log       zerolog.Logger
}

// NewExecutor returns an Executor for opts. A missing Host is reported by
// every call rather than here.
func NewExecutor(opts Options) *Executor {
	e := &Executor{
		token:     opts.Token,
		userAgent: opts.UserAgent,
		transport: opts.Transport,
		metrics:   opts.Metrics,
		log:       opts.Logger.With().Str("logger", "authentik.outpost.flow").Logger(),
	}
	if e.userAgent == "" {
		e.userAgent = defaultUserAgent
	}
	if e.transport == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		// Attempts run side by side against one host; the default of 2
		// idle connections per host would make most of them dial anew.
		t.MaxIdleConnsPerHost = t.MaxIdleConns
		if opts.Insecure {
			// The operator asked for it (AUTHENTIK_INSECURE).
			t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec
		}
		e.transport = t
	}
	e.apiURL, e.hostErr = apiURL(opts.Host)
	return e
}

// apiURL is the API root under host. authentik's outposts copy only scheme
// and host into the flow executor's client, so flows break when
// AUTHENTIK_HOST has a sub-path; we keep the path, which is a deliberate fix.
func apiURL(host *url.URL) (string, error) {
	if host == nil || host.Scheme == "" || host.Host == "" {
		return "", fmt.Errorf("core host %q is not an absolute URL", fmt.Sprint(host))
	}
	u := url.URL{Scheme: host.Scheme, Host: host.Host, Path: strings.TrimSuffix(host.Path, "/") + "/api/v3"}
	return u.String(), nil
}

// Request is one authentication attempt.
type Request struct {
	Flow string // flow slug
	// Query is stored by the core as the flow's query string, e.g.
	// "goauthentik.io/outpost/ldap=true"; it tells the core which outpost
	// type runs the flow.
	Query    string
	Username string
	Password string
	// ClientIP is the end user's address, forwarded to the core. Empty, or
	// not an IP address (a port is stripped), means not forwarded.
	ClientIP string
	// MFASupport enables "password;code" splitting (SplitMFA).
	MFASupport bool
	// BeforeAnswer, when set, is called once, after the flow's first
	// challenge arrived and before the first answer (the one carrying the
	// username and password) is sent. An error from it ends the attempt and
	// is returned unchanged. It lets a caller overlap a check of its own (a
	// rate limiter asking a shared cache) with the first round trip to the
	// core, without sending a password the check would refuse. It is not
	// called when the attempt ends before any answer is sent.
	BeforeAnswer func(context.Context) error
}

// answers are what the solvers reply with.
type answers struct {
	username, password, code string
}

// Authenticate runs r.Flow for r.Username. On success the returned Session
// carries the authenticated core session; on failure the error is a
// *Failure.
func (e *Executor) Authenticate(ctx context.Context, r Request) (*Session, error) {
	if r.Flow == "" {
		return nil, fail(ReasonFlowError, nil, "no flow slug given")
	}
	a := answers{username: r.Username, password: r.Password}
	if r.MFASupport {
		if pw, code, ok := SplitMFA(r.Password); ok {
			a.password, a.code = pw, code
		}
	}
	s, err := e.newSession(r.ClientIP)
	if err != nil {
		return nil, err
	}
	log := e.log.With().Str("flow", r.Flow).Str("username", r.Username).Str("client_ip", s.clientIP).Logger()

	ch, err := s.get(ctx, r.Flow, r.Query)
	for step := 0; err == nil; step++ {
		comp := ch.Component
		log.Debug().Str("component", comp).Int("step", step).Msg("flow challenge")
		if msg, ok := responseError(ch); ok {
			return nil, fail(ReasonInvalidCredentials, nil, "%s", redact(msg, a))
		}
		switch comp {
		case componentRedirect:
			log.Debug().Int("steps", step).Msg("flow passed")
			return s, nil
		case componentAccessDenied:
			msg := "access denied by flow"
			if m := ch.ErrorMessage; m != "" {
				msg += ": " + redact(m, a)
			}
			return nil, fail(ReasonInvalidCredentials, nil, "%s", msg)
		}
		if step == maxSteps {
			return nil, fail(ReasonFlowError, nil, "flow not finished after %d steps", maxSteps)
		}
		resp, serr := solve(ch, a)
		if serr != nil {
			return nil, serr
		}
		if step == 0 && r.BeforeAnswer != nil {
			if err := r.BeforeAnswer(ctx); err != nil {
				return nil, err
			}
		}
		ch, err = s.post(ctx, r.Flow, r.Query, resp)
	}
	return nil, err
}

// WarmUp fetches the first challenge of a flow and throws it away, so the
// core has the flow plan cached before the first user arrives.
func (e *Executor) WarmUp(ctx context.Context, flowSlug, query string) error {
	s, err := e.newSession("")
	if err != nil {
		return err
	}
	_, err = s.get(ctx, flowSlug, query)
	if err != nil {
		return fmt.Errorf("warm up flow %s: %w", flowSlug, err)
	}
	return nil
}

func (e *Executor) newSession(clientIP string) (*Session, error) {
	if e.hostErr != nil {
		return nil, fail(ReasonFlowError, e.hostErr, "executor misconfigured")
	}
	jar, err := cookiejar.New(nil)
	if err != nil {
		return nil, fail(ReasonFlowError, err, "create cookie jar")
	}
	cfg := api.NewConfiguration()
	// A full URL as the server makes the client keep our sub-path; Host and
	// Scheme stay empty so they do not override it.
	cfg.Servers = api.ServerConfigurations{{URL: e.apiURL}}
	cfg.UserAgent = e.userAgent
	cfg.HTTPClient = &http.Client{Jar: jar, Transport: e.transport}
	cfg.AddDefaultHeader(headerOutpostToken, e.token)
	ip := normaliseIP(clientIP)
	if ip != "" {
		cfg.AddDefaultHeader(headerRemoteIP, ip)
	} else if clientIP != "" {
		e.log.Warn().Str("client_ip", clientIP).Msg("client address is not an IP, not forwarded")
	}
	return &Session{exec: e, api: api.NewAPIClient(cfg), client: cfg.HTTPClient, jar: jar, clientIP: ip}, nil
}

// normaliseIP returns addr as an IP address, dropping a port, or "" when it
// is none. The core ignores an unparsable address, and a header value with
// control characters would fail the request as if the core were down.
func normaliseIP(addr string) string {
	if a, err := netip.ParseAddr(addr); err == nil {
		return a.String()
	}
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		return ap.Addr().String()
	}
	return ""
}

// challenge is the part of a flow challenge the solvers use. The executor
// decodes it itself, once: the generated client decodes every challenge
// three or four times over (discriminator lookup, required fields, the
// typed struct), which was a fifth of a direct LDAP bind's CPU.
type challenge struct {
	Component      string                   `json:"component"`
	ResponseErrors map[string][]errorDetail `json:"response_errors"`
	// ErrorMessage: ak-stage-access-denied.
	ErrorMessage string `json:"error_message"`
	// DeviceChallenges: ak-stage-authenticator-validate.
	DeviceChallenges []api.DeviceChallenge `json:"device_challenges"`
}

type errorDetail struct {
	String string `json:"string"`
}

func (s *Session) get(ctx context.Context, flow, query string) (*challenge, error) {
	start := time.Now()
	ch, err := s.exchange(ctx, http.MethodGet, flow, query, nil)
	if err != nil {
		return nil, err
	}
	s.exec.metrics.observeGet(ch.Component, flow, time.Since(start))
	return ch, nil
}

func (s *Session) post(ctx context.Context, flow, query string, answer api.FlowChallengeResponseRequest) (*challenge, error) {
	start := time.Now()
	body, err := json.Marshal(answer)
	if err != nil {
		return nil, fail(ReasonFlowError, err, "encode flow answer")
	}
	ch, err := s.exchange(ctx, http.MethodPost, flow, query, body)
	if err != nil {
		return nil, err
	}
	s.exec.metrics.observePost(ch.Component, flow, time.Since(start))
	return ch, nil
}

// exchange fetches (body nil) or answers the flow's current challenge, with
// the requests the generated client would send.
func (s *Session) exchange(ctx context.Context, method, flow, query string, body []byte) (*challenge, error) {
	what := "get flow challenge"
	var rd io.Reader
	if body != nil {
		what, rd = "submit flow challenge", bytes.NewReader(body)
	}
	u := s.exec.apiURL + "/flows/executor/" + url.PathEscape(flow) + "/?query=" + url.QueryEscape(query)
	req, err := s.newRequest(ctx, method, u, rd)
	if err != nil {
		return nil, fail(ReasonFlowError, err, "%s", what)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, classify(err, 0, ReasonFlowError, ReasonUnavailable, what)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxChallenge))
	if err != nil {
		return nil, classify(err, 0, ReasonFlowError, ReasonUnavailable, what)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, classify(fmt.Errorf("%s", resp.Status), resp.StatusCode, ReasonFlowError, ReasonUnavailable, what)
	}
	ch, err := decodeChallenge(raw)
	if err != nil {
		return nil, fail(ReasonFlowError, nil, "%s: %v", what, err)
	}
	return ch, nil
}

func decodeChallenge(raw []byte) (*challenge, error) {
	var ch challenge
	if err := json.Unmarshal(raw, &ch); err != nil {
		return nil, fmt.Errorf("undecodable response: %w", err)
	}
	if ch.Component == "" {
		return nil, errors.New("flow response has no challenge")
	}
	return &ch, nil
}

// responseError returns the first validation error a stage reported, sorted
// by field so the message is stable.
func responseError(ch *challenge) (string, bool) {
	fields := make([]string, 0, len(ch.ResponseErrors))
	for f, list := range ch.ResponseErrors {
		if len(list) > 0 {
			fields = append(fields, f)
		}
	}
	if len(fields) == 0 {
		return "", false
	}
	sort.Strings(fields)
	return fmt.Sprintf("flow error %s: %s", fields[0], ch.ResponseErrors[fields[0]][0].String), true
}

// redact keeps the secrets out of messages built from server text; a core
// echoing input back must not put a password into our logs.
func redact(msg string, a answers) string {
	for _, secret := range []string{a.password, a.code} {
		if secret != "" {
			msg = strings.ReplaceAll(msg, secret, "***")
		}
	}
	return msg
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func statusOf(resp *http.Response) int {
	if resp == nil {
		return 0
	}
	return resp.StatusCode
}
