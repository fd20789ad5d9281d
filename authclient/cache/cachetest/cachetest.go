// Package cachetest is the conformance suite every cache.Cache runs. A
// behaviour that only one implementation has is a bug: add the case here, not
// in one implementation's tests.
package cachetest

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/outpost-go/outposts/authclient/cache"
)

// long is a TTL no test outlives.
const long = time.Hour

// Run runs the suite. newCache must return an empty cache of its own on
// every call (for Redis: a fresh key prefix) and clean it up with t.Cleanup.
// Subtests run in parallel.
func Run(t *testing.T, newCache func(t *testing.T) cache.Cache) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, c cache.Cache)
	}{
		{"MissingKey", testMissingKey},
		{"SetGet", testSetGet},
		{"Overwrite", testOverwrite},
		{"Delete", testDelete},
		{"DeleteMissing", testDeleteMissing},
		{"TTLExpiry", testTTLExpiry},
		{"OverwriteResetsTTL", testOverwriteResetsTTL},
		{"NonPositiveTTL", testNonPositiveTTL},
		{"EmptyAndNilValues", testEmptyAndNilValues},
		{"BinaryValues", testBinaryValues},
		{"LargeValue", testLargeValue},
		{"KeysAreExact", testKeysAreExact},
		{"NoAliasing", testNoAliasing},
		{"CancelledContext", testCancelledContext},
		{"Concurrency", testConcurrency},
		{"NamespaceIsolation", testNamespaceIsolation},
		{"NamespaceNesting", testNamespaceNesting},
		{"CounterCounts", testCounterCounts},
		{"CounterWindow", testCounterWindow},
		{"CounterDeleteResets", testCounterDeleteResets},
		{"CounterNonPositiveTTL", testCounterNonPositiveTTL},
		{"CounterConcurrency", testCounterConcurrency},
		{"CounterNamespaces", testCounterNamespaces},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, newCache(t))
		})
	}
}

func testMissingKey(t *testing.T, c cache.Cache) {
	v, ok := c.Get(t.Context(), "absent")
	assert.False(t, ok)
	assert.Nil(t, v)
}

func testSetGet(t *testing.T, c cache.Cache) {
	ctx := t.Context()
	c.Set(ctx, "k", []byte("value"), long)
	mustGet(t, c, "k", []byte("value"))
}

func testOverwrite(t *testing.T, c cache.Cache) {
	ctx := t.Context()
	c.Set(ctx, "k", []byte("first, and longer"), long)
	c.Set(ctx, "k", []byte("second"), long)
	mustGet(t, c, "k", []byte("second"))
}

func testDelete(t *testing.T, c cache.Cache) {
	ctx := t.Context()
	c.Set(ctx, "k", []byte("v"), long)
	c.Set(ctx, "other", []byte("stays"), long)
	c.Delete(ctx, "k")
	mustMiss(t, c, "k")
	mustGet(t, c, "other", []byte("stays"))
	c.Set(ctx, "k", []byte("again"), long)
	mustGet(t, c, "k", []byte("again"))
}

func testDeleteMissing(t *testing.T, c cache.Cache) {
	c.Delete(t.Context(), "never-set")
	mustMiss(t, c, "never-set")
}

func testTTLExpiry(t *testing.T, c cache.Cache) {
	ctx := t.Context()
	c.Set(ctx, "short", []byte("v"), 150*time.Millisecond)
	c.Set(ctx, "long", []byte("v"), long)
	require.Eventually(t, func() bool {
		_, ok := c.Get(ctx, "short")
		return !ok
	}, 10*time.Second, 20*time.Millisecond, "an entry outlived its TTL")
	mustGet(t, c, "long", []byte("v"))
}

func testOverwriteResetsTTL(t *testing.T, c cache.Cache) {
	ctx := t.Context()
	c.Set(ctx, "k", []byte("short-lived"), 150*time.Millisecond)
	c.Set(ctx, "k", []byte("long-lived"), long)
	// Past the first TTL, the overwrite's TTL is the one that counts.
	c.Set(ctx, "probe", []byte("v"), 150*time.Millisecond)
	require.Eventually(t, func() bool {
		_, ok := c.Get(ctx, "probe")
		return !ok
	}, 10*time.Second, 20*time.Millisecond)
	mustGet(t, c, "k", []byte("long-lived"))
}

func testNonPositiveTTL(t *testing.T, c cache.Cache) {
	ctx := t.Context()
	for _, ttl := range []time.Duration{0, -time.Second} {
		t.Run(ttl.String(), func(t *testing.T) {
			key := "k" + ttl.String()
			c.Set(ctx, key, []byte("v"), ttl)
			mustMiss(t, c, key)
			c.Set(ctx, key, []byte("v"), long)
			c.Set(ctx, key, []byte("expired already"), ttl)
			mustMiss(t, c, key)
		})
	}
}

