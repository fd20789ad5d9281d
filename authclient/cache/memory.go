package cache

import (
	"container/list"
	"context"
	"sync"
	"time"
)

// DefaultMaxEntries bounds a Memory built with a non-positive size, and the
// in-process cache that New builds.
const DefaultMaxEntries = 10000

// Memory is an in-process Cache: a least-recently-used list of at most
// maxEntries entries, each with its own expiry. Expired entries are dropped
// when read and are the first to go when the list is full.
type Memory struct {
	mu    sync.Mutex
	max   int
	items map[string]*list.Element
	lru   list.List // front = most recently used; values are *memEntry
}

type memEntry struct {
	key     string
	value   []byte
	expires time.Time // from time.Now, so comparisons use the monotonic clock
}

// NewMemory returns an empty Memory holding at most maxEntries entries
// (DefaultMaxEntries when maxEntries < 1).
func NewMemory(maxEntries int) *Memory {
	if maxEntries < 1 {
		maxEntries = DefaultMaxEntries
	}
	return &Memory{max: maxEntries, items: make(map[string]*list.Element)}
}

// Get implements Cache. The context is unused: memory never blocks.
func (m *Memory) Get(_ context.Context, key string) ([]byte, bool) {
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	el, ok := m.items[key]
	if !ok {
		return nil, false
	}
	e := el.Value.(*memEntry)
	if !now.Before(e.expires) {
		m.remove(el)
		return nil, false
	}
	m.lru.MoveToFront(el)
	// A copy, so a caller changing the slice cannot change the cache, as
	// with Redis.
	return append([]byte{}, e.value...), true
}

// Set implements Cache.
func (m *Memory) Set(_ context.Context, key string, value []byte, ttl time.Duration) {
	if ttl <= 0 {
		m.Delete(context.Background(), key)
		return
	}
	e := &memEntry{key: key, value: append([]byte{}, value...), expires: time.Now().Add(ttl)}
	m.mu.Lock()
	defer m.mu.Unlock()
	if el, ok := m.items[key]; ok {
		el.Value = e
		m.lru.MoveToFront(el)
		return
	}
	for m.lru.Len() >= m.max {
		m.remove(m.lru.Back())
	}
	m.items[key] = m.lru.PushFront(e)
}

// Delete implements Cache.
func (m *Memory) Delete(_ context.Context, key string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if el, ok := m.items[key]; ok {
		m.remove(el)
	}
}

// Len returns the number of entries held, expired ones included until they
// are noticed.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lru.Len()
}

// Clear removes every entry.
func (m *Memory) Clear() {
	m.mu.Lock()
	defer m.mu.Unlock()
	clear(m.items)
	m.lru.Init()
}

func (m *Memory) remove(el *list.Element) {
	m.lru.Remove(el)
	delete(m.items, el.Value.(*memEntry).key)
}
