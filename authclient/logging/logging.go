// Package logging builds zerolog loggers that write what authentik's
// outposts write: one JSON object per line with the message under "event",
// the time under "timestamp", "level", and the component under "logger"
// (e.g. "authentik.outpost.ldap"), so existing log pipelines and dashboards
// keep working.
//
// zerolog's field names (MessageFieldName, TimestampFieldName, ...) are
// package globals. This package never changes them: other code in the same
// process may rely on the defaults, and tests run in parallel. Instead:
//
//   - the timestamp is added by a hook under "timestamp", and
//   - a small writer renames the message key to "event" and the level
//     "warn" to "warning" (logrus' spelling) on each line. zerolog always
//     writes the level first and the message last, so this is one prefix
//     check and one bytes.LastIndex per line, with no JSON decoding.
//
// Never log a password, token, secret, cookie or TOTP code; when a value
// might carry one, pass it through Redact or RedactURL first.
package logging

import (
	"bytes"
	"io"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Level parses an authentik log level: trace, debug, info, warning (or
// warn), error, in any case. An empty string means info (the default);
// anything else means debug, as in authentik's configureLogger.
func Level(level string) zerolog.Level {
	switch strings.ToLower(strings.TrimSpace(level)) {
	case "trace":
		return zerolog.TraceLevel
	case "debug":
		return zerolog.DebugLevel
	case "info", "":
		return zerolog.InfoLevel
	case "warning", "warn":
		return zerolog.WarnLevel
	case "error":
		return zerolog.ErrorLevel
	default:
		return zerolog.DebugLevel
	}
}

// New returns a logger writing to w at level. With debug it writes
// zerolog's human-readable console format (colours only when w is a
// terminal), the counterpart of authentik's text formatter; otherwise JSON
// lines with authentik's keys.
func New(w io.Writer, level string, debug bool) zerolog.Logger {
	if debug {
		cw := zerolog.ConsoleWriter{Out: w, TimeFormat: "15:04:05.000", NoColor: !isTerminal(w)}
		return zerolog.New(cw).Level(Level(level)).With().Timestamp().Logger()
	}
	return zerolog.New(&authentikWriter{w: w}).Level(Level(level)).Hook(timestampHook{})
}

// Named returns l with the component name under "logger", e.g.
// Named(l, "authentik.outpost.ldap"). Name a logger once: zerolog does not
// replace fields, so naming twice writes the key twice.
func Named(l zerolog.Logger, name string) zerolog.Logger {
	return l.With().Str("logger", name).Logger()
}

// SetLevel changes l's level in place (for the log_level the core sends).
// Loggers derived from l before the call keep their old level.
func SetLevel(l *zerolog.Logger, level string) {
	*l = l.Level(Level(level))
}

// Redacted replaces secret values in logs.
const Redacted = "********"

// Redact returns Redacted for a non-empty secret, "" for an empty one, so a
// log can show whether a value was given without showing it.
func Redact(secret string) string {
	if secret == "" {
		return ""
	}
	return Redacted
}

// RedactURL returns rawURL with any password in its user info and the
// values of its query parameters replaced; a value that does not parse is
// replaced whole.
func RedactURL(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return Redact(rawURL)
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), Redacted)
		}
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			q[k] = []string{Redacted}
		}
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// timestampHook adds the time under authentik's key without touching
// zerolog.TimestampFieldName.
type timestampHook struct{}

func (timestampHook) Run(e *zerolog.Event, _ zerolog.Level, _ string) {
	e.Str("timestamp", time.Now().UTC().Format(time.RFC3339Nano))
}

const (
	messageKey  = `"message":`
	eventKey    = `"event":`
	warnLevel   = `{"level":"warn"`
	warningText = `{"level":"warning"`
)

// authentikWriter rewrites each zerolog JSON line to authentik's keys. It
// does one Write per line on the underlying writer, so lines from
// concurrent loggers never interleave more than zerolog's own would.
type authentikWriter struct {
	w    io.Writer
	pool sync.Pool
}

func (a *authentikWriter) Write(p []byte) (int, error) {
	bp, _ := a.pool.Get().(*[]byte)
	if bp == nil {
		b := make([]byte, 0, 512)
		bp = &b
	}
	out := (*bp)[:0]

	rest := p
	if bytes.HasPrefix(rest, []byte(warnLevel)) {
		out = append(out, warningText...)
		rest = rest[len(warnLevel):]
	}
	// The message is the last key zerolog writes; anything after it is the
	// message string, in which a quote is always escaped, so the last
	// match is the key.
	if i := bytes.LastIndex(rest, []byte(messageKey)); i >= 0 {
		out = append(out, rest[:i]...)
		out = append(out, eventKey...)
		out = append(out, rest[i+len(messageKey):]...)
	} else {
		out = append(out, rest...)
	}

	_, err := a.w.Write(out)
	if cap(out) <= 64<<10 {
		*bp = out
		a.pool.Put(bp)
	}
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
