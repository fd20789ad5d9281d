// Package fields writes HTTP/1.1 header fields the way net/http does
// (fields with invalid names dropped, CR and LF in values turned into
// spaces), without sorting them: on the proxy's hot path the sort cost more
// than the writing, and field order carries no meaning across names.
package fields

import (
	"bufio"
	"net/http"
	"net/textproto"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// Value is h.Get for a key already in canonical form: Get checks and
// canonicalises its key on every call, and the proxy's hot path asks
// several fields per request.
func Value(h http.Header, canonicalKey string) string {
	if v := h[canonicalKey]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Write writes k's values as "k: v" lines. Names that are not valid field
// names are dropped.
func Write(bw *bufio.Writer, k string, vv []string) {
	if !httpguts.ValidHeaderFieldName(k) {
		return
	}
	for _, v := range vv {
		_, _ = bw.WriteString(k)
		_, _ = bw.WriteString(": ")
		WriteValue(bw, v)
		_, _ = bw.WriteString("\r\n")
	}
}

// WriteAll writes every field of h but those skip reports (skip may be nil).
func WriteAll(bw *bufio.Writer, h http.Header, skip func(string) bool) {
	for k, vv := range h {
		if skip != nil && skip(k) {
			continue
		}
		Write(bw, k, vv)
	}
}

// newlineToSpace replaces byte by byte, as net/http does: invalid UTF-8
// stays as it is.
var newlineToSpace = strings.NewReplacer("\r", " ", "\n", " ")

// WriteValue writes v with CR and LF replaced by spaces and the spaces
// around it trimmed: values built from claims or attributes must not split
// the header.
func WriteValue(bw *bufio.Writer, v string) {
	if strings.IndexByte(v, '\n') >= 0 || strings.IndexByte(v, '\r') >= 0 {
		v = newlineToSpace.Replace(v)
	}
	_, _ = bw.WriteString(textproto.TrimString(v))
}
