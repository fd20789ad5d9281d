package backoff

import (
	"context"
	"errors"
	"math"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func fixed(f float64) func() float64 { return func() float64 { return f } }

func TestDelay(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		p       Policy
		attempt int
		want    time.Duration
	}{
		{"first, top of range", Policy{Base: time.Second, Max: time.Minute, Rand: fixed(0.999999999)}, 0, 999999999},
		{"first, half", Policy{Base: time.Second, Max: time.Minute, Rand: fixed(0.5)}, 0, 500 * time.Millisecond},
		{"third doubles twice", Policy{Base: time.Second, Max: time.Minute, Rand: fixed(0.5)}, 2, 2 * time.Second},
		{"capped", Policy{Base: time.Second, Max: 10 * time.Second, Rand: fixed(0.5)}, 10, 5 * time.Second},
		{"zero draw is not zero", Policy{Base: time.Second, Max: time.Minute, Rand: fixed(0)}, 0, minDelay},
		{"huge attempt", Policy{Base: time.Second, Max: 5 * time.Minute, Rand: fixed(0.5)}, math.MaxInt, 150 * time.Second},
		{"negative attempt as first", Policy{Base: time.Second, Max: time.Minute, Rand: fixed(0.5)}, -3, 500 * time.Millisecond},
		{"zero policy uses defaults", Policy{Rand: fixed(0.5)}, 0, 500 * time.Millisecond},
		{"base above max", Policy{Base: time.Hour, Max: time.Second, Rand: fixed(0.5)}, 0, 500 * time.Millisecond},
		{"NaN rand stays in bounds", Policy{Base: time.Second, Max: time.Minute, Rand: fixed(math.NaN())}, 0, 500 * time.Millisecond},
		{"rand above one stays in bounds", Policy{Base: time.Second, Max: time.Minute, Rand: fixed(7)}, 0, 500 * time.Millisecond},
		{"max huge base huge", Policy{Base: math.MaxInt64, Max: math.MaxInt64, Rand: fixed(0.999)}, 100, time.Duration(0.999 * float64(math.MaxInt64))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, tt.p.Delay(tt.attempt))
		})
	}
}

func TestDelayBoundsWithRealRandom(t *testing.T) {
	t.Parallel()
	policies := []Policy{Default(), {Base: time.Millisecond, Max: 50 * time.Millisecond}, {Base: time.Nanosecond, Max: time.Nanosecond}}
	for _, p := range policies {
		maxDelay := max(p.Max, minDelay)
		for attempt := range 200 {
			d := p.Delay(attempt)
			require.Positive(t, d)
			require.LessOrEqual(t, d, maxDelay)
		}
	}
}

func TestDefault(t *testing.T) {
	t.Parallel()
	p := Default()
	assert.Equal(t, time.Second, p.Base)
	assert.Equal(t, 5*time.Minute, p.Max)
}

func TestPermanent(t *testing.T) {
	t.Parallel()
	assert.NoError(t, Permanent(nil))
	base := errors.New("bad token")
	err := Permanent(base)
	assert.ErrorIs(t, err, base)
	assert.Equal(t, "bad token", err.Error())
}

var quick = Policy{Base: time.Millisecond, Max: 2 * time.Millisecond}

func TestRetry(t *testing.T) {
	t.Parallel()
	errFlaky := errors.New("flaky")
	errFatal := errors.New("fatal")
	tests := []struct {
		name      string
		fn        func(n int) error
		wantErr   error
		wantCalls int
	}{
		{"first try", func(int) error { return nil }, nil, 1},
		{"succeeds on third", func(n int) error {
			if n < 3 {
				return errFlaky
			}
			return nil
		}, nil, 3},
		{"permanent stops", func(n int) error {
			if n < 2 {
				return errFlaky
			}
			return Permanent(errFatal)
		}, errFatal, 2},
		{"wrapped permanent stops", func(int) error {
			return errors.Join(errors.New("ctx"), Permanent(errFatal))
		}, errFatal, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var calls int
			err := Retry(t.Context(), quick, func(context.Context) error {
				calls++
				return tt.fn(calls)
			})
			if tt.wantErr == nil {
				require.NoError(t, err)
			} else {
				require.Equal(t, tt.wantErr, err)
			}
			assert.Equal(t, tt.wantCalls, calls)
		})
	}
}

func TestRetryContextDone(t *testing.T) {
	t.Parallel()
	errFlaky := errors.New("core unreachable")
	ctx, cancel := context.WithCancel(t.Context())
	var calls atomic.Int32
	err := Retry(ctx, quick, func(context.Context) error {
		if calls.Add(1) == 3 {
			cancel()
		}
		return errFlaky
	})
	require.Error(t, err)
	assert.ErrorIs(t, err, context.Canceled)
	assert.ErrorIs(t, err, errFlaky)
	assert.EqualValues(t, 3, calls.Load())
}

func TestRetryAlreadyDone(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	called := false
	err := Retry(ctx, quick, func(context.Context) error { called = true; return nil })
	assert.ErrorIs(t, err, context.Canceled)
	assert.False(t, called)
}

func TestRetryDeadlineWithLongDelay(t *testing.T) {
	t.Parallel()
	// A wait far longer than the deadline must end with the context, not the timer.
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	err := Retry(ctx, Policy{Base: time.Hour, Max: time.Hour}, func(context.Context) error {
		return errors.New("down")
	})
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}
