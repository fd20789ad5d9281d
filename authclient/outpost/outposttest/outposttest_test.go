package outposttest

import (
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
