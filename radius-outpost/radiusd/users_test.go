package radiusd

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/outpost-go/outposts/authclient/credcache"
)

// fakeUsers is a core whose users change when the test says.
type fakeUsers struct {
	mu      sync.Mutex
	users   map[int32]UserState
	allowed bool
	forbid  bool // ChangedUsers answers 403
	err     error
	sinces  []time.Time
}

func (f *fakeUsers) set(u UserState) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.users[u.PK] = u
}

func (f *fakeUsers) ChangedUsers(_ context.Context, since time.Time) ([]UserState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sinces = append(f.sinces, since)
	if f.err != nil {
		return nil, f.err
	}
	if f.forbid {
		return nil, errNoUserPermission
	}
	var out []UserState
	for _, u := range f.users {
		if u.LastUpdated.After(since) {
			out = append(out, u)
		}
	}
	return out, nil
}

func (f *fakeUsers) CanListUsers(context.Context) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.allowed, f.err
}

func TestUserWatch(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	pcd0 := t0.Add(-48 * time.Hour)
	tests := []struct {
		name   string
		change func(f *fakeUsers, now time.Time) // between store and check
		entry  func(w *userWatch, flowStart time.Time) credcache.Entry
		want   bool
	}{
		{
			name:   "unchanged user",
			change: func(*fakeUsers, time.Time) {},
			want:   true,
		},
		{
			name: "password changed",
			change: func(f *fakeUsers, now time.Time) {
				f.set(UserState{PK: 7, PasswordChangeDate: now, IsActive: true, LastUpdated: now})
			},
			want: false,
		},
		{
			name: "deactivated",
			change: func(f *fakeUsers, now time.Time) {
				f.set(UserState{PK: 7, PasswordChangeDate: pcd0, IsActive: false, LastUpdated: now})
			},
			want: false,
		},
		{
			name: "another user changed",
			change: func(f *fakeUsers, now time.Time) {
				f.set(UserState{PK: 8, PasswordChangeDate: now, IsActive: true, LastUpdated: now})
			},
			want: true,
		},
		{
			name: "other fields changed, password date already known",
			change: func(f *fakeUsers, now time.Time) {
				f.set(UserState{PK: 7, PasswordChangeDate: pcd0, IsActive: true, LastUpdated: now})
			},
			entry: func(*userWatch, time.Time) credcache.Entry {
				return credcache.Entry{UserPK: 7, IsActive: true, PasswordChangeDate: pcd0}
			},
			want: true,
		},
		{
			name: "entry without a user pk is left to the fresh window",
			change: func(f *fakeUsers, now time.Time) {
				f.set(UserState{PK: 7, PasswordChangeDate: now, IsActive: true, LastUpdated: now})
			},
			entry: func(*userWatch, time.Time) credcache.Entry { return credcache.Entry{IsActive: true} },
			want:  true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeUsers{users: map[int32]UserState{}, allowed: true}
			now := t0
			w := newUserWatch(f, time.Second, time.Hour, zerolog.Nop())
			w.now = func() time.Time { return now }
			require.NoError(t, w.poll(t.Context()))
			assert.Equal(t, t0.Add(-time.Hour-pollOverlap), f.sinces[0], "the first poll reaches back one cache lifetime")

			flowStart := now
			e := credcache.Entry{UserPK: 7, IsActive: true, PasswordChangeDate: w.passwordChangeDate(7, flowStart)}
			if tt.entry != nil {
				e = tt.entry(w, flowStart)
			}
			assert.True(t, w.valid(e), "valid when stored")

			now = now.Add(time.Second)
			tt.change(f, now)
			require.NoError(t, w.poll(t.Context()))
			assert.Equal(t, tt.want, w.valid(e))
		})
	}
}

func TestUserWatchFlowRacingAChange(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	f := &fakeUsers{users: map[int32]UserState{}, allowed: true}
	now := t0
	w := newUserWatch(f, time.Second, time.Hour, zerolog.Nop())
	w.now = func() time.Time { return now }
	require.NoError(t, w.poll(t.Context()))

	// The flow starts, the password changes and a poll sees it, then the
	// flow (which checked the old password) stores its success.
	flowStart := now
	now = now.Add(time.Second)
	f.set(UserState{PK: 7, PasswordChangeDate: now, IsActive: true, LastUpdated: now})
	require.NoError(t, w.poll(t.Context()))
	e := credcache.Entry{UserPK: 7, IsActive: true, PasswordChangeDate: w.passwordChangeDate(7, flowStart)}
	assert.False(t, w.valid(e), "a success whose flow overlapped the change is not trusted")

	// A flow started after the poll stores the date it was checked against.
	e = credcache.Entry{UserPK: 7, IsActive: true, PasswordChangeDate: w.passwordChangeDate(7, now.Add(time.Millisecond))}
	assert.True(t, w.valid(e))
}

func TestUserWatchWithoutPermission(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	changed := credcache.Entry{UserPK: 7, IsActive: true}
	tests := []struct {
		name string
		f    *fakeUsers
	}{
		{"empty user list", &fakeUsers{users: map[int32]UserState{}}},
		{"403", &fakeUsers{users: map[int32]UserState{}, allowed: true, forbid: true}},
		{"core unreachable", &fakeUsers{users: map[int32]UserState{}, err: errors.New("connection refused")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.f.set(UserState{PK: 7, PasswordChangeDate: t0, IsActive: true, LastUpdated: t0})
			w := newUserWatch(tt.f, time.Second, time.Hour, zerolog.Nop())
			w.now = func() time.Time { return t0 }
			_ = w.poll(t.Context())
			assert.True(t, w.valid(changed), "nothing is known: the fresh window decides")
		})
	}

	t.Run("granted later", func(t *testing.T) {
		t.Parallel()
		f := &fakeUsers{users: map[int32]UserState{}}
		f.set(UserState{PK: 7, PasswordChangeDate: t0, IsActive: true, LastUpdated: t0})
		w := newUserWatch(f, time.Second, time.Hour, zerolog.Nop())
		w.now = func() time.Time { return t0 }
		require.NoError(t, w.poll(t.Context()))
		f.mu.Lock()
		f.allowed = true
		f.mu.Unlock()
		for range reprobeEvery {
			require.NoError(t, w.poll(t.Context()))
		}
		assert.False(t, w.valid(changed), "asked again and followed the change")
	})
}

func TestUserWatchForgetsOldChanges(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	f := &fakeUsers{users: map[int32]UserState{}, allowed: true}
	f.set(UserState{PK: 7, PasswordChangeDate: t0, IsActive: true, LastUpdated: t0})
	now := t0
	w := newUserWatch(f, time.Second, time.Hour, zerolog.Nop())
	w.now = func() time.Time { return now }
	require.NoError(t, w.poll(t.Context()))
	require.Len(t, *w.known.Load(), 1)
	now = now.Add(2 * time.Hour)
	require.NoError(t, w.poll(t.Context()))
	assert.Empty(t, *w.known.Load(), "every entry stored before the change has expired")
}
