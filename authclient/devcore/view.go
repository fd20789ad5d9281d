package devcore

import (
	"fmt"
	"slices"
	"sort"

	"github.com/outpost-go/outposts/authclient/devcore/model"
)

// view is a Directory with the indexes the handlers need. Like the
// Directory it is immutable once built; a reload swaps in a new one.
type view struct {
	dir *model.Directory

	userByPK       map[int32]*model.User
	groupByPK      map[string]*model.Group
	groupByName    map[string]*model.Group
	children       map[string][]string // group pk -> child group pks
	members        map[string][]int32  // group pk -> direct member pks
	userGroups     map[int32][]string  // user pk -> direct group pks
	flowByPK       map[string]*model.Flow
	flowBySlug     map[string]*model.Flow
	stageByPK      map[string]*model.Stage
	appBySlug      map[string]*model.Application
	appByPK        map[string]*model.Application
	outpostByPK    map[string]*model.Outpost
	outpostByName  map[string]*model.Outpost
	outpostByToken map[string]*model.Outpost
	tokenOf        map[string]string // outpost pk -> token
	apiTokens      map[string]*model.User
	ldapByPK       map[int32]*model.LDAPProvider
	radiusByPK     map[int32]*model.RadiusProvider
	proxyByPK      map[int32]*model.ProxyProvider
	racByPK        map[int32]*model.RACProvider
	certByPK       map[string]*model.Certificate

	lists listCache // filtered and ordered list results, by query
}

func (s *Server) buildView(d *model.Directory) (*view, error) {
	v := &view{
		dir:            d,
		userByPK:       map[int32]*model.User{},
		groupByPK:      map[string]*model.Group{},
		groupByName:    map[string]*model.Group{},
		children:       map[string][]string{},
		members:        map[string][]int32{},
		userGroups:     map[int32][]string{},
		flowByPK:       map[string]*model.Flow{},
		flowBySlug:     map[string]*model.Flow{},
		stageByPK:      map[string]*model.Stage{},
		appBySlug:      map[string]*model.Application{},
		appByPK:        map[string]*model.Application{},
		outpostByPK:    map[string]*model.Outpost{},
		outpostByName:  map[string]*model.Outpost{},
		outpostByToken: map[string]*model.Outpost{},
		tokenOf:        map[string]string{},
		apiTokens:      map[string]*model.User{},
		ldapByPK:       map[int32]*model.LDAPProvider{},
		radiusByPK:     map[int32]*model.RadiusProvider{},
		proxyByPK:      map[int32]*model.ProxyProvider{},
		racByPK:        map[int32]*model.RACProvider{},
		certByPK:       map[string]*model.Certificate{},
	}
	for _, u := range d.Users {
		v.userByPK[u.PK] = u
	}
	for _, g := range d.Groups {
		v.groupByPK[g.PK] = g
		v.groupByName[g.Name] = g
	}
	for _, g := range d.Groups {
		for _, p := range g.Parents {
			v.children[p] = append(v.children[p], g.PK)
		}
	}
	for _, kids := range v.children {
		sort.Strings(kids)
	}
	// Membership may be declared on either side; index the union.
	memberSet := map[string]map[int32]bool{}
	addMember := func(g string, u int32) {
		if _, ok := v.groupByPK[g]; !ok {
			return
		}
		if _, ok := v.userByPK[u]; !ok {
			return
		}
		if memberSet[g] == nil {
			memberSet[g] = map[int32]bool{}
		}
		memberSet[g][u] = true
	}
	for _, g := range d.Groups {
		for _, u := range g.Users {
			addMember(g.PK, u)
		}
	}
	for _, u := range d.Users {
		for _, g := range u.Groups {
			addMember(g, u.PK)
		}
	}
	for g, set := range memberSet {
		for u := range set {
			v.members[g] = append(v.members[g], u)
			v.userGroups[u] = append(v.userGroups[u], g)
		}
	}
	for g := range v.members {
		slices.Sort(v.members[g])
	}
	for u := range v.userGroups {
		slices.Sort(v.userGroups[u])
	}
	for _, f := range d.Flows {
		v.flowByPK[f.PK] = f
		v.flowBySlug[f.Slug] = f
	}
	for _, st := range d.Stages {
		v.stageByPK[st.PK] = st
	}
	for _, a := range d.Applications {
		v.appBySlug[a.Slug] = a
		v.appByPK[a.PK] = a
	}
	for _, p := range d.LDAPProviders {
		v.ldapByPK[p.PK] = p
	}
	for _, p := range d.RadiusProviders {
		v.radiusByPK[p.PK] = p
	}
	for _, p := range d.ProxyProviders {
		v.proxyByPK[p.PK] = p
	}
	for _, p := range d.RACProviders {
		v.racByPK[p.PK] = p
	}
	for _, c := range d.Certificates {
		v.certByPK[c.PK] = c
	}
	for _, t := range d.Tokens {
		if t.Intent != "api" || t.Key == "" {
			continue
		}
		if t.Expiring && !t.Expires.IsZero() && t.Expires.Before(s.cfg.Now()) {
			continue
		}
		if u, ok := v.userByPK[t.User]; ok {
			v.apiTokens[t.Key] = u
		}
	}
	for _, o := range d.Outposts {
		v.outpostByPK[o.PK] = o
		v.outpostByName[o.Name] = o
		tok := o.Token
		if tok == "" {
			var generated bool
			var err error
			tok, generated, err = s.tokens.tokenFor(o.Name)
			if err != nil {
				return nil, fmt.Errorf("token for outpost %s: %w", o.Name, err)
			}
			if generated {
				s.log.Info().Str("outpost", o.Name).Msg("generated outpost token; see the state directory's tokens.json")
			}
		}
		if other, dup := v.outpostByToken[tok]; dup {
			return nil, fmt.Errorf("outposts %s and %s share one token", other.Name, o.Name)
		}
		v.outpostByToken[tok] = o
		v.tokenOf[o.PK] = tok
	}
	return v, nil
}

