//go:build !unix

package outpost

// notifyRefresh: there is no SIGUSR1 outside Unix; refreshes come from the
// interval and the core.
func notifyRefresh() (ch <-chan struct{}, stop func()) {
	return nil, func() {}
}
