package dispatch

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/ermine-rt/ermine/proto/stoatpb"
)

// ErrWaitTimeout is returned by WaitFor when its timeout passes before enough events matched.
var ErrWaitTimeout = errors.New("dispatch: wait_for timed out")

// waiter is a temporary subscription.
type waiter struct {
	types   []stoatpb.EventType
	check   func(stoatpb.Event) bool
	count   int
	consume bool
	manual  bool

	// Guarded by Registry.mu.
	got     []stoatpb.Event
	removed bool
	done    chan struct{}
}

type waitConfig struct {
	timeout time.Duration
	count   int
	consume bool
	manual  bool
}

// WaitOption configures WaitFor.
type WaitOption func(*waitConfig)

// WithTimeout gives up after d (the wait is removed at once; stoat.py leaks timed-out waits).
func WithTimeout(d time.Duration) WaitOption { return func(c *waitConfig) { c.timeout = d } }

// WithCount waits for n matching events (default 1); see WaitForN.
func WithCount(n int) WaitOption { return func(c *waitConfig) { c.count = n } }

// WithoutConsume lets the matched event reach the regular handlers too. By default a matched
// event is consumed, as in stoat.py (stop_dispatching_on_success).
func WithoutConsume() WaitOption { return func(c *waitConfig) { c.consume = false } }

// WithManualProcess skips the cache update of the matched event (stoat.py's manual_process).
func WithManualProcess() WaitOption { return func(c *waitConfig) { c.manual = true } }

// WaitFor waits for the next event of type E (a class or a category, as for Handle) for which
// check (nil: any) returns true, until ctx ends or the timeout passes. check runs on the owner of
// the event and must be quick; a check that panics counts as failed for that event (logged, and
// counted in Stats.CheckPanics), and the event goes on through the pipeline.
//
// Called with a handler's *Context, WaitFor first registers the subscription and then detaches
// the handler, so the owner goes on and the awaited event (even one of the same entity) can
// arrive: there is no deadlock. r may be nil when ctx is a *Context.
func WaitFor[E stoatpb.Event](ctx context.Context, r *Registry, check func(E) bool, opts ...WaitOption) (E, error) {
	var zero E
	evs, err := waitFor(ctx, r, check, append(opts, WithCount(1)))
	if err != nil {
		return zero, err
	}
	return evs[0], nil
}

// WaitForN waits for n events, as WaitFor.
func WaitForN[E stoatpb.Event](ctx context.Context, r *Registry, n int, check func(E) bool, opts ...WaitOption) ([]E, error) {
	return waitFor(ctx, r, check, append(opts, WithCount(n)))
}

func waitFor[E stoatpb.Event](ctx context.Context, r *Registry, check func(E) bool, opts []WaitOption) ([]E, error) {
	p, err := Expect(ctx, r, check, opts...)
	if err != nil {
		return nil, err
	}
	return p.Wait()
}

// Pending is a temporary subscription registered by Expect; Wait receives its events.
type Pending[E stoatpb.Event] struct {
	ctx      context.Context
	r        *Registry
	w        *waiter
	deadline time.Time // zero: no timeout
}

// Expect registers a temporary subscription for events of type E now, and returns it without
// waiting: call Wait to receive the events. Register before the action that provokes the awaited
// event (before sending a prompt, say), so that a quick answer cannot arrive before the
// subscription exists. The timeout counts from Expect. Options and check are as for WaitFor.
func Expect[E stoatpb.Event](ctx context.Context, r *Registry, check func(E) bool, opts ...WaitOption) (*Pending[E], error) {
	cfg := waitConfig{count: 1, consume: true}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.count < 1 {
		return nil, fmt.Errorf("dispatch: wait_for count must be at least 1, got %d", cfg.count)
	}
	if hc, inHandler := handlerContext(ctx); r == nil && inHandler {
		r = hc.registry()
	}
	if r == nil {
		return nil, errors.New("dispatch: WaitFor needs a Registry outside a handler")
	}
	types, _ := typesOf[E]()
	p := &Pending[E]{ctx: ctx, r: r, w: &waiter{
		types:   types,
		count:   cfg.count,
		consume: cfg.consume,
		manual:  cfg.manual,
		done:    make(chan struct{}),
		check: func(ev stoatpb.Event) bool {
			return check == nil || check(ev.(E))
		},
	}}
	if cfg.timeout > 0 {
		p.deadline = time.Now().Add(cfg.timeout)
	}
	r.addWaiter(p.w)
	return p, nil
}

