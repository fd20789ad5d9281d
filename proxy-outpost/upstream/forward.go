package upstream

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/outpost-go/outposts/proxy-outpost/internal/fields"
	"github.com/outpost-go/outposts/proxy-outpost/internal/head"
)

// Request is a client's request to forward.
type Request struct {
	// In is the client's request: its method, body and header fields are
	// sent, except hop-by-hop fields, Drop's and those Header replaces.
	// In is not changed.
	In *http.Request
	// URL is the upstream: scheme, host, path and query.
	URL *url.URL
	// Host is the Host header; "" sends URL.Host.
	Host string
	// Header fields are added, replacing the client's of the same name.
	Header http.Header
	// Forwarded is sent as X-Forwarded-For, -Host and -Proto, each when
	// set and not in Header. Drop must drop the client's fields of those
	// names.
	Forwarded Forwarded
	// Fields are header lines rendered beforehand ("Name: value\r\n", as
	// the fields package writes them), sent as they are. They replace
	// nothing: Drop must drop the client's fields of those names.
	Fields []byte
	// Drop reports client fields (canonical names) not to forward.
	Drop func(key string) bool
	// ResponseHeader fields are set on the response to the client.
	ResponseHeader http.Header
	// Observe, when set, gets the time from sending the request to the
	// upstream's response header.
	Observe func(time.Duration)
}

// Forwarded are the X-Forwarded-* values of a request.
type Forwarded struct{ For, Host, Proto string }

// Forward sends r upstream and streams the response to w. An error means
// no response was written and the caller should answer (502); a failure
// after the response began aborts it (panic http.ErrAbortHandler, which
// HTTP servers take as "close the connection").
func (t *Transport) Forward(w http.ResponseWriter, r *Request) error {
	in := r.In
	ctx := in.Context()
	body := in.Body
	if in.ContentLength == 0 || body == http.NoBody {
		body = nil
	}
	upgrade := upgradeType(in.Header)
	// Like net/http's Transport, only a request that may safely arrive
	// twice is sent again after a pooled connection turned out dead.
	replayable := body == nil && idempotent(in)
	for attempt := 0; ; attempt++ {
		c, err := t.get(ctx, r.URL)
		if err != nil {
			return fmt.Errorf("upstream %s: %w", r.URL.Host, err)
		}
		resp, err := t.exchange(w, c, r, body, upgrade)
		if errors.Is(err, errStale) && c.reused && replayable && attempt < maxReplays && ctx.Err() == nil {
			_ = c.nc.Close()
			continue
		}
		if err != nil {
			_ = c.nc.Close()
			if ctx.Err() != nil {
				err = ctx.Err()
			}
			return fmt.Errorf("upstream %s: %w", r.URL.Host, err)
		}
		return t.respond(w, r, c, resp, upgrade)
	}
}

// maxReplays bounds how often one request is sent again on another pooled
// connection (idleOK already drops most dead ones before use).
const maxReplays = 3

// idempotent reports whether req may be sent twice (RFC 9110 9.2.2), as
// net/http's Transport decides.
func idempotent(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	_, key := req.Header["Idempotency-Key"]
	_, xkey := req.Header["X-Idempotency-Key"]
	return key || xkey
}

// exchange writes the request on c and reads the response head; 103
// Early Hints go to w on the way.
func (t *Transport) exchange(w http.ResponseWriter, c *conn, r *Request, body io.Reader, upgrade string) (*http.Response, error) {
	ctx := r.In.Context()
	if ctx.Done() != nil {
		// A cancelled request unblocks a pending read or write; a
		// connection it interrupted is not used again.
		stop := context.AfterFunc(ctx, func() { _ = c.nc.SetDeadline(time.Unix(1, 0)) })
		defer func() {
			if !stop() {
				c.broken = true
			}
		}()
	}
	start := time.Now()
	if err := writeHead(c.bw, r, upgrade); err != nil {
		return nil, err
	}
	if body != nil {
		if err := writeBody(c.bw, body, r.In.ContentLength); err != nil {
			// The application may have answered without reading the body
			// (a 413, say): when writing to it failed (bw keeps the error),
			// a response there is the answer. When reading the client's
			// body failed, the application still waits for the rest.
			if c.bw.Flush() != nil {
				if resp, rerr := t.readResponse(w, c, r, start); rerr == nil {
					resp.Close = true
					return resp, nil
				}
			}
			return nil, err
		}
	}
	if err := c.bw.Flush(); err != nil {
		return nil, errStale
	}
	return t.readResponse(w, c, r, start)
}

