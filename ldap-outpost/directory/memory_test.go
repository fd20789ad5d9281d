//go:build !race

package directory

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestMemory100k checks the memory target: 100k users and 5k groups in one
// snapshot stay well under 400 MB of heap.
func TestMemory100k(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 100k-user directory")
	}
	users := make(map[int32]*User, 100000)
	groups := make([]Group, 5000)
	for i := range groups {
		groups[i] = Group{PK: fmt.Sprintf("00000000-0000-0000-0000-%012d", i), NumPK: int32(i), Name: fmt.Sprintf("group-%d", i)}
	}
	for i := int32(1); i <= 100000; i++ {
		users[i] = &User{
			PK: i, Username: fmt.Sprintf("user%06d", i), Name: fmt.Sprintf("User Number %d", i), Email: fmt.Sprintf("user%06d@example.com", i),
			UID: fmt.Sprintf("%064x", i), Active: true, Groups: []string{groups[int(i)%5000].PK, groups[(int(i)+1)%5000].PK},
			PasswordChangeDate: time.Now(), LastUpdated: time.Now(),
		}
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	s := build(t, users, groups)
	runtime.GC()
	runtime.ReadMemStats(&after)
	mb := float64(after.HeapAlloc) / (1 << 20)
	t.Logf("100k users, 5k groups: %d entries, heap %.0f MB (inputs included)", s.Len(), mb)
	assert.Less(t, mb, 400.0)
	runtime.KeepAlive(s)
}
