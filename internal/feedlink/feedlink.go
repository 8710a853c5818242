// Package feedlink is how package ermine hands its runtime to package feed: feed puts a Link in
// the context it gives Bot.Run, and Run attaches the runtime to it. Only packages of this module
// can make a Link, so the runtime's plumbing stays out of ermine's API.
package feedlink

import (
	"context"

	"github.com/ermine-rt/ermine/dispatch"
	"github.com/ermine-rt/ermine/proto/stoatpb"
)

// Runtime is what a running Bot offers a feed.
type Runtime struct {
	// NewSource returns the ingest function of one connection's ordered stream of events,
	// named shard; it is for one goroutine at a time.
	NewSource func(shard string) func(ctx context.Context, ev stoatpb.Event, size int) error
	// Drain waits until everything ingested has been processed, or ctx ends.
	Drain func(ctx context.Context) error
	// Registry is the bot's handler registry.
	Registry *dispatch.Registry
}

// Link is a feed's request for a Bot's runtime.
type Link struct {
	// Offline asks Run not to connect: the feed's Sources are the only events.
	Offline bool
	// Attached is closed once Runtime is set.
	Attached chan struct{}
	// Runtime is set by Run before it closes Attached.
	Runtime Runtime
}

type key struct{}

// With returns ctx carrying l.
func With(ctx context.Context, l *Link) context.Context { return context.WithValue(ctx, key{}, l) }

// From returns the Link ctx carries, or nil.
func From(ctx context.Context) *Link {
	l, _ := ctx.Value(key{}).(*Link)
	return l
}
