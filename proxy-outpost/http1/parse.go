package http1

import (
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/net/http/httpguts"

	"github.com/outpost-go/outposts/proxy-outpost/internal/head"
)

// parsedRequest puts the URL and the header values of a request with few
// fields in the Request's allocation: they live and die together anyway.
type parsedRequest struct {
	req  http.Request
	url  url.URL
	vals [inlineFields]string
}

// inlineFields covers most of a reverse proxy's subrequests (nginx's
// auth_request passes a browser's dozen fields on, plus its own); more
// cost one allocation. With 16, parsedRequest fills a 704-byte size class.
const inlineFields = 16

// parseRequest parses the common request head, exactly one whole header
// block, into what http.ReadRequest makes of the same bytes, in four
// allocations (the head's copy, two for the Header map, one for the rest)
// where http.ReadRequest makes a dozen. It returns ok only when
// it is certain of that equality: origin-form target, HTTP/1.1, one valid
// Host field, at most one plain Content-Length, no Transfer-Encoding or
// Pragma, no obs-fold, printable ASCII only. Anything else is for
// http.ReadRequest.
func parseRequest(b []byte) (*http.Request, bool) {
	// The one copy of the head: every string in the Request is a part of
	// it, and none aliases the connection's buffer.
	s := string(b)
	line, rest, ok := head.StartLine(s)
	if !ok {
		return nil, false
	}
	method, rest1, ok1 := strings.Cut(line, " ")
	target, proto, ok2 := strings.Cut(rest1, " ")
	if !ok1 || !ok2 || proto != "HTTP/1.1" || !head.IsToken(method) {
		return nil, false
	}
	if method == http.MethodConnect || method == "PRI" {
		// Their targets and bodies follow other rules; net/http serves
		// them (servable refuses them too).
		return nil, false
	}
	if target == "" || target[0] != '/' {
		// Absolute-form, authority-form and '*' targets set the URL's
		// host or mean a special request.
		return nil, false
	}
	p := new(parsedRequest)
	h, contentLength, ok := head.Fields(rest, p.vals[:])
	if !ok {
		return nil, false
	}
	hosts := h["Host"]
	if len(hosts) != 1 || hosts[0] == "" || !httpguts.ValidHostHeader(hosts[0]) {
		return nil, false
	}
	delete(h, "Host")

	u := &p.url
	if !originPath(u, target) {
		var err error
		if u, err = url.ParseRequestURI(target); err != nil {
			return nil, false
		}
	}
	if contentLength < 0 {
		contentLength = 0 // a request without one has no body
	}
	p.req = http.Request{
		Method:        method,
		URL:           u,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Body:          http.NoBody,
		ContentLength: contentLength,
		Close:         httpguts.HeaderValuesContainsToken(h["Connection"], "close"),
		Host:          hosts[0],
		RequestURI:    target,
	}
	return &p.req, true
}

// originPath sets u to what url.ParseRequestURI makes of target (which
// starts with '/') when the path has only bytes that url neither decodes
// nor escapes: the path is then Path as it is, with no RawPath. It
// reports false for other targets, leaving them to url.ParseRequestURI.
func originPath(u *url.URL, target string) bool {
	path, query, hasQuery := strings.Cut(target, "?")
	for i := 0; i < len(path); i++ {
		if !pathByte[path[i]] {
			return false
		}
	}
	u.Path = path
	u.RawQuery = query
	// ParseRequestURI's rule ("a '?' that ends the target and is its only
	// one") comes to this, the query being what follows the first '?'.
	u.ForceQuery = hasQuery && query == ""
	return true
}

// pathByte marks the bytes url.URL.EscapedPath leaves as they are: a path
// of them round-trips, so url sets no RawPath.
var pathByte = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range []byte("-._~/$&+,;=:@") {
		t[c] = true
	}
	return t
}()
