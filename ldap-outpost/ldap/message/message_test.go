package message

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func envelope(id int64, op *ber.Packet, controls ...*ber.Packet) []byte {
	p := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
	p.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, id, ""))
	p.AppendChild(op)
	if len(controls) > 0 {
		c := ber.Encode(ber.ClassContext, ber.TypeConstructed, 0, nil, "")
		for _, ctl := range controls {
			c.AppendChild(ctl)
		}
		p.AppendChild(c)
	}
	return p.Bytes()
}

func octets(s string) *ber.Packet {
	return ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, s, "")
}

func simpleBind(name, pw string) *ber.Packet {
	b := ber.Encode(ber.ClassApplication, ber.TypeConstructed, 0, nil, "")
	b.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, int64(3), ""))
	b.AppendChild(octets(name))
	b.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 0, pw, ""))
	return b
}

func saslBind(mech string) *ber.Packet {
	b := ber.Encode(ber.ClassApplication, ber.TypeConstructed, 0, nil, "")
	b.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, int64(3), ""))
	b.AppendChild(octets(""))
	s := ber.Encode(ber.ClassContext, ber.TypeConstructed, 3, nil, "")
	s.AppendChild(octets(mech))
	b.AppendChild(s)
	return b
}

func search(base string) *ber.Packet {
	s := ber.Encode(ber.ClassApplication, ber.TypeConstructed, 3, nil, "")
	s.AppendChild(octets(base))
	s.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, int64(2), ""))
	s.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, int64(0), ""))
	s.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, int64(10), ""))
	s.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, int64(5), ""))
	s.AppendChild(ber.NewBoolean(ber.ClassUniversal, ber.TypePrimitive, ber.TagBoolean, true, ""))
	s.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 7, "objectClass", ""))
	attrs := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
	attrs.AppendChild(octets("cn"))
	attrs.AppendChild(octets("+"))
	s.AppendChild(attrs)
	return s
}

