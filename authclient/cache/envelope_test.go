package cache

import (
	"bytes"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEnvelope(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		raw     []byte
		want    []byte
		wantErr error
	}{
		{"v1", []byte{1, 'a', 'b'}, []byte("ab"), nil},
		{"v1 empty value", []byte{1}, []byte{}, nil},
		{"v1 binary", []byte{1, 0, 2, 255}, []byte{0, 2, 255}, nil},
		{"empty", nil, nil, errEmptyEnvelope},
		{"version 0", []byte{0, 'a'}, nil, errUnknownVersion},
		{"future version", []byte{2, 'a'}, nil, errUnknownVersion},
		{"version 255", []byte{255}, nil, errUnknownVersion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := decodeEnvelope(tt.raw)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				assert.Nil(t, got)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.raw, encodeEnvelope(got))
		})
	}
}

func TestEscapeKeyPart(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"":       "",
		"plain":  "plain",
		"a:b":    "a%3Ab",
		"a%3Ab":  "a%253Ab",
		"%":      "%25",
		"::":     "%3A%3A",
		"ключ:1": "ключ%3A1",
		"%:a%:":  "%25%3Aa%25%3A",
		":%":     "%3A%25",
		"s:hash": "s%3Ahash",
	}
	for in, want := range tests {
		assert.Equal(t, want, escapeKeyPart(in), in)
		n := Namespace(NewMemory(1), "p:x").(*namespaced)
		assert.Equal(t, "p%3Ax:"+want, n.key(in), in)
	}
}

// FuzzDecodeEnvelope: any bytes from Redis decode to a value or an error,
// never a panic, and what decodes re-encodes to the same bytes.
func FuzzDecodeEnvelope(f *testing.F) {
	for _, seed := range [][]byte{nil, {0}, {1}, {1, 'v'}, {2, 'v'}, {255, 0, 1}, encodeEnvelope(bytes.Repeat([]byte{0xff}, 64))} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		v, err := decodeEnvelope(raw)
		if err != nil {
			if !errors.Is(err, errEmptyEnvelope) && !errors.Is(err, errUnknownVersion) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			if v != nil {
				t.Fatalf("value %q returned with error %v", v, err)
			}
			return
		}
		if !bytes.Equal(encodeEnvelope(v), raw) {
			t.Fatalf("decode then encode changed %q", raw)
		}
		// And every value survives a round trip.
		back, err := decodeEnvelope(encodeEnvelope(raw))
		if err != nil || !bytes.Equal(back, raw) {
			t.Fatalf("round trip of %q: got %q, %v", raw, back, err)
		}
	})
}
