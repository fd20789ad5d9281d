package outposttest

import (
	"os"
	"path/filepath"
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

// TestFreePort: the port is outside the kernel's ephemeral range, where
// no outgoing connection takes it. (Whether it can still be bound after
// FreePort returns is not checked: another test process may take it in
// that moment, which is the race FreePort makes rare, not impossible.)
func TestFreePort(t *testing.T) {
	t.Parallel()
	low, high := ephemeralRange()
	for range 20 {
		p := FreePort(t)
		assert.GreaterOrEqual(t, p, minPort)
		assert.True(t, p < low || p > high, "port %d in the ephemeral range %d-%d", p, low, high)
	}
}

func TestFreeSpans(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		low, high int
		want      []span
	}{
		{"linux default", 32768, 60999, []span{{20000, 32768}, {61000, 65536}}},
		{"whole range ephemeral", 1024, 65535, nil},
		{"only above", 10000, 40000, []span{{40001, 65536}}},
		{"too little above", 32768, 65000, []span{{20000, 32768}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, freeSpans(tc.low, tc.high))
		})
	}
}

func TestPickStaysInSpans(t *testing.T) {
	t.Parallel()
	spans := []span{{20000, 20002}, {30000, 30001}}
	seen := map[int]bool{}
	for range 200 {
		seen[pick(spans)] = true
	}
	assert.Equal(t, map[int]bool{20000: true, 20001: true, 30000: true}, seen)
}

// TestFreePortReserves: a port handed out stays reserved until the test
// that got it ends, also against other processes (the lock is per open
// file, so a second reserve in this process sees it as taken too).
func TestFreePortReserves(t *testing.T) {
	t.Parallel()
	var port int
	t.Run("holder", func(t *testing.T) {
		port = FreePort(t)
		assert.False(t, reserve(t, port), "reserved port handed out again")
	})
	assert.True(t, reserve(t, port), "reservation outlived its test")
}

// TestReserveRemovedFile: a lock taken on a file its holder removed in
// the meantime reserves nothing.
func TestReserveRemovedFile(t *testing.T) {
	t.Parallel()
	port := FreePort(t)
	path := filepath.Join(os.TempDir(), "outposttest-ports", strconv.Itoa(port))
	held, err := os.Stat(path)
	require.NoError(t, err)
	require.NoError(t, os.Remove(path))
	assert.False(t, sameFile(held, path))
	// A new file under the same name is a new reservation, which the
	// removed one does not block.
	assert.True(t, reserve(t, port))
}
