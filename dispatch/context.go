package dispatch

import (
	"context"
	"log/slog"
	"time"

	"github.com/ermine-rt/ermine/actors"
	"github.com/ermine-rt/ermine/internal/handlerctx"
	"github.com/ermine-rt/ermine/proto/stoatpb"
)

// Context is what a handler receives with its event. It is a context.Context, cancelled when the
// runtime stops, so it can be passed to anything that waits (a REST call, WaitFor).
type Context struct {
	run      *eventRun
	h        *handler
	detached bool // guarded by run.mu
	returned bool // guarded by run.mu
}

var _ context.Context = (*Context)(nil)

func (c *Context) base() context.Context {
	if b := c.run.rn.p.Base; b != nil {
		return b
	}
	return context.Background()
}

// Deadline implements context.Context.
func (c *Context) Deadline() (time.Time, bool) { return c.base().Deadline() }

// Done implements context.Context: closed when the runtime stops.
func (c *Context) Done() <-chan struct{} { return c.base().Done() }

// Err implements context.Context.
func (c *Context) Err() error { return c.base().Err() }

// Value implements context.Context; it also serves the runtime's values (Pipeline.Values), and
// the handler's Context itself to whatever waits with it or a context derived from it (the REST
// client detaches the handler first).
func (c *Context) Value(key any) any {
	if _, ok := key.(handlerctx.Key); ok {
		return c
	}
	if v, ok := c.run.rn.p.Values[key]; ok {
		return v
	}
	return c.base().Value(key)
}

// Event returns the event being handled.
func (c *Context) Event() stoatpb.Event { return c.run.ev }

// Owner returns the key of the owner running the event.
func (c *Context) Owner() actors.Key { return c.run.rn.owner }

// Redelivered reports whether the event was sent again: in cluster mode, after the node that
// had it died before acknowledging it — its handlers may have run there already (delivery is at
// least once).
func (c *Context) Redelivered() bool { return c.run.redelivered }

// MeID is the connected user's id as the connection knew it at the event ("" before its
// Ready).
func (c *Context) MeID() string { return c.run.me }

// Logger returns the runtime's logger, with the event and owner attached.
func (c *Context) Logger() *slog.Logger {
	return c.run.rn.p.Logger.With("event", c.run.ev.EventType().String(), "owner", c.run.rn.owner.String())
}

func (c *Context) registry() *Registry { return c.run.rn.p.Registry }

// handlerContext finds the handler Context of ctx, if ctx is one or derives from one.
func handlerContext(ctx context.Context) (*Context, bool) {
	hc, ok := ctx.Value(handlerctx.Key{}).(*Context)
	return hc, ok
}

// Detach ends this handler's synchronous phase: the owner goes on with the other handlers, the
// cache update and its next events while the handler keeps running in the background. Call it
// before waiting for anything. After Detach the handler can no longer cancel the event.
func (c *Context) Detach() {
	r := c.run
	r.mu.Lock()
	r.detachLocked(c)
	r.mu.Unlock()
}

// IsCanceled reports whether the event's cache update will be skipped.
func (c *Context) IsCanceled() bool {
	c.run.mu.Lock()
	defer c.run.mu.Unlock()
	return c.run.canceled
}

// SetCanceled sets whether the cache update is skipped and reports whether that changed anything.
// Once the handler detached (or the event was processed) it changes nothing and reports false.
func (c *Context) SetCanceled(v bool) bool {
	r := c.run
	r.mu.Lock()
	late := r.sealed || c.detached
	changed := !late && r.canceled != v
	if changed {
		r.canceled = v
	}
	r.mu.Unlock()
	if late {
		c.Logger().Warn("cancel/uncancel after the synchronous phase has no effect", "handler", c.h.name)
	}
	return changed
}

// Cancel skips the event's cache update and reports whether the event was not cancelled before
// (stoat.py's cancel()).
func (c *Context) Cancel() bool { return c.SetCanceled(true) }

// Uncancel undoes Cancel and reports whether the event was cancelled before.
func (c *Context) Uncancel() bool { return c.SetCanceled(false) }
