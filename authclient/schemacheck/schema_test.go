package schemacheck_test

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/outpost-go/outposts/authclient/schemacheck"
)

// loadSchema loads the module's schema.yml. The module is a dependency of
// authclient, so it is normally in the module cache; outside CI a missing
// cache only skips.
func loadSchema(t testing.TB) *schemacheck.Schema {
	t.Helper()
	path, err := schemacheck.Find()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("find schema.yml: %v", err)
		}
		t.Skipf("schema.yml not found (run `go mod download %s@%s`): %v", schemacheck.APIModule, schemacheck.APIVersion, err)
	}
	s, err := schemacheck.Load(path)
	require.NoError(t, err)
	return s
}

// TestSchema loads schema.yml once (parsing it is the slow part, several
// seconds under -race) and runs every check that needs it.
func TestSchema(t *testing.T) {
	t.Parallel()
	s := loadSchema(t)
	for _, tc := range []struct {
		name string
		run  func(*testing.T, *schemacheck.Schema)
	}{
		{"ContractBodiesPass", testContractBodiesPass},
		{"BrokenBodiesFail", testBrokenBodiesFail},
		{"AllProblemsReported", testAllProblemsReported},
		{"OperationMatching", testOperationMatching},
		{"StatusSelection", testStatusSelection},
		{"ValidateComponent", testValidateComponent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, s)
		})
	}
}

func testContractBodiesPass(t *testing.T, s *schemacheck.Schema) {
	for _, tc := range contractBodies {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.NoError(t, s.ValidateResponse(tc.method, tc.path, tc.status, []byte(tc.body)))
		})
	}
}

func fixture(t *testing.T, name string) string {
	t.Helper()
	for _, tc := range contractBodies {
		if tc.name == name {
			return tc.body
		}
	}
	t.Fatalf("no fixture %q", name)
	return ""
}

// mutate replaces old with new in a fixture body, failing if old is absent
// so a fixture edit cannot silently turn a negative test into a no-op.
func mutate(t *testing.T, body, old, new string) string {
	t.Helper()
	require.Contains(t, body, old)
	return strings.Replace(body, old, new, 1)
}

