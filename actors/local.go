package actors

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"log/slog"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/ermine-rt/ermine/internal/gopool"
	"github.com/ermine-rt/ermine/proto/ownerpb"
)

// LocalDirectory places every owner in this process, on protoactor-go local actors.
//
// Layout: a fixed set of partition actors, each the parent (and supervisor) of the owners whose
// key hashes to it. Deliver sends straight to an active owner's mailbox (one hop), and through
// the owner's partition otherwise: the partition spawns the owner on first use and buffers
// during a passivation. A routing table keeps the two paths in order: while a message sent
// through the partition is not yet handled there, later messages for the same key follow it, and
// a passivation stops direct delivery (under the table's lock) before it Poisons the owner. So
// one sender's messages to one key stay in order whichever path each takes.
//
// Passivation is a hand-shake, not a self-stop: an idle owner asks its partition to passivate it;
// the partition marks it stopping, buffers what arrives for it meanwhile and Poisons it (a user
// message, so everything delivered earlier is processed first). When the owner has terminated,
// the partition respawns it if the buffer is not empty and flushes the buffer in order. Nothing is
// lost and nothing is reordered (protoactor-notes §5.1: a naive self-stop lost 0.4 %).
type LocalDirectory struct {
	system     *actor.ActorSystem
	partitions []*actor.PID
	seed       maphash.Seed
	factory    Factory
	idle       [KindUserDir + 1]time.Duration
	keepState  bool
	logger     *slog.Logger
	ownSystem  bool
	outbox     func(Key, any)

	closed       atomic.Bool
	dispatcher   *pooledDispatcher
	routes       [64]routeShard
	halted       atomic.Bool // Close ran out of time: owners discard what is left
	onHalt       func()
	discarded    atomic.Uint64
	active       [KindUserDir + 1]atomic.Int64
	activations  atomic.Uint64
	passivations atomic.Uint64
	crashes      atomic.Uint64
	dropped      atomic.Uint64
	pending      atomic.Int64
}

// LocalOption configures a LocalDirectory.
type LocalOption func(*LocalDirectory)

// WithLogger sets the logger for the directory and for protoactor itself (default: discard).
func WithLogger(l *slog.Logger) LocalOption {
	return func(d *LocalDirectory) { d.logger = l }
}

// WithIdlePassivation passivates owners of kind k after they received nothing for idle (0: never,
// the default for every kind).
func WithIdlePassivation(k Kind, idle time.Duration) LocalOption {
	return func(d *LocalDirectory) { d.idle[k] = idle }
}

// WithStateKeptOnPassivation keeps what a passivated owner returns from Passivate and gives it to
// the next activation of the same key (default). Without it a passivated owner restarts cold.
func WithStateKeptOnPassivation(keep bool) LocalOption {
	return func(d *LocalDirectory) { d.keepState = keep }
}

// WithSystem places the owners in an existing actor system (default: a new one, shut down by
// Close). The system is not shut down by Close when it was given.
func WithSystem(sys *actor.ActorSystem) LocalOption {
	return func(d *LocalDirectory) { d.system, d.ownSystem = sys, false }
}

// WithHaltHook sets a function Close calls when it runs out of time and halts the owners, before
// it waits for them to stop: the runtime cancels its handlers' context there, so that an owner
// waiting on a handler lets go at once.
func WithHaltHook(fn func()) LocalOption {
	return func(d *LocalDirectory) { d.onHalt = fn }
}

// WithOutbox sends what the owners deliver to other owners (Context.Deliver) through deliver
// rather than this directory: a cluster's directory, whose owners are spread over nodes.
func WithOutbox(deliver func(Key, any)) LocalOption {
	return func(d *LocalDirectory) { d.outbox = deliver }
}

// WithPartitions sets the number of partition actors (default: 4 × GOMAXPROCS).
func WithPartitions(n int) LocalOption {
	return func(d *LocalDirectory) {
		if n > 0 {
			d.partitions = make([]*actor.PID, n)
		}
	}
}

