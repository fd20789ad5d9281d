// Package head parses the common case of an HTTP/1.1 message head (start
// line, header fields, blank line) with a few allocations, where
// net/textproto spends one or more per line. It is strict: whatever it is
// not sure net/http would parse into the same result, it refuses, and the
// caller hands the bytes to net/http instead. A refusal is always safe; an
// acceptance that differs from net/http is a bug (request smuggling
// hides in such differences), so every rule here errs towards refusing.
package head

import (
	"bytes"
	"net/http"
	"strings"
)

// Byte classes, looked up once per byte.
const (
	tokenByte = 1 << iota // RFC 9110 tchar: field names, methods
	valueByte             // VCHAR, SP, HTAB: field values (obs-text refused)
	lineByte              // VCHAR, SP: start lines
)

var class = func() (t [256]uint8) {
	for c := 0x20; c < 0x7f; c++ {
		t[c] |= valueByte | lineByte
	}
	t['\t'] |= valueByte
	for c := '0'; c <= '9'; c++ {
		t[c] |= tokenByte
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] |= tokenByte
		t[c-'a'+'A'] |= tokenByte
	}
	for _, c := range []byte("!#$%&'*+-.^_`|~") {
		t[c] |= tokenByte
	}
	return t
}()

// IsToken reports whether s is a non-empty token (a method, say).
func IsToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if class[s[i]]&tokenByte == 0 {
			return false
		}
	}
	return true
}

// BlankLine returns the end of the first "\n\n" or "\n\r\n" at or after
// from, or -1: where a head ends.
func BlankLine(b []byte, from int) int {
	for i := max(from, 0); i < len(b); i++ {
		// IndexByte jumps to the next LF with vector instructions: a head
		// is mostly long lines.
		nl := bytes.IndexByte(b[i:], '\n')
		if nl < 0 {
			return -1
		}
		i += nl
		if i+1 < len(b) && b[i+1] == '\n' {
			return i + 2
		}
		if i+2 < len(b) && b[i+1] == '\r' && b[i+2] == '\n' {
			return i + 3
		}
	}
	return -1
}

// StartLine splits a head into its first line, without the line end, and
// the field block after it. It refuses a line with anything but printable
// ASCII and spaces (a tab, a CR other than the one before the LF).
func StartLine(s string) (line, rest string, ok bool) {
	i := strings.IndexByte(s, '\n')
	if i < 0 {
		return "", "", false
	}
	line, rest = s[:i], s[i+1:]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	for j := 0; j < len(line); j++ {
		if class[line[j]]&lineByte == 0 {
			return "", "", false
		}
	}
	return line, rest, true
}

// maxDigits keeps a Content-Length below 1<<63 without overflow checks
// (net/http accepts up to 1<<63-1; longer ones are left to it).
const maxDigits = 18

// Fields parses a field block: field lines, each ending in LF or CRLF,
// then the blank line, which must end s. Every name and value in the
// Header is a substring of s; all values share one backing array (vals
// when it is long enough, so that a caller can put it in an allocation it
// makes anyway), each slice capped at its own length so that an append
// reallocates instead of overwriting a neighbour. Names are canonical as
// textproto makes them, and repeated names collect their values in
// order, as textproto does.
//
// contentLength is the Content-Length field's value, -1 when there is
// none. Fields refuses what net/http would treat as more than a field to
// store: Transfer-Encoding, Pragma (net/http derives Cache-Control from
// it), and a Content-Length that is repeated or not plain decimal digits
// without leading zeros. It refuses continuation lines, whitespace before
// a colon, empty or invalid names, and bytes outside printable ASCII and
// tab.
func Fields(s string, vals []string) (h http.Header, contentLength int64, ok bool) {
	n := strings.Count(s, "\n") - 1 // field lines, without the blank one
	if n < 0 {
		return nil, 0, false
	}
	if n > len(vals) {
		vals = make([]string, n)
	}
	h = make(http.Header, n)
	contentLength = -1
	for i := 0; ; i++ {
		nl := strings.IndexByte(s, '\n')
		if nl < 0 {
			return nil, 0, false
		}
		line := s[:nl]
		s = s[nl+1:]
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		if line == "" {
			// The blank line: the block ends here, and so must s (a
			// caller that discards len(head) bytes relies on it).
			return h, contentLength, s == "" && i == n
		}
		key, value, ok := field(line)
		if !ok || i >= n {
			return nil, 0, false
		}
		switch key {
		case "Transfer-Encoding", "Pragma":
			return nil, 0, false
		case "Content-Length":
			if contentLength >= 0 {
				return nil, 0, false
			}
			if contentLength, ok = decimal(value); !ok {
				return nil, 0, false
			}
		}
		if vv := h[key]; vv != nil {
			h[key] = append(vv, value)
			continue
		}
		vals[i] = value
		h[key] = vals[i : i+1 : i+1]
	}
}

