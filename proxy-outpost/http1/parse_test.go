package http1

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/textproto"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/outpost-go/outposts/proxy-outpost/internal/head"
)

// nginxSubrequest is what nginx's auth_request sends for every request it
// guards: the hot path.
const nginxSubrequest = "GET /outpost.goauthentik.io/auth/nginx HTTP/1.1\r\n" +
	"Host: app.example.com\r\n" +
	"X-Original-URL: http://app.example.com/x?y=1\r\n" +
	"Cookie: a=b\r\n" +
	"User-Agent: wrk\r\n" +
	"\r\n"

// readRequest is http.ReadRequest on exactly head, which it must consume
// to the last byte: serveOne discards len(head) bytes after parseRequest.
func readRequest(t testing.TB, head []byte) *http.Request {
	t.Helper()
	br := bufio.NewReader(bytes.NewReader(head))
	want, err := http.ReadRequest(br)
	require.NoError(t, err, "parseRequest accepted %q, http.ReadRequest did not", head)
	n, _ := io.Copy(io.Discard, br)
	require.Zero(t, n, "http.ReadRequest left bytes of %q", head)
	return want
}

// requireSameRequest fails unless got is what http.ReadRequest parsed,
// in every field but the body.
func requireSameRequest(t testing.TB, want, got *http.Request) {
	t.Helper()
	require.Equal(t, want.Method, got.Method, "Method")
	require.True(t, reflect.DeepEqual(want.URL, got.URL), "URL\nwant %#v\ngot  %#v", want.URL, got.URL)
	require.Equal(t, want.Proto, got.Proto, "Proto")
	require.Equal(t, want.ProtoMajor, got.ProtoMajor, "ProtoMajor")
	require.Equal(t, want.ProtoMinor, got.ProtoMinor, "ProtoMinor")
	require.True(t, reflect.DeepEqual(want.Header, got.Header), "Header\nwant %#v\ngot  %#v", want.Header, got.Header)
	require.Equal(t, want.Host, got.Host, "Host")
	require.Equal(t, want.RequestURI, got.RequestURI, "RequestURI")
	require.Equal(t, want.ContentLength, got.ContentLength, "ContentLength")
	require.Equal(t, want.TransferEncoding, got.TransferEncoding, "TransferEncoding")
	require.Equal(t, want.Close, got.Close, "Close")
	require.Equal(t, want.Trailer, got.Trailer, "Trailer")
	require.Equal(t, servable(want), servable(got), "servable")
	require.Equal(t, http.NoBody, got.Body, "Body")
	// Whatever else ReadRequest sets (or leaves zero, the context
	// included) must match too.
	w, g := *want, *got
	w.Body, g.Body = nil, nil
	require.True(t, reflect.DeepEqual(w, g), "Request\nwant %#v\ngot  %#v", w, g)
}

