package service

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"goauthentik.io/api/v3"

	"github.com/outpost-go/outposts/authclient/backoff"
	"github.com/outpost-go/outposts/authclient/cache"
	"github.com/outpost-go/outposts/authclient/core"
	"github.com/outpost-go/outposts/ldap-outpost/directory"
	"github.com/outpost-go/outposts/ldap-outpost/ldap/dn"
)

// Defaults from authentik's LDAP provider model.
const (
	defaultUIDStart = 2000
	defaultGIDStart = 4000
	// fullSyncEvery: every n-th refresh of a cached directory re-reads every
	// user (catching deleted users, which last_updated__gt cannot see);
	// the others fetch only users changed since the snapshot.
	fullSyncEvery = 10
	// sharedTTL is how long a snapshot shared through the cache lives.
	sharedTTL = 24 * time.Hour
	// chunkSize keeps each shared value small, so no single cache write
	// comes near the cache's per-call timeout.
	chunkSize = 256 << 10
)

// DefaultPageTimeout bounds the wait for the next page of a directory
// read, retries included. A read has no overall deadline: a full read of
// 100k users is 1000 pages of the core's user list and may take minutes on
// a busy core, and a read cut short keeps nothing of what it read. Only a
// core that stops delivering pages fails it.
const DefaultPageTimeout = time.Minute

// errStalled is the cause of a read cancelled for want of progress.
var errStalled = errors.New("no page from the core within the page timeout")

// provider is one LDAP provider, as of the last refresh.
type provider struct {
	cfg    api.LDAPOutpostConfig
	base   dn.DN
	norm   string // normalized base DN
	dirCfg directory.Config
	app    string

	// Cached search mode: the current snapshot.
	snap      atomic.Pointer[directory.Snapshot]
	refreshes atomic.Int64
	mu        sync.Mutex // one refresh at a time
	// loaded fires once snap is set, for searches waiting on the first
	// snapshot; a provider replaced before that passes it on.
	loaded *signal
}

// signal is a channel closed once.
type signal struct {
	ch   chan struct{}
	once sync.Once
}

func newSignal() *signal { return &signal{ch: make(chan struct{})} }

func (s *signal) fire() { s.once.Do(func() { close(s.ch) }) }

func newProvider(cfg api.LDAPOutpostConfig) (*provider, error) {
	baseStr := cfg.GetBaseDn()
	base, err := dn.Parse(baseStr)
	if err != nil {
		return nil, fmt.Errorf("provider %s: base DN %q: %w", cfg.Name, baseStr, err)
	}
	p := &provider{cfg: cfg, base: base, norm: base.Normalize(), app: cfg.ApplicationSlug, loaded: newSignal()}
	p.dirCfg = directory.Config{BaseDN: baseStr, UIDStart: defaultUIDStart, GIDStart: defaultGIDStart}
	if cfg.UidStartNumber != nil {
		p.dirCfg.UIDStart = *cfg.UidStartNumber
	}
	if cfg.GidStartNumber != nil {
		p.dirCfg.GIDStart = *cfg.GidStartNumber
	}
	return p, nil
}

// setSnapshot replaces the snapshot and wakes the searches waiting for the
// first one.
func (p *provider) setSnapshot(s *directory.Snapshot) {
	p.snap.Store(s)
	p.loaded.fire()
}

func (p *provider) cachedSearch() bool {
	return p.cfg.SearchMode != nil && *p.cfg.SearchMode == api.LDAPAPIACCESSMODE_CACHED
}

func (p *provider) cachedBind() bool {
	return p.cfg.BindMode != nil && *p.cfg.BindMode == api.LDAPAPIACCESSMODE_CACHED
}

func (p *provider) mfa() bool { return p.cfg.MfaSupport != nil && *p.cfg.MfaSupport }

func (p *provider) scope() string { return strconv.Itoa(int(p.cfg.Pk)) }

func (p *provider) unbindFlow() string {
	if v := p.cfg.UnbindFlowSlug.Get(); v != nil {
		return *v
	}
	return ""
}

// directoryClient reads users and groups from the core.
type directoryClient struct {
	c       *core.Client
	backoff backoff.Policy
	// pageTimeout is DefaultPageTimeout when 0.
	pageTimeout time.Duration
}

