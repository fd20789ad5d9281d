package radiusd_test

import (
	"net"
	"testing"
	"time"

	"layeh.com/radius"
)

// BenchmarkCachedPAP measures cached Access-Requests over loopback UDP from
// parallel clients, through the whole server with the credential cache in
// memory. scripts/bench radius compares the same path with FreeRADIUS.
func BenchmarkCachedPAP(b *testing.B) {
	h := newHarness(b, harnessOpts{})
	req := accessRequest(b, demoSecret, "alice", "alice-password", false)
	if p := checkReply(b, exchange(b, h.auth1, req, wait), req, demoSecret); p.Code != radius.CodeAccessAccept {
		b.Fatal("warm-up was rejected")
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		conn, err := net.Dial("udp", h.auth1)
		if err != nil {
			b.Error(err)
			return
		}
		defer conn.Close()
		buf := make([]byte, 4096)
		for pb.Next() {
			req := accessRequest(b, demoSecret, "alice", "alice-password", false)
			if _, err := conn.Write(req); err != nil {
				b.Error(err)
				return
			}
			_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := conn.Read(buf); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
