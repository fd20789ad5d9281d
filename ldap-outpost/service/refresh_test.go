package service

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/outpost-go/outposts/authclient/backoff"
	"github.com/outpost-go/outposts/authclient/cache"
	"github.com/outpost-go/outposts/authclient/devcore/devcoretest"
	"github.com/outpost-go/outposts/authclient/outpost/outposttest"
)

// TestUnchangedRefreshKeepsEntries: an incremental refresh that finds no
// change keeps the snapshot's entries instead of building a second copy of
// the directory, and does not share it again.
func TestUnchangedRefreshKeepsEntries(t *testing.T) {
	t.Parallel()
	coreSrv := devcoretest.Start(t, devcoretest.WithBlueprint("cached.yaml", cachedBlueprint))
	shared := cache.NewMemory(0)
	svc, _, _ := newService(t, coreSrv, shared)
	refresh(t, svc)
	p := current(t, svc)
	first := p.snap.Load()
	require.NotNil(t, first)
	ann := first.UserByName("ann")
	require.NotNil(t, ann)
	manifest, ok := sharedCacheValue(t, svc, p)
	require.True(t, ok)

	refresh(t, svc)
	p = current(t, svc)
	next := p.snap.Load()
	require.NotSame(t, first, next)
	assert.Same(t, ann, next.UserByName("ann"), "the entries are kept")
	assert.False(t, next.Built.Before(first.Built))
	again, ok := sharedCacheValue(t, svc, p)
	require.True(t, ok)
	assert.Equal(t, manifest, again, "nothing new to share")

	t.Log("a full read keeps the unchanged users the snapshot holds")
	users := next.Users
	p.refreshes.Store(fullSyncEvery - 1)
	refresh(t, svc)
	full := current(t, svc).snap.Load()
	require.NotSame(t, next, full)
	require.Len(t, full.Users, len(users))
	for pk, u := range users {
		assert.Same(t, u, full.Users[pk], u.Username)
	}
}

// current is the provider "outer" as of the last refresh (a refresh
// replaces the provider objects).
func current(t *testing.T, svc *Service) *provider {
	t.Helper()
	for _, p := range *svc.providers.Load() {
		if p.cfg.Name == "outer" {
			return p
		}
	}
	require.FailNow(t, "no provider outer")
	return nil
}

func sharedCacheValue(t *testing.T, svc *Service, p *provider) (string, bool) {
	t.Helper()
	v, ok := svc.sharedCache(p).Get(t.Context(), "snapshot")
	return string(v), ok
}

// TestPagesProgressDeadline: a read may take longer than the page timeout
// as a whole while each page arrives within it; a core that stops sending
// pages fails the read.
func TestPagesProgressDeadline(t *testing.T) {
	t.Parallel()
	const last = 8
	tests := []struct {
		name    string
		stallAt int32 // 0: never
		wantErr bool
	}{
		{name: "slow but progressing", stallAt: 0},
		{name: "stalled", stallAt: 3, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := directoryClient{backoff: backoff.Policy{Base: time.Millisecond, Max: 5 * time.Millisecond}, pageTimeout: time.Second}
			got, err := pages(t.Context(), d, func(ctx context.Context, page int32) ([]int32, int32, error) {
				if page == tt.stallAt {
					<-ctx.Done()
					return nil, 0, ctx.Err()
				}
				// Together the pages take about twice the page timeout.
				select {
				case <-time.After(250 * time.Millisecond):
				case <-ctx.Done():
					return nil, 0, ctx.Err()
				}
				next := page + 1
				if page == last {
					next = 0
				}
				return []int32{page}, next, nil
			})
			if tt.wantErr {
				require.ErrorIs(t, err, errStalled)
				return
			}
			require.NoError(t, err)
			assert.Len(t, got, last)
		})
	}
}

