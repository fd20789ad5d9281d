package blueprint

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/outpost-go/outposts/authclient/devcore/model"
)

var testNow = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func testOptions(env map[string]string) Options {
	return Options{
		Getenv: func(k string) string { return env[k] },
		Now:    func() time.Time { return testNow },
	}
}

// loadYAML loads the defaults and one inline blueprint named test.yaml.
func loadYAML(t *testing.T, opts Options, text string) (*model.Directory, error) {
	t.Helper()
	return LoadFiles(opts, File{Name: "test.yaml", Data: []byte(text)})
}

func mustLoad(t *testing.T, text string) *model.Directory {
	t.Helper()
	d, err := loadYAML(t, testOptions(nil), text)
	require.NoError(t, err)
	return d
}

func userByName(d *model.Directory, name string) *model.User {
	for _, u := range d.Users {
		if u.Username == name {
			return u
		}
	}
	return nil
}

func groupByName(d *model.Directory, name string) *model.Group {
	for _, g := range d.Groups {
		if g.Name == name {
			return g
		}
	}
	return nil
}

func flowBySlug(d *model.Directory, slug string) *model.Flow {
	for _, f := range d.Flows {
		if f.Slug == slug {
			return f
		}
	}
	return nil
}

func stageByPK(d *model.Directory, pk string) *model.Stage {
	for _, s := range d.Stages {
		if s.PK == pk {
			return s
		}
	}
	return nil
}

// allGroups returns the pks of the user's groups and their ancestors.
func allGroups(d *model.Directory, u *model.User) []string {
	byPK := map[string]*model.Group{}
	for _, g := range d.Groups {
		byPK[g.PK] = g
	}
	var out []string
	queue := slices.Clone(u.Groups)
	for len(queue) > 0 {
		pk := queue[0]
		queue = queue[1:]
		if slices.Contains(out, pk) {
			continue
		}
		out = append(out, pk)
		queue = append(queue, byPK[pk].Parents...)
	}
	return out
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	d, err := LoadFiles(testOptions(nil))
	require.NoError(t, err)

	slugs := []string{}
	for _, f := range d.Flows {
		slugs = append(slugs, f.Slug)
	}
	assert.ElementsMatch(t, []string{
		"default-authentication-flow", "default-invalidation-flow",
		"default-provider-authorization-implicit-consent", "default-provider-authorization-explicit-consent",
		"default-provider-invalidation-flow",
	}, slugs)

	auth := flowBySlug(d, "default-authentication-flow")
	require.NotNil(t, auth)
	assert.Equal(t, "authentication", auth.Designation)
	var kinds []string
	for _, b := range auth.Bindings {
		kinds = append(kinds, stageByPK(d, b.Stage).Kind)
	}
	assert.Equal(t, []string{model.StageIdentification, model.StagePassword, model.StageAuthenticatorValidate, model.StageUserLogin}, kinds)
	ident := stageByPK(d, auth.Bindings[0].Stage)
	assert.Equal(t, []string{"username", "email"}, ident.UserFields)
	assert.Empty(t, ident.PasswordStage, "the default flow has a separate password stage")
	validate := stageByPK(d, auth.Bindings[2].Stage)
	assert.Equal(t, []string{"static", "totp", "webauthn", "duo"}, validate.DeviceClasses)
	assert.Equal(t, "skip", validate.NotConfiguredAction)

	inv := flowBySlug(d, "default-invalidation-flow")
	require.Len(t, inv.Bindings, 1)
	assert.Equal(t, model.StageUserLogout, stageByPK(d, inv.Bindings[0].Stage).Kind)
	assert.Equal(t, "invalidation", inv.Designation)
	assert.Equal(t, "authorization", flowBySlug(d, "default-provider-authorization-implicit-consent").Designation)
	explicit := flowBySlug(d, "default-provider-authorization-explicit-consent")
	assert.Equal(t, "authorization", explicit.Designation)
	require.Len(t, explicit.Bindings, 1)
	assert.Equal(t, StageKindConsent, stageByPK(d, explicit.Bindings[0].Stage).Kind)
	assert.Equal(t, "invalidation", flowBySlug(d, "default-provider-invalidation-flow").Designation)
	assert.Empty(t, d.Users)

	// SkipDefaults leaves them out.
	d, err = LoadFiles(Options{SkipDefaults: true})
	require.NoError(t, err)
	assert.Empty(t, d.Flows)
}

func TestDemo(t *testing.T) {
	t.Parallel()
	d, err := LoadFiles(testOptions(nil), Demo())
	require.NoError(t, err)

	for _, name := range []string{"akadmin", "alice", "bob", "carol", "dave", "eve", "frank"} {
		u := userByName(d, name)
		require.NotNil(t, u, name)
		assert.True(t, u.CheckPassword(name+"-password"), name)
		assert.False(t, u.CheckPassword("wrong"), name)
		assert.Equal(t, "internal", u.Type)
		assert.Equal(t, name == "akadmin", u.IsSuperuser, name)
		assert.Equal(t, name != "dave", u.IsActive, name)
	}

	carol := userByName(d, "carol")
	require.Len(t, d.TOTPDevices, 1)
	assert.Equal(t, carol.PK, d.TOTPDevices[0].User)
	assert.Equal(t, "3132333435363738393031323334353637383930", d.TOTPDevices[0].Key)
	assert.True(t, d.TOTPDevices[0].Confirmed)
	require.Len(t, d.StaticDevices, 1)
	assert.Equal(t, userByName(d, "frank").PK, d.StaticDevices[0].User)
	assert.Equal(t, []string{"frank-static-1", "frank-static-2"}, d.StaticDevices[0].Tokens)

	eng, backend := groupByName(d, "engineering"), groupByName(d, "backend")
	require.NotNil(t, eng)
	require.NotNil(t, backend)
	assert.Equal(t, []string{eng.PK}, backend.Parents)
	assert.Equal(t, []string{eng.PK}, groupByName(d, "frontend").Parents)
	assert.ElementsMatch(t, []int32{userByName(d, "bob").PK, carol.PK}, backend.Users)
	assert.Contains(t, carol.Groups, backend.PK, "membership written on the group side shows on the user")
	assert.Equal(t, true, groupByName(d, "ldap-searchers").Attributes["goauthentik.io/ldap/search-full-directory"])
	assert.Contains(t, userByName(d, "alice").Groups, groupByName(d, "ldap-searchers").PK)
	assert.True(t, groupByName(d, "authentik Admins").IsSuperuser)

	require.Len(t, d.LDAPProviders, 1)
	assert.Equal(t, "dc=ldap,dc=goauthentik,dc=io", d.LDAPProviders[0].BaseDN)
	assert.Equal(t, flowBySlug(d, "default-authentication-flow").PK, d.LDAPProviders[0].AuthorizationFlow)
	assert.Equal(t, flowBySlug(d, "default-invalidation-flow").PK, d.LDAPProviders[0].InvalidationFlow)
	require.Len(t, d.RadiusProviders, 1)
	assert.Equal(t, "demo-radius-secret", d.RadiusProviders[0].SharedSecret)
	require.Len(t, d.ProxyProviders, 1)
	assert.Equal(t, "http://app.localhost:9080", d.ProxyProviders[0].ExternalHost)
	assert.Equal(t, "http://127.0.0.1:9081", d.ProxyProviders[0].InternalHost)
	assert.Equal(t, "proxy", d.ProxyProviders[0].Mode)
	assert.Len(t, d.ProxyProviders[0].ClientID, 40)
	assert.NotEmpty(t, d.ProxyProviders[0].CookieSecret)
	require.Len(t, d.RACProviders, 1)
	require.Len(t, d.RACEndpoints, 1)
	assert.Equal(t, "ssh", d.RACEndpoints[0].Protocol)
	assert.Equal(t, "127.0.0.1:22", d.RACEndpoints[0].Host)
	assert.Equal(t, d.RACProviders[0].PK, d.RACEndpoints[0].Provider)

	// Every application is guarded by group bindings, none of them eve's.
	eve := userByName(d, "eve")
	require.Len(t, d.Applications, 4)
	for _, a := range d.Applications {
		assert.NotZero(t, a.Provider, a.Slug)
		var bound []string
		for _, pb := range d.PolicyBindings {
			if pb.Target == a.PK {
				bound = append(bound, pb.Group)
			}
		}
		require.NotEmpty(t, bound, a.Slug)
		for _, g := range allGroups(d, eve) {
			assert.NotContains(t, bound, g, "eve must be denied %s", a.Slug)
		}
		for _, name := range []string{"akadmin", "alice", "bob", "carol", "frank"} {
			ok := false
			for _, g := range allGroups(d, userByName(d, name)) {
				ok = ok || slices.Contains(bound, g)
			}
			assert.True(t, ok, "%s must be allowed %s", name, a.Slug)
		}
	}

	require.Len(t, d.Outposts, 4)
	for _, op := range d.Outposts {
		assert.Equal(t, op.Type+"-outpost", op.Name)
		assert.Equal(t, "demo-"+op.Type+"-outpost-token", op.Token)
		assert.Equal(t, "http://127.0.0.1:9000/", op.Config["authentik_host"])
		require.Len(t, op.Providers, 1)
		var sa *model.User
		for _, u := range d.Users {
			if u.PK == op.ServiceAccount {
				sa = u
			}
		}
		require.NotNil(t, sa)
		assert.Equal(t, "internal_service_account", sa.Type)
		assert.Equal(t, "ak-outpost-"+strings.ReplaceAll(op.PK, "-", ""), sa.Username)
		var tok *model.Token
		for _, tk := range d.Tokens {
			if tk.Identifier == "ak-outpost-"+op.Name+"-api" {
				tok = tk
			}
		}
		require.NotNil(t, tok)
		assert.Equal(t, sa.PK, tok.User)
		assert.Equal(t, "api", tok.Intent)
		assert.False(t, tok.Expiring)
	}
}

