package server

import (
	"log"
	"strings"

	"github.com/rs/zerolog"
)

// zerologWriter routes net/http's server errors (TLS handshake failures,
// bad requests) into the outpost log at debug level.
type zerologWriter struct{ log zerolog.Logger }

func (z zerologWriter) Write(p []byte) (int, error) {
	z.log.Debug().Msg(strings.TrimSpace(string(p)))
	return len(p), nil
}

func (z zerologWriter) std() *log.Logger { return log.New(z, "", 0) }
