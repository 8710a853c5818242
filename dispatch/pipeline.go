package dispatch

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ermine-rt/ermine/actors"
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
}

// Pipeline is shared by the owners of a runtime; each owner runs events through its own Runner.
type Pipeline struct {
	Registry *Registry
	Logger   *slog.Logger
	Stats    *Stats
	// Base is the runtime's context: handlers' Contexts derive from it.
	Base context.Context
	// DetachAfter is how long an owner waits for a handler that neither returns nor detaches
	// before detaching it (default 100ms).
	DetachAfter time.Duration
	// Values is made available to handlers through Context.Value (e.g. the REST client).
	Values map[any]any
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
}

// NewRunner returns the Runner of owner.
func (p *Pipeline) NewRunner(owner actors.Key) *Runner {
	return &Runner{p: p, owner: owner, done: make(chan struct{}, 1)}
}

// Dispatch runs ev through the pipeline: before_dispatch, temporary subscriptions, handlers,
// process. It returns when the synchronous phase is over and the cache update (if any) is done,
// and reports whether the event was processed (not cancelled).
func (rn *Runner) Dispatch(ev stoatpb.Event, h Hooks) bool {
	p := rn.p
	p.Stats.Dispatched.Add(1)
	h.BeforeDispatch(ev)
	matched, consume, manual := p.Registry.offer(ev)
	if matched {
		p.Stats.WaitersMatched.Add(1)
	}
	canceled := false
	if !(matched && consume) {
		if hs := p.Registry.handlersFor(ev.EventType()); len(hs) > 0 {
			canceled = rn.runHandlers(ev, hs)
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

// eventRun is the state of one event's handlers.
type eventRun struct {
	rn       *Runner
	ev       stoatpb.Event
	handlers []*handler

	mu       sync.Mutex
	next     int      // the next handler to start
	active   *Context // the handler in its synchronous phase, if any
	canceled bool
	sealed   bool // the synchronous phase is over
}

func (rn *Runner) runHandlers(ev stoatpb.Event, hs []*handler) (canceled bool) {
	r := &eventRun{rn: rn, ev: ev, handlers: hs}
	go r.work()
	detachAfter := rn.p.DetachAfter
	if detachAfter <= 0 {
		detachAfter = 100 * time.Millisecond
	}
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
			r.autoDetach()
			rn.timer.Reset(detachAfter)
		}
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
			r.rn.done <- struct{}{}
			return
		}
		c := &Context{run: r, h: r.handlers[r.next]}
		r.next++
		r.active = c
		r.mu.Unlock()

		r.invoke(c)

		r.mu.Lock()
		detached := c.detached
		if !detached {
			r.active = nil
			c.returned = true
		}
		r.mu.Unlock()
		if detached {
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
		go r.work()
	}
}

func (r *eventRun) autoDetach() {
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
	if !c.h.warned.Swap(true) {
		p.Logger.Warn("handler blocked its owner without detaching; detached it so the owner goes on (call ctx.Detach before waiting)",
			"handler", c.h.name, "event", r.ev.EventType().String(), "owner", r.rn.owner.String(), "after", p.DetachAfter)
	}
}

func (r *eventRun) invoke(c *Context) {
	p := r.rn.p
	defer func() {
		if v := recover(); v != nil {
			p.Stats.HandlerPanics.Add(1)
			p.Logger.Error("handler panicked", "handler", c.h.name, "event", r.ev.EventType().String(),
				"owner", r.rn.owner.String(), "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		}
	}()
	if err := c.h.fn(c, r.ev); err != nil {
		p.Stats.HandlerErrors.Add(1)
		p.Logger.Error("handler failed", "handler", c.h.name, "event", r.ev.EventType().String(),
			"owner", r.rn.owner.String(), "err", err)
	}
}
