package radiusd

import (
	"crypto/hmac"
	"crypto/md5" //nolint:gosec
	"encoding/base64"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2869"
)

func signedRequest(t testing.TB, secret []byte) []byte {
	p := radius.New(radius.CodeAccessRequest, secret)
	p.Attributes = append(p.Attributes, &radius.AVP{Type: rfc2869.MessageAuthenticator_Type, Attribute: make([]byte, 16)})
	_ = rfc2865.UserName_SetString(p, "alice")
	_ = rfc2865.UserPassword_SetString(p, "pw")
	b, err := p.Encode()
	require.NoError(t, err)
	m := hmac.New(md5.New, secret)
	m.Write(b)
	copy(b[22:38], m.Sum(nil))
	return b
}

func TestVerifyMA(t *testing.T) {
	t.Parallel()
	secret := []byte("s3cret")
	good := signedRequest(t, secret)
	present, valid, err := verifyMA(good, newHMACPool(secret), false)
	require.NoError(t, err)
	assert.True(t, present)
	assert.True(t, valid)

	_, valid, err = verifyMA(good, newHMACPool([]byte("other")), false)
	require.NoError(t, err)
	assert.False(t, valid)

	dup := append(append([]byte(nil), good...), good[20:38]...)
	dup[3] = byte(len(dup))
	_, _, err = verifyMA(dup, newHMACPool(secret), false)
	assert.ErrorIs(t, err, errDuplicateMA)

	short := append([]byte(nil), good...)
	short[21] = 10
	_, _, err = verifyMA(short, newHMACPool(secret), false)
	assert.Error(t, err)

	none, err := (&radius.Packet{Code: radius.CodeAccessRequest}).Encode()
	require.NoError(t, err)
	present, _, err = verifyMA(none, newHMACPool(secret), false)
	require.NoError(t, err)
	assert.False(t, present)
}

func TestEncodeResponse(t *testing.T) {
	t.Parallel()
	secret := []byte("s3cret")
	reqB := signedRequest(t, secret)
	req, err := radius.Parse(reqB, secret)
	require.NoError(t, err)
	resp := req.Response(radius.CodeAccessAccept)
	_ = rfc2865.ReplyMessage_SetString(resp, "hi")
	resp.Attributes = append(resp.Attributes, &radius.AVP{Type: rfc2869.MessageAuthenticator_Type, Attribute: []byte("stale value 16 b")})
	b, err := encodeResponse(resp, req.Authenticator, secret, newHMACPool(secret), true)
	require.NoError(t, err)
	assert.True(t, radius.IsAuthenticResponse(b, reqB, secret))
	at, err := findMA(b)
	require.NoError(t, err)
	assert.Equal(t, 22, at, "the Message-Authenticator is first, and only once")
	c := append([]byte(nil), b...)
	copy(c[4:20], reqB[4:20])
	present, valid, err := verifyMA(c, newHMACPool(secret), false)
	require.NoError(t, err)
	assert.True(t, present)
	assert.True(t, valid)
}

func TestCheckHeader(t *testing.T) {
	t.Parallel()
	good := signedRequest(t, []byte("s"))
	tests := map[string]struct {
		b       []byte
		wantLen int
	}{
		"good":          {good, len(good)},
		"trailing junk": {append(append([]byte(nil), good...), 1, 2, 3), len(good)},
		"short":         {good[:19], -1},
		"length > data": {good[:len(good)-1], -1},
		"length < 20":   {append([]byte{1, 1, 0, 19}, make([]byte, 16)...), -1},
	}
	for name, tt := range tests {
		b, err := checkHeader(tt.b)
		if tt.wantLen < 0 {
			assert.Error(t, err, name)
			continue
		}
		require.NoError(t, err, name)
		assert.Len(t, b, tt.wantLen, name)
	}
}

