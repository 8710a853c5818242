// Package ermine is the one import a Stoat bot needs: an actor-based runtime that connects to
// Stoat's event WebSocket, decodes every frame into a typed protobuf event and routes it to the
// actor that owns the entity (server, channel, user partition, connection). Each owner runs, in
// arrival order for its entity, before_dispatch → the bot's handlers and wait_for subscriptions →
// the cache update; different entities run in parallel.
//
//	bot, err := ermine.New(ermine.Config{Token: os.Getenv("STOAT_TOKEN")})
//	ermine.Handle(bot, func(ctx *ermine.Context, ev *ermine.MessageCreateEvent) error {
//		ctx.Logger().Info("message", "content", ev.GetMessage().GetContent())
//		return nil
//	})
//	if err := bot.Run(ctx); err != nil { // nil once ctx ends and the bot has drained and stopped
//		log.Fatal(err)
//	}
//
// See package dispatch for the exact order of the pipeline and how handlers may wait.
package ermine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/ermine-rt/ermine/actors"
	"github.com/ermine-rt/ermine/actors/cluster"
	"github.com/ermine-rt/ermine/cacheactors"
	"github.com/ermine-rt/ermine/dispatch"
	"github.com/ermine-rt/ermine/proto/bonfire"
	"github.com/ermine-rt/ermine/proto/stoatpb"
	"github.com/ermine-rt/ermine/rest"
	"github.com/ermine-rt/ermine/shardactor"
)

// Version is ermine's version, sent in the User-Agent.
const Version = "0.1.0"

// Context is what a handler receives with its event: a dispatch.Context (cancel, detach, the
// runtime's context.Context) with the bot's helpers. It is the handler's dispatch.Context itself
// under ermine's type, so that it costs no allocation of its own.
type Context dispatch.Context

func (c *Context) dc() *dispatch.Context { return (*dispatch.Context)(c) }

// Bot returns the bot running the handler.
func (c *Context) Bot() *Bot { return FromContext(c) }

// Deadline implements context.Context (the runtime's context: see dispatch.Context).
func (c *Context) Deadline() (time.Time, bool) { return c.dc().Deadline() }

// Done implements context.Context: closed when the runtime stops.
func (c *Context) Done() <-chan struct{} { return c.dc().Done() }

// Err implements context.Context.
func (c *Context) Err() error { return c.dc().Err() }

// Value implements context.Context; it also serves the runtime's values.
func (c *Context) Value(key any) any { return c.dc().Value(key) }

// Event returns the event being handled.
func (c *Context) Event() stoatpb.Event { return c.dc().Event() }

// Owner returns the key of the owner running the event.
func (c *Context) Owner() actors.Key { return c.dc().Owner() }

// Redelivered reports whether the event was sent again: in cluster mode, after the node that
// had it died before acknowledging it — its handlers may have run there already (delivery is at
// least once). Out of cluster mode it is always false.
func (c *Context) Redelivered() bool { return c.dc().Redelivered() }

// Logger returns the runtime's logger, with the event and owner attached.
func (c *Context) Logger() *slog.Logger { return c.dc().Logger() }

// Detach ends the handler's synchronous phase (see dispatch.Context.Detach).
func (c *Context) Detach() { c.dc().Detach() }

// IsCanceled reports whether the event's cache update will be skipped.
func (c *Context) IsCanceled() bool { return c.dc().IsCanceled() }

// SetCanceled sets whether the cache update is skipped (see dispatch.Context.SetCanceled).
func (c *Context) SetCanceled(v bool) bool { return c.dc().SetCanceled(v) }

// Cancel skips the event's cache update and reports whether the event was not cancelled before
// (stoat.py's cancel()).
func (c *Context) Cancel() bool { return c.dc().Cancel() }

// Uncancel undoes Cancel and reports whether the event was cancelled before.
func (c *Context) Uncancel() bool { return c.dc().Uncancel() }

