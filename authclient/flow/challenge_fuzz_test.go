package flow

import (
	"testing"
)

// FuzzDecodeChallenge: whatever the core answers, decoding and answering a
// challenge never panics, and an answer never carries more than was given.
func FuzzDecodeChallenge(f *testing.F) {
	for _, seed := range []string{
		chIdentification, chPassword, chPasswordError, chUserLogin, chAccessDenied, chRedirect, chConsent,
		chValidate(`{"device_class":"totp","device_uid":"1","challenge":{},"last_used":null}`),
		chValidate(`{"device_class":"duo","device_uid":"x","challenge":{},"last_used":null}`),
		`{}`, `<html>`, `{"component":"ak-stage-password","response_errors":{"password":[]}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		ch, err := decodeChallenge(raw)
		if err != nil {
			return
		}
		if ch.Component == "" {
			t.Fatal("a challenge without a component was accepted")
		}
		_, _ = responseError(ch)
		_, _ = solve(ch, answers{username: "u", password: "p", code: "123456"})
	})
}
