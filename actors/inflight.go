package actors

import (
	"context"
	"fmt"
	"sync/atomic"
)

// InFlight bounds the messages that have been delivered but not yet processed, across every
// owner. The connection reader acquires a slot before it delivers an event and the owner releases
// it when the event is done, so when owners fall behind the reader slows down, instead of queues
// growing without bound. Only the reader blocks on it; owners never do, so it cannot deadlock.
type InFlight struct {
	slots chan struct{}
	inUse atomic.Int64 // mirrors len(slots); atomic so that seeing 0 orders after every Release
}

// NewInFlight returns a budget of limit messages.
func NewInFlight(limit int) *InFlight {
	if limit < 1 {
		limit = 1
	}
	return &InFlight{slots: make(chan struct{}, limit)}
}

// Acquire takes a slot, waiting while the budget is exhausted, until ctx ends.
func (f *InFlight) Acquire(ctx context.Context) error {
	select {
	case f.slots <- struct{}{}:
		f.inUse.Add(1)
		return nil
	default:
	}
	select {
	case f.slots <- struct{}{}:
		f.inUse.Add(1)
		return nil
	case <-ctx.Done():
		return fmt.Errorf("actors: waiting for in-flight budget: %w", ctx.Err())
	}
}

// Release returns a slot.
func (f *InFlight) Release() {
	f.inUse.Add(-1)
	<-f.slots
}

// Pressure is the fraction of the budget in use, from 0 to 1.
func (f *InFlight) Pressure() float64 {
	return float64(f.inUse.Load()) / float64(cap(f.slots))
}

// InUse is the number of slots taken.
func (f *InFlight) InUse() int { return int(f.inUse.Load()) }
