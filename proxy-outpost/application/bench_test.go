package application

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"goauthentik.io/api/v3"

	"github.com/outpost-go/outposts/proxy-outpost/session"
)

// BenchmarkForwardNginx is the hot path of forward auth: a valid session
// cookie, decided and answered with the identity headers.
func BenchmarkForwardNginx(b *testing.B) {
	a, err := New(testConfig(api.PROXYMODE_FORWARD_SINGLE, "https://app.example.com", "", ""), Deps{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	id, _ := a.sessions.NewID()
	sess := &session.Session{Claims: session.Claims{Sub: "u", PreferredUsername: "alice", Groups: []string{"a", "b"},
		Proxy: &session.ProxyClaims{UserAttributes: map[string]any{"k": "v"}}}, RawToken: "token"}
	if err := a.sessions.Save(ctx, id, sess); err != nil {
		b.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, "http://app.example.com"+PathNginx, nil)
	r.Header.Set("X-Original-URL", "https://app.example.com/x")
	r.AddCookie(&http.Cookie{Name: a.CookieName(), Value: id.Cookie()})
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		w := httptest.NewRecorder()
		a.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatal(w.Code)
		}
	}
}

// BenchmarkProxy is proxy mode with a valid session, to a loopback
// upstream: decision, identity headers and the reverse proxy.
func BenchmarkProxy(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	}))
	defer up.Close()
	cfg := testConfig(api.PROXYMODE_PROXY, "http://app.example.com", "", "")
	cfg.InternalHost = &up.URL
	a, err := New(cfg, Deps{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	id, _ := a.sessions.NewID()
	sess := &session.Session{Claims: session.Claims{Sub: "u", PreferredUsername: "alice", Groups: []string{"a", "b"}}, RawToken: "token"}
	if err := a.sessions.Save(ctx, id, sess); err != nil {
		b.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, "http://app.example.com/x", nil)
	r.Header.Set("User-Agent", "bench")
	r.Header.Set("Accept", "*/*")
	r.AddCookie(&http.Cookie{Name: a.CookieName(), Value: id.Cookie()})
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		w := httptest.NewRecorder()
		a.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatal(w.Code)
		}
	}
}