func TestDecode(t *testing.T) {
	t.Parallel()
	paging := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
	paging.AppendChild(octets(ControlPagedResults))
	paging.AppendChild(ber.NewBoolean(ber.ClassUniversal, ber.TypePrimitive, ber.TagBoolean, true, ""))
	paging.AppendChild(octets(string(PagedResultsValue(5, []byte("ck")))))

	compare := ber.Encode(ber.ClassApplication, ber.TypeConstructed, 14, nil, "")
	compare.AppendChild(octets("cn=a,dc=x"))
	ava := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
	ava.AppendChild(octets("cn"))
	ava.AppendChild(octets("a"))
	compare.AppendChild(ava)

	ext := ber.Encode(ber.ClassApplication, ber.TypeConstructed, 23, nil, "")
	ext.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 0, OIDWhoAmI, ""))

	extVal := ber.Encode(ber.ClassApplication, ber.TypeConstructed, 23, nil, "")
	extVal.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 0, OIDPasswordModify, ""))
	extVal.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 1, "\x30\x00", ""))

	del := ber.NewString(ber.ClassApplication, ber.TypePrimitive, 10, "cn=x", "")
	modDN := ber.Encode(ber.ClassApplication, ber.TypeConstructed, 12, nil, "")
	modDN.AppendChild(octets("cn=a"))
	modDN.AppendChild(octets("cn=b"))
	abandon := ber.NewInteger(ber.ClassApplication, ber.TypePrimitive, 16, int64(7), "")
	unbind := ber.Encode(ber.ClassApplication, ber.TypePrimitive, 2, nil, "")

	badBind := ber.Encode(ber.ClassApplication, ber.TypeConstructed, 0, nil, "")
	badBind.AppendChild(octets("x"))

	tests := []struct {
		name   string
		in     []byte
		check  func(t *testing.T, r *Request)
		decErr bool
		frmErr bool
		wantOp Op
		wantID int64
	}{
		{name: "simple bind", in: envelope(1, simpleBind("cn=a,dc=x", "pw")), wantOp: OpBindRequest, wantID: 1, check: func(t *testing.T, r *Request) {
			assert.Equal(t, &BindRequest{Version: 3, Name: "cn=a,dc=x", Simple: true, Password: "pw"}, r.Bind)
		}},
		{name: "sasl bind", in: envelope(2, saslBind("EXTERNAL")), wantOp: OpBindRequest, wantID: 2, check: func(t *testing.T, r *Request) {
			assert.False(t, r.Bind.Simple)
			assert.Equal(t, "EXTERNAL", r.Bind.Mechanism)
		}},
		{name: "search with paging", in: envelope(3, search("dc=x"), paging), wantOp: OpSearchRequest, wantID: 3, check: func(t *testing.T, r *Request) {
			s := r.Search
			assert.Equal(t, "dc=x", s.BaseDN)
			assert.Equal(t, ScopeSub, s.Scope)
			assert.Equal(t, int64(10), s.SizeLimit)
			assert.Equal(t, int64(5), s.TimeLimit)
			assert.True(t, s.TypesOnly)
			assert.Equal(t, []string{"cn", "+"}, s.Attributes)
			c := r.Control(ControlPagedResults)
			require.NotNil(t, c)
			assert.True(t, c.Critical)
			pr, err := DecodePagedResults(c.Value)
			require.NoError(t, err)
			assert.Equal(t, PagedResults{Size: 5, Cookie: []byte("ck")}, pr)
		}},
		{name: "compare", in: envelope(4, compare), wantOp: OpCompareRequest, wantID: 4, check: func(t *testing.T, r *Request) {
			assert.Equal(t, &CompareRequest{DN: "cn=a,dc=x", Attr: "cn", Value: "a"}, r.Compare)
		}},
		{name: "whoami", in: envelope(5, ext), wantOp: OpExtendedRequest, wantID: 5, check: func(t *testing.T, r *Request) {
			assert.Equal(t, OIDWhoAmI, r.Extended.OID)
			assert.False(t, r.Extended.HasValue)
		}},
		{name: "extended with value", in: envelope(6, extVal), wantOp: OpExtendedRequest, wantID: 6, check: func(t *testing.T, r *Request) {
			assert.Equal(t, []byte("\x30\x00"), r.Extended.Value)
		}},
		{name: "delete", in: envelope(7, del), wantOp: OpDelRequest, wantID: 7, check: func(t *testing.T, r *Request) { assert.Equal(t, "cn=x", r.DN) }},
		{name: "modify dn", in: envelope(8, modDN), wantOp: OpModifyDNRequest, wantID: 8, check: func(t *testing.T, r *Request) { assert.Equal(t, "cn=a", r.DN) }},
		{name: "abandon", in: envelope(9, abandon), wantOp: OpAbandonRequest, wantID: 9, check: func(t *testing.T, r *Request) { assert.Equal(t, int64(7), r.AbandonID) }},
		{name: "unbind", in: envelope(10, unbind), wantOp: OpUnbindRequest, wantID: 10},
		{name: "malformed bind", in: envelope(11, badBind), decErr: true, wantOp: OpBindRequest, wantID: 11},
		{name: "unknown op", in: envelope(12, ber.Encode(ber.ClassApplication, ber.TypeConstructed, 30, nil, "")), decErr: true, wantOp: 30, wantID: 12},
		{name: "not a sequence", in: []byte{0x04, 0x00}, frmErr: true},
		{name: "universal op", in: envelope(1, octets("x")), frmErr: true},
		{name: "negative id", in: envelope(-1, unbind), frmErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, err := Decode(tt.in)
			if tt.frmErr {
				var fe *FrameError
				require.ErrorAs(t, err, &fe)
				return
			}
			if tt.decErr {
				var de *DecodeError
				require.ErrorAs(t, err, &de)
				assert.Equal(t, tt.wantID, de.ID)
				assert.Equal(t, tt.wantOp, de.Op)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.wantID, r.ID)
			assert.Equal(t, tt.wantOp, r.Op)
			if tt.check != nil {
				tt.check(t, r)
			}
		})
	}
}

