package upstream

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// typicalResponse is an application's answer as proxy mode reads it on
// every request.
const typicalResponse = "HTTP/1.1 200 OK\r\n" +
	"Content-Type: text/html; charset=utf-8\r\n" +
	"Content-Length: 12\r\n" +
	"Date: Tue, 03 Jun 2025 10:00:00 GMT\r\n" +
	"Cache-Control: no-store\r\n" +
	"Set-Cookie: session=abc; Path=/; HttpOnly\r\n" +
	"Vary: Accept-Encoding\r\n" +
	"\r\n" +
	"hello, world"

// chunkReader returns at most n bytes a Read: a head arriving in pieces.
type chunkReader struct {
	data []byte
	n    int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	m := copy(p[:min(len(p), r.n)], r.data)
	r.data = r.data[m:]
	return m, nil
}

var fuzzMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost}

// responseCase is one differential run: data read as the upstream's
// answer to a method, arriving chunk bytes at a time into a buffer of
// bufSize; closeFirst closes the bodies before reading them.
type responseCase struct {
	data       []byte
	method     string
	chunk      int
	bufSize    int
	closeFirst bool
}

// checkResponse compares fastResponse with http.ReadResponse on the same
// bytes: the response, its body, and what is left to read after it. It
// reports whether the fast path took the response.
func checkResponse(t testing.TB, tc responseCase) bool {
	t.Helper()
	req := &http.Request{Method: tc.method}
	br := bufio.NewReaderSize(&chunkReader{data: tc.data, n: tc.chunk}, tc.bufSize)
	got, ok := fastResponse(br, req)
	if !ok {
		rest, err := io.ReadAll(br)
		require.NoError(t, err)
		require.Equal(t, tc.data, rest, "fastResponse refused, but read from the connection")
		return false
	}
	wantBr := bufio.NewReader(bytes.NewReader(tc.data))
	want, err := http.ReadResponse(wantBr, req)
	require.NoError(t, err, "fastResponse took %q, http.ReadResponse did not", tc.data)
	requireSameResponse(t, want, got)

	if tc.closeFirst {
		require.Equal(t, want.Body.Close(), got.Body.Close(), "Close")
	}
	wantBody, wantErr := io.ReadAll(want.Body)
	gotBody, gotErr := io.ReadAll(got.Body)
	require.Equal(t, string(wantBody), string(gotBody), "body")
	require.Equal(t, wantErr, gotErr, "body error")
	var p [1]byte
	wn, wantErr := want.Body.Read(p[:])
	gn, gotErr := got.Body.Read(p[:])
	require.Equal(t, wn, gn, "read after the end")
	require.Equal(t, wantErr, gotErr, "read after the end")
	require.Equal(t, want.Body.Close(), got.Body.Close(), "Close after reading")
	wn, wantErr = want.Body.Read(p[:])
	gn, gotErr = got.Body.Read(p[:])
	require.Equal(t, wn, gn, "read after Close")
	require.Equal(t, wantErr, gotErr, "read after Close")

	wantRest, err := io.ReadAll(wantBr)
	require.NoError(t, err)
	gotRest, err := io.ReadAll(br)
	require.NoError(t, err)
	require.Equal(t, string(wantRest), string(gotRest), "bytes after the response")
	return true
}

// requireSameResponse fails unless got is what http.ReadResponse parsed,
// in every field; the bodies are compared by reading them.
func requireSameResponse(t testing.TB, want, got *http.Response) {
	t.Helper()
	require.Equal(t, want.Status, got.Status, "Status")
	require.Equal(t, want.StatusCode, got.StatusCode, "StatusCode")
	require.Equal(t, want.Proto, got.Proto, "Proto")
	require.Equal(t, want.ProtoMajor, got.ProtoMajor, "ProtoMajor")
	require.Equal(t, want.ProtoMinor, got.ProtoMinor, "ProtoMinor")
	require.True(t, reflect.DeepEqual(want.Header, got.Header), "Header\nwant %#v\ngot  %#v", want.Header, got.Header)
	require.Equal(t, want.ContentLength, got.ContentLength, "ContentLength")
	require.Equal(t, want.TransferEncoding, got.TransferEncoding, "TransferEncoding")
	require.Equal(t, want.Close, got.Close, "Close")
	require.Equal(t, want.Uncompressed, got.Uncompressed, "Uncompressed")
	require.Equal(t, want.Trailer, got.Trailer, "Trailer")
	require.Same(t, want.Request, got.Request, "Request")
	require.Equal(t, want.Body == http.NoBody, got.Body == http.NoBody, "NoBody")
	w, g := *want, *got
	w.Body, g.Body = nil, nil
	require.True(t, reflect.DeepEqual(w, g), "Response\nwant %#v\ngot  %#v", w, g)
}

