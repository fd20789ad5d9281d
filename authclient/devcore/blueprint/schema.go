package blueprint

import "strings"

// StageKindConsent is the model.Stage Kind of authentik_stages_consent.consentstage.
// It lives here because the model package only lists the stage kinds the
// outposts' flows need; the server may treat a consent stage as a no-op.
const StageKindConsent = "consent"

// Model names, as authentik spells them in blueprints.
const (
	mUser           = "authentik_core.user"
	mGroup          = "authentik_core.group"
	mApplication    = "authentik_core.application"
	mToken          = "authentik_core.token"
	mPolicyBinding  = "authentik_policies.policybinding"
	mFlow           = "authentik_flows.flow"
	mFlowStage      = "authentik_flows.flowstagebinding"
	mIdentification = "authentik_stages_identification.identificationstage"
	mPassword       = "authentik_stages_password.passwordstage"
	mAuthValidate   = "authentik_stages_authenticator_validate.authenticatorvalidatestage"
	mUserLogin      = "authentik_stages_user_login.userloginstage"
	mUserLogout     = "authentik_stages_user_logout.userlogoutstage"
	mConsent        = "authentik_stages_consent.consentstage"
	mTOTPDevice     = "authentik_stages_authenticator_totp.totpdevice"
	mStaticDevice   = "authentik_stages_authenticator_static.staticdevice"
	mLDAPProvider   = "authentik_providers_ldap.ldapprovider"
	mRadiusProvider = "authentik_providers_radius.radiusprovider"
	mProxyProvider  = "authentik_providers_proxy.proxyprovider"
	mRACProvider    = "authentik_providers_rac.racprovider"
	mRACEndpoint    = "authentik_providers_rac.endpoint"
	mCertificate    = "authentik_crypto.certificatekeypair"
	mOutpost        = "authentik_outposts.outpost"
)

func stageModels() []string {
	return []string{mIdentification, mPassword, mAuthValidate, mUserLogin, mUserLogout, mConsent}
}

func providerModels() []string {
	return []string{mLDAPProvider, mRadiusProvider, mProxyProvider, mRACProvider}
}

func policyEngineModes() []string { return []string{"any", "all"} }

// fieldKind says how a blueprint value is checked and converted.
type fieldKind int

const (
	kString    fieldKind = iota // string; numbers are formatted
	kBool                       // bool, or a string DRF accepts as one
	kInt                        // integer, or a string holding one
	kStrings                    // list of strings
	kMap                        // mapping; references become pks
	kAny                        // any value; references become pks
	kRef                        // one reference (nullable)
	kRefs                       // list of references
	kTime                       // timestamp
	kTokenSet                   // static device tokens: list of {token: "..."}
	kEmptyList                  // a relation to models we lack: only [] or null
	kNull                       // a relation we do not support: only null
	kReject                     // any non-null value is an error (msg)
)

// field describes one authentik field of a model.
type field struct {
	kind     fieldKind
	refs     []string // allowed target models of kRef/kRefs
	enum     []string // allowed values of a kString
	def      any      // value when the blueprint does not set it
	required bool
	// cascade: when the referenced object is removed (state: absent), this
	// object goes too, like Django's on_delete=CASCADE. Otherwise a
	// reference to a removed object reads as null.
	cascade bool
	msg     string // error for kReject/kNull/kEmptyList
}

// pkKind is how an object's primary key looks.
type pkKind int

const (
	pkUUID pkKind = iota
	pkInt
)

// modelSpec describes one supported model.
type modelSpec struct {
	name   string
	pk     pkKind
	seq    string // counter of int pks; models sharing one share pk space
	fields map[string]field
	// unique is the field that must be unique within uniqueScope (models
	// sharing a scope, e.g. all stages, share the name space).
	unique      string
	uniqueScope string
}

func str(def string, enum ...string) field { return field{kind: kString, def: def, enum: enum} }
func reqStr() field                        { return field{kind: kString, def: "", required: true} }
func boolean(def bool) field               { return field{kind: kBool, def: def} }
func integer(def int64) field              { return field{kind: kInt, def: def} }
func strs() field                          { return field{kind: kStrings} }
func mapping() field                       { return field{kind: kMap} }
func ref(models ...string) field           { return field{kind: kRef, refs: models} }
func refs(models ...string) field          { return field{kind: kRefs, refs: models} }

func cascadeRef(required bool, models ...string) field {
	return field{kind: kRef, refs: models, cascade: true, required: required}
}

func unsupportedList(what string) field {
	return field{kind: kEmptyList, msg: what + " are not supported by the stand-in core; only an empty list is accepted"}
}

// providerFields are the fields every provider type shares.
func providerFields(extra map[string]field) map[string]field {
	f := map[string]field{
		"name":                reqStr(),
		"authorization_flow":  {kind: kRef, refs: []string{mFlow}, required: true},
		"authentication_flow": ref(mFlow),
		"invalidation_flow":   ref(mFlow),
		"property_mappings":   unsupportedList("property mappings"),
	}
	for k, v := range extra {
		f[k] = v
	}
	return f
}

