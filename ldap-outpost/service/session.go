package service

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/outpost-go/outposts/authclient/credcache"
	"github.com/outpost-go/outposts/authclient/flow"
	"github.com/outpost-go/outposts/ldap-outpost/directory"
	"github.com/outpost-go/outposts/ldap-outpost/ldap/dn"
	"github.com/outpost-go/outposts/ldap-outpost/ldap/filter"
	"github.com/outpost-go/outposts/ldap-outpost/ldap/message"
	"github.com/outpost-go/outposts/ldap-outpost/ldap/server"
)

// maxCursors bounds the paged searches one connection may keep open.
const maxCursors = 16

// errRateLimited ends a flow before the password is sent to the core.
var errRateLimited = errors.New("too many failed binds")

// binding is who a connection is bound as. It belongs to the connection,
// never to the DN: two connections bound as the same user are independent
// (authentik keys this by DN, so one connection's unbind logs out others).
type binding struct {
	p         *provider
	userDN    string // normalized
	username  string
	canSearch bool
	flow      *flow.Session // nil when the bind came from the cache
}

type cursor struct {
	key     string
	entries []*directory.Entry
	pos     int
}

type session struct {
	svc  *Service
	info *server.ConnInfo
	log  zerolog.Logger

	// pending are successful direct binds still being stored in the bind
	// cache.
	pending sync.WaitGroup

	mu      sync.Mutex
	bound   *binding
	cursors map[string]*cursor
	order   []string
}

func (s *session) binding() *binding {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bound
}

func (s *session) observe(op, app string, start time.Time) {
	s.svc.metrics.Requests.WithLabelValues(s.svc.opts.OutpostName(), op, app).Observe(time.Since(start).Seconds())
}

func (s *session) reject(op, reason, app string) {
	s.svc.metrics.Rejected.WithLabelValues(s.svc.opts.OutpostName(), op, reason, app).Inc()
}