// NewLocal starts a directory whose owners are created by factory.
func NewLocal(factory Factory, opts ...LocalOption) *LocalDirectory {
	d := &LocalDirectory{
		factory:   factory,
		seed:      maphash.MakeSeed(),
		keepState: true,
		logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	for _, o := range opts {
		o(d)
	}
	if d.partitions == nil {
		d.partitions = make([]*actor.PID, 4*runtime.GOMAXPROCS(0))
	}
	if d.system == nil {
		d.system, d.ownSystem = NewSystem(d.logger), true
	}
	d.dispatcher = newPooledDispatcher()
	for i := range d.partitions {
		p := &partition{dir: d, children: map[Key]*childRef{}, byPID: map[string]Key{}, dormant: map[Key]any{}}
		d.partitions[i] = d.system.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return p }, actor.WithDispatcher(d.dispatcher)))
	}
	return d
}

type envelope struct {
	key Key
	msg any
}

// routeShard is a part of the routing table: for each key, whether a message may go straight
// to the owner's mailbox (one hop) or must go through its partition (which spawns, buffers
// during a passivation and keeps the order).
type routeShard struct {
	mu sync.Mutex
	m  map[Key]*route
}

type route struct {
	// pid is the owner's, while it is active and not stopping; nil sends through the partition.
	pid *actor.PID
	// queued counts messages sent through the partition and not yet handled by it: while any
	// is, later messages follow them there, so that none overtakes them.
	queued int
}

func (d *LocalDirectory) routeShard(key Key) *routeShard {
	return &d.routes[maphash.String(d.seed, key.ID)%uint64(len(d.routes))]
}

// Deliver implements Directory. A message for an active owner goes straight to its mailbox;
// otherwise through the owner's partition, which activates it.
func (d *LocalDirectory) Deliver(key Key, msg any) {
	if d.closed.Load() {
		d.dropped.Add(1)
		return
	}
	d.pending.Add(1)
	rs := d.routeShard(key)
	rs.mu.Lock()
	r := rs.m[key]
	if r != nil && r.pid != nil && r.queued == 0 {
		// Sent under the lock: a passivation clears pid under the same lock before it Poisons
		// the owner, so this message is in the mailbox before the Poison.
		d.system.Root.Send(r.pid, msg)
		rs.mu.Unlock()
		return
	}
	if r == nil {
		if rs.m == nil {
			rs.m = make(map[Key]*route)
		}
		r = &route{}
		rs.m[key] = r
	}
	r.queued++
	rs.mu.Unlock()
	i := maphash.String(d.seed, key.ID) % uint64(len(d.partitions))
	d.system.Root.Send(d.partitions[i], &envelope{key: key, msg: msg})
}

// routed is called by a partition once it has handled a message sent through it for key; pid is
// the owner's if the owner is active and not stopping.
func (d *LocalDirectory) routed(key Key, pid *actor.PID) { d.updateRoute(key, pid, -1) }

// setRoute sets (or, with nil, clears) the owner's pid for direct delivery.
func (d *LocalDirectory) setRoute(key Key, pid *actor.PID) { d.updateRoute(key, pid, 0) }

// updateRoute sets key's pid and adds dequeued (0 or -1) to its messages queued at the partition;
// an entry with neither is dropped.
func (d *LocalDirectory) updateRoute(key Key, pid *actor.PID, dequeued int) {
	rs := d.routeShard(key)
	rs.mu.Lock()
	defer rs.mu.Unlock()
	r := rs.m[key]
	if r == nil {
		if pid == nil || dequeued != 0 { // a dequeued message always has its entry
			return
		}
		if rs.m == nil {
			rs.m = make(map[Key]*route)
		}
		r = &route{}
		rs.m[key] = r
	}
	r.queued += dequeued
	r.pid = pid
	if r.queued == 0 && pid == nil {
		delete(rs.m, key)
	}
}