func TestDemoEnv(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"DEMO_RADIUS_SECRET":       "s3cret",
		"DEMO_PROXY_EXTERNAL_HOST": "http://ext.test:1",
		"DEMO_PROXY_INTERNAL_HOST": "http://int.test:2",
		"DEMO_LDAP_TOKEN":          "ldap-tok",
		"AUTHENTIK_HOST":           "http://core.test/",
	}
	d, err := LoadFiles(testOptions(env), Demo())
	require.NoError(t, err)
	assert.Equal(t, "s3cret", d.RadiusProviders[0].SharedSecret)
	assert.Equal(t, "http://ext.test:1", d.ProxyProviders[0].ExternalHost)
	assert.Equal(t, "http://int.test:2", d.ProxyProviders[0].InternalHost)
	for _, op := range d.Outposts {
		assert.Equal(t, "http://core.test/", op.Config["authentik_host"])
		if op.Type == "ldap" {
			assert.Equal(t, "ldap-tok", op.Token)
		}
	}
}

func TestStableAcrossLoads(t *testing.T) {
	t.Parallel()
	a, err := LoadFiles(testOptions(nil), Demo())
	require.NoError(t, err)
	b, err := LoadFiles(testOptions(nil), Demo())
	require.NoError(t, err)
	for i := range a.Users {
		assert.Equal(t, a.Users[i].PK, b.Users[i].PK)
		assert.Equal(t, a.Users[i].UUID, b.Users[i].UUID)
		assert.Equal(t, a.Users[i].Username, b.Users[i].Username)
	}
	for i := range a.Flows {
		assert.Equal(t, a.Flows[i].PK, b.Flows[i].PK)
	}
	for i := range a.Outposts {
		assert.Equal(t, a.Outposts[i].PK, b.Outposts[i].PK)
	}
	assert.Equal(t, a.ProxyProviders[0].ClientID, b.ProxyProviders[0].ClientID)
	assert.Equal(t, a.ProxyProviders[0].ClientSecret, b.ProxyProviders[0].ClientSecret)
	assert.Equal(t, a.ProxyProviders[0].CookieSecret, b.ProxyProviders[0].CookieSecret)
}

const header = "version: 1\nentries:\n"

