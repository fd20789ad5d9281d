package idtoken_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/outpost-go/outposts/proxy-outpost/idtoken"
)

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

type keys struct {
	rsa *rsa.PrivateKey
	ec  *ecdsa.PrivateKey
}

func jwks(k keys) []byte {
	set := map[string]any{"keys": []map[string]any{
		{"kty": "RSA", "kid": "rsa1", "use": "sig", "alg": "RS256", "n": b64(k.rsa.N.Bytes()), "e": b64(big.NewInt(int64(k.rsa.E)).Bytes())},
		{"kty": "EC", "kid": "ec1", "use": "sig", "alg": "ES256", "crv": "P-256", "x": b64(k.ec.X.FillBytes(make([]byte, 32))), "y": b64(k.ec.Y.FillBytes(make([]byte, 32)))},
	}}
	b, _ := json.Marshal(set)
	return b
}

func TestVerify(t *testing.T) {
	t.Parallel()
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	k := keys{rsa: rk, ec: ek}
	var fetches atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fetches.Add(1)
		_, _ = w.Write(jwks(k))
	}))
	t.Cleanup(srv.Close)
	const iss, aud, secret = "http://core/application/o/app/", "client-1", "client-secret"
	v := idtoken.New(idtoken.Config{Issuers: []string{iss}, ClientID: aud, JWKSURL: srv.URL, HS256Secret: secret})
	noHS := idtoken.New(idtoken.Config{Issuers: []string{iss}, ClientID: aud, JWKSURL: srv.URL})

	base := func() jwt.MapClaims {
		return jwt.MapClaims{"iss": iss, "aud": aud, "sub": "u1", "exp": time.Now().Add(time.Hour).Unix(), "nonce": "n1"}
	}
	sign := func(m jwt.SigningMethod, kid string, key any, c jwt.MapClaims) string {
		tok := jwt.NewWithClaims(m, c)
		if kid != "" {
			tok.Header["kid"] = kid
		}
		s, err := tok.SignedString(key)
		require.NoError(t, err)
		return s
	}
	with := func(k string, val any) jwt.MapClaims { c := base(); c[k] = val; return c }
	otherRSA, _ := rsa.GenerateKey(rand.Reader, 2048)

	tests := []struct {
		name  string
		v     *idtoken.Verifier
		token string
		opts  idtoken.Options
		ok    bool
	}{
		{name: "rs256", v: v, token: sign(jwt.SigningMethodRS256, "rsa1", rk, base()), opts: idtoken.Options{Nonce: "n1", Audience: true}, ok: true},
		{name: "es256", v: v, token: sign(jwt.SigningMethodES256, "ec1", ek, base()), opts: idtoken.Options{Audience: true}, ok: true},
		{name: "hs256 with client secret", v: v, token: sign(jwt.SigningMethodHS256, "", []byte(secret), base()), ok: true},
		{name: "hs256 when the provider does not use it", v: noHS, token: sign(jwt.SigningMethodHS256, "", []byte(secret), base())},
		{name: "hs256 wrong secret", v: v, token: sign(jwt.SigningMethodHS256, "", []byte("guess"), base())},
		{name: "wrong key", v: v, token: sign(jwt.SigningMethodRS256, "rsa1", otherRSA, base())},
		{name: "unknown kid", v: v, token: sign(jwt.SigningMethodRS256, "nope", rk, base())},
		{name: "wrong issuer", v: v, token: sign(jwt.SigningMethodRS256, "rsa1", rk, with("iss", "http://evil/"))},
		{name: "wrong audience", v: v, token: sign(jwt.SigningMethodRS256, "rsa1", rk, with("aud", "other")), opts: idtoken.Options{Audience: true}},
		{name: "expired", v: v, token: sign(jwt.SigningMethodRS256, "rsa1", rk, with("exp", time.Now().Add(-time.Hour).Unix()))},
		{name: "no exp", v: v, token: sign(jwt.SigningMethodRS256, "rsa1", rk, jwt.MapClaims{"iss": iss, "aud": aud, "sub": "u"})},
		{name: "nonce mismatch", v: v, token: sign(jwt.SigningMethodRS256, "rsa1", rk, base()), opts: idtoken.Options{Nonce: "other"}},
		{name: "alg none", v: v, token: sign(jwt.SigningMethodNone, "", jwt.UnsafeAllowNoneSignatureType, base())},
		{name: "garbage", v: v, token: "a.b.c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := tt.v.Verify(t.Context(), tt.token, tt.opts)
			if !tt.ok {
				assert.ErrorIs(t, err, idtoken.ErrInvalid)
				return
			}
			require.NoError(t, err)
			var c map[string]any
			require.NoError(t, json.Unmarshal(raw, &c))
			assert.Equal(t, "u1", c["sub"])
		})
	}
	// Unknown kids do not refetch the key set on every token.
	assert.LessOrEqual(t, fetches.Load(), int32(3))
}

func TestParseJWKS(t *testing.T) {
	t.Parallel()
	_, _, err := idtoken.ParseJWKS([]byte("{"))
	assert.Error(t, err)
	keys, anon, err := idtoken.ParseJWKS([]byte(`{"keys":[{"kty":"oct","k":"x"},{"kty":"EC","crv":"P-256","x":"AQ","y":"AQ"},{"kty":"RSA","n":"AQAB","e":"AQAB"}]}`))
	require.NoError(t, err)
	assert.Empty(t, keys)
	assert.Empty(t, anon, "invalid points and tiny moduli are skipped")
}

func FuzzParseJWKS(f *testing.F) {
	rk, _ := rsa.GenerateKey(rand.Reader, 1024)
	ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	f.Add(jwks(keys{rsa: rk, ec: ek}))
	f.Add([]byte(`{"keys":[]}`))
	f.Add([]byte(`{"keys":[{"kty":"EC","crv":"P-521","x":"","y":""}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _, _ = idtoken.ParseJWKS(b)
	})
}