// The directory's own messages (ownerpb declares them with the owners'). They have no fields:
// one value of each serves every send.
var (
	closeRequest     = &ownerpb.CloseRequest{}
	closeDone        = &ownerpb.CloseDone{}
	passivateRequest = &ownerpb.PassivateRequest{}
	// idleCheck is sent to an owner by its idle timer. protoactor's own ReceiveTimeout touches
	// the actor context from the timer goroutine (the race detector flags it), so the timer only
	// sends a message and the owner decides on its own goroutine.
	idleCheck = &ownerpb.IdleCheck{}
)

// haltGrace bounds the wait, after a halt, for the owners to finish the message in hand (an
// owner in a handler's synchronous phase lets go when the halt hook cancels the handlers).
const haltGrace = 5 * time.Second

// Close implements Directory: owners process everything delivered before Close, then stop. If ctx
// ends first, the owners halt: what they have not handled yet is discarded.
func (d *LocalDirectory) Close(ctx context.Context) error {
	if d.closed.Swap(true) {
		return nil
	}
	var futures []*actor.Future
	for _, p := range d.partitions {
		futures = append(futures, d.system.Root.RequestFuture(p, closeRequest, 24*time.Hour))
	}
	done := make(chan error, 1)
	go func() {
		var errs []error
		for _, f := range futures {
			if _, err := f.Result(); err != nil {
				errs = append(errs, err)
			}
		}
		done <- errors.Join(errs...)
	}()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		d.halted.Store(true)
		if d.onHalt != nil {
			d.onHalt()
		}
		select {
		case err = <-done:
		case <-time.After(haltGrace):
			err = fmt.Errorf("actors: owners still busy %s after the halt", haltGrace)
		}
		err = errors.Join(fmt.Errorf("actors: closing the directory: %w; %d messages were discarded unhandled",
			ctx.Err(), d.discarded.Load()), err)
	}
	for _, p := range d.partitions {
		d.system.Root.Stop(p) // out of the process registry
	}
	if d.ownSystem {
		d.system.Shutdown()
	}
	d.dispatcher.pool.Stop()
	return err
}

// pooledDispatcher runs the owners' mailboxes on a few reused goroutines: protoactor's default
// dispatcher starts a goroutine each time a mailbox goes from idle to busy, which with many
// active owners is about one goroutine per event (and a fresh stack to grow). Mailboxes that
// turn busy queue for the pool's goroutines, which a blocked handler cannot hold up for long
// (gopool's stall guard; the owner also hands a blocked handler's mailbox off, see handOff).
type pooledDispatcher struct {
	pool *gopool.Pool[func() (left bool)]
}

// mailboxThroughput is how many messages a mailbox handles before it yields its goroutine to the
// next busy mailbox (protoactor's default).
const mailboxThroughput = 300

// mailboxWorkers is how many goroutines run mailboxes while they make progress: a couple per
// core, so that one whose handler waits a little leaves the core to another.
func mailboxWorkers() int { return max(2*runtime.GOMAXPROCS(0), 4) }

func newPooledDispatcher() *pooledDispatcher {
	return &pooledDispatcher{pool: gopool.New(mailboxWorkers(), gopool.DefaultStallAfter, func(job func() bool) bool { return job() })}
}

func (d *pooledDispatcher) Schedule(fn func()) { d.pool.Go(func() bool { fn(); return false }) }

func (d *pooledDispatcher) Throughput() int { return mailboxThroughput }

// NewSystem returns a protoactor actor system that logs through logger (protoactor's default is
// colored text on stderr at INFO).
func NewSystem(logger *slog.Logger) *actor.ActorSystem {
	return actor.NewActorSystemWithConfig(actor.Configure(
		actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
			return logger.With("component", "protoactor")
		}),
		actor.WithDeadLetterThrottleCount(3),
		actor.WithDeadLetterThrottleInterval(time.Second),
	))
}