func TestReadFrame(t *testing.T) {
	t.Parallel()
	msg := envelope(1, simpleBind("cn=a", strings.Repeat("p", 300)))
	r := bufio.NewReader(bytes.NewReader(append(append([]byte{}, msg...), msg...)))
	for range 2 {
		f, err := ReadFrame(r, 0)
		require.NoError(t, err)
		assert.Equal(t, msg, f)
	}
	_, err := ReadFrame(r, 0)
	assert.ErrorIs(t, err, io.EOF)

	_, err = ReadFrame(bufio.NewReader(bytes.NewReader(msg)), 100)
	var fe *FrameError
	require.ErrorAs(t, err, &fe)
	assert.Contains(t, fe.Error(), "exceeds")

	_, err = ReadFrame(bufio.NewReader(bytes.NewReader(msg[:50])), 0)
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
	for _, in := range [][]byte{{0x30, 0x80}, {0x30, 0x85, 1, 1, 1, 1, 1}, {0x02}} {
		_, err = ReadFrame(bufio.NewReader(bytes.NewReader(in)), 0)
		require.ErrorAs(t, err, &fe, "%x", in)
	}
	_, err = ReadFrame(bufio.NewReader(bytes.NewReader([]byte{0x30})), 0)
	assert.True(t, errors.Is(err, io.ErrUnexpectedEOF))
}

// The encoder's output must decode with an independent decoder.
func TestEncodeRoundTrip(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("v", 70000)
	attrs := []Attribute{{Name: "cn", Values: []string{"a", "b"}}, {Name: "big", Values: []string{long}}, {Name: "empty"}}
	b := AppendEntry(nil, 300, "cn=a,dc=x", attrs, false)
	p, err := ber.DecodePacketErr(b)
	require.NoError(t, err)
	assert.Equal(t, int64(300), p.Children[0].Value)
	e := p.Children[1]
	assert.Equal(t, ber.Tag(OpSearchResultEntry), e.Tag)
	assert.Equal(t, "cn=a,dc=x", e.Children[0].Data.String())
	require.Len(t, e.Children[1].Children, 3)
	assert.Equal(t, "b", e.Children[1].Children[0].Children[1].Children[1].Data.String())
	assert.Equal(t, long, e.Children[1].Children[1].Children[1].Children[0].Data.String())

	b = AppendEntry(nil, 1, "cn=a", attrs, true)
	p, err = ber.DecodePacketErr(b)
	require.NoError(t, err)
	assert.Empty(t, p.Children[1].Children[1].Children[0].Children[1].Children)

	for _, id := range []int64{0, 127, 128, 255, 256, 1<<31 - 1} {
		b = AppendResult(nil, id, OpExtendedResponse, Result{Code: 2, Diagnostic: "d", ResponseName: OIDWhoAmI, ResponseValue: []byte("dn:x"), HasValue: true,
			Controls: []ResponseControl{{OID: ControlPagedResults, Value: PagedResultsValue(0, nil)}}})
		p, err = ber.DecodePacketErr(b)
		require.NoError(t, err)
		assert.Equal(t, id, p.Children[0].Value)
		r := p.Children[1]
		assert.Equal(t, int64(2), r.Children[0].Value)
		assert.Equal(t, "d", r.Children[2].Data.String())
		assert.Equal(t, OIDWhoAmI, r.Children[3].Data.String())
		assert.Equal(t, "dn:x", r.Children[4].Data.String())
		pr, err := DecodePagedResults(p.Children[2].Children[0].Children[1].Data.Bytes())
		require.NoError(t, err)
		assert.Equal(t, int64(0), pr.Size)
	}
}
