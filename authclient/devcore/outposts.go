package devcore

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	api "goauthentik.io/api/v3"

	"github.com/outpost-go/outposts/authclient/devcore/model"
)

func (s *Server) handleRootConfig(w http.ResponseWriter, _ *http.Request, _ principal) {
	writeJSON(w, http.StatusOK, api.Config{
		ErrorReporting: api.ErrorReportingConfig{
			Enabled:     false,
			Environment: "devcore",
		},
		Capabilities:         []api.CapabilitiesEnum{},
		CacheTimeout:         300,
		CacheTimeoutFlows:    300,
		CacheTimeoutPolicies: 300,
	})
}

// parseTimedelta parses authentik's timedelta strings ("hours=1;minutes=5").
func parseTimedelta(s string) (time.Duration, error) {
	var total time.Duration
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, errors.New("empty timedelta")
	}
	for part := range strings.SplitSeq(s, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		key, val, ok := strings.Cut(part, "=")
		if !ok {
			return 0, fmt.Errorf("timedelta part %q: want key=value", part)
		}
		n, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil || n < 0 || n > 1e9 {
			return 0, fmt.Errorf("timedelta part %q: bad number", part)
		}
		var unit time.Duration
		switch strings.TrimSpace(key) {
		case "weeks":
			unit = 7 * 24 * time.Hour
		case "days":
			unit = 24 * time.Hour
		case "hours":
			unit = time.Hour
		case "minutes":
			unit = time.Minute
		case "seconds":
			unit = time.Second
		case "milliseconds":
			unit = time.Millisecond
		case "microseconds":
			unit = time.Microsecond
		default:
			return 0, fmt.Errorf("timedelta part %q: unknown unit", part)
		}
		total += time.Duration(n * float64(unit))
	}
	return total, nil
}

// providerInfo finds provider pk of any type.
func (v *view) providerInfo(pk int32) (base *model.Provider, kind string) {
	if p, ok := v.ldapByPK[pk]; ok {
		return &p.Provider, "ldap"
	}
	if p, ok := v.radiusByPK[pk]; ok {
		return &p.Provider, "radius"
	}
	if p, ok := v.proxyByPK[pk]; ok {
		return &p.Provider, "proxy"
	}
	if p, ok := v.racByPK[pk]; ok {
		return &p.Provider, "rac"
	}
	return nil, ""
}

var providerMeta = map[string]struct{ component, verbose, plural, model string }{
	"ldap":   {"ak-provider-ldap-form", "LDAP Provider", "LDAP Providers", "authentik_providers_ldap.ldapprovider"},
	"radius": {"ak-provider-radius-form", "Radius Provider", "Radius Providers", "authentik_providers_radius.radiusprovider"},
	"proxy":  {"ak-provider-proxy-form", "Proxy Provider", "Proxy Providers", "authentik_providers_proxy.proxyprovider"},
	"rac":    {"ak-provider-rac-form", "RAC Provider", "RAC Providers", "authentik_providers_rac.racprovider"},
}

func nullableString(s string) api.NullableString {
	if s == "" {
		return *api.NewNullableString(nil)
	}
	return *api.NewNullableString(&s)
}

func invalidationDefault(kind string) string {
	if kind == "ldap" || kind == "radius" {
		return "default-invalidation-flow"
	}
	return "default-provider-invalidation-flow"
}

// fallbackFlow stands in for a flow a provider lacks: authentik requires
// these foreign keys, so the schema demands a uuid. It prefers the default
// flow by slug, then any flow of the designation.
func (v *view) fallbackFlow(designation, slug string) string {
	if f, ok := v.flowBySlug[slug]; ok {
		return f.PK
	}
	for _, f := range v.dir.Flows {
		if f.Designation == designation {
			return f.PK
		}
	}
	return "00000000-0000-0000-0000-000000000000"
}