// Typing tells the event's channel (or channel, if given) that the bot is typing.
func (c *Context) Typing(channel ...string) error {
	ch := channelOf(c.Event())
	if len(channel) > 0 {
		ch = channel[0]
	}
	if ch == "" {
		return fmt.Errorf("ermine: %s has no channel to type in", c.Event().EventType())
	}
	return c.Bot().Typing(c, ch)
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
	// WireFormat is the wire format of the connection (default JSON).
	WireFormat bonfire.Format
	// Logger receives the runtime's logs (default: discard).
	Logger *slog.Logger
	// Cache says what the cache keeps.
	Cache CachePolicy
	// MaxInFlight and MaxInFlightBytes are the in-flight budget: they bound the events delivered
	// to owners and not yet processed, in number (default 65,536) and in wire bytes (default
	// 256 MiB; one event larger than that passes alone). The budget is one for the connection,
	// not per owner, and the connection is one ordered stream: when it is spent, the reader
	// waits, so every owner's events wait behind the owner that spends it (a channel whose
	// handlers are slower than its messages arrive). Nothing is dropped or reordered. A stall is
	// visible: after a second the owners holding most of the budget are logged (rate-limited),
	// and Stats().Budget counts stalls and names the heaviest owners. ConcurrentHandlersAbove
	// lets a backlogged owner keep up instead.
	MaxInFlight      int
	MaxInFlightBytes int64
	// ConcurrentHandlersAbove, when positive, lets an owner whose backlog (events delivered to it
	// and not yet processed) exceeds it run each event's handlers concurrently with its next
	// events, at most MaxDetachedHandlers at once: its cache updates are still applied one by
	// one in wire order, but those handlers run detached from the start (they cannot cancel
	// the event) and may finish out of order. Default 0: never; handlers of one entity then run
	// one event after another, and a slow one holds back the reader (see MaxInFlight).
	ConcurrentHandlersAbove int
	// ShedTypingAbove drops ChannelStart/StopTyping events (counted) while more than this
	// fraction of the in-flight budget is in use (default 0.75; 1 never sheds).
	ShedTypingAbove float64
	// DetachAfter is how long an owner waits for a handler that blocks without detaching before
	// detaching it (default 100ms).
	DetachAfter time.Duration
	// MaxDetachedHandlers bounds the handlers of one owner running detached at once (default
	// 256). When it is reached the owner waits for one of them to return before it runs the
	// handlers of its next event (counted in Stats().DetachedWaits, logged): a handler that
	// blocks forever costs a bounded number of goroutines, and the stall shows.
	MaxDetachedHandlers int
	// REST tunes the REST client: its HTTP client, rate limiter and retry policy.
	REST REST
	// MetricsAddr, if set, is where Run serves the bot's Prometheus metrics and health
	// (MetricsHandler: /metrics, /healthz) while it runs, e.g. "127.0.0.1:9464". It listens on
	// exactly that address: give a loopback one unless the metrics may be public.
	MetricsAddr string
	// ShutdownTimeout bounds a graceful stop (default 10s): Run gives the owners this long to
	// process what was delivered, and detached handlers the rest of it to return. See Close
	// for what happens when it runs out.
	ShutdownTimeout time.Duration
	// Record, if set, receives every frame the connection reads, byte for byte, in the format
	// `ermine replay` reads, with a marker where each connection began (shardactor.Config.Record
	// says how). The token is never written. Give it a buffered writer and flush it after Run
	// returns. What the runtime fetches over REST is not in it: the messages a reconnect's
	// backfill recovered and the member lists it fetched again (Backfill) are missing from a
	// replay of the recording, which otherwise reaches the same cache.
	Record io.Writer
	// Connection tunes the WebSocket connection: heartbeat, timeouts, backoff, frame size, dial
	// options, and which frames are left undecoded.
	Connection Connection
	// ChannelIdle passivates channel owners that received nothing for this long; their state is
	// kept for their next activation (default 0: never).
	ChannelIdle time.Duration

	// Backfill bounds the fetch of the messages missed while the connection was away, after
	// each reconnect (see BackfillConfig).
	Backfill BackfillConfig
	// Cluster, if set, makes the bot one node of a cluster (see ClusterConfig): Run joins it,
	// and runs the connection only where the cluster places it.
	Cluster *ClusterConfig
}

