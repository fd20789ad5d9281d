package outpost_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/outpost-go/outposts/authclient/devcore/devcoretest"
	"github.com/outpost-go/outposts/authclient/outpost"
)

func TestHelloArgsAndReadiness(t *testing.T) {
	t.Parallel()
	c := devcoretest.Start(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	cfg := cfgFor(t, c, "rac-outpost")
	cfg.Listen.Metrics = addr

	var active atomic.Int64
	var down atomic.Bool
	srv := &recorder[outpost.None]{}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- outpost.Run(ctx, outpost.Options[outpost.None]{
			Type: "rac", Version: "1.0.0", Config: cfg, Logger: zerolog.Nop(), HelloInterval: 50 * time.Millisecond,
		}, func(rt *outpost.Runtime) (outpost.Server[outpost.None], error) {
			rt.SetHelloArgs(func() map[string]any {
				// uuid is the runtime's: an extra arg cannot override it.
				return map[string]any{"active_connections": active.Load(), "uuid": "spoofed"}
			})
			rt.AddReadyCheck("guacd", func(context.Context) error {
				if down.Load() {
					return errors.New("connection refused")
				}
				return nil
			})
			return srv, nil
		})
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	require.Eventually(t, srv.isRunning, wait, tick)

	hello := func() map[string]any {
		inst := c.Server.Connected("rac-outpost")
		if len(inst) != 1 {
			return nil
		}
		return inst[0].Hello
	}
	active.Store(3)
	require.Eventually(t, func() bool { h := hello(); return h != nil && h["active_connections"] == float64(3) }, wait, tick)
	assert.NotEqual(t, "spoofed", hello()["uuid"])

	ready := func() (int, string) {
		resp, err := http.Get("http://" + addr + outpost.ReadyPath)
		if err != nil {
			return 0, ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	require.Eventually(t, func() bool { s, _ := ready(); return s == http.StatusNoContent }, wait, tick)
	down.Store(true)
	status, body := ready()
	assert.Equal(t, http.StatusServiceUnavailable, status)
	assert.Equal(t, "guacd: connection refused\n", body)
}