func (v *view) apiProvider(pk int32) (api.Provider, bool) {
	base, kind := v.providerInfo(pk)
	if base == nil {
		return api.Provider{}, false
	}
	meta := providerMeta[kind]
	p := api.Provider{
		Pk:                 base.PK,
		Name:               base.Name,
		AuthenticationFlow: nullableString(base.AuthenticationFlow),
		AuthorizationFlow:  orDefault(base.AuthorizationFlow, v.fallbackFlow("authorization", "default-provider-authorization-implicit-consent")),
		InvalidationFlow:   orDefault(base.InvalidationFlow, v.fallbackFlow("invalidation", invalidationDefault(kind))),
		PropertyMappings:   []string{},
		Component:          meta.component,
		VerboseName:        meta.verbose,
		VerboseNamePlural:  meta.plural,
		MetaModelName:      meta.model,
	}
	var mainApp, backApp *model.Application
	for _, a := range v.dir.Applications {
		if a.Provider == pk && mainApp == nil {
			mainApp = a
		}
		for _, b := range a.BackchannelProviders {
			if b == pk && backApp == nil {
				backApp = a
			}
		}
	}
	p.AssignedApplicationSlug = *api.NewNullableString(nil)
	p.AssignedApplicationName = *api.NewNullableString(nil)
	p.AssignedBackchannelApplicationSlug = *api.NewNullableString(nil)
	p.AssignedBackchannelApplicationName = *api.NewNullableString(nil)
	if mainApp != nil {
		p.AssignedApplicationSlug = nullableString(mainApp.Slug)
		p.AssignedApplicationName = nullableString(mainApp.Name)
	}
	if backApp != nil {
		p.AssignedBackchannelApplicationSlug = nullableString(backApp.Slug)
		p.AssignedBackchannelApplicationName = nullableString(backApp.Name)
	}
	return p, true
}

func (v *view) apiOutpost(o *model.Outpost, base string) api.Outpost {
	cfg := map[string]any{
		"authentik_host":          "",
		"authentik_host_insecure": false,
		"authentik_host_browser":  "",
		"log_level":               "info",
		"object_naming_template":  "ak-outpost-%(name)s",
		"refresh_interval":        "minutes=5",
	}
	maps.Copy(cfg, o.Config)
	if h, ok := cfg["authentik_host"].(string); !ok || h == "" {
		// The proxy outpost type-asserts this to a string.
		cfg["authentik_host"] = base
	}
	refresh := int32(300)
	if ri, ok := cfg["refresh_interval"].(string); ok {
		if d, err := parseTimedelta(ri); err == nil {
			refresh = int32(d / time.Second)
		}
	}
	providers := []api.Provider{}
	pks := []int32{}
	for _, pk := range o.Providers {
		if p, ok := v.apiProvider(pk); ok {
			providers = append(providers, p)
			pks = append(pks, pk)
		}
	}
	out := api.Outpost{
		Pk:                   o.PK,
		Name:                 o.Name,
		Type:                 api.OutpostTypeEnum(o.Type),
		Providers:            pks,
		ProvidersObj:         providers,
		ServiceConnection:    *api.NewNullableString(nil),
		ServiceConnectionObj: *api.NewNullableServiceConnection(nil),
		RefreshIntervalS:     refresh,
		TokenIdentifier:      "ak-outpost-" + o.PK + "-api",
		Config:               cfg,
		Managed:              *api.NewNullableString(nil),
	}
	return out
}

func (s *Server) handleOutpostList(w http.ResponseWriter, r *http.Request, p principal) {
	q := r.URL.Query()
	var visible []*model.Outpost
	for _, o := range p.v.dir.Outposts {
		if !p.canSeeOutpost(o) {
			continue
		}
		if n := q.Get("name__iexact"); n != "" && !strings.EqualFold(n, o.Name) {
			continue
		}
		if n := q.Get("name__icontains"); n != "" && !containsFold(o.Name, n) {
			continue
		}
		if t := q.Get("search"); t != "" && !containsFold(o.Name, t) {
			continue
		}
		if pi := q.Get("providers__isnull"); pi == "true" && len(o.Providers) > 0 {
			continue
		}
		visible = append(visible, o)
	}
	sort.SliceStable(visible, func(i, j int) bool { return visible[i].Name < visible[j].Name })
	pw, ok := paginate(q, len(visible))
	if !ok {
		writeDetail(w, http.StatusNotFound, msgInvalidPage)
		return
	}
	results := []api.Outpost{}
	base := baseURL(r)
	for _, o := range visible[pw.start:pw.end] {
		results = append(results, p.v.apiOutpost(o, base))
	}
	writeJSON(w, http.StatusOK, api.PaginatedOutpostList{
		Pagination: pw.pagination, Results: results, Autocomplete: map[string]any{},
	})
}

func (s *Server) handleOutpostRetrieve(w http.ResponseWriter, r *http.Request, p principal) {
	o, ok := p.v.outpostByPK[chi.URLParam(r, "uuid")]
	if !ok || !p.canSeeOutpost(o) {
		writeDetail(w, http.StatusNotFound, msgNotFound)
		return
	}
	writeJSON(w, http.StatusOK, p.v.apiOutpost(o, baseURL(r)))
}

