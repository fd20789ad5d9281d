package schemacheck_test

import (
	"testing"
)

// The seeds are the contract bodies; testdata/fuzz holds further seeds
// (malformed JSON, deep nesting, odd paths).

func FuzzValidateResponse(f *testing.F) {
	s := loadSchema(f)
	for _, tc := range contractBodies {
		f.Add(tc.method, tc.path, tc.status, []byte(tc.body))
	}
	f.Fuzz(func(t *testing.T, method, path string, status int, body []byte) {
		// Only the absence of panics and hangs is checked: any input may
		// legitimately be valid or invalid.
		_ = s.ValidateResponse(method, path, status, body)
	})
}

func FuzzValidateComponent(f *testing.F) {
	s := loadSchema(f)
	for _, name := range []string{"LDAPOutpostConfig", "ChallengeTypes", "PaginatedUserList", "SessionUser", "Config", "GenericError", "Outpost"} {
		f.Add(name, []byte(`{}`))
	}
	for _, tc := range contractBodies {
		f.Add("ChallengeTypes", []byte(tc.body))
	}
	f.Fuzz(func(t *testing.T, name string, body []byte) {
		_ = s.ValidateComponent(name, body)
	})
}