func TestDecodeAttributes(t *testing.T) {
	t.Parallel()
	secret := []byte("s")
	p := radius.New(radius.CodeAccessRequest, secret)
	_ = rfc2865.FilterID_SetString(p, "vlan-10")
	p.Attributes = append(p.Attributes, &radius.AVP{Type: rfc2869.MessageAuthenticator_Type, Attribute: make([]byte, 16)})
	pkt, err := p.Encode()
	require.NoError(t, err)

	raw, attrs, reason, err := decodeAttributes(base64.StdEncoding.EncodeToString(pkt), secret)
	require.NoError(t, err)
	assert.Empty(t, reason)
	require.Len(t, attrs, 1, "the core's Message-Authenticator is not copied")
	assert.Equal(t, "vlan-10", string(attrs[0].Attribute))
	back, err := radius.ParseAttributes(raw)
	require.NoError(t, err)
	assert.Equal(t, attrs, back)

	_, _, reason, _ = decodeAttributes("%%%", secret)
	assert.Equal(t, reasonAttrDecode, reason)
	_, _, reason, _ = decodeAttributes(base64.StdEncoding.EncodeToString([]byte("short")), secret)
	assert.Equal(t, reasonAttrParse, reason)
	_, attrs, reason, err = decodeAttributes("", secret)
	assert.NoError(t, err)
	assert.Empty(t, reason)
	assert.Empty(t, attrs)
}

// FuzzPacket runs everything a datagram goes through before a handler sees
// it: framing, Message-Authenticator lookup and check, parsing, and the
// reply encoding.
func FuzzPacket(f *testing.F) {
	secret := []byte("s3cret")
	f.Add(signedRequest(f, secret))
	f.Add([]byte{})
	f.Add(make([]byte, 20))
	f.Add([]byte{1, 1, 0, 22, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 80, 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		pkt, err := checkHeader(b)
		if err != nil {
			return
		}
		macs := newHMACPool(secret)
		for _, zeroAuth := range []bool{false, true} {
			present, valid, err := verifyMA(pkt, macs, zeroAuth)
			if err == nil && present {
				assert.Equal(t, refVerifyMA(pkt, secret, zeroAuth), valid, "zeroAuth %v", zeroAuth)
			}
		}
		_ = radius.IsAuthenticRequest(pkt, secret)
		req, err := radius.Parse(pkt, secret)
		if err != nil {
			return
		}
		_ = rfc2865.UserName_GetString(req)
		_, _ = rfc2865.UserPassword_LookupString(req)
		_ = methodOf(req)
		if len(req.Attributes) < 10 {
			resp := req.Response(radius.CodeAccessAccept)
			for _, a := range req.Attributes {
				if len(a.Attribute) <= 253 {
					resp.Attributes = append(resp.Attributes, a)
				}
			}
			if out, err := encodeResponse(resp, req.Authenticator, secret, newHMACPool(secret), true); err == nil {
				assert.True(t, radius.IsAuthenticResponse(out, pkt, secret))
			}
		}
	})
}

func FuzzDecodeAttributes(f *testing.F) {
	secret := []byte("s")
	p := radius.New(radius.CodeAccessRequest, secret)
	_ = rfc2865.FilterID_SetString(p, "vlan-10")
	pkt, _ := p.Encode()
	f.Add(base64.StdEncoding.EncodeToString(pkt))
	f.Add("")
	f.Add("AAAA")
	f.Fuzz(func(t *testing.T, s string) {
		raw, attrs, reason, err := decodeAttributes(s, secret)
		if reason != "" {
			assert.Error(t, err)
			return
		}
		back, err := radius.ParseAttributes(raw)
		require.NoError(t, err)
		assert.Len(t, back, len(attrs))
	})
}

// refVerifyMA is verifyMA the plain way: a copy with the fields zeroed.
func refVerifyMA(b, secret []byte, zeroAuth bool) bool {
	at, err := findMA(b)
	if err != nil || at < 0 {
		return false
	}
	c := append([]byte(nil), b...)
	clear(c[at : at+16])
	if zeroAuth {
		clear(c[4:headerLen])
	}
	m := hmac.New(md5.New, secret)
	m.Write(c)
	return hmac.Equal(m.Sum(nil), b[at:at+16])
}