func containsFold(haystack, needle string) bool {
	return strings.Contains(strings.ToLower(haystack), strings.ToLower(needle))
}

// providerListFilter applies the list endpoints' name/search filters and
// ordering to the visible providers of one type.
func providerListFilter[T any](q url.Values, items []T, name func(T) string, pk func(T) int32) []T {
	var out []T
	for _, it := range items {
		if n := q.Get("name"); n != "" && name(it) != n {
			continue
		}
		if t := q.Get("search"); t != "" && !containsFold(name(it), t) {
			continue
		}
		out = append(out, it)
	}
	field, desc := orderKey(q.Get("ordering"))
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if desc {
			a, b = b, a
		}
		if field == "name" {
			return name(a) < name(b)
		}
		return pk(a) < pk(b)
	})
	return out
}

// providerPage selects the page of providers an outpost lists: the ones it
// serves that are attached to an application (authentik lists only those;
// LDAP prefers the backchannel application), filtered and ordered as the
// query asks. When the page does not exist it writes the 404 and ok is false.
func providerPage[T any](w http.ResponseWriter, r *http.Request, p principal, all []T, pk func(T) int32, name func(T) string, backchannel bool) (page []T, pw pageWindow, ok bool) {
	var items []T
	for _, it := range all {
		if p.canSeeProvider(pk(it)) && p.v.appForProvider(pk(it), backchannel) != nil {
			items = append(items, it)
		}
	}
	q := r.URL.Query()
	items = providerListFilter(q, items, name, pk)
	pw, ok = paginate(q, len(items))
	if !ok {
		writeDetail(w, http.StatusNotFound, msgInvalidPage)
		return nil, pw, false
	}
	return items[pw.start:pw.end], pw, true
}

func (s *Server) handleLDAPList(w http.ResponseWriter, r *http.Request, p principal) {
	v := p.v
	page, pw, ok := providerPage(w, r, p, v.dir.LDAPProviders, func(x *model.LDAPProvider) int32 { return x.PK }, func(x *model.LDAPProvider) string { return x.Name }, true)
	if !ok {
		return
	}
	results := []api.LDAPOutpostConfig{}
	for _, lp := range page {
		app := v.appForProvider(lp.PK, true)
		searchMode := api.LDAPAPIAccessMode(orDefault(lp.SearchMode, "direct"))
		bindMode := api.LDAPAPIAccessMode(orDefault(lp.BindMode, "direct"))
		results = append(results, api.LDAPOutpostConfig{
			Pk:              lp.PK,
			Name:            lp.Name,
			BaseDn:          strPtr(lp.BaseDN),
			BindFlowSlug:    v.flowSlug(lp.AuthorizationFlow),
			UnbindFlowSlug:  nullableString(v.flowSlug(lp.InvalidationFlow)),
			ApplicationSlug: app.Slug,
			Certificate:     nullableString(lp.Certificate),
			TlsServerName:   strPtr(lp.TLSServerName),
			UidStartNumber:  &lp.UIDStartNumber,
			GidStartNumber:  &lp.GIDStartNumber,
			SearchMode:      &searchMode,
			BindMode:        &bindMode,
			MfaSupport:      boolPtr(lp.MFASupport),
		})
	}
	writeJSON(w, http.StatusOK, api.PaginatedLDAPOutpostConfigList{
		Pagination: pw.pagination, Results: results, Autocomplete: map[string]any{},
	})
}

func (s *Server) handleRadiusList(w http.ResponseWriter, r *http.Request, p principal) {
	v := p.v
	page, pw, ok := providerPage(w, r, p, v.dir.RadiusProviders, func(x *model.RadiusProvider) int32 { return x.PK }, func(x *model.RadiusProvider) string { return x.Name }, false)
	if !ok {
		return
	}
	results := []api.RadiusOutpostConfig{}
	for _, rp := range page {
		app := v.appForProvider(rp.PK, false)
		results = append(results, api.RadiusOutpostConfig{
			Pk:              rp.PK,
			Name:            rp.Name,
			ApplicationSlug: app.Slug,
			AuthFlowSlug:    v.flowSlug(rp.AuthorizationFlow),
			ClientNetworks:  strPtr(orDefault(rp.ClientNetworks, "0.0.0.0/0, ::/0")),
			SharedSecret:    strPtr(rp.SharedSecret),
			MfaSupport:      boolPtr(rp.MFASupport),
			Certificate:     nullableString(rp.Certificate),
		})
	}
	writeJSON(w, http.StatusOK, api.PaginatedRadiusOutpostConfigList{
		Pagination: pw.pagination, Results: results, Autocomplete: map[string]any{},
	})
}

