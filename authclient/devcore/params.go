package devcore

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	api "goauthentik.io/api/v3"
)

const (
	defaultPageSize = 100 // authentik's REST_FRAMEWORK PAGE_SIZE
	maxPageSize     = 10000
)

// pageWindow is one page of a list: results[start:end] plus the envelope.
type pageWindow struct {
	start, end int
	pagination api.Pagination
}

// paginate applies page/page_size like authentik's Pagination class. ok is
// false for a page that does not exist (DRF answers 404 "Invalid page.").
func paginate(q url.Values, total int) (pageWindow, bool) {
	size := defaultPageSize
	if raw := q.Get("page_size"); raw != "" {
		// DRF ignores an unusable page_size and keeps the default.
		if n, err := strconv.Atoi(raw); err == nil && n > 0 {
			size = min(n, maxPageSize)
		}
	}
	pages := 1
	if total > 0 {
		pages = (total + size - 1) / size
	}
	page := 1
	if raw := q.Get("page"); raw != "" {
		if raw == "last" {
			page = pages
		} else {
			n, err := strconv.Atoi(raw)
			if err != nil || n < 1 || n > pages {
				return pageWindow{}, false
			}
			page = n
		}
	}
	start := (page - 1) * size
	end := min(start+size, total)
	pw := pageWindow{start: start, end: end}
	pw.pagination.Count = float32(total)
	pw.pagination.Current = float32(page)
	pw.pagination.TotalPages = float32(pages)
	if page < pages {
		pw.pagination.Next = float32(page + 1)
	}
	if page > 1 {
		pw.pagination.Previous = float32(page - 1)
	}
	if total > 0 {
		pw.pagination.StartIndex = float32(start + 1)
		pw.pagination.EndIndex = float32(end)
	}
	return pw, true
}

// fieldErrors collects DRF-style validation errors for query parameters.
type fieldErrors map[string][]string

func (fe fieldErrors) add(field, msg string) { fe[field] = append(fe[field], msg) }

// boolParam parses a django-filter BooleanFilter value. set is false when
// the parameter is absent.
func boolParam(q url.Values, name string, fe fieldErrors) (val, set bool) {
	raw, ok := q[name]
	if !ok || len(raw) == 0 || raw[0] == "" {
		return false, false
	}
	switch strings.ToLower(raw[0]) {
	case "true", "1", "yes", "on":
		return true, true
	case "false", "0", "no", "off":
		return false, true
	}
	fe.add(name, "Select a valid choice. "+raw[0]+" is not one of the available choices.")
	return false, false
}

// boolDefault is boolParam with a default for an absent parameter.
func boolDefault(q url.Values, name string, def bool, fe fieldErrors) bool {
	if v, set := boolParam(q, name, fe); set {
		return v
	}
	return def
}

// timeParam parses an ISO 8601 date-time filter value.
func timeParam(q url.Values, name string, fe fieldErrors) (time.Time, bool) {
	raw := q.Get(name)
	if raw == "" {
		return time.Time{}, false
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, raw); err == nil {
			return t, true
		}
	}
	fe.add(name, "Enter a valid date/time.")
	return time.Time{}, false
}

// intList parses a repeatable integer parameter.
func intList(q url.Values, name string, fe fieldErrors) []int32 {
	var out []int32
	for _, raw := range q[name] {
		n, err := strconv.ParseInt(raw, 10, 32)
		if err != nil {
			fe.add(name, fmt.Sprintf("Select a valid choice. %s is not one of the available choices.", raw))
			continue
		}
		out = append(out, int32(n))
	}
	return out
}

// orderKey splits an ordering value ("-username") into field and direction.
func orderKey(raw string) (field string, desc bool) {
	raw = strings.TrimSpace(raw)
	if strings.HasPrefix(raw, "-") {
		return raw[1:], true
	}
	return raw, false
}

// attributesFilter parses authentik's `attributes` filter: a JSON object
// whose key/value pairs must all be present in an object's attributes.
func attributesFilter(q url.Values, fe fieldErrors) map[string]any {
	raw := q.Get("attributes")
	if raw == "" {
		return nil
	}
	var m map[string]any
	if err := jsonUnmarshalStrict([]byte(raw), &m); err != nil || m == nil {
		fe.add("attributes", "filter: failed to parse JSON")
		return nil
	}
	return m
}

func attributesMatch(attrs, want map[string]any) bool {
	for k, w := range want {
		got, ok := attrs[k]
		if !ok || !jsonEqual(got, w) {
			return false
		}
	}
	return true
}

func strPtr(s string) *string { return &s }
func boolPtr(b bool) *bool    { return &b }

func jsonUnmarshalStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after JSON value")
	}
	return nil
}

// jsonEqual compares two decoded JSON-ish values by their encoding, so that
// an int from yaml equals the same number decoded from a query.
func jsonEqual(a, b any) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && bytes.Equal(ja, jb)
}
