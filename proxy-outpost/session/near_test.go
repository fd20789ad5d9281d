package session_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/outpost-go/outposts/authclient/cache"
	"github.com/outpost-go/outposts/proxy-outpost/session"
)

func TestNearInvalidation(t *testing.T) {
	t.Parallel()
	client, shared, prefix := sharedRedis(t, "near-test")
	ctx := t.Context()
	a, b := liveNear(t, shared, client, prefix+"inv"), liveNear(t, shared, client, prefix+"inv")

	a.Set(ctx, "k", []byte("v1"), time.Minute)
	v, ok := b.Get(ctx, "k")
	require.True(t, ok)
	assert.Equal(t, "v1", string(v))

	// b now holds a local copy; a's write must reach it.
	a.Set(ctx, "k", []byte("v2"), time.Minute)
	require.Eventually(t, func() bool {
		v, ok := b.Get(ctx, "k")
		return ok && string(v) == "v2"
	}, 10*time.Second, 5*time.Millisecond)

	a.Delete(ctx, "k")
	require.Eventually(t, func() bool {
		_, ok := b.Get(ctx, "k")
		return !ok
	}, 10*time.Second, 5*time.Millisecond)

	// b remembers that a key is absent (a user never revoked); a's first
	// write of it must reach b all the same.
	_, ok = b.Get(ctx, "absent")
	require.False(t, ok)
	a.Set(ctx, "absent", []byte("e1"), time.Minute)
	require.Eventually(t, func() bool {
		v, ok := b.Get(ctx, "absent")
		return ok && string(v) == "e1"
	}, 10*time.Second, 5*time.Millisecond)
}

func TestNearWithoutSubscriptionReadsThrough(t *testing.T) {
	t.Parallel()
	shared := cache.NewMemory(10)
	n := session.NewNear(shared, nil, session.NearOptions{})
	ctx := context.Background()
	n.Set(ctx, "k", []byte("v"), time.Minute)
	shared.Set(ctx, "k", []byte("changed"), time.Minute)
	v, ok := n.Get(ctx, "k")
	require.True(t, ok)
	assert.Equal(t, "changed", string(v), "no local copy while not subscribed")
	assert.False(t, n.Live())
}

// TestNearViewLendsGetCopies: View lends the local copy; what Get returns
// may be changed without changing the cache.
func TestNearViewLendsGetCopies(t *testing.T) {
	t.Parallel()
	client, shared, prefix := sharedRedis(t, "near-view-test")
	n := liveNear(t, shared, client, prefix+"inv")
	ctx := t.Context()
	n.Set(ctx, "k", []byte("value"), time.Minute)

	got, ok := n.Get(ctx, "k")
	require.True(t, ok)
	got[0] = 'X'
	lent, ok := n.View(ctx, "k")
	require.True(t, ok)
	assert.Equal(t, "value", string(lent))
	// Once the echo of our own write's invalidation has passed, two views
	// lend the same local copy.
	assert.Eventually(t, func() bool {
		a, aok := n.View(ctx, "k")
		b, bok := n.View(ctx, "k")
		return aok && bok && &a[0] == &b[0]
	}, 10*time.Second, 5*time.Millisecond, "the local copy is lent, not copied")
	_, ok = n.View(ctx, "absent")
	assert.False(t, ok)
}
