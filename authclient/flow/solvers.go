package flow

import (
	"strconv"

	api "goauthentik.io/api/v3"
)

// solve answers one challenge. Only the stages a username/password protocol
// can answer are supported; anything else (consent, prompt, captcha,
// WebAuthn, e-mail, SMS...) fails the attempt.
func solve(ch *challenge, a answers) (api.FlowChallengeResponseRequest, error) {
	comp := ch.Component
	switch comp {
	case componentIdentification:
		r := api.NewIdentificationChallengeResponseRequest()
		r.SetUidField(a.username)
		// Sent even when the stage has no password field, as authentik's
		// outposts do; the core ignores it then.
		r.SetPassword(a.password)
		return api.IdentificationChallengeResponseRequestAsFlowChallengeResponseRequest(r), nil
	case componentPassword:
		r := api.NewPasswordChallengeResponseRequest(a.password)
		return api.PasswordChallengeResponseRequestAsFlowChallengeResponseRequest(r), nil
	case componentUserLogin:
		r := api.NewUserLoginChallengeResponseRequest(true)
		return api.UserLoginChallengeResponseRequestAsFlowChallengeResponseRequest(r), nil
	case componentAuthenticatorValidate:
		r, err := solveAuthenticatorValidate(ch.DeviceChallenges, a.code)
		if err != nil {
			return api.FlowChallengeResponseRequest{}, err
		}
		return api.AuthenticatorValidationChallengeResponseRequestAsFlowChallengeResponseRequest(r), nil
	}
	return api.FlowChallengeResponseRequest{}, fail(ReasonFlowError, nil, "unsupported challenge type %q", truncate(comp, 64))
}

// solveAuthenticatorValidate picks the device to answer with. Duo needs no
// input from the user (a push), so it wins over everything; a TOTP or static
// device is only usable with an inline code, and then the first one offered
// is used (the core checks the code against all of the user's devices of
// that class).
func solveAuthenticatorValidate(devices []api.DeviceChallenge, code string) (*api.AuthenticatorValidationChallengeResponseRequest, error) {
	r := api.NewAuthenticatorValidationChallengeResponseRequest()
	var selected *api.DeviceChallenge
	for i := range devices {
		d := &devices[i]
		switch d.DeviceClass {
		case api.DEVICECLASSESENUM_DUO:
			id, err := strconv.ParseInt(d.DeviceUid, 10, 32)
			if err != nil {
				return nil, fail(ReasonFlowError, err, "duo device id %q is not an integer", truncate(d.DeviceUid, 32))
			}
			duo := int32(id)
			selected = d
			r.Duo = &duo
			r.Code = nil
		case api.DEVICECLASSESENUM_TOTP, api.DEVICECLASSESENUM_STATIC:
			if selected == nil && code != "" {
				selected = d
				c := code
				r.Code = &c
			}
		}
	}
	if selected == nil {
		return nil, fail(ReasonFlowError, nil, "no compatible authenticator class found")
	}
	challenge := selected.Challenge
	if challenge == nil {
		challenge = map[string]any{}
	}
	r.SelectedChallenge = &api.DeviceChallengeRequest{
		DeviceClass: selected.DeviceClass,
		DeviceUid:   selected.DeviceUid,
		Challenge:   challenge,
		LastUsed:    selected.LastUsed,
	}
	return r, nil
}
