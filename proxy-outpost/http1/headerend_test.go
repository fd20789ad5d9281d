package http1

import (
	"bufio"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// piecesReader returns its pieces one Read at a time, then EOF.
type piecesReader struct{ pieces []string }

func (r *piecesReader) Read(p []byte) (int, error) {
	if len(r.pieces) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.pieces[0])
	if n < len(r.pieces[0]) {
		r.pieces[0] = r.pieces[0][n:]
	} else {
		r.pieces = r.pieces[1:]
	}
	return n, nil
}

func TestHeaderEnd(t *testing.T) {
	t.Parallel()
	const block = "GET / HTTP/1.1\r\nHost: a\r\n\r\n"
	cases := []struct {
		name    string
		pieces  []string
		size    int
		want    int
		wantErr error
	}{
		{name: "CRLF in one read", pieces: []string{block}, want: len(block)},
		{name: "CRLF with body after", pieces: []string{block + "body"}, want: len(block)},
		{name: "bare LF", pieces: []string{"GET / HTTP/1.1\nHost: a\n\n"}, want: 24},
		{name: "mixed", pieces: []string{"GET / HTTP/1.1\r\nHost: a\n\r\n"}, want: 26},
		{name: "split in the final CRLF CRLF", pieces: []string{"GET / HTTP/1.1\r\nHost: a\r", "\n\r", "\n"}, want: len(block)},
		{name: "split after the LF", pieces: []string{"GET / HTTP/1.1\r\nHost: a\r\n", "\r\n"}, want: len(block)},
		{name: "split LF LF", pieces: []string{"GET / HTTP/1.1\nHost: a\n", "\n"}, want: 24},
		{name: "one byte at a time", pieces: strings.Split(block, ""), want: len(block)},
		{name: "exactly the buffer", pieces: []string{block}, size: len(block), want: len(block)},
		{name: "too large", pieces: []string{"GET / HTTP/1.1\r\nX: " + strings.Repeat("a", 100) + "\r\n\r\n"}, size: 32, wantErr: errHeaderTooLarge},
		{name: "too large by one byte", pieces: []string{block}, size: len(block) - 1, wantErr: errHeaderTooLarge},
		{name: "too large, in pieces", pieces: strings.Split("GET / HTTP/1.1\r\nX: "+strings.Repeat("a", 100), ""), size: 32, wantErr: errHeaderTooLarge},
		{name: "partial then EOF", pieces: []string{"GET / HTTP/1.1\r\nHost: a\r\n"}, wantErr: io.ErrUnexpectedEOF},
		{name: "nothing then EOF", pieces: nil, wantErr: io.EOF},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			size := tc.size
			if size == 0 {
				size = 1024
			}
			pieces := append([]string(nil), tc.pieces...)
			br := bufio.NewReaderSize(&piecesReader{pieces: pieces}, size)
			n, err := headerEnd(br)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, n)
			assert.GreaterOrEqual(t, br.Buffered(), n, "the block is buffered, unread")
		})
	}
	t.Run("every split point", func(t *testing.T) {
		t.Parallel()
		for i := 1; i < len(block); i++ {
			br := bufio.NewReaderSize(&piecesReader{pieces: []string{block[:i], block[i:]}}, 64)
			n, err := headerEnd(br)
			require.NoError(t, err, "split at %d", i)
			assert.Equal(t, len(block), n, "split at %d", i)
		}
	})
	t.Run("after a consumed request", func(t *testing.T) {
		t.Parallel()
		// The second block starts mid-buffer and must be slid to the front.
		br := bufio.NewReaderSize(&piecesReader{pieces: []string{block + block[:10], block[10:]}}, 48)
		n, err := headerEnd(br)
		require.NoError(t, err)
		_, _ = br.Discard(n)
		n, err = headerEnd(br)
		require.NoError(t, err)
		assert.Equal(t, len(block), n)
	})
}
