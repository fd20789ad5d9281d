package session_test

import (
	"strings"
	"testing"

	"github.com/outpost-go/outposts/authclient/cache"
	"github.com/outpost-go/outposts/proxy-outpost/session"
)

// BenchmarkLoad is a forward-auth check's session lookup as the outpost
// runs it: a namespaced store over a live Near in front of Redis, with a
// session the size of a real one (tokens included).
func BenchmarkLoad(b *testing.B) {
	client, shared, prefix := sharedRedis(b, "session-bench")
	near := liveNear(b, shared, client, prefix+"inv")
	ctx := b.Context()
	ns := cache.Namespace(near, "outpost", "x", "provider", "1", "session")
	s, err := session.New(ns, "cookie-secret", session.Options{Payloads: ns, Epochs: ns})
	if err != nil {
		b.Fatal(err)
	}
	id, _ := s.NewID()
	tok := strings.Repeat("t", 900)
	if err := s.Save(ctx, id, &session.Session{Claims: session.Claims{Sub: "u", PreferredUsername: "alice", Groups: []string{"a", "b"}},
		RawToken: tok, IDToken: tok, RefreshToken: "r"}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Load(ctx, id); err != nil {
			b.Fatal(err)
		}
	}
}