func stageSpec(name string, extra map[string]field) *modelSpec {
	f := map[string]field{"name": reqStr()}
	for k, v := range extra {
		f[k] = v
	}
	return &modelSpec{name: name, fields: f, unique: "name", uniqueScope: "stage"}
}

// schema returns every supported model by name. It is built per load so no
// mutable state is shared between loads.
func schema() map[string]*modelSpec {
	specs := []*modelSpec{
		{
			name: mUser, pk: pkInt, seq: "user", unique: "username",
			fields: map[string]field{
				"username":   reqStr(),
				"name":       str(""),
				"email":      str(""),
				"password":   str(""),
				"is_active":  boolean(true),
				"path":       str("users"),
				"type":       str("internal", "internal", "external", "service_account", "internal_service_account"),
				"attributes": mapping(),
				"groups":     refs(mGroup),
			},
		},
		{
			name: mGroup, unique: "name",
			fields: map[string]field{
				"name":         reqStr(),
				"is_superuser": boolean(false),
				"parent":       ref(mGroup),
				"parents":      refs(mGroup),
				"attributes":   mapping(),
				"users":        refs(mUser),
			},
		},
		{
			name: mApplication, unique: "slug",
			fields: map[string]field{
				"slug":                  reqStr(),
				"name":                  str(""),
				"provider":              ref(providerModels()...),
				"backchannel_providers": refs(providerModels()...),
				"meta_launch_url":       str(""),
				"policy_engine_mode":    str("any", policyEngineModes()...),
				"group":                 str(""),
				"meta_icon":             str(""),
				"meta_description":      str(""),
				"meta_publisher":        str(""),
				"open_in_new_tab":       boolean(false),
			},
		},
		{
			name: mToken, unique: "identifier",
			fields: map[string]field{
				"identifier":  reqStr(),
				"key":         str(""),
				"intent":      str("verification", "verification", "api", "recovery", "app_password"),
				"user":        cascadeRef(false, mUser), // required unless it is an outpost's token
				"description": str(""),
				"expiring":    boolean(true),
				"expires":     {kind: kTime},
			},
		},
		{
			name: mPolicyBinding,
			fields: map[string]field{
				"target":         cascadeRef(true, mApplication, mFlow, mFlowStage),
				"group":          cascadeRef(false, mGroup),
				"user":           cascadeRef(false, mUser),
				"negate":         boolean(false),
				"enabled":        boolean(true),
				"order":          integer(0),
				"timeout":        integer(30),
				"failure_result": boolean(false),
				"policy":         {kind: kReject, msg: "policy bindings with a policy are not supported by the stand-in core"},
			},
		},
		{
			name: mFlow, unique: "slug",
			fields: map[string]field{
				"slug":  reqStr(),
				"name":  str(""),
				"title": str(""),
				"designation": {kind: kString, required: true, enum: []string{
					"authentication", "authorization", "invalidation", "enrollment",
					"unenrollment", "recovery", "stage_configuration",
				}},
				"authentication": str("none", "none", "require_authenticated", "require_unauthenticated",
					"require_superuser", "require_redirect", "require_outpost"),
				"layout":             str("stacked", "stacked", "content_left", "content_right", "sidebar_left", "sidebar_right"),
				"background":         str(""),
				"policy_engine_mode": str("any", policyEngineModes()...),
				"compatibility_mode": boolean(false),
				"denied_action":      str("message_continue", "message_continue", "message", "continue"),
			},
		},
		{
			name: mFlowStage,
			fields: map[string]field{
				"target":                  cascadeRef(true, mFlow),
				"stage":                   cascadeRef(true, stageModels()...),
				"order":                   integer(0),
				"evaluate_on_plan":        boolean(false),
				"re_evaluate_policies":    boolean(true),
				"policy_engine_mode":      str("any", policyEngineModes()...),
				"invalid_response_action": str("retry", "retry", "restart", "restart_with_context"),
			},
		},
		stageSpec(mIdentification, map[string]field{
			"user_fields":               {kind: kStrings, enum: []string{"username", "email", "upn"}},
			"password_stage":            ref(mPassword),
			"case_insensitive_matching": boolean(true),
			"show_matched_user":         boolean(true),
			"sources":                   unsupportedList("sources"),
			"pretend_user_exists":       boolean(true),
			"enrollment_flow":           ref(mFlow),
			"recovery_flow":             ref(mFlow),
			"passwordless_flow":         ref(mFlow),
		}),
		stageSpec(mPassword, map[string]field{
			"backends":                      strs(),
			"configure_flow":                ref(mFlow),
			"failed_attempts_before_cancel": integer(5),
			"allow_show_password":           boolean(false),
		}),
		stageSpec(mAuthValidate, map[string]field{
			"device_classes": {kind: kStrings, enum: []string{
				"static", "totp", "webauthn", "duo", "sms", "email", "mobile",
			}},
			"not_configured_action":      str("skip", "skip", "deny", "configure"),
			"last_auth_threshold":        str("seconds=0"),
			"configuration_stages":       refs(stageModels()...),
			"webauthn_user_verification": str("preferred", "required", "preferred", "discouraged"),
		}),
		stageSpec(mUserLogin, map[string]field{
			"session_duration":         str("seconds=0"),
			"remember_me_offset":       str("seconds=0"),
			"terminate_other_sessions": boolean(false),
		}),
		stageSpec(mUserLogout, nil),
		stageSpec(mConsent, map[string]field{
			"mode":              str("always_require", "always_require", "permanent", "expiring"),
			"consent_expire_in": str("weeks=4"),
		}),
		{
			name: mTOTPDevice, pk: pkInt, seq: "totp",
			fields: map[string]field{
				"user":      cascadeRef(true, mUser),
				"name":      str(""),
				"key":       reqStr(),
				"digits":    integer(6),
				"step":      integer(30),
				"confirmed": boolean(true),
			},
		},
		{
			name: mStaticDevice, pk: pkInt, seq: "static",
			fields: map[string]field{
				"user":      cascadeRef(true, mUser),
				"name":      str(""),
				"confirmed": boolean(true),
				"token_set": {kind: kTokenSet},
				"tokens":    strs(),
			},
		},
		{
			name: mLDAPProvider, pk: pkInt, seq: "provider", unique: "name", uniqueScope: "provider",
			fields: providerFields(map[string]field{
				"base_dn":          str("DC=ldap,DC=goauthentik,DC=io"),
				"certificate":      ref(mCertificate),
				"tls_server_name":  str(""),
				"uid_start_number": integer(2000),
				"gid_start_number": integer(4000),
				"search_mode":      str("direct", "direct", "cached"),
				"bind_mode":        str("direct", "direct", "cached"),
				"mfa_support":      boolean(true),
			}),
		},
		{
			name: mRadiusProvider, pk: pkInt, seq: "provider", unique: "name", uniqueScope: "provider",
			fields: providerFields(map[string]field{
				"client_networks": str("0.0.0.0/0, ::/0"),
				"shared_secret":   str(""),
				"mfa_support":     boolean(true),
				"certificate":     ref(mCertificate),
			}),
		},
		{
			name: mProxyProvider, pk: pkInt, seq: "provider", unique: "name", uniqueScope: "provider",
			fields: providerFields(map[string]field{
				"internal_host":                 str(""),
				"external_host":                 reqStr(),
				"internal_host_ssl_validation":  boolean(true),
				"client_id":                     str(""),
				"client_secret":                 str(""),
				"mode":                          str("proxy", "proxy", "forward_single", "forward_domain"),
				"cookie_domain":                 str(""),
				"skip_path_regex":               str(""),
				"basic_auth_enabled":            boolean(false),
				"basic_auth_user_attribute":     str(""),
				"basic_auth_password_attribute": str(""),
				"intercept_header_auth":         boolean(true),
				"access_token_validity":         str("hours=24"),
				"certificate":                   ref(mCertificate),
				"signing_key":                   ref(mCertificate),
			}),
		},
		{
			name: mRACProvider, pk: pkInt, seq: "provider", unique: "name", uniqueScope: "provider",
			fields: providerFields(map[string]field{
				"settings":          mapping(),
				"connection_expiry": str("hours=8"),
			}),
		},
		{
			name: mRACEndpoint, unique: "name",
			fields: map[string]field{
				"name":                reqStr(),
				"provider":            cascadeRef(true, mRACProvider),
				"protocol":            {kind: kString, required: true, enum: []string{"rdp", "vnc", "ssh"}},
				"host":                reqStr(),
				"settings":            mapping(),
				"auth_mode":           str("prompt", "static", "prompt"),
				"maximum_connections": integer(1),
			},
		},
		{
			name: mCertificate, unique: "name",
			fields: map[string]field{
				"name":             reqStr(),
				"certificate_data": str(""),
				"key_data":         str(""),
			},
		},
		{
			name: mOutpost, unique: "name",
			fields: map[string]field{
				"name":               reqStr(),
				"type":               {kind: kString, required: true, enum: []string{"ldap", "proxy", "radius", "rac"}},
				"providers":          refs(providerModels()...),
				"config":             mapping(),
				"service_connection": {kind: kNull, msg: "outpost service connections are not supported by the stand-in core; leave service_connection unset"},
				"managed":            str(""),
			},
		},
	}
	out := make(map[string]*modelSpec, len(specs))
	for _, s := range specs {
		if s.uniqueScope == "" {
			s.uniqueScope = s.name
		}
		out[s.name] = s
	}
	return out
}

// lookupModel finds a model by name; Django matches model names without
// regard to case, so blueprints may write e.g. authentik_core.User.
func lookupModel(specs map[string]*modelSpec, name string) (*modelSpec, bool) {
	app, model, ok := strings.Cut(name, ".")
	if !ok {
		return nil, false
	}
	s, ok := specs[app+"."+strings.ToLower(model)]
	return s, ok
}