// TestFirstSnapshotLoading: a cached provider whose first snapshot is not in
// yet answers searches busy and is not ready, instead of reading the whole
// directory from the core for each search; a search waiting for the
// snapshot is answered from it once it arrives.
func TestFirstSnapshotLoading(t *testing.T) {
	t.Parallel()
	coreSrv := devcoretest.Start(t, devcoretest.WithBlueprint("cached.yaml", cachedBlueprint))
	ctx := t.Context()
	const outer = "dc=example,dc=com"

	// A cancelled refresh leaves the providers served without a snapshot.
	failedRefresh := func(t *testing.T, svc *Service) {
		t.Helper()
		providers, err := svc.opts.Client.LDAPProviders(ctx)
		require.NoError(t, err)
		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		require.NoError(t, svc.Refresh(cancelled, providers))
		require.Nil(t, current(t, svc).snap.Load())
	}

	t.Run("busy", func(t *testing.T) {
		t.Parallel()
		svc, addr, _ := newServiceAt(t, coreSrv.URL, cache.NewMemory(0), func(o *Options) { o.FirstLoadWait = -1 })
		failedRefresh(t, svc)
		require.Error(t, svc.Ready(ctx))
		c := dialAddr(t, addr)
		require.NoError(t, c.Bind("cn=ann,ou=users,"+outer, "ann-password"))
		_, err := c.Search(goldap.NewSearchRequest(outer, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases, 0, 0, false, "(cn=ann)", nil, nil))
		require.True(t, goldap.IsErrorWithCode(err, goldap.LDAPResultBusy), "%v", err)

		refresh(t, svc)
		require.NoError(t, svc.Ready(ctx))
		assert.NotEmpty(t, search(t, c, outer, "(cn=ann)"))
	})

	t.Run("waits", func(t *testing.T) {
		t.Parallel()
		svc, addr, _ := newServiceAt(t, coreSrv.URL, cache.NewMemory(0), func(o *Options) { o.FirstLoadWait = time.Minute })
		failedRefresh(t, svc)
		c := dialAddr(t, addr)
		require.NoError(t, c.Bind("cn=ann,ou=users,"+outer, "ann-password"))
		done := make(chan *goldap.SearchResult, 1)
		errc := make(chan error, 1)
		go func() {
			res, err := c.Search(goldap.NewSearchRequest(outer, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases, 0, 0, false, "(cn=ann)", nil, nil))
			errc <- err
			done <- res
		}()
		// Refresh only once the search is in flight, so it is the wait that
		// is tested. The refresh replaces the provider objects: the waiting
		// search must still see the snapshot.
		require.Eventually(t, func() bool { return testutil.ToFloat64(svc.metrics.InFlight) >= 1 },
			outposttest.Wait, outposttest.Tick, "the search never started")
		refresh(t, svc)
		require.NoError(t, <-errc)
		assert.NotEmpty(t, (<-done).Entries)
	})
}

// TestFlowWarmUp: with cache_timeout_flows set, the bind flow of a
// bind-mode-direct provider is fetched periodically with authentik's
// warm-up query; cached-bind providers are left alone.
func TestFlowWarmUp(t *testing.T) {
	t.Parallel()
	// outer binds directly, inner keeps bind mode cached.
	bp := strings.Replace(cachedBlueprint, "bind_mode: cached", "bind_mode: direct", 1)
	coreSrv := devcoretest.Start(t, devcoretest.WithBlueprint("cached.yaml", bp))
	target, err := url.Parse(coreSrv.URL)
	require.NoError(t, err)
	var mu sync.Mutex
	var warmUps []string
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/flows/executor/") &&
			strings.Contains(r.URL.Query().Get("query"), "ldap-warmup") {
			mu.Lock()
			warmUps = append(warmUps, r.URL.Path+"?"+r.URL.Query().Get("query"))
			mu.Unlock()
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)

	svc, _, _ := newServiceAt(t, front.URL, cache.NewMemory(0), func(o *Options) { o.FlowWarmUp = 20 * time.Millisecond })
	refresh(t, svc)
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(warmUps) >= 2
	}, 30*time.Second, 10*time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	for _, w := range warmUps {
		assert.Equal(t, "/api/v3/flows/executor/default-authentication-flow/?"+warmUpQuery, w, "one flow, authentik's query")
	}
}
