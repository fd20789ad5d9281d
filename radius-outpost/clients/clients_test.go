package clients_test

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/outpost-go/outposts/radius-outpost/clients"
)

func TestParseNetworks(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{in: "0.0.0.0/0, ::/0", want: []string{"0.0.0.0/0", "::/0"}},
		{in: "10.1.2.3/8", want: []string{"10.0.0.0/8"}},
		{in: " 192.168.1.5 ,, fd00::1 ", want: []string{"192.168.1.5/32", "fd00::1/128"}},
		{in: "::ffff:10.0.0.0/104", want: []string{"10.0.0.0/8"}},
		{in: "::ffff:10.0.0.1", want: []string{"10.0.0.1/32"}},
		{in: "", wantErr: true},
		{in: " , ", wantErr: true},
		{in: "10.0.0.0/33", wantErr: true},
		{in: "not-a-network", wantErr: true},
		{in: "10.0.0.0/8,garbage", wantErr: true},
		{in: "fe80::1%eth0", wantErr: true},
		{in: "::ffff:0.0.0.0/64", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := clients.ParseNetworks(tt.in)
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			var s []string
			for _, p := range got {
				s = append(s, p.String())
			}
			assert.Equal(t, tt.want, s)
		})
	}
}

func mustNets(t *testing.T, s string) clients.Networks {
	t.Helper()
	n, err := clients.ParseNetworks(s)
	require.NoError(t, err)
	return n
}

func TestLookupLongestPrefix(t *testing.T) {
	t.Parallel()
	// Provider order is the core's (name) order. authentik's sort would pick
	// provider 0 for 192.168.128.254 (#22853); the /32 must win.
	table := clients.NewTable([]clients.Networks{
		mustNets(t, "0.0.0.0/0, ::/0"),
		mustNets(t, "192.168.128.0/24"),
		mustNets(t, "192.168.128.254/32, 2001:db8::/32"),
		mustNets(t, "192.168.128.0/24, 10.0.0.0/8"), // the /24 is provider 1's: first listed wins
		mustNets(t, "2001:db8:1::/48"),
	})
	tests := []struct {
		addr string
		want int
		ok   bool
	}{
		{"192.168.128.254", 2, true},
		{"::ffff:192.168.128.254", 2, true},
		{"192.168.128.1", 1, true},
		{"10.9.9.9", 3, true},
		{"8.8.8.8", 0, true},
		{"2001:db8::1", 2, true},
		{"2001:db8:1::5", 4, true},
		{"fe80::1%eth0", 0, true},
		{"2002::1", 0, true},
	}
	for _, tt := range tests {
		got, ok := table.Lookup(netip.MustParseAddr(tt.addr))
		assert.Equal(t, tt.ok, ok, tt.addr)
		assert.Equal(t, tt.want, got, tt.addr)
	}
}

func TestLookupUnknown(t *testing.T) {
	t.Parallel()
	table := clients.NewTable([]clients.Networks{mustNets(t, "10.0.0.0/8"), mustNets(t, "fd00::/8")})
	for _, a := range []string{"11.0.0.1", "127.0.0.1", "::1", "fe00::1"} {
		_, ok := table.Lookup(netip.MustParseAddr(a))
		assert.False(t, ok, a)
	}
	_, ok := table.Lookup(netip.Addr{})
	assert.False(t, ok)
	_, ok = clients.NewTable(nil).Lookup(netip.MustParseAddr("10.0.0.1"))
	assert.False(t, ok)
}

func FuzzParseNetworks(f *testing.F) {
	for _, s := range []string{"0.0.0.0/0, ::/0", "10.0.0.0/8", "192.168.1.1", "::ffff:10.0.0.0/104", "a,b", ",", "fe80::1%eth0/64"} {
		f.Add(s, "10.1.2.3")
	}
	f.Fuzz(func(t *testing.T, s, addr string) {
		nets, err := clients.ParseNetworks(s)
		if err != nil {
			assert.Nil(t, nets)
			return
		}
		require.NotEmpty(t, nets)
		table := clients.NewTable([]clients.Networks{nets})
		for _, p := range nets {
			// Every network contains its own address, so it matches.
			_, ok := table.Lookup(p.Addr())
			assert.True(t, ok, p.String())
		}
		if a, err := netip.ParseAddr(addr); err == nil {
			table.Lookup(a)
		}
	})
}