func testEmptyAndNilValues(t *testing.T, c cache.Cache) {
	ctx := t.Context()
	c.Set(ctx, "empty", []byte{}, long)
	c.Set(ctx, "nil", nil, long)
	for _, k := range []string{"empty", "nil"} {
		v, ok := c.Get(ctx, k)
		assert.True(t, ok, "an empty value is a hit: %s", k)
		assert.Empty(t, v, k)
	}
}

func testBinaryValues(t *testing.T, c cache.Cache) {
	ctx := t.Context()
	all := make([]byte, 512)
	for i := range all {
		all[i] = byte(i)
	}
	values := map[string][]byte{
		"every-byte":   all,
		"nul":          {0},
		"version-like": {1, 2, 255, 0},
		"high":         {0xff, 0xfe, 0x80},
		"utf8":         []byte("ünïcødé ✓ 🔑"),
		"crlf":         []byte("a\r\nb\r\n"),
	}
	for k, v := range values {
		c.Set(ctx, k, v, long)
	}
	for k, v := range values {
		mustGet(t, c, k, v)
	}
}

func testLargeValue(t *testing.T, c cache.Cache) {
	ctx := t.Context()
	big := bytes.Repeat([]byte("0123456789abcdef\x00\xff"), (2<<20)/18)
	c.Set(ctx, "big", big, long)
	mustGet(t, c, "big", big)
}

func testKeysAreExact(t *testing.T, c cache.Cache) {
	ctx := t.Context()
	keys := []string{"", "a", "A", "a ", " a", "a:b", "a%3Ab", "a/b", "ключ", "\x00", "a\nb", strings.Repeat("k", 1000)}
	for i, k := range keys {
		c.Set(ctx, k, []byte{byte(i)}, long)
	}
	for i, k := range keys {
		mustGet(t, c, k, []byte{byte(i)})
	}
}

func testNoAliasing(t *testing.T, c cache.Cache) {
	ctx := t.Context()
	in := []byte("original")
	c.Set(ctx, "k", in, long)
	in[0] = 'X'
	mustGet(t, c, "k", []byte("original"))
	out, ok := c.Get(ctx, "k")
	require.True(t, ok)
	out[0] = 'Y'
	mustGet(t, c, "k", []byte("original"))
}

// testCancelledContext only asks that every call returns: whether a read
// with a dead context is served is up to the implementation.
func testCancelledContext(t *testing.T, c cache.Cache) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	c.Set(ctx, "k", []byte("v"), long)
	c.Get(ctx, "k")
	c.Delete(ctx, "k")
	c.Get(ctx, "absent")
}

func testConcurrency(t *testing.T, c cache.Cache) {
	ctx := t.Context()
	const workers, rounds = 8, 50
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			own := fmt.Sprintf("own-%d", w)
			for i := range rounds {
				val := fmt.Appendf(nil, "%d-%d", w, i)
				c.Set(ctx, own, val, long)
				if got, ok := c.Get(ctx, own); assert.True(t, ok) {
					assert.Equal(t, val, got)
				}
				// A shared key sees only whole values written by someone.
				c.Set(ctx, "shared", val, long)
				if got, ok := c.Get(ctx, "shared"); ok {
					assert.Regexp(t, `^\d+-\d+$`, string(got))
				}
				if i%10 == 0 {
					c.Delete(ctx, "shared")
				}
			}
		})
	}
	wg.Wait()
	for w := range workers {
		mustGet(t, c, fmt.Sprintf("own-%d", w), fmt.Appendf(nil, "%d-%d", w, rounds-1))
	}
}

func testNamespaceIsolation(t *testing.T, c cache.Cache) {
	ctx := t.Context()
	// Each entry writes key under its namespace; all of them must be
	// distinct in the underlying cache.
	entries := []struct {
		parts []string
		key   string
	}{
		{[]string{"a"}, "x"},
		{[]string{"b"}, "x"},
		{[]string{"a", "b"}, "x"},
		{[]string{"a:b"}, "x"},
		{[]string{"a"}, "b:x"},
		{[]string{"a%3Ab"}, "x"},
		{[]string{"a", "b:x"}, ""},
		{[]string{"a", "b", "x"}, ""},
		{[]string{"outpost", "u1", "provider", "1"}, "s"},
		{[]string{"outpost", "u1", "provider", "12"}, "s"},
		{[]string{"outpost", "u1", "provider1"}, "s"},
		{[]string{""}, "x"},
		{[]string{"", ""}, "x"},
	}
	views := make([]cache.Cache, len(entries))
	for i, e := range entries {
		views[i] = cache.Namespace(c, e.parts...)
		views[i].Set(ctx, e.key, []byte{byte(i)}, long)
	}
	for i, e := range entries {
		mustGet(t, views[i], e.key, []byte{byte(i)})
	}
	// The underlying cache's own "x" is not touched by any namespace.
	mustMiss(t, c, "x")

	views[1].Delete(ctx, "x")
	mustMiss(t, views[1], "x")
	for i, e := range entries {
		if i != 1 {
			mustGet(t, views[i], e.key, []byte{byte(i)})
		}
	}
}

