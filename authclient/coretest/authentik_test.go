package coretest_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	api "goauthentik.io/api/v3"

	"github.com/outpost-go/outposts/authclient/coretest"
)

// Environment of TestAuthentik. AUTHENTIK_HOST, AUTHENTIK_TOKEN and
// AUTHENTIK_INSECURE mean what they mean to an outpost.
const (
	envHost     = "AUTHENTIK_HOST"
	envToken    = "AUTHENTIK_TOKEN"    // an outpost's API token; its type is looked up
	envInsecure = "AUTHENTIK_INSECURE" // "true" skips TLS verification
	envPrefix   = "AUTHENTIK_CONFORMANCE_"
)

// TestAuthentik runs the suite against a real authentik. It needs:
//
//	AUTHENTIK_HOST, AUTHENTIK_TOKEN (an outpost's token)
//	AUTHENTIK_CONFORMANCE_USER, AUTHENTIK_CONFORMANCE_PASSWORD
//
// and optionally AUTHENTIK_CONFORMANCE_{LDAP,RADIUS,PROXY,RAC}_TOKEN for more
// outposts, AUTHENTIK_CONFORMANCE_MFA_{USER,PASSWORD,TOTP_KEY} (hex key),
// AUTHENTIK_CONFORMANCE_DENIED_{USER,PASSWORD} (a user the applications'
// policies deny) and AUTHENTIK_CONFORMANCE_{LDAP,RADIUS,PROXY}_PROVIDER.
func TestAuthentik(t *testing.T) {
	host, token := os.Getenv(envHost), os.Getenv(envToken)
	if host == "" || token == "" {
		t.Skipf("no real authentik configured: set %s and %s (an outpost token), plus %sUSER and %sPASSWORD, "+
			"to run the conformance suite against one. CI cannot run a real authentik, so this skip is expected there.",
			envHost, envToken, envPrefix, envPrefix)
	}
	var rt http.RoundTripper
	if strings.EqualFold(os.Getenv(envInsecure), "true") {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // opted into by AUTHENTIK_INSECURE, as outposts do
		rt = tr
	}
	target := coretest.Target{
		URL:            host,
		Tokens:         map[string]string{},
		User:           coretest.Credentials{Username: os.Getenv(envPrefix + "USER"), Password: os.Getenv(envPrefix + "PASSWORD")},
		LDAPProvider:   os.Getenv(envPrefix + "LDAP_PROVIDER"),
		RadiusProvider: os.Getenv(envPrefix + "RADIUS_PROVIDER"),
		ProxyProvider:  os.Getenv(envPrefix + "PROXY_PROVIDER"),
		Transport:      rt,
	}
	typ, err := outpostType(host, token, rt)
	require.NoError(t, err, "look up the outpost of %s", envToken)
	target.Tokens[typ] = token
	for _, ty := range []string{coretest.TypeLDAP, coretest.TypeRadius, coretest.TypeProxy, coretest.TypeRAC} {
		if v := os.Getenv(envPrefix + strings.ToUpper(ty) + "_TOKEN"); v != "" {
			target.Tokens[ty] = v
		}
	}
	if u := os.Getenv(envPrefix + "MFA_USER"); u != "" {
		target.MFAUser = &coretest.Credentials{Username: u, Password: os.Getenv(envPrefix + "MFA_PASSWORD"), TOTPKey: os.Getenv(envPrefix + "MFA_TOTP_KEY")}
	}
	if u := os.Getenv(envPrefix + "DENIED_USER"); u != "" {
		target.DeniedUser = &coretest.Credentials{Username: u, Password: os.Getenv(envPrefix + "DENIED_PASSWORD")}
	}
	coretest.Run(t, target)
}

// outpostType asks the core which outpost a token belongs to, the same
// first call an outpost makes.
func outpostType(host, token string, rt http.RoundTripper) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	u := strings.TrimSuffix(host, "/") + "/api/v3/outposts/instances/"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := (&http.Client{Transport: rt}).Do(req)
	if err != nil {
		return "", fmt.Errorf("GET %s: %w", u, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: status %d", u, res.StatusCode)
	}
	var list api.PaginatedOutpostList
	if err := json.NewDecoder(res.Body).Decode(&list); err != nil {
		return "", fmt.Errorf("GET %s: decode: %w", u, err)
	}
	if len(list.Results) == 0 {
		return "", fmt.Errorf("GET %s: the token sees no outpost", u)
	}
	return string(list.Results[0].Type), nil
}
