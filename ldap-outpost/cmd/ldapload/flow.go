package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"strings"
)

// flowClient sends the core requests of one direct-mode bind, in the order
// and with the headers the outpost uses (authclient/flow), but with plain
// net/http and small JSON structs: what it measures is the core's share of
// a bind, which the outpost can only add to.
type flowClient struct {
	core, token string
	executor    string // flow executor URL, with the outpost query
	access      string // check_access URL
	me          string
	tr          http.RoundTripper
}

// newFlowClient finds the LDAP provider serving base among the outpost's
// providers and prepares its requests. flowSlug overrides its bind flow.
func newFlowClient(core, token, base, flowSlug string) (*flowClient, error) {
	if !strings.HasSuffix(core, "/") {
		core += "/"
	}
	// The outpost's transport settings (authclient/core.New).
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = tr.MaxIdleConns
	c := &flowClient{core: core, token: token, tr: tr}
	req, err := http.NewRequest(http.MethodGet, core+"api/v3/outposts/ldap/?page_size=100", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	var list struct {
		Results []struct {
			Pk              int32  `json:"pk"`
			BaseDN          string `json:"base_dn"`
			ApplicationSlug string `json:"application_slug"`
			BindFlowSlug    string `json:"bind_flow_slug"`
		} `json:"results"`
	}
	if err := c.send(&http.Client{Transport: tr}, req, &list); err != nil {
		return nil, fmt.Errorf("list ldap providers: %w", err)
	}
	for _, p := range list.Results {
		if !strings.EqualFold(p.BaseDN, base) {
			continue
		}
		if flowSlug == "" {
			flowSlug = p.BindFlowSlug
		}
		c.executor = core + "api/v3/flows/executor/" + url.PathEscape(flowSlug) + "/?query=" + url.QueryEscape("goauthentik.io/outpost/ldap=true")
		c.access = core + "api/v3/outposts/ldap/" + strconv.Itoa(int(p.Pk)) + "/check_access/?app_slug=" + url.QueryEscape(p.ApplicationSlug)
		c.me = core + "api/v3/core/users/me/"
		return c, nil
	}
	return nil, fmt.Errorf("no ldap provider with base DN %q", base)
}

type challenge struct {
	Component      string                       `json:"component"`
	ResponseErrors map[string][]json.RawMessage `json:"response_errors"`
}

// login runs the bind flow for one user with a fresh session, then checks
// access and fetches the user concurrently, as the outpost does.
func (c *flowClient) login(ctx context.Context, username, password string) error {
	jar, err := cookiejar.New(nil)
	if err != nil {
		return err
	}
	hc := &http.Client{Transport: c.tr, Jar: jar}
	var ch challenge
	err = c.call(ctx, hc, http.MethodGet, c.executor, nil, &ch)
	for step := 0; ch.Component != "xak-flow-redirect"; step++ {
		if err != nil {
			return err
		}
		if len(ch.ResponseErrors) > 0 || step == 10 {
			return fmt.Errorf("flow failed at %s", ch.Component)
		}
		var body map[string]any
		switch ch.Component {
		case "ak-stage-identification":
			body = map[string]any{"component": ch.Component, "uid_field": username, "password": password}
		case "ak-stage-password":
			body = map[string]any{"component": ch.Component, "password": password}
		case "ak-stage-user-login":
			body = map[string]any{"component": ch.Component, "remember_me": true}
		default:
			return fmt.Errorf("unsupported stage %q", ch.Component)
		}
		ch = challenge{}
		err = c.call(ctx, hc, http.MethodPost, c.executor, body, &ch)
	}
	if err != nil {
		return err
	}
	var me struct {
		User struct {
			Pk int32 `json:"pk"`
		} `json:"user"`
	}
	meErr := make(chan error, 1)
	go func() { meErr <- c.call(ctx, hc, http.MethodGet, c.me, nil, &me) }()
	var access struct {
		Access struct {
			Passing bool `json:"passing"`
		} `json:"access"`
		HasSearchPermission bool `json:"has_search_permission"`
	}
	err = c.call(ctx, hc, http.MethodGet, c.access, nil, &access)
	err = errors.Join(err, <-meErr)
	switch {
	case err != nil:
		return err
	case !access.Access.Passing:
		return errors.New("access denied")
	case me.User.Pk == 0:
		return errors.New("no user")
	}
	return nil
}

func (c *flowClient) call(ctx context.Context, hc *http.Client, method, u string, body any, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	req.Header.Set("X-authentik-outpost-token", c.token)
	req.Header.Set("X-authentik-remote-ip", "127.0.0.1")
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return c.send(hc, req, out)
}

func (c *flowClient) send(hc *http.Client, req *http.Request, out any) error {
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body)
		return fmt.Errorf("%s %s: %s", req.Method, req.URL.Path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
