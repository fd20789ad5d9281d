package upstream

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestConnectionListed: the listed names are those net/http's
// CanonicalHeaderKey makes of each token, however many there are.
func TestConnectionListed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		connection []string
		listed     []string
		notListed  []string
	}{
		{"none", nil, nil, []string{"Keep-Alive", "Close"}},
		{"keep-alive", []string{"keep-alive"}, []string{"Keep-Alive"}, []string{"Close"}},
		{"mixed case", []string{"KEEP-alive, Close"}, []string{"Keep-Alive", "Close"}, nil},
		{"upgrade", []string{"Upgrade"}, []string{"Upgrade"}, nil},
		{"other name", []string{"x-secret-hop"}, []string{"X-Secret-Hop"}, []string{"X-Secret"}},
		{"several lines", []string{"a", "b, c"}, []string{"A", "B", "C"}, nil},
		{"more than fit inline", []string{"a, b, c, d, e, f"}, []string{"A", "B", "C", "D", "E", "F"}, []string{"G"}},
		{"empty tokens", []string{" , ,keep-alive,"}, []string{"Keep-Alive"}, []string{""}},
		// Only ASCII case folds, as in CanonicalHeaderKey: a Kelvin sign
		// is not a K.
		{"unicode fold", []string{"\u212aeep-alive"}, []string{"\u212aeep-alive"}, []string{"Keep-Alive"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{"Connection": tt.connection}
			c := connectionListed(h)
			for _, k := range tt.listed {
				assert.True(t, c.has(k), "%q listed", k)
			}
			for _, k := range tt.notListed {
				assert.False(t, c.has(k), "%q not listed", k)
			}
		})
	}
}