// Bind implements server.Session.
func (s *session) Bind(ctx context.Context, req *message.Request) message.Result {
	start := time.Now()
	b := req.Bind
	s.mu.Lock()
	s.bound = nil
	s.cursors, s.order = nil, nil
	s.mu.Unlock()

	if b.Version != 3 {
		return message.Result{Code: message.ProtocolError, Diagnostic: "only LDAPv3 is supported"}
	}
	if !b.Simple {
		s.reject("bind", ReasonUnsupported, "")
		return message.Result{Code: message.AuthMethodNotSupported, Diagnostic: fmt.Sprintf("SASL mechanism %q is not supported; use a simple bind", b.Mechanism)}
	}
	if b.Name == "" && b.Password == "" {
		// Anonymous: allowed, but it only reaches the rootDSE and schema.
		return message.Result{Code: message.Success}
	}
	if b.Password == "" {
		// RFC 4513 §5.1.2: an unauthenticated bind must not look like a
		// successful one.
		s.reject("bind", ReasonInvalidCredentials, "")
		return message.Result{Code: message.UnwillingToPerform, Diagnostic: "unauthenticated bind (DN with an empty password) is not allowed"}
	}
	d, err := dn.Parse(b.Name)
	if err != nil {
		s.reject("bind", ReasonInvalidBindDN, "")
		return message.Result{Code: message.InvalidDNSyntax, Diagnostic: err.Error()}
	}
	p := s.svc.route(func(p *provider) bool { return d.Within(p.base) })
	if p == nil {
		s.reject("bind", ReasonNoProvider, "")
		return message.Result{Code: message.InvalidCredentials, Diagnostic: "no LDAP provider serves this DN"}
	}
	defer s.observe("bind", p.app, start)
	username, ok := userRDN(d, p)
	if !ok {
		// Strict: exactly cn=<user>,ou=users,<base> (authentik takes the
		// first cn anywhere, goauthentik/authentik#25394).
		s.reject("bind", ReasonInvalidBindDN, p.app)
		return message.Result{Code: message.InvalidCredentials, Diagnostic: "bind DN must be cn=<username>,ou=users," + p.norm}
	}
	userDN := d.Normalize()
	ip := clientIP(s.info.RemoteAddr)
	scope := p.scope()
	log := s.log.With().Str("bindDN", userDN).Str("app", p.app).Logger()

	user := strings.ToLower(username)
	// The limiter may have to ask the shared cache: let it do so while the
	// core prepares the flow's first challenge, but wait for its answer
	// before the cache is consulted or the password is sent.
	allowed := make(chan bool, 1)
	go func() { allowed <- s.svc.limiter.Allow(ctx, scope, user, ip) }()
	allow := sync.OnceValue(func() bool { return <-allowed })
	refused := func() message.Result {
		s.reject("bind", ReasonRateLimited, p.app)
		log.Info().Msg("bind refused: too many failed attempts")
		return message.Result{Code: message.InvalidCredentials, Diagnostic: "too many failed binds; try again later"}
	}

	// Never from or into the cache for a provider with mfa_support: a
	// password-only success would outlive the user enrolling an
	// authenticator, which changes nothing a cached entry is checked
	// against (docs/decisions/0007).
	cacheable := !p.mfa()
	switch {
	case p.cachedBind() && cacheable:
		if !allow() {
			return refused()
		}
		if res, ok := s.fromCache(ctx, p, username, userDN, b.Password, false); ok {
			s.svc.metrics.BindCache.WithLabelValues("hit").Inc()
			log.Debug().Msg("bind answered from the bind cache")
			return res
		}
		s.svc.metrics.BindCache.WithLabelValues("miss").Inc()
	case p.cachedBind():
		s.svc.metrics.BindCache.WithLabelValues("bypass").Inc()
	}

	fs, err := s.svc.executor.Authenticate(ctx, flow.Request{
		Flow: p.cfg.BindFlowSlug, Query: flowQuery, Username: username, Password: b.Password,
		ClientIP: ip, MFASupport: p.mfa(),
		BeforeAnswer: func(context.Context) error {
			if !allow() {
				return errRateLimited
			}
			return nil
		},
	})
	if err != nil {
		if !allow() {
			return refused()
		}
		return s.bindFailed(ctx, p, username, userDN, b.Password, ip, err, log)
	}
	// The password is proven: clear the user's failures while the core
	// checks access and names the user, all at once.
	var wg sync.WaitGroup
	var me flow.User
	var meErr error
	wg.Go(func() { s.svc.limiter.Reset(ctx, scope, user) })
	wg.Go(func() { me, meErr = fs.User(ctx) })
	hasSearch, err := fs.CheckLDAPAccess(ctx, p.cfg.Pk, p.cfg.ApplicationSlug)
	wg.Wait()
	if err == nil && meErr != nil {
		err = meErr
		var f *flow.Failure
		if !errors.As(err, &f) {
			err = &flow.Failure{Reason: flow.ReasonUserInfoFail, Message: "fetch the bound user", Err: err}
		}
	}
	if err != nil {
		return s.bindFailed(ctx, p, username, userDN, b.Password, ip, err, log)
	}
	if cacheable {
		if p.cachedBind() {
			s.remember(ctx, p, user, b.Password, me, hasSearch, fs, log)
		} else {
			// Direct binds keep the entry only for outages, when nothing
			// checks it at once: store it after answering. A later failed
			// bind on this connection waits for it before invalidating.
			ctx := context.WithoutCancel(ctx)
			s.pending.Go(func() { s.remember(ctx, p, user, b.Password, me, hasSearch, fs, log) })
		}
	}
	s.mu.Lock()
	s.bound = &binding{p: p, userDN: userDN, username: username, canSearch: hasSearch, flow: fs}
	s.mu.Unlock()
	log.Info().Bool("canSearch", hasSearch).Msg("bind succeeded")
	return message.Result{Code: message.Success}
}

// remember stores a bind the flow accepted in the bind cache, with what
// later cached binds are checked against.
func (s *session) remember(ctx context.Context, p *provider, user, password string, me flow.User, hasSearch bool, fs *flow.Session, log zerolog.Logger) {
	entry := credcache.Entry{UserPK: me.PK, IsActive: me.IsActive, SessionID: fs.ID(), Data: []byte{boolByte(hasSearch)}}
	if snap := p.snap.Load(); snap != nil {
		if u := snap.Users[me.PK]; u != nil {
			entry.PasswordChangeDate = u.PasswordChangeDate
		}
	} else if p.cachedBind() {
		// No snapshot (search mode direct): remember the user as the core
		// reports them, which is what later cached binds are checked against.
		// The flow just succeeded, so ask the core afresh.
		s.svc.users.forget(me.PK)
		if u, err := s.svc.users.get(ctx, me.PK); err == nil {
			entry.PasswordChangeDate, entry.IsActive = u.passwordChangeDate, u.active
		} else {
			log.Debug().Err(err).Msg("fetch the bound user for the bind cache")
		}
	}
	s.svc.binds.Store(ctx, p.scope(), user, password, entry)
}

