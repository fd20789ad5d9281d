package upstream

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"strings"
	"sync"

	"golang.org/x/net/http/httpguts"

	"github.com/outpost-go/outposts/proxy-outpost/internal/head"
)

// readResponseHead reads a response's head from br, as http.ReadResponse
// does: the common case with a few allocations, anything else with
// http.ReadResponse itself.
func readResponseHead(br *bufio.Reader, req *http.Request) (*http.Response, error) {
	if resp, ok := fastResponse(br, req); ok {
		return resp, nil
	}
	return http.ReadResponse(br, req)
}

// fastResponse returns what http.ReadResponse(br, req) would, when the
// head is whole in br's buffer and parseResponse takes it; otherwise
// ok is false and nothing was read from br.
func fastResponse(br *bufio.Reader, req *http.Request) (*http.Response, bool) {
	n := headerEnd(br)
	if n < 0 {
		return nil, false
	}
	b, _ := br.Peek(n)
	resp, ok := parseResponse(b, br, req)
	if !ok {
		return nil, false
	}
	_, _ = br.Discard(n)
	return resp, true
}

// headerEnd peeks until br's buffer holds a whole head and returns its
// length, or -1: the head does not fit in the buffer, reading failed, or
// a line already there is one parseResponse refuses. That last check
// keeps from waiting for more of a head net/http would reject at once (a
// garbled status line, say, from an upstream that then goes quiet).
// A read error is left for http.ReadResponse to meet again (a connection
// repeats it: EOF, a deadline passed).
func headerEnd(br *bufio.Reader) int {
	checked := 0 // whole lines found acceptable end here
	scanned := 0 // no LF between checked and here: a head in small pieces costs no rescans
	for {
		buf, _ := br.Peek(br.Buffered())
		// A blank line starts at an LF: at checked-1 at the earliest.
		if i := head.BlankLine(buf, max(0, checked-1, scanned-2)); i >= 0 {
			return i
		}
		for from := max(checked, scanned); ; from = checked {
			nl := bytes.IndexByte(buf[from:], '\n')
			if nl < 0 {
				break
			}
			// Rare (a head arriving in pieces): the copy does not matter.
			line := string(buf[checked : from+nl])
			if checked == 0 {
				if _, _, ok := statusLine(strings.TrimSuffix(line, "\r")); !ok {
					return -1
				}
			} else if !head.FieldLine(line) {
				return -1
			}
			checked = from + nl + 1
		}
		scanned = len(buf)
		if len(buf) >= br.Size() {
			return -1
		}
		if _, err := br.Peek(len(buf) + 1); err != nil {
			return -1
		}
	}
}

// parseResponse parses a response head, exactly one whole header block,
// into what http.ReadResponse makes of it, req being the request it
// answers. It returns ok only when it is certain of that equality: an
// HTTP/1.1 status line with a final status (200 to 599), no
// Transfer-Encoding or Pragma, printable ASCII only, and a body of known
// length: a single plain Content-Length, or none expected (204, 304, an
// answer to HEAD). The body reads from br once the head was discarded.
func parseResponse(b []byte, br *bufio.Reader, req *http.Request) (*http.Response, bool) {
	// The one copy of the head: every string in the Response is a part
	// of it.
	s := string(b)
	line, rest, ok := head.StartLine(s)
	if !ok {
		return nil, false
	}
	code, status, ok := statusLine(line)
	if !ok {
		return nil, false
	}
	p := new(parsedResponse)
	h, contentLength, ok := head.Fields(rest, p.vals[:])
	if !ok {
		return nil, false
	}
	resp := &p.resp
	*resp = http.Response{
		Status:     status,
		StatusCode: code,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     h,
		Request:    req,
		Body:       http.NoBody,
	}
	if httpguts.HeaderValuesContainsToken(h["Connection"], "close") {
		// net/http takes the field out of the header when it says close.
		resp.Close = true
		delete(h, "Connection")
	}
	method := http.MethodGet
	if req != nil {
		method = req.Method
	}
	switch {
	case method == http.MethodHead:
		// The length of the body a GET would have had, or -1.
		resp.ContentLength = contentLength
	case code == http.StatusNoContent || code == http.StatusNotModified:
		resp.ContentLength = 0
	case contentLength < 0:
		// The body runs until the connection closes.
		return nil, false
	case contentLength > 0:
		resp.ContentLength = contentLength
		p.body.r = io.LimitedReader{R: br, N: contentLength}
		p.body.closing = resp.Close
		resp.Body = &p.body
	}
	return resp, true
}

// parsedResponse makes one allocation of a Response, its body and the
// header values of a response with few fields.
type parsedResponse struct {
	resp http.Response
	body contentBody
	vals [inlineFields]string
}

// inlineFields covers the usual response; more fields cost one
// allocation. With 12, parsedResponse fills a 384-byte size class.
const inlineFields = 12

// statusLine parses "HTTP/1.1 200 OK" into 200 and "200 OK" (the status
// as received: http.ReadResponse keeps the reason phrase as it is).
// Informational (1xx) and out-of-range codes are refused.
func statusLine(line string) (code int, status string, ok bool) {
	proto, status, found := strings.Cut(line, " ")
	if !found || proto != "HTTP/1.1" || len(status) < 3 || (len(status) > 3 && status[3] != ' ') {
		return 0, "", false
	}
	for i := range 3 {
		c := status[i]
		if c < '0' || c > '9' {
			return 0, "", false
		}
		code = code*10 + int(c-'0')
	}
	if code < 200 || code > 599 {
		return 0, "", false
	}
	return code, status, true
}

// contentBody is a Content-Length body read straight from the connection,
// behaving as the body http.ReadResponse returns for one: the last bytes
// come with io.EOF, a short body ends in io.ErrUnexpectedEOF (once, then
// io.EOF), and Close drains what is left unless the connection closes
// anyway.
type contentBody struct {
	mu      sync.Mutex
	r       io.LimitedReader
	closing bool
	sawEOF  bool
	closed  bool
}

func (b *contentBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, http.ErrBodyReadAfterClose
	}
	return b.read(p)
}

func (b *contentBody) read(p []byte) (int, error) {
	if b.sawEOF {
		return 0, io.EOF
	}
	n, err := b.r.Read(p)
	if err == io.EOF {
		b.sawEOF = true
		if b.r.N > 0 {
			err = io.ErrUnexpectedEOF
		}
	}
	if err == nil && n > 0 && b.r.N == 0 {
		// Telling the end with the last bytes saves the caller a Read.
		err = io.EOF
		b.sawEOF = true
	}
	return n, err
}

func (b *contentBody) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	var err error
	if !b.sawEOF && !b.closing {
		// The rest is read so that the connection can carry the next
		// response.
		_, err = io.Copy(io.Discard, readFunc(b.read))
	}
	b.closed = true
	return err
}

type readFunc func([]byte) (int, error)

func (f readFunc) Read(p []byte) (int, error) { return f(p) }
