package rest

import (
	"context"
	"time"
)

// Clock is the time source of a Client and of a LocalLimiter. Tests replace it to make rate
// limit windows and retry back-off pass without real waiting; the default is the system clock.
type Clock interface {
	Now() time.Time
	// After returns a channel that receives once d has passed, like time.After.
	After(d time.Duration) <-chan time.Time
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// After returns time.After(d).
func (SystemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// sleep waits d on clock c, or returns ctx's error as soon as ctx is done.
func sleep(ctx context.Context, c Clock, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-c.After(d):
		return nil
	}
}
