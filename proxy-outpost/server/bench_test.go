package server

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"goauthentik.io/api/v3"

	"github.com/outpost-go/outposts/proxy-outpost/session"
)

// BenchmarkForwardOverHTTP is forward auth over real loopback HTTP with a
// valid session: the outpost's share of an nginx auth_request.
func BenchmarkForwardOverHTTP(b *testing.B) {
	s, err := New(testRuntime(), Settings{TrustedProxies: DefaultTrustedProxies})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Refresh(context.Background(), []api.ProxyOutpostConfig{provider(1, "app", api.PROXYMODE_FORWARD_SINGLE, "http://app.example.com", "")}); err != nil {
		b.Fatal(err)
	}
	a := s.Lookup("app.example.com")
	id, _ := a.Sessions().NewID()
	if err := a.Sessions().Save(context.Background(), id, &session.Session{Claims: session.Claims{Sub: "u", PreferredUsername: "alice", Groups: []string{"g"}}}); err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	c := &http.Client{Transport: tr}
	b.ReportAllocs()
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/outpost.goauthentik.io/auth/nginx", nil)
			req.Host = "app.example.com"
			req.Header.Set("X-Original-URL", "http://app.example.com/x")
			req.AddCookie(&http.Cookie{Name: a.CookieName(), Value: id.Cookie()})
			resp, err := c.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}
