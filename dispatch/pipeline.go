package dispatch

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ermine-rt/ermine/actors"
	"github.com/ermine-rt/ermine/internal/ratelog"
	"github.com/ermine-rt/ermine/proto/stoatpb"
)

// Hooks are the owner's parts of the pipeline.
type Hooks interface {
	// BeforeDispatch fills the event's before/after and cached objects from the owner's state.
	BeforeDispatch(ev stoatpb.Event)
	// Process applies the event to the owner's state (skipped when the event was cancelled).
	Process(ev stoatpb.Event)
}

// Stats counts what the pipelines of a runtime did. Safe for concurrent use.
type Stats struct {
	Dispatched     atomic.Uint64 // events that went through a pipeline
	Cancelled      atomic.Uint64 // events whose cache update a handler cancelled
	HandlerErrors  atomic.Uint64 // handlers that returned an error
	HandlerPanics  atomic.Uint64 // handlers that panicked
	AutoDetached   atomic.Uint64 // handlers detached because they blocked past DetachAfter
	WaitersMatched atomic.Uint64 // events taken by a temporary subscription
	CheckPanics    atomic.Uint64 // WaitFor checks that panicked (counted as failed checks)
	// Detached is the number of handlers running detached now (a gauge).
	Detached atomic.Int64
	// DetachedWaits counts the events whose owner had to wait for one of its detached handlers
	// to return (MaxDetached reached) before it could run their handlers.
	DetachedWaits atomic.Uint64
	// Concurrent counts the events whose handlers ran concurrently with the owner's next events
	// because its backlog passed ConcurrentAbove.
	Concurrent atomic.Uint64
}

// DefaultMaxDetached is the default of Pipeline.MaxDetached.
const DefaultMaxDetached = 256

// DefaultDetachAfter is the default of Pipeline.DetachAfter.
const DefaultDetachAfter = 100 * time.Millisecond

// Pipeline is shared by the owners of a runtime; each owner runs events through its own Runner.
type Pipeline struct {
	Registry *Registry
	Logger   *slog.Logger
	Stats    *Stats
	// Base is the runtime's context: handlers' Contexts derive from it. When it ends, owners stop
	// waiting for their detached handlers (see MaxDetached).
	Base context.Context
	// DetachAfter is how long an owner waits for a handler that neither returns nor detaches
	// before detaching it (default 100ms).
	DetachAfter time.Duration
	// MaxDetached bounds the handlers of one owner that run detached at once (default 256). It
	// is checked before each event's handlers start: when it is reached, the owner waits for one
	// of them to return (counted in Stats.DetachedWaits and logged), so handlers that block
	// forever cost a bounded number of goroutines and the stall is visible instead of a silent
	// leak. (An event whose several handlers all detach can pass it by their number.)
	MaxDetached int
	// ConcurrentAbove, when positive, lets an owner whose backlog (events delivered to it and
	// not yet processed) exceeds it run each event's handlers concurrently with its next events:
	// the owner starts them and goes on with the cache update at once, so that a hot channel
	// keeps up instead of holding the in-flight budget. Cache updates stay in wire order; such
	// handlers are detached from the start (they cannot cancel the event) and count against
	// MaxDetached, which bounds the concurrency. 0 (the default) never does this.
	ConcurrentAbove int
	// Values is made available to handlers through Context.Value (e.g. the REST client).
	Values map[any]any

	faults  ratelog.Limiter // handler errors and panics, check panics, detach warnings
	running atomic.Int64    // eventRun.work calls under way
	quiet   chan struct{}   // signalled (without blocking) when running drops to 0; see quietCh
	owners  ratelog.Limiter // warnings keyed by owner, apart so they cannot crowd out handlers
	once    sync.Once       // makes quiet
}

// start runs r.work on a goroutine of its own. (A pool of parked goroutines was measured too:
// waking a parked goroutine costs more than starting one, which runs at once on the owner's P
// while the owner waits; the mailboxes' pool in package actors is where reuse pays.)
func (p *Pipeline) start(r *eventRun) {
	p.running.Add(1)
	go p.work(r)
}

func (p *Pipeline) work(r *eventRun) {
	r.work()
	if p.running.Add(-1) == 0 {
		select {
		case p.quietCh() <- struct{}{}:
		default:
		}
	}
}

func (p *Pipeline) quietCh() chan struct{} {
	p.once.Do(func() { p.quiet = make(chan struct{}, 1) })
	return p.quiet
}

func (p *Pipeline) detachAfter() time.Duration {
	if p.DetachAfter > 0 {
		return p.DetachAfter
	}
	return DefaultDetachAfter
}

func (p *Pipeline) maxDetached() int64 {
	if p.MaxDetached > 0 {
		return int64(p.MaxDetached)
	}
	return DefaultMaxDetached
}

func (p *Pipeline) base() context.Context {
	if p.Base != nil {
		return p.Base
	}
	return context.Background()
}

