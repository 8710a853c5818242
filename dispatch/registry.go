// Package dispatch is the pipeline each owner runs for each event, and the registry of the bot's
// handlers and temporary subscriptions (wait_for).
//
// # The order, for one event in its owner
//
//  1. before_dispatch: the owner fills the event's before/after and cached objects from its state
//     (immutable snapshots).
//  2. Temporary subscriptions (WaitFor) registered for the event's class or one of its categories,
//     in registration order. The first whose check passes receives the event. By default a match
//     consumes the event (as in stoat.py): step 3 is skipped. WithoutConsume lets handlers run too;
//     WithManualProcess skips step 4.
//  3. Handlers: those of the exact class first, then ChannelCreate/Authifier category handlers,
//     then ShardEvent handlers, then handlers of every event; in registration order within each
//     rank. A handler's error or panic is counted and logged (see Faults), and the next handler
//     runs.
//  4. process: the owner applies the cache update, unless a handler cancelled the event.
//
// The owner handles its next event only after step 4. Handlers therefore see a cache that reflects
// exactly the events before theirs, and cache state changes strictly in wire order.
//
// # Handlers that wait
//
// Handlers run on the owner's own goroutine, one after the other: an event whose handlers return
// without waiting costs no goroutine. A handler ends its synchronous phase by returning, or by
// detaching (Context.Detach, or any ermine call that waits, such as WaitFor called with the
// handler's Context): from then on it runs on in the background — it keeps the goroutine it runs
// on, and the owner moves on to another one (actors.Context.MoveOn), which runs the remaining
// handlers, process and the next events. A handler that blocks without detaching is detached
// automatically after Pipeline.DetachAfter (counted and logged). Only the synchronous phase
// can cancel the event; Cancel after detaching has no effect and says so.
//
// At most Pipeline.MaxDetached handlers of one owner run detached at once: past that the owner
// waits for one of them to return before it runs the handlers of its next event (counted in
// Stats.DetachedWaits, logged), so that a handler that blocks forever costs a bounded number of
// goroutines and the stall shows. With Pipeline.ConcurrentAbove set, an owner whose backlog
// passes it starts each event's handlers detached and applies the cache update at once: its
// handlers then run concurrently (within MaxDetached), its cache updates still in wire order.
//
// # Faults
//
// A handler's error or panic, and a WaitFor check that panics (a failed check: the event goes
// on), are counted in Stats and logged with the handler's name (Named, or its function's), the
// event and the owner: the first occurrences in full (a panic with its stack), then at most one
// summary line per interval per handler with the count of those left out.
//
// This keeps both promises at once: a MessageCreate handler that waits for a REST call or for a
// reply (WaitFor on its own channel) does not hold back the MessageUpdate that arrives meanwhile,
// and a handler that decides quickly can still cancel the cache update.
package dispatch

import (
	"fmt"
	"reflect"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/ermine-rt/ermine/proto/stoatpb"
)

// HandlerFunc handles one event of type E.
type HandlerFunc[E stoatpb.Event] func(ctx *Context, ev E) error

type handler struct {
	id      uint64
	rank    int
	name    string // for logs: the name given, or the function's
	key     string // name#id: tells two registrations of one function apart in the fault log
	fn      func(*Context, stoatpb.Event) error
	types   []stoatpb.EventType
	running atomic.Int32 // invocations under way, to name what is still running at shutdown
}

// HandlerOption configures a handler at registration.
type HandlerOption func(*handlerConfig)

type handlerConfig struct{ name string }

// Named names the handler in logs and errors (default: the name of its function, such as
// "main.onMessage" or "main.main.func1").
func Named(name string) HandlerOption { return func(c *handlerConfig) { c.name = name } }

// NamedAfter names the handler after fn's function; wrappers that register a closure around
// the bot's function pass it so that logs name the bot's function, not the wrapper.
func NamedAfter(fn any) HandlerOption { return Named(funcName(fn)) }

// funcName returns the name of fn's function without its package path ("pingbot.main.func1").
func funcName(fn any) string {
	v := reflect.ValueOf(fn)
	if v.Kind() != reflect.Func || v.IsNil() {
		return "handler"
	}
	f := runtime.FuncForPC(v.Pointer())
	if f == nil {
		return "handler"
	}
	name := f.Name()
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		name = name[i+1:]
	}
	return name
}

