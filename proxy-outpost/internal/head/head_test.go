package head

import (
	"net/http"
	"net/textproto"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFields(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		in     string
		want   http.Header
		length int64
		ok     bool
	}{
		{"no fields", "\r\n", http.Header{}, -1, true},
		{"fields", "A: 1\r\nb-c:2\r\nA: 3 \t\r\n\r\n", http.Header{"A": {"1", "3"}, "B-C": {"2"}}, -1, true},
		{"Content-Length", "content-length: 42\n\n", http.Header{"Content-Length": {"42"}}, 42, true},
		{"Content-Length 0", "Content-Length: 0\r\n\r\n", http.Header{"Content-Length": {"0"}}, 0, true},
		{"no blank line", "A: 1\r\n", nil, 0, false},
		{"bytes after the blank line", "A: 1\r\n\r\nB: 2\r\n\r\n", nil, 0, false},
		{"Transfer-Encoding", "transfer-encoding: chunked\r\n\r\n", nil, 0, false},
		{"Pragma", "Pragma: no-cache\r\n\r\n", nil, 0, false},
		{"two Content-Lengths", "Content-Length: 1\r\nContent-Length: 1\r\n\r\n", nil, 0, false},
		{"continuation", "A: 1\r\n 2\r\n\r\n", nil, 0, false},
		{"CR in a value", "A: 1\r2\r\n\r\n", nil, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, vals := range [][]string{nil, make([]string, 8)} {
				h, length, ok := Fields(tt.in, vals)
				require.Equal(t, tt.ok, ok)
				if ok {
					assert.Equal(t, tt.want, h)
					assert.Equal(t, tt.length, length)
				}
			}
		})
	}
}

func TestFieldsUseVals(t *testing.T) {
	t.Parallel()
	vals := make([]string, 4)
	h, _, ok := Fields("A: 1\r\nB: 2\r\n\r\n", vals)
	require.True(t, ok)
	assert.Equal(t, []string{"1", "2", "", ""}, vals)
	// Capped: an append leaves the neighbour alone.
	h["A"] = append(h["A"], "x")
	assert.Equal(t, []string{"2"}, h["B"])
	assert.Equal(t, "2", vals[1])
}

func TestFieldLine(t *testing.T) {
	t.Parallel()
	assert.True(t, FieldLine("Content-Type: text/html\r"))
	assert.True(t, FieldLine("x:"))
	assert.False(t, FieldLine(" folded"))
	assert.False(t, FieldLine("no colon"))
	assert.False(t, FieldLine("A : 1"))
	assert.False(t, FieldLine(""))
}

// FuzzCanonicalKey: for any string, CanonicalKey is what net/http makes
// (canonicalKey, for tokens, is what textproto makes).
func FuzzCanonicalKey(f *testing.F) {
	for _, seed := range []string{"host", "X-Original-URL", "www-authenticate", "a--b", strings.Repeat("ab-", 30),
		"keep-alive", "CLOSE", "uPgRaDe", "with space", "\u212aeep-alive", "close\u017f", ""} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, k string) {
		require.Equal(t, http.CanonicalHeaderKey(k), CanonicalKey(k))
		if IsToken(k) {
			require.Equal(t, textproto.CanonicalMIMEHeaderKey(k), canonicalKey(k))
		}
	})
}

func TestBlankLine(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		in   string
		from int
		want int
	}{
		{"empty", "", 0, -1},
		{"no blank line", "GET / HTTP/1.1\r\nHost: a\r\n", 0, -1},
		{"CRLF", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 0, 27},
		{"CRLF with body", "GET / HTTP/1.1\r\nHost: a\r\n\r\nbody", 0, 27},
		{"bare LF", "GET / HTTP/1.1\nHost: a\n\n", 0, 24},
		{"LF then CRLF", "GET / HTTP/1.1\nHost: a\n\r\n", 0, 25},
		{"CRLF then LF", "GET / HTTP/1.1\r\nHost: a\r\n\n", 0, 26},
		{"only LF LF", "\n\n", 0, 2},
		{"only CRLF CRLF", "\r\n\r\n", 0, 4},
		{"CR alone is no line end", "a\r\r\n", 0, -1},
		{"LF CR without LF", "a\n\r", 0, -1},
		{"LF CR CR LF is not blank", "a\n\r\r\n", 0, -1},
		{"first of two", "a\n\nb\n\n", 0, 3},
		{"from skips the first", "a\n\nb\n\n", 3, 6},
		{"from at the LF", "abc\n\r\n", 3, 6},
		{"from past the LF", "abc\n\r\n", 4, -1},
		{"from at the end", "a\n\n", 3, -1},
		{"space line is a continuation", "a\n \n", 0, -1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, BlankLine([]byte(tc.in), tc.from))
		})
	}
}

// blankLineBytes is BlankLine as a plain loop over every byte, the
// reference FuzzBlankLine holds the faster one to.
func blankLineBytes(b []byte, from int) int {
	for i := max(from, 0); i < len(b); i++ {
		if b[i] != '\n' {
			continue
		}
		if i+1 < len(b) && b[i+1] == '\n' {
			return i + 2
		}
		if i+2 < len(b) && b[i+1] == '\r' && b[i+2] == '\n' {
			return i + 3
		}
	}
	return -1
}

func FuzzBlankLine(f *testing.F) {
	for _, seed := range []string{"", "a\n\nb", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", "a\n\r\r\n", "\n\r\n", "a\n \n\n"} {
		for _, from := range []int{-1, 0, 1, 3} {
			f.Add([]byte(seed), from)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte, from int) {
		require.Equal(t, blankLineBytes(b, from), BlankLine(b, from))
	})
}