func (s *Server) handleProxyList(w http.ResponseWriter, r *http.Request, p principal) {
	v := p.v
	page, pw, ok := providerPage(w, r, p, v.dir.ProxyProviders, func(x *model.ProxyProvider) int32 { return x.PK }, func(x *model.ProxyProvider) string { return x.Name }, false)
	if !ok {
		return
	}
	base := baseURL(r)
	results := []api.ProxyOutpostConfig{}
	for _, pp := range page {
		app := v.appForProvider(pp.PK, false)
		mode := api.ProxyMode(orDefault(pp.Mode, "proxy"))
		validity := 86400.0
		if d, err := parseTimedelta(orDefault(pp.AccessTokenValidity, "hours=24")); err == nil {
			validity = d.Seconds()
		}
		results = append(results, api.ProxyOutpostConfig{
			Pk:                         pp.PK,
			Name:                       pp.Name,
			InternalHost:               strPtr(pp.InternalHost),
			ExternalHost:               pp.ExternalHost,
			InternalHostSslValidation:  boolPtr(pp.InternalHostSSLValidation),
			ClientId:                   strPtr(pp.ClientID),
			ClientSecret:               strPtr(pp.ClientSecret),
			OidcConfiguration:          oidcConfiguration(base, app.Slug, s.signingAlg(v, pp)),
			CookieSecret:               strPtr(pp.CookieSecret),
			Certificate:                nullableString(pp.Certificate),
			SkipPathRegex:              strPtr(pp.SkipPathRegex),
			BasicAuthEnabled:           boolPtr(pp.BasicAuthEnabled),
			BasicAuthPasswordAttribute: strPtr(pp.BasicAuthPasswordAttribute),
			BasicAuthUserAttribute:     strPtr(pp.BasicAuthUserAttribute),
			Mode:                       &mode,
			CookieDomain:               strPtr(pp.CookieDomain),
			AccessTokenValidity:        *api.NewNullableFloat64(&validity),
			InterceptHeaderAuth:        boolPtr(pp.InterceptHeaderAuth),
			ScopesToRequest:            []string{"openid", "profile", "email", "ak_proxy"},
			AssignedApplicationSlug:    app.Slug,
			AssignedApplicationName:    app.Name,
		})
	}
	writeJSON(w, http.StatusOK, api.PaginatedProxyOutpostConfigList{
		Pagination: pw.pagination, Results: results, Autocomplete: map[string]any{},
	})
}

// oidcConfiguration mirrors authentik's provider discovery document URLs.
func oidcConfiguration(base, appSlug, alg string) api.OpenIDConnectConfiguration {
	o := base + "application/o/"
	return api.OpenIDConnectConfiguration{
		Issuer:                            o + appSlug + "/",
		AuthorizationEndpoint:             o + "authorize/",
		TokenEndpoint:                     o + "token/",
		UserinfoEndpoint:                  o + "userinfo/",
		EndSessionEndpoint:                o + appSlug + "/end-session/",
		IntrospectionEndpoint:             o + "introspect/",
		JwksUri:                           o + appSlug + "/jwks/",
		ResponseTypesSupported:            []string{"code", "id_token", "id_token token", "code token", "code id_token", "code id_token token"},
		IdTokenSigningAlgValuesSupported:  []string{alg},
		SubjectTypesSupported:             []string{"public"},
		TokenEndpointAuthMethodsSupported: []string{"client_secret_post", "client_secret_basic"},
	}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// sessionAccess resolves the caller of a provider check_access endpoint:
// an authenticated flow session plus a valid X-authentik-outpost-token.
func (s *Server) sessionAccess(w http.ResponseWriter, r *http.Request, v *view) (*model.Outpost, *model.User, bool) {
	o, present := outpostFromHeader(r, v)
	if present && o == nil {
		writeDetail(w, http.StatusForbidden, msgTokenInvalid)
		return nil, nil, false
	}
	var u *model.User
	if o == nil {
		// Without the outpost header a bearer-authenticated outpost may
		// still call this endpoint, as long as the session is valid.
		p, status, msg := s.authenticate(r, v)
		if status != 0 {
			writeDetail(w, status, msg)
			return nil, nil, false
		}
		if p.outpost == nil {
			writeDetail(w, http.StatusForbidden, msgNoPermission)
			return nil, nil, false
		}
		o = p.outpost
	}
	u = s.sessionUser(r, v)
	if u == nil {
		writeDetail(w, http.StatusForbidden, msgNotProvided)
		return nil, nil, false
	}
	return o, u, true
}

func (s *Server) checkAccessCommon(w http.ResponseWriter, r *http.Request, v *view, kind string) (*model.User, *model.Application, bool) {
	o, u, ok := s.sessionAccess(w, r, v)
	if !ok {
		return nil, nil, false
	}
	pk, err := strconv.ParseInt(chi.URLParam(r, "id"), 10, 32)
	if err != nil {
		writeDetail(w, http.StatusNotFound, msgNotFound)
		return nil, nil, false
	}
	if _, k := v.providerInfo(int32(pk)); k != kind || !providerOwned(o, int32(pk)) {
		writeDetail(w, http.StatusNotFound, msgNotFound)
		return nil, nil, false
	}
	slug := r.URL.Query().Get("app_slug")
	if slug == "" {
		writeFieldErrors(w, map[string][]string{"app_slug": {"This field is required."}})
		return nil, nil, false
	}
	app, found := v.appBySlug[slug]
	if !found {
		writeDetail(w, http.StatusNotFound, msgNotFound)
		return nil, nil, false
	}
	return u, app, true
}

func (s *Server) handleLDAPCheckAccess(w http.ResponseWriter, r *http.Request) {
	v := s.view.Load()
	u, app, ok := s.checkAccessCommon(w, r, v, "ldap")
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, api.LDAPCheckAccess{
		HasSearchPermission: boolPtr(v.hasSearchPermission(u)),
		Access:              v.checkApplication(app, u),
	})
}

