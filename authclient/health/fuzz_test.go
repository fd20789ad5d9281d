package health

import (
	"net"
	"testing"
)

func FuzzTargets(f *testing.F) {
	for _, s := range []string{"0.0.0.0:9300", "[::]:9300", ":9300", "host:", "nope", "[::1%lo]:1", "a:b:c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, addr string) {
		hosts, port, err := targets(addr)
		if err != nil {
			return
		}
		if len(hosts) == 0 || port == "" {
			t.Fatalf("targets(%q) = %v, %q without error", addr, hosts, port)
		}
		for _, h := range hosts {
			if ip := net.ParseIP(h); ip != nil && ip.IsUnspecified() {
				t.Fatalf("unspecified host %q left in targets for %q", h, addr)
			}
		}
	})
}
