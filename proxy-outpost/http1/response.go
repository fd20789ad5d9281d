package http1

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/outpost-go/outposts/proxy-outpost/internal/fields"
)

// bufferBeforeChunking is how much a handler may write before the header
// is sent: a response that ends within it gets a Content-Length (net/http
// buffers 2 KiB for the same reason).
const bufferBeforeChunking = 4 << 10

// response is the http.ResponseWriter of one request. It follows
// net/http's rules: Date and a sniffed Content-Type when missing,
// Content-Length when the whole body was written before the handler
// returned, chunked otherwise, no body for HEAD, 1xx, 204 and 304.
type response struct {
	c   *conn
	req *http.Request
	h   http.Header

	status      int
	wroteHeader bool   // the status line and header are in c.bw
	fields      []byte // pre-rendered fields (AppendFields)
	buf         []byte
	chunked     bool
	declared    int64 // Content-Length the handler set, or -1
	written     int64
	hijacked    bool
	closeAfter  bool
	noBody      bool // HEAD, or a status without a body
}

func newResponse(c *conn, req *http.Request) *response {
	return &response{c: c, req: req, h: make(http.Header, 8), declared: -1, closeAfter: req.Close || c.s.closing.Load()}
}

func (w *response) Header() http.Header { return w.h }

func (w *response) WriteHeader(code int) {
	if w.hijacked || w.wroteHeader || w.status != 0 {
		return
	}
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		// Informational: sent at once, the real status follows.
		w.writeInformational(code)
		return
	}
	w.status = code
	if cl := fields.Value(w.h, "Content-Length"); cl != "" {
		if v, err := strconv.ParseInt(cl, 10, 64); err == nil && v >= 0 {
			w.declared = v
		} else {
			w.h.Del("Content-Length")
		}
	}
	w.noBody = w.req.Method == http.MethodHead || !bodyAllowed(code)
}

func (w *response) writeInformational(code int) {
	bw := w.c.bw
	writeStatusLine(bw, code)
	fields.WriteAll(bw, w.h, nil)
	_, _ = bw.WriteString("\r\n")
	_ = bw.Flush()
}

func bodyAllowed(code int) bool {
	return (code < 100 || code > 199) && code != http.StatusNoContent && code != http.StatusNotModified
}

