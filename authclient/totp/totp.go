// Package totp computes time-based one-time passwords (RFC 6238) the way
// django-otp's TOTPDevice does, so the stand-in core and tests agree with
// authentik on which codes are valid.
package totp

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"time"
)

// Params describe a TOTP device. The zero value is not valid; use Default.
type Params struct {
	Digits int           // 6 or 8
	Step   time.Duration // 30s in authentik
	// Skew is how many steps before and after the current one are accepted;
	// django-otp tolerates one step of clock drift.
	Skew int
}

// Default is authentik's TOTP device configuration.
var Default = Params{Digits: 6, Step: 30 * time.Second, Skew: 1}

// Code returns the code for key at time t.
func Code(key []byte, t time.Time, p Params) string {
	return hotp(key, uint64(t.Unix()/int64(p.Step/time.Second)), p.Digits)
}

// Verify reports whether code is valid for key at time t, within p.Skew steps.
func Verify(key []byte, code string, t time.Time, p Params) bool {
	if len(code) != p.Digits {
		return false
	}
	counter := t.Unix() / int64(p.Step/time.Second)
	ok := 0
	for d := -p.Skew; d <= p.Skew; d++ {
		want := hotp(key, uint64(counter+int64(d)), p.Digits)
		ok |= subtle.ConstantTimeCompare([]byte(want), []byte(code))
	}
	return ok == 1
}

func hotp(key []byte, counter uint64, digits int) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], counter)
	mac := hmac.New(sha1.New, key)
	mac.Write(msg[:])
	sum := mac.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	mod := uint32(1)
	for range digits {
		mod *= 10
	}
	return fmt.Sprintf("%0*d", digits, v%mod)
}
