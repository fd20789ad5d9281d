package devcore

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/outpost-go/outposts/authclient/devcore/model"
)

func TestParseTimedelta(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"minutes=5", 5 * time.Minute, true},
		{"hours=1;minutes=30", 90 * time.Minute, true},
		{"days=1;seconds=1", 24*time.Hour + time.Second, true},
		{"weeks=1", 7 * 24 * time.Hour, true},
		{"seconds=0.5", 500 * time.Millisecond, true},
		{"", 0, false},
		{"minutes", 0, false},
		{"fortnights=1", 0, false},
		{"minutes=-1", 0, false},
	}
	for _, tt := range tests {
		got, err := parseTimedelta(tt.in)
		if !tt.ok {
			assert.Error(t, err, tt.in)
			continue
		}
		require.NoError(t, err, tt.in)
		assert.Equal(t, tt.want, got, tt.in)
	}
}

func TestPaginate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		query                              string
		total                              int
		ok                                 bool
		start, end                         int
		next, prev, pages, startIdx, endIx float32
	}{
		{"", 0, true, 0, 0, 0, 0, 1, 0, 0},
		{"", 5, true, 0, 5, 0, 0, 1, 1, 5},
		{"page_size=2", 5, true, 0, 2, 2, 0, 3, 1, 2},
		{"page_size=2&page=3", 5, true, 4, 5, 0, 2, 3, 5, 5},
		{"page_size=2&page=last", 5, true, 4, 5, 0, 2, 3, 5, 5},
		{"page_size=x&page=1", 5, true, 0, 5, 0, 0, 1, 1, 5},
		{"page=2", 5, false, 0, 0, 0, 0, 0, 0, 0},
		{"page=0", 5, false, 0, 0, 0, 0, 0, 0, 0},
		{"page=abc", 5, false, 0, 0, 0, 0, 0, 0, 0},
	}
	for _, tt := range tests {
		q, err := url.ParseQuery(tt.query)
		require.NoError(t, err)
		pw, ok := paginate(q, tt.total)
		require.Equal(t, tt.ok, ok, tt.query)
		if !ok {
			continue
		}
		assert.Equal(t, tt.start, pw.start, tt.query)
		assert.Equal(t, tt.end, pw.end, tt.query)
		assert.Equal(t, tt.next, pw.pagination.Next, tt.query)
		assert.Equal(t, tt.prev, pw.pagination.Previous, tt.query)
		assert.Equal(t, tt.pages, pw.pagination.TotalPages, tt.query)
		assert.Equal(t, tt.startIdx, pw.pagination.StartIndex, tt.query)
		assert.Equal(t, tt.endIx, pw.pagination.EndIndex, tt.query)
	}
}

func TestSessionStoreBounds(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	st := newSessionStore([]byte("k"), time.Minute, 3, clock)
	var ids []string
	for range 5 {
		sess, err := st.create()
		require.NoError(t, err)
		ids = append(ids, sess.id)
	}
	// Capped: the two oldest were evicted.
	assert.Equal(t, 3, st.len())
	cookieFor := func(id string) *http.Request {
		v, err := st.cookieValue(&session{id: id}, false)
		require.NoError(t, err)
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.AddCookie(&http.Cookie{Name: sessionCookie, Value: v})
		return r
	}
	assert.Nil(t, st.lookup(cookieFor(ids[0])))
	assert.NotNil(t, st.lookup(cookieFor(ids[4])))

	// Idle sessions expire.
	now = now.Add(2 * time.Minute)
	assert.Nil(t, st.lookup(cookieFor(ids[4])))
	st.expire()
	assert.Equal(t, 0, st.len())

	// A cookie signed with another key names no session.
	other := newSessionStore([]byte("other"), time.Minute, 3, clock)
	sess, err := other.create()
	require.NoError(t, err)
	v, err := other.cookieValue(sess, true)
	require.NoError(t, err)
	_, err = st.parseCookie(v)
	assert.Error(t, err)
}

func TestRecoverer(t *testing.T) {
	t.Parallel()
	s := &Server{log: zerolog.Nop()}
	h := s.recoverer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	assert.Equal(t, http.StatusInternalServerError, rec.Code)
	assert.JSONEq(t, `{"detail":"Internal server error."}`, rec.Body.String())
}

func TestGeneratedTokensPersist(t *testing.T) {
	t.Parallel()
	state := t.TempDir()
	dir := &model.Directory{Outposts: []*model.Outpost{{PK: "p1", Name: "gen", Type: "ldap"}}}
	start := func() string {
		s, err := New(context.Background(), Config{Directory: dir, StateDir: state, Logger: zerolog.Nop()})
		require.NoError(t, err)
		tok, ok := s.OutpostToken("gen")
		require.True(t, ok)
		return tok
	}
	first := start()
	assert.Len(t, first, 64)
	assert.Equal(t, first, start())
	info, err := os.Stat(filepath.Join(state, "tokens.json"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())
}

func TestBadTokenFile(t *testing.T) {
	t.Parallel()
	state := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(state, "tokens.json"), []byte("{nope"), 0o600))
	_, err := New(context.Background(), Config{Directory: &model.Directory{}, StateDir: state, Logger: zerolog.Nop()})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "tokens.json")
}