func (w *response) Write(p []byte) (int, error) {
	if w.hijacked {
		return 0, http.ErrHijacked
	}
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if len(p) == 0 {
		return 0, nil
	}
	if !bodyAllowed(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	if w.declared >= 0 && w.written+int64(len(p)) > w.declared {
		return 0, http.ErrContentLength
	}
	w.written += int64(len(p))
	if !w.wroteHeader {
		if w.declared < 0 && len(w.buf)+len(p) <= bufferBeforeChunking {
			w.buf = append(w.buf, p...)
			return len(p), nil
		}
		if err := w.writeHeader(false, p); err != nil {
			return 0, err
		}
	}
	if w.noBody {
		return len(p), nil
	}
	return len(p), w.writeBody(p)
}

func (w *response) writeBody(p []byte) error {
	bw := w.c.bw
	if w.chunked {
		_, _ = bw.WriteString(strconv.FormatInt(int64(len(p)), 16))
		_, _ = bw.WriteString("\r\n")
		_, _ = bw.Write(p)
		_, err := bw.WriteString("\r\n")
		return err
	}
	_, err := bw.Write(p)
	return err
}

// writeHeader sends the status line and header; done says the handler
// returned, so a buffered body's length is known; p is the write that
// did not fit the buffer (for sniffing).
func (w *response) writeHeader(done bool, p []byte) error {
	w.wroteHeader = true
	h := w.h
	// Date, Content-Length and Transfer-Encoding go straight to the
	// connection, not into the map (as net/http does): three allocations
	// and map insertions per response less.
	_, hasDate := h["Date"]
	contentLength := int64(-1)
	if _, ok := h["Content-Type"]; !ok && w.written > 0 && bodyAllowed(w.status) && fields.Value(h, "Content-Encoding") == "" {
		sniff := w.buf
		if len(sniff) < 512 && len(p) > 0 {
			sniff = append(sniff[:len(sniff):len(sniff)], p[:min(len(p), 512-len(sniff))]...)
		}
		h["Content-Type"] = []string{http.DetectContentType(sniff)}
	}
	delete(h, "Transfer-Encoding")
	switch {
	case !bodyAllowed(w.status):
		delete(h, "Content-Length")
		if w.status == http.StatusNotModified {
			delete(h, "Content-Type")
		}
	case w.declared >= 0:
	case done && !hasTrailers(h) && (w.req.Method != http.MethodHead || w.written > 0):
		delete(h, "Content-Length")
		contentLength = w.written
	case w.noBody:
	default:
		w.chunked = true
	}
	if hasToken(fields.Value(h, "Connection"), "close") {
		w.closeAfter = true
	}
	if w.closeAfter {
		h["Connection"] = []string{"close"}
	}
	bw := w.c.bw
	writeStatusLine(bw, w.status)
	if declared := declaredTrailers(h); declared != nil {
		// Declared trailers set before the header went out are still
		// trailers, as net/http has it.
		fields.WriteAll(bw, h, func(k string) bool { return declared[k] || isTrailerKey(k) })
	} else {
		fields.WriteAll(bw, h, isTrailerKey)
	}
	_, _ = bw.Write(w.fields)
	if !hasDate {
		_, _ = bw.WriteString("Date: ")
		_, _ = bw.WriteString(w.c.s.httpDate())
		_, _ = bw.WriteString("\r\n")
	}
	if contentLength >= 0 {
		_, _ = bw.WriteString("Content-Length: ")
		var num [20]byte
		_, _ = bw.Write(strconv.AppendInt(num[:0], contentLength, 10))
		_, _ = bw.WriteString("\r\n")
	}
	if w.chunked {
		_, _ = bw.WriteString("Transfer-Encoding: chunked\r\n")
	}
	if _, err := bw.WriteString("\r\n"); err != nil {
		return err
	}
	if len(w.buf) > 0 {
		b := w.buf
		w.buf = nil
		if !w.noBody {
			return w.writeBody(b)
		}
	}
	return nil
}

// hasTrailers reports whether the handler declared trailers, which need
// the chunked encoding. (Undeclared http.TrailerPrefix ones do not make a
// small response chunked: net/http drops them then, and so do we.)
func hasTrailers(h http.Header) bool { return len(h["Trailer"]) > 0 }

// declaredTrailers are the field names the Trailer header declares, or
// nil.
func declaredTrailers(h http.Header) map[string]bool {
	var m map[string]bool
	for _, decl := range h["Trailer"] {
		for k := range strings.SplitSeq(decl, ",") {
			if k = strings.TrimSpace(k); k != "" {
				if m == nil {
					m = map[string]bool{}
				}
				m[http.CanonicalHeaderKey(k)] = true
			}
		}
	}
	return m
}

// isTrailerKey reports keys that are trailers, not header fields
// (http.TrailerPrefix, as net/http documents).
func isTrailerKey(k string) bool { return strings.HasPrefix(k, http.TrailerPrefix) }

// AppendFields adds header fields rendered beforehand ("Name: value\r\n"
// lines, names valid and values free of CR and LF, as the fields package
// writes them) to the response header: a handler that sends the same
// fields on many responses renders them once. As with the header map,
// what is added after the header went out is not sent.
func (w *response) AppendFields(block []byte) {
	if w.wroteHeader || w.hijacked {
		return
	}
	if w.fields == nil {
		w.fields = block
		return
	}
	w.fields = append(w.fields[:len(w.fields):len(w.fields)], block...)
}

// finish completes the response after the handler returned.
func (w *response) finish() error {
	if w.hijacked {
		return nil
	}
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if !w.wroteHeader {
		if err := w.writeHeader(true, nil); err != nil {
			return err
		}
	}
	if w.declared >= 0 && w.written < w.declared && !w.noBody {
		// The client waits for bytes that will never come.
		w.closeAfter = true
		return errClose
	}
	if w.chunked {
		bw := w.c.bw
		_, _ = bw.WriteString("0\r\n")
		w.writeTrailers(bw)
		_, err := bw.WriteString("\r\n")
		return err
	}
	return nil
}

// writeTrailers writes the declared trailers (Trailer header) and the
// http.TrailerPrefix ones.
func (w *response) writeTrailers(bw *bufio.Writer) {
	t := http.Header{}
	for _, decl := range w.h["Trailer"] {
		for k := range strings.SplitSeq(decl, ",") {
			k = http.CanonicalHeaderKey(strings.TrimSpace(k))
			if vv, ok := w.h[k]; ok && httpguts.ValidTrailerHeader(k) {
				t[k] = vv
			}
		}
	}
	for k, vv := range w.h {
		if after, ok := strings.CutPrefix(k, http.TrailerPrefix); ok && httpguts.ValidTrailerHeader(after) {
			t[http.CanonicalHeaderKey(after)] = vv
		}
	}
	fields.WriteAll(bw, t, nil)
}

// FlushError sends what was written so far (http.ResponseController).
func (w *response) FlushError() error {
	if w.hijacked {
		return http.ErrHijacked
	}
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if !w.wroteHeader {
		if err := w.writeHeader(false, nil); err != nil {
			return err
		}
	}
	return w.c.bw.Flush()
}

// Flush implements http.Flusher.
func (w *response) Flush() { _ = w.FlushError() }

// Hijack implements http.Hijacker: the connection leaves the loop.
func (w *response) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.hijacked {
		return nil, nil, http.ErrHijacked
	}
	if w.status != 0 && !w.wroteHeader {
		// A status set before Hijack (a 101, say) is sent, as net/http
		// does.
		if err := w.writeHeader(false, nil); err != nil {
			return nil, nil, err
		}
	}
	// Whatever is buffered (responses to pipelined requests, that
	// header) goes before the new owner's bytes.
	if err := w.c.bw.Flush(); err != nil {
		return nil, nil, err
	}
	w.hijacked = true
	w.c.state.Store(stateClosed)
	// The new owner sets its own deadlines.
	w.c.setDeadline(time.Time{})
	return w.c.nc, bufio.NewReadWriter(w.c.br, w.c.bw), nil
}