// Wait blocks until the subscription has its events, its timeout passes or its context ends; the
// subscription is removed in every case. Called with a handler's context, it detaches the handler
// first, so the awaited event can arrive even from the handler's own entity.
func (p *Pending[E]) Wait() ([]E, error) {
	if hc, inHandler := handlerContext(p.ctx); inHandler {
		hc.Detach()
	}
	var timeout <-chan time.Time
	if !p.deadline.IsZero() {
		t := time.NewTimer(time.Until(p.deadline))
		defer t.Stop()
		timeout = t.C
	}
	var cause error
	select {
	case <-p.w.done:
	case <-timeout:
		cause = ErrWaitTimeout
	case <-p.ctx.Done():
		cause = p.ctx.Err()
	}
	r, w := p.r, p.w
	r.mu.Lock()
	r.removeWaiterLocked(w)
	got := w.got
	r.mu.Unlock()
	if len(got) < w.count {
		return nil, fmt.Errorf("dispatch: waiting for %d %s (got %d): %w", w.count, typeName[E](), len(got), cause)
	}
	out := make([]E, len(got))
	for i, ev := range got {
		out[i] = ev.(E)
	}
	return out, nil
}

// Cancel removes the subscription without waiting.
func (p *Pending[E]) Cancel() {
	p.r.mu.Lock()
	p.r.removeWaiterLocked(p.w)
	p.r.mu.Unlock()
}

func (r *Registry) addWaiter(w *waiter) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, t := range w.types {
		r.waiters[t] = append(r.waiters[t], w)
		r.waiterCount[t].Add(1)
	}
}

func (r *Registry) removeWaiterLocked(w *waiter) {
	if w.removed {
		return
	}
	w.removed = true
	for _, t := range w.types {
		list := r.waiters[t]
		for i, x := range list {
			if x == w {
				r.waiters[t] = append(list[:i:i], list[i+1:]...)
				r.waiterCount[t].Add(-1)
				break
			}
		}
	}
}

// offer gives ev to the temporary subscriptions, in registration order; the first whose check
// passes takes it. It reports whether one did, and that subscription's consume and manual flags.
// A check that panics is a failed check: panicked is told, and the next subscription is tried.
func (r *Registry) offer(ev stoatpb.Event, panicked func(ev stoatpb.Event, v any, stack []byte)) (matched, consume, manual bool) {
	t := ev.EventType()
	if r.waiterCount[t].Load() == 0 {
		return false, false, false
	}
	r.mu.Lock()
	candidates := append([]*waiter(nil), r.waiters[t]...)
	r.mu.Unlock()
	for _, w := range candidates {
		if !safeCheck(w, ev, panicked) {
			continue
		}
		r.mu.Lock()
		if w.removed {
			r.mu.Unlock()
			continue
		}
		w.got = append(w.got, ev)
		if len(w.got) >= w.count {
			r.removeWaiterLocked(w)
			close(w.done)
		}
		r.mu.Unlock()
		return true, w.consume, w.manual
	}
	return false, false, false
}

func safeCheck(w *waiter, ev stoatpb.Event, panicked func(stoatpb.Event, any, []byte)) (ok bool) {
	defer func() {
		if v := recover(); v != nil {
			ok = false
			if panicked != nil {
				panicked(ev, v, debug.Stack())
			}
		}
	}()
	return w.check(ev)
}

func typeName[E stoatpb.Event]() string {
	var zero E
	if any(zero) != nil {
		return zero.EventType().String()
	}
	return "events"
}
