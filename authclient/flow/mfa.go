package flow

import "strings"

// codeSeparator separates the password from an inline one-time code, for
// protocols (LDAP bind, RADIUS PAP) that only carry a username and password.
const codeSeparator = ";"

// SplitMFA splits "password;code" into the password and an inline MFA code.
// The split is at the last ';' and only happens when the suffix looks like a
// code: 6 digits (TOTP) or 8 characters of [a-zA-Z0-9] (8-digit TOTP or a
// static recovery token). Anything else is returned unchanged with ok false,
// so passwords that merely contain ';' keep working.
//
// authentik's older outposts accepted any 6 characters strconv.Atoi takes
// ("+12345" too); we require digits. Its newest outposts split off a suffix
// of any length; we keep the length check so fewer passwords are mangled.
func SplitMFA(password string) (pw, code string, ok bool) {
	idx := strings.LastIndex(password, codeSeparator)
	if idx < 0 {
		return password, "", false
	}
	suffix := password[idx+len(codeSeparator):]
	switch {
	case len(suffix) == 6 && allBytes(suffix, isDigit):
	case len(suffix) == 8 && allBytes(suffix, isAlnum):
	default:
		return password, "", false
	}
	return password[:idx], suffix, true
}

func allBytes(s string, pred func(byte) bool) bool {
	for i := 0; i < len(s); i++ {
		if !pred(s[i]) {
			return false
		}
	}
	return true
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

func isAlnum(b byte) bool {
	return isDigit(b) || (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z')
}
