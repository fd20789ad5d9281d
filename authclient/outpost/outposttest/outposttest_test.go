package outposttest

import (
	"net"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRedisStopStart(t *testing.T) {
	t.Parallel()
	r := StartRedis(t)
	require.True(t, r.Answers())
	r.Stop()
	assert.False(t, r.Answers())
	r.Start()
	assert.True(t, r.Answers())
	assert.Contains(t, r.URL(), "redis://127.0.0.1:")
}

func TestScrapeAndPingWithoutServer(t *testing.T) {
	t.Parallel()
	addr := FreeAddr(t)
	_, ok := Scrape(addr, "anything")
	assert.False(t, ok)
	assert.Equal(t, 0, Ping(addr))
}

// TestFreePort: the port is below the kernel's ephemeral range, where no
// outgoing connection takes it, and can be bound.
func TestFreePort(t *testing.T) {
	t.Parallel()
	low := ephemeralLow()
	for range 20 {
		p := FreePort(t)
		assert.GreaterOrEqual(t, p, minPort)
		assert.Less(t, p, low)
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		require.NoError(t, err)
		require.NoError(t, ln.Close())
	}
}
