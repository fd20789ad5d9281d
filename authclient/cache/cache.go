package cache

import (
	"context"
	"strings"
	"time"
)

// Cache stores byte values under string keys for a limited time.
//
// Get returns a copy of the value and whether it was found. Set stores a copy
// of value for ttl; a ttl <= 0 means the value is already expired, so Set
// removes the key instead of storing it (every entry has a lifetime, nothing
// lingers in a shared Redis forever). Delete of an absent key does nothing.
// Implementations are safe for concurrent use and never block longer than
// their configured timeout.
type Cache interface {
	Get(ctx context.Context, key string) ([]byte, bool)
	Set(ctx context.Context, key string, value []byte, ttl time.Duration)
	Delete(ctx context.Context, key string)
}

// Viewer is a Cache that can lend a stored value instead of copying it: a
// local cache in front of Redis answers a hot key many thousand times a
// second, and copying a session of a few kilobytes each time cost more
// than the lookup.
type Viewer interface {
	// View is Get, but the value may be the cache's own: the caller must
	// not change it (the cache replaces values, never changes them, so
	// reading it stays safe however long it is kept).
	View(ctx context.Context, key string) ([]byte, bool)
}

// View is c's View when c is a Viewer, and Get otherwise.
func View(ctx context.Context, c Cache, key string) ([]byte, bool) {
	if v, ok := c.(Viewer); ok {
		return v.View(ctx, key)
	}
	return c.Get(ctx, key)
}

// Namespace returns a view of c whose keys are prefixed with parts, for
// example Namespace(c, "outpost", outpostUUID, "provider", "3").
//
// Parts and keys are escaped (':' and '%'), so the stored key is
// unambiguous: different part lists, or different keys, never collide.
// Namespace(Namespace(c, a), b) is the same as Namespace(c, a, b). Keys used on
// c directly, without Namespace, are not escaped and are the caller's concern.
func Namespace(c Cache, parts ...string) Cache {
	if n, ok := c.(*namespaced); ok {
		c = n.base
		parts = append(append([]string(nil), n.parts...), parts...)
	} else {
		parts = append([]string(nil), parts...)
	}
	var b strings.Builder
	for _, p := range parts {
		b.WriteString(escapeKeyPart(p))
		b.WriteByte(':')
	}
	return &namespaced{base: c, parts: parts, prefix: b.String()}
}

type namespaced struct {
	base   Cache
	parts  []string
	prefix string
}

// key is the prefixed, escaped key, built in one allocation: it runs on
// every access (twice per proxy request), and keys like "s:<hash>" always
// need escaping.
func (n *namespaced) key(k string) string {
	var b strings.Builder
	b.Grow(len(n.prefix) + escapedLen(k))
	b.WriteString(n.prefix)
	writeEscaped(&b, k)
	return b.String()
}

func (n *namespaced) Get(ctx context.Context, key string) ([]byte, bool) {
	return n.base.Get(ctx, n.key(key))
}

func (n *namespaced) View(ctx context.Context, key string) ([]byte, bool) {
	return View(ctx, n.base, n.key(key))
}

func (n *namespaced) Set(ctx context.Context, key string, value []byte, ttl time.Duration) {
	n.base.Set(ctx, n.key(key), value, ttl)
}

func (n *namespaced) Delete(ctx context.Context, key string) {
	n.base.Delete(ctx, n.key(key))
}

// escapeKeyPart makes ':' appear in a namespaced key only as the separator.
// '%' is escaped too, otherwise "%3A" and ":" would encode the same.
func escapeKeyPart(s string) string {
	n := escapedLen(s)
	if n == len(s) {
		return s
	}
	var b strings.Builder
	b.Grow(n)
	writeEscaped(&b, s)
	return b.String()
}

// escapedLen is the length of s escaped.
func escapedLen(s string) int {
	return len(s) + 2*(strings.Count(s, "%")+strings.Count(s, ":"))
}

// writeEscaped writes s with '%' and ':' escaped. It looks for each with
// IndexByte: the keys are hashes with a short prefix, and a scan for a
// set of bytes (IndexAny) cost more than the rest of a lookup.
func writeEscaped(b *strings.Builder, s string) {
	for len(s) > 0 {
		i := strings.IndexByte(s, ':')
		if j := strings.IndexByte(s, '%'); j >= 0 && (i < 0 || j < i) {
			i = j
		}
		if i < 0 {
			b.WriteString(s)
			return
		}
		b.WriteString(s[:i])
		if s[i] == '%' {
			b.WriteString("%25")
		} else {
			b.WriteString("%3A")
		}
		s = s[i+1:]
	}
}
