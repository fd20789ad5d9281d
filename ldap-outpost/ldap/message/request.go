package message

import (
	"bufio"
	"errors"
	"fmt"
	"io"

	ber "github.com/go-asn1-ber/asn1-ber"
)

// DefaultMaxSize bounds a request when the caller gives no limit. Requests
// from LDAP clients are small; a big one is an attack or a bug.
const DefaultMaxSize = 1 << 20

// Control is a request control (RFC 4511 §4.1.11).
type Control struct {
	OID      string
	Critical bool
	Value    []byte
	HasValue bool
}

// Request is one decoded LDAPMessage.
type Request struct {
	ID       int64
	Op       Op
	Controls []Control

	// Exactly one of these is set, according to Op (none for unbind and the
	// write operations, which this server does not perform).
	Bind     *BindRequest
	Search   *SearchRequest
	Compare  *CompareRequest
	Extended *ExtendedRequest
	// AbandonID is the message ID an abandon request names.
	AbandonID int64
	// DN is the entry a write operation names, for logs.
	DN string
}

// Control returns the request control with oid, or nil.
func (r *Request) Control(oid string) *Control {
	for i := range r.Controls {
		if r.Controls[i].OID == oid {
			return &r.Controls[i]
		}
	}
	return nil
}

// BindRequest is a bind (RFC 4511 §4.2).
type BindRequest struct {
	Version int64
	Name    string
	// Simple is true for simple authentication; otherwise Mechanism names
	// the SASL mechanism.
	Simple    bool
	Password  string
	Mechanism string
}

// Scope of a search.
type Scope int

// Search scopes.
const (
	ScopeBase        Scope = 0
	ScopeOne         Scope = 1
	ScopeSub         Scope = 2
	ScopeSubordinate Scope = 3 // draft-sermersheim-ldap-subordinate-scope
)

// SearchRequest is a search (RFC 4511 §4.5.1). Filter is the raw BER filter;
// package filter decodes it.
type SearchRequest struct {
	BaseDN     string
	Scope      Scope
	Deref      int64
	SizeLimit  int64
	TimeLimit  int64
	TypesOnly  bool
	Filter     *ber.Packet
	Attributes []string
}

// CompareRequest is a compare (RFC 4511 §4.10).
type CompareRequest struct {
	DN    string
	Attr  string
	Value string
}

// ExtendedRequest is an extended operation (RFC 4511 §4.12).
type ExtendedRequest struct {
	OID      string
	Value    []byte
	HasValue bool
}

// FrameError means the byte stream is not a sequence of LDAP messages; the
// connection cannot continue (RFC 4511 §4.1.1: send a notice of
// disconnection and close).
type FrameError struct{ Reason string }

func (e *FrameError) Error() string { return "ldap framing: " + e.Reason }

// DecodeError means one message was framed correctly but its operation is
// malformed. ID and Op are known, so the server can answer it with
// protocolError and go on.
type DecodeError struct {
	ID     int64
	Op     Op
	Reason string
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("ldap %s request %d: %s", e.Op.Name(), e.ID, e.Reason)
}