func TestTags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		opts  Options
		yaml  string
		check func(t *testing.T, d *model.Directory)
	}{
		{
			name: "Env set",
			opts: testOptions(map[string]string{"NAME": "from env"}),
			yaml: header + "- {model: authentik_core.user, identifiers: {username: u}, attrs: {name: !Env NAME}}\n",
			check: func(t *testing.T, d *model.Directory) {
				assert.Equal(t, "from env", userByName(d, "u").Name)
			},
		},
		{
			name: "Env default",
			opts: testOptions(nil),
			yaml: header + "- {model: authentik_core.user, identifiers: {username: u}, attrs: {name: !Env [NAME, fallback]}}\n",
			check: func(t *testing.T, d *model.Directory) {
				assert.Equal(t, "fallback", userByName(d, "u").Name)
			},
		},
		{
			name: "Env into a boolean field",
			opts: testOptions(map[string]string{"ACTIVE": "false"}),
			yaml: header + "- {model: authentik_core.user, identifiers: {username: u}, attrs: {is_active: !Env ACTIVE}}\n",
			check: func(t *testing.T, d *model.Directory) {
				assert.False(t, userByName(d, "u").IsActive)
			},
		},
		{
			name: "Context from file",
			opts: testOptions(nil),
			yaml: "version: 1\ncontext: {who: Ann}\nentries:\n- {model: authentik_core.user, identifiers: {username: u}, attrs: {name: !Context who}}\n",
			check: func(t *testing.T, d *model.Directory) {
				assert.Equal(t, "Ann", userByName(d, "u").Name)
			},
		},
		{
			name: "Context overridden by options",
			opts: func() Options { o := testOptions(nil); o.Context = map[string]any{"who": "Bea"}; return o }(),
			yaml: "version: 1\ncontext: {who: Ann}\nentries:\n- {model: authentik_core.user, identifiers: {username: u}, attrs: {name: !Context who}}\n",
			check: func(t *testing.T, d *model.Directory) {
				assert.Equal(t, "Bea", userByName(d, "u").Name)
			},
		},
		{
			name: "Context default and built-in key",
			opts: testOptions(nil),
			yaml: header + "- {model: authentik_core.user, identifiers: {username: u}, attrs: {name: !Context [missing, dflt], is_active: !Context goauthentik.io/enterprise/licensed}}\n",
			check: func(t *testing.T, d *model.Directory) {
				assert.Equal(t, "dflt", userByName(d, "u").Name)
				assert.False(t, userByName(d, "u").IsActive)
			},
		},
		{
			name: "Context with Go values from options",
			opts: func() Options {
				o := testOptions(nil)
				o.Context = map[string]any{"n": 7, "on": "yes", "names": []string{"a", "b"}}
				return o
			}(),
			yaml: header + "- {model: authentik_core.user, identifiers: {username: u}, conditions: [!Context on], attrs: {name: !Format ['%d', !Context n], is_active: !Context on}}\n" +
				"- {model: authentik_stages_identification.identificationstage, identifiers: {name: s}, attrs: {user_fields: !Context [fields, [username]]}}\n" +
				"- {model: authentik_stages_password.passwordstage, identifiers: {name: p}, attrs: {backends: !Context names}}\n",
			check: func(t *testing.T, d *model.Directory) {
				assert.Equal(t, "7", userByName(d, "u").Name)
				assert.True(t, userByName(d, "u").IsActive)
				assert.Equal(t, []string{"username"}, d.Stages[0].UserFields)
			},
		},
		{
			name: "Format",
			opts: testOptions(map[string]string{"DOMAIN": "example.org"}),
			yaml: header + "- {model: authentik_core.user, identifiers: {username: u}, attrs: {email: !Format ['%s@%s', u, !Env DOMAIN], name: !Format ['%d%% %s %s', 42, true, null]}}\n",
			check: func(t *testing.T, d *model.Directory) {
				assert.Equal(t, "u@example.org", userByName(d, "u").Email)
				assert.Equal(t, "42% True None", userByName(d, "u").Name)
			},
		},
		{
			name: "KeyOf and Format of a pk",
			opts: testOptions(nil),
			yaml: header + "- {model: authentik_core.group, id: g, identifiers: {name: g}}\n" +
				"- {model: authentik_core.user, id: u, identifiers: {username: u}, attrs: {groups: [!KeyOf g]}}\n" +
				"- {model: authentik_core.user, identifiers: {username: v}, attrs: {name: !Format ['after %d', !KeyOf u]}}\n",
			check: func(t *testing.T, d *model.Directory) {
				assert.Equal(t, []string{groupByName(d, "g").PK}, userByName(d, "u").Groups)
				assert.Equal(t, "after 1", userByName(d, "v").Name)
			},
		},
		{
			name: "Find by field and by pk",
			opts: testOptions(nil),
			yaml: header + "- {model: authentik_core.group, identifiers: {name: g}, attrs: {is_superuser: true}}\n" +
				"- {model: authentik_core.user, identifiers: {username: u}, attrs: {groups: [!Find [authentik_core.group, [name, g], [is_superuser, true]]]}}\n" +
				"- {model: authentik_core.group, identifiers: {name: h}, attrs: {users: [!Find [authentik_core.user, [pk, 1]]]}}\n",
			check: func(t *testing.T, d *model.Directory) {
				u := userByName(d, "u")
				assert.True(t, u.IsSuperuser)
				assert.ElementsMatch(t, []string{groupByName(d, "g").PK, groupByName(d, "h").PK}, u.Groups)
			},
		},
		{
			name: "literal pk references",
			opts: testOptions(nil),
			yaml: header + "- {model: authentik_core.user, identifiers: {username: u}}\n" +
				"- {model: authentik_core.group, identifiers: {name: g}, attrs: {users: [1]}}\n",
			check: func(t *testing.T, d *model.Directory) {
				assert.Equal(t, []int32{1}, groupByName(d, "g").Users)
			},
		},
		{
			name: "conditions",
			opts: testOptions(map[string]string{"ON": "yes"}),
			yaml: header + "- {model: authentik_core.user, identifiers: {username: on}, conditions: [!Env ON, true, 1]}\n" +
				"- {model: authentik_core.user, identifiers: {username: off}, conditions: [true, !Env [OFF, '']]}\n" +
				"- {model: authentik_core.user, identifiers: {username: off2}, conditions: [[]]}\n",
			check: func(t *testing.T, d *model.Directory) {
				assert.NotNil(t, userByName(d, "on"))
				assert.Nil(t, userByName(d, "off"))
				assert.Nil(t, userByName(d, "off2"))
			},
		},
		{
			name: "instantiate false skips the entries",
			opts: testOptions(nil),
			yaml: "version: 1\nmetadata:\n  name: example\n  labels: {blueprints.goauthentik.io/instantiate: \"false\"}\nentries:\n- {model: authentik_core.user, identifiers: {username: u}}\n",
			check: func(t *testing.T, d *model.Directory) {
				assert.Empty(t, d.Users)
			},
		},
		{
			name: "anchors, aliases and merge keys",
			opts: testOptions(nil),
			yaml: header + "- model: authentik_core.user\n  identifiers: {username: a}\n  attrs: &common {name: Same, email: same@example.com}\n" +
				"- model: authentik_core.user\n  identifiers: {username: b}\n  attrs: {<<: *common, name: Other}\n",
			check: func(t *testing.T, d *model.Directory) {
				assert.Equal(t, "Same", userByName(d, "a").Name)
				assert.Equal(t, "Other", userByName(d, "b").Name)
				assert.Equal(t, "same@example.com", userByName(d, "b").Email)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.opts.SkipDefaults = true
			d, err := loadYAML(t, tt.opts, tt.yaml)
			require.NoError(t, err)
			tt.check(t, d)
		})
	}
}

func TestStates(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		yaml  string
		check func(t *testing.T, d *model.Directory)
	}{
		{
			name: "present updates the matching object",
			yaml: header + "- {model: authentik_core.user, identifiers: {username: u}, attrs: {name: One, email: a@b.c}}\n" +
				"- {model: authentik_core.user, identifiers: {username: u}, attrs: {name: Two}}\n",
			check: func(t *testing.T, d *model.Directory) {
				require.Len(t, d.Users, 1)
				assert.Equal(t, "Two", d.Users[0].Name)
				assert.Equal(t, "a@b.c", d.Users[0].Email, "fields not given are kept")
			},
		},
		{
			name: "identifiers match on any field",
			yaml: header + "- {model: authentik_core.user, identifiers: {username: u}, attrs: {email: u@x.y}}\n" +
				"- {model: authentik_core.user, identifiers: {email: u@x.y}, attrs: {name: By Email}}\n",
			check: func(t *testing.T, d *model.Directory) {
				require.Len(t, d.Users, 1)
				assert.Equal(t, "By Email", d.Users[0].Name)
			},
		},
		{
			name: "created leaves an existing object alone",
			yaml: header + "- {model: authentik_core.user, identifiers: {username: u}, attrs: {name: One}}\n" +
				"- {model: authentik_core.user, identifiers: {username: u}, state: created, attrs: {name: Two}}\n" +
				"- {model: authentik_core.user, identifiers: {username: v}, state: created, attrs: {name: New}}\n",
			check: func(t *testing.T, d *model.Directory) {
				assert.Equal(t, "One", userByName(d, "u").Name)
				assert.Equal(t, "New", userByName(d, "v").Name)
			},
		},
		{
			name: "must_created creates",
			yaml: header + "- {model: authentik_core.user, identifiers: {username: u}, state: must_created}\n",
			check: func(t *testing.T, d *model.Directory) {
				assert.NotNil(t, userByName(d, "u"))
			},
		},
		{
			name: "absent removes and cascades",
			yaml: header + "- {model: authentik_core.group, id: g, identifiers: {name: g}}\n" +
				"- {model: authentik_core.user, id: u, identifiers: {username: u}, attrs: {groups: [!KeyOf g]}}\n" +
				"- {model: authentik_core.user, id: keep, identifiers: {username: keep}, attrs: {groups: [!KeyOf g]}}\n" +
				"- {model: authentik_core.group, identifiers: {name: h}, attrs: {users: [!KeyOf u, !KeyOf keep]}}\n" +
				"- {model: authentik_core.token, identifiers: {identifier: t}, attrs: {user: !KeyOf u, key: k}}\n" +
				"- {model: authentik_stages_authenticator_totp.totpdevice, identifiers: {user: !KeyOf u}, attrs: {key: '00ff'}}\n" +
				"- {model: authentik_stages_authenticator_static.staticdevice, identifiers: {user: !KeyOf u}, attrs: {tokens: [x]}}\n" +
				"- {model: authentik_core.user, identifiers: {username: u}, state: absent}\n" +
				"- {model: authentik_core.user, identifiers: {username: nobody}, state: absent}\n",
			check: func(t *testing.T, d *model.Directory) {
				assert.Nil(t, userByName(d, "u"))
				assert.Empty(t, d.Tokens)
				assert.Empty(t, d.TOTPDevices)
				assert.Empty(t, d.StaticDevices)
				assert.Equal(t, []int32{userByName(d, "keep").PK}, groupByName(d, "h").Users)
			},
		},
		{
			name: "absent group clears bindings and memberships",
			yaml: header + "- {model: authentik_core.group, id: g, identifiers: {name: g}}\n" +
				"- {model: authentik_core.group, identifiers: {name: child}, attrs: {parent: !KeyOf g}}\n" +
				"- {model: authentik_core.user, identifiers: {username: u}, attrs: {groups: [!KeyOf g]}}\n" +
				"- {model: authentik_core.application, id: app, identifiers: {slug: app}}\n" +
				"- {model: authentik_policies.policybinding, identifiers: {target: !KeyOf app, group: !KeyOf g}}\n" +
				"- {model: authentik_core.group, identifiers: {name: g}, state: absent}\n",
			check: func(t *testing.T, d *model.Directory) {
				assert.Nil(t, groupByName(d, "g"))
				assert.Empty(t, d.PolicyBindings)
				assert.Empty(t, userByName(d, "u").Groups)
				assert.Empty(t, groupByName(d, "child").Parents)
				require.Len(t, d.Applications, 1)
			},
		},
		{
			name: "re-created object keeps its uuid",
			yaml: header + "- {model: authentik_core.group, identifiers: {name: g}, attrs: {attributes: {gen: 1}}}\n" +
				"- {model: authentik_core.group, identifiers: {name: g}, state: absent}\n" +
				"- {model: authentik_core.group, identifiers: {name: g}, attrs: {attributes: {gen: 2}}}\n",
			check: func(t *testing.T, d *model.Directory) {
				require.Len(t, d.Groups, 1)
				assert.Equal(t, objectKey(mGroup, map[string]any{"name": "g"}), d.Groups[0].PK)
				assert.Equal(t, map[string]any{"gen": int64(2)}, d.Groups[0].Attributes)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := testOptions(nil)
			o.SkipDefaults = true
			d, err := loadYAML(t, o, tt.yaml)
			require.NoError(t, err)
			tt.check(t, d)
		})
	}
}