// fromCache answers a bind from the shared bind cache. Unless the core is
// down (outage), the cached success must still agree with the user as the
// directory snapshot knows them (active, same password_change_date), or,
// without a snapshot (search mode direct), as the core reports them.
func (s *session) fromCache(ctx context.Context, p *provider, username, userDN, password string, outage bool) (message.Result, bool) {
	e, ok := s.svc.binds.Check(ctx, p.scope(), strings.ToLower(username), password)
	if !ok {
		return message.Result{}, false
	}
	if !outage {
		var cur credcache.User
		var name string
		if snap := p.snap.Load(); snap != nil {
			if u := snap.Users[e.UserPK]; u != nil {
				cur, name = credcache.User{PK: u.PK, PasswordChangeDate: u.PasswordChangeDate, IsActive: u.Active}, u.Username
			}
		} else {
			u, err := s.svc.users.get(ctx, e.UserPK)
			switch {
			case errors.Is(err, errUserGone):
			case err != nil:
				// The core cannot say: let the flow decide, which falls
				// back to this entry if the core is really down.
				return message.Result{}, false
			default:
				cur, name = credcache.User{PK: e.UserPK, PasswordChangeDate: u.passwordChangeDate, IsActive: u.active}, u.username
			}
		}
		if name == "" || !strings.EqualFold(name, username) || !e.Valid(cur) {
			s.svc.binds.Invalidate(ctx, p.scope(), strings.ToLower(username))
			return message.Result{}, false
		}
	}
	s.mu.Lock()
	s.bound = &binding{p: p, userDN: userDN, username: username, canSearch: len(e.Data) > 0 && e.Data[0] == 1}
	s.mu.Unlock()
	return message.Result{Code: message.Success}, true
}

func boolByte(b bool) byte {
	if b {
		return 1
	}
	return 0
}

func (s *session) bindFailed(ctx context.Context, p *provider, username, userDN, password, ip string, err error, log zerolog.Logger) message.Result {
	reason := flow.ReasonOf(err)
	if flow.IsUnavailable(err) {
		// The core cannot answer: a success cached earlier still counts,
		// nothing else gets in.
		// Not with mfa_support, even from an entry stored before the
		// provider enabled it.
		if !p.mfa() {
			if res, ok := s.fromCache(ctx, p, username, userDN, password, true); ok {
				s.svc.metrics.BindCache.WithLabelValues("fallback").Inc()
				log.Warn().Err(err).Msg("core unavailable; bind answered from the bind cache")
				return res
			}
		}
		s.reject("bind", ReasonCoreUnavailable, p.app)
		log.Warn().Err(err).Msg("core unavailable; bind refused")
		return message.Result{Code: message.Unavailable, Diagnostic: "authentik is unavailable"}
	}
	log.Info().Str("reason", string(reason)).Err(err).Msg("bind failed")
	switch reason {
	case flow.ReasonAccessDenied:
		s.reject("bind", ReasonAccessDenied, p.app)
		return message.Result{Code: message.InsufficientAccessRights, Diagnostic: "access denied by the application's policies"}
	case flow.ReasonAccessCheckFail:
		s.reject("bind", ReasonAccessCheckFail, p.app)
		return message.Result{Code: message.OperationsError, Diagnostic: "the access check failed"}
	case flow.ReasonUserInfoFail:
		s.reject("bind", ReasonUserInfoFail, p.app)
		return message.Result{Code: message.OperationsError, Diagnostic: "fetching the user failed"}
	case flow.ReasonFlowError:
		s.reject("bind", ReasonFlowError, p.app)
	default:
		s.reject("bind", ReasonInvalidCredentials, p.app)
	}
	s.svc.limiter.Fail(ctx, p.scope(), strings.ToLower(username), ip)
	// A success this connection is still storing must not outlive this.
	s.pending.Wait()
	s.svc.binds.Invalidate(ctx, p.scope(), strings.ToLower(username))
	return message.Result{Code: message.InvalidCredentials, Diagnostic: "invalid credentials"}
}

