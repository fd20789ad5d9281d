package outpost

import (
	"sync/atomic"

	"github.com/rs/zerolog"

	"github.com/outpost-go/outposts/authclient/logging"
)

// levelHook drops events below a level that can change while the outpost
// runs. zerolog levels are per logger value, so the log_level the core
// sends could otherwise not reach the loggers servers derived at start-up;
// every logger derived from the runtime's logger carries this hook.
type levelHook struct {
	level atomic.Int32
}

func newLevelHook(l zerolog.Level) *levelHook {
	h := &levelHook{}
	h.set(l)
	return h
}

func (h *levelHook) set(l zerolog.Level) { h.level.Store(int32(l)) }

func (h *levelHook) get() zerolog.Level { return zerolog.Level(h.level.Load()) }

func (h *levelHook) Run(e *zerolog.Event, l zerolog.Level, _ string) {
	// NoLevel events (Log()) are always written, as zerolog does.
	if l != zerolog.NoLevel && l < h.get() {
		e.Discard()
	}
}

// dynamicLogger returns a logger that logs what base logs at its current
// level, and whose level follows hook from then on.
func dynamicLogger(base zerolog.Logger) (zerolog.Logger, *levelHook) {
	h := newLevelHook(base.GetLevel())
	return base.Level(zerolog.TraceLevel).Hook(h), h
}

// parseLevel is logging.Level; named here so the runtime's use reads clearly.
func parseLevel(s string) zerolog.Level { return logging.Level(s) }