func TestLaterFilesOverride(t *testing.T) {
	t.Parallel()
	first := File{Name: "01.yaml", Data: []byte(header +
		"- {model: authentik_core.user, identifiers: {username: u}, attrs: {name: First, password: one}}\n" +
		"- {model: authentik_core.group, id: g, identifiers: {name: g}}\n")}
	second := File{Name: "02.yaml", Data: []byte(header +
		"- {model: authentik_core.user, identifiers: {username: u}, attrs: {name: Second, password: two, groups: [!Find [authentik_core.group, [name, g]]]}}\n" +
		"- {model: authentik_flows.flow, identifiers: {slug: default-authentication-flow}, attrs: {title: Custom}}\n")}
	d, err := LoadFiles(testOptions(nil), first, second)
	require.NoError(t, err)
	u := userByName(d, "u")
	assert.Equal(t, "Second", u.Name)
	assert.True(t, u.CheckPassword("two"))
	assert.False(t, u.CheckPassword("one"))
	assert.Len(t, u.Groups, 1)
	assert.Equal(t, "Custom", flowBySlug(d, "default-authentication-flow").Title)
	assert.Len(t, flowBySlug(d, "default-authentication-flow").Bindings, 4)

	// A conflict made by a later file is reported in that file.
	dup := File{Name: "04.yaml", Data: []byte(header +
		"- model: authentik_core.user\n  identifiers: {email: x@y}\n  attrs:\n    username: u\n")}
	_, err = LoadFiles(testOptions(nil), first, dup)
	var de *Error
	require.ErrorAs(t, err, &de)
	assert.Equal(t, "04.yaml", de.File)
	assert.Equal(t, 6, de.Line)
	assert.Contains(t, de.Msg, "already used by the authentik_core.user defined at 01.yaml:3")

	// !KeyOf ids are per file.
	third := File{Name: "03.yaml", Data: []byte(header +
		"- {model: authentik_core.user, identifiers: {username: w}, attrs: {groups: [!KeyOf g]}}\n")}
	_, err = LoadFiles(testOptions(nil), first, third)
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, "03.yaml", e.File)
	assert.Equal(t, 3, e.Line)
}

const modelsYAML = `version: 1
entries:
  - {model: authentik_core.group, id: admins, identifiers: {name: admins}, attrs: {is_superuser: true, attributes: {k: v}}}
  - {model: authentik_core.group, id: sub, identifiers: {name: sub}, attrs: {parents: [!KeyOf admins]}}
  - model: authentik_core.user
    id: u
    identifiers: {username: u}
    attrs:
      name: U Ser
      email: u@example.com
      password: pw
      path: users/test
      type: external
      attributes: {ref: !KeyOf admins, list: [1, two]}
      groups: [!KeyOf sub]
  - {model: authentik_core.user, id: plain, identifiers: {username: plain}}
  - model: authentik_core.token
    identifiers: {identifier: tok}
    attrs: {key: tok-key, intent: app_password, user: !KeyOf u, description: d, expiring: true, expires: "2030-01-02T03:04:05Z"}
  - {model: authentik_core.token, identifiers: {identifier: tok2}, attrs: {user: !KeyOf u}}
  - model: authentik_crypto.certificatekeypair
    id: cert
    identifiers: {name: ldap.example.com}
  - model: authentik_stages_password.passwordstage
    id: pw
    identifiers: {name: pw}
    attrs: {backends: [authentik.core.auth.InbuiltBackend], failed_attempts_before_cancel: 3, allow_show_password: true}
  - model: authentik_stages_identification.identificationstage
    id: ident
    identifiers: {name: ident}
    attrs: {user_fields: [email, upn], password_stage: !KeyOf pw, case_insensitive_matching: false, show_matched_user: false, sources: [], pretend_user_exists: false}
  - model: authentik_stages_authenticator_validate.authenticatorvalidatestage
    id: mfa
    identifiers: {name: mfa}
    attrs: {device_classes: [totp], not_configured_action: deny, last_auth_threshold: "hours=1", configuration_stages: [], webauthn_user_verification: required}
  - {model: authentik_stages_user_login.userloginstage, id: login, identifiers: {name: login}, attrs: {session_duration: "hours=2", remember_me_offset: "days=1", terminate_other_sessions: true}}
  - {model: authentik_stages_user_logout.userlogoutstage, id: logout, identifiers: {name: logout}}
  - {model: authentik_stages_consent.consentstage, id: consent, identifiers: {name: consent}, attrs: {mode: expiring, consent_expire_in: "weeks=1"}}
  - model: authentik_flows.flow
    id: flow
    identifiers: {slug: my-flow}
    attrs: {name: Mine, title: My Flow, designation: authentication, authentication: require_outpost, layout: sidebar_left, background: "", policy_engine_mode: all, compatibility_mode: true, denied_action: continue}
  - {model: authentik_flows.flowstagebinding, id: b-login, identifiers: {target: !KeyOf flow, stage: !KeyOf login, order: 30}, attrs: {evaluate_on_plan: true, re_evaluate_policies: false, policy_engine_mode: all, invalid_response_action: restart}}
  - {model: authentik_flows.flowstagebinding, identifiers: {target: !KeyOf flow, stage: !KeyOf ident, order: 10}}
  - {model: authentik_flows.flowstagebinding, identifiers: {target: !KeyOf flow, stage: !KeyOf mfa, order: 20}}
  - {model: authentik_stages_authenticator_totp.totpdevice, identifiers: {user: !KeyOf u, name: phone}, attrs: {key: "ABCDEF0123", digits: 8, step: 60, confirmed: false}}
  - {model: authentik_stages_authenticator_static.staticdevice, identifiers: {user: !KeyOf u}, attrs: {token_set: [{token: a}], tokens: [b]}}
  - model: authentik_providers_ldap.ldapprovider
    id: ldap
    identifiers: {name: ldap}
    attrs:
      authorization_flow: !KeyOf flow
      authentication_flow: !KeyOf flow
      invalidation_flow: !Find [authentik_flows.flow, [slug, default-invalidation-flow]]
      certificate: !KeyOf cert
      tls_server_name: ldap.example.com
      uid_start_number: 3000
      gid_start_number: 5000
      search_mode: cached
      bind_mode: cached
      mfa_support: false
      property_mappings: []
  - {model: authentik_providers_ldap.ldapprovider, id: ldap2, identifiers: {name: ldap2}, attrs: {authorization_flow: !KeyOf flow}}
  - model: authentik_providers_radius.radiusprovider
    id: radius
    identifiers: {name: radius}
    attrs: {authorization_flow: !KeyOf flow, client_networks: 127.0.0.0/8, shared_secret: s, mfa_support: false, certificate: !KeyOf cert}
  - model: authentik_providers_proxy.proxyprovider
    id: proxy
    identifiers: {name: proxy}
    attrs:
      authorization_flow: !Find [authentik_flows.flow, [slug, default-provider-authorization-explicit-consent]]
      external_host: https://app.example.com
      internal_host: http://10.0.0.1:80
      internal_host_ssl_validation: false
      client_id: cid
      client_secret: csecret
      mode: forward_single
      cookie_domain: example.com
      skip_path_regex: "^/public/"
      basic_auth_enabled: true
      basic_auth_user_attribute: user_attr
      basic_auth_password_attribute: pw_attr
      intercept_header_auth: false
      access_token_validity: "minutes=5"
      certificate: !KeyOf cert
      signing_key: !KeyOf cert
  - {model: authentik_providers_proxy.proxyprovider, id: proxy2, identifiers: {name: proxy2}, attrs: {authorization_flow: !KeyOf flow, external_host: "http://p2"}}
  - model: authentik_providers_rac.racprovider
    id: rac
    identifiers: {name: rac}
    attrs: {authorization_flow: !KeyOf flow, settings: {resize-method: display-update}, connection_expiry: "minutes=30"}
  - {model: authentik_providers_rac.endpoint, identifiers: {name: rdp}, attrs: {provider: !KeyOf rac, protocol: rdp, host: "10.0.0.2:3389", settings: {security: nla}, auth_mode: static, maximum_connections: 5}}
  - model: authentik_core.application
    id: app
    identifiers: {slug: app}
    attrs: {name: App, provider: !KeyOf proxy, backchannel_providers: [!KeyOf ldap2], meta_launch_url: "https://app.example.com", policy_engine_mode: all, group: G, meta_icon: i, meta_description: d, meta_publisher: p, open_in_new_tab: true}
  - {model: authentik_policies.policybinding, identifiers: {target: !KeyOf app, user: !KeyOf u}, attrs: {negate: true, enabled: false, order: 7, timeout: 5, failure_result: true}}
  - {model: authentik_policies.policybinding, identifiers: {target: !KeyOf b-login, group: !KeyOf admins}}
  - {model: authentik_outposts.outpost, identifiers: {name: out}, attrs: {type: ldap, providers: [!KeyOf ldap, !KeyOf ldap2], config: {log_level: debug}, service_connection: null, managed: ""}}
`