// effectiveGroups is the set of groups u belongs to, directly or through
// the parents of its groups (authentik's membership is inherited upwards).
func (v *view) effectiveGroups(u *model.User) map[string]bool {
	out := map[string]bool{}
	var walk func(pk string)
	walk = func(pk string) {
		if out[pk] {
			return
		}
		out[pk] = true
		if g, ok := v.groupByPK[pk]; ok {
			for _, p := range g.Parents {
				walk(p)
			}
		}
	}
	for _, pk := range v.userGroups[u.PK] {
		walk(pk)
	}
	return out
}

// isSuperuser reports whether u is a superuser directly or through a group.
func (v *view) isSuperuser(u *model.User) bool {
	if u.IsSuperuser {
		return true
	}
	for pk := range v.effectiveGroups(u) {
		if g, ok := v.groupByPK[pk]; ok && g.IsSuperuser {
			return true
		}
	}
	return false
}

// hasSearchPermission is LDAP's search_full_directory permission: superusers
// and members of groups carrying the search attribute.
func (v *view) hasSearchPermission(u *model.User) bool {
	if v.isSuperuser(u) {
		return true
	}
	for pk := range v.effectiveGroups(u) {
		g, ok := v.groupByPK[pk]
		if !ok {
			continue
		}
		if b, ok := g.Attributes["goauthentik.io/ldap/search-full-directory"].(bool); ok && b {
			return true
		}
	}
	return false
}

// providerOwned reports whether outpost o serves provider pk.
func providerOwned(o *model.Outpost, pk int32) bool {
	for _, p := range o.Providers {
		if p == pk {
			return true
		}
	}
	return false
}

// appForProvider finds the application of provider pk, preferring one that
// uses it as a backchannel provider (as authentik's LDAP API does).
func (v *view) appForProvider(pk int32, preferBackchannel bool) *model.Application {
	var main, back *model.Application
	for _, a := range v.dir.Applications {
		if a.Provider == pk && main == nil {
			main = a
		}
		for _, b := range a.BackchannelProviders {
			if b == pk && back == nil {
				back = a
			}
		}
	}
	if preferBackchannel && back != nil {
		return back
	}
	if main != nil {
		return main
	}
	return back
}

func (v *view) flowSlug(pk string) string {
	if f, ok := v.flowByPK[pk]; ok {
		return f.Slug
	}
	return ""
}
