package fields

import (
	"bufio"
	"bytes"
	"net/http"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// written returns what f writes.
func written(f func(bw *bufio.Writer)) string {
	var buf bytes.Buffer
	bw := bufio.NewWriter(&buf)
	f(bw)
	_ = bw.Flush()
	return buf.String()
}

func TestWriteValue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{"plain", "text/html", "text/html"},
		{"empty", "", ""},
		{"inner spaces kept", "a  b\tc", "a  b\tc"},
		{"trimmed", " \t value \t ", "value"},
		{"CRLF injection", "alice\r\nX-Admin: 1", "alice  X-Admin: 1"},
		{"lone LF", "a\nb", "a b"},
		{"lone CR", "a\rb", "a b"},
		{"CR and LF only", "\r\n\r\n", ""},
		{"CRLF at the ends trimmed", "\r\nvalue\r\n", "value"},
		{"CRLF then space", "a\r\n b", "a   b"},
		{"UTF-8 kept", "Zoë 🚀", "Zoë 🚀"},
		{"UTF-8 with LF", "Zoë\n🚀", "Zoë 🚀"},
		{"obs-text kept", "caf\xe9", "caf\xe9"},
		{"NUL passed through", "a\x00b", "a\x00b"},
		{"quoted", `"a, b"`, `"a, b"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := written(func(bw *bufio.Writer) { WriteValue(bw, tt.in) })
			assert.Equal(t, tt.want, got)
		})
	}
}

// TestWriteValueLikeNetHTTP: values net/http writes in a way WriteValue
// does not. net/http replaces CR and LF byte by byte and trims only ASCII
// whitespace (textproto.TrimString); WriteValue's strings.Map turns every
// invalid UTF-8 byte into U+FFFD (3 bytes) once the value holds a CR or
// LF, and strings.TrimSpace also trims Unicode spaces (NBSP, NEL, VT, FF)
// that are part of the value.
func TestWriteValueLikeNetHTTP(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
	}{
		{"obs-text with LF", "caf\xe9\nau lait"},
		{"invalid UTF-8 with CR", "\xff\xfe\r"},
		{"trailing NBSP", "value\u00a0"},
		{"leading NEL", "\u0085value"},
		{"vertical tab", "value\v"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := written(func(bw *bufio.Writer) { WriteValue(bw, tt.in) })
			// What http.Header.Write produces for the same value.
			var buf bytes.Buffer
			require.NoError(t, http.Header{"K": {tt.in}}.Write(&buf))
			want := strings.TrimSuffix(strings.TrimPrefix(buf.String(), "K: "), "\r\n")
			assert.Equal(t, want, got)
		})
	}
}

func TestWrite(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		k    string
		vv   []string
		want string
	}{
		{"one value", "X-User", []string{"alice"}, "X-User: alice\r\n"},
		{"several values, in order", "Set-Cookie", []string{"a=1", "b=2", "c=3"}, "Set-Cookie: a=1\r\nSet-Cookie: b=2\r\nSet-Cookie: c=3\r\n"},
		{"no values", "X-Empty", nil, ""},
		{"empty value", "X-Empty", []string{""}, "X-Empty: \r\n"},
		{"name kept as given", "x-lower", []string{"v"}, "x-lower: v\r\n"},
		{"token characters", "X!#$%&'*+-.^_`|~0", []string{"v"}, "X!#$%&'*+-.^_`|~0: v\r\n"},
		{"value cleaned", "X-User", []string{" alice\r\nX-Admin: 1 "}, "X-User: alice  X-Admin: 1\r\n"},
		{"empty name dropped", "", []string{"v"}, ""},
		{"space in name dropped", "X User", []string{"v"}, ""},
		{"colon in name dropped", "X:User", []string{"v"}, ""},
		{"CRLF in name dropped", "X-A\r\nX-Admin", []string{"1"}, ""},
		{"LF in name dropped", "X\n", []string{"1"}, ""},
		{"non-ASCII name dropped", "X-Zoë", []string{"1"}, ""},
		{"separator in name dropped", "X(Y)", []string{"1"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := written(func(bw *bufio.Writer) { Write(bw, tt.k, tt.vv) })
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestWriteAll(t *testing.T) {
	t.Parallel()
	h := http.Header{
		"Content-Type": {"text/plain"},
		"Set-Cookie":   {"a=1", "b=2"},
		"X-Skip":       {"secret"},
		"Bad Name":     {"dropped"},
		"X-Crlf":       {"a\r\nb"},
	}
	tests := []struct {
		name string
		skip func(string) bool
		want []string
	}{
		{"nil skip", nil, []string{"Content-Type: text/plain", "Set-Cookie: a=1", "Set-Cookie: b=2", "X-Skip: secret", "X-Crlf: a  b"}},
		{"skip one", func(k string) bool { return k == "X-Skip" }, []string{"Content-Type: text/plain", "Set-Cookie: a=1", "Set-Cookie: b=2", "X-Crlf: a  b"}},
		{"skip all", func(string) bool { return true }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := written(func(bw *bufio.Writer) { WriteAll(bw, h, tt.skip) })
			if tt.want == nil {
				assert.Empty(t, got)
				return
			}
			require.True(t, strings.HasSuffix(got, "\r\n"))
			lines := strings.Split(strings.TrimSuffix(got, "\r\n"), "\r\n")
			assert.ElementsMatch(t, tt.want, lines)
			// The values of one field stay in order.
			assert.Less(t, slices.Index(lines, "Set-Cookie: a=1"), slices.Index(lines, "Set-Cookie: b=2"))
			// What a parser reads back.
			req, err := http.ReadRequest(bufio.NewReader(strings.NewReader("GET / HTTP/1.1\r\nHost: h\r\n" + got + "\r\n")))
			require.NoError(t, err)
			assert.Equal(t, []string{"a=1", "b=2"}, req.Header["Set-Cookie"])
		})
	}
}

// FuzzWriteValue: a written value never holds CR or LF, and it is the
// input (trimmed) when the input held none; for valid UTF-8 it is the
// input with CR and LF turned into spaces, trimmed.
func FuzzWriteValue(f *testing.F) {
	for _, s := range []string{"", "plain", " spaced ", "a\r\nb", "\r", "\n", "caf\xe9", "Zoë\r\n🚀", "\t\r\n\t"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got := written(func(bw *bufio.Writer) { WriteValue(bw, in) })
		if strings.ContainsAny(got, "\r\n") {
			t.Fatalf("WriteValue(%q) = %q holds CR or LF", in, got)
		}
		if !strings.ContainsAny(in, "\r\n") && got != strings.TrimSpace(in) {
			t.Fatalf("WriteValue(%q) = %q, want the input trimmed", in, got)
		}
		if utf8.ValidString(in) {
			want := strings.TrimSpace(strings.NewReplacer("\r", " ", "\n", " ").Replace(in))
			if got != want {
				t.Fatalf("WriteValue(%q) = %q, want %q", in, got, want)
			}
		}
		// The written line parses back as one field with the same value.
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader("GET / HTTP/1.1\r\nHost: h\r\nX-V: " + got + "\r\n\r\n")))
		if err != nil {
			return // values with other control bytes are not valid on the wire either way
		}
		if len(req.Header) != 1 || req.Header.Get("X-V") != strings.Trim(got, " \t") {
			t.Fatalf("WriteValue(%q) = %q parses back as %v", in, got, req.Header)
		}
	})
}

func TestValue(t *testing.T) {
	t.Parallel()
	h := http.Header{"X-A": {"1", "2"}, "X-Empty": {}, "x-lower": {"l"}}
	assert.Equal(t, "1", Value(h, "X-A"))
	assert.Empty(t, Value(h, "X-Empty"))
	assert.Empty(t, Value(h, "X-Missing"))
	assert.Empty(t, Value(h, "X-Lower"), "keys are looked up as given, like a map")
}