func TestModels(t *testing.T) {
	t.Parallel()
	d := mustLoad(t, modelsYAML)

	admins, sub := groupByName(d, "admins"), groupByName(d, "sub")
	assert.Equal(t, map[string]any{"k": "v"}, admins.Attributes)
	assert.Equal(t, []string{admins.PK}, sub.Parents)
	assert.Equal(t, int32(2), sub.NumPK)

	u := userByName(d, "u")
	assert.Equal(t, int32(1), u.PK)
	assert.Equal(t, "U Ser", u.Name)
	assert.Equal(t, "u@example.com", u.Email)
	assert.Equal(t, "users/test", u.Path)
	assert.Equal(t, "external", u.Type)
	assert.True(t, u.IsSuperuser, "member of a child of a superuser group")
	assert.True(t, u.CheckPassword("pw"))
	assert.Equal(t, map[string]any{"ref": admins.PK, "list": []any{int64(1), "two"}}, u.Attributes)
	assert.Equal(t, testNow, u.DateJoined)
	plain := userByName(d, "plain")
	assert.True(t, plain.IsActive)
	assert.Equal(t, "users", plain.Path)
	assert.Equal(t, "internal", plain.Type)
	assert.Empty(t, plain.PasswordHash)
	assert.False(t, plain.CheckPassword(""))

	require.Len(t, d.Tokens, 2)
	assert.Equal(t, model.Token{Identifier: "tok", Key: "tok-key", Intent: "app_password", User: u.PK, Description: "d",
		Expiring: true, Expires: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}, *d.Tokens[0])
	assert.Equal(t, "verification", d.Tokens[1].Intent)
	assert.NotEmpty(t, d.Tokens[1].Key)
	assert.Equal(t, testNow.Add(30*time.Minute), d.Tokens[1].Expires)

	require.Len(t, d.Certificates, 1)
	c := d.Certificates[0]
	pair, err := tls.X509KeyPair([]byte(c.CertificateData), []byte(c.KeyData))
	require.NoError(t, err)
	require.NotNil(t, pair.Leaf)
	assert.Equal(t, "ldap.example.com", pair.Leaf.Subject.CommonName)
	assert.Equal(t, []string{"ldap.example.com", "localhost"}, pair.Leaf.DNSNames)
	assert.Equal(t, "127.0.0.1", pair.Leaf.IPAddresses[0].String())

	f := flowBySlug(d, "my-flow")
	assert.Equal(t, "Mine", f.Name)
	assert.Equal(t, "My Flow", f.Title)
	assert.Equal(t, "require_outpost", f.Authentication)
	var orders []int
	var kinds []string
	for _, b := range f.Bindings {
		orders = append(orders, b.Order)
		kinds = append(kinds, stageByPK(d, b.Stage).Kind)
	}
	assert.Equal(t, []int{10, 20, 30}, orders)
	assert.Equal(t, []string{model.StageIdentification, model.StageAuthenticatorValidate, model.StageUserLogin}, kinds)
	ident := stageByPK(d, f.Bindings[0].Stage)
	assert.Equal(t, []string{"email", "upn"}, ident.UserFields)
	require.NotNil(t, stageByPK(d, ident.PasswordStage))
	assert.Equal(t, model.StagePassword, stageByPK(d, ident.PasswordStage).Kind)
	mfa := stageByPK(d, f.Bindings[1].Stage)
	assert.Equal(t, []string{"totp"}, mfa.DeviceClasses)
	assert.Equal(t, "deny", mfa.NotConfiguredAction)
	assert.Equal(t, "hours=2", stageByPK(d, f.Bindings[2].Stage).SessionDuration)

	require.Len(t, d.TOTPDevices, 1)
	assert.Equal(t, model.TOTPDevice{PK: 1, User: u.PK, Name: "phone", Key: "abcdef0123", Digits: 8, Step: 60}, *d.TOTPDevices[0])
	require.Len(t, d.StaticDevices, 1)
	assert.Equal(t, []string{"a", "b"}, d.StaticDevices[0].Tokens)
	assert.True(t, d.StaticDevices[0].Confirmed)

	require.Len(t, d.LDAPProviders, 2)
	l := d.LDAPProviders[0]
	assert.Equal(t, int32(1), l.PK)
	assert.Equal(t, f.PK, l.AuthorizationFlow)
	assert.Equal(t, f.PK, l.AuthenticationFlow)
	assert.Equal(t, flowBySlug(d, "default-invalidation-flow").PK, l.InvalidationFlow)
	assert.Equal(t, c.PK, l.Certificate)
	assert.Equal(t, "ldap.example.com", l.TLSServerName)
	assert.Equal(t, int32(3000), l.UIDStartNumber)
	assert.Equal(t, int32(5000), l.GIDStartNumber)
	assert.Equal(t, "cached", l.SearchMode)
	assert.Equal(t, "cached", l.BindMode)
	assert.False(t, l.MFASupport)
	l2 := d.LDAPProviders[1]
	assert.Equal(t, model.LDAPProvider{
		Provider:       model.Provider{PK: 2, Name: "ldap2", AuthorizationFlow: f.PK},
		BaseDN:         "DC=ldap,DC=goauthentik,DC=io",
		UIDStartNumber: 2000, GIDStartNumber: 4000, SearchMode: "direct", BindMode: "direct", MFASupport: true,
	}, *l2)

	r := d.RadiusProviders[0]
	assert.Equal(t, int32(3), r.PK, "providers share one pk sequence")
	assert.Equal(t, "127.0.0.0/8", r.ClientNetworks)
	assert.Equal(t, "s", r.SharedSecret)
	assert.False(t, r.MFASupport)
	assert.Equal(t, c.PK, r.Certificate)

	p := d.ProxyProviders[0]
	assert.Equal(t, "https://app.example.com", p.ExternalHost)
	assert.Equal(t, "http://10.0.0.1:80", p.InternalHost)
	assert.False(t, p.InternalHostSSLValidation)
	assert.Equal(t, "cid", p.ClientID)
	assert.Equal(t, "csecret", p.ClientSecret)
	assert.Equal(t, "forward_single", p.Mode)
	assert.Equal(t, "example.com", p.CookieDomain)
	assert.Equal(t, "^/public/", p.SkipPathRegex)
	assert.True(t, p.BasicAuthEnabled)
	assert.Equal(t, "user_attr", p.BasicAuthUserAttribute)
	assert.Equal(t, "pw_attr", p.BasicAuthPasswordAttribute)
	assert.False(t, p.InterceptHeaderAuth)
	assert.Equal(t, "minutes=5", p.AccessTokenValidity)
	assert.Equal(t, c.PK, p.Certificate)
	assert.Equal(t, c.PK, p.SigningKey)
	p2 := d.ProxyProviders[1]
	assert.Equal(t, "proxy", p2.Mode)
	assert.True(t, p2.InternalHostSSLValidation)
	assert.True(t, p2.InterceptHeaderAuth)
	assert.Equal(t, "hours=24", p2.AccessTokenValidity)
	assert.Len(t, p2.ClientID, 40)
	assert.Len(t, p2.ClientSecret, 128)
	assert.NotEqual(t, p.CookieSecret, p2.CookieSecret)

	rac := d.RACProviders[0]
	assert.Equal(t, map[string]any{"resize-method": "display-update"}, rac.Settings)
	assert.Equal(t, "minutes=30", rac.ConnectionExpiry)
	ep := d.RACEndpoints[0]
	assert.Equal(t, model.RACEndpoint{PK: ep.PK, Name: "rdp", Provider: rac.PK, Protocol: "rdp", Host: "10.0.0.2:3389",
		Settings: map[string]any{"security": "nla"}, AuthMode: "static", MaximumConnections: 5}, *ep)

	app := d.Applications[0]
	assert.Equal(t, "App", app.Name)
	assert.Equal(t, p.PK, app.Provider)
	assert.Equal(t, []int32{l2.PK}, app.BackchannelProviders)
	assert.Equal(t, "https://app.example.com", app.MetaLaunchURL)
	assert.Equal(t, "all", app.PolicyEngineMode)

	require.Len(t, d.PolicyBindings, 2)
	pb := d.PolicyBindings[0]
	assert.Equal(t, model.PolicyBinding{PK: pb.PK, Target: app.PK, User: u.PK, Negate: true, Enabled: false, Order: 7}, *pb)
	assert.Equal(t, admins.PK, d.PolicyBindings[1].Group)
	assert.True(t, d.PolicyBindings[1].Enabled)

	require.Len(t, d.Outposts, 1)
	op := d.Outposts[0]
	assert.Equal(t, []int32{l.PK, l2.PK}, op.Providers)
	assert.Equal(t, "debug", op.Config["log_level"])
	assert.Equal(t, "", op.Config["authentik_host"])
	assert.Equal(t, "minutes=5", op.Config["refresh_interval"])
	assert.Empty(t, op.Token, "no pinned token: the server makes one")
	assert.Equal(t, int32(3), op.ServiceAccount, "service accounts follow the blueprint users")
}