func testNamespaceNesting(t *testing.T, c cache.Cache) {
	ctx := t.Context()
	nested := cache.Namespace(cache.Namespace(c, "outpost", "u1"), "provider", "3")
	flat := cache.Namespace(c, "outpost", "u1", "provider", "3")
	nested.Set(ctx, "k", []byte("v"), long)
	mustGet(t, flat, "k", []byte("v"))
	mustMiss(t, cache.Namespace(c, "outpost", "u1"), "k")
}

func mustGet(t *testing.T, c cache.Cache, key string, want []byte) {
	t.Helper()
	got, ok := c.Get(t.Context(), key)
	require.True(t, ok, "key %q: want a hit", key)
	if !bytes.Equal(want, got) {
		t.Fatalf("key %q: value differs: want %d bytes, got %d bytes", key, len(want), len(got))
	}
}

func mustMiss(t *testing.T, c cache.Cache, key string) {
	t.Helper()
	got, ok := c.Get(t.Context(), key)
	require.False(t, ok, "key %q: want a miss, got %d bytes", key, len(got))
}

func counter(t *testing.T, c cache.Cache) cache.Counter {
	t.Helper()
	cn, ok := c.(cache.Counter)
	require.True(t, ok, "%T does not implement cache.Counter", c)
	return cn
}

func mustIncr(t *testing.T, c cache.Counter, key string, ttl time.Duration, want int64) {
	t.Helper()
	n, ok := c.Incr(t.Context(), key, ttl)
	require.True(t, ok, "Incr(%q) not counted", key)
	assert.Equal(t, want, n, "Incr(%q)", key)
}

func testCounterCounts(t *testing.T, c cache.Cache) {
	cn := counter(t, c)
	for i := range int64(5) {
		mustIncr(t, cn, "n", long, i+1)
	}
	mustIncr(t, cn, "other", long, 1)
}

// The window starts at the first increment: later ones do not extend it.
func testCounterWindow(t *testing.T, c cache.Cache) {
	cn := counter(t, c)
	mustIncr(t, cn, "n", 300*time.Millisecond, 1)
	mustIncr(t, cn, "n", long, 2)
	require.Eventually(t, func() bool {
		n, ok := cn.Incr(t.Context(), "n", 300*time.Millisecond)
		return ok && n == 1
	}, 10*time.Second, 50*time.Millisecond, "a counter outlived its first TTL")
}

func testCounterDeleteResets(t *testing.T, c cache.Cache) {
	cn := counter(t, c)
	mustIncr(t, cn, "n", long, 1)
	mustIncr(t, cn, "n", long, 2)
	c.Delete(t.Context(), "n")
	mustIncr(t, cn, "n", long, 1)
}

func testCounterNonPositiveTTL(t *testing.T, c cache.Cache) {
	cn := counter(t, c)
	_, ok := cn.Incr(t.Context(), "n", 0)
	assert.False(t, ok)
	_, ok = cn.Incr(t.Context(), "n", -time.Second)
	assert.False(t, ok)
	mustIncr(t, cn, "n", long, 1)
}

func testCounterConcurrency(t *testing.T, c cache.Cache) {
	cn := counter(t, c)
	const workers, rounds = 8, 25
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range rounds {
				_, ok := cn.Incr(t.Context(), "shared", long)
				assert.True(t, ok)
			}
		})
	}
	wg.Wait()
	mustIncr(t, cn, "shared", long, workers*rounds+1)
}

func testCounterNamespaces(t *testing.T, c cache.Cache) {
	a := counter(t, cache.Namespace(c, "a"))
	b := counter(t, cache.Namespace(c, "b"))
	mustIncr(t, a, "n", long, 1)
	mustIncr(t, a, "n", long, 2)
	mustIncr(t, b, "n", long, 1)
	mustIncr(t, counter(t, c), "n", long, 1)
	n, ok := cache.Incr(t.Context(), cache.Namespace(cache.Namespace(c, "a"), "x"), "n", long)
	assert.True(t, ok)
	assert.Equal(t, int64(1), n)
}
