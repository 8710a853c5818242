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
	// MoveOn lets the owner go on without the goroutine running the event's handlers: one of
	// them detached in its synchronous phase (see actors.Context.MoveOn). rest runs the rest of
	// the event on the goroutine that takes the owner over.
	MoveOn(rest func())
	// Resumed is called by rest, on the goroutine that took the owner over, once the rest of an
	// event whose Dispatch reported moved is done; processed as Dispatch would have reported.
	Resumed(processed bool)
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
	running atomic.Int64    // handlers running detached (the owners do not wait for them)
	quiet   chan struct{}   // signalled (without blocking) when running drops to 0; see quietCh
	owners  ratelog.Limiter // warnings keyed by owner, apart so they cannot crowd out handlers
	once    sync.Once       // makes quiet
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

// WaitHandlers waits until every detached handler of the pipeline has returned, or ctx ends;
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
//
// Handlers run on the owner's goroutine, one after the other. A handler that detaches (or is
// detached for blocking past DetachAfter) keeps that goroutine: the owner moves on to another
// one (Hooks.MoveOn), which runs the event's other handlers and its cache update, then the
// owner's next messages. So an event costs no goroutine unless a handler waits.
type Runner struct {
	p     *Pipeline
	owner actors.Key
	// cur is the run whose handlers are in their synchronous phase, for the detach timer.
	cur   atomic.Pointer[eventRun]
	timer *time.Timer
	// detached counts this owner's handlers running detached; freed is signalled (without
	// blocking) when one returns, for an owner waiting under MaxDetached.
	detached atomic.Int64
	freed    chan struct{}
	// checkPanicked is rn.logCheckPanic, bound once (a method value allocates).
	checkPanicked func(ev stoatpb.Event, v any, stack []byte)
	// Redelivered, set by the owner before each Dispatch, tells whether the event is sent again
	// (cluster mode: after the node that had it died, where its handlers may have run);
	// Context.Redelivered reports it.
	Redelivered bool
	// Me, set by the owner before each Dispatch, is the connected user's id as the connection
	// knew it at the event (Context.MeID).
	Me string
}

// NewRunner returns the Runner of owner.
func (p *Pipeline) NewRunner(owner actors.Key) *Runner {
	rn := &Runner{p: p, owner: owner, freed: make(chan struct{}, 1)}
	rn.checkPanicked = rn.logCheckPanic
	return rn
}

// Dispatch runs ev through the pipeline: before_dispatch, temporary subscriptions, handlers,
// process. It returns when the synchronous phase is over and the cache update (if any) is done,
// and reports whether the event was processed (not cancelled), unless a handler moved the owner
// on (moved): then the rest of the event runs on the goroutine that took the owner over, which
// calls h.Resumed when it is done, and the caller must return at once without touching the
// owner's state. backlog is the number of events delivered to the owner and not yet processed,
// this one included (see ConcurrentAbove).
func (rn *Runner) Dispatch(ev stoatpb.Event, h Hooks, backlog int) (processed, moved bool) {
	p := rn.p
	p.Stats.Dispatched.Add(1)
	h.BeforeDispatch(ev)
	matched, consume, manual := p.Registry.offer(ev, rn.checkPanicked)
	if matched {
		p.Stats.WaitersMatched.Add(1)
	}
	if !(matched && consume) {
		if hs := p.Registry.handlersFor(ev.EventType()); len(hs) > 0 {
			if !rn.awaitDetachedSlot(ev) {
				return false, false // the runtime stopped while the owner waited: discard the event
			}
			if p.ConcurrentAbove > 0 && backlog > p.ConcurrentAbove {
				rn.startConcurrent(ev, hs)
			} else {
				r := rn.newRun(ev, hs, h, manual)
				if r.runHandlers() {
					return false, true
				}
				return r.finish(), false
			}
		}
	}
	return rn.complete(ev, h, false, manual), false
}

