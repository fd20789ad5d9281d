package model

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"strconv"
	"strings"
)

// passwordAlgorithm is Django's name for PBKDF2-HMAC-SHA256, so a hash made
// here reads like one authentik stores ("pbkdf2_sha256$iter$salt$b64").
const passwordAlgorithm = "pbkdf2_sha256"

// passwordIterations is far below Django's default (over a million). The
// stand-in core hashes every blueprint password each time blueprints are
// loaded, and tests load them many times, often under the race detector;
// a real work factor would make that take seconds. The hashes protect
// nothing but demo and test credentials, so speed wins here.
const passwordIterations = 4096

// maxPasswordIterations bounds the work a stored hash can demand, so a hash
// from an untrusted blueprint cannot stall a login.
const maxPasswordIterations = 2_000_000

// HashPassword returns a salted PBKDF2-SHA256 hash of pw in Django's format.
// It returns "" (a hash that never matches) if the key cannot be derived.
func HashPassword(pw string) string {
	// rand.Text is base32, so the salt is plain ASCII without '$' as Django
	// expects.
	salt := rand.Text()
	dk, err := pbkdf2.Key(sha256.New, pw, []byte(salt), passwordIterations, sha256.Size)
	if err != nil {
		return ""
	}
	return passwordAlgorithm + "$" + strconv.Itoa(passwordIterations) + "$" + salt + "$" +
		base64.StdEncoding.EncodeToString(dk)
}

// CheckPassword reports whether pw matches the user's password hash. An empty
// hash (no usable password), an empty pw or a malformed hash never matches.
func (u *User) CheckPassword(pw string) bool {
	if u == nil || u.PasswordHash == "" || pw == "" {
		return false
	}
	return checkPasswordHash(u.PasswordHash, pw)
}

func checkPasswordHash(encoded, pw string) bool {
	parts := strings.Split(encoded, "$")
	if len(parts) != 4 || parts[0] != passwordAlgorithm {
		return false
	}
	iter, err := strconv.Atoi(parts[1])
	if err != nil || iter < 1 || iter > maxPasswordIterations {
		return false
	}
	want, err := base64.StdEncoding.DecodeString(parts[3])
	if err != nil || len(want) == 0 || len(want) > 1024 {
		return false
	}
	got, err := pbkdf2.Key(sha256.New, pw, []byte(parts[2]), iter, len(want))
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare(got, want) == 1
}
