// Package guac reads and writes Guacamole protocol instructions.
//
// An instruction is a list of elements, each "<length>.<value>", separated
// by "," and ended by ";". The first element is the opcode; an empty opcode
// ("0.") marks an internal instruction meant for the tunnel, not for guacd
// (the browser's keepalive "0.,4.ping,<timestamp>;" is one). Lengths count
// Unicode code points, not bytes.
package guac

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxInstruction bounds the encoded size of one instruction. guacd's own
// limit is 8 KiB of elements per instruction; the extra room lets a
// permissive peer through while a hostile one cannot make a reader buffer
// without bound.
const MaxInstruction = 1 << 20

// maxLengthDigits bounds the digits of one element length (MaxInstruction
// has 7).
const maxLengthDigits = 8

// Instruction is one decoded instruction.
type Instruction struct {
	Opcode string
	Args   []string
}

// New returns the instruction opcode(args...).
func New(opcode string, args ...string) Instruction {
	return Instruction{Opcode: opcode, Args: args}
}

// Internal reports whether the instruction is for the tunnel (empty opcode).
func (i Instruction) Internal() bool { return i.Opcode == "" }

// Encode returns the wire form of the instruction.
func (i Instruction) Encode() []byte {
	var b strings.Builder
	writeElement(&b, i.Opcode)
	for _, a := range i.Args {
		b.WriteByte(',')
		writeElement(&b, a)
	}
	b.WriteByte(';')
	return []byte(b.String())
}

// String is the wire form.
func (i Instruction) String() string { return string(i.Encode()) }

func writeElement(b *strings.Builder, v string) {
	b.WriteString(strconv.Itoa(utf8.RuneCountInString(v)))
	b.WriteByte('.')
	b.WriteString(v)
}

// SyntaxError says why bytes are not a valid instruction.
type SyntaxError struct {
	Offset int
	Reason string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("guacamole instruction: %s at byte %d", e.Reason, e.Offset)
}

// ErrTooLong is returned for an instruction longer than MaxInstruction.
var ErrTooLong = errors.New("guacamole instruction: longer than the limit")

// Parse decodes exactly one instruction; trailing bytes are an error.
func Parse(data []byte) (Instruction, error) {
	ins, n, err := parseOne(data)
	if err != nil {
		return Instruction{}, err
	}
	if n != len(data) {
		return Instruction{}, &SyntaxError{Offset: n, Reason: "data after the instruction"}
	}
	return ins, nil
}

// ParseAll decodes a sequence of whole instructions, as one websocket
// message from a Guacamole client carries.
func ParseAll(data []byte) ([]Instruction, error) {
	var out []Instruction
	for off := 0; off < len(data); {
		ins, n, err := parseOne(data[off:])
		if err != nil {
			var se *SyntaxError
			if errors.As(err, &se) {
				se.Offset += off
			}
			return nil, err
		}
		out = append(out, ins)
		off += n
	}
	return out, nil
}

// Split returns the raw bytes of each whole instruction in data, without
// decoding their values: what a relay forwards.
func Split(data []byte) ([][]byte, error) {
	var out [][]byte
	for off := 0; off < len(data); {
		_, n, err := parseOne(data[off:])
		if err != nil {
			return nil, err
		}
		out = append(out, data[off:off+n])
		off += n
	}
	return out, nil
}

// parseOne decodes the instruction at the start of data and returns its
// encoded length.
func parseOne(data []byte) (Instruction, int, error) {
	var ins Instruction
	off := 0
	first := true
	for {
		if off > MaxInstruction {
			return Instruction{}, 0, ErrTooLong
		}
		start := off
		length := 0
		for off < len(data) && data[off] != '.' {
			c := data[off]
			// A leading zero is not canonical: only "0." itself is.
			if c < '0' || c > '9' || off-start >= maxLengthDigits || (off > start && data[start] == '0') {
				return Instruction{}, 0, &SyntaxError{Offset: off, Reason: "bad element length"}
			}
			length = length*10 + int(c-'0')
			off++
		}
		if off == start || off >= len(data) {
			return Instruction{}, 0, &SyntaxError{Offset: off, Reason: "incomplete element length"}
		}
		off++ // '.'
		vstart := off
		for n := 0; n < length; n++ {
			if off >= len(data) {
				return Instruction{}, 0, &SyntaxError{Offset: off, Reason: "element shorter than its length"}
			}
			r, size := utf8.DecodeRune(data[off:])
			if r == utf8.RuneError && size <= 1 {
				return Instruction{}, 0, &SyntaxError{Offset: off, Reason: "invalid UTF-8"}
			}
			off += size
		}
		value := string(data[vstart:off])
		if first {
			ins.Opcode = value
			first = false
		} else {
			ins.Args = append(ins.Args, value)
		}
		if off >= len(data) {
			return Instruction{}, 0, &SyntaxError{Offset: off, Reason: "missing terminator"}
		}
		switch data[off] {
		case ',':
			off++
		case ';':
			off++
			if off > MaxInstruction {
				return Instruction{}, 0, ErrTooLong
			}
			return ins, off, nil
		default:
			return Instruction{}, 0, &SyntaxError{Offset: off, Reason: "expected ',' or ';'"}
		}
	}
}