// Bot is a runtime: the owner directory, the cache, the handler registry and the connection.
type Bot struct {
	cfg      Config
	logger   *slog.Logger
	registry *dispatch.Registry
	store    *cacheactors.Store
	pipeline *dispatch.Pipeline
	dir      actors.Directory
	cluster  *cluster.Directory // in cluster mode, dir
	limiter  *clusterLimiter    // in cluster mode, the REST limiter the nodes share
	system   *actor.ActorSystem
	rest     *rest.Client
	learn    cacheactors.Learn
	shard    atomic.Pointer[shardactor.Shard]
	budget   *actors.Budget
	deps     *cacheactors.Deps
	stats    dispatch.Stats
	cancel   context.CancelFunc
	metrics  *metrics
	skipper  *skipper
	backfill *backfiller

	byType    [stoatpb.NumEventTypes]atomic.Uint64 // events routed, by type (metrics; Stats.Ingested)
	lastEvent atomic.Int64                         // UnixNano of the last event routed (health)

	shed      atomic.Uint64
	closing   atomic.Bool  // set by Close; ingest refuses events
	ingesting atomic.Int32 // ingest calls under way; Close drains them too
	stopping  atomic.Bool  // Close was called (set before it stops the connection: Run's stop is graceful)
	closeMu   sync.Mutex   // makes a second Close wait for the first
}

// New returns a Bot. Register handlers, then call Run.
func New(cfg Config) (*Bot, error) {
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
		cancel:   cancel,
	}
	b.metrics = newMetrics(b)
	b.skipper = newSkipper(b.registry)
	b.backfill = newBackfiller(b, cfg.Backfill)
	b.budget = actors.NewBudget(actors.BudgetConfig{MaxEvents: cfg.MaxInFlight, MaxBytes: cfg.MaxInFlightBytes, Logger: logger,
		ObserveLatency: func(d time.Duration) { b.metrics.latency.Observe(d.Seconds()) }})
	restOpts := []rest.Option{rest.WithBaseURL(cfg.APIURL), rest.WithLogger(logger), rest.WithUserAgent(userAgent)}
	if cfg.Cluster != nil {
		// Before the user's options: a limiter of their own wins.
		b.limiter = newClusterLimiter(b)
		restOpts = append(restOpts, rest.WithLimiter(b.limiter))
	}
	b.rest = rest.New(cfg.Token, append(restOpts, cfg.REST.options()...)...)
	b.pipeline = &dispatch.Pipeline{
		Registry:        b.registry,
		Logger:          logger,
		Stats:           &b.stats,
		Base:            base,
		DetachAfter:     cfg.DetachAfter,
		MaxDetached:     cfg.MaxDetachedHandlers,
		ConcurrentAbove: cfg.ConcurrentHandlersAbove,
		Values:          map[any]any{botKey{}: b},
	}
	deps := &cacheactors.Deps{Store: b.store, Pipeline: b.pipeline, Acker: b.budget, Policy: cfg.Cache}
	b.deps = deps
	// When Close runs out of time the owners halt; cancelling the handlers' context then makes
	// an owner waiting on a handler let go at once.
	opts := []actors.LocalOption{actors.WithLogger(logger), actors.WithHaltHook(cancel)}
	if cfg.ChannelIdle > 0 {
		opts = append(opts, actors.WithIdlePassivation(actors.KindChannel, cfg.ChannelIdle))
	}
	if cfg.Cluster != nil {
		cc := *cfg.Cluster
		cc.Shard = shardName
		if cc.Logger == nil {
			cc.Logger = logger
		}
		cd, err := cluster.New(cc, deps.NewOwner, b.clusterHooks(), opts...)
		if err != nil {
			cancel()
			return nil, err
		}
		deps.Acker = cd.Acker(b.budget.Backlog)
		b.cluster, b.dir, b.system = cd, cd, cd.System()
		return b, nil
	}
	b.system = actors.NewSystem(logger)
	b.dir = actors.NewLocal(deps.NewOwner, append(opts, actors.WithSystem(b.system))...)
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
// Logs name the handler after fn's function unless an option (dispatch.Named) names it.
func Handle[E stoatpb.Event](b *Bot, fn func(ctx *Context, ev E) error, opts ...HandlerOption) *Subscription {
	return dispatch.Handle(b.registry, func(dc *dispatch.Context, ev E) error {
		return fn((*Context)(dc), ev)
	}, append([]dispatch.HandlerOption{dispatch.NamedAfter(fn)}, opts...)...)
}

// WaitFor waits for the next event of type E that check accepts (see dispatch.WaitFor). Inside a
// handler, pass the handler's Context: the handler detaches first, so waiting for the next event
// of the same channel does not deadlock.
func WaitFor[E stoatpb.Event](ctx context.Context, b *Bot, check func(E) bool, opts ...WaitOption) (E, error) {
	return dispatch.WaitFor(ctx, b.registry, check, opts...)
}

