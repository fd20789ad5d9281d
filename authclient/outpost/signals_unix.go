//go:build unix

package outpost

import (
	"os"
	"os/signal"
	"syscall"
)

// notifyRefresh delivers SIGUSR1, authentik's "refresh now" signal, until
// stop is called.
func notifyRefresh() (ch <-chan struct{}, stop func()) {
	sig := make(chan os.Signal, 1)
	out := make(chan struct{}, 1)
	done := make(chan struct{})
	signal.Notify(sig, syscall.SIGUSR1)
	go func() {
		for {
			select {
			case <-done:
				return
			case <-sig:
				select {
				case out <- struct{}{}:
				default: // a refresh is already pending
				}
			}
		}
	}()
	return out, func() {
		signal.Stop(sig)
		close(done)
	}
}
