package rest_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/ermine-rt/ermine/internal/testlog"
	"github.com/ermine-rt/ermine/rest"
	"github.com/ermine-rt/ermine/stoattest"
)

// ---------------------------------------------------------------------------------------------
// Clocks

// manualClock moves only when the test advances it. Waiters registered with After fire once the
// clock has reached their deadline.
type manualClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []manualWaiter
	added   chan struct{} // receives (without blocking) on every After
}

type manualWaiter struct {
	at time.Time
	ch chan time.Time
}

func newManualClock() *manualClock {
	return &manualClock{now: time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC), added: make(chan struct{}, 1)}
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, manualWaiter{c.now.Add(d), ch})
	select {
	case c.added <- struct{}{}:
	default:
	}
	return ch
}

// Advance moves the clock forward and fires the waiters that are due.
func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if !w.at.After(c.now) {
			w.ch <- c.now
		} else {
			kept = append(kept, w)
		}
	}
	c.waiters = kept
}

// pending returns how long each pending waiter still has to wait, shortest first.
func (c *manualClock) pending() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ds []time.Duration
	for _, w := range c.waiters {
		ds = append(ds, w.at.Sub(c.now))
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds
}

// waitPending blocks until at least n waiters are pending and returns their remaining waits.
func (c *manualClock) waitPending(t *testing.T, n int) []time.Duration {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		if p := c.pending(); len(p) >= n {
			return p
		}
		select {
		case <-c.added:
		case <-deadline:
			t.Fatalf("timed out waiting for %d clock waiters (have %d)", n, len(c.pending()))
		}
	}
}

// waitPendingFor blocks until a waiter with exactly d left is pending (waiters abandoned by a
// select stay registered, so counting them is not enough).
func (c *manualClock) waitPendingFor(t *testing.T, d time.Duration) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		for _, p := range c.pending() {
			if p == d {
				return
			}
		}
		select {
		case <-c.added:
		case <-deadline:
			t.Fatalf("timed out waiting for a clock waiter of %v (have %v)", d, c.pending())
		}
	}
}

// autoClock never blocks: After moves the clock forward by d at once. It records every wait.
type autoClock struct {
	mu    sync.Mutex
	now   time.Time
	slept []time.Duration
}

func newAutoClock() *autoClock { return &autoClock{now: time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC)} }

func (c *autoClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *autoClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.slept = append(c.slept, d)
	if d > 0 {
		c.now = c.now.Add(d)
	}
	ch := make(chan time.Time, 1)
	ch <- c.now
	return ch
}

func (c *autoClock) waits() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.slept...)
}

// scaledClock runs factor times faster than real time, for both the client and the fake
// server: a 10 s rate limit window lasts 10 s / factor.
type scaledClock struct {
	start  time.Time
	base   time.Time
	factor time.Duration
}

func newScaledClock(factor int) *scaledClock {
	return &scaledClock{start: time.Now(), base: time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC), factor: time.Duration(factor)}
}

func (c *scaledClock) Now() time.Time { return c.base.Add(time.Since(c.start) * c.factor) }

func (c *scaledClock) After(d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	time.AfterFunc(d/c.factor, func() { ch <- c.Now() })
	return ch
}

// ---------------------------------------------------------------------------------------------
// Logs, fixtures, contexts

type syncBuffer = testlog.Buffer

func debugLogger(w *syncBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// fixture returns a captured Stoat payload from testdata/stoatpy.
func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "stoatpy", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// fakeServer starts a stoattest server and a client of it.
func fakeServer(t *testing.T, srvOpts []stoattest.Option, opts ...rest.Option) (*stoattest.Server, *rest.Client) {
	t.Helper()
	srv := stoattest.NewServer(t, srvOpts...)
	c := rest.New(srv.Token(), append([]rest.Option{rest.WithBaseURL(srv.URL)}, opts...)...)
	return srv, c
}
