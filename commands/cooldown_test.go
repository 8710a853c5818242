package commands

import (
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestCooldown(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := PerUser(2, 10*time.Second)
	c.now = func() time.Time { return now }
	step := func(d time.Duration) { now = now.Add(d) }

	take := func(key string, wantOK bool, wantWait time.Duration) {
		t.Helper()
		wait, ok := c.take(key)
		if ok != wantOK || wait != wantWait {
			t.Errorf("take(%s) = %v, %v; want %v, %v", key, wait, ok, wantWait, wantOK)
		}
	}
	take("a", true, 0)
	step(4 * time.Second)
	take("a", true, 0)
	take("a", false, 6*time.Second) // the first use frees a slot at 10s
	take("b", true, 0)              // another key has its own allowance
	step(6 * time.Second)
	take("a", true, 0)
	take("a", false, 4*time.Second)
	step(10 * time.Second)
	take("a", true, 0)
	take("a", true, 0)
}

// TestCooldownSweep uses a new key each time, 100 per window: the table must follow the keys
// of recent windows, not every key ever seen.
func TestCooldownSweep(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := PerChannel(1, time.Second)
	c.now = func() time.Time { return now }
	for i := range 10_000 {
		if i%100 == 0 {
			now = now.Add(time.Second)
		}
		c.take(strconv.Itoa(i))
		if len(c.uses) > 500 {
			t.Fatalf("%d keys kept after %d uses, 100 per window", len(c.uses), i+1)
		}
	}
}

func TestWaitText(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Millisecond:                         "100ms",
		4*time.Second + time.Millisecond:         "4.1s",
		4 * time.Second:                          "4s",
		10*time.Second + time.Millisecond:        "11s",
		59*time.Minute + 1:                       "1h0m0s",
		12*time.Minute + 500*time.Millisecond:    "13m0s",
		3*time.Minute + 200*time.Millisecond + 1: "3m1s",
	} {
		if got := waitText(d); got != want {
			t.Errorf("waitText(%v) = %s, want %s", d, got, want)
		}
	}
}

// TestCooldownConcurrent spends one allowance from many goroutines, as commands of different
// channels do for a per-user cooldown: exactly rate uses pass.
func TestCooldownConcurrent(t *testing.T) {
	c := PerUser(5, time.Hour)
	var passed atomic.Int32
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if _, ok := c.take("alice"); ok {
				passed.Add(1)
			}
		})
	}
	wg.Wait()
	if passed.Load() != 5 {
		t.Errorf("%d uses passed, want 5", passed.Load())
	}
}
