package service

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/outpost-go/outposts/authclient/cache"
	"github.com/outpost-go/outposts/authclient/devcore/devcoretest"
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