// Expect registers a wait for the next event of type E that check accepts, now, and returns it
// to be waited for later (see dispatch.Expect): register before sending a prompt, then Wait, so a
// quick answer cannot slip past.
func Expect[E stoatpb.Event](ctx context.Context, b *Bot, check func(E) bool, opts ...WaitOption) (*Pending[E], error) {
	return dispatch.Expect(ctx, b.registry, check, opts...)
}

// Cache returns the read side of the cache, safe to use from any goroutine.
func (b *Bot) Cache() *Cache { return b.store }

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
	// CheckPanics counts WaitFor checks that panicked (each counted as a failed check).
	CheckPanics uint64
	// Detached is the number of handlers running detached now; DetachedWaits counts the events
	// whose owner waited because MaxDetachedHandlers of its handlers were running detached.
	Detached      int64
	DetachedWaits uint64
	// Concurrent counts the events whose handlers ran concurrently (ConcurrentHandlersAbove).
	Concurrent uint64
	// Budget is the in-flight budget: what is in use, the stalls of the reader, and the owners
	// holding most of it.
	Budget actors.BudgetStats
	Owners actors.Stats
	// Gates counts the waits of the owner protocol that timed out (a cascade waiting for its
	// primary owner, a Ready for its seeds): each is a fault, also logged.
	Gates cacheactors.GateStats
	// Shard is the connection's counters (frames, decode errors, reconnects…); zero before Run.
	Shard shardactor.Stats
}

// Stats returns the runtime's counters.
func (b *Bot) Stats() Stats {
	st := Stats{
		Ingested:       b.routed(),
		ShedTyping:     b.shed.Load(),
		InFlight:       b.budget.InUse(),
		Dispatched:     b.stats.Dispatched.Load(),
		Cancelled:      b.stats.Cancelled.Load(),
		HandlerErrors:  b.stats.HandlerErrors.Load(),
		HandlerPanics:  b.stats.HandlerPanics.Load(),
		AutoDetached:   b.stats.AutoDetached.Load(),
		WaitersMatched: b.stats.WaitersMatched.Load(),
		CheckPanics:    b.stats.CheckPanics.Load(),
		Detached:       b.stats.Detached.Load(),
		DetachedWaits:  b.stats.DetachedWaits.Load(),
		Concurrent:     b.stats.Concurrent.Load(),
		Budget:         b.budget.Stats(),
		Owners:         b.dir.Stats(),
		Gates:          b.deps.GateStats(),
	}
	if sh := b.shard.Load(); sh != nil {
		st.Shard = sh.Stats()
	}
	return st
}

// source feeds the events of one connection (a shard) into the runtime, in wire order. It is not
// safe for concurrent use: one goroutine (the connection's reader, or a feed's Source) ingests a
// shard's events.
type source struct {
	b     *Bot
	shard string
	// held, after a takeover (cluster mode), are the servers and channels the owners held
	// before the connection's first Ready.
	held   map[string]bool
	router *cacheactors.Router
	emit   func(actors.Key, any)
}

// newSource returns the source of shard: Run makes one for its connection, a feed one for each
// of its Sources.
func (b *Bot) newSource(shard string) *source {
	return &source{b: b, shard: shard, router: cacheactors.NewRouter(shard), emit: b.dir.Deliver}
}

// ErrClosed is returned by Run once the Bot is closed, and by the ingestion of events (package
// feed) once it is closing.
var ErrClosed = errors.New("ermine: the bot is closed")

// ingest routes ev, which took size bytes on the wire (0: unknown), to its owner. It waits while
// the in-flight budget (MaxInFlight, MaxInFlightBytes) is spent — that is the backpressure on the
// connection reader — until ctx ends.
func (s *source) ingest(ctx context.Context, ev stoatpb.Event, size int) error {
	b := s.b
	// Counted before the check, so that Close, which sets closing and then drains, waits for
	// an ingest that passed it.
	b.ingesting.Add(1)
	defer b.ingesting.Add(-1)
	if b.closing.Load() {
		return ErrClosed
	}
	switch ev.(type) {
	case *stoatpb.ChannelStartTypingEvent, *stoatpb.ChannelStopTypingEvent:
		if b.budget.Pressure() >= b.cfg.ShedTypingAbove {
			b.shed.Add(1)
			return nil
		}
	}
	if err := b.budget.Acquire(ctx, int64(size)); err != nil {
		return err
	}
	b.byType[ev.EventType()].Add(1)
	b.lastEvent.Store(time.Now().UnixNano())
	ready, _ := ev.(*stoatpb.ReadyEvent) // only a Ready makes gaps, a diff and member lists to fetch
	var lists []actors.Key
	if ready != nil && b.backfill.memberLists > 0 {
		// Before its seeds replace the member tables with your own memberships.
		lists = memberLists(b.memberCounts(), ready.GetServers(), b.backfill.memberLists)
	}
	key, d := s.router.Route(ev, s.emit)
	if ready != nil {
		if gaps := s.router.Gaps(); len(gaps) > 0 {
			b.backfill.start(gaps)
		}
	}
	d.Stream, d.Seq = b.budget.Charge(key, int64(size))
	d.Size = int64(size)
	b.dir.Deliver(key, d)
	if ready != nil {
		b.backfill.rebuildInBackground(lists)
		s.rebuildUnheld(ready)
		if diff := s.router.ReadyDiff(); diff != nil {
			// A re-Ready's diff: the shard owner's next event, after the Ready.
			return s.ingest(ctx, diff, 0)
		}
	}
	return nil
}