// Keys implements Directory: each partition lists its owners, on its own goroutine.
func (d *LocalDirectory) Keys(ctx context.Context, kind Kind) ([]Key, error) {
	if d.closed.Load() {
		return nil, errors.New("actors: the directory is closed")
	}
	futures := make([]*actor.Future, len(d.partitions))
	req := &ownerpb.KeysRequest{Kind: ownerpb.OwnerKind(kind)}
	timeout := time.Minute
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	for i, p := range d.partitions {
		futures[i] = d.system.Root.RequestFuture(p, req, timeout)
	}
	var keys []Key
	for _, f := range futures {
		res, err := f.Result()
		if err != nil {
			return nil, fmt.Errorf("actors: listing the owners: %w", err)
		}
		for _, k := range res.(*ownerpb.KeysReply).GetKeys() {
			keys = append(keys, Key{Kind: Kind(k.GetKind()), ID: k.GetId()})
		}
	}
	return keys, nil
}

// Stats implements Directory.
func (d *LocalDirectory) Stats() Stats {
	s := Stats{
		Active:       map[Kind]int{},
		Activations:  d.activations.Load(),
		Passivations: d.passivations.Load(),
		Crashes:      d.crashes.Load(),
		Discarded:    d.discarded.Load() + d.dropped.Load(),
	}
	for k := KindShard; k <= KindUserDir; k++ {
		s.Active[k] = int(d.active[k].Load())
	}
	return s
}

// Pending implements Directory.
func (d *LocalDirectory) Pending() int { return int(d.pending.Load()) }

// Dropped counts messages delivered after Close.
func (d *LocalDirectory) Dropped() uint64 { return d.dropped.Load() }

// --- partition ---------------------------------------------------------------------------------

type childRef struct {
	pid      *actor.PID
	stopping bool  // passivation or close in progress
	buffer   []any // messages that arrived while stopping
	saved    any   // written by the owner while stopping, read after Terminated
}

type partition struct {
	dir      *LocalDirectory
	children map[Key]*childRef
	byPID    map[string]Key
	dormant  map[Key]any // state of passivated owners, for their next activation
	closing  *actor.PID  // who asked to close (the future), once closing
}

func (p *partition) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *envelope:
		c := p.children[m.key]
		switch {
		case c == nil && p.closing != nil:
			// Sent just before Close: handled by an activation stopped right after it, so that
			// the close still completes and no owner outlives it.
			c = p.spawn(ctx, m.key, []any{m.msg})
			c.stopping = true
			ctx.Poison(c.pid)
		case c == nil:
			c = p.spawn(ctx, m.key, []any{m.msg})
		case c.stopping:
			c.buffer = append(c.buffer, m.msg)
		default:
			ctx.Send(c.pid, m.msg)
		}
		var direct *actor.PID
		if !c.stopping {
			direct = c.pid
		}
		p.dir.routed(m.key, direct)
	case *ownerpb.PassivateRequest:
		key, ok := p.byPID[ctx.Sender().Id]
		if c := p.children[key]; ok && c != nil && !c.stopping && p.closing == nil {
			c.stopping = true
			p.dir.setRoute(key, nil) // from now on through here, buffered
			ctx.Poison(c.pid)
		}
	case *actor.Terminated:
		key, ok := p.byPID[m.Who.Id]
		if !ok {
			return
		}
		c := p.children[key]
		delete(p.byPID, m.Who.Id)
		delete(p.children, key)
		p.dir.active[key.Kind].Add(-1)
		if p.closing != nil {
			if len(c.buffer) > 0 {
				// A passivation was under way when the close began: what arrived meanwhile is
				// still processed, by a new activation stopped right after it.
				n := p.spawnWith(ctx, key, p.kept(c.saved), c.buffer)
				n.stopping = true
				ctx.Poison(n.pid)
				return
			}
			if len(p.children) == 0 {
				ctx.Send(p.closing, closeDone)
			}
			return
		}
		p.dir.passivations.Add(1)
		saved := p.kept(c.saved)
		if len(c.buffer) > 0 {
			n := p.spawnWith(ctx, key, saved, c.buffer)
			p.dir.setRoute(key, n.pid)
		} else if saved != nil {
			p.dormant[key] = saved
		}
	case *ownerpb.KeysRequest:
		want := Kind(m.GetKind())
		reply := &ownerpb.KeysReply{}
		add := func(k Key) {
			if want == 0 || k.Kind == want {
				reply.Keys = append(reply.Keys, &ownerpb.OwnerKey{Kind: ownerpb.OwnerKind(k.Kind), Id: k.ID})
			}
		}
		for k := range p.children {
			add(k)
		}
		for k := range p.dormant {
			add(k)
		}
		ctx.Respond(reply)
	case *ownerpb.CloseRequest:
		p.closing = ctx.Sender()
		p.releaseDormant()
		if len(p.children) == 0 {
			ctx.Respond(closeDone)
			return
		}
		for key, c := range p.children {
			if !c.stopping {
				c.stopping = true
				p.dir.setRoute(key, nil)
				ctx.Poison(c.pid)
			}
			// A child stopping for passivation keeps its buffer: Terminated handles it.
		}
	}
}

