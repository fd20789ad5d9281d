package radiusd

import (
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"

	"goauthentik.io/api/v3"

	"github.com/outpost-go/outposts/radius-outpost/clients"
)

// Provider is one RADIUS provider as the server uses it.
type Provider struct {
	PK       int32
	Name     string
	AppSlug  string
	FlowSlug string
	Secret   []byte
	MFA      bool
	// RequireMA is false only for providers named in
	// Options.AllowMissingMessageAuthenticator.
	RequireMA bool
	Networks  clients.Networks

	macs    *hmacPool // HMAC-MD5 keyed with Secret
	metrics atomic.Pointer[providerMetrics]
}

// scope keys the credential cache and the limiter per provider.
func (p *Provider) scope() string { return strconv.Itoa(int(p.PK)) }

// providerSet is an immutable snapshot of the providers and their client
// table, swapped atomically on refresh.
type providerSet struct {
	providers []*Provider
	table     *clients.Table
}

// buildProviders converts the core's list. A provider that cannot be used
// (no secret, unparseable client_networks) is left out and reported; the
// others still serve.
func buildProviders(list []api.RadiusOutpostConfig, allowMissingMA map[string]bool) (*providerSet, error) {
	set := &providerSet{}
	var errs []error
	var nets []clients.Networks
	for _, c := range list {
		secret := c.GetSharedSecret()
		if secret == "" {
			errs = append(errs, fmt.Errorf("radius provider %q: no shared secret", c.Name))
			continue
		}
		networks := "0.0.0.0/0, ::/0" // authentik's model default
		if v, ok := c.GetClientNetworksOk(); ok && v != nil {
			networks = *v
		}
		n, err := clients.ParseNetworks(networks)
		if err != nil {
			errs = append(errs, fmt.Errorf("radius provider %q: %w", c.Name, err))
			continue
		}
		set.providers = append(set.providers, &Provider{
			PK:        c.Pk,
			Name:      c.Name,
			AppSlug:   c.ApplicationSlug,
			FlowSlug:  c.AuthFlowSlug,
			Secret:    []byte(secret),
			MFA:       c.GetMfaSupport(),
			RequireMA: !allowMissingMA[c.Name],
			Networks:  n,
			macs:      newHMACPool([]byte(secret)),
		})
		nets = append(nets, n)
	}
	set.table = clients.NewTable(nets)
	return set, errors.Join(errs...)
}
