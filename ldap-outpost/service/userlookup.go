package service

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/outpost-go/outposts/authclient/core"
)

const (
	// defaultUserLookupTTL is how long a user fetched from the core to
	// validate a cached bind (bind mode cached, search mode direct) is
	// reused: a password change or deactivation takes at most this long to
	// void cached binds on this replica.
	defaultUserLookupTTL = 5 * time.Second
	userLookupTimeout    = 5 * time.Second
	maxUserLookups       = 10000
)

// errUserGone is a user the core no longer has.
var errUserGone = errors.New("user not found")

// coreUser is what validating a cached bind needs to know about a user.
type coreUser struct {
	username           string
	passwordChangeDate time.Time
	active             bool
}

type lookedUp struct {
	u       coreUser
	expires time.Time
}

// userLookup fetches single users from the core (GET core/users/{pk}/ with
// the outpost token) and keeps them briefly in process, so a burst of
// cached binds costs one core call per user, not one per bind.
type userLookup struct {
	c   *core.Client
	ttl time.Duration // <= 0: no reuse

	mu    sync.Mutex
	users map[int32]lookedUp
}

func newUserLookup(c *core.Client, ttl time.Duration) *userLookup {
	return &userLookup{c: c, ttl: ttl, users: map[int32]lookedUp{}}
}

// get returns the user pk as the core knows them; errUserGone when the core
// says there is no such user, another error when it cannot answer.
func (l *userLookup) get(ctx context.Context, pk int32) (coreUser, error) {
	now := time.Now()
	if l.ttl > 0 {
		l.mu.Lock()
		v, ok := l.users[pk]
		l.mu.Unlock()
		if ok && now.Before(v.expires) {
			return v.u, nil
		}
	}
	ctx, cancel := context.WithTimeout(ctx, userLookupTimeout)
	defer cancel()
	res, resp, err := l.c.API.CoreAPI.CoreUsersRetrieve(ctx, pk).Execute()
	if err != nil {
		if resp != nil && resp.StatusCode == http.StatusNotFound {
			l.forget(pk)
			return coreUser{}, errUserGone
		}
		return coreUser{}, fmt.Errorf("fetch user %d: %w", pk, err)
	}
	u := coreUser{username: res.Username, passwordChangeDate: res.PasswordChangeDate, active: res.IsActive == nil || *res.IsActive}
	if l.ttl > 0 {
		l.mu.Lock()
		if len(l.users) >= maxUserLookups {
			// Crude but bounded: entries live seconds, so dropping them all
			// costs at most one core call per active user.
			clear(l.users)
		}
		l.users[pk] = lookedUp{u: u, expires: now.Add(l.ttl)}
		l.mu.Unlock()
	}
	return u, nil
}

// forget drops pk, so the next get asks the core.
func (l *userLookup) forget(pk int32) {
	l.mu.Lock()
	delete(l.users, pk)
	l.mu.Unlock()
}
