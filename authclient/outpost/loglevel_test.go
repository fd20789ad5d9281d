package outpost

import (
	"bytes"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"goauthentik.io/api/v3"
)

func TestApplyLogLevel(t *testing.T) {
	t.Parallel()
	embedded := "goauthentik.io/outposts/embedded"
	empty := ""
	tests := []struct {
		name    string
		managed *string
		config  map[string]any
		want    zerolog.Level
	}{
		{name: "unmanaged follows the core", config: map[string]any{"log_level": "debug"}, want: zerolog.DebugLevel},
		{name: "empty managed follows the core", managed: &empty, config: map[string]any{"log_level": "warning"}, want: zerolog.WarnLevel},
		{name: "managed keeps its level", managed: &embedded, config: map[string]any{"log_level": "debug"}, want: zerolog.InfoLevel},
		{name: "no log_level", config: map[string]any{}, want: zerolog.InfoLevel},
		{name: "log_level not a string", config: map[string]any{"log_level": 3}, want: zerolog.InfoLevel},
		{name: "unknown level means debug", config: map[string]any{"log_level": "chatty"}, want: zerolog.DebugLevel},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			root, hook := dynamicLogger(zerolog.New(&out).Level(zerolog.InfoLevel))
			// A logger derived before the change follows it too.
			child := root.With().Str("logger", "child").Logger()
			r := &runner[None]{log: root, level: hook}
			o := api.Outpost{Config: tt.config}
			o.Managed.Set(tt.managed)
			r.applyLogLevel(&o)
			assert.Equal(t, tt.want, hook.get())

			out.Reset()
			child.Debug().Msg("d")
			child.Info().Msg("i")
			child.Warn().Msg("w")
			lines := strings.Count(out.String(), "\n")
			want := map[zerolog.Level]int{zerolog.DebugLevel: 3, zerolog.InfoLevel: 2, zerolog.WarnLevel: 1}[tt.want]
			assert.Equal(t, want, lines, out.String())
		})
	}
}