// pages is core.Pages failing when no page arrives within the page timeout
// (retries of a failing page count against it), however long the whole
// list takes.
func pages[T any](ctx context.Context, d directoryClient, fetch core.PageFunc[T]) ([]T, error) {
	limit := d.pageTimeout
	if limit <= 0 {
		limit = DefaultPageTimeout
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	watchdog := time.AfterFunc(limit, func() { cancel(fmt.Errorf("%w (%s)", errStalled, limit)) })
	defer watchdog.Stop()
	items, err := core.Pages(ctx, d.backoff, func(ctx context.Context, page int32) ([]T, int32, error) {
		items, next, err := fetch(ctx, page)
		if err == nil {
			watchdog.Reset(limit)
		}
		return items, next, err
	})
	if err != nil {
		if cause := context.Cause(ctx); errors.Is(cause, errStalled) {
			return nil, fmt.Errorf("%w: %w", cause, err)
		}
		return nil, err
	}
	return items, nil
}

// users lists users; since non-zero lists only those updated after it;
// username non-empty lists only that user. Each page is cut down to what the
// directory keeps as it arrives (the API's user objects are several times
// larger), with group pks shared through pks (from directory.GroupPKs), and
// a user that known (the current snapshot's users, may be nil) holds
// unchanged is taken from there, so a full read does not hold a second copy
// of the directory's users.
func (d directoryClient) users(ctx context.Context, since time.Time, username string, pks map[string]string, known map[int32]*directory.User) ([]*directory.User, error) {
	return pages(ctx, d, func(ctx context.Context, page int32) ([]*directory.User, int32, error) {
		req := d.c.API.CoreAPI.CoreUsersList(ctx).Page(page).PageSize(core.PageSize).IncludeGroups(false).Ordering("pk")
		if !since.IsZero() {
			req = req.LastUpdatedGt(since)
		}
		if username != "" {
			req = req.Username(username)
		}
		res, _, err := req.Execute()
		if err != nil {
			return nil, 0, fmt.Errorf("list users: %w", err)
		}
		out := make([]*directory.User, 0, len(res.Results))
		for i := range res.Results {
			u := directory.UserFromAPI(res.Results[i])
			if k := known[u.PK]; k != nil && k.Same(&u) {
				out = append(out, k)
				continue
			}
			u.ShareGroupPKs(pks)
			out = append(out, &u)
		}
		return out, int32(res.Pagination.Next), nil
	})
}

func (d directoryClient) groups(ctx context.Context) ([]directory.Group, error) {
	return pages(ctx, d, func(ctx context.Context, page int32) ([]directory.Group, int32, error) {
		res, _, err := d.c.API.CoreAPI.CoreGroupsList(ctx).Page(page).PageSize(core.PageSize).
			IncludeUsers(false).IncludeChildren(false).IncludeParents(false).Ordering("name").Execute()
		if err != nil {
			return nil, 0, fmt.Errorf("list groups: %w", err)
		}
		out := make([]directory.Group, 0, len(res.Results))
		for _, g := range res.Results {
			out = append(out, directory.GroupFromAPI(g))
		}
		return out, int32(res.Pagination.Next), nil
	})
}

// fetch builds a fresh snapshot from the core (search mode direct, or a
// full refresh). username restricts the users to one.
func (d directoryClient) fetch(ctx context.Context, cfg directory.Config, username string) (*directory.Snapshot, error) {
	return d.fetchKnown(ctx, cfg, username, nil)
}

// fetchKnown is fetch keeping the users of known (the current snapshot's,
// nil: none) that have not changed.
func (d directoryClient) fetchKnown(ctx context.Context, cfg directory.Config, username string, known map[int32]*directory.User) (*directory.Snapshot, error) {
	groups, err := d.groups(ctx)
	if err != nil {
		return nil, err
	}
	us, err := d.users(ctx, time.Time{}, username, directory.GroupPKs(groups), known)
	if err != nil {
		return nil, err
	}
	users := make(map[int32]*directory.User, len(us))
	for _, u := range us {
		users[u.PK] = u
	}
	return directory.Build(cfg, users, groups, time.Now())
}

// refresh updates a cached provider's snapshot: a full read the first time
// and every fullSyncEvery-th time, otherwise only users changed since the
// snapshot (groups are always read whole: they have no last_updated).
func (p *provider) refresh(ctx context.Context, d directoryClient, shared cache.Cache, log zerolog.Logger, m *Metrics) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	old := p.snap.Load()
	n := p.refreshes.Add(1)
	var next *directory.Snapshot
	var err error
	changed := true
	if old == nil || n%fullSyncEvery == 0 {
		var known map[int32]*directory.User
		if old != nil {
			known = old.Users
		}
		next, err = d.fetchKnown(ctx, p.dirCfg, "", known)
	} else {
		next, changed, err = p.incremental(ctx, d, old)
	}
	if err != nil {
		return err
	}
	p.setSnapshot(next)
	m.Entries.WithLabelValues(p.app).Set(float64(next.Len()))
	m.SnapshotAge.WithLabelValues(p.app).Set(float64(next.Built.Unix()))
	log.Debug().Str("app", p.app).Int("entries", next.Len()).Bool("incremental", old != nil && n%fullSyncEvery != 0).Msg("directory refreshed")
	// An unchanged directory is shared again only by the full reads, which
	// keep the shared copy from expiring.
	if shared != nil && changed {
		p.share(ctx, shared, next)
	}
	return nil
}