func TestErrors(t *testing.T) {
	t.Parallel()
	entry := func(s string) string { return header + s }
	tests := []struct {
		name string
		yaml string
		env  map[string]string
		line int
		msg  string
	}{
		{"bad YAML", "version: 1\nentries:\n  - model: [unclosed\n", nil, 3, "invalid YAML"},
		{"tab indentation", "version: 1\nentries:\n\t- model: x\n", nil, 3, "invalid YAML"},
		{"empty file", "", nil, 1, "empty blueprint"},
		{"two documents", "version: 1\n---\nversion: 1\n", nil, 2, "more than one YAML document"},
		{"not a mapping", "- 1\n", nil, 1, "must be a mapping"},
		{"missing version", "entries: []\n", nil, 1, "missing version"},
		{"version 2", "version: 2\n", nil, 1, "only version: 1"},
		{"unknown top-level key", "version: 1\nentry: []\n", nil, 2, `unknown top-level key "entry"`},
		{"unknown metadata key", "version: 1\nmetadata: {title: x}\n", nil, 2, `unknown metadata key "title"`},
		{"entries not a list", "version: 1\nentries: {a: b}\n", nil, 2, "entries must be a list"},
		{"entry not a mapping", entry("- just text\n"), nil, 3, "an entry must be a mapping"},
		{"unknown entry key", entry("- model: authentik_core.user\n  identifiers: {username: u}\n  atrs: {}\n"), nil, 5, `unknown entry key "atrs"`},
		{"missing model", entry("- identifiers: {username: u}\n"), nil, 3, "entry has no model"},
		{"unknown model", entry("- identifiers: {username: u}\n  model: authentik_core.usr\n"), nil, 4, `unknown model "authentik_core.usr"`},
		{"meta model unsupported", entry("- model: authentik_blueprints.metaapplyblueprint\n  identifiers: {name: x}\n"), nil, 3, "unknown model"},
		{"typo in attrs", entry("- model: authentik_core.user\n  identifiers: {username: u}\n  attrs:\n    name: U\n    emial: u@x\n"), nil, 7, `unknown field "emial"`},
		{"typo in identifiers", entry("- model: authentik_core.user\n  identifiers:\n    usrname: u\n"), nil, 5, `unknown field "usrname" in identifiers`},
		{"missing identifiers", entry("- model: authentik_core.user\n  attrs: {username: u}\n"), nil, 3, "no identifiers"},
		{"empty identifiers", entry("- model: authentik_core.user\n  identifiers: {}\n"), nil, 4, "identifiers must not be empty"},
		{"bad state", entry("- model: authentik_core.user\n  identifiers: {username: u}\n  state: gone\n"), nil, 5, `bad state "gone"`},
		{"duplicate id", entry("- {model: authentik_core.user, id: x, identifiers: {username: u}}\n- {model: authentik_core.user, id: x, identifiers: {username: v}}\n"), nil, 4, `duplicate id "x"`},
		{"duplicate key", entry("- model: authentik_core.user\n  identifiers: {username: u}\n  identifiers: {username: v}\n"), nil, 5, `duplicate key "identifiers"`},
		{"unknown tag", entry("- model: authentik_core.user\n  identifiers: {username: u}\n  attrs:\n    name: !If [true, a, b]\n"), nil, 6, "unknown tag !If"},
		{"unknown standard tag", entry("- model: authentik_core.user\n  identifiers: {username: u}\n  attrs:\n    name: !!binary aGk=\n"), nil, 6, "unsupported tag !!binary"},
		{"KeyOf unknown id", entry("- model: authentik_core.user\n  identifiers: {username: u}\n  attrs:\n    groups: [!KeyOf nope]\n"), nil, 6, "!KeyOf nope: no entry"},
		{"KeyOf later entry", entry("- {model: authentik_core.user, identifiers: {username: u}, attrs: {groups: [!KeyOf g]}}\n- {model: authentik_core.group, id: g, identifiers: {name: g}}\n"), nil, 3, "comes later"},
		{"KeyOf skipped entry", entry("- {model: authentik_core.group, id: g, identifiers: {name: g}, conditions: [false]}\n- {model: authentik_core.user, identifiers: {username: u}, attrs: {groups: [!KeyOf g]}}\n"), nil, 4, "skipped"},
		{"KeyOf as mapping", entry("- {model: authentik_core.user, identifiers: {username: !KeyOf {a: b}}}\n"), nil, 3, "!KeyOf takes an entry id"},
		{"Find no match", entry("- {model: authentik_core.user, identifiers: {username: u}, attrs: {groups: [!Find [authentik_core.group, [name, nope]]]}}\n"), nil, 3, `!Find: no authentik_core.group with name="nope"`},
		{"Find unknown model", entry("- {model: authentik_core.user, identifiers: {username: u}, attrs: {groups: [!Find [authentik_core.grp, [name, x]]]}}\n"), nil, 3, "!Find: unknown model"},
		{"Find unknown field", entry("- {model: authentik_core.user, identifiers: {username: u}, attrs: {groups: [!Find [authentik_core.group, [nmae, x]]]}}\n"), nil, 3, `!Find: unknown field "nmae"`},
		{"Find bad query", entry("- {model: authentik_core.user, identifiers: {username: u}, attrs: {groups: [!Find [authentik_core.group, name]]}}\n"), nil, 3, "[field, value] pair"},
		{"Env unset", entry("- {model: authentik_core.user, identifiers: {username: !Env NOPE}}\n"), nil, 3, "!Env NOPE: the environment variable is not set"},
		{"Env bad form", entry("- {model: authentik_core.user, identifiers: {username: !Env [a, b, c]}}\n"), nil, 3, "!Env takes NAME"},
		{"Context missing", entry("- {model: authentik_core.user, identifiers: {username: !Context nope}}\n"), nil, 3, "!Context nope: no such context key"},
		{"Format arity", entry("- {model: authentik_core.user, identifiers: {username: !Format ['%s-%s', a]}}\n"), nil, 3, "not enough arguments"},
		{"Format extra args", entry("- {model: authentik_core.user, identifiers: {username: !Format ['%s', a, b]}}\n"), nil, 3, "not all arguments converted"},
		{"Format verb", entry("- {model: authentik_core.user, identifiers: {username: !Format ['%x', a]}}\n"), nil, 3, "unsupported conversion %x"},
		{"Format %d of text", entry("- {model: authentik_core.user, identifiers: {username: !Format ['%d', a]}}\n"), nil, 3, "%d needs a number"},
		{"wrong type bool", entry("- model: authentik_core.user\n  identifiers: {username: u}\n  attrs:\n    is_active: maybe\n"), nil, 6, "expected true or false"},
		{"wrong type string", entry("- model: authentik_core.user\n  identifiers: {username: u}\n  attrs:\n    name: [a]\n"), nil, 6, "expected a string, got a list"},
		{"wrong type int", entry("- model: authentik_core.user\n  identifiers: {username: u}\n- model: authentik_stages_authenticator_totp.totpdevice\n  identifiers: {user: 1}\n  attrs: {key: '00', digits: six}\n"), nil, 7, "expected an integer"},
		{"wrong type map", entry("- model: authentik_core.user\n  identifiers: {username: u}\n  attrs:\n    attributes: [a]\n"), nil, 6, "expected a mapping"},
		{"wrong type list", entry("- model: authentik_core.user\n  identifiers: {username: u}\n  attrs:\n    groups: g\n"), nil, 6, "expected a list"},
		{"bad enum", entry("- model: authentik_core.user\n  identifiers: {username: u}\n  attrs:\n    type: robot\n"), nil, 6, `invalid value "robot"`},
		{"bad list enum", entry("- model: authentik_stages_identification.identificationstage\n  identifiers: {name: i}\n  attrs:\n    user_fields:\n      - username\n      - phone\n"), nil, 8, `invalid value "phone"`},
		{"out-of-range int", entry("- {model: authentik_core.user, identifiers: {username: u}, attrs: {name: !!int 99999999999999999999999}}\n"), nil, 3, "out-of-range integer"},
		{"bad YAML in nested flow", "version: 1\nentries:\n  - model: x\n    attrs: {a: [1,\n    b: 2\n", nil, 4, "invalid YAML"},
		{"bad YAML scanner error", "version: 1\nentries:\n  - model: x\n    attrs: a: b\n", nil, 4, "mapping values are not allowed"},
		{"bad YAML at end of stream", "[\n", nil, 2, "invalid YAML"},
		{"reference to wrong model", entry("- {model: authentik_core.user, id: u, identifiers: {username: u}}\n- model: authentik_core.user\n  identifiers: {username: v}\n  attrs:\n    groups: [!KeyOf u]\n"), nil, 7, "expected a reference to a authentik_core.group, got a authentik_core.user"},
		{"unknown literal pk", entry("- model: authentik_core.group\n  identifiers: {name: g}\n  attrs:\n    users: [42]\n"), nil, 6, "no authentik_core.user with pk 42"},
		{"policy binding with policy", entry("- model: authentik_core.application\n  id: a\n  identifiers: {slug: a}\n- model: authentik_policies.policybinding\n  identifiers:\n    target: !KeyOf a\n    policy: some-uuid\n"), nil, 9, "policy bindings with a policy are not supported by the stand-in core"},
		{"policy binding without subject", entry("- {model: authentik_core.application, id: a, identifiers: {slug: a}}\n- {model: authentik_policies.policybinding, identifiers: {target: !KeyOf a, order: 0}}\n"), nil, 4, "exactly one of group or user"},
		{"property mappings", entry("- model: authentik_providers_ldap.ldapprovider\n  identifiers: {name: l}\n  attrs:\n    property_mappings: [x]\n"), nil, 6, "property mappings are not supported"},
		{"service connection", entry("- model: authentik_outposts.outpost\n  identifiers: {name: o}\n  attrs:\n    type: ldap\n    service_connection: abc\n"), nil, 7, "service connections are not supported"},
		{"must_created exists", entry("- {model: authentik_core.user, identifiers: {username: u}}\n- {model: authentik_core.user, identifiers: {username: u}, state: must_created}\n"), nil, 4, "already exists (defined at test.yaml:3)"},
		{"missing required field", entry("- model: authentik_providers_ldap.ldapprovider\n  identifiers: {name: l}\n"), nil, 3, "needs authorization_flow"},
		{"flow without designation", entry("- model: authentik_flows.flow\n  identifiers: {slug: f}\n"), nil, 3, "needs designation"},
		{"duplicate username", entry("- {model: authentik_core.user, identifiers: {email: a@x}, attrs: {username: u}}\n- model: authentik_core.user\n  identifiers: {email: b@x}\n  attrs:\n    username: u\n"), nil, 7, `duplicate username "u"`},
		{"duplicate stage name across kinds", entry("- {model: authentik_stages_user_login.userloginstage, identifiers: {name: default-authentication-password}}\n"), nil, 3, "duplicate name"},
		{"ambiguous identifiers", entry("- {model: authentik_core.user, identifiers: {username: a}, attrs: {email: same}}\n- {model: authentik_core.user, identifiers: {username: b}, attrs: {email: same}}\n- {model: authentik_core.user, identifiers: {email: same}, attrs: {name: x}}\n"), nil, 5, "identifiers match 2"},
		{"outpost provider type", entry("- {model: authentik_providers_radius.radiusprovider, id: r, identifiers: {name: r}, attrs: {authorization_flow: !Find [authentik_flows.flow, [slug, default-authentication-flow]]}}\n- model: authentik_outposts.outpost\n  identifiers: {name: o}\n  attrs:\n    type: ldap\n    providers: [!KeyOf r]\n"), nil, 8, "has type ldap but provider \"r\" is a radius provider"},
		{"bad totp key", entry("- {model: authentik_core.user, id: u, identifiers: {username: u}}\n- model: authentik_stages_authenticator_totp.totpdevice\n  identifiers: {user: !KeyOf u}\n  attrs:\n    key: not-hex\n"), nil, 7, "hex-encoded"},
		{"group cycle", entry("- {model: authentik_core.group, id: a, identifiers: {name: a}}\n- {model: authentik_core.group, id: b, identifiers: {name: b}, attrs: {parent: !KeyOf a}}\n- model: authentik_core.group\n  identifiers: {name: a}\n  attrs:\n    parents: [!KeyOf b]\n"), nil, 8, "parent cycle"},
		{"token without user", entry("- {model: authentik_core.token, identifiers: {identifier: t}}\n"), nil, 3, `token "t" needs user`},
		{"duplicate token key", entry("- {model: authentik_core.user, id: u, identifiers: {username: u}}\n- {model: authentik_core.token, identifiers: {identifier: a}, attrs: {user: !KeyOf u, key: k}}\n- {model: authentik_core.token, identifiers: {identifier: b}, attrs: {user: !KeyOf u, key: k}}\n"), nil, 5, "same key"},
		{"shared provider", entry("- {model: authentik_providers_ldap.ldapprovider, id: l, identifiers: {name: l}, attrs: {authorization_flow: !Find [authentik_flows.flow, [slug, default-authentication-flow]]}}\n- {model: authentik_core.application, identifiers: {slug: a}, attrs: {provider: !KeyOf l}}\n- {model: authentik_core.application, identifiers: {slug: b}, attrs: {provider: !KeyOf l}}\n"), nil, 5, "already the provider"},
		{"bad certificate", entry("- model: authentik_crypto.certificatekeypair\n  identifiers: {name: c}\n  attrs:\n    certificate_data: nope\n"), nil, 6, "no PEM certificate"},
		{"key without certificate", entry("- model: authentik_crypto.certificatekeypair\n  identifiers: {name: c}\n  attrs:\n    key_data: nope\n"), nil, 6, "key_data without certificate_data"},
		{"bad timestamp", entry("- {model: authentik_core.user, id: u, identifiers: {username: u}}\n- {model: authentik_core.token, identifiers: {identifier: t}, attrs: {user: !KeyOf u, expires: tomorrow}}\n"), nil, 4, "invalid timestamp"},
		{"conditions not a list", entry("- {model: authentik_core.user, identifiers: {username: u}, conditions: true}\n"), nil, 3, "conditions must be a list"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := loadYAML(t, testOptions(tt.env), tt.yaml)
			require.Error(t, err)
			var e *Error
			require.ErrorAs(t, err, &e, "error %v is not an *Error", err)
			assert.Equal(t, "test.yaml", e.File)
			assert.Equal(t, tt.line, e.Line, "error: %v", err)
			assert.Contains(t, e.Msg, tt.msg)
			assert.True(t, strings.HasPrefix(err.Error(), "test.yaml:"), err.Error())
		})
	}
}

