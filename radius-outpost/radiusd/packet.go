package radiusd

import (
	"crypto/hmac"
	"crypto/md5" //nolint:gosec // RADIUS is defined with MD5 (RFC 2865, 3579)
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"sync"

	"layeh.com/radius"
	"layeh.com/radius/rfc2869"
)

const (
	headerLen = 20
	maLen     = 18 // type, length, 16 bytes of HMAC-MD5
)

var (
	errShortPacket = errors.New("packet shorter than a RADIUS header")
	errBadLength   = errors.New("packet length field does not match")
	errBadMA       = errors.New("Message-Authenticator is malformed")
	errDuplicateMA = errors.New("more than one Message-Authenticator")
)

// checkHeader validates the framing of a datagram and returns the packet
// without any trailing bytes (RFC 2865 §3 allows them and says to ignore
// them).
func checkHeader(b []byte) ([]byte, error) {
	if len(b) < headerLen {
		return nil, errShortPacket
	}
	n := int(binary.BigEndian.Uint16(b[2:4]))
	if n < headerLen || n > radius.MaxPacketLength || n > len(b) {
		return nil, fmt.Errorf("%w: length %d, datagram %d bytes", errBadLength, n, len(b))
	}
	return b[:n], nil
}

// findMA returns the offset of the Message-Authenticator's value in b, or -1
// when there is none. b must have passed checkHeader.
func findMA(b []byte) (int, error) {
	at := -1
	for i := headerLen; i < len(b); {
		if len(b)-i < 2 {
			return -1, errors.New("truncated attribute")
		}
		l := int(b[i+1])
		if l < 2 || i+l > len(b) {
			return -1, errors.New("bad attribute length")
		}
		if radius.Type(b[i]) == rfc2869.MessageAuthenticator_Type {
			if l != maLen {
				return -1, errBadMA
			}
			if at >= 0 {
				return -1, errDuplicateMA
			}
			at = i + 2
		}
		i += l
	}
	return at, nil
}

// verifyMA reports whether b carries a Message-Authenticator and whether it
// is right for secret. zeroAuth computes it with a zeroed authenticator
// field, as for Accounting-Request (RFC 5176 §3.5 does the same for CoA).
func verifyMA(b []byte, macs *hmacPool, zeroAuth bool) (present, valid bool, err error) {
	at, err := findMA(b)
	if err != nil || at < 0 {
		return false, false, err
	}
	// The HMAC covers the packet with the MA's value (and for accounting
	// the authenticator) zeroed: hashed in pieces rather than copied.
	var zero [16]byte
	var sum [md5.Size]byte
	if zeroAuth {
		macs.sum(sum[:0], b[:4], zero[:], b[headerLen:at], zero[:], b[at+16:])
	} else {
		macs.sum(sum[:0], b[:at], zero[:], b[at+16:])
	}
	return true, hmac.Equal(sum[:], b[at:at+16]), nil
}

// encodeResponse encodes resp, the reply to a request with authenticator
// reqAuth, with a Message-Authenticator as its first attribute (unless
// withMA is false) and the Response Authenticator computed over it
// (RFC 3579 §3.2, RFC 2865 §3).
func encodeResponse(resp *radius.Packet, reqAuth [16]byte, secret []byte, macs *hmacPool, withMA bool) ([]byte, error) {
	attrs := make(radius.Attributes, 0, len(resp.Attributes)+1)
	if withMA {
		attrs = append(attrs, &radius.AVP{Type: rfc2869.MessageAuthenticator_Type, Attribute: make(radius.Attribute, 16)})
	}
	for _, a := range resp.Attributes {
		if a.Type != rfc2869.MessageAuthenticator_Type {
			attrs = append(attrs, a)
		}
	}
	q := *resp
	q.Attributes = attrs
	q.Authenticator = reqAuth
	b, err := q.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("encode response: %w", err)
	}
	if withMA {
		macs.sum(b[headerLen+2:headerLen+2:headerLen+maLen], b)
	}
	// b[4:20] holds reqAuth (set above), as the Response Authenticator's
	// input wants it.
	macs.md5Sum(b[4:4:headerLen], b, secret)
	return b, nil
}

// hmacPool reuses keyed HMAC-MD5 states: hmac.New hashes the key pads on
// every call, a large share of the cost of a cached request. It also
// reuses plain MD5 states for Response Authenticators.
type hmacPool struct{ p, plain sync.Pool }

func newHMACPool(secret []byte) *hmacPool {
	key := append([]byte(nil), secret...)
	return &hmacPool{
		p:     sync.Pool{New: func() any { return hmac.New(md5.New, key) }},
		plain: sync.Pool{New: func() any { return md5.New() }}, //nolint:gosec // RADIUS
	}
}

// md5Sum appends MD5(the concatenation of data) to dst.
func (hp *hmacPool) md5Sum(dst []byte, data ...[]byte) []byte {
	h := hp.plain.Get().(hash.Hash)
	h.Reset()
	for _, d := range data {
		h.Write(d)
	}
	out := h.Sum(dst)
	hp.plain.Put(h)
	return out
}

// sum appends HMAC-MD5(secret, the concatenation of data) to dst.
func (hp *hmacPool) sum(dst []byte, data ...[]byte) []byte {
	m := hp.p.Get().(hash.Hash)
	m.Reset()
	for _, d := range data {
		m.Write(d)
	}
	out := m.Sum(dst)
	hp.p.Put(m)
	return out
}
