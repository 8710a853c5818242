// Package ermine is the one import a Stoat bot needs: an actor-based runtime that connects to
// Stoat's event WebSocket, decodes every frame into a typed protobuf event and routes it to the
// actor that owns the entity (server, channel, user partition, connection). Each owner runs, in
// arrival order for its entity, before_dispatch → the bot's handlers and wait_for subscriptions →
// the cache update; different entities run in parallel.
//
//	bot, err := ermine.New(ermine.Config{Token: os.Getenv("STOAT_TOKEN")})
//	ermine.Handle(bot, func(ctx *ermine.Context, ev *stoatpb.MessageCreateEvent) error {
//		ctx.Logger().Info("message", "content", ev.GetMessage().GetContent())
//		return nil
//	})
//	err = bot.Run(ctx) // until ctx ends; then drains and stops
//
// See package dispatch for the exact order of the pipeline and how handlers may wait.
package ermine

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/ermine-rt/ermine/actors"
	"github.com/ermine-rt/ermine/cacheactors"
	"github.com/ermine-rt/ermine/dispatch"
	"github.com/ermine-rt/ermine/proto/bonfire"
	"github.com/ermine-rt/ermine/proto/stoatpb"
	"github.com/ermine-rt/ermine/rest"
	"github.com/ermine-rt/ermine/shardactor"
)

// Version is ermine's version, sent in the User-Agent.
const Version = "0.1.0"

// Context is what a handler receives with its event: the dispatch.Context (cancel, detach, the
// runtime's context.Context) plus the bot's helpers.
type Context struct {
	*dispatch.Context
	bot *Bot
}

// Bot returns the bot running the handler.
func (c *Context) Bot() *Bot { return c.bot }

// Typing tells the event's channel (or channel, if given) that the bot is typing.
func (c *Context) Typing(channel ...string) error {
	ch := channelOf(c.Event())
	if len(channel) > 0 {
		ch = channel[0]
	}
	if ch == "" {
		return fmt.Errorf("ermine: %s has no channel to type in", c.Event().EventType())
	}
	return c.bot.Typing(c, ch)
}

// channelOf returns the channel an event happened in, if any.
func channelOf(ev stoatpb.Event) string {
	switch e := ev.(type) {
	case *stoatpb.MessageCreateEvent:
		return e.GetMessage().GetChannel()
	case interface{ GetChannelId() string }:
		return e.GetChannelId()
	}
	return ""
}

// Config configures a Bot. Only Token is required to connect.
type Config struct {
	// Token is the bot token (or a user session token).
	Token string
	// APIURL is the Stoat API base (default https://api.stoat.chat). The events URL is
	// discovered from it (GET / → ws) unless EventsURL is set.
	APIURL string
	// EventsURL overrides the discovered events WebSocket URL.
	EventsURL string
	// Format is the wire format of the connection (default JSON).
	Format bonfire.Format
	// Logger receives the runtime's logs (default: discard).
	Logger *slog.Logger
	// Cache says what the cache keeps.
	Cache cacheactors.Policy
	// MaxInFlight bounds the events delivered to owners and not yet processed; when it is
	// reached the connection reader waits (default 65,536).
	MaxInFlight int
	// ShedTypingAbove drops ChannelStart/StopTyping events (counted) while more than this
	// fraction of MaxInFlight is in use (default 0.75; 1 never sheds).
	ShedTypingAbove float64
	// DetachAfter is how long an owner waits for a handler that blocks without detaching before
	// detaching it (default 100ms).
	DetachAfter time.Duration
	// REST configures the REST client (its base URL and token come from APIURL and Token).
	REST []rest.Option
	// ShutdownTimeout bounds the drain when Run stops (default 10s).
	ShutdownTimeout time.Duration
	// Shard tunes the connection (heartbeat, backoff, frame size…); its Name, URL, Token and
	// Format are set by Run.
	Shard shardactor.Config
	// ChannelIdle passivates channel owners that received nothing for this long; their state is
	// kept for their next activation (default 0: never).
	ChannelIdle time.Duration
}

