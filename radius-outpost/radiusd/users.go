package radiusd

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/outpost-go/outposts/authclient/backoff"
	"github.com/outpost-go/outposts/authclient/core"
	"github.com/outpost-go/outposts/authclient/credcache"
)

// DefaultUserPoll is how often the core is asked for users changed since
// the last poll.
const DefaultUserPoll = 10 * time.Second

const (
	// pollOverlap is how far back each poll reaches before the newest
	// last_updated already seen: a user saved just before that one, whose
	// transaction committed later, is still caught. Seeing a user twice
	// is harmless.
	pollOverlap = 30 * time.Second
	// reprobeEvery: without permission to list users, the permission is
	// asked for again every this many polls (an admin may grant it).
	reprobeEvery = 30
)

// errNoUserPermission means the outpost's token may not list users.
var errNoUserPermission = errors.New("the outpost's service account may not list users")

// UserState is a user as the core reports it.
type UserState struct {
	PK                 int32
	PasswordChangeDate time.Time
	IsActive           bool
	LastUpdated        time.Time
}

// UserLister asks the core about users.
type UserLister interface {
	// ChangedUsers returns the users whose last_updated is after since.
	ChangedUsers(ctx context.Context, since time.Time) ([]UserState, error)
	// CanListUsers reports whether the token sees users at all.
	CanListUsers(ctx context.Context) (bool, error)
}

// CoreUsers lists users with the outpost's token.
type CoreUsers struct {
	Client  *core.Client
	Backoff backoff.Policy
}

// ChangedUsers implements UserLister.
func (c CoreUsers) ChangedUsers(ctx context.Context, since time.Time) ([]UserState, error) {
	users, err := core.Pages(ctx, c.Backoff, func(ctx context.Context, page int32) ([]UserState, int32, error) {
		res, resp, err := c.Client.API.CoreAPI.CoreUsersList(ctx).Page(page).PageSize(core.PageSize).
			IncludeGroups(false).LastUpdatedGt(since).Ordering("pk").Execute()
		if err != nil {
			if resp != nil && resp.StatusCode == http.StatusForbidden {
				return nil, 0, errNoUserPermission
			}
			return nil, 0, fmt.Errorf("list users changed since %s: %w", since.Format(time.RFC3339), err)
		}
		out := make([]UserState, 0, len(res.Results))
		for _, u := range res.Results {
			out = append(out, UserState{PK: u.Pk, PasswordChangeDate: u.PasswordChangeDate, IsActive: u.IsActive == nil || *u.IsActive, LastUpdated: u.LastUpdated})
		}
		return out, int32(res.Pagination.Next), nil
	})
	return users, err
}

// CanListUsers implements UserLister. authentik answers a service account
// without the view_user permission with an empty list, not a 403, so an
// empty list means "no permission": a real core always has users (at least
// this outpost's own service account).
func (c CoreUsers) CanListUsers(ctx context.Context) (bool, error) {
	res, resp, err := c.Client.API.CoreAPI.CoreUsersList(ctx).PageSize(1).IncludeGroups(false).Execute()
	if err != nil {
		if resp != nil && resp.StatusCode == http.StatusForbidden {
			return false, nil
		}
		return false, fmt.Errorf("list users: %w", err)
	}
	return res.Pagination.Count > 0, nil
}

// seenUser is a user the watcher saw change.
type seenUser struct {
	u    credcache.User
	seen time.Time // local time of the poll that saw this state
}

// userWatch follows the core's user changes so that a cached success is
// dropped as soon as its user's password_change_date or is_active changes,
// as the LDAP outpost's bind cache is, instead of when the fresh window
// ends.
//
// It remembers only users changed within the credential cache's lifetime
// (the first poll reaches that far back), so any entry in the cache was
// stored either before a change it knows of or after the user's last
// change. An entry is checked only when its user is known: a user that did
// not change needs no check.
type userWatch struct {
	list     UserLister
	interval time.Duration
	horizon  time.Duration
	log      zerolog.Logger
	now      func() time.Time
	// changed is told how many users a poll saw change.
	changed func(n int)

	// known maps user pk to its last seen state; replaced, never
	// modified, so the hot path reads it without a lock.
	known atomic.Pointer[map[int32]seenUser]
	// synced is set once a poll has covered the whole horizon; until then
	// (and without permission) nothing is checked and the fresh window
	// alone applies.
	synced atomic.Bool

	mu        sync.Mutex // one poll at a time
	watermark time.Time
	polls     int
	denied    bool
}