// userRDN returns the username of a DN that is exactly
// cn=<username>,ou=users,<base>.
func userRDN(d dn.DN, p *provider) (string, bool) {
	if len(d) != len(p.base)+2 || len(d[0]) != 1 || len(d[1]) != 1 {
		return "", false
	}
	if !strings.EqualFold(d[0][0].Type, "cn") || !strings.EqualFold(d[1][0].Type, "ou") || !strings.EqualFold(d[1][0].Value, "users") {
		return "", false
	}
	if d[0][0].Value == "" {
		return "", false
	}
	return d[0][0].Value, true
}

// Unbind implements server.Session: the provider's unbind flow ends the
// core session, as authentik does.
func (s *session) Unbind(ctx context.Context) {
	b := s.binding()
	if b == nil || b.flow == nil {
		return
	}
	start := time.Now()
	defer s.observe("unbind", b.p.app, start)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := b.flow.Logout(ctx, b.p.unbindFlow()); err != nil {
		s.log.Debug().Err(err).Msg("unbind flow failed")
	}
}

// Close implements server.Session.
func (s *session) Close() {
	s.mu.Lock()
	s.bound, s.cursors, s.order = nil, nil, nil
	s.mu.Unlock()
}

// snapshot returns the directory of p (the provider as of the latest
// refresh, which may be a newer object than the one bound) to answer from:
// the cached snapshot (errLoading while there is none yet), or a fresh one
// from the core in direct mode (for a user without the search permission,
// only their own user is fetched).
func (s *session) snapshot(ctx context.Context, p *provider, b *binding) (*directory.Snapshot, error) {
	if p.cachedSearch() {
		return s.svc.firstSnapshot(ctx, p)
	}
	username := ""
	if !b.canSearch {
		username = b.username
	}
	return s.svc.dir.fetch(ctx, p.dirCfg, username)
}

// loadingResult tells a client to retry once the first snapshot is in.
var loadingResult = message.Result{Code: message.Busy, Diagnostic: "the directory is still being loaded from authentik; retry later"}

// current is the bound provider as of the latest refresh, nil when it is
// gone.
func (s *session) current(b *binding) *provider {
	for _, p := range *s.svc.providers.Load() {
		if p.cfg.Pk == b.p.cfg.Pk {
			return p
		}
	}
	return nil
}

