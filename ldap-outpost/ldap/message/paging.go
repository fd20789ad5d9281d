package message

import (
	"errors"

	ber "github.com/go-asn1-ber/asn1-ber"
)

// PagedResults is a decoded paged-results request control (RFC 2696).
type PagedResults struct {
	Size   int64
	Cookie []byte
}

// DecodePagedResults decodes the control's value.
func DecodePagedResults(value []byte) (PagedResults, error) {
	p, err := ber.DecodePacketErr(value)
	if err != nil {
		return PagedResults{}, err
	}
	if !isUniversal(p, ber.TagSequence) || len(p.Children) != 2 {
		return PagedResults{}, errors.New("paged results value is not SEQUENCE { size, cookie }")
	}
	size, ok := p.Children[0].Value.(int64)
	if !ok || size < 0 || !isUniversal(p.Children[1], ber.TagOctetString) {
		return PagedResults{}, errors.New("paged results size or cookie is malformed")
	}
	return PagedResults{Size: size, Cookie: p.Children[1].Data.Bytes()}, nil
}