func newUserWatch(list UserLister, interval, horizon time.Duration, log zerolog.Logger) *userWatch {
	if interval <= 0 {
		interval = DefaultUserPoll
	}
	w := &userWatch{list: list, interval: interval, horizon: horizon, log: log, now: time.Now, changed: func(int) {}}
	w.known.Store(&map[int32]seenUser{})
	return w
}

// valid reports whether e may still be used: false when the watcher saw
// its user change password or become inactive after e was stored.
func (w *userWatch) valid(e credcache.Entry) bool {
	if !w.synced.Load() || e.UserPK == 0 {
		return true
	}
	s, ok := (*w.known.Load())[e.UserPK]
	if !ok {
		return true
	}
	return e.Valid(s.u)
}

// unknownPCD is stored as the password change date of an entry whose user
// changed while its flow ran: it equals no real date, so the next state
// seen for the user voids the entry (at worst one flow too many).
var unknownPCD = time.Unix(1, 0).UTC()

// passwordChangeDate is what to store with a success for user pk whose
// flow started at flowStart: the date last seen, if it was seen before the
// flow started (so the flow checked the password against it).
func (w *userWatch) passwordChangeDate(pk int32, flowStart time.Time) time.Time {
	s, ok := (*w.known.Load())[pk]
	switch {
	case !ok:
		return time.Time{}
	case s.seen.Before(flowStart):
		return s.u.PasswordChangeDate
	default:
		return unknownPCD
	}
}

// run polls until ctx ends.
func (w *userWatch) run(ctx context.Context) {
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		if err := w.poll(ctx); err != nil && ctx.Err() == nil {
			w.log.Debug().Err(err).Msg("polling the core for changed users failed; cached successes keep their fresh window")
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// poll asks the core for the users changed since the last poll and
// records their state.
func (w *userWatch) poll(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.polls++
	if w.denied && w.polls%reprobeEvery != 0 {
		return nil
	}
	start := w.now()
	if !w.synced.Load() || w.denied {
		ok, err := w.list.CanListUsers(ctx)
		if err != nil {
			return err
		}
		if !ok {
			w.deny()
			return nil
		}
		if w.denied {
			w.log.Info().Msg("the outpost may list users now: password changes and deactivations void cached successes at once")
		}
		w.denied = false
	}
	since := w.watermark
	if since.IsZero() {
		// Whatever changed earlier is older than every cached success.
		since = start.Add(-w.horizon)
	}
	users, err := w.list.ChangedUsers(ctx, since.Add(-pollOverlap))
	if errors.Is(err, errNoUserPermission) {
		w.deny()
		return nil
	}
	if err != nil {
		return err
	}
	old := *w.known.Load()
	next := make(map[int32]seenUser, len(old)+len(users))
	for pk, s := range old {
		next[pk] = s
	}
	changed := 0
	for _, u := range users {
		if u.LastUpdated.After(w.watermark) {
			w.watermark = u.LastUpdated
		}
		cur := credcache.User{PK: u.PK, PasswordChangeDate: u.PasswordChangeDate, IsActive: u.IsActive}
		if s, ok := next[u.PK]; ok && s.u.IsActive == cur.IsActive && s.u.PasswordChangeDate.Equal(cur.PasswordChangeDate) {
			continue // seen again (overlap or another change): keep when it was first seen
		}
		next[u.PK] = seenUser{u: cur, seen: start}
		changed++
	}
	for pk, s := range next {
		// A state seen longer ago than the cache lifetime predates every
		// live entry's flow: entries stored since match it.
		if start.Sub(s.seen) > w.horizon+pollOverlap {
			delete(next, pk)
		}
	}
	if w.watermark.IsZero() {
		w.watermark = since
	}
	w.known.Store(&next)
	w.synced.Store(true)
	if changed > 0 {
		w.changed(changed)
		w.log.Debug().Int("users", changed).Msg("users changed in the core; their cached successes are checked against the change")
	}
	return nil
}

func (w *userWatch) deny() {
	if !w.denied {
		w.log.Warn().Err(errNoUserPermission).
			Msg("password changes and deactivations void cached RADIUS successes only after " + EnvCacheFresh + "; grant the outpost's service account the authentik_core.view_user permission to void them at once")
	}
	w.denied = true
	w.synced.Store(false)
}
