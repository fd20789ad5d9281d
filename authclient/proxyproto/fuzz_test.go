package proxyproto

import (
	"bufio"
	"bytes"
	"testing"
)

func FuzzReadHeader(f *testing.F) {
	f.Add([]byte("PROXY TCP4 192.0.2.1 198.51.100.2 12345 443\r\n"))
	f.Add([]byte("PROXY TCP6 2001:db8::1 2001:db8::2 1 2\r\n"))
	f.Add([]byte("PROXY UNKNOWN\r\n"))
	f.Add(v2IPv4())
	f.Add(v2IPv6())
	f.Add(v2(0, 0, nil))
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bufio.NewReader(bytes.NewReader(in))
		if ok, err := hasHeader(r); err != nil || !ok {
			return
		}
		h, err := ReadHeader(r)
		if err != nil {
			return
		}
		if h.Version != 1 && h.Version != 2 {
			t.Fatalf("version %d", h.Version)
		}
		if h.Src.IsValid() != h.Dst.IsValid() {
			t.Fatalf("half an address: %+v", h)
		}
	})
}
