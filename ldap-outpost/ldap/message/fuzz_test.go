package message

import (
	"bufio"
	"bytes"
	"testing"
)

// FuzzDecode: any byte stream is read as frames and decoded without a panic
// or hang, and every decoded request names a known operation.
func FuzzDecode(f *testing.F) {
	f.Add(envelope(1, simpleBind("cn=a,dc=x", "pw")))
	f.Add(envelope(2, saslBind("EXTERNAL")))
	f.Add(envelope(3, search("dc=x")))
	f.Add([]byte{0x30, 0x05, 0x02, 0x01, 0x01, 0x42, 0x00})
	f.Add([]byte{0x30, 0x84, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bufio.NewReader(bytes.NewReader(in))
		for {
			frame, err := ReadFrame(r, 1<<16)
			if err != nil {
				return
			}
			req, err := Decode(frame)
			if err != nil {
				continue
			}
			if req.Op.Name() == "unknown" {
				t.Fatalf("decoded unknown op %d", req.Op)
			}
			if req.Search != nil && req.Search.Filter == nil {
				t.Fatal("search without filter")
			}
		}
	})
}