// SetReadDeadline and SetWriteDeadline serve http.ResponseController.
func (w *response) SetReadDeadline(t time.Time) error  { return w.c.nc.SetReadDeadline(t) }
func (w *response) SetWriteDeadline(t time.Time) error { return w.c.nc.SetWriteDeadline(t) }

func writeStatusLine(bw *bufio.Writer, code int) {
	_, _ = bw.WriteString("HTTP/1.1 ")
	_, _ = bw.WriteString(strconv.Itoa(code))
	_ = bw.WriteByte(' ')
	if text := http.StatusText(code); text != "" {
		_, _ = bw.WriteString(text)
	} else {
		_, _ = bw.WriteString("status code " + strconv.Itoa(code))
	}
	_, _ = bw.WriteString("\r\n")
}

func hasToken(v, token string) bool {
	for t := range strings.SplitSeq(v, ",") {
		if strings.EqualFold(strings.TrimSpace(t), token) {
			return true
		}
	}
	return false
}

// dateValue is the Date header of one second.
type dateValue struct {
	sec int64
	s   string
}

// httpDate is the Date header, formatted once a second.
func (s *Server) httpDate() string {
	now := time.Now()
	if d := s.date.Load(); d != nil && d.sec == now.Unix() {
		return d.s
	}
	d := &dateValue{sec: now.Unix(), s: now.UTC().Format(http.TimeFormat)}
	s.date.Store(d)
	return d.s
}
