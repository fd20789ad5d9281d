package guac

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

// BenchmarkReadRaw reads 4 KiB blob instructions, the bulk of a session.
func BenchmarkReadRaw(b *testing.B) {
	ins := New("blob", "1", strings.Repeat("QUJD", 1024)).Encode()
	data := bytes.Repeat(ins, 256)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		r := NewReader(bytes.NewReader(data))
		for {
			if _, err := r.ReadRaw(); err == io.EOF {
				break
			} else if err != nil {
				b.Fatal(err)
			}
		}
	}
}
