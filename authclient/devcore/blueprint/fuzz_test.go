package blueprint

import (
	"errors"
	"testing"
	"time"
)

// FuzzLoad feeds arbitrary bytes to the loader after the default flows:
// it must return a directory or an *Error, never panic or hang.
func FuzzLoad(f *testing.F) {
	f.Add(Demo().Data)
	for _, d := range Defaults() {
		f.Add(d.Data)
	}
	f.Add([]byte(modelsYAML))
	opts := Options{
		Getenv: func(k string) string {
			if k == "SET" {
				return "value"
			}
			return ""
		},
		Now: func() time.Time { return time.Unix(1700000000, 0) },
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := LoadFiles(opts, File{Name: "fuzz.yaml", Data: data})
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error is not an *Error: %v", err)
			}
			if e.File == "" || e.Msg == "" {
				t.Fatalf("error without file or message: %#v", e)
			}
			return
		}
		seen := map[int32]bool{}
		for _, u := range d.Users {
			if seen[u.PK] {
				t.Fatalf("duplicate user pk %d", u.PK)
			}
			seen[u.PK] = true
		}
	})
}
