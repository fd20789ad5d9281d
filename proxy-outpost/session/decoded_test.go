package session

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestVerifiedIDsStayBounded(t *testing.T) {
	t.Parallel()
	v := newVerifiedIDs(50)
	for i := range 1000 {
		c := strconv.Itoa(i)
		v.put(c, ID{raw: c, cookie: c, key: "s:" + c})
		assert.LessOrEqual(t, len(v.ids), 50)
		got, ok := v.get(c)
		assert.True(t, ok)
		assert.Equal(t, "s:"+c, got.key)
	}
	_, ok := v.get("unknown")
	assert.False(t, ok)
}