func TestAliasExpansionBounded(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("version: 1\ncontext:\n  a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 9; i++ {
		b.WriteString("  a" + string(rune('0'+i)) + ": &a" + string(rune('0'+i)) + " [")
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*a" + string(rune('0'+i-1)))
		}
		b.WriteString("]\n")
	}
	_, err := loadYAML(t, testOptions(nil), b.String())
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Contains(t, e.Msg, "too large")
}

func TestErrorString(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "a.yaml:3: boom", (&Error{File: "a.yaml", Line: 3, Msg: "boom"}).Error())
}

func TestLoadDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(rel, text string) {
		p := filepath.Join(dir, rel)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(text), 0o600))
	}
	// Path order: a/10.yaml, a/20.yml, b.yaml; notes.txt is not a blueprint.
	write("b.yaml", header+"- {model: authentik_core.user, identifiers: {username: u}, attrs: {name: from b}}\n")
	write("a/20.yml", header+"- {model: authentik_core.user, identifiers: {username: u}, attrs: {name: from a/20}}\n")
	write("a/10.yaml", header+"- {model: authentik_core.user, identifiers: {username: u}, attrs: {name: from a/10, email: first@x}}\n")
	write("notes.txt", "not yaml: [")

	d, err := Load(dir, testOptions(nil))
	require.NoError(t, err)
	u := userByName(d, "u")
	assert.Equal(t, "from b", u.Name)
	assert.Equal(t, "first@x", u.Email)
	assert.NotNil(t, flowBySlug(d, "default-authentication-flow"), "defaults load first")

	write("a/15.yaml", header+"- model: authentik_core.usr\n  identifiers: {username: x}\n")
	_, err = Load(dir, testOptions(nil))
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, filepath.Join(dir, "a", "15.yaml"), e.File)
	assert.Equal(t, 3, e.Line)

	d, err = Load("", testOptions(nil))
	require.NoError(t, err)
	assert.Len(t, d.Flows, 5)

	_, err = Load(filepath.Join(dir, "missing"), testOptions(nil))
	require.Error(t, err)
	assert.False(t, errors.As(err, &e), "a missing directory is not a blueprint error")
}