// kept is what a stopped owner's next activation gets: its saved state, if the directory keeps
// state across passivation.
func (p *partition) kept(saved any) any {
	if !p.dir.keepState {
		return nil
	}
	return saved
}

// releaseDormant discards what passivated owners still hold (an owner asked to passivate just
// before it began to hold keeps its held messages in its saved state, which then says Holding):
// no activation will come to handle them once the directory closes, so the owner is rebuilt
// from its state to let go of them.
func (p *partition) releaseDormant() {
	for key, saved := range p.dormant {
		if s, ok := saved.(interface{ Holding() bool }); !ok || !s.Holding() {
			continue
		}
		func() {
			defer func() {
				if r := recover(); r != nil {
					p.dir.logger.Error("discarding a passivated owner's held messages panicked", "owner", key.String(), "panic", fmt.Sprint(r))
				}
			}()
			owner := p.dir.factory(key, saved)
			h, ok := owner.(Holder)
			if !ok {
				return
			}
			ds, _ := owner.(Discarder)
			for _, m := range h.Held() {
				p.dir.discarded.Add(1)
				if ds != nil {
					ds.Discard(m)
				}
			}
		}()
	}
}

func (p *partition) spawn(ctx actor.Context, key Key, first []any) *childRef {
	saved := p.dormant[key]
	delete(p.dormant, key)
	return p.spawnWith(ctx, key, saved, first)
}

func (p *partition) spawnWith(ctx actor.Context, key Key, saved any, pending []any) *childRef {
	d := p.dir
	ref := &childRef{}
	owner := d.factory(key, saved)
	o := &ownerActor{dir: d, key: key, owner: owner, ref: ref, idle: d.idle[key.Kind]}
	ref.pid = ctx.Spawn(actor.PropsFromProducer(func() actor.Actor { return o },
		actor.WithDispatcher(d.dispatcher), actor.WithMailbox(newOwnerMailbox(o))))
	p.children[key] = ref
	p.byPID[ref.pid.Id] = key
	d.active[key.Kind].Add(1)
	d.activations.Add(1)
	for _, msg := range pending {
		ctx.Send(ref.pid, msg)
	}
	return ref
}

// --- owner actor -------------------------------------------------------------------------------

type ownerActor struct {
	dir   *LocalDirectory
	key   Key
	owner Owner
	ref   *childRef
	idle  time.Duration

	mb         *ownerMailbox
	self       *actor.PID
	parent     *actor.PID
	lastActive time.Time
	timer      *time.Timer
}

func (o *ownerActor) Key() Key { return o.key }

func (o *ownerActor) Deliver(key Key, msg any) {
	if out := o.dir.outbox; out != nil {
		out(key, msg)
		return
	}
	o.dir.Deliver(key, msg)
}