// Bot is a runtime: the owner directory, the cache, the handler registry and the connection.
type Bot struct {
	cfg      Config
	logger   *slog.Logger
	registry *dispatch.Registry
	store    *cacheactors.Store
	pipeline *dispatch.Pipeline
	dir      actors.Directory
	system   *actor.ActorSystem
	rest     *rest.Client
	learn    cacheactors.Learn
	shard    atomic.Pointer[shardactor.Shard]
	inflight *actors.InFlight
	stats    dispatch.Stats
	cancel   context.CancelFunc

	release  func() // b.inflight.Release, bound once: a method value allocates
	shed     atomic.Uint64
	ingested atomic.Uint64
	closeMu  sync.Mutex
	closed   bool
}

// New returns a Bot. Register handlers, then call Run.
func New(cfg Config) (*Bot, error) {
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 1 << 16
	}
	if cfg.ShedTypingAbove <= 0 {
		cfg.ShedTypingAbove = 0.75
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 10 * time.Second
	}
	if cfg.APIURL == "" {
		cfg.APIURL = "https://api.stoat.chat"
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	base, cancel := context.WithCancel(context.Background())
	b := &Bot{
		cfg:      cfg,
		logger:   logger,
		registry: dispatch.NewRegistry(),
		store:    cacheactors.NewStore(),
		inflight: actors.NewInFlight(cfg.MaxInFlight),
		cancel:   cancel,
	}
	b.rest = rest.New(cfg.Token, append([]rest.Option{rest.WithBaseURL(cfg.APIURL), rest.WithLogger(logger), rest.WithUserAgent(UserAgent)}, cfg.REST...)...)
	b.release = b.inflight.Release
	b.pipeline = &dispatch.Pipeline{
		Registry:    b.registry,
		Logger:      logger,
		Stats:       &b.stats,
		Base:        base,
		DetachAfter: cfg.DetachAfter,
		Values:      map[any]any{botKey{}: b},
	}
	deps := &cacheactors.Deps{Store: b.store, Pipeline: b.pipeline, Policy: cfg.Cache}
	b.system = actors.NewSystem(logger)
	opts := []actors.LocalOption{actors.WithLogger(logger), actors.WithSystem(b.system)}
	if cfg.ChannelIdle > 0 {
		opts = append(opts, actors.WithIdlePassivation(actors.KindChannel, cfg.ChannelIdle))
	}
	b.dir = actors.NewLocal(deps.NewOwner, opts...)
	return b, nil
}

type botKey struct{}

// FromContext returns the Bot running a handler.
func FromContext(ctx context.Context) *Bot {
	b, _ := ctx.Value(botKey{}).(*Bot)
	return b
}

// Handle registers fn for events of type E: an event class (*stoatpb.MessageCreateEvent) or a
// category (stoatpb.ShardEvent, stoatpb.ChannelCreateEvent, stoatpb.AuthifierEvent,
// stoatpb.Event). It may be called while the bot runs; Remove the returned Subscription to stop.
func Handle[E stoatpb.Event](b *Bot, fn func(ctx *Context, ev E) error) *dispatch.Subscription {
	return dispatch.Handle(b.registry, func(dc *dispatch.Context, ev E) error {
		return fn(&Context{Context: dc, bot: b}, ev)
	})
}

// WaitFor waits for the next event of type E that check accepts (see dispatch.WaitFor). Inside a
// handler, pass the handler's Context: the handler detaches first, so waiting for the next event
// of the same channel does not deadlock.
func WaitFor[E stoatpb.Event](ctx context.Context, b *Bot, check func(E) bool, opts ...dispatch.WaitOption) (E, error) {
	return dispatch.WaitFor(ctx, b.registry, check, opts...)
}