// WaitHandlers waits until every handler goroutine of the pipeline has returned, or ctx ends;
// then it reports the handlers still running. Call it after Base has ended and the owners have
// stopped, so that no new handler starts meanwhile.
func (p *Pipeline) WaitHandlers(ctx context.Context) error {
	quiet := p.quietCh()
	for p.running.Load() > 0 {
		select {
		case <-quiet:
		case <-ctx.Done():
			return fmt.Errorf("dispatch: %d handlers did not return after the runtime's context ended: %v: %w",
				p.Stats.Detached.Load(), p.Registry.runningNames(), ctx.Err())
		}
	}
	return nil
}

// FlushLogs writes a summary line for every handler whose repeated errors or panics were left
// out of the log since its last line (a runtime calls it when it stops).
func (p *Pipeline) FlushLogs() {
	flush := func(key string, n uint64) {
		p.Logger.Warn("repeated faults not logged in detail", "what", key, "suppressed", n)
	}
	p.faults.Flush(flush)
	p.owners.Flush(flush)
}

// Runner runs events through the pipeline for one owner. It is not safe for concurrent use: an
// owner handles one event at a time.
type Runner struct {
	p     *Pipeline
	owner actors.Key
	timer *time.Timer
	// done receives one signal per event when its synchronous phase ends; the owner waits for it
	// before the next event, so one buffered channel serves every event of the owner.
	done chan struct{}
	// detached counts this owner's handlers running detached; freed is signalled (without
	// blocking) when one returns, for an owner waiting under MaxDetached.
	detached atomic.Int64
	freed    chan struct{}
	// checkPanicked is rn.logCheckPanic, bound once (a method value allocates).
	checkPanicked func(ev stoatpb.Event, v any, stack []byte)
}

// NewRunner returns the Runner of owner.
func (p *Pipeline) NewRunner(owner actors.Key) *Runner {
	rn := &Runner{p: p, owner: owner, done: make(chan struct{}, 1), freed: make(chan struct{}, 1)}
	rn.checkPanicked = rn.logCheckPanic
	return rn
}

// Dispatch runs ev through the pipeline: before_dispatch, temporary subscriptions, handlers,
// process. It returns when the synchronous phase is over and the cache update (if any) is done,
// and reports whether the event was processed (not cancelled). backlog is the number of events
// delivered to the owner and not yet processed, this one included (see ConcurrentAbove).
func (rn *Runner) Dispatch(ev stoatpb.Event, h Hooks, backlog int) bool {
	p := rn.p
	p.Stats.Dispatched.Add(1)
	h.BeforeDispatch(ev)
	matched, consume, manual := p.Registry.offer(ev, rn.checkPanicked)
	if matched {
		p.Stats.WaitersMatched.Add(1)
	}
	canceled := false
	if !(matched && consume) {
		if hs := p.Registry.handlersFor(ev.EventType()); len(hs) > 0 {
			if !rn.awaitDetachedSlot(ev) {
				return false // the runtime stopped while the owner waited: discard the event
			}
			if p.ConcurrentAbove > 0 && backlog > p.ConcurrentAbove {
				rn.startConcurrent(ev, hs)
			} else {
				canceled = rn.runHandlers(ev, hs)
			}
		}
	}
	if canceled {
		p.Stats.Cancelled.Add(1)
		return false
	}
	if manual {
		return false
	}
	h.Process(ev)
	return true
}

// awaitDetachedSlot waits while MaxDetached of the owner's handlers run detached, until one
// returns or the runtime stops.
// It reports false if the runtime stopped meanwhile.
func (rn *Runner) awaitDetachedSlot(ev stoatpb.Event) bool {
	p := rn.p
	limit := p.maxDetached()
	if rn.detached.Load() < limit {
		return true
	}
	p.Stats.DetachedWaits.Add(1)
	p.owners.Log(p.Logger, slog.LevelWarn, "detached-limit/"+rn.owner.String(),
		"owner waits: MaxDetached of its handlers are running detached (blocked?); its next event runs when one returns", nil,
		"owner", rn.owner.String(), "event", ev.EventType().String(), "limit", limit)
	done := p.base().Done()
	for rn.detached.Load() >= limit {
		select {
		case <-rn.freed:
		case <-done:
			return false
		}
	}
	return true
}

// eventRun is the state of one event's handlers.
type eventRun struct {
	rn       *Runner
	ev       stoatpb.Event
	handlers []*handler
	// async: started by startConcurrent; the owner does not wait for it, and its handlers are
	// detached from the start.
	async bool

	mu       sync.Mutex
	next     int      // the next handler to start
	active   *Context // the handler in its synchronous phase, if any
	canceled bool
	sealed   bool // the synchronous phase is over
}

