package guac

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzParse checks that any input is either rejected with an error or
// decodes to an instruction that encodes back to the same bytes, and that
// the streaming Reader agrees with Parse.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"6.select,3.ssh;", "0.,4.ping,13.1700000000000;", "4.args,13.VERSION_1_5_0,8.hostname;",
		"5.ready,37.$260d01da-779b-4ee9-afc1-c16bae885cc7;", "4.name,8.Jürgen 🎉;", "3.nop", "x.;", "",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ins, err := Parse(data)
		raw, rerr := NewReader(bytes.NewReader(data)).ReadRaw()
		if err != nil {
			if rerr == nil && len(raw) == len(data) {
				t.Fatalf("Reader accepted %q that Parse rejects: %v", data, err)
			}
			return
		}
		if !bytes.Equal(ins.Encode(), data) {
			t.Fatalf("round trip: %q -> %q", data, ins.Encode())
		}
		if rerr != nil && !errors.Is(rerr, io.EOF) {
			t.Fatalf("Reader rejected %q that Parse accepts: %v", data, rerr)
		}
		if !bytes.Equal(raw, data) {
			t.Fatalf("Reader read %q, want %q", raw, data)
		}
	})
}