type handlerTable [stoatpb.NumEventTypes][]*handler

// Registry holds handlers and temporary subscriptions. It is safe for concurrent use; owners read
// the handler table without locks (it is replaced, never changed, when handlers are added or
// removed).
type Registry struct {
	mu       sync.Mutex
	handlers []*handler
	table    atomic.Pointer[handlerTable]
	nextID   atomic.Uint64

	waiters     [stoatpb.NumEventTypes][]*waiter
	waiterCount [stoatpb.NumEventTypes]atomic.Int32
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	r := &Registry{}
	r.table.Store(new(handlerTable))
	return r
}

// Subscription is a registered handler.
type Subscription struct {
	r *Registry
	h *handler
}

// Remove unregisters the handler. Events already being dispatched may still reach it.
func (s *Subscription) Remove() {
	if s == nil || s.r == nil {
		return
	}
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	for i, h := range s.r.handlers {
		if h == s.h {
			s.r.handlers = append(s.r.handlers[:i:i], s.r.handlers[i+1:]...)
			break
		}
	}
	s.r.rebuildLocked()
}

// Handle registers fn for events of type E. E is an event message type (*stoatpb.MessageCreateEvent)
// or a category interface: stoatpb.ChannelCreateEvent, stoatpb.AuthifierEvent,
// stoatpb.ShardEvent or stoatpb.Event (every event).
//
// Options name the handler for logs (Named; default: its function's name).
func Handle[E stoatpb.Event](r *Registry, fn HandlerFunc[E], opts ...HandlerOption) *Subscription {
	cfg := handlerConfig{}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.name == "" {
		cfg.name = funcName(fn)
	}
	types, rank := typesOf[E]()
	h := &handler{
		rank:  rank,
		name:  cfg.name,
		types: types,
		fn: func(ctx *Context, ev stoatpb.Event) error {
			return fn(ctx, ev.(E))
		},
	}
	return r.add(h)
}

func (r *Registry) add(h *handler) *Subscription {
	h.id = r.nextID.Add(1)
	h.key = handlerKey(h.name, h.id)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.handlers = append(r.handlers, h)
	r.rebuildLocked()
	return &Subscription{r: r, h: h}
}

func (r *Registry) rebuildLocked() {
	t := new(handlerTable)
	for _, h := range r.handlers {
		for _, typ := range h.types {
			t[typ] = append(t[typ], h)
		}
	}
	for i := range t {
		sort.SliceStable(t[i], func(a, b int) bool { return t[i][a].rank < t[i][b].rank })
	}
	r.table.Store(t)
}

// runningNames names the registered handlers with an invocation under way.
func (r *Registry) runningNames() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var names []string
	for _, h := range r.handlers {
		if n := h.running.Load(); n > 0 {
			names = append(names, fmt.Sprintf("%s (%d)", h.name, n))
		}
	}
	return names
}

// handlersFor returns the handlers of an event type, in dispatch order. The slice must not be
// changed.
func (r *Registry) handlersFor(t stoatpb.EventType) []*handler {
	return r.table.Load()[t]
}

// HasSubscribers reports whether anything (a handler or a temporary subscription) wants events of
// type t.
func (r *Registry) HasSubscribers(t stoatpb.EventType) bool {
	return len(r.handlersFor(t)) > 0 || r.waiterCount[t].Load() > 0
}

// typesOf returns the event types an E handler receives, and its rank (specificity) in the
// dispatch order: exact classes 0, unions 1, ShardEvent 2, every event 3.
func typesOf[E stoatpb.Event]() ([]stoatpb.EventType, int) {
	rt := reflect.TypeFor[E]()
	var types []stoatpb.EventType
	for t := stoatpb.EventType(1); t < stoatpb.NumEventTypes; t++ {
		if _, ok := stoatpb.NewEvent(t).(E); ok {
			types = append(types, t)
		}
	}
	switch {
	case rt.Kind() != reflect.Interface:
		return types, 0
	case rt == reflect.TypeFor[stoatpb.Event]():
		return types, 3
	case rt == reflect.TypeFor[stoatpb.ShardEvent]():
		return types, 2
	}
	return types, 1
}