func testBrokenBodiesFail(t *testing.T, s *schemacheck.Schema) {
	tests := []struct {
		name    string
		fixture string
		method  string
		path    string
		old     string
		new     string
		want    []string // substrings of the error
	}{
		{"missing required field", "ldap providers", "GET", "/outposts/ldap/",
			`"unbind_flow_slug":"default-invalidation-flow",`, ``,
			[]string{"$.results[0].unbind_flow_slug: required property is missing"}},
		{"missing nested required field", "instances", "GET", "/outposts/instances/",
			`"meta_model_name":"authentik_providers_ldap.ldapprovider"`, `"x":1`,
			[]string{"$.results[0].providers_obj[0].meta_model_name: required property is missing"}},
		{"missing pagination field", "ldap providers", "GET", "/outposts/ldap/",
			`"start_index":1,`, ``,
			[]string{"$.pagination.start_index: required property is missing"}},
		{"missing autocomplete", "users list", "GET", "/core/users/",
			`,"autocomplete":{}`, ``,
			[]string{"$.autocomplete: required property is missing"}},
		{"integer as string", "ldap providers", "GET", "/outposts/ldap/",
			`"pk":1,`, `"pk":"1",`,
			[]string{"$.results[0].pk: expected integer, got string"}},
		{"integer with fraction", "ldap providers", "GET", "/outposts/ldap/",
			`"uid_start_number":2000`, `"uid_start_number":2000.5`,
			[]string{"$.results[0].uid_start_number: expected integer"}},
		{"boolean as string", "radius providers", "GET", "/outposts/radius/",
			`"mfa_support":true`, `"mfa_support":"true"`,
			[]string{"$.results[0].mfa_support: expected boolean, got string"}},
		{"array as object", "users list", "GET", "/core/users/",
			`"roles":[]`, `"roles":{}`,
			[]string{"$.results[0].roles: expected array, got object"}},
		{"null where not nullable", "ldap providers", "GET", "/outposts/ldap/",
			`"name":"ldap-provider"`, `"name":null`,
			[]string{"$.results[0].name: null is not allowed"}},
		{"enum violation", "ldap providers", "GET", "/outposts/ldap/",
			`"search_mode":"direct"`, `"search_mode":"sideways"`,
			[]string{`$.results[0].search_mode`, `"sideways"`}},
		{"bad uuid", "ldap providers", "GET", "/outposts/ldap/",
			`"certificate":null`, `"certificate":"not-a-uuid"`,
			[]string{`$.results[0].certificate`, "not a uuid"}},
		{"bad date-time", "users list", "GET", "/core/users/",
			`"date_joined":"2026-01-01T00:00:00Z"`, `"date_joined":"yesterday"`,
			[]string{`$.results[0].date_joined: "yesterday" is not an RFC 3339 date-time`}},
		{"unknown challenge component", "redirect", "POST", "/flows/executor/x/",
			`xak-flow-redirect`, `ak-stage-made-up`,
			[]string{`$.component: discriminator value "ak-stage-made-up"`}},
		{"challenge missing required field", "redirect", "POST", "/flows/executor/x/",
			`"to":"/"`, `"too":"/"`,
			[]string{"$.to: required property is missing"}},
		{"identification missing primary_action", "identification", "GET", "/flows/executor/x/",
			`"primary_action":"Log in",`, ``,
			[]string{"$.primary_action: required property is missing"}},
		{"additionalProperties typed", "password error", "POST", "/flows/executor/x/",
			`[{"string":"Invalid password","code":"invalid"}]`, `"Invalid password"`,
			[]string{`$.response_errors.password: expected array, got string`}},
		{"flow_info missing layout", "identification", "GET", "/flows/executor/x/",
			`,"layout":"stacked"`, ``,
			[]string{"$.flow_info.layout: required property is missing"}},
		{"generic error without detail", "forbidden", "GET", "/outposts/instances/",
			`"detail"`, `"message"`,
			[]string{"$.detail: required property is missing"}},
		{"not json", "forbidden", "GET", "/outposts/instances/",
			`{"detail":"Authentication credentials were not provided."}`, `<html>Forbidden</html>`,
			[]string{"$: body is not a single JSON value"}},
		{"trailing data", "forbidden", "GET", "/outposts/instances/",
			`}`, `}{}`,
			[]string{"trailing data"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			base := fixture(t, tc.fixture)
			status := 200
			if tc.fixture == "forbidden" {
				status = 403
			}
			body := mutate(t, base, tc.old, tc.new)
			err := s.ValidateResponse(tc.method, tc.path, status, []byte(body))
			require.Error(t, err)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
			var p *schemacheck.Problem
			assert.True(t, errors.As(err, &p), "problems are *Problem")
		})
	}
}

func testAllProblemsReported(t *testing.T, s *schemacheck.Schema) {
	body := `{"pagination":{"next":0,"previous":0,"count":2,"current":1,"total_pages":1,"start_index":1,"end_index":2},"autocomplete":{},"results":[` +
		`{"pk":1,"name":"a","bind_flow_slug":"f","application_slug":"a"},` +
		`{"pk":"2","name":"b","bind_flow_slug":"f","unbind_flow_slug":null}]}`
	err := s.ValidateResponse("GET", "/outposts/ldap/", 200, []byte(body))
	require.Error(t, err)
	msg := err.Error()
	assert.Contains(t, msg, "$.results[0].unbind_flow_slug: required property is missing")
	assert.Contains(t, msg, "$.results[1].application_slug: required property is missing")
	assert.Contains(t, msg, "$.results[1].pk: expected integer, got string")
	assert.NotContains(t, msg, "results[1].unbind_flow_slug", "unbind_flow_slug is nullable")
}