func (t *Transport) readResponse(w http.ResponseWriter, c *conn, r *Request, start time.Time) (*http.Response, error) {
	if _, err := c.br.Peek(1); err != nil {
		// Not one byte of a response: the connection was dead.
		return nil, errStale
	}
	// Informational responses: 103 Early Hints goes to the client (as
	// ReverseProxy does), others (100, 102) are dropped.
	for range 8 {
		resp, err := readResponseHead(c.br, r.In)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			if r.Observe != nil {
				r.Observe(time.Since(start))
			}
			return resp, nil
		}
		if resp.StatusCode == http.StatusEarlyHints {
			wh := w.Header()
			for k, vv := range removeHopByHop(resp.Header) {
				wh[k] = vv
			}
			w.WriteHeader(http.StatusEarlyHints)
			clear(wh)
		}
	}
	return nil, errors.New("too many informational responses")
}

// hopByHop reports the fields that describe one connection, never
// forwarded (RFC 9110 7.6.1), in canonical form. A switch, not a map: it
// runs on every field of every request and response.
func hopByHop(k string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
		"Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}

// connectionFields are the field names a Connection header lists, in
// canonical form: hop-by-hop as well (RFC 9110 7.6.1). The usual one or
// two live in few, without a map.
type connectionFields struct {
	few  [4]string
	n    int
	more map[string]bool
}

// connectionListed reports the fields h's Connection header names.
func connectionListed(h http.Header) connectionFields {
	var c connectionFields
	for _, v := range h["Connection"] {
		for f := range strings.SplitSeq(v, ",") {
			if f = strings.TrimSpace(f); f != "" {
				c.add(head.CanonicalKey(f))
			}
		}
	}
	return c
}

func (c *connectionFields) add(k string) {
	if c.n < len(c.few) {
		c.few[c.n] = k
		c.n++
		return
	}
	if c.more == nil {
		c.more = map[string]bool{}
	}
	c.more[k] = true
}

func (c *connectionFields) has(k string) bool {
	for _, f := range c.few[:c.n] {
		if f == k {
			return true
		}
	}
	return c.more[k]
}

// upgradeType is the protocol a request asks to switch to, or "".
func upgradeType(h http.Header) string {
	if !httpguts.HeaderValuesContainsToken(h["Connection"], "upgrade") {
		return ""
	}
	return h.Get("Upgrade")
}

// writeHead writes the request line and header fields.
func writeHead(bw *bufio.Writer, r *Request, upgrade string) error {
	in := r.In
	_, _ = bw.WriteString(in.Method)
	_ = bw.WriteByte(' ')
	_, _ = bw.WriteString(r.URL.RequestURI())
	_, _ = bw.WriteString(" HTTP/1.1\r\nHost: ")
	host := r.Host
	if host == "" {
		host = r.URL.Host
	}
	fields.WriteValue(bw, host)
	_, _ = bw.WriteString("\r\n")
	listed := connectionListed(in.Header)
	for k, vv := range in.Header {
		if hopByHop(k) || listed.has(k) || k == "Content-Length" || k == "Host" || k == "Expect" {
			continue
		}
		if _, replaced := r.Header[k]; replaced || (r.Drop != nil && r.Drop(k)) {
			continue
		}
		fields.Write(bw, k, vv)
	}
	for k, vv := range r.Header {
		fields.Write(bw, k, vv)
	}
	writeForwarded(bw, r.Header, "X-Forwarded-For", r.Forwarded.For)
	writeForwarded(bw, r.Header, "X-Forwarded-Host", r.Forwarded.Host)
	writeForwarded(bw, r.Header, "X-Forwarded-Proto", r.Forwarded.Proto)
	_, _ = bw.Write(r.Fields)
	if httpguts.HeaderValuesContainsToken(in.Header["Te"], "trailers") {
		_, _ = bw.WriteString("Te: trailers\r\n")
	}
	if upgrade != "" {
		_, _ = bw.WriteString("Connection: Upgrade\r\nUpgrade: ")
		fields.WriteValue(bw, upgrade)
		_, _ = bw.WriteString("\r\n")
	}
	switch cl := in.ContentLength; {
	case cl > 0 && in.Body != nil && in.Body != http.NoBody:
		_, _ = bw.WriteString("Content-Length: " + strconv.FormatInt(cl, 10) + "\r\n")
	case cl < 0 && in.Body != nil && in.Body != http.NoBody:
		_, _ = bw.WriteString("Transfer-Encoding: chunked\r\n")
	case in.Method == http.MethodPost || in.Method == http.MethodPut || in.Method == http.MethodPatch:
		_, _ = bw.WriteString("Content-Length: 0\r\n")
	}
	_, err := bw.WriteString("\r\n")
	return err
}

// writeForwarded writes a Forwarded field when it is set and Header does
// not replace it (a user's additionalHeaders may name it).
func writeForwarded(bw *bufio.Writer, replace http.Header, name, v string) {
	if _, replaced := replace[name]; v == "" || replaced {
		return
	}
	_, _ = bw.WriteString(name)
	_, _ = bw.WriteString(": ")
	fields.WriteValue(bw, v)
	_, _ = bw.WriteString("\r\n")
}

// writeBody sends a Content-Length body as is, a body of unknown length
// chunked.
func writeBody(bw *bufio.Writer, body io.Reader, n int64) error {
	if n > 0 {
		copied, err := io.CopyN(bw, body, n)
		if err == nil && copied == n {
			return nil
		}
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("request body: %w", err)
	}
	buf := make([]byte, 32<<10)
	for {
		m, err := body.Read(buf)
		if m > 0 {
			_, _ = bw.WriteString(strconv.FormatInt(int64(m), 16))
			_, _ = bw.WriteString("\r\n")
			_, _ = bw.Write(buf[:m])
			if _, werr := bw.WriteString("\r\n"); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			_, err := bw.WriteString("0\r\n\r\n")
			return err
		}
		if err != nil {
			return fmt.Errorf("request body: %w", err)
		}
	}
}

// removeHopByHop drops the hop-by-hop fields of h in place.
func removeHopByHop(h http.Header) http.Header {
	listed := connectionListed(h)
	// The response's few fields are checked, rather than every hop-by-hop
	// name deleted.
	for k := range h {
		if hopByHop(k) || listed.has(k) {
			delete(h, k)
		}
	}
	return h
}

// respond writes resp to w. It owns c from here.
func (t *Transport) respond(w http.ResponseWriter, r *Request, c *conn, resp *http.Response, upgrade string) error {
	if resp.StatusCode == http.StatusSwitchingProtocols {
		return t.switchProtocols(w, r, c, resp, upgrade)
	}
	// ReadResponse moves a chunked response's Trailer field into resp.Trailer.
	var announced []string
	for k := range resp.Trailer {
		announced = append(announced, k)
	}
	// The hop-by-hop fields are skipped rather than deleted from
	// resp.Header first: one pass over the fields.
	listed := connectionListed(resp.Header)
	wh := w.Header()
	for k, vv := range resp.Header {
		if !hopByHop(k) && !listed.has(k) {
			wh[k] = vv
		}
	}
	// As ReverseProxy decides on the header without hop-by-hop fields.
	eventStream := !listed.has("Content-Type") && isEventStream(resp.Header.Get("Content-Type"))
	for k, vv := range r.ResponseHeader {
		wh[k] = vv
	}
	if len(announced) > 0 {
		wh["Trailer"] = []string{strings.Join(announced, ", ")}
	}
	w.WriteHeader(resp.StatusCode)

	keep := !resp.Close && !r.In.Close
	if resp.Body == http.NoBody {
		t.finish(c, keep)
		return nil
	}
	var err error
	if ctx := r.In.Context(); ctx.Done() != nil {
		// A client that leaves a quiet stream frees the connection.
		stop := context.AfterFunc(ctx, func() { _ = c.nc.SetDeadline(time.Unix(1, 0)) })
		err = copyBody(w, resp, eventStream)
		if !stop() {
			c.broken = true
		}
	} else {
		err = copyBody(w, resp, eventStream)
	}
	if err != nil {
		_ = c.nc.Close()
		panic(http.ErrAbortHandler)
	}
	for k, vv := range resp.Trailer {
		wh[http.TrailerPrefix+k] = vv
	}
	t.finish(c, keep)
	return nil
}

func (t *Transport) finish(c *conn, keep bool) {
	if keep && !c.broken {
		t.put(c)
		return
	}
	_ = c.nc.Close()
}

// copyBufs lends copyBody its buffers.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// copyBody streams the response body, flushing after every read when the
// length is unknown or the body is an event stream, as ReverseProxy does.
func copyBody(w http.ResponseWriter, resp *http.Response, eventStream bool) error {
	var flush func() error
	if resp.ContentLength < 0 || eventStream {
		rc := http.NewResponseController(w)
		flush = rc.Flush
	}
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
			if flush != nil {
				if ferr := flush(); ferr != nil && !errors.Is(ferr, http.ErrNotSupported) {
					return ferr
				}
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func isEventStream(ct string) bool {
	const es = "text/event-stream"
	if len(ct) < len(es) || !strings.EqualFold(ct[:len(es)], es) {
		return false
	}
	rest := strings.TrimLeft(ct[len(es):], " \t")
	return rest == "" || rest[0] == ';'
}

// switchProtocols completes an upgrade: the 101 goes to the client, then
// bytes flow both ways until either side closes.
func (t *Transport) switchProtocols(w http.ResponseWriter, r *Request, c *conn, resp *http.Response, upgrade string) error {
	got := resp.Header.Get("Upgrade")
	if upgrade == "" || !strings.EqualFold(got, upgrade) || !isPrintable(got) {
		_ = c.nc.Close()
		return fmt.Errorf("upstream %s switched protocol to %q when %q was requested", r.URL.Host, got, upgrade)
	}
	client, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		_ = c.nc.Close()
		return fmt.Errorf("upgrade: %w", err)
	}
	defer func() { _ = client.Close() }()
	defer func() { _ = c.nc.Close() }()
	h := w.Header()
	for k, vv := range resp.Header {
		h[k] = vv
	}
	for k, vv := range r.ResponseHeader {
		h[k] = vv
	}
	_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\n")
	for k, vv := range h {
		fields.Write(brw.Writer, k, vv)
	}
	_, _ = brw.WriteString("\r\n")
	if err := brw.Flush(); err != nil {
		return nil
	}
	_ = client.SetDeadline(time.Time{})
	_ = c.nc.SetDeadline(time.Time{})
	done := make(chan error, 2)
	go func() { _, err := io.Copy(c.nc, brw.Reader); closeWrite(c.nc); done <- err }()
	go func() { _, err := io.Copy(client, c.br); closeWrite(client); done <- err }()
	// As ReverseProxy: after a clean end (a half-close passed on), wait
	// for the other direction.
	if err := <-done; err == nil {
		<-done
	}
	return nil
}

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
}

func isPrintable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}