func (s *Server) handleRadiusCheckAccess(w http.ResponseWriter, r *http.Request) {
	v := s.view.Load()
	u, app, ok := s.checkAccessCommon(w, r, v, "radius")
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, api.RadiusCheckAccess{
		Attributes: strPtr(v.radiusAttributes(u)),
		Access:     v.checkApplication(app, u),
	})
}

func (s *Server) handleAppCheckAccess(w http.ResponseWriter, r *http.Request, p principal) {
	v := p.v
	app, ok := v.appBySlug[chi.URLParam(r, "slug")]
	if !ok {
		writeDetail(w, http.StatusNotFound, msgNotFound)
		return
	}
	u := p.user
	if raw := r.URL.Query().Get("for_user"); raw != "" {
		pk, err := strconv.ParseInt(raw, 10, 32)
		if err != nil {
			writeFieldErrors(w, map[string][]string{"for_user": {"A valid integer is required."}})
			return
		}
		fu, found := v.userByPK[int32(pk)]
		if !found {
			writeDetail(w, http.StatusNotFound, msgNotFound)
			return
		}
		u = fu
	} else if sessionU := s.sessionUser(r, v); sessionU != nil {
		u = sessionU
	}
	if u == nil {
		writeFieldErrors(w, map[string][]string{"for_user": {"This field is required."}})
		return
	}
	writeJSON(w, http.StatusOK, v.checkApplication(app, u))
}

// handleOutpostHealth lists the connected instances as authentik's
// OutpostHealthSerializer does, from their last HELLO.
func (s *Server) handleOutpostHealth(w http.ResponseWriter, r *http.Request, p principal) {
	o, ok := p.v.outpostByPK[chi.URLParam(r, "uuid")]
	if !ok || !p.canSeeOutpost(o) {
		writeDetail(w, http.StatusNotFound, msgNotFound)
		return
	}
	str := func(m map[string]any, k string) string {
		v, _ := m[k].(string)
		return v
	}
	out := []api.OutpostHealth{}
	for _, in := range s.hub.instances(o.PK) {
		h := in.Hello
		openssl, _ := h["opensslEnabled"].(bool)
		var fips api.NullableBool
		if f, ok := h["fipsEnabled"].(bool); ok {
			fips.Set(&f)
		} else {
			fips.Set(nil)
		}
		version := str(h, "version")
		out = append(out, api.OutpostHealth{
			Uid:             in.UUID,
			LastSeen:        in.LastSeen,
			Version:         version,
			GolangVersion:   str(h, "golangVersion"),
			OpensslEnabled:  openssl,
			OpensslVersion:  str(h, "opensslVersion"),
			FipsEnabled:     fips,
			VersionShould:   coreVersion,
			VersionOutdated: version != "" && version != coreVersion,
			BuildHash:       str(h, "buildHash"),
			BuildHashShould: "",
			Hostname:        str(h, "hostname"),
		})
	}
	writeJSON(w, http.StatusOK, out)
}

// coreVersion is the authentik version this stand-in imitates.
const coreVersion = "2026.5.3"