func testOperationMatching(t *testing.T, s *schemacheck.Schema) {
	tests := []struct {
		method, path, want string
		err                error
	}{
		{"GET", "/core/users/me/", "/core/users/me/", nil},
		{"GET", "/core/users/7/", "/core/users/{id}/", nil},
		{"GET", "/api/v3/core/users/7/?include_groups=true", "/core/users/{id}/", nil},
		{"get", "/outposts/ldap/", "/outposts/ldap/", nil},
		{"GET", "/outposts/ldap/3/check_access/", "/outposts/ldap/{id}/check_access/", nil},
		{"POST", "/flows/executor/default-authentication-flow/", "/flows/executor/{flow_slug}/", nil},
		{"GET", "/crypto/certificatekeypairs/c0ffee00-0000-4000-8000-000000000001/view_private_key/", "/crypto/certificatekeypairs/{kp_uuid}/view_private_key/", nil},
		{"GET", "/core/users/", "/core/users/", nil},
		{"GET", "/core/users", "", schemacheck.ErrNoOperation},
		{"GET", "/core/users//", "", schemacheck.ErrNoOperation},
		{"GET", "/no/such/thing/", "", schemacheck.ErrNoOperation},
		{"PATCH", "/outposts/ldap/", "", schemacheck.ErrNoOperation},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			t.Parallel()
			got, err := s.Operation(tc.method, tc.path)
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func testStatusSelection(t *testing.T, s *schemacheck.Schema) {
	err := s.ValidateResponse("GET", "/outposts/ldap/", 418, []byte(`{}`))
	require.ErrorIs(t, err, schemacheck.ErrUndocumentedStatus)

	// 403 is GenericError, 400 is ValidationError (free-form).
	require.NoError(t, s.ValidateResponse("GET", "/outposts/ldap/", 403, []byte(`{"detail":"no"}`)))
	require.Error(t, s.ValidateResponse("GET", "/outposts/ldap/", 403, []byte(`{}`)))
	require.NoError(t, s.ValidateResponse("GET", "/outposts/ldap/", 400, []byte(`{"page":["Invalid page."]}`)))

	// 204 has no body.
	require.NoError(t, s.ValidateResponse("DELETE", "/core/users/7/", 204, nil))
	require.Error(t, s.ValidateResponse("DELETE", "/core/users/7/", 204, []byte(`{"x":1}`)))
}

func testValidateComponent(t *testing.T, s *schemacheck.Schema) {
	ldap := `{"pk":1,"name":"ldap-provider","base_dn":"dc=ldap,dc=goauthentik,dc=io","bind_flow_slug":"default-authentication-flow","unbind_flow_slug":null,"application_slug":"ldap-app","certificate":null,"tls_server_name":"","uid_start_number":2000,"gid_start_number":4000,"search_mode":"cached","bind_mode":"direct","mfa_support":false}`
	require.NoError(t, s.ValidateComponent("LDAPOutpostConfig", []byte(ldap)))

	err := s.ValidateComponent("LDAPOutpostConfig", []byte(`{"pk":1}`))
	require.Error(t, err)
	for _, f := range []string{"name", "bind_flow_slug", "unbind_flow_slug", "application_slug"} {
		assert.Contains(t, err.Error(), "$."+f+": required property is missing")
	}

	require.NoError(t, s.ValidateComponent("ChallengeTypes", []byte(`{"component":"xak-flow-redirect","to":"/"}`)))
	require.NoError(t, s.ValidateComponent("GenericError", []byte(`{"detail":"x","code":"y"}`)))
	require.Error(t, s.ValidateComponent("GenericError", []byte(`[]`)))

	err = s.ValidateComponent("NoSuchThing", []byte(`{}`))
	require.ErrorIs(t, err, schemacheck.ErrUnknownComponent)
}

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, err := schemacheck.Load(dir + "/missing.yml")
	require.Error(t, err)

	bad := dir + "/bad.yml"
	require.NoError(t, os.WriteFile(bad, []byte("paths: [1, 2\n"), 0o600))
	_, err = schemacheck.Load(bad)
	require.Error(t, err)

	empty := dir + "/empty.yml"
	require.NoError(t, os.WriteFile(empty, []byte("openapi: 3.0.3\n"), 0o600))
	_, err = schemacheck.Load(empty)
	require.ErrorContains(t, err, "no paths")
}

func TestFindHonoursEnv(t *testing.T) {
	// Not parallel: sets an environment variable.
	dir := t.TempDir()
	t.Setenv(schemacheck.EnvSchemaPath, dir+"/nope.yml")
	_, err := schemacheck.Find()
	require.Error(t, err)

	p := dir + "/schema.yml"
	require.NoError(t, os.WriteFile(p, []byte("paths: {}\n"), 0o600))
	t.Setenv(schemacheck.EnvSchemaPath, p)
	got, err := schemacheck.Find()
	require.NoError(t, err)
	assert.Equal(t, p, got)
}
