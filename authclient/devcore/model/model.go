// Package model holds the objects the stand-in core serves: what a set of
// authentik blueprints describes once every tag and reference is resolved.
//
// The blueprint loader fills a Directory; the devcore server only reads it.
// A Directory is never mutated after loading: a reload builds a new one and
// swaps it in, so handlers can read it without locks.
package model

import "time"

// Directory is every object loaded from the blueprints.
type Directory struct {
	Users           []*User
	Groups          []*Group
	Applications    []*Application
	Tokens          []*Token
	Flows           []*Flow
	Stages          []*Stage
	PolicyBindings  []*PolicyBinding
	TOTPDevices     []*TOTPDevice
	StaticDevices   []*StaticDevice
	LDAPProviders   []*LDAPProvider
	RadiusProviders []*RadiusProvider
	ProxyProviders  []*ProxyProvider
	RACProviders    []*RACProvider
	RACEndpoints    []*RACEndpoint
	Certificates    []*Certificate
	Outposts        []*Outpost
}

// User is authentik_core.user.
type User struct {
	PK       int32
	UUID     string
	Username string
	Name     string
	Email    string
	// PasswordHash is a salted hash of the blueprint's password; empty means
	// the user has no usable password. Plain passwords are never kept.
	PasswordHash string
	IsActive     bool
	IsSuperuser  bool // derived: member of a superuser group
	Path         string
	// Type is authentik's user type: internal, external, service_account,
	// internal_service_account.
	Type        string
	Attributes  map[string]any
	DateJoined  time.Time
	LastUpdated time.Time
	// Groups are the pks of the groups the user is a direct member of.
	Groups []string
}

// Group is authentik_core.group.
type Group struct {
	PK          string // uuid
	NumPK       int32
	Name        string
	IsSuperuser bool
	Parents     []string // pks of parent groups
	Attributes  map[string]any
	Users       []int32 // pks of direct members
}

// Application is authentik_core.application.
type Application struct {
	PK                   string // uuid
	Slug                 string
	Name                 string
	Provider             int32 // 0 when none
	BackchannelProviders []int32
	MetaLaunchURL        string
	// PolicyEngineMode is "any" or "all" (authentik's default is "any").
	PolicyEngineMode string
}

// Token is authentik_core.token.
type Token struct {
	Identifier  string
	Key         string
	Intent      string // api, app_password, recovery, verification
	User        int32
	Description string
	Expiring    bool
	Expires     time.Time
}

// Flow is authentik_flows.flow with its stage bindings.
type Flow struct {
	PK          string // uuid
	Slug        string
	Name        string
	Title       string
	Designation string // authentication, invalidation, authorization, ...
	// Authentication is the flow's authentication requirement, e.g. none,
	// require_authenticated, require_outpost.
	Authentication string
	Bindings       []FlowStageBinding // sorted by Order
}

// FlowStageBinding is authentik_flows.flowstagebinding.
type FlowStageBinding struct {
	PK    string
	Stage string // stage pk
	Order int
}

// Stage kinds, one per supported stage model.
const (
	StageIdentification        = "identification"         // authentik_stages_identification.identificationstage
	StagePassword              = "password"               // authentik_stages_password.passwordstage
	StageAuthenticatorValidate = "authenticator_validate" // authentik_stages_authenticator_validate.authenticatorvalidatestage
	StageUserLogin             = "user_login"             // authentik_stages_user_login.userloginstage
	StageUserLogout            = "user_logout"            // authentik_stages_user_logout.userlogoutstage
)

// Stage is one of the supported stage models.
type Stage struct {
	PK   string // uuid
	Name string
	Kind string // one of the Stage* constants

	// Identification.
	UserFields []string // username, email, upn
	// PasswordStage is the pk of a password stage embedded in the
	// identification stage (authentik's password_fields); empty means the
	// flow has a separate password stage.
	PasswordStage string

	// AuthenticatorValidate.
	DeviceClasses       []string // static, totp, webauthn, duo, ...
	NotConfiguredAction string   // skip, deny, configure

	// UserLogin.
	SessionDuration string
}

// PolicyBinding is authentik_policies.policybinding. Only user and group
// bindings are supported; a binding with neither is rejected by the loader.
type PolicyBinding struct {
	PK      string
	Target  string // pk of the bound object (an application's pk)
	Group   string // group pk, or ""
	User    int32  // user pk, or 0
	Negate  bool
	Enabled bool
	Order   int
}

// TOTPDevice is authentik_stages_authenticator_totp.totpdevice.
type TOTPDevice struct {
	PK        int32
	User      int32
	Name      string
	Key       string // hex-encoded secret, as django-otp stores it
	Digits    int    // 6 or 8
	Step      int    // seconds, 30 by default
	Confirmed bool
}

// StaticDevice is authentik_stages_authenticator_static.staticdevice.
type StaticDevice struct {
	PK        int32
	User      int32
	Name      string
	Tokens    []string
	Confirmed bool
}

// Provider holds the fields every provider type shares.
type Provider struct {
	PK                 int32
	Name               string
	AuthenticationFlow string // flow pk, or ""
	AuthorizationFlow  string // flow pk; the bind/auth flow for LDAP and RADIUS
	InvalidationFlow   string // flow pk, or ""
}

// LDAPProvider is authentik_providers_ldap.ldapprovider.
type LDAPProvider struct {
	Provider
	BaseDN         string
	Certificate    string // certificate pk, or ""
	TLSServerName  string
	UIDStartNumber int32
	GIDStartNumber int32
	SearchMode     string // direct, cached
	BindMode       string // direct, cached
	MFASupport     bool
}

// RadiusProvider is authentik_providers_radius.radiusprovider.
type RadiusProvider struct {
	Provider
	ClientNetworks string
	SharedSecret   string
	MFASupport     bool
	Certificate    string
}

// ProxyProvider is authentik_providers_proxy.proxyprovider.
type ProxyProvider struct {
	Provider
	InternalHost               string
	ExternalHost               string
	InternalHostSSLValidation  bool
	ClientID                   string
	ClientSecret               string
	Mode                       string // proxy, forward_single, forward_domain
	CookieDomain               string
	SkipPathRegex              string
	BasicAuthEnabled           bool
	BasicAuthUserAttribute     string
	BasicAuthPasswordAttribute string
	InterceptHeaderAuth        bool
	AccessTokenValidity        string // authentik timedelta string, e.g. "hours=24"
	Certificate                string
	SigningKey                 string // certificate pk used to sign tokens, or ""
	CookieSecret               string
}

// RACProvider is authentik_providers_rac.racprovider.
type RACProvider struct {
	Provider
	Settings         map[string]any
	ConnectionExpiry string
}

// RACEndpoint is authentik_providers_rac.endpoint.
type RACEndpoint struct {
	PK                 string
	Name               string
	Provider           int32
	Protocol           string // rdp, vnc, ssh
	Host               string
	Settings           map[string]any
	AuthMode           string // static, prompt
	MaximumConnections int
}

// Certificate is authentik_crypto.certificatekeypair.
type Certificate struct {
	PK              string
	Name            string
	CertificateData string // PEM, full chain
	KeyData         string // PEM, or "" for a certificate without key
}

// Outpost is authentik_outposts.outpost.
type Outpost struct {
	PK        string
	Name      string
	Type      string  // ldap, proxy, radius, rac
	Providers []int32 // provider pks
	Config    map[string]any
	// ServiceAccount is the pk of the outpost's internal service account
	// user, which owns its API token.
	ServiceAccount int32
	// Token is the outpost's API token key (intent api).
	Token string
}
