package guac

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEncodeParse(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		ins  Instruction
		wire string
	}{
		{"select", New("select", "ssh"), "6.select,3.ssh;"},
		{"no args", New("nop"), "3.nop;"},
		{"internal ping", New("", "ping", "1700000000000"), "0.,4.ping,13.1700000000000;"},
		{"empty arg", New("args", "VERSION_1_5_0", ""), "4.args,13.VERSION_1_5_0,0.;"},
		{"unicode counts code points", New("name", "Jürgen 🎉"), "4.name,8.Jürgen 🎉;"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.wire, tc.ins.String())
			got, err := Parse([]byte(tc.wire))
			require.NoError(t, err)
			assert.Equal(t, tc.ins.Opcode, got.Opcode)
			assert.Equal(t, len(tc.ins.Args), len(got.Args))
			for i := range tc.ins.Args {
				assert.Equal(t, tc.ins.Args[i], got.Args[i])
			}
			r := NewReader(strings.NewReader(tc.wire + tc.wire))
			for range 2 {
				raw, err := r.ReadRaw()
				require.NoError(t, err)
				assert.Equal(t, tc.wire, string(raw))
			}
			_, err = r.ReadRaw()
			assert.ErrorIs(t, err, io.EOF)
		})
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{
		"", "3.nop", "3.no;", "x.nop;", "3nop;", "3.nop,", "3.nop;x", "-1.a;", ".;",
		"999999999.a;", "4.nop;", "2.\xff\xfe;", "3.nop.",
	} {
		_, err := Parse([]byte(bad))
		assert.Error(t, err, "%q", bad)
	}
}

func TestParseAllAndSplit(t *testing.T) {
	t.Parallel()
	msg := "4.sync,3.123;0.,4.ping,1.5;5.mouse,1.1,1.2,1.0;"
	all, err := ParseAll([]byte(msg))
	require.NoError(t, err)
	require.Len(t, all, 3)
	assert.True(t, all[1].Internal())
	parts, err := Split([]byte(msg))
	require.NoError(t, err)
	assert.Equal(t, "0.,4.ping,1.5;", string(parts[1]))
	_, err = ParseAll([]byte("4.sync,3.123;4.sy"))
	var se *SyntaxError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 17, se.Offset)
}

func TestReaderTruncatedAndTooLong(t *testing.T) {
	t.Parallel()
	r := NewReader(strings.NewReader("4.sync,3.12"))
	_, err := r.ReadRaw()
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)

	r = NewReader(strings.NewReader("5.hello,"))
	_, err = r.ReadRaw()
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)

	r = NewReader(strings.NewReader("9999999.x"))
	_, err = r.ReadRaw()
	assert.ErrorIs(t, err, ErrTooLong)

	r = NewReader(strings.NewReader("3.a\xffb;"))
	_, err = r.ReadRaw()
	var se *SyntaxError
	assert.True(t, errors.As(err, &se))
}

func TestReaderLargeMultibyte(t *testing.T) {
	t.Parallel()
	// A value larger than the read buffer, with multi-byte characters
	// straddling its boundaries.
	v := strings.Repeat("aé€𝄞", 40000)
	wire := New("blob", "1", v).Encode()
	r := NewReader(bytes.NewReader(append(wire, wire...)))
	for range 2 {
		ins, err := r.Read()
		require.NoError(t, err)
		assert.Equal(t, v, ins.Args[1])
	}
}
