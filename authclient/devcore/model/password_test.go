package model

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHashPasswordRoundTrip(t *testing.T) {
	t.Parallel()
	h := HashPassword("alice-password")
	require.True(t, strings.HasPrefix(h, "pbkdf2_sha256$"), h)
	require.Len(t, strings.Split(h, "$"), 4)
	assert.NotEqual(t, h, HashPassword("alice-password"), "salt must differ per hash")

	u := &User{PasswordHash: h}
	assert.True(t, u.CheckPassword("alice-password"))
	assert.False(t, u.CheckPassword("alice-passwore"))
	assert.False(t, u.CheckPassword(""))
}

func TestCheckPassword(t *testing.T) {
	t.Parallel()
	// Vector computed with Python's hashlib.pbkdf2_hmac, which Django uses.
	const django = "pbkdf2_sha256$1000$seasalt$mQnueSakb748zqBAC1tmWVZsZbi2zPGZarEzTGdfmso="
	tests := []struct {
		name string
		hash string
		pw   string
		want bool
	}{
		{"django vector", django, "correct horse", true},
		{"django vector wrong pw", django, "correct horse ", false},
		{"empty hash", "", "", false},
		{"empty hash with pw", "", "x", false},
		{"empty pw", django, "", false},
		{"other algorithm", strings.Replace(django, "pbkdf2_sha256", "pbkdf2_sha1", 1), "correct horse", false},
		{"too few parts", "pbkdf2_sha256$1000$seasalt", "correct horse", false},
		{"bad iterations", "pbkdf2_sha256$x$seasalt$mQnueSakb748zqBAC1tmWVZsZbi2zPGZarEzTGdfmso=", "correct horse", false},
		{"zero iterations", "pbkdf2_sha256$0$seasalt$mQnueSakb748zqBAC1tmWVZsZbi2zPGZarEzTGdfmso=", "correct horse", false},
		{"huge iterations", "pbkdf2_sha256$999999999$seasalt$mQnueSakb748zqBAC1tmWVZsZbi2zPGZarEzTGdfmso=", "correct horse", false},
		{"bad base64", "pbkdf2_sha256$1000$seasalt$!!!", "correct horse", false},
		{"empty digest", "pbkdf2_sha256$1000$seasalt$", "correct horse", false},
		{"unusable django hash", "!unusable", "correct horse", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u := &User{PasswordHash: tt.hash}
			assert.Equal(t, tt.want, u.CheckPassword(tt.pw))
		})
	}
	var nilUser *User
	assert.False(t, nilUser.CheckPassword("x"))
}