func TestParseResponse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		method string
		in     string
		ok     bool
	}{
		{"typical 200", "GET", typicalResponse, true},
		{"body longer than declared", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokNEXT", true},
		{"body shorter than declared", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", true},
		{"Content-Length 0", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", true},
		{"no reason phrase", "GET", "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", true},
		{"empty reason phrase", "GET", "HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n", true},
		{"odd reason phrase kept", "GET", "HTTP/1.1 404 Not  Here at all \r\nContent-Length: 1\r\n\r\nx", true},
		{"599", "GET", "HTTP/1.1 599 X\r\nContent-Length: 1\r\n\r\nx", true},
		{"204 without length", "GET", "HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n", true},
		{"204 with a length", "GET", "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello", true},
		{"304 without length", "GET", "HTTP/1.1 304 Not Modified\r\nEtag: \"v1\"\r\n\r\n", true},
		{"304 with a length", "GET", "HTTP/1.1 304 Not Modified\r\nContent-Length: 100\r\n\r\n", true},
		{"HEAD with a length", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n", true},
		{"HEAD without length", "HEAD", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n", true},
		{"HEAD 404 with a length", "HEAD", "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\n", true},
		{"POST answered", "POST", "HTTP/1.1 201 Created\r\nLocation: /x/1\r\nContent-Length: 2\r\n\r\nid", true},
		{"Connection: close", "GET", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", true},
		{"Connection: keep-alive, close", "GET", "HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 2\r\n\r\nok", true},
		{"Connection: keep-alive kept", "GET", "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 2\r\n\r\nok", true},
		{"Connection: close, HEAD", "HEAD", "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", true},
		{"repeated Set-Cookie", "GET", "HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nContent-Length: 0\r\nset-cookie: b=2\r\n\r\n", true},
		{"lower-case names", "GET", "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\nx-request-id: 7\r\n\r\nok", true},
		{"LF-only lines", "GET", "HTTP/1.1 200 OK\nContent-Length: 2\n\nok", true},
		{"Trailer without chunking stays a field", "GET", "HTTP/1.1 200 OK\r\nTrailer: X-Sum\r\nContent-Length: 2\r\n\r\nok", true},
		{"Host field kept", "GET", "HTTP/1.1 200 OK\r\nHost: a\r\nContent-Length: 2\r\n\r\nok", true},

		{"no length: body until close", "GET", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close", false},
		{"chunked", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", false},
		{"chunked 204", "GET", "HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n", false},
		{"Pragma", "GET", "HTTP/1.1 200 OK\r\nPragma: no-cache\r\nContent-Length: 0\r\n\r\n", false},
		{"100 Continue", "GET", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false},
		{"101", "GET", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", false},
		{"103", "GET", "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n", false},
		{"600", "GET", "HTTP/1.1 600 X\r\nContent-Length: 0\r\n\r\n", false},
		{"199", "GET", "HTTP/1.1 199 X\r\nContent-Length: 0\r\n\r\n", false},
		{"HTTP/1.0", "GET", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", false},
		{"HTTP/2.0", "GET", "HTTP/2.0 200 OK\r\nContent-Length: 2\r\n\r\nok", false},
		{"two spaces after the version", "GET", "HTTP/1.1  200 OK\r\nContent-Length: 0\r\n\r\n", false},
		{"four-digit status", "GET", "HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n", false},
		{"signed status", "GET", "HTTP/1.1 +20 OK\r\nContent-Length: 0\r\n\r\n", false},
		{"tab in the reason", "GET", "HTTP/1.1 200 O\tK\r\nContent-Length: 0\r\n\r\n", false},
		{"tab after the status", "GET", "HTTP/1.1 200\tOK\r\nContent-Length: 0\r\n\r\n", false},
		{"non-ASCII reason", "GET", "HTTP/1.1 200 \xc3\xa9\r\nContent-Length: 0\r\n\r\n", false},
		{"two Content-Lengths", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok", false},
		{"Content-Length leading zero", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 02\r\n\r\nok", false},
		{"invalid Content-Length on 204", "GET", "HTTP/1.1 204 No Content\r\nContent-Length: x\r\n\r\n", false},
		{"invalid Content-Length on HEAD", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", false},
		{"obs-fold", "GET", "HTTP/1.1 200 OK\r\nX-A: 1\r\n 2\r\nContent-Length: 0\r\n\r\n", false},
		{"space before the colon", "GET", "HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n", false},
		{"NUL in a value", "GET", "HTTP/1.1 200 OK\r\nX-A: \x00\r\nContent-Length: 0\r\n\r\n", false},
		{"obs-text in a value", "GET", "HTTP/1.1 200 OK\r\nX-A: caf\xe9\r\nContent-Length: 0\r\n\r\n", false},
		{"no blank line", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n", false},
		{"garbage", "GET", "hello\r\n\r\n", false},
		{"empty", "GET", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, chunk := range []int{1, 7, 4096} {
				for _, closeFirst := range []bool{false, true} {
					tc := responseCase{data: []byte(tt.in), method: tt.method, chunk: chunk, bufSize: 4096, closeFirst: closeFirst}
					require.Equal(t, tt.ok, checkResponse(t, tc), "chunk %d, closeFirst %v", chunk, closeFirst)
				}
			}
		})
	}
}

func TestParseResponseHeadLargerThanBuffer(t *testing.T) {
	t.Parallel()
	in := "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("b", 100) + "\r\nContent-Length: 2\r\n\r\nok"
	assert.False(t, checkResponse(t, responseCase{data: []byte(in), method: "GET", chunk: 10, bufSize: 64}))
	assert.True(t, checkResponse(t, responseCase{data: []byte(in), method: "GET", chunk: 10, bufSize: 256}))
}

// TestFastResponseDoesNotWait: with part of a head in, fastResponse waits
// for the rest only while every line so far is one it takes; at a line
// http.ReadResponse would reject at once, it leaves at once too.
func TestFastResponseDoesNotWait(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, part string
	}{
		{"garbled status line", "HTTP/1.1 abc\r\n"},
		{"status line of another version", "HTTP/1.0 200 OK\r\n"},
		{"informational status", "HTTP/1.1 100 Continue\r\n"},
		{"malformed field line", "HTTP/1.1 200 OK\r\nno colon here\r\n"},
		{"obs-fold", "HTTP/1.1 200 OK\r\nX-A: 1\r\n 2\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pr, pw := io.Pipe()
			t.Cleanup(func() { _ = pw.Close() })
			go func() { _, _ = pw.Write([]byte(tt.part)) }()
			done := make(chan bool, 1)
			go func() {
				_, ok := fastResponse(bufio.NewReader(pr), &http.Request{Method: "GET"})
				done <- ok
			}()
			select {
			case ok := <-done:
				assert.False(t, ok)
			case <-time.After(5 * time.Second):
				t.Fatal("fastResponse waits for the rest of a head it cannot take")
			}
		})
	}

	t.Run("valid head in pieces", func(t *testing.T) {
		t.Parallel()
		pr, pw := io.Pipe()
		t.Cleanup(func() { _ = pw.Close() })
		go func() {
			for _, piece := range []string{"HTTP/1.1 200 OK\r\nContent-", "Length: 2\r", "\n\r", "\nok"} {
				_, _ = pw.Write([]byte(piece))
			}
		}()
		resp, ok := fastResponse(bufio.NewReader(pr), &http.Request{Method: "GET"})
		require.True(t, ok)
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		assert.Equal(t, "ok", string(body))
	})
}

// FuzzParseResponse is the differential check behind fastResponse: for
// any bytes it takes, http.ReadResponse must make the same response of
// them, with the same body and the same bytes left after it. Seeds are
// also in testdata/fuzz/FuzzParseResponse.
func FuzzParseResponse(f *testing.F) {
	for _, seed := range []string{
		typicalResponse,
		"HTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\nabc",
		"HTTP/1.1 304 Not Modified\nEtag: x\n\n",
		"HTTP/1.1 200 OK\r\nconnection: Close\r\ncontent-length: 5\r\n\r\nab",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
	} {
		f.Add([]byte(seed), uint8(0), uint8(255), uint16(4096), false)
		f.Add([]byte(seed), uint8(1), uint8(3), uint16(64), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, method, chunk uint8, bufSize uint16, closeFirst bool) {
		checkResponse(t, responseCase{
			data:       data,
			method:     fuzzMethods[int(method)%len(fuzzMethods)],
			chunk:      1 + int(chunk),
			bufSize:    16 + int(bufSize)%8192,
			closeFirst: closeFirst,
		})
	})
}

// BenchmarkParseResponse compares the fast path with http.ReadResponse,
// which readResponse used alone before, on a typical response head.
func BenchmarkParseResponse(b *testing.B) {
	data := []byte(typicalResponse)
	req := &http.Request{Method: http.MethodGet}
	for _, bc := range []struct {
		name string
		read func(*bufio.Reader) (*http.Response, error)
	}{
		{"fastResponse", func(br *bufio.Reader) (*http.Response, error) {
			resp, ok := fastResponse(br, req)
			if !ok {
				b.Fatal("not parsed")
			}
			return resp, nil
		}},
		{"ReadResponse", func(br *bufio.Reader) (*http.Response, error) { return http.ReadResponse(br, req) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			r := bytes.NewReader(data)
			br := bufio.NewReader(r)
			for b.Loop() {
				r.Reset(data)
				br.Reset(r)
				if _, err := bc.read(br); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
