package devcore

import (
	"net/url"
	"sync"

	"github.com/outpost-go/outposts/authclient/devcore/model"
)

// maxListResults bounds how many filtered, ordered lists a view keeps.
// Clients page through one list at a time; an incremental sync adds one
// list per refresh (last_updated__gt moves), so old ones are dropped.
const maxListResults = 32

// listCache keeps the filtered and ordered result of each list query a
// view has answered, so the next page of a 100k-user list costs a slice of
// the list instead of filtering and sorting every user again (an outpost
// reading the whole directory page by page was quadratic without it). A
// view never changes, so neither does a cached list; a reload builds a new
// view with an empty cache.
type listCache struct {
	users  listMemo[*model.User]
	groups listMemo[*model.Group]
}

// listMemo is one kind of cached list, by list key.
type listMemo[T any] struct {
	mu sync.Mutex
	m  map[string][]T
}

// get returns the cached list for key, or builds it with build.
func (c *listMemo[T]) get(key string, build func() []T) []T {
	c.mu.Lock()
	l, ok := c.m[key]
	c.mu.Unlock()
	if ok {
		return l
	}
	// Built outside the lock: two concurrent first requests may both build,
	// which costs time but not correctness.
	l = build()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxListResults {
		c.m = map[string][]T{}
	}
	c.m[key] = l
	return l
}

// listKey identifies a list query regardless of the page asked for and of
// what each result includes.
func listKey(q url.Values, drop ...string) string {
	k := url.Values{}
	for name, vals := range q {
		k[name] = vals
	}
	for _, name := range append(drop, "page", "page_size") {
		delete(k, name)
	}
	return k.Encode() // sorted by name: one key per query
}
