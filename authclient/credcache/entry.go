package credcache

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// entryV1 is the stored format:
//
//	version byte (1)
//	verifier  32 bytes
//	user pk   int32, big endian
//	flags     byte: bit 0 is_active, bit 1 password_change_date set
//	password_change_date  int64 unix nanoseconds (0 when unset)
//	stored at int64 unix nanoseconds
//	session id   uvarint length, bytes
//	data         uvarint length, bytes
//
// A reader that does not know the version treats the entry as a miss, so a
// format change during a rolling upgrade costs re-authentications, not
// errors.
const entryV1 byte = 1

const (
	verifierLen = 32
	fixedLen    = 1 + verifierLen + 4 + 1 + 8 + 8

	flagActive  = 1 << 0
	flagPCDSet  = 1 << 1
	knownFlags  = flagActive | flagPCDSet
	maxFieldLen = 1 << 20
)

var (
	errShortEntry      = errors.New("credcache entry too short")
	errUnknownVersion  = errors.New("unknown credcache entry version")
	errBadFlags        = errors.New("credcache entry has unknown flags")
	errTrailingGarbage = errors.New("credcache entry has trailing bytes")
)

func encodeEntry(verifier []byte, e Entry) []byte {
	out := make([]byte, 0, fixedLen+2*binary.MaxVarintLen64+len(e.SessionID)+len(e.Data))
	out = append(out, entryV1)
	out = append(out, verifier[:verifierLen]...)
	out = binary.BigEndian.AppendUint32(out, uint32(e.UserPK))
	var flags byte
	var pcd int64
	if e.IsActive {
		flags |= flagActive
	}
	if !e.PasswordChangeDate.IsZero() {
		flags |= flagPCDSet
		pcd = e.PasswordChangeDate.UnixNano()
	}
	out = append(out, flags)
	out = binary.BigEndian.AppendUint64(out, uint64(pcd))
	out = binary.BigEndian.AppendUint64(out, uint64(e.StoredAt.UnixNano()))
	out = binary.AppendUvarint(out, uint64(len(e.SessionID)))
	out = append(out, e.SessionID...)
	out = binary.AppendUvarint(out, uint64(len(e.Data)))
	out = append(out, e.Data...)
	return out
}

// decodeEntry parses what encodeEntry wrote. Any other input is an error,
// never a panic.
func decodeEntry(b []byte) (verifier []byte, e Entry, err error) {
	if len(b) == 0 {
		return nil, Entry{}, errShortEntry
	}
	if b[0] != entryV1 {
		return nil, Entry{}, fmt.Errorf("%w %d", errUnknownVersion, b[0])
	}
	if len(b) < fixedLen {
		return nil, Entry{}, errShortEntry
	}
	verifier = append([]byte(nil), b[1:1+verifierLen]...)
	p := 1 + verifierLen
	e.UserPK = int32(binary.BigEndian.Uint32(b[p:]))
	p += 4
	flags := b[p]
	p++
	if flags&^knownFlags != 0 {
		return nil, Entry{}, errBadFlags
	}
	e.IsActive = flags&flagActive != 0
	pcd := int64(binary.BigEndian.Uint64(b[p:]))
	p += 8
	if flags&flagPCDSet != 0 {
		e.PasswordChangeDate = time.Unix(0, pcd).UTC()
	}
	e.StoredAt = time.Unix(0, int64(binary.BigEndian.Uint64(b[p:]))).UTC()
	p += 8
	rest := b[p:]
	sid, rest, err := readField(rest)
	if err != nil {
		return nil, Entry{}, fmt.Errorf("credcache entry session id: %w", err)
	}
	e.SessionID = string(sid)
	data, rest, err := readField(rest)
	if err != nil {
		return nil, Entry{}, fmt.Errorf("credcache entry data: %w", err)
	}
	if len(data) > 0 {
		e.Data = append([]byte(nil), data...)
	}
	if len(rest) != 0 {
		return nil, Entry{}, errTrailingGarbage
	}
	return verifier, e, nil
}

func readField(b []byte) (field, rest []byte, err error) {
	n, k := binary.Uvarint(b)
	if k <= 0 {
		return nil, nil, errShortEntry
	}
	b = b[k:]
	if n > maxFieldLen || n > uint64(len(b)) {
		return nil, nil, errShortEntry
	}
	return b[:n], b[n:], nil
}
