package logging_test

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/outpost-go/outposts/authclient/logging"
	"github.com/outpost-go/outposts/authclient/outpost/outposttest"
)

// Lines logged from several goroutines at once come out whole: each is one
// JSON object on a line of its own.
func TestConcurrentLinesStayWhole(t *testing.T) {
	t.Parallel()
	var buf outposttest.Buffer
	l := logging.New(&buf, "info", false)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				l.Info().Int("g", g).Int("i", i).Msg(strings.Repeat("m", g*100))
			}
		})
	}
	wg.Wait()
	out := strings.Split(strings.TrimSpace(buf.String()), "\n")
	assert.Len(t, out, 400)
	for _, line := range out {
		assert.True(t, json.Valid([]byte(line)), "not one JSON object: %q", line)
	}
}
