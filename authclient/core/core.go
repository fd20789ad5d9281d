// Package core is the outpost's REST client for the authentik core: the
// generated goauthentik.io/api/v3 client set up the way authentik's own
// outposts set it up (bearer token, outpost User-Agent, sub-path support),
// plus the calls every outpost makes at start-up and on every refresh.
package core

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/rs/zerolog"
	"goauthentik.io/api/v3"

	"github.com/outpost-go/outposts/authclient/backoff"
	"github.com/outpost-go/outposts/authclient/config"
)

// ErrNoOutpost means the token is valid but sees no outpost: the token's
// service account belongs to an outpost that was deleted, or the token is
// not an outpost token. Retrying does not help.
var ErrNoOutpost = errors.New("no outpost found for this token; check AUTHENTIK_TOKEN")

// Client talks to the core's REST API as one outpost.
//
// The fields are exported so the flow executor and the outposts can build
// their own requests with the same host, token and transport. They must not
// be changed once the Client is in use.
type Client struct {
	// API is the generated client, pointed at <host path>api/v3.
	API *api.APIClient
	// HTTPClient is the client API uses. Its transport adds UserAgent to
	// requests that carry none and skips TLS verification when the config
	// says AUTHENTIK_INSECURE.
	HTTPClient *http.Client
	// Transport is HTTPClient's transport, for callers that need their own
	// http.Client (for example with a cookie jar) but the same TLS set-up.
	Transport http.RoundTripper
	// Host is AUTHENTIK_HOST; its path always ends in "/".
	Host *url.URL
	// Token is the outpost token sent as "Authorization: Bearer <Token>".
	Token string
	// UserAgent is "goauthentik.io/outpost/<version>[+<build>]".
	UserAgent string
	// Insecure is AUTHENTIK_INSECURE: TLS certificates are not verified.
	Insecure bool
	// Backoff paces the retries of provider-list pages.
	Backoff backoff.Policy
	// Logger receives one line per failed page before it is retried.
	Logger zerolog.Logger
}

// FullVersion is authentik's FullVersion: version, plus "+build" when a
// build hash is known.
func FullVersion(version, build string) string {
	if build == "" {
		return version
	}
	return version + "+" + build
}

// UserAgent is the User-Agent authentik's outposts send.
func UserAgent(version, build string) string {
	return "goauthentik.io/outpost/" + FullVersion(version, build)
}

// New builds a Client from the outpost config. version is the outpost's
// own version; the build hash comes from cfg.BuildHash.
func New(cfg config.Config, version string) (*Client, error) {
	if cfg.Host == nil || cfg.Host.Host == "" {
		return nil, errors.New("core client: AUTHENTIK_HOST is not set")
	}
	if cfg.Token == "" {
		return nil, errors.New("core client: AUTHENTIK_TOKEN is not set")
	}
	host := *cfg.Host
	if !strings.HasSuffix(host.Path, "/") {
		host.Path += "/"
	}
	switch host.Scheme {
	case "http", "https":
	default:
		return nil, fmt.Errorf("core client: AUTHENTIK_HOST scheme %q is not http or https", host.Scheme)
	}

	ua := UserAgent(version, cfg.BuildHash)
	base, ok := http.DefaultTransport.(*http.Transport)
	if !ok {
		return nil, errors.New("core client: http.DefaultTransport is not an *http.Transport")
	}
	tr := base.Clone()
	// Every bind or authentication is several requests to the one core,
	// many at once: with net/http's default of 2 idle connections per host,
	// most of them would dial a new connection and close it again.
	tr.MaxIdleConnsPerHost = tr.MaxIdleConns
	if cfg.Insecure {
		// The operator asked for it with AUTHENTIK_INSECURE, as authentik's
		// outposts allow for cores with self-signed certificates.
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // opt-in via AUTHENTIK_INSECURE
	}
	transport := &userAgentTransport{next: tr, userAgent: ua}
	httpClient := &http.Client{Transport: transport}

	apiCfg := api.NewConfiguration()
	apiCfg.Scheme = host.Scheme
	apiCfg.Host = host.Host
	apiCfg.Servers = api.ServerConfigurations{{URL: host.Path + "api/v3"}}
	apiCfg.HTTPClient = httpClient
	apiCfg.UserAgent = ua
	apiCfg.AddDefaultHeader("Authorization", "Bearer "+cfg.Token)

	return &Client{
		API:        api.NewAPIClient(apiCfg),
		HTTPClient: httpClient,
		Transport:  transport,
		Host:       &host,
		Token:      cfg.Token,
		UserAgent:  ua,
		Insecure:   cfg.Insecure,
		Backoff:    backoff.Default(),
		Logger:     zerolog.Nop(),
	}, nil
}

// userAgentTransport sets the outpost User-Agent on requests that have
// none, so plain requests made with HTTPClient identify themselves too.
type userAgentTransport struct {
	next      http.RoundTripper
	userAgent string
}

func (t *userAgentTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Header.Get("User-Agent") != "" {
		return t.next.RoundTrip(r)
	}
	r = r.Clone(r.Context())
	r.Header.Set("User-Agent", t.userAgent)
	return t.next.RoundTrip(r)
}

// Instance returns the outpost this token belongs to: the first result of
// GET /outposts/instances/. It returns ErrNoOutpost when there is none.
func (c *Client) Instance(ctx context.Context) (*api.Outpost, error) {
	list, resp, err := c.API.OutpostsAPI.OutpostsInstancesList(ctx).Execute()
	if err != nil {
		return nil, fmt.Errorf("fetch outpost instance: %w", describe(err, resp))
	}
	if len(list.Results) == 0 {
		return nil, ErrNoOutpost
	}
	o := list.Results[0]
	return &o, nil
}

// RootConfig returns GET /root/config/.
func (c *Client) RootConfig(ctx context.Context) (*api.Config, error) {
	rc, resp, err := c.API.RootAPI.RootConfigRetrieve(ctx).Execute()
	if err != nil {
		return nil, fmt.Errorf("fetch root config: %w", describe(err, resp))
	}
	return rc, nil
}

// StatusError is a response from the core with an unexpected status code.
type StatusError struct {
	StatusCode int
	Err        error
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("status %d: %v", e.StatusCode, e.Err)
}

func (e *StatusError) Unwrap() error { return e.Err }

// describe adds the HTTP status to a generated-client error, whose message
// alone ("403 Forbidden" or a decode error) does not always say it, and
// closes nothing: the generated client has already read the body.
func describe(err error, resp *http.Response) error {
	if resp == nil || resp.StatusCode < 300 {
		return err
	}
	return &StatusError{StatusCode: resp.StatusCode, Err: err}
}
