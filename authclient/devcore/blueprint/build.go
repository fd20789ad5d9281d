package blueprint

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/outpost-go/outposts/authclient/devcore/model"
)

// builder turns the loaded objects into a model.Directory.
type builder struct {
	l    *loader
	now  time.Time
	live map[string][]*object // by model, in creation order
	dir  *model.Directory

	users  map[*object]*model.User
	groups map[*object]*model.Group
}

func (l *loader) build() (*model.Directory, error) {
	l.cascade()
	b := &builder{
		l:      l,
		now:    l.opts.Now(),
		live:   map[string][]*object{},
		dir:    &model.Directory{},
		users:  map[*object]*model.User{},
		groups: map[*object]*model.Group{},
	}
	for _, o := range l.objects {
		if !o.removed {
			b.live[o.spec.name] = append(b.live[o.spec.name], o)
		}
	}
	steps := []func() error{
		b.checkUnique, b.checkRequired, b.buildGroups, b.buildUsers, b.buildFlows,
		b.buildPolicyBindings, b.buildDevices, b.buildCertificates, b.buildProviders,
		b.buildApplications, b.buildEndpoints, b.buildOutposts, b.buildTokens,
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err
		}
	}
	return b.dir, nil
}

// cascade removes objects whose cascading reference points at a removed
// object, as the database would on delete, until nothing changes.
func (l *loader) cascade() {
	for changed := true; changed; {
		changed = false
		for _, o := range l.objects {
			if o.removed {
				continue
			}
			for name, f := range o.spec.fields {
				if r, ok := o.fields[name].(*object); ok && f.kind == kRef && f.cascade && r.removed {
					o.removed = true
					changed = true
					break
				}
			}
		}
	}
}

// errAt reports a problem with an object at the line of one of its fields,
// or at its entry when the field was never set.
func (b *builder) errAt(o *object, fieldName, format string, args ...any) *Error {
	at := position{file: o.file, line: o.line}
	if p, ok := o.lines[fieldName]; ok && p.line > 0 {
		at = p
	}
	return &Error{File: at.file, Line: at.line, Msg: fmt.Sprintf(format, args...)}
}

func (b *builder) str(o *object, name string) string {
	s, _ := o.get(name).(string)
	return s
}

func (b *builder) boolean(o *object, name string) bool {
	v, _ := o.get(name).(bool)
	return v
}

func (b *builder) integer(o *object, name string) int64 {
	v, _ := o.get(name).(int64)
	return v
}

func (b *builder) strs(o *object, name string) []string {
	v, _ := o.get(name).([]string)
	return slices.Clone(v)
}

func (b *builder) mapping(o *object, name string) map[string]any {
	v, _ := o.get(name).(map[string]any)
	if v == nil {
		return map[string]any{}
	}
	return maps.Clone(v)
}

// ref returns a live referenced object or nil; a reference to a removed
// object reads as null (on_delete=SET_NULL).
func (b *builder) ref(o *object, name string) *object {
	r, _ := o.get(name).(*object)
	if r == nil || r.removed {
		return nil
	}
	return r
}