// incremental reads the users changed since old and every group. changed
// is false when nothing did: the entries of old are then kept (a rebuild
// every minute would double the directory's memory for nothing while both
// are alive), stamped with the time of this check.
func (p *provider) incremental(ctx context.Context, d directoryClient, old *directory.Snapshot) (next *directory.Snapshot, changed bool, err error) {
	groups, err := d.groups(ctx)
	if err != nil {
		return nil, false, err
	}
	users, err := d.users(ctx, old.Watermark, "", directory.GroupPKs(groups), nil)
	if err != nil {
		return nil, false, err
	}
	if len(users) == 0 && reflect.DeepEqual(groups, old.Groups) {
		return old.Checked(time.Now()), false, nil
	}
	all := make(map[int32]*directory.User, len(old.Users)+len(users))
	for pk, u := range old.Users {
		all[pk] = u
	}
	for _, u := range users {
		all[u.PK] = u
	}
	next, err = directory.Build(p.dirCfg, all, groups, time.Now())
	return next, true, err
}

// sharedSnapshot is what replicas exchange: the inputs, not the entries.
type sharedSnapshot struct {
	Built  time.Time         `json:"built"`
	Users  []*directory.User `json:"users"`
	Groups []directory.Group `json:"groups"`
}

type manifest struct {
	ID     string `json:"id"`
	Chunks int    `json:"chunks"`
}

// share publishes the snapshot's inputs so a new replica starts warm. The
// data is gzipped JSON in chunks under a generation id; the manifest is
// written last, so a reader never sees half a generation.
func (p *provider) share(ctx context.Context, c cache.Cache, s *directory.Snapshot) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if err := writeShared(zw, s); err != nil {
		return
	}
	if err := zw.Close(); err != nil {
		return
	}
	data := buf.Bytes()
	id := strconv.FormatInt(s.Built.UnixNano(), 36)
	n := 0
	for off := 0; off < len(data); off += chunkSize {
		end := min(off+chunkSize, len(data))
		c.Set(ctx, "snapshot:"+id+":"+strconv.Itoa(n), data[off:end], sharedTTL)
		n++
	}
	var prev manifest
	if old, ok := c.Get(ctx, "snapshot"); !ok || json.Unmarshal(old, &prev) != nil || prev.Chunks > 1<<16 {
		prev = manifest{}
	}
	mb, _ := json.Marshal(manifest{ID: id, Chunks: n})
	c.Set(ctx, "snapshot", mb, sharedTTL)
	// The generation just replaced goes now rather than at its TTL: every
	// refresh shares one, and an in-process cache would otherwise hold a
	// day of them. A replica reading it this moment starts cold instead.
	if prev.ID != "" && prev.ID != id {
		for i := 0; i < prev.Chunks; i++ {
			c.Delete(ctx, "snapshot:"+prev.ID+":"+strconv.Itoa(i))
		}
	}
}

// writeShared writes s as a sharedSnapshot, one user at a time: encoding
// the whole value at once would hold all of its JSON in memory.
func writeShared(w io.Writer, s *directory.Snapshot) error {
	built, err := json.Marshal(s.Built)
	if err != nil {
		return err
	}
	groups, err := json.Marshal(s.Groups)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(w, `{"built":%s,"groups":%s,"users":[`, built, groups); err != nil {
		return err
	}
	enc := json.NewEncoder(w)
	sep := false
	for _, u := range s.Users {
		if sep {
			if _, err := io.WriteString(w, ","); err != nil {
				return err
			}
		}
		sep = true
		if err := enc.Encode(u); err != nil {
			return err
		}
	}
	_, err = io.WriteString(w, "]}\n")
	return err
}

// loadShared builds a snapshot from what another replica shared, or nil.
func (p *provider) loadShared(ctx context.Context, c cache.Cache) *directory.Snapshot {
	mb, ok := c.Get(ctx, "snapshot")
	if !ok {
		return nil
	}
	var m manifest
	if json.Unmarshal(mb, &m) != nil || m.Chunks <= 0 || m.Chunks > 1<<16 {
		return nil
	}
	var data []byte
	for i := 0; i < m.Chunks; i++ {
		chunk, ok := c.Get(ctx, "snapshot:"+m.ID+":"+strconv.Itoa(i))
		if !ok {
			return nil
		}
		data = append(data, chunk...)
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil
	}
	var ss sharedSnapshot
	if json.NewDecoder(zr).Decode(&ss) != nil {
		return nil
	}
	pks := directory.GroupPKs(ss.Groups)
	users := make(map[int32]*directory.User, len(ss.Users))
	for _, u := range ss.Users {
		if u != nil {
			u.ShareGroupPKs(pks)
			users[u.PK] = u
		}
	}
	s, err := directory.Build(p.dirCfg, users, ss.Groups, ss.Built)
	if err != nil {
		return nil
	}
	return s
}