// FieldLine reports whether line, one line of a field block without its
// LF, is a field line whose syntax Fields accepts. A reader waiting for
// the rest of a head checks the lines it has: net/http would stop at a
// malformed one rather than wait.
func FieldLine(line string) bool {
	_, _, ok := field(strings.TrimSuffix(line, "\r"))
	return ok
}

// field splits a field line (without its line end) into its canonical
// name and its value, trimmed of spaces and tabs as textproto trims it.
func field(line string) (key, value string, ok bool) {
	colon := -1
	for i := 0; i < len(line); i++ {
		c := line[i]
		if c == ':' {
			colon = i
			break
		}
		if class[c]&tokenByte == 0 {
			// A space before the colon, a leading space (a
			// continuation line) or a non-token byte.
			return "", "", false
		}
	}
	if colon <= 0 {
		return "", "", false
	}
	v := line[colon+1:]
	for i := 0; i < len(v); i++ {
		if class[v[i]]&valueByte == 0 {
			return "", "", false
		}
	}
	return canonicalKey(line[:colon]), trim(v), true
}

func trim(s string) string {
	i, j := 0, len(s)
	for i < j && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	for j > i && (s[j-1] == ' ' || s[j-1] == '\t') {
		j--
	}
	return s[i:j]
}

// decimal parses a Content-Length value: digits only, no sign, no leading
// zero but for "0" itself.
func decimal(s string) (int64, bool) {
	if s == "" || len(s) > maxDigits || (s[0] == '0' && len(s) > 1) {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// CanonicalKey is http.CanonicalHeaderKey(k) without an allocation when k
// is already canonical or a common name in another case: k itself when it
// is not a token, as net/http has it.
func CanonicalKey(k string) string {
	if !IsToken(k) {
		return k
	}
	return canonicalKey(k)
}

// canonicalKey is textproto.CanonicalMIMEHeaderKey for a valid token k:
// k itself when it already is canonical (no allocation), else an interned
// common name or, at worst, a new string.
func canonicalKey(k string) string {
	upper := true
	for i := 0; i < len(k); i++ {
		c := k[i]
		if upper && 'a' <= c && c <= 'z' || !upper && 'A' <= c && c <= 'Z' {
			return canonicalize(k)
		}
		upper = c == '-'
	}
	return k
}

func canonicalize(k string) string {
	var buf [64]byte
	b := buf[:0]
	if len(k) > len(buf) {
		b = make([]byte, 0, len(k))
	}
	upper := true
	for i := 0; i < len(k); i++ {
		c := k[i]
		if upper && 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		} else if !upper && 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
		upper = c == '-'
	}
	// Clients behind HTTP/2 front ends send lower-case names; looking
	// the common ones up spares an allocation each.
	if v, ok := common[string(b)]; ok {
		return v
	}
	return string(b)
}

var common = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{
		"Accept", "Accept-Encoding", "Accept-Language", "Authorization",
		"Cache-Control", "Connection", "Content-Encoding", "Content-Length",
		"Content-Type", "Cookie", "Date", "Etag", "Expires", "Host",
		"If-Modified-Since", "If-None-Match", "Keep-Alive", "Last-Modified",
		"Location", "Origin", "Pragma", "Referer", "Sec-Fetch-Dest",
		"Sec-Fetch-Mode", "Sec-Fetch-Site", "Server", "Set-Cookie",
		"Transfer-Encoding", "Upgrade", "User-Agent", "Vary",
		"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto",
		"X-Original-Method", "X-Original-Uri", "X-Original-Url", "X-Real-Ip",
		"X-Request-Id",
		// Connection tokens, canonicalised to find the fields they name.
		"Close",
	} {
		m[k] = k
	}
	return m
}()