// refs returns the live objects of a list reference, without duplicates.
func (b *builder) refs(o *object, name string) []*object {
	rs, _ := o.get(name).([]*object)
	var out []*object
	for _, r := range rs {
		if !r.removed && !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

func refPK(r *object) string {
	if r == nil {
		return ""
	}
	return r.key
}

func refNum(r *object) int32 {
	if r == nil {
		return 0
	}
	return r.num
}

func (b *builder) checkUnique() error {
	seen := map[string]*object{}
	for _, o := range b.l.objects {
		if o.removed || o.spec.unique == "" {
			continue
		}
		v := b.str(o, o.spec.unique)
		if v == "" {
			continue // reported as missing by checkRequired
		}
		k := o.spec.uniqueScope + "\x00" + v
		if prev, ok := seen[k]; ok {
			return b.errAt(o, o.spec.unique, "duplicate %s %q: already used by the %s defined at %s",
				o.spec.unique, v, prev.spec.name, prev.where())
		}
		seen[k] = o
	}
	return nil
}

func (b *builder) checkRequired() error {
	for _, o := range b.l.objects {
		if o.removed {
			continue
		}
		for _, name := range sortedKeys(o.spec.fields) {
			f := o.spec.fields[name]
			if !f.required {
				continue
			}
			missing := false
			switch v := o.get(name).(type) {
			case nil:
				missing = true
			case string:
				missing = v == ""
			case *object:
				missing = v.removed
			}
			if missing {
				return b.errAt(o, name, "%s needs %s", o.spec.name, name)
			}
		}
	}
	return nil
}

func (b *builder) buildGroups() error {
	for _, o := range b.live[mGroup] {
		g := &model.Group{
			PK:          o.key,
			NumPK:       o.num,
			Name:        b.str(o, "name"),
			IsSuperuser: b.boolean(o, "is_superuser"),
			Attributes:  b.mapping(o, "attributes"),
			Parents:     []string{},
			Users:       []int32{},
		}
		parents := b.refs(o, "parents")
		if p := b.ref(o, "parent"); p != nil && !slices.Contains(parents, p) {
			parents = append([]*object{p}, parents...)
		}
		for _, p := range parents {
			if p == o {
				return b.errAt(o, "parents", "group %q cannot be its own parent", g.Name)
			}
			g.Parents = append(g.Parents, p.key)
		}
		b.groups[o] = g
		b.dir.Groups = append(b.dir.Groups, g)
	}
	// Parent cycles would make superuser and membership lookups loop.
	byPK := map[string]*model.Group{}
	for _, g := range b.dir.Groups {
		byPK[g.PK] = g
	}
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(g *model.Group) bool
	visit = func(g *model.Group) bool {
		switch state[g.PK] {
		case 1:
			return false
		case 2:
			return true
		}
		state[g.PK] = 1
		for _, p := range g.Parents {
			if !visit(byPK[p]) {
				return false
			}
		}
		state[g.PK] = 2
		return true
	}
	for _, o := range b.live[mGroup] {
		if !visit(b.groups[o]) {
			return b.errAt(o, "parents", "group %q is part of a parent cycle", b.groups[o].Name)
		}
	}
	return nil
}

func (b *builder) buildUsers() error {
	for _, o := range b.live[mUser] {
		u := &model.User{
			PK:          o.num,
			UUID:        o.key,
			Username:    b.str(o, "username"),
			Name:        b.str(o, "name"),
			Email:       b.str(o, "email"),
			IsActive:    b.boolean(o, "is_active"),
			Path:        b.str(o, "path"),
			Type:        b.str(o, "type"),
			Attributes:  b.mapping(o, "attributes"),
			DateJoined:  b.now,
			LastUpdated: b.now,
			Groups:      []string{},
		}
		if pw := b.str(o, "password"); pw != "" {
			u.PasswordHash = model.HashPassword(pw)
		}
		b.users[o] = u
		b.dir.Users = append(b.dir.Users, u)
	}
	// Membership may be written on either side; both must agree.
	member := map[*object][]*object{} // user -> groups, without duplicates
	seen := map[[2]*object]bool{}
	add := func(u, g *object) {
		if !seen[[2]*object{u, g}] {
			seen[[2]*object{u, g}] = true
			member[u] = append(member[u], g)
		}
	}
	for _, uo := range b.live[mUser] {
		for _, g := range b.refs(uo, "groups") {
			add(uo, g)
		}
	}
	for _, g := range b.live[mGroup] {
		for _, uo := range b.refs(g, "users") {
			add(uo, g)
		}
	}
	super := b.superGroups()
	for _, uo := range b.live[mUser] {
		u := b.users[uo]
		groups := member[uo]
		sort.Slice(groups, func(i, j int) bool { return groups[i].seq < groups[j].seq })
		for _, g := range groups {
			u.Groups = append(u.Groups, g.key)
			b.groups[g].Users = append(b.groups[g].Users, u.PK)
			u.IsSuperuser = u.IsSuperuser || super[g.key]
		}
	}
	return nil
}

// superGroups maps each group pk to whether it or an ancestor is a
// superuser group. Groups have no cycles (checked in buildGroups).
func (b *builder) superGroups() map[string]bool {
	byPK := map[string]*model.Group{}
	for _, g := range b.dir.Groups {
		byPK[g.PK] = g
	}
	memo := map[string]bool{}
	var super func(g *model.Group) bool
	super = func(g *model.Group) bool {
		if v, ok := memo[g.PK]; ok {
			return v
		}
		v := g.IsSuperuser
		for _, p := range g.Parents {
			v = super(byPK[p]) || v
		}
		memo[g.PK] = v
		return v
	}
	for _, g := range b.dir.Groups {
		super(g)
	}
	return memo
}

func (b *builder) buildFlows() error {
	flows := map[*object]*model.Flow{}
	for _, o := range b.live[mFlow] {
		f := &model.Flow{
			PK:             o.key,
			Slug:           b.str(o, "slug"),
			Name:           b.str(o, "name"),
			Title:          b.str(o, "title"),
			Designation:    b.str(o, "designation"),
			Authentication: b.str(o, "authentication"),
			Bindings:       []model.FlowStageBinding{},
		}
		if f.Name == "" {
			f.Name = f.Slug
		}
		if f.Title == "" {
			f.Title = f.Name
		}
		flows[o] = f
		b.dir.Flows = append(b.dir.Flows, f)
	}
	kinds := map[string]string{
		mIdentification: model.StageIdentification,
		mPassword:       model.StagePassword,
		mAuthValidate:   model.StageAuthenticatorValidate,
		mUserLogin:      model.StageUserLogin,
		mUserLogout:     model.StageUserLogout,
		mConsent:        StageKindConsent,
	}
	for _, o := range b.l.objects {
		kind, ok := kinds[o.spec.name]
		if !ok || o.removed {
			continue
		}
		s := &model.Stage{PK: o.key, Name: b.str(o, "name"), Kind: kind}
		switch o.spec.name {
		case mIdentification:
			s.UserFields = b.strs(o, "user_fields")
			if len(s.UserFields) == 0 {
				return b.errAt(o, "user_fields", "identification stage %q needs user_fields (username, email or upn)", s.Name)
			}
			s.PasswordStage = refPK(b.ref(o, "password_stage"))
		case mAuthValidate:
			s.DeviceClasses = b.strs(o, "device_classes")
			if _, set := o.fields["device_classes"]; !set {
				s.DeviceClasses = []string{"static", "totp", "webauthn", "duo", "sms", "email"}
			}
			s.NotConfiguredAction = b.str(o, "not_configured_action")
		case mUserLogin:
			s.SessionDuration = b.str(o, "session_duration")
		}
		b.dir.Stages = append(b.dir.Stages, s)
	}
	for _, o := range b.live[mFlowStage] {
		f := flows[b.ref(o, "target")]
		f.Bindings = append(f.Bindings, model.FlowStageBinding{
			PK:    o.key,
			Stage: refPK(b.ref(o, "stage")),
			Order: int(b.integer(o, "order")),
		})
	}
	for _, f := range b.dir.Flows {
		sort.SliceStable(f.Bindings, func(i, j int) bool { return f.Bindings[i].Order < f.Bindings[j].Order })
	}
	return nil
}

func (b *builder) buildPolicyBindings() error {
	for _, o := range b.live[mPolicyBinding] {
		g, u := b.ref(o, "group"), b.ref(o, "user")
		if (g == nil) == (u == nil) {
			return b.errAt(o, "group", "a policy binding needs exactly one of group or user (policies are not supported)")
		}
		b.dir.PolicyBindings = append(b.dir.PolicyBindings, &model.PolicyBinding{
			PK:      o.key,
			Target:  refPK(b.ref(o, "target")),
			Group:   refPK(g),
			User:    refNum(u),
			Negate:  b.boolean(o, "negate"),
			Enabled: b.boolean(o, "enabled"),
			Order:   int(b.integer(o, "order")),
		})
	}
	return nil
}

func (b *builder) buildDevices() error {
	for _, o := range b.live[mTOTPDevice] {
		key := b.str(o, "key")
		if raw, err := hex.DecodeString(key); err != nil || len(raw) == 0 {
			return b.errAt(o, "key", "TOTP key must be hex-encoded (django-otp's format)")
		}
		digits := b.integer(o, "digits")
		if digits != 6 && digits != 8 {
			return b.errAt(o, "digits", "TOTP digits must be 6 or 8")
		}
		step := b.integer(o, "step")
		if step < 1 || step > 3600 {
			return b.errAt(o, "step", "TOTP step must be between 1 and 3600 seconds")
		}
		b.dir.TOTPDevices = append(b.dir.TOTPDevices, &model.TOTPDevice{
			PK:        o.num,
			User:      refNum(b.ref(o, "user")),
			Name:      b.str(o, "name"),
			Key:       strings.ToLower(key),
			Digits:    int(digits),
			Step:      int(step),
			Confirmed: b.boolean(o, "confirmed"),
		})
	}
	for _, o := range b.live[mStaticDevice] {
		tokens := append(b.strs(o, "token_set"), b.strs(o, "tokens")...)
		for _, t := range tokens {
			if t == "" {
				return b.errAt(o, "tokens", "static tokens must not be empty")
			}
		}
		if tokens == nil {
			tokens = []string{}
		}
		b.dir.StaticDevices = append(b.dir.StaticDevices, &model.StaticDevice{
			PK:        o.num,
			User:      refNum(b.ref(o, "user")),
			Name:      b.str(o, "name"),
			Tokens:    tokens,
			Confirmed: b.boolean(o, "confirmed"),
		})
	}
	return nil
}

func (b *builder) buildCertificates() error {
	for _, o := range b.live[mCertificate] {
		c := &model.Certificate{
			PK:              o.key,
			Name:            b.str(o, "name"),
			CertificateData: b.str(o, "certificate_data"),
			KeyData:         b.str(o, "key_data"),
		}
		switch {
		case c.CertificateData == "" && c.KeyData == "":
			cert, key, err := selfSigned(c.Name, b.now)
			if err != nil {
				return b.errAt(o, "name", "generate certificate: %v", err)
			}
			c.CertificateData, c.KeyData = cert, key
		case c.CertificateData == "":
			return b.errAt(o, "key_data", "key_data without certificate_data")
		default:
			if err := checkCertificate(c.CertificateData); err != nil {
				return b.errAt(o, "certificate_data", "certificate_data: %v", err)
			}
			if c.KeyData != "" {
				if err := checkKey(c.KeyData); err != nil {
					return b.errAt(o, "key_data", "key_data: %v", err)
				}
			}
		}
		b.dir.Certificates = append(b.dir.Certificates, c)
	}
	return nil
}

// derived makes a stable secret for an object from its pk. The stand-in
// core derives rather than draws secrets so that reloading the same
// blueprints keeps clients working; these values are not secret from
// anyone who knows the blueprint, so pin real values for anything that is
// reachable beyond loopback.
func derived(label string, o *object, n int) string {
	var out strings.Builder
	for i := 0; out.Len() < n; i++ {
		sum := sha256.Sum256([]byte(fmt.Sprintf("devcore\x00%s\x00%s\x00%d", label, o.key, i)))
		out.WriteString(hex.EncodeToString(sum[:]))
	}
	return out.String()[:n]
}

func (b *builder) provider(o *object) model.Provider {
	return model.Provider{
		PK:                 o.num,
		Name:               b.str(o, "name"),
		AuthenticationFlow: refPK(b.ref(o, "authentication_flow")),
		AuthorizationFlow:  refPK(b.ref(o, "authorization_flow")),
		InvalidationFlow:   refPK(b.ref(o, "invalidation_flow")),
	}
}

func (b *builder) buildProviders() error {
	for _, o := range b.live[mLDAPProvider] {
		b.dir.LDAPProviders = append(b.dir.LDAPProviders, &model.LDAPProvider{
			Provider:       b.provider(o),
			BaseDN:         b.str(o, "base_dn"),
			Certificate:    refPK(b.ref(o, "certificate")),
			TLSServerName:  b.str(o, "tls_server_name"),
			UIDStartNumber: int32(b.integer(o, "uid_start_number")),
			GIDStartNumber: int32(b.integer(o, "gid_start_number")),
			SearchMode:     b.str(o, "search_mode"),
			BindMode:       b.str(o, "bind_mode"),
			MFASupport:     b.boolean(o, "mfa_support"),
		})
	}
	for _, o := range b.live[mRadiusProvider] {
		b.dir.RadiusProviders = append(b.dir.RadiusProviders, &model.RadiusProvider{
			Provider:       b.provider(o),
			ClientNetworks: b.str(o, "client_networks"),
			SharedSecret:   b.str(o, "shared_secret"),
			MFASupport:     b.boolean(o, "mfa_support"),
			Certificate:    refPK(b.ref(o, "certificate")),
		})
	}
	for _, o := range b.live[mProxyProvider] {
		p := &model.ProxyProvider{
			Provider:                   b.provider(o),
			InternalHost:               b.str(o, "internal_host"),
			ExternalHost:               b.str(o, "external_host"),
			InternalHostSSLValidation:  b.boolean(o, "internal_host_ssl_validation"),
			ClientID:                   b.str(o, "client_id"),
			ClientSecret:               b.str(o, "client_secret"),
			Mode:                       b.str(o, "mode"),
			CookieDomain:               b.str(o, "cookie_domain"),
			SkipPathRegex:              b.str(o, "skip_path_regex"),
			BasicAuthEnabled:           b.boolean(o, "basic_auth_enabled"),
			BasicAuthUserAttribute:     b.str(o, "basic_auth_user_attribute"),
			BasicAuthPasswordAttribute: b.str(o, "basic_auth_password_attribute"),
			InterceptHeaderAuth:        b.boolean(o, "intercept_header_auth"),
			AccessTokenValidity:        b.str(o, "access_token_validity"),
			Certificate:                refPK(b.ref(o, "certificate")),
			SigningKey:                 refPK(b.ref(o, "signing_key")),
			CookieSecret:               derived("cookie_secret", o, 64),
		}
		if p.ClientID == "" {
			p.ClientID = derived("client_id", o, 40)
		}
		if p.ClientSecret == "" {
			p.ClientSecret = derived("client_secret", o, 128)
		}
		b.dir.ProxyProviders = append(b.dir.ProxyProviders, p)
	}
	for _, o := range b.live[mRACProvider] {
		b.dir.RACProviders = append(b.dir.RACProviders, &model.RACProvider{
			Provider:         b.provider(o),
			Settings:         b.mapping(o, "settings"),
			ConnectionExpiry: b.str(o, "connection_expiry"),
		})
	}
	return nil
}

func (b *builder) buildApplications() error {
	for _, o := range b.live[mApplication] {
		a := &model.Application{
			PK:                   o.key,
			Slug:                 b.str(o, "slug"),
			Name:                 b.str(o, "name"),
			Provider:             refNum(b.ref(o, "provider")),
			BackchannelProviders: []int32{},
			MetaLaunchURL:        b.str(o, "meta_launch_url"),
			PolicyEngineMode:     b.str(o, "policy_engine_mode"),
		}
		if a.Name == "" {
			a.Name = a.Slug
		}
		for _, p := range b.refs(o, "backchannel_providers") {
			a.BackchannelProviders = append(a.BackchannelProviders, p.num)
		}
		b.dir.Applications = append(b.dir.Applications, a)
	}
	// A provider serves at most one application (a one-to-one in authentik).
	used := map[int32]*object{}
	for _, o := range b.live[mApplication] {
		if p := b.ref(o, "provider"); p != nil {
			if prev, ok := used[p.num]; ok {
				return b.errAt(o, "provider", "provider %q is already the provider of the application defined at %s", b.str(p, "name"), prev.where())
			}
			used[p.num] = o
		}
	}
	return nil
}

func (b *builder) buildEndpoints() error {
	for _, o := range b.live[mRACEndpoint] {
		b.dir.RACEndpoints = append(b.dir.RACEndpoints, &model.RACEndpoint{
			PK:                 o.key,
			Name:               b.str(o, "name"),
			Provider:           refNum(b.ref(o, "provider")),
			Protocol:           b.str(o, "protocol"),
			Host:               b.str(o, "host"),
			Settings:           b.mapping(o, "settings"),
			AuthMode:           b.str(o, "auth_mode"),
			MaximumConnections: int(b.integer(o, "maximum_connections")),
		})
	}
	return nil
}

// outpostTokenIdentifier is the identifier authentik gives an outpost's API
// token; a blueprint pins the token by defining one with that identifier.
func outpostTokenIdentifier(name string) string {
	return "ak-outpost-" + name + "-api"
}

func (b *builder) buildOutposts() error {
	providerType := map[string]string{
		mLDAPProvider: "ldap", mRadiusProvider: "radius", mProxyProvider: "proxy", mRACProvider: "rac",
	}
	nextUser := b.l.seqs["user"]
	usernames := map[string]bool{}
	for _, u := range b.dir.Users {
		usernames[u.Username] = true
	}
	for _, o := range b.live[mOutpost] {
		op := &model.Outpost{
			PK:        o.key,
			Name:      b.str(o, "name"),
			Type:      b.str(o, "type"),
			Providers: []int32{},
			Config: map[string]any{
				"authentik_host":          "",
				"authentik_host_insecure": false,
				"authentik_host_browser":  "",
				"log_level":               "info",
				"object_naming_template":  "ak-outpost-%(name)s",
				"refresh_interval":        "minutes=5",
			},
		}
		maps.Copy(op.Config, b.mapping(o, "config"))
		if _, ok := op.Config["authentik_host"].(string); !ok {
			return b.errAt(o, "config", "outpost config authentik_host must be a string")
		}
		for _, p := range b.refs(o, "providers") {
			if t := providerType[p.spec.name]; t != op.Type {
				return b.errAt(o, "providers", "outpost %q has type %s but provider %q is a %s provider", op.Name, op.Type, b.str(p, "name"), t)
			}
			op.Providers = append(op.Providers, p.num)
		}
		// Like authentik, each outpost acts as its own service account.
		nextUser++
		sa := &model.User{
			PK:          nextUser,
			UUID:        derivedUUID("outpost-service-account", o),
			Username:    "ak-outpost-" + strings.ReplaceAll(o.key, "-", ""),
			Name:        "Outpost " + op.Name + " Service-Account",
			IsActive:    true,
			Path:        "goauthentik.io/outposts",
			Type:        "internal_service_account",
			Attributes:  map[string]any{},
			DateJoined:  b.now,
			LastUpdated: b.now,
			Groups:      []string{},
		}
		if usernames[sa.Username] {
			return b.errAt(o, "name", "username %s of the outpost's service account is already taken", sa.Username)
		}
		usernames[sa.Username] = true
		op.ServiceAccount = sa.PK
		b.dir.Users = append(b.dir.Users, sa)
		b.dir.Outposts = append(b.dir.Outposts, op)
	}
	return nil
}

func derivedUUID(label string, o *object) string {
	return objectKey(label, map[string]any{"key": o.key})
}

func (b *builder) buildTokens() error {
	keys := map[string]*object{}
	outposts := map[string]*model.Outpost{}
	for _, op := range b.dir.Outposts {
		outposts[outpostTokenIdentifier(op.Name)] = op
	}
	for _, o := range b.live[mToken] {
		t := &model.Token{
			Identifier:  b.str(o, "identifier"),
			Key:         b.str(o, "key"),
			Intent:      b.str(o, "intent"),
			User:        refNum(b.ref(o, "user")),
			Description: b.str(o, "description"),
			Expiring:    b.boolean(o, "expiring"),
		}
		if t.Key == "" {
			t.Key = derived("token_key", o, 60)
		}
		if prev, ok := keys[t.Key]; ok {
			return b.errAt(o, "key", "token %q has the same key as the token defined at %s", t.Identifier, prev.where())
		}
		keys[t.Key] = o
		if op, ok := outposts[t.Identifier]; ok {
			// authentik forces these on the outpost's own token.
			t.User, t.Intent, t.Expiring = op.ServiceAccount, "api", false
			op.Token = t.Key
		} else if t.User == 0 {
			return b.errAt(o, "user", "token %q needs user", t.Identifier)
		}
		if t.Expiring {
			if exp, ok := o.get("expires").(time.Time); ok {
				t.Expires = exp
			} else {
				// authentik's default token lifetime.
				t.Expires = b.now.Add(30 * time.Minute)
			}
		}
		b.dir.Tokens = append(b.dir.Tokens, t)
	}
	return nil
}