// routed is the number of events routed to their owners so far (the sum of byType).
func (b *Bot) routed() uint64 {
	var n uint64
	for i := range b.byType {
		n += b.byType[i].Load()
	}
	return n
}

// drain waits until every ingested event, and every cache patch the owners sent each other
// because of them, has been processed, and every backfill of a reconnect's gaps is over, or ctx
// ends.
func (b *Bot) drain(ctx context.Context) error {
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	for b.budget.InUse() > 0 || b.dir.Pending() > 0 || b.ingesting.Load() > 0 || b.backfill.open.Load() > 0 {
		select {
		case <-ctx.Done():
			return fmt.Errorf("ermine: draining %d events and %d messages: %w", b.budget.InUse(), b.dir.Pending(), ctx.Err())
		case <-t.C:
		}
	}
	return nil
}

// handlerStopGrace is how long Close waits for handlers to return once it has cancelled their
// context after ctx ran out.
const handlerStopGrace = time.Second

// Close stops the runtime, gracefully within ctx. In order:
//
//  1. the connection stops (if Run started one; Run then returns nil), ingestion refuses new
//     events (ErrClosed), and Close waits until the owners have processed every event ingested
//     before, and the cache patches they sent each other;
//  2. the owners stop;
//  3. Close waits for the handlers still running detached (a REST call, a WaitFor) to return;
//  4. the handlers' context (Context.Done) is cancelled, and the actor system stops.
//
// If ctx ends before step 3 is over, the events not yet processed are discarded: their handlers
// never run and the cache never applies them (Stats().Owners.Discarded counts them; the error
// says how many). The handlers' context is cancelled at once; Close then waits for the owners to
// let go of the message in hand (at most 5 s more; an owner waiting on a handler lets go at
// once) and a second more for running handlers to return.
//
// When Close returns, no owner runs, no handler starts, the cache no longer changes and the
// runtime's goroutines have ended — except handlers that ignored the cancellation of their
// context for that second, which the error names (Go cannot stop a goroutine; such a
// handler can no longer reach the cache, and its REST calls fail). Close may be called more
// than once: a later call waits for the first to finish, then returns nil.
func (b *Bot) Close(ctx context.Context) error {
	b.closeMu.Lock()
	defer b.closeMu.Unlock()
	if b.stopping.Swap(true) {
		return nil
	}
	var errs []error
	if sh := b.shard.Load(); sh != nil {
		sh.Stop()
		select {
		case <-sh.Done():
		case <-ctx.Done():
			errs = append(errs, fmt.Errorf("ermine: stopping the connection: %w", ctx.Err()))
		}
	}
	b.closing.Store(true)
	b.backfill.stop() // its gaps close at once: the channels waiting for them drain
	if err := b.drain(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := b.dir.Close(ctx); err != nil {
		errs = append(errs, err)
	}
	// Detached handlers may finish within ctx; after that, their context is cancelled and they
	// get a short grace.
	waitErr := b.pipeline.WaitHandlers(ctx)
	b.cancel()
	if waitErr != nil {
		grace, cancel := context.WithTimeout(context.Background(), handlerStopGrace)
		if err := b.pipeline.WaitHandlers(grace); err != nil {
			errs = append(errs, err)
		}
		cancel()
	}
	b.pipeline.FlushLogs()
	if b.cluster == nil { // the cluster's Shutdown (in dir.Close) stops its system
		b.system.Shutdown()
	}
	b.rest.CloseIdleConnections()
	return errors.Join(errs...)
}
