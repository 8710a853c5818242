package rest

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// stepClock is a clock the test sets; nothing in this test waits on it.
type stepClock struct{ now time.Time }

func (c *stepClock) Now() time.Time                       { return c.now }
func (c *stepClock) After(time.Duration) <-chan time.Time { return make(chan time.Time) }

func (l *LocalLimiter) sizes() (int, int, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.byID), len(l.routes), len(l.shared)
}

func TestSweepForgetsIdleBuckets(t *testing.T) {
	clk := &stepClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := NewLimiter(WithLimiterClock(clk))
	ctx := context.Background()
	route := func(i int) Route { return Route{Method: "GET", Path: "/channels/{channel}", Major: fmt.Sprint("C", i)} }
	for i := range 1000 {
		p, err := l.Wait(ctx, route(i))
		if err != nil {
			t.Fatal(err)
		}
		p.Done(Observation{Status: 200, Bucket: fmt.Sprint("b", i), HasLimits: true, Limit: 15, Remaining: 14, ResetAfter: Window})
	}
	if ids, routes, shared := l.sizes(); ids != 1000 || routes != 1000 || shared != 1000 {
		t.Fatalf("sizes %d %d %d", ids, routes, shared)
	}
	busy, err := l.Wait(ctx, route(0)) // in flight: kept
	if err != nil {
		t.Fatal(err)
	}
	clk.now = clk.now.Add(Window + 2*time.Minute)
	for range 100 { // reach the 1024th Wait: a sweep
		p, err := l.Wait(ctx, Route{Method: "GET", Path: "/users/{user}"})
		if err != nil {
			t.Fatal(err)
		}
		p.Done(Observation{Status: 200, Bucket: "users", HasLimits: true, Limit: 20, Remaining: 19, ResetAfter: Window})
	}
	ids, routes, shared := l.sizes()
	if ids != 2 || routes != 2 || shared != 2 {
		t.Errorf("after the sweep: %d ids, %d routes, %d shared, want the busy bucket and the new one", ids, routes, shared)
	}
	busy.Done(Observation{})
}
