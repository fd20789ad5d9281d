package core

import (
	"context"
	"fmt"
	"net/http"

	"github.com/rs/zerolog"
	"goauthentik.io/api/v3"

	"github.com/outpost-go/outposts/authclient/backoff"
)

// PageSize is the page size of every list the outposts page through.
const PageSize = 100

// maxPages stops a core whose pagination.next never reaches 0 (or points
// back at a page already read) from keeping an outpost in the loop forever.
const maxPages = 10000

// PageFunc fetches one page of a list. It returns the page's items and the
// number of the next page, 0 when this was the last one.
type PageFunc[T any] func(ctx context.Context, page int32) (items []T, next int32, err error)

// Pages reads every page of a list, starting at page 1 and following next
// until it is 0. A page that fails is retried with p's capped, jittered
// backoff until it succeeds, ctx is done, or fetch returns an error wrapped
// by backoff.Permanent; authentik's outposts retry a failing page without
// waiting, which this deliberately does not copy.
func Pages[T any](ctx context.Context, p backoff.Policy, fetch PageFunc[T]) ([]T, error) {
	return pages(ctx, p, zerolog.Nop(), "list", fetch)
}

func pages[T any](ctx context.Context, p backoff.Policy, log zerolog.Logger, what string, fetch PageFunc[T]) ([]T, error) {
	var all []T
	seen := map[int32]bool{}
	for page := int32(1); page != 0; {
		if seen[page] || len(seen) >= maxPages {
			return nil, fmt.Errorf("%s: pagination loops back to page %d", what, page)
		}
		seen[page] = true

		var (
			items []T
			next  int32
		)
		attempt := 0
		err := backoff.Retry(ctx, p, func(ctx context.Context) error {
			var err error
			items, next, err = fetch(ctx, page)
			if err != nil && ctx.Err() == nil {
				log.Warn().Err(err).Str("list", what).Int32("page", page).Int("attempt", attempt).
					Msg("fetching page failed, retrying")
			}
			attempt++
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("%s page %d: %w", what, page, err)
		}
		all = append(all, items...)
		if next < 0 {
			return nil, fmt.Errorf("%s page %d: negative next page %d", what, page, next)
		}
		page = next
	}
	return all, nil
}

// nextPage converts the float pagination.next of the generated client.
func nextPage(p api.Pagination) int32 {
	return int32(p.Next)
}

// LDAPProviders returns every LDAP provider the outpost serves
// (GET /outposts/ldap/, all pages).
func (c *Client) LDAPProviders(ctx context.Context) ([]api.LDAPOutpostConfig, error) {
	list, err := pages(ctx, c.Backoff, c.Logger, "ldap providers",
		func(ctx context.Context, page int32) ([]api.LDAPOutpostConfig, int32, error) {
			res, resp, err := c.API.OutpostsAPI.OutpostsLdapList(ctx).Page(page).PageSize(PageSize).Execute()
			if err != nil {
				return nil, 0, classify(err, resp)
			}
			return res.Results, nextPage(res.Pagination), nil
		})
	if err != nil {
		return nil, fmt.Errorf("fetch ldap providers: %w", err)
	}
	return list, nil
}

// RadiusProviders returns every RADIUS provider the outpost serves
// (GET /outposts/radius/, all pages).
func (c *Client) RadiusProviders(ctx context.Context) ([]api.RadiusOutpostConfig, error) {
	list, err := pages(ctx, c.Backoff, c.Logger, "radius providers",
		func(ctx context.Context, page int32) ([]api.RadiusOutpostConfig, int32, error) {
			res, resp, err := c.API.OutpostsAPI.OutpostsRadiusList(ctx).Page(page).PageSize(PageSize).Execute()
			if err != nil {
				return nil, 0, classify(err, resp)
			}
			return res.Results, nextPage(res.Pagination), nil
		})
	if err != nil {
		return nil, fmt.Errorf("fetch radius providers: %w", err)
	}
	return list, nil
}

// ProxyProviders returns every proxy provider the outpost serves
// (GET /outposts/proxy/, all pages).
func (c *Client) ProxyProviders(ctx context.Context) ([]api.ProxyOutpostConfig, error) {
	list, err := pages(ctx, c.Backoff, c.Logger, "proxy providers",
		func(ctx context.Context, page int32) ([]api.ProxyOutpostConfig, int32, error) {
			res, resp, err := c.API.OutpostsAPI.OutpostsProxyList(ctx).Page(page).PageSize(PageSize).Execute()
			if err != nil {
				return nil, 0, classify(err, resp)
			}
			return res.Results, nextPage(res.Pagination), nil
		})
	if err != nil {
		return nil, fmt.Errorf("fetch proxy providers: %w", err)
	}
	return list, nil
}

// classify decides whether a failed page is worth retrying. An answer that
// says the token may not do this (401, 403) or that the endpoint is not
// there (404) will not change by asking again soon; everything else
// (network errors, 5xx, 429, a body the client cannot decode while the core
// is mid-upgrade) is retried.
func classify(err error, resp *http.Response) error {
	err = describe(err, resp)
	if resp != nil {
		switch resp.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound:
			return backoff.Permanent(err)
		}
	}
	return err
}