// Search implements server.Session.
func (s *session) Search(ctx context.Context, req *message.Request, w *server.SearchWriter) message.Result {
	start := time.Now()
	sr := req.Search
	f, err := filter.FromBER(sr.Filter)
	if err != nil {
		s.reject("search", ReasonFilterParseFail, "")
		return message.Result{Code: message.ProtocolError, Diagnostic: err.Error()}
	}
	base, err := dn.Normalize(sr.BaseDN)
	if err != nil {
		return message.Result{Code: message.InvalidDNSyntax, Diagnostic: err.Error()}
	}
	// The rootDSE and the schema are public.
	if base == "" && sr.Scope == message.ScopeBase {
		return s.single(w, req, f, directory.RootDSE(s.namingContexts(), "authentik LDAP outpost (Go) "+s.svc.opts.Version))
	}
	if base == directory.SubschemaDN && sr.Scope == message.ScopeBase {
		return s.single(w, req, f, directory.Subschema())
	}
	b := s.binding()
	if b == nil {
		s.reject("search", ReasonEmptyBindDN, "")
		return message.Result{Code: message.InsufficientAccessRights, Diagnostic: "bind first: anonymous clients may only read the rootDSE and the schema"}
	}
	baseDN, _ := dn.Parse(base)
	p := s.svc.route(func(p *provider) bool { return baseDN.Within(p.base) })
	if p == nil {
		return message.Result{Code: message.NoSuchObject, Diagnostic: "no LDAP provider serves this base DN"}
	}
	defer s.observe("search", p.app, start)
	if p.cfg.Pk != b.p.cfg.Pk {
		s.reject("search", ReasonInvalidBindDN, p.app)
		return message.Result{Code: message.InsufficientAccessRights, Diagnostic: "bound to a different provider"}
	}

	limit := DefaultTimeLimit
	if sr.TimeLimit > 0 && time.Duration(sr.TimeLimit)*time.Second < limit {
		limit = time.Duration(sr.TimeLimit) * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()

	var paging *message.PagedResults
	if c := req.Control(message.ControlPagedResults); c != nil {
		pr, err := message.DecodePagedResults(c.Value)
		if err != nil {
			return message.Result{Code: message.ProtocolError, Diagnostic: err.Error()}
		}
		paging = &pr
	}
	for _, c := range req.Controls {
		if c.Critical && c.OID != message.ControlPagedResults && c.OID != message.ControlManageDsaIT {
			return message.Result{Code: message.UnavailableCriticalExt, Diagnostic: "critical control " + c.OID + " is not supported"}
		}
	}
	if paging != nil && len(paging.Cookie) > 0 {
		return s.nextPage(w, req, f, base, paging)
	}

	snap, err := s.snapshot(ctx, p, b)
	if errors.Is(err, errLoading) {
		return loadingResult
	}
	if err != nil {
		s.reject("search", ReasonUserInfoNotCached, p.app)
		return message.Result{Code: message.OperationsError, Diagnostic: "reading the directory failed"}
	}
	view := directory.View{Full: b.canSearch, UserDN: b.userDN}
	sizeLimit := int(sr.SizeLimit)
	searchLimit := sizeLimit
	if paging != nil {
		searchLimit = 0
	}
	entries, err := snap.Search(ctx, base, sr.Scope, f, view, searchLimit)
	if err != nil {
		var nso *directory.NoSuchObjectError
		switch {
		case errors.As(err, &nso):
			return message.Result{Code: message.NoSuchObject, MatchedDN: nso.MatchedDN}
		case errors.Is(err, context.DeadlineExceeded):
			return message.Result{Code: message.TimeLimitExceeded, Diagnostic: "time limit exceeded"}
		default:
			return message.Result{Code: message.OperationsError, Diagnostic: err.Error()}
		}
	}
	if paging != nil {
		if paging.Size == 0 {
			return message.Result{Code: message.Success, Controls: []message.ResponseControl{pagedControl(nil)}}
		}
		return s.page(w, req, &cursor{key: pageKey(req, f, base), entries: entries}, int(paging.Size))
	}
	code := message.Success
	diag := ""
	if sizeLimit > 0 && len(entries) > sizeLimit {
		entries = entries[:sizeLimit]
		code, diag = message.SizeLimitExceeded, fmt.Sprintf("more than %d entries match", sizeLimit)
	}
	for _, e := range entries {
		if err := w.Entry(e.DN, directory.Select(e, sr.Attributes)); err != nil {
			return message.Result{Code: message.Other, Diagnostic: "abandoned"}
		}
	}
	return message.Result{Code: code, Diagnostic: diag}
}

func (s *session) single(w *server.SearchWriter, req *message.Request, f *filter.Filter, e *directory.Entry) message.Result {
	if (filter.Matcher{}).Match(f, e) {
		_ = w.Entry(e.DN, directory.Select(e, req.Search.Attributes))
	}
	return message.Result{Code: message.Success}
}

func (s *session) namingContexts() []string {
	var out []string
	for _, p := range *s.svc.providers.Load() {
		out = append(out, p.norm)
	}
	return out
}

// pageKey identifies a search, so a cookie only continues the search that
// created it (RFC 2696: the other parameters must not change).
func pageKey(req *message.Request, f *filter.Filter, base string) string {
	sr := req.Search
	return fmt.Sprintf("%s|%d|%s|%v|%t", base, sr.Scope, f.String(), sr.Attributes, sr.TypesOnly)
}

func pagedControl(cookie []byte) message.ResponseControl {
	return message.ResponseControl{OID: message.ControlPagedResults, Value: message.PagedResultsValue(0, cookie)}
}

// page sends the next size entries of c, and stores c under a fresh cookie
// when entries remain. Cookies live in the connection's own state: another
// connection cannot use them.
func (s *session) page(w *server.SearchWriter, req *message.Request, c *cursor, size int) message.Result {
	end := min(c.pos+size, len(c.entries))
	for _, e := range c.entries[c.pos:end] {
		if err := w.Entry(e.DN, directory.Select(e, req.Search.Attributes)); err != nil {
			return message.Result{Code: message.Other, Diagnostic: "abandoned"}
		}
	}
	c.pos = end
	var cookie []byte
	if c.pos < len(c.entries) {
		var raw [16]byte
		_, _ = rand.Read(raw[:])
		cookie = []byte(hex.EncodeToString(raw[:]))
		s.mu.Lock()
		if s.cursors == nil {
			s.cursors = map[string]*cursor{}
		}
		s.cursors[string(cookie)] = c
		s.order = append(s.order, string(cookie))
		for len(s.order) > maxCursors {
			delete(s.cursors, s.order[0])
			s.order = s.order[1:]
		}
		s.mu.Unlock()
	}
	return message.Result{Code: message.Success, Controls: []message.ResponseControl{pagedControl(cookie)}}
}

func (s *session) nextPage(w *server.SearchWriter, req *message.Request, f *filter.Filter, base string, pr *message.PagedResults) message.Result {
	s.mu.Lock()
	c := s.cursors[string(pr.Cookie)]
	if c != nil {
		delete(s.cursors, string(pr.Cookie))
		for i, k := range s.order {
			if k == string(pr.Cookie) {
				s.order = append(s.order[:i], s.order[i+1:]...)
				break
			}
		}
	}
	s.mu.Unlock()
	if c == nil || !bytes.Equal([]byte(c.key), []byte(pageKey(req, f, base))) {
		return message.Result{Code: message.UnwillingToPerform, Diagnostic: "unknown or expired paged results cookie"}
	}
	if pr.Size == 0 {
		// The client abandons the paged search (RFC 2696 §3).
		return message.Result{Code: message.Success, Controls: []message.ResponseControl{pagedControl(nil)}}
	}
	return s.page(w, req, c, int(pr.Size))
}

// Compare implements server.Session.
func (s *session) Compare(ctx context.Context, req *message.Request) message.Result {
	cr := req.Compare
	b := s.binding()
	if b == nil {
		return message.Result{Code: message.InsufficientAccessRights, Diagnostic: "bind first"}
	}
	target, err := dn.Normalize(cr.DN)
	if err != nil {
		return message.Result{Code: message.InvalidDNSyntax, Diagnostic: err.Error()}
	}
	p := s.current(b)
	if p == nil {
		return message.Result{Code: message.NoSuchObject, Diagnostic: "the provider is gone"}
	}
	snap, err := s.snapshot(ctx, p, b)
	if errors.Is(err, errLoading) {
		return loadingResult
	}
	if err != nil {
		return message.Result{Code: message.OperationsError, Diagnostic: "reading the directory failed"}
	}
	entries, err := snap.Search(ctx, target, message.ScopeBase, &filter.Filter{Kind: filter.Present, Attr: "objectClass"}, directory.View{Full: b.canSearch, UserDN: b.userDN}, 0)
	if err != nil || len(entries) == 0 {
		var nso *directory.NoSuchObjectError
		if errors.As(err, &nso) {
			return message.Result{Code: message.NoSuchObject, MatchedDN: nso.MatchedDN}
		}
		return message.Result{Code: message.NoSuchObject}
	}
	e := entries[0]
	attr := strings.ToLower(cr.Attr)
	if i := strings.IndexByte(attr, ';'); i >= 0 {
		attr = attr[:i]
	}
	if len(e.Values(attr)) == 0 {
		return message.Result{Code: message.NoSuchAttribute, Diagnostic: "the entry has no " + cr.Attr}
	}
	switch (filter.Matcher{Schema: snap}).Eval(&filter.Filter{Kind: filter.Equal, Attr: attr, Value: cr.Value}, e) {
	case filter.True:
		return message.Result{Code: message.CompareTrue}
	case filter.False:
		return message.Result{Code: message.CompareFalse}
	}
	return message.Result{Code: message.CompareFalse, Diagnostic: "the value cannot be compared"}
}

// Extended implements server.Session.
func (s *session) Extended(_ context.Context, req *message.Request) message.Result {
	switch req.Extended.OID {
	case message.OIDWhoAmI:
		// RFC 4532: "dn:<bound DN>", or empty for an anonymous session.
		authz := ""
		if b := s.binding(); b != nil {
			authz = "dn:" + b.userDN
		}
		return message.Result{Code: message.Success, ResponseValue: []byte(authz), HasValue: true}
	case message.OIDPasswordModify:
		return message.Result{Code: message.UnwillingToPerform, ResponseName: req.Extended.OID,
			Diagnostic: "password changes go through authentik's flows, not LDAP"}
	}
	return message.Result{Code: message.ProtocolError, Diagnostic: "extended operation " + req.Extended.OID + " is not supported"}
}