// Expect registers a wait for the next event of type E that check accepts, now, and returns it
// to be waited for later (see dispatch.Expect): register before sending a prompt, then Wait, so a
// quick answer cannot slip past.
func Expect[E stoatpb.Event](ctx context.Context, b *Bot, check func(E) bool, opts ...dispatch.WaitOption) (*dispatch.Pending[E], error) {
	return dispatch.Expect(ctx, b.registry, check, opts...)
}

// Cache returns the read side of the cache, safe to use from any goroutine.
func (b *Bot) Cache() *cacheactors.Store { return b.store }

// Registry returns the handler registry.
func (b *Bot) Registry() *dispatch.Registry { return b.registry }

// Stats is a snapshot of the runtime's counters.
type Stats struct {
	Ingested       uint64 // events handed to owners
	ShedTyping     uint64 // typing events dropped under pressure
	InFlight       int    // events delivered and not yet processed
	Dispatched     uint64
	Cancelled      uint64
	HandlerErrors  uint64
	HandlerPanics  uint64
	AutoDetached   uint64
	WaitersMatched uint64
	Owners         actors.Stats
	// Shard is the connection's counters (frames, decode errors, reconnects…); zero before Run.
	Shard shardactor.Stats
}

// Stats returns the runtime's counters.
func (b *Bot) Stats() Stats {
	st := Stats{
		Ingested:       b.ingested.Load(),
		ShedTyping:     b.shed.Load(),
		InFlight:       b.inflight.InUse(),
		Dispatched:     b.stats.Dispatched.Load(),
		Cancelled:      b.stats.Cancelled.Load(),
		HandlerErrors:  b.stats.HandlerErrors.Load(),
		HandlerPanics:  b.stats.HandlerPanics.Load(),
		AutoDetached:   b.stats.AutoDetached.Load(),
		WaitersMatched: b.stats.WaitersMatched.Load(),
		Owners:         b.dir.Stats(),
	}
	if sh := b.shard.Load(); sh != nil {
		st.Shard = sh.Stats()
	}
	return st
}

// Source feeds the events of one connection (a shard) into the runtime, in wire order. It is not
// safe for concurrent use: one goroutine (the connection's reader) ingests a shard's events.
type Source struct {
	b      *Bot
	router *cacheactors.Router
	emit   func(actors.Key, any)
}

// NewSource returns the Source of shard. Run creates one per connection; tools (replay) and
// tests use it to feed recorded or synthetic events without a network.
func (b *Bot) NewSource(shard string) *Source {
	return &Source{b: b, router: cacheactors.NewRouter(shard), emit: b.dir.Deliver}
}

// Ingest routes ev to its owner. It waits while MaxInFlight events are being processed (that is
// the backpressure on the connection reader), until ctx ends.
func (s *Source) Ingest(ctx context.Context, ev stoatpb.Event) error {
	b := s.b
	switch ev.(type) {
	case *stoatpb.ChannelStartTypingEvent, *stoatpb.ChannelStopTypingEvent:
		if b.inflight.Pressure() >= b.cfg.ShedTypingAbove {
			b.shed.Add(1)
			return nil
		}
	}
	if err := b.inflight.Acquire(ctx); err != nil {
		return err
	}
	key, d := s.router.Route(ev, s.emit)
	d.Done = b.release
	b.ingested.Add(1)
	b.dir.Deliver(key, d)
	return nil
}

// Drain waits until every ingested event, and every cache patch the owners sent each other
// because of them, has been processed, or ctx ends.
func (b *Bot) Drain(ctx context.Context) error {
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	for b.inflight.InUse() > 0 || b.dir.Pending() > 0 {
		select {
		case <-ctx.Done():
			return fmt.Errorf("ermine: draining %d events and %d messages: %w", b.inflight.InUse(), b.dir.Pending(), ctx.Err())
		case <-t.C:
		}
	}
	return nil
}

// Close drains the owners and stops the runtime. Handlers still running in the background see
// their Context cancelled.
func (b *Bot) Close(ctx context.Context) error {
	b.closeMu.Lock()
	defer b.closeMu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	err := b.dir.Close(ctx)
	b.cancel()
	b.system.Shutdown()
	return err
}
