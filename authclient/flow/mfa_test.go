package flow

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestSplitMFA(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, pw, code string
		ok                 bool
	}{
		{"no separator", "secret", "secret", "", false},
		{"empty", "", "", "", false},
		{"six digits", "secret;123456", "secret", "123456", true},
		{"eight digits", "secret;12345678", "secret", "12345678", true},
		{"eight alnum static token", "secret;abCD1234", "secret", "abCD1234", true},
		{"last separator wins", "se;cr;et;654321", "se;cr;et", "654321", true},
		{"empty password part", ";123456", "", "123456", true},
		{"trailing separator", "secret;", "secret;", "", false},
		{"only separator", ";", ";", "", false},
		{"six with letter", "secret;12345a", "secret;12345a", "", false},
		{"six with sign", "secret;+12345", "secret;+12345", "", false},
		{"five digits", "secret;12345", "secret;12345", "", false},
		{"seven digits", "secret;1234567", "secret;1234567", "", false},
		{"nine chars", "secret;123456789", "secret;123456789", "", false},
		{"eight with symbol", "secret;abcd-123", "secret;abcd-123", "", false},
		{"eight non-ascii bytes", "secret;ééé1", "secret;ééé1", "", false},
		{"code then text", "secret;123456;x", "secret;123456;x", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pw, code, ok := SplitMFA(tt.in)
			assert.Equal(t, tt.pw, pw)
			assert.Equal(t, tt.code, code)
			assert.Equal(t, tt.ok, ok)
		})
	}
}

func FuzzSplitMFA(f *testing.F) {
	for _, s := range []string{"", ";", "pw", "pw;123456", "pw;abcd1234", "a;b;c;12345678", "pw;12345", "pw;\xff\xfe1234"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		pw, code, ok := SplitMFA(in)
		if !ok {
			if pw != in || code != "" {
				t.Fatalf("unsplit input changed: %q -> %q, %q", in, pw, code)
			}
			return
		}
		if pw+";"+code != in {
			t.Fatalf("split %q does not rejoin: %q + %q", in, pw, code)
		}
		if strings.Contains(code, ";") || (len(code) != 6 && len(code) != 8) {
			t.Fatalf("bad code %q from %q", code, in)
		}
		for _, c := range []byte(code) {
			if !isAlnum(c) || (len(code) == 6 && !isDigit(c)) {
				t.Fatalf("bad code %q from %q", code, in)
			}
		}
	})
}
