package credcache

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEntryRoundTrip(t *testing.T) {
	t.Parallel()
	v := bytes.Repeat([]byte{7}, verifierLen)
	tests := []Entry{
		{},
		{UserPK: -1, IsActive: true, StoredAt: time.Unix(0, 1).UTC()},
		{UserPK: 42, PasswordChangeDate: time.Date(2026, 5, 1, 0, 0, 0, 5, time.UTC), SessionID: "sid", Data: []byte("attrs"), StoredAt: time.Unix(5, 0).UTC()},
	}
	for _, e := range tests {
		gotV, got, err := decodeEntry(encodeEntry(v, e))
		require.NoError(t, err)
		assert.Equal(t, v, gotV)
		if e.StoredAt.IsZero() {
			e.StoredAt = time.Unix(0, e.StoredAt.UnixNano()).UTC()
		}
		assert.Equal(t, e, got)
	}
}

func TestDecodeEntryRejects(t *testing.T) {
	t.Parallel()
	good := encodeEntry(make([]byte, verifierLen), Entry{UserPK: 1, SessionID: "s", Data: []byte("d")})
	tests := map[string][]byte{
		"empty":    nil,
		"version":  append([]byte{2}, good[1:]...),
		"short":    good[:fixedLen-1],
		"no sid":   good[:fixedLen],
		"trailing": append(append([]byte(nil), good...), 0),
		"flags":    func() []byte { b := append([]byte(nil), good...); b[1+verifierLen+4] = 0x80; return b }(),
		"long len": append(append([]byte(nil), good[:fixedLen]...), 0xff, 0xff, 0xff, 0xff, 0x0f),
	}
	for name, b := range tests {
		_, _, err := decodeEntry(b)
		assert.Error(t, err, name)
	}
}

func FuzzDecodeEntry(f *testing.F) {
	f.Add(encodeEntry(make([]byte, verifierLen), Entry{UserPK: 1, IsActive: true, SessionID: "sid", Data: []byte{1, 2}}))
	f.Add([]byte{1})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		v, e, err := decodeEntry(b)
		if err != nil {
			return
		}
		// What decodes re-encodes to the same bytes.
		again := encodeEntry(v, e)
		if e.PasswordChangeDate.IsZero() == (b[1+verifierLen+4]&flagPCDSet == 0) && bytes.Equal(again, b) {
			return
		}
		v2, e2, err := decodeEntry(again)
		require.NoError(t, err)
		assert.Equal(t, v, v2)
		assert.Equal(t, e.UserPK, e2.UserPK)
		assert.Equal(t, e.SessionID, e2.SessionID)
		assert.Equal(t, e.Data, e2.Data)
	})
}