// Receive handles what protoactor delivers through the actor context: the lifecycle. The
// owner's own messages come straight from the mailbox (handle).
func (o *ownerActor) Receive(ctx actor.Context) {
	switch ctx.Message().(type) {
	case *actor.Started:
		o.self, o.parent = ctx.Self(), ctx.Parent()
		o.lastActive = time.Now()
		o.armIdle(o.idle)
	case *actor.Stopping:
		if o.timer != nil {
			o.timer.Stop()
		}
		o.releaseHeld()
		if p, ok := o.owner.(Passivator); ok {
			o.ref.saved = o.safePassivate(p)
		}
	}
}

// handle runs one message as the mailbox's runner id. If the owner moved on meanwhile (MoveOn),
// the message is finished by the new runner, and handle leaves everything alone.
func (o *ownerActor) handle(msg any, id uint64) {
	if _, ok := msg.(*ownerpb.IdleCheck); ok {
		o.checkIdle()
		return
	}
	if o.dir.halted.Load() {
		o.discard(msg)
	} else {
		if o.idle > 0 {
			o.lastActive = time.Now()
		}
		o.receive(msg)
		if o.mb.runID.Load() != id {
			return
		}
	}
	o.dir.pending.Add(-1)
}

// MoveOn implements Context: a new goroutine becomes the owner's, runs rest (the rest of the
// message in hand) and goes on with the next messages.
func (o *ownerActor) MoveOn(rest func()) {
	o.mb.handOff(func(id uint64) {
		o.run(rest)
		if o.mb.runID.Load() == id {
			o.dir.pending.Add(-1) // the message rest finished
		}
	})
}

func (o *ownerActor) checkIdle() {
	if o.holding() {
		o.armIdle(o.idle) // it waits for another owner's message: busy, not idle
	} else if quiet := time.Since(o.lastActive); quiet >= o.idle {
		o.dir.system.Root.RequestWithCustomSender(o.parent, passivateRequest, o.self)
		o.armIdle(o.idle) // in case the partition declines
	} else {
		o.armIdle(o.idle - quiet)
	}
}

func (o *ownerActor) armIdle(d time.Duration) {
	if o.idle <= 0 {
		return
	}
	if o.timer == nil {
		root, self := o.dir.system.Root, o.self
		o.timer = time.AfterFunc(d, func() { root.Send(self, idleCheck) })
		return
	}
	o.timer.Reset(d)
}

func (o *ownerActor) safePassivate(p Passivator) (state any) {
	defer func() {
		if r := recover(); r != nil {
			o.crashed(r)
			state = nil
		}
	}()
	return p.Passivate()
}

// receive runs the owner with its own recovery: protoactor's default supervision would restart
// the actor with fresh state and log only at INFO, so a panic is caught here, logged once at
// ERROR with the owner and a stack, counted, and the owner is reset to cold.
func (o *ownerActor) receive(msg any) { o.run(func() { o.owner.Receive(o, msg) }) }

// run runs fn, the owner's handling of a message, with the owner's recovery (see receive).
func (o *ownerActor) run(fn func()) {
	defer func() {
		if r := recover(); r != nil {
			o.crashed(r)
			if rs, ok := o.owner.(Resetter); ok {
				func() {
					defer func() { _ = recover() }()
					rs.Reset()
				}()
			}
		}
	}()
	fn()
}

// discard lets go of a message the halted directory will not handle.
func (o *ownerActor) discard(msg any) {
	o.dir.discarded.Add(1)
	if ds, ok := o.owner.(Discarder); ok {
		defer func() {
			if r := recover(); r != nil {
				o.crashed(r)
			}
		}()
		ds.Discard(msg)
	}
}

func (o *ownerActor) crashed(r any) {
	o.dir.crashes.Add(1)
	o.dir.logger.Error("owner panicked; its state was reset", "owner", o.key.String(),
		"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
}

var _ Directory = (*LocalDirectory)(nil)