// complete ends an event's synchronous phase: its cache update, unless it was cancelled or a
// manual subscription took it.
func (rn *Runner) complete(ev stoatpb.Event, h Hooks, canceled, manual bool) bool {
	if canceled {
		rn.p.Stats.Cancelled.Add(1)
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
	hooks    Hooks
	manual   bool // a manual subscription took the event: no cache update
	// redelivered: the event was sent again (Runner.Redelivered); me: Runner.Me.
	redelivered bool
	me          string

	mu       sync.Mutex
	next     int       // the next handler to start
	active   *Context  // the handler in its synchronous phase, if any
	started  time.Time // when active started
	canceled bool
	sealed   bool // the synchronous phase is over

	// first is the first handler's Context, allocated with the run (most events have one
	// handler). Neither is reused: a handler may keep its Context.
	first Context
}

// newRun returns the run of ev's handlers.
func (rn *Runner) newRun(ev stoatpb.Event, hs []*handler, h Hooks, manual bool) *eventRun {
	return &eventRun{rn: rn, ev: ev, handlers: hs, hooks: h, manual: manual, redelivered: rn.Redelivered, me: rn.Me}
}

// runHandlers runs the run's handlers in order on the calling goroutine, which is the owner's,
// until they are all done (false) or one detaches in its synchronous phase (true): the owner
// then goes on elsewhere (resume) and this goroutine stays with the handler.
func (r *eventRun) runHandlers() (moved bool) {
	rn := r.rn
	rn.cur.Store(r)
	for {
		r.mu.Lock()
		if r.next >= len(r.handlers) {
			r.sealed = true
			r.mu.Unlock()
			rn.cur.Store(nil)
			rn.timer.Stop()
			return false
		}
		c := &r.first
		if r.next > 0 {
			c = new(Context)
		}
		*c = Context{run: r, h: r.handlers[r.next]}
		r.next++
		r.active, r.started = c, time.Now()
		rn.armTimer() // under r.mu: the timer's goroutine locks it before it looks at rn.timer
		r.mu.Unlock()

		r.invoke(c)

		r.mu.Lock()
		c.returned = true
		if c.detached {
			r.mu.Unlock()
			rn.detachedReturned()
			return true
		}
		r.active = nil
		r.mu.Unlock()
	}
}

// finish ends the synchronous phase of a run whose handlers are all done.
func (r *eventRun) finish() bool {
	r.mu.Lock()
	canceled := r.canceled
	r.mu.Unlock()
	return r.rn.complete(r.ev, r.hooks, canceled, r.manual)
}

// resume is the rest of an event whose handler detached, on the goroutine that took the owner
// over: its other handlers, then its cache update.
func (r *eventRun) resume() {
	if r.runHandlers() {
		return // moved on again
	}
	r.hooks.Resumed(r.finish())
}

// armTimer starts the wait after which a handler that neither returns nor detaches is detached.
func (rn *Runner) armTimer() {
	if rn.timer == nil {
		rn.timer = time.AfterFunc(rn.p.detachAfter(), rn.checkBlocked)
		return
	}
	rn.timer.Reset(rn.p.detachAfter())
}

// checkBlocked runs on the timer's goroutine: it detaches the handler in its synchronous phase
// if it started DetachAfter ago (a timer that fired for an earlier handler re-arms).
func (rn *Runner) checkBlocked() {
	r := rn.cur.Load()
	if r == nil {
		return
	}
	after := rn.p.detachAfter()
	r.mu.Lock()
	c := r.active
	if c == nil {
		r.mu.Unlock()
		return
	}
	if wait := after - time.Since(r.started); wait > 0 {
		r.mu.Unlock()
		rn.timer.Reset(wait)
		return
	}
	r.detachLocked(c)
	r.mu.Unlock()
	p := rn.p
	p.Stats.AutoDetached.Add(1)
	p.faults.Log(p.Logger, slog.LevelWarn, "blocked/"+c.h.key,
		"handler blocked its owner without detaching; detached it so the owner goes on (call ctx.Detach before waiting)", nil,
		"handler", c.h.name, "event", r.ev.EventType().String(), "owner", rn.owner.String(), "after", after)
}

// startConcurrent runs ev's handlers on a goroutine the owner does not wait for.
func (rn *Runner) startConcurrent(ev stoatpb.Event, hs []*handler) {
	r := &eventRun{rn: rn, ev: ev, handlers: hs, sealed: true, redelivered: rn.Redelivered, me: rn.Me}
	rn.p.Stats.Concurrent.Add(1)
	rn.addDetached()
	go r.runDetached()
}

// runDetached runs the handlers of a concurrent run, each detached from the start.
func (r *eventRun) runDetached() {
	for _, h := range r.handlers {
		r.invoke(&Context{run: r, h: h, detached: true})
	}
	r.rn.detachedReturned()
}

// addDetached counts a handler that runs detached from now on.
func (rn *Runner) addDetached() {
	rn.detached.Add(1)
	rn.p.Stats.Detached.Add(1)
	rn.p.running.Add(1)
}

// detachedReturned is called by a detached handler's goroutine when it is done.
func (rn *Runner) detachedReturned() {
	rn.detached.Add(-1)
	rn.p.Stats.Detached.Add(-1)
	select {
	case rn.freed <- struct{}{}:
	default:
	}
	p := rn.p
	if p.running.Add(-1) == 0 {
		select {
		case p.quietCh() <- struct{}{}:
		default:
		}
	}
}

// detachLocked ends c's synchronous phase. If the owner was running it, the owner moves on.
func (r *eventRun) detachLocked(c *Context) {
	if c.detached || c.returned {
		return
	}
	c.detached = true
	if r.active == c {
		r.active = nil
		r.rn.addDetached()
		r.hooks.MoveOn(r.resume)
	}
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
