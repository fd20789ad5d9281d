package coretest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"testing"

	api "goauthentik.io/api/v3"
)

// maxPages stops a walk over a core whose "next" never reaches 0.
const maxPages = 500

type envelope struct {
	Pagination api.Pagination    `json:"pagination"`
	Results    []json.RawMessage `json:"results"`
}

// listAll walks a list endpoint page by page (page=1,2,... following
// pagination.next like ak.Paginator) with page_size=pageSize.
// Each page is decoded with the generated list type L and each item with T,
// and the pagination block of each page is checked against Django's
// paginator arithmetic, which authentik's Pagination class reports.
func listAll[L any, T any](t *testing.T, cl *caller, path string, q url.Values, pageSize int) []T {
	t.Helper()
	var out []T
	count := -1
	for page := 1; ; page++ {
		if page > maxPages {
			t.Fatalf("GET %s: still a next page after %d pages", path, maxPages)
		}
		pq := url.Values{}
		for k, v := range q {
			pq[k] = v
		}
		pq.Set("page", strconv.Itoa(page))
		pq.Set("page_size", strconv.Itoa(pageSize))
		_, r := call[L](t, cl, http.MethodGet, path, pq, nil)
		var env envelope
		if err := json.Unmarshal(r.body, &env); err != nil {
			t.Fatalf("%s: decode page envelope: %v", r, err)
		}
		p := env.Pagination
		if count < 0 {
			count = int(p.Count)
		} else if int(p.Count) != count {
			t.Errorf("%s: pagination.count %v, but page 1 said %d", r, p.Count, count)
		}
		checkPage(t, r, p, page, pageSize, count, len(env.Results))
		for i, raw := range env.Results {
			var item T
			if err := json.Unmarshal(raw, &item); err != nil {
				t.Fatalf("%s: results[%d]: generated type %T rejects it: %v", r, i, item, err)
			}
			out = append(out, item)
		}
		if p.Next == 0 || len(env.Results) == 0 {
			break
		}
	}
	if len(out) != count {
		t.Errorf("GET %s: pages held %d items, pagination.count says %d", path, len(out), count)
	}
	return out
}

// checkPage compares one page's pagination block with what Django's
// Paginator (allow_empty_first_page, no orphans) reports for it.
func checkPage(t *testing.T, r *response, p api.Pagination, page, size, count, got int) {
	t.Helper()
	totalPages := 1
	if count > 0 {
		totalPages = (count + size - 1) / size
	}
	wantLen := 0
	if page <= totalPages {
		wantLen = min(size, count-(page-1)*size)
	}
	start, end := 0, 0
	if count > 0 {
		start = (page-1)*size + 1
		end = start + wantLen - 1
	}
	next, prev := 0, 0
	if page < totalPages {
		next = page + 1
	}
	if page > 1 {
		prev = page - 1
	}
	for _, f := range []struct {
		name string
		got  float32
		want int
	}{
		{"current", p.Current, page},
		{"total_pages", p.TotalPages, totalPages},
		{"start_index", p.StartIndex, start},
		{"end_index", p.EndIndex, end},
		{"next", p.Next, next},
		{"previous", p.Previous, prev},
	} {
		if int(f.got) != f.want || float32(int(f.got)) != f.got {
			t.Errorf("%s: pagination.%s = %v, want %d (page %d, page_size %d, count %d)", r, f.name, f.got, f.want, page, size, count)
		}
	}
	if got != wantLen {
		t.Errorf("%s: %d results on page %d, want %d (page_size %d, count %d)", r, got, page, wantLen, size, count)
	}
}

// testPaging checks page_size and page arithmetic of a list endpoint: every
// page size lists the same items in the same order, and a page past the
// end is a 404 as with DRF's page-number pagination.
func testPaging[L any, T any](t *testing.T, cl *caller, path string, q url.Values, key func(T) string) {
	t.Helper()
	all := listAll[L, T](t, cl, path, q, 100)
	keys := func(items []T) []string {
		out := make([]string, len(items))
		for i, it := range items {
			out[i] = key(it)
		}
		return out
	}
	want := keys(all)
	seen := map[string]bool{}
	for _, k := range want {
		if seen[k] {
			t.Errorf("GET %s: item %s listed twice", path, k)
		}
		seen[k] = true
	}
	for _, size := range []int{1, 2, 3} {
		got := keys(listAll[L, T](t, cl, path, q, size))
		if !equalStrings(got, want) {
			t.Errorf("GET %s with page_size=%d lists %v, with page_size=100 %v", path, size, got, want)
		}
	}
	// One page beyond the last.
	pq := url.Values{}
	for k, v := range q {
		pq[k] = v
	}
	pages := max(len(all), 1)
	pq.Set("page_size", "1")
	pq.Set("page", strconv.Itoa(pages+1))
	r := cl.do(t, http.MethodGet, path, pq, nil)
	if r.status != http.StatusNotFound {
		t.Errorf("%s: status %d for a page past the end, want 404 (DRF: Invalid page.); body: %s", r, r.status, clip(r.body))
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
