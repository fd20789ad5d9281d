// Package backoff waits between retries: capped exponential backoff with
// full jitter, so that many outposts losing the core at the same moment do
// not come back in lockstep.
package backoff

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// Policy says how long to wait before each retry. The zero Policy is usable:
// Delay treats a Base or Max that is not positive as the Default values.
type Policy struct {
	// Base is the upper bound of the first wait; each attempt doubles it.
	Base time.Duration
	// Max caps every wait.
	Max time.Duration
	// Rand returns a number in [0, 1). nil means math/rand/v2. Tests set it
	// to get repeatable delays.
	Rand func() float64
}

// minDelay is the shortest wait Delay returns, so a retry loop can never
// spin even when the jitter draws zero.
const minDelay = time.Millisecond

// Default is the policy for the control channel and the config refresh:
// the first retry comes within a second and the wait grows to at most five
// minutes. Five minutes is the same ceiling authentik's outposts give
// retry-go (MaxDelay) when they reconnect the websocket; it keeps a large
// fleet from hammering a core that is restarting, and is short enough that
// an outpost recovers soon after the core does. Calls made while serving a
// user (a flow step, an access check) should use a much smaller Max.
func Default() Policy {
	return Policy{Base: time.Second, Max: 5 * time.Minute}
}

// Delay returns how long to wait before retry number attempt (0 for the
// first retry). The result is drawn uniformly from [minDelay, min(Max,
// Base*2^attempt)] ("full jitter"): it is never zero, never above Max, and
// does not overflow however large attempt is.
func (p Policy) Delay(attempt int) time.Duration {
	base, maxDelay := p.Base, p.Max
	def := Default()
	if base <= 0 {
		base = def.Base
	}
	if maxDelay <= 0 {
		maxDelay = def.Max
	}
	if maxDelay < minDelay {
		maxDelay = minDelay
	}
	if base > maxDelay {
		base = maxDelay
	}
	if attempt < 0 {
		attempt = 0
	}

	ceiling := base
	// Doubling stops as soon as the cap is reached, so no shift can overflow.
	for i := 0; i < attempt && ceiling < maxDelay; i++ {
		if ceiling > maxDelay/2 {
			ceiling = maxDelay
			break
		}
		ceiling *= 2
	}
	if ceiling > maxDelay {
		ceiling = maxDelay
	}

	r := p.Rand
	if r == nil {
		r = rand.Float64
	}
	f := r()
	// A bad Rand (NaN, negative, 1 or more) must not break the bounds.
	if !(f >= 0 && f < 1) {
		f = 0.5
	}
	d := time.Duration(f * float64(ceiling))
	if d < minDelay {
		d = minDelay
	}
	if d > maxDelay {
		d = maxDelay
	}
	return d
}

// permanentError marks an error that retrying cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent wraps err so that Retry stops at once and returns err. A nil err
// stays nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// Retry calls fn until it returns nil, returns an error wrapped by
// Permanent (Retry then returns that error unwrapped), or ctx is done. In
// the last case the error wraps both ctx.Err() and fn's last error, so
// errors.Is works for either. Between calls it waits p.Delay(n).
func Retry(ctx context.Context, p Policy, fn func(ctx context.Context) error) error {
	var last error
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return stopped(err, last, attempt)
		}
		err := fn(ctx)
		if err == nil {
			return nil
		}
		var perm *permanentError
		if errors.As(err, &perm) {
			return perm.err
		}
		last = err

		timer := time.NewTimer(p.Delay(attempt))
		select {
		case <-ctx.Done():
			timer.Stop()
			return stopped(ctx.Err(), last, attempt+1)
		case <-timer.C:
		}
	}
}

func stopped(ctxErr, last error, attempts int) error {
	if last == nil {
		return fmt.Errorf("retry: %w", ctxErr)
	}
	return fmt.Errorf("retry: gave up after %d attempts: %w (last error: %w)", attempts, ctxErr, last)
}