func (rn *Runner) runHandlers(ev stoatpb.Event, hs []*handler) (canceled bool) {
	r := &eventRun{rn: rn, ev: ev, handlers: hs}
	rn.p.start(r)
	detachAfter := rn.p.detachAfter()
	if rn.timer == nil {
		rn.timer = time.NewTimer(detachAfter)
	} else {
		rn.timer.Reset(detachAfter)
	}
	for {
		select {
		case <-rn.done:
			rn.timer.Stop()
			r.mu.Lock()
			defer r.mu.Unlock()
			return r.canceled
		case <-rn.timer.C:
			r.autoDetach(detachAfter)
			rn.timer.Reset(detachAfter)
		}
	}
}

// startConcurrent runs ev's handlers on a goroutine the owner does not wait for.
func (rn *Runner) startConcurrent(ev stoatpb.Event, hs []*handler) {
	r := &eventRun{rn: rn, ev: ev, handlers: hs, async: true, sealed: true}
	rn.p.Stats.Concurrent.Add(1)
	rn.addDetached()
	rn.p.start(r)
}

func (rn *Runner) addDetached() {
	rn.detached.Add(1)
	rn.p.Stats.Detached.Add(1)
}

// detachedReturned is called by a detached handler's goroutine when it is done.
func (rn *Runner) detachedReturned() {
	rn.detached.Add(-1)
	rn.p.Stats.Detached.Add(-1)
	select {
	case rn.freed <- struct{}{}:
	default:
	}
}

// work runs handlers in order until they are all done or one detaches (then the detaching
// Context hands the rest of the list to a new work goroutine).
func (r *eventRun) work() {
	for {
		r.mu.Lock()
		if r.next >= len(r.handlers) {
			r.sealed = true
			r.active = nil
			r.mu.Unlock()
			if r.async {
				r.rn.detachedReturned()
			} else {
				r.rn.done <- struct{}{}
			}
			return
		}
		c := &Context{run: r, h: r.handlers[r.next], detached: r.async}
		r.next++
		if !r.async {
			r.active = c
		}
		r.mu.Unlock()

		r.invoke(c)

		r.mu.Lock()
		handedOff := c.detached && !r.async // the rest of the handlers went on elsewhere
		if !handedOff {
			r.active = nil
			c.returned = true
		}
		r.mu.Unlock()
		if handedOff {
			r.rn.detachedReturned()
			return
		}
	}
}

// detachLocked ends c's synchronous phase and lets the rest of the handlers go on elsewhere.
func (r *eventRun) detachLocked(c *Context) {
	if c.detached || c.returned {
		return
	}
	c.detached = true
	if r.active == c {
		r.active = nil
		r.rn.addDetached()
		r.rn.p.start(r)
	}
}

func (r *eventRun) autoDetach(after time.Duration) {
	r.mu.Lock()
	c := r.active
	if c != nil {
		r.detachLocked(c)
	}
	r.mu.Unlock()
	if c == nil {
		return
	}
	p := r.rn.p
	p.Stats.AutoDetached.Add(1)
	p.faults.Log(p.Logger, slog.LevelWarn, "blocked/"+c.h.key,
		"handler blocked its owner without detaching; detached it so the owner goes on (call ctx.Detach before waiting)", nil,
		"handler", c.h.name, "event", r.ev.EventType().String(), "owner", r.rn.owner.String(), "after", after)
}

func (r *eventRun) invoke(c *Context) {
	p := r.rn.p
	c.h.running.Add(1)
	defer c.h.running.Add(-1)
	defer func() {
		if v := recover(); v != nil {
			p.Stats.HandlerPanics.Add(1)
			stack := debug.Stack()
			p.faults.Log(p.Logger, slog.LevelError, "panic/"+c.h.key, "handler panicked",
				func() []any { return []any{"stack", string(stack)} },
				"handler", c.h.name, "event", r.ev.EventType().String(), "owner", r.rn.owner.String(), "panic", fmt.Sprint(v))
		}
	}()
	if err := c.h.fn(c, r.ev); err != nil {
		p.Stats.HandlerErrors.Add(1)
		p.faults.Log(p.Logger, slog.LevelError, "error/"+c.h.key, "handler failed", nil,
			"handler", c.h.name, "event", r.ev.EventType().String(), "owner", r.rn.owner.String(), "err", err)
	}
}

// logCheckPanic logs a WaitFor check that panicked; the check counts as failed.
func (rn *Runner) logCheckPanic(ev stoatpb.Event, v any, stack []byte) {
	p := rn.p
	p.Stats.CheckPanics.Add(1)
	p.faults.Log(p.Logger, slog.LevelError, "check/"+ev.EventType().String(),
		"wait_for check panicked; treated as a failed check, the event goes on",
		func() []any { return []any{"stack", string(stack)} },
		"event", ev.EventType().String(), "owner", rn.owner.String(), "panic", fmt.Sprint(v))
}

// handlerKey is a handler's key in the fault log: its name and registration number, so that
// two registrations of one function are told apart.
func handlerKey(name string, id uint64) string { return name + "#" + strconv.FormatUint(id, 10) }
