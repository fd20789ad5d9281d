package service

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
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
}

func newProvider(cfg api.LDAPOutpostConfig) (*provider, error) {
	baseStr := cfg.GetBaseDn()
	base, err := dn.Parse(baseStr)
	if err != nil {
		return nil, fmt.Errorf("provider %s: base DN %q: %w", cfg.Name, baseStr, err)
	}
	p := &provider{cfg: cfg, base: base, norm: base.Normalize(), app: cfg.ApplicationSlug}
	p.dirCfg = directory.Config{BaseDN: baseStr, UIDStart: defaultUIDStart, GIDStart: defaultGIDStart}
	if cfg.UidStartNumber != nil {
		p.dirCfg.UIDStart = *cfg.UidStartNumber
	}
	if cfg.GidStartNumber != nil {
		p.dirCfg.GIDStart = *cfg.GidStartNumber
	}
	return p, nil
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
}

// users lists users; since non-zero lists only those updated after it;
// username non-empty lists only that user.
func (d directoryClient) users(ctx context.Context, since time.Time, username string) ([]api.User, error) {
	return core.Pages(ctx, d.backoff, func(ctx context.Context, page int32) ([]api.User, int32, error) {
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
		return res.Results, int32(res.Pagination.Next), nil
	})
}

func (d directoryClient) groups(ctx context.Context) ([]api.Group, error) {
	return core.Pages(ctx, d.backoff, func(ctx context.Context, page int32) ([]api.Group, int32, error) {
		res, _, err := d.c.API.CoreAPI.CoreGroupsList(ctx).Page(page).PageSize(core.PageSize).
			IncludeUsers(false).IncludeChildren(false).IncludeParents(false).Ordering("name").Execute()
		if err != nil {
			return nil, 0, fmt.Errorf("list groups: %w", err)
		}
		return res.Results, int32(res.Pagination.Next), nil
	})
}

// fetch builds a fresh snapshot from the core (search mode direct, or a
// full refresh). username restricts the users to one.
func (d directoryClient) fetch(ctx context.Context, cfg directory.Config, username string) (*directory.Snapshot, error) {
	us, err := d.users(ctx, time.Time{}, username)
	if err != nil {
		return nil, err
	}
	gs, err := d.groups(ctx)
	if err != nil {
		return nil, err
	}
	users := make(map[int32]*directory.User, len(us))
	for _, u := range us {
		du := directory.UserFromAPI(u)
		users[u.Pk] = &du
	}
	groups := make([]directory.Group, 0, len(gs))
	for _, g := range gs {
		groups = append(groups, directory.GroupFromAPI(g))
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
	if old == nil || n%fullSyncEvery == 0 {
		next, err = d.fetch(ctx, p.dirCfg, "")
	} else {
		next, err = p.incremental(ctx, d, old)
	}
	if err != nil {
		return err
	}
	p.snap.Store(next)
	m.Entries.WithLabelValues(p.app).Set(float64(next.Len()))
	m.SnapshotAge.WithLabelValues(p.app).Set(float64(next.Built.Unix()))
	log.Debug().Str("app", p.app).Int("entries", next.Len()).Bool("incremental", old != nil && n%fullSyncEvery != 0).Msg("directory refreshed")
	if shared != nil {
		p.share(ctx, shared, next)
	}
	return nil
}

func (p *provider) incremental(ctx context.Context, d directoryClient, old *directory.Snapshot) (*directory.Snapshot, error) {
	changed, err := d.users(ctx, old.Watermark, "")
	if err != nil {
		return nil, err
	}
	gs, err := d.groups(ctx)
	if err != nil {
		return nil, err
	}
	users := make(map[int32]*directory.User, len(old.Users)+len(changed))
	for pk, u := range old.Users {
		users[pk] = u
	}
	for _, u := range changed {
		du := directory.UserFromAPI(u)
		users[u.Pk] = &du
	}
	groups := make([]directory.Group, 0, len(gs))
	for _, g := range gs {
		groups = append(groups, directory.GroupFromAPI(g))
	}
	return directory.Build(p.dirCfg, users, groups, time.Now())
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
	users := make([]*directory.User, 0, len(s.Users))
	for _, u := range s.Users {
		users = append(users, u)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if err := json.NewEncoder(zw).Encode(sharedSnapshot{Built: s.Built, Users: users, Groups: s.Groups}); err != nil {
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
	mb, _ := json.Marshal(manifest{ID: id, Chunks: n})
	c.Set(ctx, "snapshot", mb, sharedTTL)
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
	users := make(map[int32]*directory.User, len(ss.Users))
	for _, u := range ss.Users {
		if u != nil {
			users[u.PK] = u
		}
	}
	s, err := directory.Build(p.dirCfg, users, ss.Groups, ss.Built)
	if err != nil {
		return nil
	}
	return s
}
