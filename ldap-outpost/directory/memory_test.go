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
// snapshot stay well under 400 MB of heap. The per-user bound is about
// twice what the snapshot needs (about 0.8 KB per user with its inputs, on
// 2026-11-27): materialising every user's attributes again (about 2.2 KB)
// fails it.
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
	perUser := float64(after.HeapAlloc) / 100000
	t.Logf("%.0f bytes per user (user and virtual-group entries, inputs and indexes)", perUser)
	assert.Less(t, mb, 400.0)
	assert.Less(t, perUser, 1600.0)
	runtime.KeepAlive(s)
}
