package message

// A small append-only BER encoder for responses. Lengths are definite and
// minimal (DER style), which every client accepts.

const (
	tagInteger     = 0x02
	tagOctetString = 0x04
	tagEnumerated  = 0x0a
	tagBoolean     = 0x01
	tagSequence    = 0x30
	tagSet         = 0x31
	appConstructed = 0x60 // application class, constructed
	ctxPrimitive   = 0x80
	ctxConstructed = 0xa0
)

func appendLength(b []byte, n int) []byte {
	switch {
	case n < 0x80:
		return append(b, byte(n))
	case n <= 0xff:
		return append(b, 0x81, byte(n))
	case n <= 0xffff:
		return append(b, 0x82, byte(n>>8), byte(n))
	case n <= 0xffffff:
		return append(b, 0x83, byte(n>>16), byte(n>>8), byte(n))
	}
	return append(b, 0x84, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

// appendTLV appends tag, length and content.
func appendTLV(b []byte, tag byte, content []byte) []byte {
	b = append(b, tag)
	b = appendLength(b, len(content))
	return append(b, content...)
}

func appendString(b []byte, tag byte, s string) []byte {
	b = append(b, tag)
	b = appendLength(b, len(s))
	return append(b, s...)
}

func appendInt(b []byte, tag byte, v int64) []byte {
	var tmp [9]byte
	n := 0
	// Minimal two's complement.
	for i := 8; i >= 1; i-- {
		tmp[9-i] = byte(v >> (8 * (i - 1)))
	}
	raw := tmp[1:]
	for n < 7 && ((raw[n] == 0 && raw[n+1]&0x80 == 0) || (raw[n] == 0xff && raw[n+1]&0x80 != 0)) {
		n++
	}
	return appendTLV(b, tag, raw[n:])
}

// builder builds nested elements: begin reserves room for the header of a
// constructed element and end fills it in once the content is known.
type builder struct {
	buf   []byte
	stack []int
}

func (w *builder) begin(tag byte) {
	w.buf = append(w.buf, tag, 0, 0, 0, 0, 0) // room for a 5-byte length
	w.stack = append(w.stack, len(w.buf))
}

func (w *builder) end() {
	start := w.stack[len(w.stack)-1]
	w.stack = w.stack[:len(w.stack)-1]
	n := len(w.buf) - start
	var hdr [5]byte
	l := appendLength(hdr[:0], n)
	// Shift the content left over the unused header bytes.
	gap := 5 - len(l)
	copy(w.buf[start-5:], l)
	if gap > 0 {
		copy(w.buf[start-gap:], w.buf[start:])
		w.buf = w.buf[:len(w.buf)-gap]
	}
}
