// Package blueprint loads authentik blueprints into the stand-in core's
// model.Directory.
//
// The stand-in core (devcore) reads the same YAML that authentik applies
// (https://docs.goauthentik.io/customize/blueprints/), so a test or demo
// setup can later be applied to a real authentik unchanged. Only the subset
// of models and tags listed below is supported, and anything outside it is
// an error: the loader never ignores what it does not understand.
//
// # Loading
//
// Load reads the embedded default flows (Defaults), then every *.yaml and
// *.yml file under a directory, recursively, sorted by path. LoadFiles does
// the same with files given in memory; tests use it with inline YAML:
//
//	dir, err := blueprint.LoadFiles(blueprint.Options{}, blueprint.Demo())
//
// Demo is an embedded blueprint with users, groups and one provider,
// application and outpost of each type; its comments list every credential.
// Options.SkipDefaults leaves the default flows out.
//
// Files are applied in order, entries within a file in order, each against
// everything applied before, as authentik applies blueprint instances. A
// later entry whose identifiers match an existing object of the same model
// (every identifier equal to the object's current field value) updates that
// object, so later files override earlier ones.
//
// # Format
//
// A file is one YAML document:
//
//	version: 1                  # required, only 1
//	metadata: {name: ..., labels: {...}}
//	context: {key: value}       # values for !Context; Options.Context overrides
//	entries:
//	  - model: authentik_core.user
//	    id: alice               # optional, for !KeyOf within this file
//	    state: present          # present | created | must_created | absent
//	    conditions: [...]       # optional; all must be truthy or the entry is skipped
//	    identifiers: {username: alice}
//	    attrs: {password: alice-password}
//
// States: present creates or updates; created creates only when nothing
// matches (an existing object is left alone); must_created fails when
// something matches; absent removes a matching object. Removing an object
// removes the objects that depend on it (a token's user, a binding's target,
// stage or group, a device's user, an endpoint's provider), drops it from
// membership lists and clears other references to it, as the database's
// on_delete rules do in authentik.
//
// YAML anchors, aliases and merge keys (<<) work as usual. A file whose
// metadata.labels has blueprints.goauthentik.io/instantiate: "false" (an
// example or template, which authentik does not apply by itself) is checked
// up to its entries, which are then skipped.
//
// # Tags
//
//	!KeyOf id                   pk of the object of the entry with that id (same file, earlier entry)
//	!Find [model, [field, value], ...]
//	                            pk of the first object of model whose fields equal the values
//	                            (field may also be pk); searches every file loaded so far
//	!Env NAME                   environment variable (Options.Getenv); an unset or empty
//	!Env [NAME, default]        variable without a default is an error
//	!Context key                context value; an unknown key without a default is an error
//	!Context [key, default]
//	!Format [fmt, args...]      Python %-formatting with %s, %d, %i and %%
//
// Any other tag (authentik's !If, !Condition, !Enumerate, ...) is an error.
//
// # Models
//
// Field names are authentik's. References (to a flow, user, provider, ...)
// take !KeyOf, !Find or a literal pk of an existing object of the right
// model. Fields that model.Directory has no place for (an application's
// meta_icon, a flow's layout, ...) are checked and accepted so authentik
// blueprints load, but are not served.
//
//	authentik_core.user                username, name, email, password, is_active, path, type,
//	                                   attributes, groups
//	authentik_core.group               name, is_superuser, parent, parents, attributes, users
//	authentik_core.application         slug, name, provider, backchannel_providers,
//	                                   meta_launch_url, policy_engine_mode, group, meta_icon,
//	                                   meta_description, meta_publisher, open_in_new_tab
//	authentik_core.token               identifier, key, intent, user, description, expiring, expires
//	authentik_policies.policybinding   target, group, user, negate, enabled, order, timeout,
//	                                   failure_result (exactly one of group or user; no policy)
//	authentik_flows.flow               slug, name, title, designation, authentication, layout,
//	                                   background, policy_engine_mode, compatibility_mode,
//	                                   denied_action
//	authentik_flows.flowstagebinding   target, stage, order, evaluate_on_plan,
//	                                   re_evaluate_policies, policy_engine_mode,
//	                                   invalid_response_action
//	authentik_stages_identification.identificationstage
//	authentik_stages_password.passwordstage
//	authentik_stages_authenticator_validate.authenticatorvalidatestage
//	authentik_stages_user_login.userloginstage
//	authentik_stages_user_logout.userlogoutstage
//	authentik_stages_consent.consentstage        (Stage.Kind StageKindConsent)
//	authentik_stages_authenticator_totp.totpdevice     user, name, key (hex), digits, step, confirmed
//	authentik_stages_authenticator_static.staticdevice user, name, confirmed,
//	                                   token_set ([{token: ...}]) and/or tokens ([...])
//	authentik_providers_ldap.ldapprovider
//	authentik_providers_radius.radiusprovider
//	authentik_providers_proxy.proxyprovider
//	authentik_providers_rac.racprovider
//	authentik_providers_rac.endpoint
//	authentik_crypto.certificatekeypair  name, certificate_data, key_data
//	authentik_outposts.outpost         name, type, providers, config, service_connection (null), managed
//
// Model names match without regard to case after the app label, as in
// Django. Property mappings and identification sources are not supported:
// only empty lists are accepted for them.
//
// # Derived values
//
//   - pks: uuid objects get a uuid v5 of their model and the identifiers
//     that created them, so reloads keep them; users, providers (one shared
//     sequence, as in authentik) and devices get integers in definition
//     order. Group.NumPK counts groups the same way.
//   - Passwords are hashed at load (model.HashPassword) and never kept.
//   - User.Groups and Group.Users merge both sides of the membership;
//     User.IsSuperuser is membership, directly or through parent groups, of a
//     group with is_superuser. Parent cycles are an error.
//   - Each outpost gets an internal_service_account user named
//     "ak-outpost-<outpost pk without dashes>" (authentik's naming). A token
//     entry with identifier "ak-outpost-<outpost name>-api" becomes the
//     outpost's token (user forced to the service account, intent api, not
//     expiring) and Outpost.Token is its key; otherwise Outpost.Token is ""
//     and the server makes one.
//   - Outpost config defaults: authentik_host "", authentik_host_insecure
//     false, authentik_host_browser "", log_level "info",
//     object_naming_template "ak-outpost-%(name)s", refresh_interval
//     "minutes=5"; the blueprint's config overrides them key by key.
//   - Proxy providers get a client_id, client_secret (when not set) and
//     cookie secret derived from their pk; tokens without a key get one the
//     same way. Derived secrets are stable across reloads and not secret
//     from anyone who has the blueprint: pin keys for anything reachable
//     beyond loopback.
//   - A certificate pair without certificate_data and key_data gets a fresh
//     self-signed ECDSA P-256 certificate for CN=name, valid for the name,
//     localhost and 127.0.0.1.
//   - Tokens with expiring true (authentik's default) and no expires
//     expire 30 minutes after Options.Now.
//
// # LDAP search permission
//
// authentik grants LDAP search through the "Search full LDAP directory"
// permission, which blueprints cannot express in the stand-in core. The
// convention instead: members (directly or through parent groups) of a group
// whose attributes hold goauthentik.io/ldap/search-full-directory: true,
// and superusers, may search the whole directory; the devcore server
// implements it.
//
// # Errors
//
// Every problem is an *Error naming the file and line of the node that
// caused it: YAML syntax, an unknown model (at the model: value), an unknown
// field (at the key), an unknown tag, a value of the wrong type, an
// unresolvable !KeyOf, !Find, !Env or !Context, a duplicate id, a bad state,
// a version other than 1, a missing required field (at the entry), a
// duplicate name, slug or username, and a reference to the wrong model.
package blueprint