// ReadFrame reads the bytes of one BER element (an LDAPMessage) from r,
// refusing anything longer than maxSize (DefaultMaxSize when <= 0). io.EOF
// is returned as is when the stream ends between messages.
func ReadFrame(r *bufio.Reader, maxSize int) ([]byte, error) {
	if maxSize <= 0 {
		maxSize = DefaultMaxSize
	}
	tag, err := r.ReadByte()
	if err != nil {
		return nil, err
	}
	if tag != 0x30 {
		return nil, &FrameError{Reason: fmt.Sprintf("message starts with 0x%02x, not a SEQUENCE", tag)}
	}
	l0, err := r.ReadByte()
	if err != nil {
		return nil, unexpected(err)
	}
	header := []byte{tag, l0}
	length := int(l0)
	if l0&0x80 != 0 {
		n := int(l0 & 0x7f)
		if n == 0 {
			return nil, &FrameError{Reason: "indefinite length is not allowed in LDAP"}
		}
		if n > 4 {
			return nil, &FrameError{Reason: "length of length too big"}
		}
		length = 0
		for i := 0; i < n; i++ {
			b, err := r.ReadByte()
			if err != nil {
				return nil, unexpected(err)
			}
			header = append(header, b)
			length = length<<8 | int(b)
		}
	}
	if length > maxSize {
		return nil, &FrameError{Reason: fmt.Sprintf("message of %d bytes exceeds the limit of %d", length, maxSize)}
	}
	buf := make([]byte, len(header)+length)
	copy(buf, header)
	if _, err := io.ReadFull(r, buf[len(header):]); err != nil {
		return nil, unexpected(err)
	}
	return buf, nil
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// Decode decodes one framed LDAPMessage. A *FrameError means the message
// envelope is unusable; a *DecodeError names the message and operation.
func Decode(frame []byte) (*Request, error) {
	p, err := ber.DecodePacketErr(frame)
	if err != nil {
		return nil, &FrameError{Reason: err.Error()}
	}
	if p.ClassType != ber.ClassUniversal || p.Tag != ber.TagSequence || len(p.Children) < 2 {
		return nil, &FrameError{Reason: "LDAPMessage is not a SEQUENCE of message ID and operation"}
	}
	idp := p.Children[0]
	id, ok := idp.Value.(int64)
	if idp.ClassType != ber.ClassUniversal || idp.Tag != ber.TagInteger || !ok || id < 0 || id > 1<<31-1 {
		return nil, &FrameError{Reason: "bad message ID"}
	}
	op := p.Children[1]
	if op.ClassType != ber.ClassApplication {
		return nil, &FrameError{Reason: "protocol operation is not application-tagged"}
	}
	req := &Request{ID: id, Op: Op(op.Tag)}
	fail := func(format string, args ...any) (*Request, error) {
		return nil, &DecodeError{ID: id, Op: req.Op, Reason: fmt.Sprintf(format, args...)}
	}
	if len(p.Children) > 2 {
		ctrls, err := decodeControls(p.Children[2])
		if err != nil {
			return fail("%v", err)
		}
		req.Controls = ctrls
	}
	switch req.Op {
	case OpBindRequest:
		b, err := decodeBind(op)
		if err != nil {
			return fail("%v", err)
		}
		req.Bind = b
	case OpUnbindRequest:
	case OpSearchRequest:
		s, err := decodeSearch(op)
		if err != nil {
			return fail("%v", err)
		}
		req.Search = s
	case OpCompareRequest:
		c, err := decodeCompare(op)
		if err != nil {
			return fail("%v", err)
		}
		req.Compare = c
	case OpAbandonRequest:
		v, err := ber.ParseInt64(op.Data.Bytes())
		if err != nil || op.TagType != ber.TypePrimitive {
			return fail("abandon needs a message ID")
		}
		req.AbandonID = v
	case OpExtendedRequest:
		e, err := decodeExtended(op)
		if err != nil {
			return fail("%v", err)
		}
		req.Extended = e
	case OpDelRequest:
		req.DN = op.Data.String()
	case OpModifyRequest, OpAddRequest, OpModifyDNRequest:
		if len(op.Children) > 0 {
			req.DN = str(op.Children[0])
		}
	default:
		return fail("unknown operation %d", op.Tag)
	}
	return req, nil
}

// str is the content of a primitive element as a string.
func str(p *ber.Packet) string {
	if p.Data == nil {
		return ""
	}
	return p.Data.String()
}

func isUniversal(p *ber.Packet, tag ber.Tag) bool {
	return p.ClassType == ber.ClassUniversal && p.Tag == tag
}

func decodeControls(p *ber.Packet) ([]Control, error) {
	if p.ClassType != ber.ClassContext || p.Tag != 0 {
		return nil, errors.New("controls are not [0]")
	}
	var out []Control
	for _, c := range p.Children {
		if !isUniversal(c, ber.TagSequence) || len(c.Children) == 0 || len(c.Children) > 3 {
			return nil, errors.New("control is not a SEQUENCE")
		}
		ctl := Control{OID: str(c.Children[0])}
		for _, f := range c.Children[1:] {
			switch {
			case isUniversal(f, ber.TagBoolean):
				v, _ := f.Value.(bool)
				ctl.Critical = v
			case isUniversal(f, ber.TagOctetString):
				ctl.Value, ctl.HasValue = f.Data.Bytes(), true
			default:
				return nil, errors.New("control field is neither criticality nor value")
			}
		}
		out = append(out, ctl)
	}
	return out, nil
}

func decodeBind(op *ber.Packet) (*BindRequest, error) {
	if len(op.Children) != 3 {
		return nil, errors.New("bind needs version, name and authentication")
	}
	v, ok := op.Children[0].Value.(int64)
	if !ok || !isUniversal(op.Children[0], ber.TagInteger) {
		return nil, errors.New("bind version is not an integer")
	}
	b := &BindRequest{Version: v, Name: str(op.Children[1])}
	auth := op.Children[2]
	if auth.ClassType != ber.ClassContext {
		return nil, errors.New("bind authentication is not context-tagged")
	}
	switch auth.Tag {
	case 0:
		b.Simple, b.Password = true, str(auth)
	case 3:
		if len(auth.Children) == 0 {
			return nil, errors.New("SASL credentials without a mechanism")
		}
		b.Mechanism = str(auth.Children[0])
	default:
		return nil, fmt.Errorf("bind authentication choice %d is unknown", auth.Tag)
	}
	return b, nil
}

func decodeSearch(op *ber.Packet) (*SearchRequest, error) {
	if len(op.Children) != 8 {
		return nil, errors.New("search needs 8 fields")
	}
	c := op.Children
	ints := make([]int64, 0, 4)
	for _, i := range []int{1, 2, 3, 4} {
		v, ok := c[i].Value.(int64)
		if !ok {
			return nil, fmt.Errorf("search field %d is not a number", i)
		}
		ints = append(ints, v)
	}
	typesOnly, ok := c[5].Value.(bool)
	if !ok {
		return nil, errors.New("typesOnly is not a boolean")
	}
	if ints[0] < 0 || ints[0] > 3 {
		return nil, fmt.Errorf("scope %d is unknown", ints[0])
	}
	if ints[2] < 0 || ints[3] < 0 {
		return nil, errors.New("negative size or time limit")
	}
	s := &SearchRequest{
		BaseDN: str(c[0]), Scope: Scope(ints[0]), Deref: ints[1], SizeLimit: ints[2], TimeLimit: ints[3],
		TypesOnly: typesOnly, Filter: c[6],
	}
	for _, a := range c[7].Children {
		s.Attributes = append(s.Attributes, str(a))
	}
	return s, nil
}

func decodeCompare(op *ber.Packet) (*CompareRequest, error) {
	if len(op.Children) != 2 || len(op.Children[1].Children) != 2 {
		return nil, errors.New("compare needs an entry and an attribute value assertion")
	}
	ava := op.Children[1].Children
	return &CompareRequest{DN: str(op.Children[0]), Attr: str(ava[0]), Value: str(ava[1])}, nil
}

func decodeExtended(op *ber.Packet) (*ExtendedRequest, error) {
	if len(op.Children) == 0 || op.Children[0].ClassType != ber.ClassContext || op.Children[0].Tag != 0 {
		return nil, errors.New("extended request without a requestName")
	}
	e := &ExtendedRequest{OID: str(op.Children[0])}
	if len(op.Children) > 1 {
		v := op.Children[1]
		if v.ClassType != ber.ClassContext || v.Tag != 1 {
			return nil, errors.New("extended request value is not [1]")
		}
		e.Value, e.HasValue = v.Data.Bytes(), true
	}
	return e, nil
}
