package logging

import (
	"bytes"
	"encoding/json"
	"testing"
)

func FuzzAuthentikWriter(f *testing.F) {
	for _, s := range []string{
		`{"level":"warn","message":"x"}` + "\n",
		`{"level":"info","a":{"message":1},"message":"\"message\":"}` + "\n",
		`{"level":"warn"`, `"message":`, "", "not json",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		var out bytes.Buffer
		w := &authentikWriter{w: &out}
		n, err := w.Write(line)
		if err != nil || n != len(line) {
			t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(line))
		}
		if json.Valid(line) && !json.Valid(out.Bytes()) {
			t.Fatalf("valid JSON %q became invalid %q", line, out.Bytes())
		}
	})
}