func TestParseRequest(t *testing.T) {
	t.Parallel()
	proxyGet := "GET /app/index.html?lang=en&x=%2F HTTP/1.1\r\n" +
		"Host: app.example.com\r\n" +
		"Connection: keep-alive\r\n" +
		"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n" +
		"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n" +
		"Accept-Language: en-US,en;q=0.5\r\n" +
		"Accept-Encoding: gzip, deflate, br\r\n" +
		"Referer: https://app.example.com/\r\n" +
		"Cookie: authentik_proxy_abc=xyz; theme=dark\r\n" +
		"Upgrade-Insecure-Requests: 1\r\n" +
		"Sec-Fetch-Dest: document\r\n" +
		"Sec-Fetch-Mode: navigate\r\n" +
		"Sec-Fetch-Site: same-origin\r\n" +
		"X-Forwarded-For: 192.0.2.1, 198.51.100.2\r\n" +
		"X-Forwarded-Proto: https\r\n" +
		"X-Real-IP: 192.0.2.1\r\n" +
		"\r\n"
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"nginx auth_request subrequest", nginxSubrequest, true},
		{"proxy-mode GET with many fields", proxyGet, true},
		{"POST with Content-Length", "POST /api/v3/x HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n", true},
		{"Content-Length 0", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", true},
		{"Content-Length on a GET", "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n", true},
		{"largest Content-Length taken", "PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 999999999999999999\r\n\r\n", true},
		{"repeated fields keep their order", "GET / HTTP/1.1\r\nHost: a\r\nCookie: a=1\r\nX-A: 1\r\nCookie: b=2\r\ncookie: c=3\r\n\r\n", true},
		{"lower-case names", "GET / HTTP/1.1\r\nhost: a\r\nuser-agent: curl\r\nx-original-url: http://a/\r\ncontent-length: 2\r\nx-some-long-unusual-name: v\r\n\r\n", true},
		{"mixed-case names", "GET / HTTP/1.1\r\nHOST: a\r\nX-FORWARDED-FOR: 1.2.3.4\r\nwWw-aUTHENTICATE: x\r\n\r\n", true},
		{"name longer than the stack buffer", "GET / HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("x", 100) + ": v\r\n\r\n", true},
		{"non-letter name bytes", "GET / HTTP/1.1\r\nHost: a\r\nx_1.2!#$%&'*+^`|~-z: v\r\n\r\n", true},
		{"LF-only lines", "GET / HTTP/1.1\nHost: a\nX-A: 1\n\n", true},
		{"mixed line ends", "GET / HTTP/1.1\nHost: a\r\nX-A: 1\n\r\n", true},
		{"query string", "GET /search?q=a+b&lang=en HTTP/1.1\r\nHost: a\r\n\r\n", true},
		{"empty query", "GET /p? HTTP/1.1\r\nHost: a\r\n\r\n", true},
		{"two question marks", "GET /p?? HTTP/1.1\r\nHost: a\r\n\r\n", true},
		{"query with a question mark at the end", "GET /p?a? HTTP/1.1\r\nHost: a\r\n\r\n", true},
		{"hash in the query", "GET /p?a#b HTTP/1.1\r\nHost: a\r\n\r\n", true},
		{"percent-encoded path", "GET /a%2Fb/c%20d HTTP/1.1\r\nHost: a\r\n\r\n", true},
		{"percent-encoded unreserved byte", "GET /%41 HTTP/1.1\r\nHost: a\r\n\r\n", true},
		{"hash in the path", "GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", true},
		{"sub-delims in the path", "GET /a;b=c,d$e&f+g:h@i~j HTTP/1.1\r\nHost: a\r\n\r\n", true},
		{"path needing escapes", "GET /a\"b<c>{d}|e HTTP/1.1\r\nHost: a\r\n\r\n", true},
		{"double slash path", "GET //evil.example/x HTTP/1.1\r\nHost: a\r\n\r\n", true},
		{"colon in the first segment", "GET /http://x HTTP/1.1\r\nHost: a\r\n\r\n", true},
		{"dot segments kept", "GET /a/../b/./c HTTP/1.1\r\nHost: a\r\n\r\n", true},
		{"Host with port", "GET / HTTP/1.1\r\nHost: a.example:8443\r\n\r\n", true},
		{"Host IPv6", "GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n", true},
		{"value whitespace trimmed", "GET / HTTP/1.1\r\nHost: \t a \t\r\nX-A:b\r\nX-B:   \r\nX-C: in  side\tvalue \r\n\r\n", true},
		{"empty value", "GET / HTTP/1.1\r\nHost: a\r\nX-Empty:\r\n\r\n", true},
		{"Connection: close", "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", true},
		{"Connection: keep-alive, CLOSE", "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, CLOSE\r\n\r\n", true},
		{"Connection: closed is not close", "GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n", true},
		{"Trailer without chunking stays a field", "GET / HTTP/1.1\r\nHost: a\r\nTrailer: X-Sum\r\n\r\n", true},
		{"Cache-Control without Pragma", "GET / HTTP/1.1\r\nHost: a\r\nCache-Control: no-cache\r\n\r\n", true},
		{"extension method", "PURGE /x HTTP/1.1\r\nHost: a\r\n\r\n", true},
		{"lower-case method", "get / HTTP/1.1\r\nHost: a\r\n\r\n", true},
		{"OPTIONS with a path", "OPTIONS /x HTTP/1.1\r\nHost: a\r\n\r\n", true},
		{"value with colons", "GET / HTTP/1.1\r\nHost: a\r\nX-URL: http://a:1/b\r\n\r\n", true},

		{"no Host", "GET / HTTP/1.1\r\nX-A: 1\r\n\r\n", false},
		{"two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", false},
		{"two Hosts, different case", "GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", false},
		{"empty Host", "GET / HTTP/1.1\r\nHost:\r\n\r\n", false},
		{"invalid Host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", false},
		{"HTTP/1.0", "GET / HTTP/1.0\r\nHost: a\r\n\r\n", false},
		{"HTTP/1.0 keep-alive", "GET / HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\n", false},
		{"HTTP/2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", false},
		{"lower-case version", "GET / http/1.1\r\nHost: a\r\n\r\n", false},
		{"PRI preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", false},
		{"absolute-form", "GET http://a/x HTTP/1.1\r\nHost: a\r\n\r\n", false},
		{"authority-form CONNECT", "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", false},
		{"CONNECT with a path", "CONNECT /x HTTP/1.1\r\nHost: a\r\n\r\n", false},
		{"OPTIONS *", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", false},
		{"relative target", "GET x HTTP/1.1\r\nHost: a\r\n\r\n", false},
		{"empty target", "GET  HTTP/1.1\r\nHost: a\r\n\r\n", false},
		{"two spaces after the method", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", false},
		{"space after the version", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", false},
		{"tab as separator", "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", false},
		{"no version", "GET /\r\nHost: a\r\n\r\n", false},
		{"empty request line", "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", false},
		{"invalid method", "G(T / HTTP/1.1\r\nHost: a\r\n\r\n", false},
		{"bad percent escape", "GET /%zz HTTP/1.1\r\nHost: a\r\n\r\n", false},
		{"non-ASCII in the target", "GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", false},
		{"DEL in the target", "GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n", false},
		{"Transfer-Encoding", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", false},
		{"Transfer-Encoding and Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", false},
		{"Pragma", "GET / HTTP/1.1\r\nHost: a\r\nPragma: no-cache\r\n\r\n", false},
		{"two equal Content-Lengths", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n", false},
		{"two Content-Lengths", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", false},
		{"Content-Length list", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\n", false},
		{"Content-Length leading zero", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 03\r\n\r\n", false},
		{"Content-Length sign", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\n", false},
		{"Content-Length negative", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", false},
		{"Content-Length hex", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x3\r\n\r\n", false},
		{"Content-Length empty", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", false},
		{"Content-Length too long", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000000000000000\r\n\r\n", false},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n 2\r\n\r\n", false},
		{"obs-fold with tab", "GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n\t2\r\n\r\n", false},
		{"leading space on the first field", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", false},
		{"space before the colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", false},
		{"space in the name", "GET / HTTP/1.1\r\nHost: a\r\nX A: 1\r\n\r\n", false},
		{"empty name", "GET / HTTP/1.1\r\nHost: a\r\n: 1\r\n\r\n", false},
		{"no colon", "GET / HTTP/1.1\r\nHost: a\r\nX-A\r\n\r\n", false},
		{"invalid name byte", "GET / HTTP/1.1\r\nHost: a\r\nX(A): 1\r\n\r\n", false},
		{"NUL in a value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\x002\r\n\r\n", false},
		{"bare CR in a value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r2\r\n\r\n", false},
		{"CR CR LF", "GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\r\n\r\n", false},
		{"obs-text in a value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: caf\xe9\r\n\r\n", false},
		{"UTF-8 in a value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: \xc3\xa9\r\n\r\n", false},
		{"DEL in a value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: \x7f\r\n\r\n", false},
		{"bytes after the blank line", "GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", false},
		{"no blank line", "GET / HTTP/1.1\r\nHost: a\r\n", false},
		{"no line end", "GET / HTTP/1.1", false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := parseRequest([]byte(tt.in))
			require.Equal(t, tt.ok, ok)
			if !ok {
				assert.Nil(t, got)
				return
			}
			requireSameRequest(t, readRequest(t, []byte(tt.in)), got)
		})
	}
}

func TestParseRequestSharedValues(t *testing.T) {
	t.Parallel()
	req, ok := parseRequest([]byte("GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\nX-B: 2\r\nX-B: 3\r\nX-C: 4\r\n\r\n"))
	require.True(t, ok)
	// An append to one field's values must not write over the next's.
	req.Header["X-A"] = append(req.Header["X-A"], "appended")
	req.Header.Add("X-B", "added")
	assert.Equal(t, http.Header{
		"X-A": {"1", "appended"},
		"X-B": {"2", "3", "added"},
		"X-C": {"4"},
	}, req.Header)
}

// TestCanonicalNames checks the names parseRequest keeps or rewrites
// against textproto's canonical form, interned names included.
func TestCanonicalNames(t *testing.T) {
	t.Parallel()
	names := []string{
		"host", "HOST", "Host", "x-original-url", "X-Original-URL", "content-md5",
		"www-authenticate", "WWW-Authenticate", "a", "A", "-", "--x", "x--y", "x-", "1-a",
		"sec-fetch-site", "accept-encoding", "x_y-z", "X-Forwarded-For", "x-real-ip",
		strings.Repeat("ab-", 40),
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			req, ok := parseRequest([]byte("GET / HTTP/1.1\r\nHost: h\r\n" + name + ": v\r\n\r\n"))
			want := textproto.CanonicalMIMEHeaderKey(name)
			if want == "Host" {
				assert.False(t, ok, "a second Host field")
				return
			}
			require.True(t, ok)
			assert.Equal(t, http.Header{want: {"v"}}, req.Header)
		})
	}
}

// TestPathBytes checks the bytes originPath takes as they are against
// url.ParseRequestURI, one by one.
func TestPathBytes(t *testing.T) {
	t.Parallel()
	for c := range 256 {
		if !pathByte[c] {
			continue
		}
		target := "/a" + string(rune(c)) + "b"
		want, err := url.ParseRequestURI(target)
		require.NoError(t, err, "%q", c)
		var got url.URL
		require.True(t, originPath(&got, target))
		assert.Equal(t, want, &got, "%q", c)
	}
}

// FuzzParseRequest is the differential check behind parseRequest: for
// any header block it accepts, http.ReadRequest must parse the same bytes
// into the same request. Seeds are also in testdata/fuzz/FuzzParseRequest.
func FuzzParseRequest(f *testing.F) {
	for _, seed := range []string{
		nginxSubrequest,
		"GET /a%2Fb?x=1&y=%20 HTTP/1.1\r\nhost: a\r\nCookie: a\r\ncookie: b\r\n\r\n",
		"POST /p HTTP/1.1\nHost: a:1\nContent-Length: 10\nConnection: close\n\n",
		"GET /p? HTTP/1.1\r\nHost: a\r\nX-A:\t v \t\r\n\r\n",
		"GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n 2\r\n\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		n := head.BlankLine(data, 0)
		if n < 0 {
			return
		}
		head := data[:n]
		got, ok := parseRequest(head)
		if !ok {
			return
		}
		requireSameRequest(t, readRequest(t, head), got)
	})
}

// FuzzParseRequestParts is FuzzParseRequest with the request line and the
// Host field fixed around a fuzzed target and field lines: most inputs
// then get past the start, into the URL and field parsing where a
// difference would hide.
func FuzzParseRequestParts(f *testing.F) {
	f.Add("/outpost.goauthentik.io/auth/nginx", "X-Original-URL: http://app.example.com/x?y=1\r\nCookie: a=b\r\n")
	f.Add("/a%2Fb;c?d=%zz#e", "x-a: 1\r\nX-A: 2\r\ncontent-length: 3\r\n")
	f.Add("/p?", "Connection: keep-alive, close\r\nX-B:\t \r\n")
	f.Fuzz(func(t *testing.T, target, fields string) {
		data := "GET " + target + " HTTP/1.1\r\nHost: h\r\n" + fields + "\r\n"
		n := head.BlankLine([]byte(data), 0)
		if n < 0 {
			return
		}
		head := []byte(data[:n])
		got, ok := parseRequest(head)
		if !ok {
			return
		}
		requireSameRequest(t, readRequest(t, head), got)
	})
}

// BenchmarkParseRequest compares parseRequest with http.ReadRequest, which
// serveOne used alone before, on the nginx subrequest.
func BenchmarkParseRequest(b *testing.B) {
	head := []byte(nginxSubrequest)
	b.Run("parseRequest", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := parseRequest(head); !ok {
				b.Fatal("not parsed")
			}
		}
	})
	b.Run("ReadRequest", func(b *testing.B) {
		b.ReportAllocs()
		r := bytes.NewReader(head)
		br := bufio.NewReader(r)
		for b.Loop() {
			r.Reset(head)
			br.Reset(r)
			if _, err := http.ReadRequest(br); err != nil {
				b.Fatal(err)
			}
		}
	})
}
