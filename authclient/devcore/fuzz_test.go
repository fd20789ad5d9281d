package devcore

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	api "goauthentik.io/api/v3"

	"github.com/outpost-go/outposts/authclient/devcore/blueprint"
	"github.com/outpost-go/outposts/authclient/schemacheck"
)

// fuzzServer is a server over testdata/core.yaml, without a listener.
func fuzzServer(t testing.TB) *Server {
	t.Helper()
	data, err := os.ReadFile("testdata/core.yaml")
	require.NoError(t, err)
	dir, err := blueprint.LoadFiles(blueprint.Options{Getenv: func(string) string { return "" }},
		blueprint.File{Name: "core.yaml", Data: data})
	require.NoError(t, err)
	s, err := New(context.Background(), Config{Directory: dir, Logger: zerolog.Nop()})
	require.NoError(t, err)
	return s
}

func FuzzTimedelta(f *testing.F) {
	for _, seed := range []string{"minutes=5", "hours=1;minutes=2", "seconds=0", "days=1.5", "", "weeks=-1", "x=1", "hours="} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseTimedelta(s)
		if err == nil && d < 0 {
			t.Fatalf("negative duration %v for %q", d, s)
		}
	})
}

func FuzzSessionCookie(f *testing.F) {
	st := newSessionStore([]byte("0123456789abcdef0123456789abcdef"), time.Minute, 10, time.Now)
	sess := &session{id: "abc"}
	valid, err := st.cookieValue(sess, true)
	require.NoError(f, err)
	for _, seed := range []string{valid, "", "a.b.c", "eyJhbGciOiJub25lIn0.eyJzaWQiOiJ4In0.", strings.Repeat("x", 5000)} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, value string) {
		sid, err := st.parseCookie(value)
		if err == nil && sid == "" {
			t.Fatalf("accepted a cookie without sid: %q", value)
		}
		if err == nil && sid != "abc" {
			// Only cookies signed with our key can name a session.
			t.Fatalf("accepted a forged cookie %q", value)
		}
	})
}

// FuzzListQuery sends arbitrary query strings to the list endpoints: the
// answer is a decodable page, a 400 with field errors, or a 404.
func FuzzListQuery(f *testing.F) {
	s := fuzzServer(f)
	token, ok := s.OutpostToken("ldap-outpost")
	require.True(f, ok)
	h := s.Handler()
	seeds := []struct {
		path  uint8
		query string
	}{
		{0, "username=alice&include_groups=false"},
		{0, "groups_by_name=staff&groups_by_name=admins&page=1&page_size=2"},
		{0, "groups_by_pk=not-a-uuid&is_active=maybe"},
		{0, "last_updated__gt=2020-01-01T00:00:00Z&ordering=-email&search=ex"},
		{0, "attributes=%7B%22team%22%3A%22blue%22%7D&type=internal"},
		{1, "members_by_pk=1&members_by_pk=x&include_users=false"},
		{1, "include_children=true&include_parents=true&page=last"},
		{2, "page=0&page_size=-1&ordering=name"},
		{3, "page_size=1&page=2"},
		{4, "search=%00%ff"},
	}
	for _, sd := range seeds {
		f.Add(sd.path, sd.query)
	}
	path, err := schemacheck.Find()
	require.NoError(f, err)
	sch, err := schemacheck.Load(path)
	require.NoError(f, err)
	paths := []string{"core/users/", "core/groups/", "outposts/ldap/", "outposts/instances/", "outposts/radius/"}
	f.Fuzz(func(t *testing.T, which uint8, query string) {
		path := "/api/v3/" + paths[int(which)%len(paths)]
		req := httptest.NewRequest(http.MethodGet, "http://core.test"+path, nil)
		req.URL.RawQuery = query
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK:
			var err error
			switch int(which) % len(paths) {
			case 0:
				err = json.Unmarshal(rec.Body.Bytes(), new(api.PaginatedUserList))
			case 1:
				err = json.Unmarshal(rec.Body.Bytes(), new(api.PaginatedGroupList))
			case 2:
				err = json.Unmarshal(rec.Body.Bytes(), new(api.PaginatedLDAPOutpostConfigList))
			case 3:
				err = json.Unmarshal(rec.Body.Bytes(), new(api.PaginatedOutpostList))
			case 4:
				err = json.Unmarshal(rec.Body.Bytes(), new(api.PaginatedRadiusOutpostConfigList))
			}
			if err != nil {
				t.Fatalf("%s?%s: undecodable page: %v\n%s", path, query, err, rec.Body.String())
			}
			if err := sch.ValidateResponse(http.MethodGet, path, rec.Code, rec.Body.Bytes()); err != nil {
				t.Fatalf("%s?%s: %v", path, query, err)
			}
		case http.StatusBadRequest, http.StatusNotFound:
			var m map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
				t.Fatalf("%s?%s: error body is not a JSON object: %s", path, query, rec.Body.String())
			}
		default:
			t.Fatalf("%s?%s: status %d: %s", path, query, rec.Code, rec.Body.String())
		}
	})
}

// FuzzExecutor posts arbitrary bodies, cookies and headers to the flow
// executor: it answers with JSON and never fails with 500.
func FuzzExecutor(f *testing.F) {
	s := fuzzServer(f)
	token, _ := s.OutpostToken("ldap-outpost")
	h := s.Handler()
	f.Add(`{"component":"ak-stage-identification","uid_field":"alice"}`, "", "10.0.0.1", true)
	f.Add(`{"component":"ak-stage-password","password":"x"}`, "garbage", "not-an-ip", true)
	f.Add(`{"selected_challenge":{"device_class":"totp"},"code":123}`, "a.b.c", "", false)
	f.Add(`[1,2,3]`, "", "::1", true)
	f.Add(`{"uid_field":{"nested":true},"password":["a"]}`, "", "", true)
	f.Fuzz(func(t *testing.T, body, cookie, remoteIP string, withToken bool) {
		req := httptest.NewRequest(http.MethodPost, "http://core.test/api/v3/flows/executor/default-authentication-flow/?query=x", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if withToken {
			req.Header.Set("X-authentik-outpost-token", token)
		}
		if remoteIP != "" && !strings.ContainsAny(remoteIP, "\r\n\x00") {
			req.Header.Set("X-authentik-remote-ip", remoteIP)
		}
		if cookie != "" && !strings.ContainsAny(cookie, "\r\n\x00;") {
			req.Header.Set("Cookie", sessionCookie+"="+cookie)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("status %d for body %q: %s", rec.Code, body, rec.Body.String())
		}
		var m map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
			t.Fatalf("non-JSON answer %q", rec.Body.String())
		}
		if rec.Code == http.StatusOK {
			var ch api.ChallengeTypes
			if err := json.Unmarshal(rec.Body.Bytes(), &ch); err != nil || ch.GetActualInstance() == nil {
				t.Fatalf("undecodable challenge %s: %v", rec.Body.String(), err)
			}
		}
	})
}
