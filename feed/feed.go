// Package feed runs an ermine Bot on events handed to it rather than read from Stoat, and
// exposes the runtime's plumbing that tools and tests need and bots do not: Sources that ingest
// recorded or synthetic events in wire order (ermine replay, the benchmark suite, the runtime's
// own tests), Drain, which waits until everything ingested has been processed, and the handler
// registry.
//
//	bot, _ := ermine.New(ermine.Config{})
//	ermine.Handle(bot, handler)
//	f, err := feed.Start(ctx, bot)
//	src := f.Source("replay")
//	err = src.Ingest(ctx, ev) // …each event in wire order
//	err = f.Drain(ctx)        // the cache now holds every event's update
//	err = bot.Close(ctx)
//
// A feed reaches the runtime through Bot.Run: Start and Connect call it with a context carrying
// a request that only this module's packages can make (package internal/feedlink), and Run hands
// its runtime to it. So the root package's API is what a bot author uses, with no hidden
// exported hook, and there is no global state: each feed is one Run of one Bot.
package feed

import (
	"context"

	"github.com/ermine-rt/ermine"
	"github.com/ermine-rt/ermine/dispatch"
	"github.com/ermine-rt/ermine/internal/feedlink"
	"github.com/ermine-rt/ermine/proto/stoatpb"
)

// Feed is one Run of a Bot, with access to its runtime.
type Feed struct {
	rt   feedlink.Runtime
	done chan struct{}
	err  error // Run's result, set before done is closed
}

// Start runs bot without a connection: bot.Run, in a goroutine, until ctx ends or bot is closed
// (Close), and the feed's Sources are its only events. Config.Token is not needed. It returns
// once the runtime is attached, or Run's error (ErrClosed for a closed bot).
func Start(ctx context.Context, bot *ermine.Bot) (*Feed, error) {
	return run(ctx, bot, true)
}

// Connect runs bot as bot.Run does, connected to Stoat, in a goroutine, and returns its feed once
// the runtime is attached (for Drain and Registry), or Run's error if it ended before. Done and
// Err report the end of Run.
func Connect(ctx context.Context, bot *ermine.Bot) (*Feed, error) {
	return run(ctx, bot, false)
}

func run(ctx context.Context, bot *ermine.Bot, offline bool) (*Feed, error) {
	link := &feedlink.Link{Offline: offline, Attached: make(chan struct{})}
	f := &Feed{done: make(chan struct{})}
	go func() {
		f.err = bot.Run(feedlink.With(ctx, link))
		close(f.done)
	}()
	select {
	case <-link.Attached:
		f.rt = link.Runtime
		return f, nil
	case <-f.done:
		return nil, f.err
	}
}

// Done is closed when the bot's Run has returned.
func (f *Feed) Done() <-chan struct{} { return f.done }

// Err returns Run's result once Done is closed (nil after a graceful stop), nil before.
func (f *Feed) Err() error {
	select {
	case <-f.done:
		return f.err
	default:
		return nil
	}
}

// Drain waits until every event ingested (by a Source or the connection), and every cache patch
// the owners sent each other because of them, has been processed, or ctx ends.
func (f *Feed) Drain(ctx context.Context) error { return f.rt.Drain(ctx) }

// Registry returns the bot's handler registry (dispatch.WaitForN, HasSubscribers…).
func (f *Feed) Registry() *dispatch.Registry { return f.rt.Registry }

// Source returns a new Source of events from a connection named shard: its events are routed in
// the order they are ingested, as a connection's are. Events keep the shard they carry
// (ev.SetShard); shard names the Source's owner keys.
func (f *Feed) Source(shard string) *Source { return &Source{ingest: f.rt.NewSource(shard)} }

// Source feeds the events of one connection into the bot, in wire order. It is not safe for
// concurrent use: one goroutine ingests a Source's events, as one reader does a connection's.
type Source struct {
	ingest func(ctx context.Context, ev stoatpb.Event, size int) error
}

// Ingest routes ev to its owner, as an event of unknown wire size (see IngestSized).
func (s *Source) Ingest(ctx context.Context, ev stoatpb.Event) error { return s.ingest(ctx, ev, 0) }

// IngestSized routes ev, which took size bytes on the wire, to its owner. It waits while the
// in-flight budget (Config.MaxInFlight, MaxInFlightBytes) is spent — the backpressure a
// connection's reader feels — until ctx ends, and returns ermine.ErrClosed once the bot is
// closing.
func (s *Source) IngestSized(ctx context.Context, ev stoatpb.Event, size int) error {
	return s.ingest(ctx, ev, size)
}
