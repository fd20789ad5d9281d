package totp

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// Vectors from RFC 6238 appendix B (SHA-1, 8 digits).
func TestCodeRFC6238(t *testing.T) {
	t.Parallel()
	key := []byte("12345678901234567890")
	p := Params{Digits: 8, Step: 30 * time.Second}
	for _, tc := range []struct {
		unix int64
		want string
	}{
		{59, "94287082"},
		{1111111109, "07081804"},
		{1111111111, "14050471"},
		{1234567890, "89005924"},
		{2000000000, "69279037"},
	} {
		assert.Equal(t, tc.want, Code(key, time.Unix(tc.unix, 0), p), "t=%d", tc.unix)
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	key := []byte("secret-key-material")
	now := time.Unix(1700000000, 0)
	tests := []struct {
		name string
		code string
		want bool
	}{
		{"current", Code(key, now, Default), true},
		{"previous step", Code(key, now.Add(-30*time.Second), Default), true},
		{"next step", Code(key, now.Add(30*time.Second), Default), true},
		{"two steps old", Code(key, now.Add(-60*time.Second), Default), false},
		{"wrong length", "12345", false},
		{"garbage", "abcdef", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, Verify(key, tc.code, now, Default))
		})
	}
}