func TestCertificateData(t *testing.T) {
	t.Parallel()
	certPEM, keyPEM, err := selfSigned("given.example", testNow)
	require.NoError(t, err)
	indent := func(s string) string {
		return "      " + strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n      ") + "\n"
	}
	text := header +
		"- model: authentik_crypto.certificatekeypair\n  identifiers: {name: pair}\n  attrs:\n    certificate_data: |\n" + indent(certPEM) +
		"    key_data: |\n" + indent(keyPEM) +
		"- model: authentik_crypto.certificatekeypair\n  id: only\n  identifiers: {name: cert-only}\n  attrs:\n    certificate_data: |\n" + indent(certPEM) +
		"- {model: authentik_providers_ldap.ldapprovider, identifiers: {name: l}, attrs: {authorization_flow: !Find [authentik_flows.flow, [slug, default-authentication-flow]], certificate: !Find [authentik_crypto.certificatekeypair, [pk, !KeyOf only]]}}\n"
	d := mustLoad(t, text)
	require.Len(t, d.Certificates, 2)
	assert.Equal(t, strings.TrimSpace(certPEM), strings.TrimSpace(d.Certificates[0].CertificateData))
	assert.Equal(t, strings.TrimSpace(keyPEM), strings.TrimSpace(d.Certificates[0].KeyData))
	assert.Empty(t, d.Certificates[1].KeyData)
	assert.Equal(t, d.Certificates[1].PK, d.LDAPProviders[0].Certificate)

	_, err = loadYAML(t, testOptions(nil), header+
		"- model: authentik_crypto.certificatekeypair\n  identifiers: {name: pair}\n  attrs:\n    certificate_data: |\n"+indent(certPEM)+
		"    key_data: |\n"+indent(strings.Replace(keyPEM, "PRIVATE KEY-----\n", "PRIVATE KEY-----\nAAAA", 1)))
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Contains(t, e.Msg, "key_data")
}

// TestManyEntries guards against lookups that scan every object per entry:
// a large blueprint must load in about linear time.
func TestManyEntries(t *testing.T) {
	t.Parallel()
	const n = 2000
	var b strings.Builder
	b.WriteString(header)
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "- {model: authentik_core.group, id: g%d, identifiers: {name: g%d}}\n", i, i)
	}
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "- {model: authentik_core.user, identifiers: {username: u%d}, attrs: {groups: [!KeyOf g%d, !Find [authentik_core.group, [name, g%d]]]}}\n", i, i, (i+1)%n)
	}
	d, err := loadYAML(t, testOptions(nil), b.String())
	require.NoError(t, err)
	require.Len(t, d.Users, n)
	require.Len(t, d.Groups, n)
	assert.Len(t, d.Users[n-1].Groups, 2)
	assert.Len(t, d.Groups[0].Users, 2)
}
