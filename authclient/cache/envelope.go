package cache

import (
	"errors"
	"fmt"
)

// envelopeV1 is the only format so far: the version byte, then the value as
// given to Set.
//
// A future format gets the next number. Readers must keep treating an
// unknown version as a miss, not an error: during a rolling upgrade old
// replicas read what new ones wrote, and for a cache the right answer to
// "I cannot read this" is to recompute the value (and overwrite it in the
// old format), never to fail a login or misread bytes laid out differently.
const envelopeV1 byte = 1

var (
	errEmptyEnvelope  = errors.New("empty cache envelope")
	errUnknownVersion = errors.New("unknown cache envelope version")
)

// encodeEnvelope returns value wrapped in the current envelope format.
func encodeEnvelope(value []byte) []byte {
	out := make([]byte, 1+len(value))
	out[0] = envelopeV1
	copy(out[1:], value)
	return out
}

// decodeEnvelope returns the value inside raw. The result aliases raw.
// Callers treat any error as a cache miss.
func decodeEnvelope(raw []byte) ([]byte, error) {
	if len(raw) == 0 {
		return nil, errEmptyEnvelope
	}
	switch raw[0] {
	case envelopeV1:
		return raw[1:], nil
	default:
		return nil, fmt.Errorf("%w %d", errUnknownVersion, raw[0])
	}
}