// Reader reads whole instructions from a stream.
type Reader struct {
	r   *bufio.Reader
	buf []byte
}

// NewReader returns a Reader on r.
func NewReader(r io.Reader) *Reader {
	return &Reader{r: bufio.NewReaderSize(r, 64*1024)}
}

// Buffered is how many bytes are read from the stream but not returned.
func (r *Reader) Buffered() int { return r.r.Buffered() }

// ReadRaw returns the bytes of the next whole instruction. The slice is
// valid until the next call. A stream that ends between instructions gives
// io.EOF; one that ends inside an instruction gives io.ErrUnexpectedEOF.
func (r *Reader) ReadRaw() ([]byte, error) {
	r.buf = r.buf[:0]
	for {
		// Element length.
		digits := 0
		length := 0
		for {
			c, err := r.r.ReadByte()
			if err != nil {
				if errors.Is(err, io.EOF) && len(r.buf) > 0 {
					return nil, io.ErrUnexpectedEOF
				}
				return nil, err
			}
			r.buf = append(r.buf, c)
			if c == '.' {
				break
			}
			if c < '0' || c > '9' || digits >= maxLengthDigits || (digits > 0 && length == 0) {
				return nil, &SyntaxError{Offset: len(r.buf) - 1, Reason: "bad element length"}
			}
			length = length*10 + int(c-'0')
			digits++
		}
		if digits == 0 {
			return nil, &SyntaxError{Offset: len(r.buf) - 1, Reason: "bad element length"}
		}
		if len(r.buf)+length > MaxInstruction {
			return nil, ErrTooLong
		}
		// Value: length code points. Bytes are read in bulk, then topped up
		// for multi-byte characters.
		for length > 0 {
			// Every character is at least one byte, so waiting for length
			// bytes never waits for more than the instruction holds.
			n := min(length, r.r.Size())
			peek, err := r.r.Peek(n)
			if err != nil && len(peek) == 0 {
				return nil, unexpected(err)
			}
			// Consume whole characters only.
			// ASCII (all of base64 blob data) is one byte per character.
			used := asciiPrefix(peek[:min(len(peek), length)])
			runes := used
			for used < len(peek) && runes < length {
				c := peek[used]
				if c < utf8.RuneSelf {
					used++
					runes++
					continue
				}
				if !utf8.FullRune(peek[used:]) {
					break
				}
				ch, size := utf8.DecodeRune(peek[used:])
				if ch == utf8.RuneError && size <= 1 {
					return nil, &SyntaxError{Offset: len(r.buf) + used, Reason: "invalid UTF-8"}
				}
				used += size
				runes++
			}
			if used == 0 {
				// A character split across the peek window: read it alone.
				ch, size, err := r.r.ReadRune()
				if err != nil {
					return nil, unexpected(err)
				}
				if ch == utf8.RuneError && size <= 1 {
					return nil, &SyntaxError{Offset: len(r.buf), Reason: "invalid UTF-8"}
				}
				r.buf = utf8.AppendRune(r.buf, ch)
				length--
				continue
			}
			r.buf = append(r.buf, peek[:used]...)
			if _, err := r.r.Discard(used); err != nil {
				return nil, unexpected(err)
			}
			length -= runes
			if len(r.buf) > MaxInstruction {
				return nil, ErrTooLong
			}
		}
		c, err := r.r.ReadByte()
		if err != nil {
			return nil, unexpected(err)
		}
		r.buf = append(r.buf, c)
		switch c {
		case ',':
		case ';':
			return r.buf, nil
		default:
			return nil, &SyntaxError{Offset: len(r.buf) - 1, Reason: "expected ',' or ';'"}
		}
	}
}

// asciiPrefix is the length of b's leading run of ASCII bytes, checked
// eight at a time.
func asciiPrefix(b []byte) int {
	i := 0
	for ; i+8 <= len(b); i += 8 {
		if binary.LittleEndian.Uint64(b[i:])&0x8080808080808080 != 0 {
			break
		}
	}
	for ; i < len(b) && b[i] < utf8.RuneSelf; i++ {
	}
	return i
}

// Read returns the next instruction, decoded.
func (r *Reader) Read() (Instruction, error) {
	raw, err := r.ReadRaw()
	if err != nil {
		return Instruction{}, err
	}
	return Parse(raw)
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
