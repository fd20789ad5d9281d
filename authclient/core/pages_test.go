package core

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/outpost-go/outposts/authclient/backoff"
	"github.com/outpost-go/outposts/authclient/config"
)

// fastPolicy keeps retries short but real: every wait goes through the
// backoff policy.
func fastPolicy() backoff.Policy {
	return backoff.Policy{Base: time.Millisecond, Max: 5 * time.Millisecond}
}

func TestPages(t *testing.T) {
	t.Parallel()
	errBoom := errors.New("boom")
	tests := []struct {
		name string
		// pages maps a page number to its items and next page.
		pages map[int32]struct {
			items []int
			next  int32
		}
		// failures is how often each page fails before it succeeds.
		failures  map[int32]int
		permanent bool
		want      []int
		wantErr   string
	}{
		{
			name: "one page",
			pages: map[int32]struct {
				items []int
				next  int32
			}{1: {items: []int{1, 2}}},
			want: []int{1, 2},
		},
		{
			name: "three pages",
			pages: map[int32]struct {
				items []int
				next  int32
			}{1: {[]int{1}, 2}, 2: {[]int{2}, 3}, 3: {[]int{3}, 0}},
			want: []int{1, 2, 3},
		},
		{
			name: "failing page is retried",
			pages: map[int32]struct {
				items []int
				next  int32
			}{1: {[]int{1}, 2}, 2: {[]int{2}, 0}},
			failures: map[int32]int{1: 2, 2: 3},
			want:     []int{1, 2},
		},
		{
			name: "permanent error stops",
			pages: map[int32]struct {
				items []int
				next  int32
			}{1: {[]int{1}, 0}},
			failures:  map[int32]int{1: 100},
			permanent: true,
			wantErr:   "boom",
		},
		{
			name: "pagination loop",
			pages: map[int32]struct {
				items []int
				next  int32
			}{1: {[]int{1}, 2}, 2: {[]int{2}, 1}},
			wantErr: "loops back",
		},
		{
			name: "empty list",
			pages: map[int32]struct {
				items []int
				next  int32
			}{1: {nil, 0}},
			want: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			calls := map[int32]int{}
			got, err := Pages(t.Context(), fastPolicy(), func(_ context.Context, page int32) ([]int, int32, error) {
				mu.Lock()
				defer mu.Unlock()
				calls[page]++
				if calls[page] <= tt.failures[page] {
					if tt.permanent {
						return nil, 0, backoff.Permanent(errBoom)
					}
					return nil, 0, errBoom
				}
				p, ok := tt.pages[page]
				if !ok {
					return nil, 0, fmt.Errorf("no page %d", page)
				}
				return p.items, p.next, nil
			})
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			for page, n := range tt.failures {
				assert.Equal(t, n+1, calls[page], "calls of page %d", page)
			}
		})
	}
}

// A page that never succeeds is retried (with waits) until ctx is done.
func TestPagesGivesUpWhenContextEnds(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var calls int
	errDown := errors.New("core down")
	_, err := Pages(ctx, fastPolicy(), func(context.Context, int32) ([]int, int32, error) {
		calls++
		if calls == 20 {
			cancel()
		}
		return nil, 0, errDown
	})
	require.Error(t, err)
	assert.ErrorIs(t, err, context.Canceled)
	assert.ErrorIs(t, err, errDown)
	assert.Equal(t, 20, calls)
}

// flakyCore serves /api/v3/outposts/ldap/ in two pages; each page answers
// 500 for its first failures requests.
type flakyCore struct {
	mu       sync.Mutex
	failures int
	status   int
	calls    map[string]int
}

func (f *flakyCore) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	page := r.URL.Query().Get("page")
	f.calls[page]++
	n := f.calls[page]
	f.mu.Unlock()
	if r.URL.Query().Get("page_size") != "100" {
		http.Error(w, `{"detail":"bad page size"}`, http.StatusBadRequest)
		return
	}
	if n <= f.failures {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(f.status)
		_, _ = w.Write([]byte(`{"detail":"try later"}`))
		return
	}
	next := 0
	if page == "1" {
		next = 2
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = fmt.Fprintf(w, `{"pagination":{"next":%d,"previous":0,"count":2,"current":%s,"total_pages":2,"start_index":1,"end_index":2},
		"results":[{"pk":%s,"name":"ldap-%s","bind_flow_slug":"b","unbind_flow_slug":null,"application_slug":"app"}],
		"autocomplete":{}}`, next, page, page, page)
}

func newTestClient(t *testing.T, rawURL string) *Client {
	t.Helper()
	u, err := url.Parse(rawURL + "/")
	require.NoError(t, err)
	c, err := New(config.Config{Host: u, Token: "tok"}, "test")
	require.NoError(t, err)
	c.Backoff = fastPolicy()
	return c
}

func TestProviderPagesRetriedOverHTTP(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		status    int
		failures  int
		wantErr   bool
		wantCalls int // calls of page 1
	}{
		{name: "server errors are retried", status: http.StatusInternalServerError, failures: 3, wantCalls: 4},
		{name: "bad gateway is retried", status: http.StatusBadGateway, failures: 1, wantCalls: 2},
		{name: "forbidden is not retried", status: http.StatusForbidden, failures: 100, wantErr: true, wantCalls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fc := &flakyCore{failures: tt.failures, status: tt.status, calls: map[string]int{}}
			srv := httptest.NewServer(fc)
			t.Cleanup(srv.Close)
			c := newTestClient(t, srv.URL)

			got, err := c.LDAPProviders(t.Context())
			fc.mu.Lock()
			defer fc.mu.Unlock()
			assert.Equal(t, tt.wantCalls, fc.calls["1"])
			if tt.wantErr {
				var se *StatusError
				require.ErrorAs(t, err, &se)
				assert.Equal(t, tt.status, se.StatusCode)
				return
			}
			require.NoError(t, err)
			require.Len(t, got, 2)
			assert.Equal(t, "ldap-1", got[0].Name)
			assert.Equal(t, "ldap-2", got[1].Name)
		})
	}
}
